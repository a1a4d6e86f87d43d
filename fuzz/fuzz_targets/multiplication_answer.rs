//! Fuzzes the multiplication reward's answer parser (TinyZero's
//! `multiply.py` steps): any bytes (as lossy UTF-8) must not panic, and an
//! answer read from the text must print back to digits `int()` accepts.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run multiplication_answer -- -jobs=1 -runs=1000000`
#![no_main]

use libfuzzer_sys::fuzz_target;
use tz_multiplication::reward::{judge, python_int, tagged_answer, tinyzero_answer, Verdict};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for answer in [tinyzero_answer(&text), tagged_answer(&text), python_int(&text).ok_or("not an integer")] {
        if let Ok(a) = answer {
            assert_eq!(python_int(&a.to_string()), Some(a));
        }
        match judge(answer, 408) {
            Verdict::Correct { answer } => assert_eq!(answer, 408),
            Verdict::Wrong { answer } => assert_ne!(answer, 408),
            Verdict::Missing(_) => assert!(answer.is_err()),
        }
    }
});

//! Fuzzes the math verifier on model output: extraction, normalization and
//! the bounded value evaluator. Any bytes (as lossy UTF-8), as a response
//! and as a gold answer, must neither panic nor overflow the stack, and a
//! response must be correct against its own final answer when it has one
//! short enough to read.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run math_verifier -- -jobs=1 -runs=1000000`
#![no_main]

use libfuzzer_sys::fuzz_target;
use tz_math::extract::{final_answer, gold_answer};
use tz_math::verify::{canonical, verify, Verdict, MAX_ANSWER_BYTES};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = verify(&text, "8", 1e-6);
    let _ = verify("<answer>8</answer>", &text, 1e-6);
    let _ = canonical(&text);
    if let Some(answer) = final_answer(&text) {
        // A gold answer is read with gold_answer (`#### n`, a box): only
        // answers that read back as themselves must match themselves.
        if answer.len() <= MAX_ANSWER_BYTES && gold_answer(answer) == answer {
            let v = verify(&text, answer, 1e-6);
            assert!(matches!(v, Verdict::Correct { .. }), "{answer:?} is not equivalent to itself: {v:?}");
        }
    }
});

//! Fuzzes the countdown expression parser and the reward built on it: any
//! bytes (as lossy UTF-8) must neither panic nor score anything but 0, the
//! format score or 1.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run expr_parser` (cargo-fuzz needs nightly
//! flags; the bootstrap variable lets a stable toolchain accept them).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tz_countdown::expr::{parse, Limits, Mode};
use tz_countdown::reward::{judge, RewardSettings};
use tz_countdown::templates::Template;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for mode in [Mode::Tinyzero, Mode::Strict] {
        let _ = parse(&text, mode, &Limits::default());
        let settings = RewardSettings { mode, format_score: 0.5, ..RewardSettings::default() };
        for template in [Template::Base, Template::Compact] {
            let reward = judge(template, "Assistant:", &text, 24, &[1, 2, 3, 4], &settings).into_score(&settings).reward;
            assert!(reward == 0.0 || reward == 0.5 || reward == 1.0, "reward {reward}");
        }
    }
});

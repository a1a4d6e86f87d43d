//! Progress bars for long data work (drawn on stderr, and only on a terminal).

use indicatif::{ProgressBar, ProgressStyle};

/// A bar of `len` steps labelled `message`; hidden when `enabled` is false.
pub fn bar(len: u64, message: &str, enabled: bool) -> ProgressBar {
    if !enabled {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    if let Ok(style) =
        ProgressStyle::with_template("{msg:40} [{bar:30}] {human_pos}/{human_len} ({per_sec}, eta {eta})")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_message(message.to_string());
    bar
}

//! Writing files atomically: a temporary file beside the target, then a
//! rename, so a reader (or a crash) never sees half a file.

use std::io::Write;
use std::path::Path;

use anyhow::Result;

/// Writes `bytes` to `path` atomically (synced before the rename), creating
/// the parent directory. A failure leaves no temporary file behind.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    tz_data::rows::atomic_write(path, |mut file| {
        file.write_all(bytes)?;
        file.sync_all()?;
        Ok(())
    })
}

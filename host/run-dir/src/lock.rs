//! An exclusive lock on a run or sweep directory for as long as a process
//! writes it, so two processes never interleave one run's files.
//!
//! Why `flock` (std's [`File::try_lock`]): the kernel drops the lock when the
//! holder exits, however it exits (`kill -9` included), so a stale lock from
//! a killed run never blocks `resume`. The pid and host written in the lock
//! file only serve the second process's error message.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// The lock file inside a locked directory.
pub const LOCK_FILE: &str = ".tzhost.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{dir} is in use by another tzhost process ({holder}); wait for it to end or stop it")]
    Held { dir: PathBuf, holder: String },
    #[error("cannot lock {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
}

/// Held while a directory is written; released on drop or when the process dies.
#[derive(Debug)]
pub struct DirLock {
    _file: File,
}

impl DirLock {
    /// Locks `dir` (which must exist) or says who holds it.
    pub fn acquire(dir: &Path) -> Result<DirLock, LockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| LockError::Io { path: path.clone(), source };
        let mut file =
            OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path).map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = match holder.trim() {
                    "" => "pid unknown".to_string(),
                    h => h.to_string(),
                };
                return Err(LockError::Held { dir: dir.to_path_buf(), holder });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.seek(SeekFrom::Start(0)).map_err(io)?;
        writeln!(file, "pid {} on host {}", std::process::id(), hostname()).map_err(io)?;
        file.flush().map_err(io)?;
        Ok(DirLock { _file: file })
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .or_else(|_| std::env::var("HOSTNAME"))
        .unwrap_or_else(|_| "an unknown host".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_one_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        // flock locks belong to open file descriptions: a second open in the
        // same process conflicts like another process would.
        let e = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(e.contains(&format!("pid {}", std::process::id())), "{e}");
        assert!(e.contains("in use by another tzhost process"), "{e}");
        drop(held);
        DirLock::acquire(dir.path()).expect("free again once the holder is gone");
    }
}

//! The repository's test data (`<repo>/testdata/`, described in its README).

use std::path::{Path, PathBuf};

/// The repository root: the directory that holds `testkit/`.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("testkit/ has a parent").to_path_buf()
}

/// `<repo>/testdata/<name>`; panics with the path when it is missing.
pub fn testdata(name: &str) -> PathBuf {
    let path = repo_root().join("testdata").join(name);
    assert!(path.exists(), "test data {} is missing (see testdata/README.md)", path.display());
    path
}

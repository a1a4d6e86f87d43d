//! # tz-testkit: what the workspace's tests share
//!
//! A dev-dependency only, with no dependencies of its own (no tch), so every
//! crate's tests can use it:
//!
//! * [`testdata`]: files under `<repo>/testdata/`, found from this crate's
//!   own location, so a plain clone with nothing beside it finds them.
//! * [`close`]: float comparisons bounded by an absolute plus a relative
//!   tolerance scaled to the magnitude of the values compared.

pub mod close;
pub mod testdata;

pub use close::{assert_all_close, assert_close, Tol};
pub use testdata::{repo_root, testdata};

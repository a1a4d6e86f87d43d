//! The core's error: one enum whose kinds a caller can act on (a model
//! config to fix, a tokenizer or chat template that does not load, a hub id
//! that does not resolve, a failed collective), with what was being done
//! layered on top as [`CoreError::Context`].
//!
//! Messages print like `anyhow`'s did before this type existed, so every
//! one-line message users see is unchanged: `{}` is the outermost message,
//! `{:#}` the whole chain, `: `-separated, on one line. That alternate form
//! is why `Display` is written by hand rather than derived with thiserror
//! (whose derived `Display` ignores `#`).

use std::fmt;

use crate::config::ConfigError;
use crate::parallel::DistError;

/// What went wrong in the core.
#[derive(Debug)]
pub enum CoreError {
    /// A file system operation failed (the context names the file).
    Io(std::io::Error),
    /// A JSON file does not parse (the context names the file).
    Json(serde_json::Error),
    /// A model's `config.json` names an unsupported family or inconsistent shapes.
    Config(ConfigError),
    /// A weight or optimizer-state file, or a model directory, that is
    /// missing, malformed or does not fit the model.
    Checkpoint(String),
    /// A tokenizer that does not load, encode or decode.
    Tokenizer(String),
    /// A chat template that does not compile or render.
    ChatTemplate(String),
    /// `--model` names neither a directory nor a hub id that resolves.
    Hub(String),
    /// libtorch refused an operation.
    Torch(tch::TchError),
    /// A collective or the process group failed.
    Dist(DistError),
    /// A setting or an input out of its range (the message names it).
    Invalid(String),
    /// An error of a function the caller passed in (e.g. the warm start's
    /// source of training pairs), kept whole.
    Callback(Box<dyn std::error::Error + Send + Sync + 'static>),
    /// What was being done when `source` happened.
    Context { context: String, source: Box<CoreError> },
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

impl CoreError {
    /// The error under every [`CoreError::Context`] layer: the kind to act on.
    pub fn root(&self) -> &CoreError {
        match self {
            CoreError::Context { source, .. } => source.root(),
            other => other,
        }
    }

    /// This error with what was being done when it happened on top.
    pub fn context(self, context: impl fmt::Display) -> CoreError {
        CoreError::Context { context: context.to_string(), source: Box::new(self) }
    }

    /// The message and every cause, `: `-separated (what `{:#}` prints).
    pub fn chain(&self) -> String {
        format!("{self:#}")
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CoreError::Io(e) => write!(f, "{e}")?,
            CoreError::Json(e) => write!(f, "{e}")?,
            CoreError::Config(e) => write!(f, "{e}")?,
            CoreError::Torch(e) => write!(f, "{e}")?,
            CoreError::Dist(e) => write!(f, "{e}")?,
            CoreError::Callback(e) => write!(f, "{e}")?,
            CoreError::Checkpoint(m)
            | CoreError::Tokenizer(m)
            | CoreError::ChatTemplate(m)
            | CoreError::Hub(m)
            | CoreError::Invalid(m) => f.write_str(m)?,
            CoreError::Context { context, .. } => f.write_str(context)?,
        }
        if f.alternate() {
            let mut cause = std::error::Error::source(self);
            while let Some(e) = cause {
                write!(f, ": {e}")?;
                cause = e.source();
            }
        }
        Ok(())
    }
}

impl std::error::Error for CoreError {
    /// The next message of the chain: the wrapped error's own causes for
    /// the leaf kinds (their message is this one's), the layer below for a
    /// context.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            CoreError::Io(e) => e.source(),
            CoreError::Json(e) => e.source(),
            CoreError::Config(e) => e.source(),
            CoreError::Torch(e) => e.source(),
            CoreError::Dist(e) => e.source(),
            CoreError::Callback(e) => e.source(),
            CoreError::Context { source, .. } => Some(source.as_ref()),
            _ => None,
        }
    }
}

macro_rules! from_error {
    ($($variant:ident($ty:ty)),* $(,)?) => {
        $(impl From<$ty> for CoreError {
            fn from(e: $ty) -> Self {
                CoreError::$variant(e)
            }
        })*
    };
}
from_error!(
    Io(std::io::Error),
    Json(serde_json::Error),
    Config(ConfigError),
    Torch(tch::TchError),
    Dist(DistError),
);

/// safetensors' errors come from weight and optimizer-state files.
impl From<safetensors::SafeTensorError> for CoreError {
    fn from(e: safetensors::SafeTensorError) -> Self {
        CoreError::Checkpoint(e.to_string())
    }
}

/// `anyhow`-style context on any result whose error converts into a
/// [`CoreError`], and on options (a `None` becomes [`CoreError::Invalid`]).
pub trait Context<T> {
    fn context(self, context: impl fmt::Display) -> Result<T>;
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: Into<CoreError>> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| CoreError::Context { context: context.to_string(), source: Box::new(e.into()) })
    }
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| CoreError::Context { context: f().to_string(), source: Box::new(e.into()) })
    }
}

impl<T> Context<T> for Option<T> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.ok_or_else(|| CoreError::Invalid(context.to_string()))
    }
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.ok_or_else(|| CoreError::Invalid(f().to_string()))
    }
}

/// Returns early with a [`CoreError`] of the given kind (default
/// [`CoreError::Invalid`]) and a formatted message, like `anyhow::bail!`.
macro_rules! bail {
    ($kind:ident: $($arg:tt)*) => {
        return Err($crate::error::CoreError::$kind(format!($($arg)*)))
    };
    ($($arg:tt)*) => {
        return Err($crate::error::CoreError::Invalid(format!($($arg)*)))
    };
}

/// [`bail!`] unless the condition holds (like `anyhow::ensure!`).
macro_rules! ensure {
    ($cond:expr, $kind:ident: $($arg:tt)*) => {
        if $cond {
        } else {
            $crate::error::bail!($kind: $($arg)*);
        }
    };
    ($cond:expr, $($arg:tt)*) => {
        if $cond {
        } else {
            $crate::error::bail!($($arg)*);
        }
    };
}

pub(crate) use {bail, ensure};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alternate_display_is_the_whole_chain_on_one_line() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "No such file");
        let e: Result<()> = Err(io).context("cannot read config.json").context("loading the model");
        let e = e.unwrap_err();
        assert_eq!(e.to_string(), "loading the model");
        assert_eq!(format!("{e:#}"), "loading the model: cannot read config.json: No such file");
        assert!(matches!(e.root(), CoreError::Io(_)));
    }
}

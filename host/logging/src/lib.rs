//! # tz-logging: logging through tracing: to the console (stderr) and, once a run
//! directory exists, to `<run>/train.log`.
//!
//! * Console lines go through tracing-indicatif's writer, which hides the
//!   progress bars while a line is printed, so log lines and the training
//!   bar never tear each other. Colours only when stderr is a terminal.
//! * The file gets plain text (no colour codes), at least at `info` level
//!   even under `--quiet`, appended line by line so a killed run keeps
//!   everything it logged.
//! * Only spans that carry an `indicatif.pb_show` field get a progress bar
//!   (the trainer's progress bar); `TZ_LOG` (or `RUST_LOG`)
//!   overrides the level of both outputs.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;

use tracing_indicatif::filter::{hide_indicatif_span_fields, IndicatifFilter};
use tracing_indicatif::IndicatifLayer;
use tracing_subscriber::fmt::format::DefaultFields;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

/// The run's log file, once [`log_to_file`] has named one.
static LOG_FILE: Mutex<Option<File>> = Mutex::new(None);
/// The current curriculum stage's own log (seed 001's per-stage files), if any.
static STAGE_LOG: Mutex<Option<File>> = Mutex::new(None);

/// The target of the one-line-per-step records: written to the log files,
/// shown on the console only with `-v` (the progress bar shows them there).
pub const STEP_TARGET: &str = "tzhost::step";

/// Installs the subscriber. `verbosity`: -1 quiet, 0 info, 1 debug, 2+ trace
/// (the console's level; the file's is never below info).
pub fn init(verbosity: i8) {
    let level = |v: i8| match v {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let user = std::env::var("TZ_LOG").or_else(|_| std::env::var("RUST_LOG")).ok();
    let filter = |default: &str| {
        user.as_deref().and_then(|s| EnvFilter::try_new(s).ok()).unwrap_or_else(|| EnvFilter::new(default))
    };
    let bars =
        IndicatifLayer::new().with_span_field_formatter(hide_indicatif_span_fields(DefaultFields::new()));
    let console = fmt::layer()
        .with_writer(bars.get_stderr_writer())
        .with_target(false)
        .with_ansi(std::io::stderr().is_terminal())
        .fmt_fields(hide_indicatif_span_fields(DefaultFields::new()))
        .with_filter(filter(level(verbosity)))
        .with_filter(tracing_subscriber::filter::filter_fn(move |meta| {
            verbosity > 0 || meta.target() != STEP_TARGET
        }));
    let file = fmt::layer()
        .with_writer(|| FileSink)
        .with_target(false)
        .with_ansi(false)
        .fmt_fields(hide_indicatif_span_fields(DefaultFields::new()))
        .with_filter(filter(level(verbosity.max(0))));
    let _ = tracing_subscriber::registry()
        .with(console)
        .with(file)
        .with(bars.with_filter(IndicatifFilter::new(false)))
        .try_init();
}

/// The log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the log file {}: {source}", path.display())]
pub struct LogFileError {
    pub path: std::path::PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// From now on, also appends log lines to `path` (replacing an earlier file).
pub fn log_to_file(path: &Path) -> Result<(), LogFileError> {
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|source| LogFileError { path: path.to_path_buf(), source })?;
    *LOG_FILE.lock().unwrap_or_else(|e| e.into_inner()) = Some(file);
    Ok(())
}

/// Also writes the log to `path` (appended: a resumed stage continues its
/// file) until the next call; `None` closes it.
pub fn log_stage_to(path: Option<&Path>) -> Result<(), LogFileError> {
    let file = match path {
        Some(path) => {
            let open = |source| LogFileError { path: path.to_path_buf(), source };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(open)?;
            }
            Some(OpenOptions::new().create(true).append(true).open(path).map_err(open)?)
        }
        None => None,
    };
    *STAGE_LOG.lock().unwrap_or_else(|e| e.into_inner()) = file;
    Ok(())
}

/// Writes each formatted event (one `write` call per event) to the log
/// file and the stage log, or nowhere before one is set.
struct FileSink;

impl Write for FileSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        for sink in [&LOG_FILE, &STAGE_LOG] {
            if let Some(file) = sink.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
                file.write_all(buf)?;
            }
        }
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An error and its causes on one line, `: `-separated (as anyhow's `{:#}`).
/// A library error often names its cause in its own message too (`cannot
/// create DIR: <os error>`), so a cause the line already ends with is not
/// repeated.
pub fn one_line(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !line.ends_with(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[derive(Debug, thiserror::Error)]
    #[error("{message}")]
    struct Layer {
        message: String,
        #[source]
        source: std::io::Error,
    }

    fn os_error() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file")
    }

    #[test]
    fn a_cause_the_message_already_ends_with_is_printed_once() {
        let e = Layer { message: "cannot create /x: no such file".into(), source: os_error() };
        assert_eq!(one_line(&e), "cannot create /x: no such file");
    }

    #[test]
    fn other_causes_follow_the_message() {
        let e = Layer { message: "cannot create /x".into(), source: os_error() };
        assert_eq!(one_line(&e), "cannot create /x: no such file");
    }
}

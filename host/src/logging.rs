//! Console logging through tracing; `TZ_LOG` (or `RUST_LOG`) overrides the level.

use tracing_subscriber::EnvFilter;

/// Installs the console subscriber on stderr. `verbosity`: -1 quiet, 0 info,
/// 1 debug, 2+ trace.
pub fn init(verbosity: i8) {
    let default = match verbosity {
        i8::MIN..=-1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    let filter = std::env::var("TZ_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|s| EnvFilter::try_new(s).ok())
        .unwrap_or_else(|| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

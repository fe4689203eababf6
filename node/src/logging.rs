//! Logging: the `tracing` subscriber of the `heliograph` binary, writing to
//! stderr as text (ANSI colours on a terminal) or as one JSON object per line
//! (`log_format = "json"`, with the current span and the span list carrying
//! the peer and topic fields), behind a filter that can be changed while the
//! node runs (`POST /admin/v1/log-level/{level}`). The subscriber is
//! process-wide, so is the handle that reloads its filter: [`init`] installs
//! both, [`set_level`] uses the handle.

use std::io::IsTerminal;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, Registry, reload};

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `fields`, `span`, `spans`.
    Json,
}

/// Levels `POST /admin/v1/log-level/{level}` takes (any case).
pub const LEVELS: &[&str] = &["trace", "debug", "info", "warn", "error", "off"];

/// Why logging could not be set up or changed.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The filter is not valid `tracing` filter syntax.
    #[error("invalid log filter `{filter}`: {source}")]
    Filter {
        /// The filter as given.
        filter: String,
        /// What is wrong.
        source: tracing_subscriber::filter::ParseError,
    },
    /// The level is not one of [`LEVELS`].
    #[error("unknown log level `{0}`: use one of trace, debug, info, warn, error, off")]
    Level(String),
    /// Another subscriber is installed already.
    #[error("cannot install the log subscriber: {0}")]
    Install(#[from] tracing_subscriber::util::TryInitError),
    /// [`init`] did not run in this process (the node is embedded, e.g. in a test).
    #[error("the log level cannot be changed: this process did not set up heliograph's logging")]
    NotInstalled,
    /// The subscriber is gone.
    #[error("cannot change the log filter: {0}")]
    Reload(#[from] reload::Error),
}

static FILTER: OnceLock<reload::Handle<EnvFilter, Registry>> = OnceLock::new();

/// Installs the process's subscriber: `filter` (tracing syntax, e.g.
/// `heliograph_node=debug,info`) over lines in `format` on stderr.
pub fn init(filter: &str, format: LogFormat) -> Result<(), LogError> {
    let filter = EnvFilter::try_new(filter).map_err(|source| LogError::Filter { filter: filter.to_owned(), source })?;
    let (filter, handle) = reload::Layer::new(filter);
    let lines = match format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry().with(filter).with(lines).try_init()?;
    // `try_init` succeeded, so this is the first and only handle.
    let _ = FILTER.set(handle);
    Ok(())
}

/// Replaces the filter by `level` (one of [`LEVELS`], any case) for every target.
/// Returns the level set, lowercased.
pub fn set_level(level: &str) -> Result<String, LogError> {
    let lower = level.to_ascii_lowercase();
    if !LEVELS.contains(&lower.as_str()) {
        return Err(LogError::Level(level.to_owned()));
    }
    let handle = FILTER.get().ok_or(LogError::NotInstalled)?;
    // Said under the old filter, so that a change to `error` or `off` is still on record.
    tracing::warn!(level = %lower, "log level changing");
    handle.reload(EnvFilter::new(&lower))?;
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_levels_are_refused_before_anything_changes() {
        let err = set_level("verbose").expect_err("not a level");
        assert!(err.to_string().contains("use one of trace, debug"), "{err}");
        // Unit tests do not install the subscriber: a valid level says so.
        assert!(matches!(set_level("DEBUG"), Err(LogError::NotInstalled)));
    }
}

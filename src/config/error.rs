//! Errors of the config layer: every problem in a file names `file:line`,
//! the directive and what was expected; one load reports all of them.

use std::fmt;
use std::path::PathBuf;

/// One problem (or warning) found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file.
    pub path: PathBuf,
    /// 1-based line number (0 when the problem concerns the whole file).
    pub line: usize,
    /// The directive at fault (`real`, `scheduler`, ...), or the line's
    /// first word when it is no directive.
    pub directive: String,
    /// What is wrong and what was expected.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}: ", self.path.display(), self.line)?;
        } else {
            write!(f, "{}: ", self.path.display())?;
        }
        if self.directive.is_empty() {
            write!(f, "{}", self.message)
        } else {
            write!(f, "{}: {}", self.directive, self.message)
        }
    }
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No file at any of the places ldirectord looks.
    #[error("config file {name} not found (looked in {tried})")]
    NotFound {
        /// The name asked for.
        name: String,
        /// The paths tried, comma separated.
        tried: String,
    },
    /// The file exists but cannot be read.
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The file was read; these are all the problems in it.
    #[error("{}", render(.0))]
    Invalid(Vec<Diagnostic>),
}

fn render(d: &[Diagnostic]) -> String {
    d.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

impl Error {
    /// Every problem, one per line (for `Invalid`), or the single message.
    pub fn diagnostics(&self) -> Vec<String> {
        match self {
            Error::Invalid(d) => d.iter().map(|d| d.to_string()).collect(),
            other => vec![other.to_string()],
        }
    }
}

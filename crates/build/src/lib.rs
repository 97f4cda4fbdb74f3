//! Dockerfiles, as docker (BuildKit's frontend) reads them: the parser (parser
//! directives, continuations, comments, heredocs, exec and shell forms, flags),
//! variable substitution (`$VAR`, `${VAR:-default}`, quotes and escapes),
//! `.dockerignore` patterns, and what each metadata instruction does to an
//! image config. Running a build (containers, layers, the cache) is the
//! engine's: this crate knows nothing of the store.

pub mod dockerfile;
pub mod expand;
pub mod ignore;
pub mod instruction;

pub use dockerfile::{Dockerfile, Heredoc, Line, parse};
pub use expand::Expander;
pub use ignore::{Ignore, glob_match};
pub use instruction::{Command, Form, Healthcheck, apply_metadata};

/// What is wrong with a Dockerfile, and where.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum Error {
    /// A syntax error (line numbers are 1-based; 0 when the text is not from a file).
    #[error("Dockerfile:{line}: {message}")]
    Syntax {
        /// The instruction's first line.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Error {
        Error::Syntax {
            line,
            message: message.into(),
        }
    }

    /// What is wrong, without the line.
    pub fn message(&self) -> &str {
        match self {
            Error::Syntax { message, .. } => message,
        }
    }

    /// The line the error is about.
    pub fn line(&self) -> usize {
        match self {
            Error::Syntax { line, .. } => *line,
        }
    }
}

//! Dockerfiles, as docker (BuildKit's frontend) reads them: the parser (parser
//! directives, continuations, comments, heredocs, exec and shell forms, flags),
//! variable substitution (`$VAR`, `${VAR:-default}`, quotes and escapes),
//! `.dockerignore` patterns, what each metadata instruction does to an image
//! config, and the build plan (stages, ARG/ENV scope, RUN's argv and
//! environment, history and cache-key text). Running a build (containers,
//! layers, the cache) is the engine's: this crate knows nothing of the store.

pub mod dockerfile;
pub mod expand;
pub mod ignore;
pub mod instruction;
pub mod plan;

pub use dockerfile::{Dockerfile, Heredoc, Line, parse};
pub use expand::Expander;
pub use ignore::{Ignore, glob_match};
pub use instruction::{Command, Form, Healthcheck, apply_metadata};
pub use plan::{Plan, Stage};

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
    /// The Dockerfile parses but cannot be built as asked: no FROM, a stage
    /// name twice, an unknown `--target`, a bad ARG default.
    #[error("{}", plan_message(*line, message))]
    Plan {
        /// The instruction's first line; 0 when no one line is at fault.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

fn plan_message(line: usize, message: &str) -> String {
    if line == 0 {
        message.to_string()
    } else {
        format!("Dockerfile:{line}: {message}")
    }
}

impl Error {
    pub(crate) fn at(line: usize, message: impl Into<String>) -> Error {
        Error::Syntax {
            line,
            message: message.into(),
        }
    }

    pub(crate) fn plan(line: usize, message: impl Into<String>) -> Error {
        Error::Plan {
            line,
            message: message.into(),
        }
    }

    /// What is wrong, without the line.
    pub fn message(&self) -> &str {
        match self {
            Error::Syntax { message, .. } | Error::Plan { message, .. } => message,
        }
    }

    /// The line the error is about.
    pub fn line(&self) -> usize {
        match self {
            Error::Syntax { line, .. } | Error::Plan { line, .. } => *line,
        }
    }
}

/// Runs every entry point of this crate over `text` and drops the results:
/// what the fuzz target (`fuzz/`) and the stable fuzz test call. It must not
/// panic, whatever `text` is.
pub fn exercise(text: &str) {
    let lookup = |name: &str| (!name.len().is_multiple_of(3)).then(|| name.to_string());
    let ex = Expander::new(&lookup, '\\');
    let _ = ex.word(text);
    let ignore = Ignore::parse(text);
    for path in text.lines().take(8) {
        let _ = ignore.excludes(path);
        let _ = glob_match(path, text);
    }
    if let Ok(df) = parse(text) {
        let ex = Expander::new(&lookup, df.escape);
        let mut config = berth_oci::image::RunConfig::default();
        let mut cmd_set = false;
        for line in &df.lines {
            if let Ok(cmd) = line.command()
                && let Ok(cmd) = cmd.expand(&ex, line.line)
                && cmd.is_metadata()
            {
                let shell = instruction::shell_of(&config);
                let _ = apply_metadata(&mut config, &cmd, &shell, &mut cmd_set, line.line);
            }
        }
    }
}

#[cfg(test)]
mod fuzz_smoke {
    /// The fuzz target's body on mutations of the Dockerfile corpus, on stable
    /// Rust: a few thousand inputs in every test run.
    #[test]
    fn mutated_corpus_never_panics() {
        let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/build");
        let mut seeds: Vec<String> = std::fs::read_dir(&corpus)
            .map(|d| {
                d.flatten()
                    .filter_map(|e| std::fs::read_to_string(e.path().join("Dockerfile")).ok())
                    .collect()
            })
            .unwrap_or_default();
        seeds.extend(
            [
                "FROM a\nRUN <<A <<B\nx\nA\ny\nB\n",
                "# escape=`\nRUN a `",
                "ENV a=${b:-${c:+${d?e}}}",
                "COPY --chown=\"a b\" --from= x y",
                "**/*/**/[a-",
                "ONBUILD ONBUILD RUN x",
                "HEALTHCHECK --interval=1h1m1s1ms1us1ns CMD [\"a\"]",
            ]
            .map(str::to_string),
        );
        let alphabet: &[u8] = b"\\`$'\"{}[]:-+?*=<>\n\t #!/.,EOFRUNCOPY";
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for round in 0..4000 {
            let seed = &seeds[round % seeds.len()];
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..(1 + next() % 8) {
                let at = if bytes.is_empty() {
                    0
                } else {
                    (next() as usize) % bytes.len()
                };
                let c = alphabet[(next() as usize) % alphabet.len()];
                match next() % 3 {
                    0 => bytes.insert(at, c),
                    1 if !bytes.is_empty() => {
                        bytes.remove(at);
                    }
                    _ if !bytes.is_empty() => bytes[at] = c,
                    _ => bytes.push(c),
                }
            }
            super::exercise(&String::from_utf8_lossy(&bytes));
        }
        // A pattern that would take exponential time without the memo.
        let hostile = "*a".repeat(30) + "b";
        assert!(!super::glob_match(&hostile, &"a".repeat(200)));
    }
}

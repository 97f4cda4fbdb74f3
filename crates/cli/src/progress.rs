//! Progress for load, import and save: bars on a terminal, plain lines otherwise.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Mutex;

use berth_engine::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws progress on stderr (or stdout, where docker prints it: pull, push).
pub enum Reporter {
    /// Nothing at all (`-q`).
    Quiet,
    /// One line per finished item.
    Lines {
        /// Whether the lines go to stdout.
        stdout: bool,
    },
    /// One bar per item.
    Bars {
        /// All bars.
        multi: MultiProgress,
        /// Bars by item.
        bars: Mutex<HashMap<String, ProgressBar>>,
    },
}

impl Reporter {
    /// The right reporter for stderr; `quiet` silences it.
    pub fn new(quiet: bool) -> Reporter {
        if quiet {
            Reporter::Quiet
        } else if std::io::stderr().is_terminal() {
            Reporter::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Reporter::Lines { stdout: false }
        }
    }

    /// The right reporter for stdout, where docker prints pull and push progress.
    pub fn on_stdout(quiet: bool) -> Reporter {
        if quiet {
            Reporter::Quiet
        } else if std::io::stdout().is_terminal() {
            Reporter::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Reporter::Lines { stdout: true }
        }
    }

    fn bar(&self, id: &str) -> Option<ProgressBar> {
        match self {
            Reporter::Bars { bars, .. } => bars.lock().ok()?.get(id).cloned(),
            _ => None,
        }
    }
}

impl Progress for Reporter {
    fn start(&self, id: &str, what: &str, total: Option<u64>) {
        let Reporter::Bars { multi, bars } = self else {
            return;
        };
        let style = match total {
            Some(_) => {
                ProgressStyle::with_template("{prefix}: {msg} [{bar:40}] {bytes}/{total_bytes}")
            }
            None => ProgressStyle::with_template("{prefix}: {msg} {spinner} {bytes}"),
        };
        let Ok(style) = style else { return };
        let Ok(mut bars) = bars.lock() else { return };
        let bar = bars
            .entry(id.to_string())
            .or_insert_with(|| multi.add(ProgressBar::new(0)))
            .clone();
        bar.set_style(style.progress_chars("=> "));
        bar.set_prefix(id.to_string());
        bar.set_message(what.to_string());
        bar.set_position(0);
        if let Some(t) = total {
            bar.set_length(t);
        }
    }

    fn advance(&self, id: &str, bytes: u64) {
        if let Some(b) = self.bar(id) {
            b.inc(bytes);
        }
    }

    fn done(&self, id: &str, status: &str) {
        match self {
            Reporter::Quiet => {}
            Reporter::Lines { stdout } => line(*stdout, &format!("{id}: {status}")),
            Reporter::Bars { multi, .. } => match self.bar(id) {
                Some(b) => {
                    b.set_style(
                        ProgressStyle::with_template("{prefix}: {msg}")
                            .unwrap_or_else(|_| ProgressStyle::default_bar()),
                    );
                    b.finish_with_message(status.to_string());
                }
                None => {
                    let _ = multi.println(format!("{id}: {status}"));
                }
            },
        }
    }

    fn message(&self, line: &str) {
        match self {
            Reporter::Quiet => {}
            Reporter::Lines { stdout } => self::line(*stdout, line),
            Reporter::Bars { multi, .. } => {
                let _ = multi.println(line);
            }
        }
    }
}

fn line(stdout: bool, text: &str) {
    if stdout {
        crate::format::print_out(&format!("{text}\n"));
    } else {
        eprintln!("{text}");
    }
}

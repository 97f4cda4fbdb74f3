//! Progress for load, import and save: bars on a terminal, plain lines otherwise.

use std::collections::{HashMap, HashSet};
use std::io::IsTerminal;
use std::sync::Mutex;

use berth_engine::Progress;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Draws progress on stderr (or stdout, where docker prints it: pull, push).
pub struct Reporter {
    mode: Mode,
    /// With [`Reporter::each_item_once`]: the items whose outcome was told.
    told: Option<Mutex<HashSet<String>>>,
}

/// How a [`Reporter`] draws.
enum Mode {
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
        Reporter::with_mode(if quiet {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stderr()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Mode::Lines { stdout: false }
        })
    }

    /// The right reporter for stdout, where docker prints pull and push progress.
    pub fn on_stdout(quiet: bool) -> Reporter {
        Reporter::with_mode(if quiet {
            Mode::Quiet
        } else if std::io::stdout().is_terminal() {
            Mode::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: Mutex::new(HashMap::new()),
            }
        } else {
            Mode::Lines { stdout: true }
        })
    }

    fn with_mode(mode: Mode) -> Reporter {
        Reporter { mode, told: None }
    }

    /// Tells each item's outcome once per command, however often the engine
    /// reports it: `load` of an archive whose images share layers prints
    /// one line per layer (`pull -a` keeps docker's lines per tag).
    pub fn each_item_once(mut self) -> Reporter {
        self.told = Some(Mutex::new(HashSet::new()));
        self
    }

    fn bar(&self, id: &str) -> Option<ProgressBar> {
        match &self.mode {
            Mode::Bars { bars, .. } => bars.lock().ok()?.get(id).cloned(),
            _ => None,
        }
    }

    /// Whether `id`'s outcome is still to be told (and from now on, told).
    fn first_time(&self, id: &str) -> bool {
        let Some(told) = &self.told else { return true };
        told.lock()
            .map_or(true, |mut told| told.insert(id.to_string()))
    }
}

impl Progress for Reporter {
    fn start(&self, id: &str, what: &str, total: Option<u64>) {
        let Mode::Bars { multi, bars } = &self.mode else {
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
        if !self.first_time(id) {
            return;
        }
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines { stdout } => line(*stdout, &format!("{id}: {status}")),
            Mode::Bars { multi, .. } => match self.bar(id) {
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
        match &self.mode {
            Mode::Quiet => {}
            Mode::Lines { stdout } => self::line(*stdout, line),
            Mode::Bars { multi, .. } => {
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

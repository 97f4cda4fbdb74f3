//! `pull`, `push`, `login`, `logout`, `search`.

use std::io::{BufRead, IsTerminal, Write};

use anyhow::{Context, Result, bail};
use berth_engine::{Credentials, Engine, PullOptions, PushCompression, PushOptions, SearchResult};
use berth_oci::image::Platform;
use serde_json::json;

use crate::cli::{LoginArgs, LogoutArgs, PullArgs, PushArgs, PushCompressionArg, SearchArgs};
use crate::format::{Format, print_out};
use crate::progress::Reporter;

/// `berth pull`.
pub fn pull(engine: &Engine, a: PullArgs) -> Result<()> {
    let mut opts = PullOptions::default();
    opts.all_tags = a.all_tags;
    opts.platform = a.platform.as_deref().map(parse_platform).transpose()?;
    let progress = Reporter::on_stdout(a.quiet);
    let pulled = engine
        .pull(&a.name, &opts, &progress)
        .with_context(|| format!("pulling {}", a.name))?;
    let mut out = String::new();
    for p in pulled {
        out.push_str(&format!("{}\n", p.reference));
    }
    print_out(&out);
    Ok(())
}

/// `os/arch[/variant]`.
pub fn parse_platform(s: &str) -> Result<Platform> {
    let parts: Vec<&str> = s.split('/').collect();
    match parts.as_slice() {
        [os, arch] | [os, arch, _] if !os.is_empty() && !arch.is_empty() => Ok(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: parts.get(2).map(|v| v.to_string()),
        }),
        _ => bail!("invalid platform {s:?}: expected os/arch[/variant], e.g. linux/arm64/v8"),
    }
}

/// `berth push`.
pub fn push(engine: &Engine, a: PushArgs) -> Result<()> {
    let mut opts = PushOptions::default();
    opts.all_tags = a.all_tags;
    opts.compression = match a.compression {
        PushCompressionArg::Gzip => PushCompression::Gzip,
        PushCompressionArg::Zstd => PushCompression::Zstd,
    };
    let progress = Reporter::on_stdout(a.quiet);
    let pushed = engine
        .push(&a.name, &opts, &progress)
        .with_context(|| format!("pushing {}", a.name))?;
    if a.quiet {
        let out: String = pushed.iter().map(|p| format!("{}\n", p.digest)).collect();
        print_out(&out);
    }
    Ok(())
}

/// `berth login`.
pub fn login(engine: &Engine, a: LoginArgs) -> Result<()> {
    let server = a.server.as_deref();
    let username = match a.username {
        Some(u) => u,
        None => {
            let stored = engine.stored_username(server).unwrap_or(None);
            let prompt = match &stored {
                Some(u) => format!("Username ({u}): "),
                None => "Username: ".to_string(),
            };
            let typed = prompt_line(&prompt, true)?;
            match (typed.is_empty(), stored) {
                (true, Some(u)) => u,
                (true, None) => bail!("username is required"),
                (false, _) => typed,
            }
        }
    };
    let password = match (a.password, a.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p
        }
        (None, true) => {
            let mut line = String::new();
            std::io::stdin()
                .lock()
                .read_line(&mut line)
                .context("reading the password from stdin")?;
            line.trim_end_matches(['\n', '\r']).to_string()
        }
        (None, false) => prompt_line("Password: ", false)?,
    };
    if password.is_empty() {
        bail!("password is required");
    }
    let domain = engine
        .login(
            server,
            Credentials {
                username,
                secret: password,
            },
        )
        .with_context(|| format!("logging in to {}", berth_engine::login_domain(server)))?;
    tracing::info!(%domain, "logged in");
    print_out("Login Succeeded\n");
    Ok(())
}

/// Asks on the terminal; `echo` false hides what is typed (a password).
fn prompt_line(prompt: &str, echo: bool) -> Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!("cannot prompt: stdin is not a terminal (use --username and --password-stdin)");
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let saved = if echo {
        None
    } else {
        let t = rustix::termios::tcgetattr(&stdin).context("reading terminal settings")?;
        let mut quiet = t.clone();
        quiet.local_modes.remove(rustix::termios::LocalModes::ECHO);
        rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &quiet)
            .context("hiding the password")?;
        Some(t)
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = rustix::termios::tcsetattr(&stdin, rustix::termios::OptionalActions::Now, &t);
        eprintln!();
    }
    read.context("reading from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `berth logout`.
pub fn logout(engine: &Engine, a: LogoutArgs) -> Result<()> {
    let (domain, found) = engine.logout(a.server.as_deref())?;
    let key = berth_engine::server_key(&domain);
    if found {
        print_out(&format!("Removing login credentials for {key}\n"));
    } else {
        print_out(&format!("Not logged in to {key}\n"));
    }
    Ok(())
}

/// A `search --filter`.
enum SearchFilter {
    Official(bool),
    Automated(bool),
    Stars(u64),
}

fn parse_search_filter(f: &str) -> Result<SearchFilter> {
    let (k, v) = f
        .split_once('=')
        .with_context(|| format!("bad format of filter (expected name=value): {f}"))?;
    let boolean = || -> Result<bool> {
        v.parse()
            .with_context(|| format!("invalid filter '{f}': expected true or false"))
    };
    Ok(match k {
        "is-official" => SearchFilter::Official(boolean()?),
        "is-automated" => SearchFilter::Automated(boolean()?),
        "stars" => SearchFilter::Stars(
            v.parse()
                .with_context(|| format!("invalid filter '{f}': stars must be a number"))?,
        ),
        _ => bail!("invalid filter '{k}'"),
    })
}

/// `berth search`.
pub fn search(engine: &Engine, a: SearchArgs) -> Result<()> {
    let filters = a
        .filters
        .iter()
        .map(|f| parse_search_filter(f))
        .collect::<Result<Vec<_>>>()?;
    if a.limit == 0 || a.limit > 100 {
        bail!("limit {} is outside the range of [1, 100]", a.limit);
    }
    let results = engine
        .search(&a.term, a.limit)
        .with_context(|| format!("searching for {}", a.term))?;
    let keep = |r: &SearchResult| {
        filters.iter().all(|f| match f {
            SearchFilter::Official(b) => r.is_official == *b,
            SearchFilter::Automated(b) => r.is_automated == *b,
            SearchFilter::Stars(n) => r.star_count >= *n,
        })
    };
    let rows: Vec<_> = results
        .iter()
        .filter(|r| keep(r))
        .map(|r| {
            let description = if a.no_trunc || r.description.chars().count() <= 45 {
                r.description.clone()
            } else {
                format!("{}…", r.description.chars().take(44).collect::<String>())
            };
            json!({
                "Name": r.name,
                "Description": description,
                "StarCount": r.star_count.to_string(),
                "IsOfficial": if r.is_official { "[OK]" } else { "" },
                "IsAutomated": if r.is_automated { "[OK]" } else { "" },
            })
        })
        .collect();
    let header = json!({"Name": "NAME", "Description": "DESCRIPTION", "StarCount": "STARS",
        "IsOfficial": "OFFICIAL", "IsAutomated": "AUTOMATED"});
    Format::parse(a.format.as_deref()).print(
        "{{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}",
        &header,
        &rows,
    )
}

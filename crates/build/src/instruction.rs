//! Instruction lines as typed commands, and what the metadata instructions do
//! to an image's config.

use std::collections::BTreeMap;

use berth_oci::image::RunConfig;
use serde_json::{Value, json};

use crate::dockerfile::{Heredoc, Line};
use crate::{Error, Expander};

/// Exec form (`["a", "b"]`) or shell form (run by the stage's SHELL).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Form {
    /// The JSON array form.
    Exec(Vec<String>),
    /// The shell form, as written.
    Shell(String),
}

impl Form {
    /// The argv: exec form as is, shell form after `shell`.
    pub fn argv(&self, shell: &[String]) -> Vec<String> {
        match self {
            Form::Exec(v) => v.clone(),
            Form::Shell(s) => shell.iter().cloned().chain([s.clone()]).collect(),
        }
    }
}

/// `HEALTHCHECK`'s settings (durations in nanoseconds, 0 = inherit).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", cmd]` or `["NONE"]`.
    pub test: Vec<String>,
    /// `--interval`.
    pub interval: i64,
    /// `--timeout`.
    pub timeout: i64,
    /// `--start-period`.
    pub start_period: i64,
    /// `--start-interval`.
    pub start_interval: i64,
    /// `--retries`.
    pub retries: i64,
}

/// An instruction with its arguments parsed (variables not yet substituted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `FROM [--platform=P] IMAGE [AS NAME]`.
    From {
        /// The image (or stage name, or `scratch`).
        image: String,
        /// The stage's name, lower case.
        alias: Option<String>,
        /// `--platform`.
        platform: Option<String>,
    },
    /// `RUN`.
    Run {
        /// The command.
        form: Form,
        /// Heredoc bodies.
        heredocs: Vec<Heredoc>,
        /// `--network`.
        network: Option<String>,
    },
    /// `CMD`.
    Cmd(Form),
    /// `ENTRYPOINT`.
    Entrypoint(Form),
    /// `COPY` and `ADD`.
    Copy {
        /// `ADD` rather than `COPY`.
        add: bool,
        /// The sources (patterns, URLs for ADD, heredoc names).
        sources: Vec<String>,
        /// The destination.
        dest: String,
        /// `--from`.
        from: Option<String>,
        /// `--chown`.
        chown: Option<String>,
        /// `--chmod`.
        chmod: Option<String>,
        /// `--checksum` (ADD of a URL).
        checksum: Option<String>,
        /// Heredoc sources.
        heredocs: Vec<Heredoc>,
    },
    /// `ENV`.
    Env(Vec<(String, String)>),
    /// `ARG`, each with its default.
    Arg(Vec<(String, Option<String>)>),
    /// `LABEL`.
    Label(Vec<(String, String)>),
    /// `WORKDIR`.
    Workdir(String),
    /// `USER`.
    User(String),
    /// `EXPOSE`.
    Expose(Vec<String>),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `SHELL`.
    Shell(Vec<String>),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `HEALTHCHECK` (`None` for `HEALTHCHECK NONE`).
    Healthcheck(Healthcheck),
    /// `ONBUILD` with its trigger as written.
    Onbuild(String),
    /// `MAINTAINER`.
    Maintainer(String),
}

/// Splits on blanks outside quotes; quotes and escapes stay (substitution
/// removes them), as docker's parser does for ENV, LABEL and ARG.
pub fn split_words(rest: &str, escape: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        match quote {
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                if c == '"' || c == '\'' {
                    quote = Some(c);
                }
                word.push(c);
                if c == escape
                    && let Some(n) = chars.next()
                {
                    word.push(n);
                }
            }
            Some(q) => {
                word.push(c);
                if c == q {
                    quote = None;
                } else if c == escape
                    && q != '\''
                    && let Some(n) = chars.next()
                {
                    word.push(n);
                }
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

fn json_form(args: &str) -> Option<Vec<String>> {
    let t = args.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn form(args: &str) -> Form {
    match json_form(args) {
        Some(v) => Form::Exec(v),
        None => Form::Shell(args.to_string()),
    }
}

/// docker's durations: `30s`, `1m30s`, `500ms`, `1h`.
pub fn parse_duration(s: &str) -> Option<i64> {
    let mut total: f64 = 0.0;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1.0,
            "us" | "µs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(total as i64)
}

impl Line {
    fn flag_values(&self, allowed: &[&str]) -> Result<BTreeMap<String, String>, Error> {
        let mut out = BTreeMap::new();
        for f in &self.flags {
            let (name, value) = match f.split_once('=') {
                Some((n, v)) => (n, v.to_string()),
                None => (f.as_str(), "true".to_string()),
            };
            if !allowed.contains(&name) {
                return Err(Error::at(
                    self.line,
                    format!("unknown flag: --{name} (for {})", self.keyword),
                ));
            }
            out.insert(name.to_string(), value);
        }
        Ok(out)
    }

    fn need_args(&self) -> Result<(), Error> {
        if self.args.trim().is_empty() && self.heredocs.is_empty() {
            return Err(Error::at(
                self.line,
                format!("{} requires at least one argument", self.keyword),
            ));
        }
        Ok(())
    }

    fn key_values(&self, legacy: bool) -> Result<Vec<(String, String)>, Error> {
        let words = split_words(&self.args, self.escape);
        let Some(first) = words.first() else {
            return Err(Error::at(
                self.line,
                format!("{} requires at least one argument", self.keyword),
            ));
        };
        if !first.contains('=') {
            if !legacy {
                return Err(Error::at(
                    self.line,
                    format!("{} requires KEY=VALUE arguments", self.keyword),
                ));
            }
            let (k, v) = match self.args.trim().split_once(char::is_whitespace) {
                Some((k, v)) => (k, v.trim()),
                None => {
                    return Err(Error::at(
                        self.line,
                        format!("{} must have two arguments", self.keyword),
                    ));
                }
            };
            return Ok(vec![(k.to_string(), v.to_string())]);
        }
        words
            .into_iter()
            .map(|w| match w.split_once('=') {
                Some(("", _)) => Err(Error::at(
                    self.line,
                    format!("{} names can not be blank", self.keyword),
                )),
                Some((k, v)) => Ok((k.to_string(), v.to_string())),
                None => Err(Error::at(
                    self.line,
                    format!(
                        "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
                    ),
                )),
            })
            .collect()
    }

    /// The typed command.
    pub fn command(&self) -> Result<Command, Error> {
        let words = || -> Vec<String> {
            match json_form(&self.args) {
                Some(v) => v,
                None => self.args.split_whitespace().map(str::to_string).collect(),
            }
        };
        let no_flags = |line: &Line| line.flag_values(&[]).map(|_| ());
        Ok(match self.keyword.as_str() {
            "FROM" => {
                let flags = self.flag_values(&["platform"])?;
                let w: Vec<&str> = self.args.split_whitespace().collect();
                let (image, alias) = match w.as_slice() {
                    [image] => (image.to_string(), None),
                    [image, as_, name] if as_.eq_ignore_ascii_case("as") => {
                        (image.to_string(), Some(name.to_ascii_lowercase()))
                    }
                    _ => {
                        return Err(Error::at(
                            self.line,
                            "FROM requires either one or three arguments",
                        ));
                    }
                };
                Command::From {
                    image,
                    alias,
                    platform: flags.get("platform").cloned(),
                }
            }
            "RUN" => {
                let flags = self.flag_values(&["network", "mount", "security"])?;
                if flags.contains_key("mount") {
                    return Err(Error::at(
                        self.line,
                        "RUN --mount is not supported by berth yet",
                    ));
                }
                if flags.get("security").is_some_and(|s| s != "sandbox") {
                    return Err(Error::at(
                        self.line,
                        "RUN --security=insecure is not supported by berth",
                    ));
                }
                self.need_args()?;
                Command::Run {
                    form: form(&self.args),
                    heredocs: self.heredocs.clone(),
                    network: flags.get("network").cloned(),
                }
            }
            "CMD" | "ENTRYPOINT" => {
                no_flags(self)?;
                self.need_args()?;
                let f = form(&self.args);
                if self.keyword == "CMD" {
                    Command::Cmd(f)
                } else {
                    Command::Entrypoint(f)
                }
            }
            "COPY" | "ADD" => {
                let add = self.keyword == "ADD";
                let allowed: &[&str] = if add {
                    &["chown", "chmod", "checksum", "link", "keep-git-dir"]
                } else {
                    &["from", "chown", "chmod", "link", "parents"]
                };
                let flags = self.flag_values(allowed)?;
                if flags.get("parents").is_some_and(|p| p != "false") {
                    return Err(Error::at(
                        self.line,
                        "COPY --parents is not supported by berth yet",
                    ));
                }
                let mut w = words();
                if w.len() < 2 {
                    return Err(Error::at(
                        self.line,
                        format!(
                            "{} requires at least two arguments, but only one was provided. Destination could not be determined",
                            self.keyword
                        ),
                    ));
                }
                let dest = w.pop().unwrap_or_default();
                // Heredoc markers stand for their bodies.
                let sources = w
                    .into_iter()
                    .map(|s| {
                        let marker = s.trim_start_matches(|c: char| c.is_ascii_digit());
                        match marker.strip_prefix("<<") {
                            Some(m) => m
                                .trim_start_matches('-')
                                .trim_matches(|c| c == '"' || c == '\'')
                                .to_string(),
                            None => s,
                        }
                    })
                    .collect();
                Command::Copy {
                    add,
                    sources,
                    dest,
                    from: flags.get("from").cloned(),
                    chown: flags.get("chown").cloned().filter(|c| !c.is_empty()),
                    chmod: flags.get("chmod").cloned().filter(|c| !c.is_empty()),
                    checksum: flags.get("checksum").cloned(),
                    heredocs: self.heredocs.clone(),
                }
            }
            "ENV" => {
                no_flags(self)?;
                Command::Env(self.key_values(true)?)
            }
            "LABEL" => {
                no_flags(self)?;
                Command::Label(self.key_values(true)?)
            }
            "ARG" => {
                no_flags(self)?;
                let w = split_words(&self.args, self.escape);
                if w.is_empty() {
                    return Err(Error::at(self.line, "ARG requires at least one argument"));
                }
                Command::Arg(
                    w.into_iter()
                        .map(|a| match a.split_once('=') {
                            Some((k, v)) => (k.to_string(), Some(v.to_string())),
                            None => (a, None),
                        })
                        .collect(),
                )
            }
            "WORKDIR" | "USER" | "STOPSIGNAL" | "MAINTAINER" => {
                no_flags(self)?;
                self.need_args()?;
                let a = self.args.trim().to_string();
                match self.keyword.as_str() {
                    "WORKDIR" => Command::Workdir(a),
                    "USER" => Command::User(a),
                    "STOPSIGNAL" => Command::StopSignal(a),
                    _ => Command::Maintainer(a),
                }
            }
            "EXPOSE" => {
                no_flags(self)?;
                self.need_args()?;
                Command::Expose(self.args.split_whitespace().map(str::to_string).collect())
            }
            "VOLUME" => {
                no_flags(self)?;
                self.need_args()?;
                let v = words();
                if v.iter().any(|p| p.trim().is_empty()) {
                    return Err(Error::at(
                        self.line,
                        "VOLUME specified can not be an empty string",
                    ));
                }
                Command::Volume(v)
            }
            "SHELL" => {
                no_flags(self)?;
                match json_form(&self.args) {
                    Some(v) if !v.is_empty() => Command::Shell(v),
                    _ => {
                        return Err(Error::at(
                            self.line,
                            "SHELL requires the arguments to be in JSON form",
                        ));
                    }
                }
            }
            "HEALTHCHECK" => {
                let flags = self.flag_values(&[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ])?;
                let args = self.args.trim();
                let (kind, rest) = args
                    .split_once(char::is_whitespace)
                    .map(|(k, r)| (k, r.trim()))
                    .unwrap_or((args, ""));
                let mut hc = Healthcheck::default();
                if kind.eq_ignore_ascii_case("NONE") {
                    if !rest.is_empty() || !flags.is_empty() {
                        return Err(Error::at(self.line, "HEALTHCHECK NONE takes no arguments"));
                    }
                    hc.test = vec!["NONE".into()];
                    return Ok(Command::Healthcheck(hc));
                }
                if !kind.eq_ignore_ascii_case("CMD") || rest.is_empty() {
                    return Err(Error::at(
                        self.line,
                        "HEALTHCHECK requires CMD COMMAND or NONE",
                    ));
                }
                hc.test = match form(rest) {
                    Form::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                    Form::Shell(s) => vec!["CMD-SHELL".into(), s],
                };
                for (name, slot) in [
                    ("interval", &mut hc.interval),
                    ("timeout", &mut hc.timeout),
                    ("start-period", &mut hc.start_period),
                    ("start-interval", &mut hc.start_interval),
                ] {
                    if let Some(v) = flags.get(name) {
                        *slot = parse_duration(v).ok_or_else(|| {
                            Error::at(self.line, format!("invalid --{name} duration {v:?}"))
                        })?;
                    }
                }
                if let Some(r) = flags.get("retries") {
                    hc.retries =
                        r.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
                            Error::at(self.line, format!("invalid --retries {r:?}"))
                        })?;
                }
                Command::Healthcheck(hc)
            }
            "ONBUILD" => {
                self.need_args()?;
                let trigger = crate::dockerfile::parse_line(&self.args, self.line)?;
                if matches!(trigger.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(Error::at(
                        self.line,
                        format!("{} isn't allowed as an ONBUILD trigger", trigger.keyword),
                    ));
                }
                Command::Onbuild(self.args.trim().to_string())
            }
            other => {
                return Err(Error::at(
                    self.line,
                    format!("unknown instruction: {other}"),
                ));
            }
        })
    }
}

impl Command {
    /// Substitutes variables where docker does (not in RUN, CMD, ENTRYPOINT,
    /// SHELL, HEALTHCHECK or ONBUILD, which the shell or the child build sees).
    pub fn expand(&self, ex: &Expander<'_>, line: usize) -> Result<Command, Error> {
        let w = |s: &str| ex.word(s).map_err(|e| Error::at(line, e));
        let all = |v: &[String]| v.iter().map(|s| w(s)).collect::<Result<Vec<_>, _>>();
        let opt = |o: &Option<String>| o.as_deref().map(w).transpose();
        Ok(match self {
            Command::From {
                image,
                alias,
                platform,
            } => Command::From {
                image: w(image)?,
                alias: alias.clone(),
                platform: opt(platform)?,
            },
            Command::Copy {
                add,
                sources,
                dest,
                from,
                chown,
                chmod,
                checksum,
                heredocs,
            } => Command::Copy {
                add: *add,
                sources: sources
                    .iter()
                    .map(|s| {
                        if heredocs.iter().any(|h| &h.name == s) {
                            Ok(s.clone())
                        } else {
                            w(s)
                        }
                    })
                    .collect::<Result<_, _>>()?,
                dest: w(dest)?,
                from: opt(from)?,
                chown: opt(chown)?,
                chmod: opt(chmod)?,
                checksum: opt(checksum)?,
                heredocs: heredocs
                    .iter()
                    .map(|h| {
                        Ok(Heredoc {
                            body: if h.expand {
                                w(&h.body)?
                            } else {
                                h.body.clone()
                            },
                            ..h.clone()
                        })
                    })
                    .collect::<Result<_, Error>>()?,
            },
            Command::Env(kv) => Command::Env(
                kv.iter()
                    .map(|(k, v)| Ok((w(k)?, w(v)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            Command::Label(kv) => Command::Label(
                kv.iter()
                    .map(|(k, v)| Ok((w(k)?, w(v)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            Command::Arg(kv) => Command::Arg(
                kv.iter()
                    .map(|(k, v)| Ok((k.clone(), opt(v)?)))
                    .collect::<Result<_, Error>>()?,
            ),
            Command::Workdir(s) => Command::Workdir(w(s)?),
            Command::User(s) => Command::User(w(s)?),
            Command::StopSignal(s) => Command::StopSignal(w(s)?),
            Command::Expose(v) => Command::Expose(all(v)?),
            Command::Volume(v) => Command::Volume(all(v)?),
            other => other.clone(),
        })
    }

    /// Whether the instruction only changes the config (no layer).
    pub fn is_metadata(&self) -> bool {
        !matches!(
            self,
            Command::From { .. } | Command::Run { .. } | Command::Copy { .. } | Command::Arg(_)
        )
    }
}

/// Joins `path` to the working directory `base` and cleans it.
pub fn join_workdir(base: &str, path: &str) -> String {
    let full = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("{}/{path}", base.trim_end_matches('/'))
    };
    let mut parts: Vec<&str> = Vec::new();
    for p in full.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    format!("/{}", parts.join("/"))
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

/// What a metadata instruction (already substituted) does to `config`.
/// `shell` is the stage's SHELL for shell forms; `cmd_set` says whether CMD was
/// given in this build (an ENTRYPOINT resets an inherited CMD, as docker's does).
pub fn apply_metadata(
    config: &mut RunConfig,
    command: &Command,
    shell: &[String],
    cmd_set: &mut bool,
    line: usize,
) -> Result<(), Error> {
    match command {
        Command::Cmd(f) => {
            config.cmd = Some(f.argv(shell));
            *cmd_set = true;
        }
        Command::Entrypoint(f) => {
            config.entrypoint = Some(f.argv(shell));
            if !*cmd_set {
                config.cmd = None;
            }
        }
        Command::Env(kv) => {
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in kv {
                match env
                    .iter_mut()
                    .find(|e| e.split_once('=').map(|(ek, _)| ek) == Some(k.as_str()))
                {
                    Some(e) => *e = format!("{k}={v}"),
                    None => env.push(format!("{k}={v}")),
                }
            }
        }
        Command::Label(kv) => {
            let labels = config.labels.get_or_insert_with(Default::default);
            for (k, v) in kv {
                labels.insert(k.clone(), v.clone());
            }
        }
        Command::Workdir(p) => {
            let base = config.working_dir.clone().unwrap_or_else(|| "/".into());
            config.working_dir = Some(join_workdir(&base, p));
        }
        Command::User(u) => config.user = Some(u.clone()),
        Command::Expose(ports) => {
            let map = config.exposed_ports.get_or_insert_with(Default::default);
            for p in ports {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let proto = proto.to_ascii_lowercase();
                let range: Vec<&str> = num.split('-').collect();
                let nums: Option<Vec<u16>> = range.iter().map(|n| n.parse().ok()).collect();
                let Some(nums) = nums.filter(|n| n.len() <= 2 && !n.is_empty()) else {
                    return Err(Error::at(line, format!("invalid containerPort: {num}")));
                };
                if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                    return Err(Error::at(line, format!("invalid proto: {proto}")));
                }
                let (lo, hi) = (nums[0], *nums.last().unwrap_or(&nums[0]));
                for n in lo..=hi.max(lo) {
                    map.insert(format!("{n}/{proto}"), empty_object());
                }
            }
        }
        Command::Volume(v) => {
            let map = config.volumes.get_or_insert_with(Default::default);
            for p in v {
                map.insert(p.clone(), empty_object());
            }
        }
        Command::Shell(s) => {
            config.extra.insert("Shell".into(), json!(s));
        }
        Command::StopSignal(s) => config.stop_signal = Some(s.clone()),
        Command::Healthcheck(hc) => {
            let mut v = json!({ "Test": hc.test });
            for (k, n) in [
                ("Interval", hc.interval),
                ("Timeout", hc.timeout),
                ("StartPeriod", hc.start_period),
                ("StartInterval", hc.start_interval),
                ("Retries", hc.retries),
            ] {
                if n != 0 {
                    v[k] = json!(n);
                }
            }
            config.extra.insert("Healthcheck".into(), v);
        }
        Command::Onbuild(t) => config.on_build.get_or_insert_with(Vec::new).push(t.clone()),
        Command::Maintainer(_) | Command::Arg(_) => {}
        Command::From { .. } | Command::Run { .. } | Command::Copy { .. } => {
            return Err(Error::at(line, "not a metadata instruction"));
        }
    }
    Ok(())
}

/// The SHELL of a config (docker's default `/bin/sh -c`).
pub fn shell_of(config: &RunConfig) -> Vec<String> {
    config
        .extra
        .get("Shell")
        .and_then(|v| serde_json::from_value::<Vec<String>>(v.clone()).ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn commands(text: &str) -> Vec<Command> {
        parse(text)
            .unwrap()
            .lines
            .iter()
            .map(|l| l.command().unwrap())
            .collect()
    }

    #[test]
    fn forms_and_pairs() {
        let c = commands(
            "FROM a AS Build\nCMD [\"x\", \"y\"]\nCMD echo hi\nENTRYPOINT [\"bad\" 'json']\nENV A=1 B=\"two words\"\nENV C three words\nLABEL \"k k\"=v\nARG X Y=2\n",
        );
        assert_eq!(
            c[0],
            Command::From {
                image: "a".into(),
                alias: Some("build".into()),
                platform: None
            }
        );
        assert_eq!(c[1], Command::Cmd(Form::Exec(vec!["x".into(), "y".into()])));
        assert_eq!(c[2], Command::Cmd(Form::Shell("echo hi".into())));
        assert_eq!(
            c[3],
            Command::Entrypoint(Form::Shell("[\"bad\" 'json']".into()))
        );
        assert_eq!(
            c[4],
            Command::Env(vec![
                ("A".into(), "1".into()),
                ("B".into(), "\"two words\"".into())
            ])
        );
        assert_eq!(c[5], Command::Env(vec![("C".into(), "three words".into())]));
        assert_eq!(c[6], Command::Label(vec![("\"k k\"".into(), "v".into())]));
        assert_eq!(
            c[7],
            Command::Arg(vec![("X".into(), None), ("Y".into(), Some("2".into()))])
        );
    }

    #[test]
    fn bad_instructions() {
        for (text, want) in [
            ("FROM", "FROM requires"),
            ("ENV A=1 B", "can't find ="),
            ("ENV =1", "can not be blank"),
            ("COPY onlyone", "at least two arguments"),
            ("SHELL /bin/bash", "JSON form"),
            ("ONBUILD FROM x", "isn't allowed"),
            ("COPY --nope=1 a b", "unknown flag"),
            ("HEALTHCHECK --interval=abc CMD x", "invalid --interval"),
            ("ENV --x=1 A=1", "unknown flag"),
        ] {
            let df = parse(text).unwrap();
            let e = df.lines[0].command().unwrap_err();
            assert!(e.to_string().contains(want), "{text}: {e}");
        }
    }

    #[test]
    fn metadata_into_config() {
        let mut config = RunConfig::default();
        let mut cmd_set = false;
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        config.cmd = Some(vec!["inherited".into()]);
        for c in commands(
            "ENTRYPOINT [\"/e\"]\nWORKDIR app\nWORKDIR ../srv/./x\nEXPOSE 80 53/udp 8000-8001\nENV A=1\nENV A=2\nHEALTHCHECK --interval=30s --retries=2 CMD curl -f x\nSHELL [\"/bin/bash\", \"-c\"]\n",
        ) {
            apply_metadata(&mut config, &c, &sh, &mut cmd_set, 1).unwrap();
        }
        assert_eq!(config.cmd, None, "ENTRYPOINT resets an inherited CMD");
        assert_eq!(config.working_dir.as_deref(), Some("/srv/x"));
        let ports: Vec<&String> = config.exposed_ports.as_ref().unwrap().keys().collect();
        assert_eq!(ports, vec!["53/udp", "80/tcp", "8000/tcp", "8001/tcp"]);
        assert_eq!(config.env, Some(vec!["A=2".to_string()]));
        assert_eq!(
            config.extra["Healthcheck"],
            json!({"Test": ["CMD-SHELL", "curl -f x"], "Interval": 30_000_000_000i64, "Retries": 2})
        );
        assert_eq!(shell_of(&config), vec!["/bin/bash", "-c"]);
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("x"), None);
    }
}

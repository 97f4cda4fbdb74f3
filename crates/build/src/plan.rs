//! A Dockerfile as a build plan: its stages and which of them the target needs,
//! the build args in scope before the first FROM, how ARG and ENV resolve,
//! what a RUN executes and with which environment, the text its history and
//! cache key are made of. All of it is decided here, without a store or a
//! container, so that unit tests check it; the engine runs the plan.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::Write as _;

use berth_oci::image::Platform;
use berth_oci::{Digest, Hasher};

use crate::Error;
use crate::dockerfile::{Dockerfile, Heredoc, Line};
use crate::expand::Expander;
use crate::instruction::{Command, Form};

/// Build args any RUN sees when given, without an ARG (docker's list).
pub const PROXY_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The text every cache key starts from, so that a change in how berth
/// builds can retire old cache entries by changing it.
pub const CACHE_VERSION: &str = "berth-build-v1";

/// Variables in scope: a name declared without a value maps to `None`.
pub type Args = BTreeMap<String, Option<String>>;

/// A stage of the Dockerfile: its FROM and the instructions after it.
#[derive(Debug, Clone)]
pub struct Stage {
    /// Its position, from 0.
    pub index: usize,
    /// `FROM … AS name`, lower case.
    pub name: Option<String>,
    /// The FROM line.
    pub from: Line,
    /// The instructions of the stage.
    pub lines: Vec<Line>,
}

/// What a Dockerfile asks for, before anything runs.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The escape character in force.
    pub escape: char,
    /// Every stage, in order.
    pub stages: Vec<Stage>,
    /// The ARGs before the first FROM and the automatic platform ones.
    pub meta: Args,
    /// The stage whose image is the result.
    pub target: usize,
    /// The stages the target needs (itself included), in order.
    pub needed: Vec<usize>,
    /// The build args an ARG before the first FROM consumed.
    pub used_args: HashSet<String>,
    names: HashMap<String, usize>,
}

impl Plan {
    /// Plans `df` for `platform` (builds are for the host: target and build
    /// platform are one), with `--build-arg`s and `--target`.
    pub fn new(
        df: Dockerfile,
        build_args: &BTreeMap<String, String>,
        target: Option<&str>,
        platform: &Platform,
    ) -> Result<Plan, Error> {
        let mut stages: Vec<Stage> = Vec::new();
        let mut meta_lines = Vec::new();
        for line in df.lines {
            if line.keyword == "FROM" {
                let name = match line.command()? {
                    Command::From { alias, .. } => alias,
                    _ => None,
                };
                stages.push(Stage {
                    index: stages.len(),
                    name,
                    from: line,
                    lines: Vec::new(),
                });
            } else if let Some(s) = stages.last_mut() {
                s.lines.push(line);
            } else if line.keyword == "ARG" {
                meta_lines.push(line);
            } else {
                return Err(Error::plan(
                    line.line,
                    format!(
                        "{} before the first FROM: no build stage in current context",
                        line.keyword
                    ),
                ));
            }
        }
        if stages.is_empty() {
            return Err(Error::plan(
                0,
                "the Dockerfile has no FROM: no build stage in current context",
            ));
        }
        let mut names = HashMap::new();
        for s in &stages {
            if let Some(n) = &s.name
                && names.insert(n.clone(), s.index).is_some()
            {
                return Err(Error::plan(
                    s.from.line,
                    format!("duplicate stage name {n:?}"),
                ));
            }
        }
        let plat = format!("{}/{}", platform.os, platform.architecture);
        let mut meta: Args = [
            ("TARGETPLATFORM", &plat),
            ("TARGETOS", &platform.os),
            ("TARGETARCH", &platform.architecture),
            ("BUILDPLATFORM", &plat),
            ("BUILDOS", &platform.os),
            ("BUILDARCH", &platform.architecture),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), Some(v.to_string())))
        .collect();
        let mut used_args = HashSet::new();
        for line in &meta_lines {
            if let Command::Arg(kv) = line.command()? {
                for (k, default) in kv {
                    let value = match build_args.get(&k) {
                        Some(v) => Some(v.clone()),
                        None => {
                            let lookup = |n: &str| meta.get(n).cloned().flatten();
                            let ex = Expander::new(&lookup, df.escape);
                            default
                                .map(|d| ex.word(&d))
                                .transpose()
                                .map_err(|m| Error::plan(line.line, m))?
                        }
                    };
                    used_args.insert(k.clone());
                    meta.insert(k, value);
                }
            }
        }
        let target = match target {
            Some(t) => *names
                .get(&t.to_ascii_lowercase())
                .ok_or_else(|| Error::plan(0, format!("target stage {t:?} could not be found")))?,
            None => stages.len() - 1,
        };
        let mut plan = Plan {
            escape: df.escape,
            stages,
            meta,
            target,
            needed: Vec::new(),
            used_args,
            names,
        };
        plan.needed = plan.stages_needed()?;
        Ok(plan)
    }

    /// The value of a variable before the first FROM.
    pub fn meta_value(&self, name: &str) -> Option<String> {
        self.meta.get(name).cloned().flatten()
    }

    /// The earlier stage (before stage `before`) that `name`, a stage name or
    /// index, refers to; `None` when it names an image.
    pub fn stage_ref(&self, name: &str, before: usize) -> Option<usize> {
        if let Some(&i) = self.names.get(&name.to_ascii_lowercase()) {
            return (i < before).then_some(i);
        }
        name.parse::<usize>().ok().filter(|i| *i < before)
    }

    /// The stages the target depends on (FROM another stage, COPY --from).
    fn stages_needed(&self) -> Result<Vec<usize>, Error> {
        let mut needed = HashSet::new();
        let mut todo = vec![self.target];
        let lookup = |n: &str| self.meta_value(n);
        let ex = Expander::new(&lookup, self.escape);
        while let Some(i) = todo.pop() {
            if !needed.insert(i) {
                continue;
            }
            let s = &self.stages[i];
            let mut refs = Vec::new();
            if let Command::From { image, .. } = s.from.command()? {
                refs.push(ex.word(&image).unwrap_or(image));
            }
            for l in &s.lines {
                if l.keyword == "COPY"
                    && let Command::Copy { from: Some(f), .. } = l.command()?
                {
                    refs.push(ex.word(&f).unwrap_or(f));
                }
            }
            todo.extend(refs.iter().filter_map(|r| self.stage_ref(r, i)));
        }
        let mut needed: Vec<usize> = needed.into_iter().collect();
        needed.sort_unstable();
        Ok(needed)
    }

    /// How progress names a stage's steps: `name `, `stage-N ` or nothing
    /// for a single unnamed stage.
    pub fn label(&self, stage: &Stage) -> String {
        match (&stage.name, self.stages.len()) {
            (Some(n), _) => format!("{n} "),
            (None, 1) => String::new(),
            (None, _) => format!("stage-{} ", stage.index),
        }
    }
}

/// The `--build-arg`s nothing consumed (the proxy ones never count), for
/// docker's warning.
pub fn unused_build_args<'a>(
    build_args: &'a BTreeMap<String, String>,
    used: &HashSet<String>,
) -> Vec<&'a str> {
    build_args
        .keys()
        .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
        .map(String::as_str)
        .collect()
}

/// Whether an instruction adds a layer.
pub fn makes_layer(keyword: &str) -> bool {
    ["RUN", "COPY", "ADD"]
        .iter()
        .any(|k| k.eq_ignore_ascii_case(keyword))
}

/// A variable's value in a stage: ENV wins over ARG of the same name.
pub fn lookup(env: &[String], args: &Args, name: &str) -> Option<String> {
    env.iter()
        .find_map(|e| e.strip_prefix(name).and_then(|r| r.strip_prefix('=')))
        .map(str::to_string)
        .or_else(|| args.get(name).cloned().flatten())
}

/// An ARG's value: the `--build-arg`, else its default (expanded with what
/// is in scope), else the value the same name had before the first FROM.
pub fn arg_value(
    name: &str,
    default: Option<&str>,
    build_args: &BTreeMap<String, String>,
    scope: &dyn Fn(&str) -> Option<String>,
    plan: &Plan,
    line: usize,
) -> Result<Option<String>, Error> {
    if let Some(v) = build_args.get(name) {
        return Ok(Some(v.clone()));
    }
    match default {
        Some(d) => Expander::new(scope, plan.escape)
            .word(d)
            .map(Some)
            .map_err(|m| Error::plan(line, m)),
        None => Ok(plan.meta_value(name)),
    }
}

/// The cache key of a step: the previous step's key and the step's texts.
pub fn cache_key(prev: &Digest, parts: &[&str]) -> Digest {
    let mut h = Hasher::new();
    let _ = write!(h, "{prev}");
    for p in parts {
        let _ = write!(h, "\0{p}");
    }
    h.finish()
}

/// docker's history rendering of an argv: `["a" "b"]`.
pub fn argv_text(argv: &[String]) -> String {
    let quoted: Vec<String> = argv.iter().map(|a| format!("{a:?}")).collect();
    format!("[{}]", quoted.join(" "))
}

/// A metadata instruction as the history shows it (after `#(nop)`).
pub fn instruction_text(cmd: &Command, shell: &[String]) -> String {
    let pairs = |kv: &[(String, String)]| {
        kv.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    match cmd {
        Command::Cmd(f) => format!("CMD {}", argv_text(&f.argv(shell))),
        Command::Entrypoint(f) => format!("ENTRYPOINT {}", argv_text(&f.argv(shell))),
        Command::Env(kv) => format!("ENV {}", pairs(kv)),
        Command::Label(kv) => format!("LABEL {}", pairs(kv)),
        Command::Workdir(p) => format!("WORKDIR {p}"),
        Command::User(u) => format!("USER {u}"),
        Command::Expose(p) => format!("EXPOSE {}", p.join(" ")),
        Command::Volume(v) => format!("VOLUME {}", argv_text(v)),
        Command::Shell(s) => format!("SHELL {}", argv_text(s)),
        Command::StopSignal(s) => format!("STOPSIGNAL {s}"),
        Command::Healthcheck(h) => format!("HEALTHCHECK {}", argv_text(&h.test)),
        Command::Onbuild(t) => format!("ONBUILD {t}"),
        Command::Maintainer(m) => format!("MAINTAINER {m}"),
        other => format!("{other:?}"),
    }
}

/// What a RUN step executes, with what, and how it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStep {
    /// The process's argv.
    pub argv: Vec<String>,
    /// What the process's environment adds to the image's: the ARGs in scope
    /// (sorted) and the proxy build args.
    pub env: Vec<String>,
    /// The history's `created_by`: `RUN |N K=V… argv`.
    pub created_by: String,
    /// `--network`, `None` for the default.
    pub network: Option<String>,
    /// The step's cache key.
    pub key: Digest,
}

/// What a step sees of its stage.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The shell of shell forms (`SHELL`, else `/bin/sh -c`).
    pub shell: &'a [String],
    /// The stage's ARGs.
    pub args: &'a Args,
    /// The image's ENV.
    pub env: &'a [String],
}

/// Plans a RUN: `form` and its heredocs in `scope`; `network` is the
/// instruction's or the build's. `prev` is the previous step's cache key.
pub fn run_step(
    form: &Form,
    heredocs: &[Heredoc],
    scope: Scope<'_>,
    build_args: &BTreeMap<String, String>,
    network: Option<String>,
    prev: &Digest,
) -> RunStep {
    let Scope { shell, args, env } = scope;
    let argv = match (form, heredocs.is_empty()) {
        (Form::Shell(s), false) => {
            let only_marker = s.split_whitespace().count() == 1 && s.trim_start().starts_with("<<");
            let script = if only_marker && heredocs.len() == 1 {
                heredocs[0].body.clone()
            } else {
                let mut script = format!("{s}\n");
                for h in heredocs {
                    script.push_str(&h.body);
                    script.push_str(&h.name);
                    script.push('\n');
                }
                script
            };
            shell.iter().cloned().chain([script]).collect()
        }
        _ => form.argv(shell),
    };
    // ARG values reach the process (not the image); those in scope and set
    // are part of the step's identity.
    let in_env = |k: &str| env.iter().any(|x| x.split('=').next() == Some(k));
    let mut arg_env: Vec<String> = args
        .iter()
        .filter(|(k, _)| !in_env(k))
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
        .collect();
    arg_env.sort();
    let mut created_by = String::from("RUN ");
    if !arg_env.is_empty() {
        created_by.push_str(&format!("|{} {} ", arg_env.len(), arg_env.join(" ")));
    }
    created_by.push_str(&argv.join(" "));
    let network = network.filter(|n| n != "default");
    let key = cache_key(
        prev,
        &[
            &created_by,
            &argv_text(&argv),
            network.as_deref().unwrap_or(""),
        ],
    );
    let proxies = build_args
        .iter()
        .filter(|(k, _)| PROXY_ARGS.contains(&k.as_str()) && !args.contains_key(*k))
        .map(|(k, v)| format!("{k}={v}"));
    arg_env.extend(proxies);
    RunStep {
        argv,
        env: arg_env,
        created_by,
        network,
        key,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Platform {
        Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        }
    }

    fn plan(text: &str, args: &[(&str, &str)], target: Option<&str>) -> Result<Plan, Error> {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Plan::new(crate::parse(text).unwrap(), &args, target, &platform())
    }

    #[test]
    fn the_target_needs_only_the_stages_it_names() {
        let text = "FROM busybox AS base\nRUN a\n\
                    FROM busybox AS unused\nRUN b\n\
                    FROM base AS tools\nRUN c\n\
                    FROM scratch\nCOPY --from=tools /x /x\nCOPY --from=0 /y /y\n";
        let p = plan(text, &[], None).unwrap();
        assert_eq!(p.target, 3);
        assert_eq!(p.needed, vec![0, 2, 3]);
        let p = plan(text, &[], Some("UNUSED")).unwrap();
        assert_eq!(p.needed, vec![1]);
        // A name refers only to earlier stages; a later one is an image name.
        assert_eq!(p.stage_ref("tools", 3), Some(2));
        assert_eq!(p.stage_ref("tools", 1), None);
        assert_eq!(p.stage_ref("1", 3), Some(1));
        assert_eq!(p.label(&p.stages[3]), "stage-3 ");
        assert_eq!(p.label(&p.stages[0]), "base ");
    }

    #[test]
    fn what_cannot_be_planned_says_where() {
        let err = plan("RUN x\nFROM a\n", &[], None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Dockerfile:1: RUN before the first FROM: no build stage in current context"
        );
        let err = plan("ARG A\n", &[], None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the Dockerfile has no FROM: no build stage in current context"
        );
        let err = plan("FROM a AS x\nFROM b AS X\n", &[], None).unwrap_err();
        assert_eq!(err.to_string(), "Dockerfile:2: duplicate stage name \"x\"");
        let err = plan("FROM a\n", &[], Some("nope")).unwrap_err();
        assert_eq!(err.to_string(), "target stage \"nope\" could not be found");
    }

    #[test]
    fn args_before_from_resolve_in_order_and_build_args_win() {
        let text = "ARG V=1\nARG IMG=base:${V}\nARG PLAT=${TARGETPLATFORM}\nFROM ${IMG}\n";
        let p = plan(text, &[], None).unwrap();
        assert_eq!(p.meta_value("IMG").as_deref(), Some("base:1"));
        assert_eq!(p.meta_value("PLAT").as_deref(), Some("linux/amd64"));
        let p = plan(text, &[("V", "2"), ("UNUSED", "x")], None).unwrap();
        assert_eq!(p.meta_value("IMG").as_deref(), Some("base:2"));
        let build_args = [("V", "2"), ("UNUSED", "x"), ("HTTP_PROXY", "p")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(unused_build_args(&build_args, &p.used_args), vec!["UNUSED"]);
    }

    #[test]
    fn env_wins_over_arg_and_args_fall_back_to_the_meta_value() {
        let p = plan("ARG M=meta\nFROM a\n", &[], None).unwrap();
        let mut args = Args::new();
        args.insert("X".into(), Some("from-arg".into()));
        args.insert("Y".into(), Some("arg".into()));
        let env = vec!["X=from-env".to_string()];
        assert_eq!(lookup(&env, &args, "X").as_deref(), Some("from-env"));
        assert_eq!(lookup(&env, &args, "Y").as_deref(), Some("arg"));
        assert_eq!(lookup(&env, &args, "Z"), None);
        let scope = |n: &str| lookup(&env, &args, n);
        let none = BTreeMap::new();
        let v = arg_value("N", Some("${X}-${Y}"), &none, &scope, &p, 2).unwrap();
        assert_eq!(v.as_deref(), Some("from-env-arg"));
        assert_eq!(
            arg_value("M", None, &none, &scope, &p, 2)
                .unwrap()
                .as_deref(),
            Some("meta")
        );
        let given = [("N".to_string(), "given".to_string())].into();
        let v = arg_value("N", Some("${X}"), &given, &scope, &p, 2).unwrap();
        assert_eq!(v.as_deref(), Some("given"));
        let err = arg_value("N", Some("${X"), &none, &scope, &p, 7).unwrap_err();
        assert_eq!(err.line(), 7);
    }

    #[test]
    fn run_steps_record_args_and_key_on_what_runs() {
        let shell = vec!["/bin/sh".to_string(), "-c".to_string()];
        let mut args = Args::new();
        args.insert("B".into(), Some("2".into()));
        args.insert("A".into(), Some("1".into()));
        args.insert("UNSET".into(), None);
        args.insert("E".into(), Some("shadowed".into()));
        let env = vec!["E=env".to_string()];
        let proxies = [("HTTP_PROXY".to_string(), "http://p".to_string())].into();
        let prev = cache_key(&Hasher::new().finish(), &[CACHE_VERSION, "FROM"]);
        let form = Form::Shell("echo hi".into());
        let scope = Scope {
            shell: &shell,
            args: &args,
            env: &env,
        };
        let empty = Args::new();
        let bare = Scope {
            shell: &shell,
            args: &empty,
            env: &[],
        };
        let r = run_step(&form, &[], scope, &proxies, None, &prev);
        assert_eq!(r.argv, vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(r.created_by, "RUN |2 A=1 B=2 /bin/sh -c echo hi");
        assert_eq!(r.env, vec!["A=1", "B=2", "HTTP_PROXY=http://p"]);
        // The proxy is not part of the key; the network is.
        let none = BTreeMap::new();
        let same = run_step(&form, &[], scope, &none, Some("default".into()), &prev);
        assert_eq!((same.key.clone(), same.network), (r.key.clone(), None));
        let host = run_step(&form, &[], scope, &none, Some("host".into()), &prev);
        assert_ne!(host.key, r.key);
        // A heredoc alone is the script; with other words it follows them.
        let doc = Heredoc {
            name: "EOF".into(),
            body: "echo a\necho b\n".into(),
            expand: true,
        };
        let r = run_step(
            &Form::Shell("<<EOF".into()),
            std::slice::from_ref(&doc),
            bare,
            &none,
            None,
            &prev,
        );
        assert_eq!(r.argv[2], "echo a\necho b\n");
        let r = run_step(
            &Form::Shell("sh <<EOF".into()),
            &[doc],
            bare,
            &none,
            None,
            &prev,
        );
        assert_eq!(r.argv[2], "sh <<EOF\necho a\necho b\nEOF\n");
    }

    #[test]
    fn history_text_is_dockers() {
        let shell = vec!["/bin/sh".to_string(), "-c".to_string()];
        assert_eq!(argv_text(&["a".into(), "b c".into()]), r#"["a" "b c"]"#);
        let cmd = Command::Cmd(Form::Shell("run it".into()));
        assert_eq!(
            instruction_text(&cmd, &shell),
            r#"CMD ["/bin/sh" "-c" "run it"]"#
        );
        let env = Command::Env(vec![("A".into(), "1".into()), ("B".into(), "2".into())]);
        assert_eq!(instruction_text(&env, &shell), "ENV A=1 B=2");
        assert!(makes_layer("copy") && makes_layer("RUN") && !makes_layer("ENV"));
    }
}

//! Output as Docker prints it: aligned tables, `--format json`, and Go
//! templates in `--format` with docker's functions (`json`, `join`,
//! `split`, `lower`, `upper`, `title`, `pad`, `truncate`) and the `table`
//! prefix.

use anyhow::Result;
use serde_json::Value;

/// How a list command prints.
pub enum Format {
    /// The default table.
    Table,
    /// One JSON object per line.
    Json,
    /// A Go template; `table` prints a header row and aligns columns.
    Template {
        /// Whether it started with `table`.
        table: bool,
        /// The template, with `\t` and `\n` turned into tab and newline.
        text: String,
    },
}

impl Format {
    /// Parses a `--format` value.
    pub fn parse(arg: Option<&str>) -> Format {
        match arg.map(str::trim) {
            None | Some("") | Some("table") => Format::Table,
            Some("json") => Format::Json,
            Some(t) => {
                let (table, rest) = match t.strip_prefix("table") {
                    Some(rest) => (true, rest.trim_start()),
                    None => (false, t),
                };
                Format::Template {
                    table,
                    text: rest.replace("\\t", "\t").replace("\\n", "\n"),
                }
            }
        }
    }

    /// Prints rows: `header` names each field for table headers.
    pub fn print(&self, default: &str, header: &Value, rows: &[Value]) -> Result<()> {
        let out = match self {
            Format::Json => rows.iter().map(|r| format!("{}\n", r)).collect(),
            Format::Table => table(default, header, rows)?,
            Format::Template { table: true, text } => table(text, header, rows)?,
            Format::Template { table: false, text } => {
                let t = GoTemplate::parse(text)?;
                let mut s = String::new();
                for r in rows {
                    s.push_str(&t.render(r)?);
                    s.push('\n');
                }
                s
            }
        };
        print_out(&out);
        Ok(())
    }
}

/// Whether `-q` applies: docker lets a `--format` of one's own win over it.
pub fn quiet(quiet: bool, format: Option<&str>) -> bool {
    quiet && matches!(format.map(str::trim), None | Some("") | Some("table"))
}

/// Writes to stdout; a closed pipe (`| head`) ends quietly.
pub fn print_out(s: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if out
        .write_all(s.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

fn table(template: &str, header: &Value, rows: &[Value]) -> Result<String> {
    let t = GoTemplate::parse(template)?;
    let mut lines = vec![t.render(header)?];
    for r in rows {
        lines.push(t.render(r)?);
    }
    Ok(align(&lines))
}

/// Aligns tab-separated cells like Go's tabwriter with Docker's settings:
/// minimum width 10, padding 3, last cell unpadded.
pub fn align(lines: &[String]) -> String {
    align_min(lines, 10)
}

/// The same with columns at least `min` wide.
pub fn align_min(lines: &[String], min: usize) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max((c.chars().count() + 3).max(min));
            }
        }
    }
    let mut out = String::new();
    for row in &cells {
        let mut line = String::new();
        for (i, c) in row.iter().enumerate() {
            line.push_str(c);
            if i + 1 < row.len() {
                line.extend(std::iter::repeat_n(' ', widths[i] - c.chars().count()));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A `--format` template that does not parse (docker exits 64 for it).
#[derive(Debug, thiserror::Error)]
#[error("template parsing error: {0}")]
pub struct TemplateParseError(String);

/// A parsed `--format` template: Go's text/template (the `gotmpl` crate,
/// a port of Go's package: actions, variables, pipelines, comparisons,
/// `len`, `index`, `slice`, `printf`…) with docker's functions added.
pub struct GoTemplate(gotmpl::Template);

impl GoTemplate {
    /// Parses `text`; an error names the line and column.
    pub fn parse(text: &str) -> Result<GoTemplate> {
        // docker's list rows have a method `.Label "KEY"`; gotmpl calls no
        // methods on data, so it reads the key from a map given at render.
        let text = text.replace(".Label \"", "index .Label \"");
        let t = gotmpl::Template::new("")
            .funcs(docker_functions())
            .parse(&text)
            .map_err(|e| TemplateParseError(e.to_string()))?;
        Ok(GoTemplate(t))
    }

    /// Executes it on a JSON document. A missing key prints `<no value>`,
    /// as for docker's inspect documents.
    pub fn render(&self, data: &Value) -> Result<String> {
        // A row's `Labels` (`k=v,k2=v2`) as the map `.Label "k"` reads.
        let with_label;
        let data = match data.get("Labels").and_then(Value::as_str) {
            Some(labels) if data.get("Label").is_none() => {
                let map: serde_json::Map<String, Value> = labels
                    .split(',')
                    .filter(|l| !l.is_empty())
                    .map(|l| {
                        let (k, v) = l.split_once('=').unwrap_or((l, ""));
                        (k.to_string(), Value::from(v))
                    })
                    .collect();
                let mut d = data.clone();
                d["Label"] = Value::Object(map);
                with_label = d;
                &with_label
            }
            _ => data,
        };
        let data = gotmpl::to_value(data).map_err(|e| anyhow::anyhow!("template: {e}"))?;
        let out = self.0.execute_to_string(&data).map_err(|e| match e {
            // Go finds these when it parses; gotmpl when it runs. Go's words.
            gotmpl::TemplateError::UndefinedFunction(name) => {
                TemplateParseError(format!("function {name:?} not defined")).into()
            }
            e => anyhow::anyhow!("template: {e}"),
        })?;
        Ok(out)
    }
}

/// docker's own template functions (docker/cli `templates.basicFunctions`).
fn docker_functions() -> gotmpl::FuncMap {
    use gotmpl::Value as V;
    use std::sync::Arc;
    let mut m = gotmpl::FuncMap::new();
    let text = |args: &[V], i: usize| -> String {
        args.get(i)
            .map(|v| match v {
                V::Nil => String::new(),
                v => v.to_string(),
            })
            .unwrap_or_default()
    };
    let want = |name: &str, args: &[V], n: usize| -> gotmpl::Result<()> {
        if args.len() == n {
            Ok(())
        } else {
            Err(gotmpl::TemplateError::Exec(format!(
                "wrong number of args for {name}: want {n} got {}",
                args.len()
            )))
        }
    };
    m.insert(
        "json".into(),
        Arc::new(move |args: &[V]| {
            want("json", args, 1)?;
            let json = serde_json::to_string(&to_json(&args[0]))
                .map_err(|e| gotmpl::TemplateError::Exec(e.to_string()))?;
            Ok(V::String(json.into()))
        }),
    );
    m.insert(
        "join".into(),
        Arc::new(move |args: &[V]| {
            want("join", args, 2)?;
            let sep = text(args, 1);
            let items: Vec<String> = match &args[0] {
                V::List(items) => items.iter().map(|v| v.to_string()).collect(),
                V::Nil => Vec::new(),
                other => vec![other.to_string()],
            };
            Ok(V::String(items.join(&sep).into()))
        }),
    );
    m.insert(
        "split".into(),
        Arc::new(move |args: &[V]| {
            want("split", args, 2)?;
            let (s, sep) = (text(args, 0), text(args, 1));
            let parts: Vec<V> = if sep.is_empty() {
                s.chars().map(|c| V::String(c.to_string().into())).collect()
            } else {
                s.split(sep.as_str()).map(|p| V::String(p.into())).collect()
            };
            Ok(V::List(parts.into()))
        }),
    );
    for (name, f) in [
        ("lower", str::to_lowercase as fn(&str) -> String),
        ("upper", str::to_uppercase),
        ("title", title),
    ] {
        m.insert(
            name.into(),
            Arc::new(move |args: &[V]| {
                want(name, args, 1)?;
                Ok(V::String(f(&text(args, 0)).into()))
            }),
        );
    }
    m.insert(
        "pad".into(),
        Arc::new(move |args: &[V]| {
            want("pad", args, 3)?;
            let n = |i: usize| args[i].as_int().unwrap_or(0).max(0) as usize;
            let s = text(args, 0);
            let out = format!("{}{s}{}", " ".repeat(n(1)), " ".repeat(n(2)));
            Ok(V::String(out.into()))
        }),
    );
    m.insert(
        "truncate".into(),
        Arc::new(move |args: &[V]| {
            want("truncate", args, 2)?;
            let n = args[1].as_int().unwrap_or(0).max(0) as usize;
            let out: String = text(args, 0).chars().take(n).collect();
            Ok(V::String(out.into()))
        }),
    );
    m
}

/// Go's `strings.Title`: each word's first letter in upper case.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric() && c != '_' && c != '\'';
    }
    out
}

/// A template value back as JSON, for docker's `json` function.
fn to_json(v: &gotmpl::Value) -> Value {
    use gotmpl::Value as V;
    match v {
        V::Nil => Value::Null,
        V::Bool(b) => Value::Bool(*b),
        V::Int(n) => Value::from(*n),
        V::Uint(n) => Value::from(*n),
        V::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
        V::List(items) => Value::Array(items.iter().map(to_json).collect()),
        V::Map(m) => Value::Object(m.iter().map(|(k, v)| (k.to_string(), to_json(v))).collect()),
        other => Value::String(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(template: &str, data: &Value) -> Result<String> {
        GoTemplate::parse(template)?.render(data)
    }

    /// A container as `docker inspect` shows it, trimmed.
    fn container() -> Value {
        json!({
            "Id": "4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2",
            "Name": "/web",
            "Created": "2026-11-30T10:00:00.000000000Z",
            "Path": "httpd",
            "Args": ["-f", "-p", "8080"],
            "State": {"Status": "running", "Running": true, "Paused": false, "Pid": 4242,
                      "ExitCode": 0, "StartedAt": "2026-11-30T10:00:01Z",
                      "Health": {"Status": "healthy", "FailingStreak": 0}},
            "RestartCount": 0,
            "Image": "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "HostConfig": {"NetworkMode": "bridge", "Memory": 67108864, "Binds": ["/srv:/data:ro"],
                           "RestartPolicy": {"Name": "always", "MaximumRetryCount": 0},
                           "PortBindings": {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}},
            "Mounts": [{"Type": "bind", "Source": "/srv", "Destination": "/data", "RW": false},
                       {"Type": "volume", "Name": "logs", "Source": "/var/lib/berth/volumes/logs/_data",
                        "Destination": "/logs", "RW": true}],
            "Config": {"Hostname": "4fa6e0f0c678", "Env": ["PATH=/usr/bin:/bin", "MODE=prod"],
                       "Cmd": ["httpd", "-f"], "Entrypoint": null, "Image": "busybox",
                       "Labels": {"com.example.team": "web", "version": "1.2"},
                       "ExposedPorts": {"80/tcp": {}}},
            "NetworkSettings": {"IPAddress": "172.17.0.2", "Ports": {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]},
                                "Networks": {"bridge": {"IPAddress": "172.17.0.2", "Gateway": "172.17.0.1",
                                                        "MacAddress": "02:42:ac:11:00:02"}}},
            "RepoTags": ["busybox:latest", "busybox:1.36"],
            "RepoDigests": ["busybox@sha256:abc"],
            "RootFS": {"Type": "layers", "Layers": ["sha256:aaa", "sha256:bbb", "sha256:ccc"]},
            "Size": 4261550,
            "Empty": [],
            "Nothing": null,
        })
    }

    /// Templates from docker's documentation ("Format command and log
    /// output", inspect, ps, images) and from scripts people write, with
    /// what docker prints for them.
    #[test]
    fn templates_print_what_docker_prints() {
        let c = container();
        let corpus: &[(&str, &str)] = &[
            (
                "{{.Id}}",
                "4fa6e0f0c6786287e131c3852c58a2e01cc697a68231826813597e4994f1d6e2",
            ),
            ("{{.Name}}", "/web"),
            ("{{.State.Status}}", "running"),
            ("{{.State.Running}}", "true"),
            ("{{.State.Pid}}", "4242"),
            ("{{.State.Health.Status}}", "healthy"),
            ("{{.HostConfig.Memory}}", "67108864"),
            ("{{.Config.Image}}", "busybox"),
            ("{{.Nope}}", "<no value>"),
            ("{{.Config.Nope}}", "<no value>"),
            ("{{json .Config.Cmd}}", r#"["httpd","-f"]"#),
            (
                "{{json .Config.Labels}}",
                r#"{"com.example.team":"web","version":"1.2"}"#,
            ),
            ("{{json .Nothing}}", "null"),
            ("{{json .Empty}}", "[]"),
            ("{{json .State.Running}}", "true"),
            ("{{json .Name}}", r#""/web""#),
            ("{{.Args}}", "[-f -p 8080]"),
            ("{{.Config.Cmd}}", "[httpd -f]"),
            ("{{len .RootFS.Layers}}", "3"),
            ("{{len .RepoTags}}", "2"),
            ("{{len .Name}}", "4"),
            ("{{len .Config.Labels}}", "2"),
            ("{{index .RepoTags 0}}", "busybox:latest"),
            ("{{index .Config.Labels \"version\"}}", "1.2"),
            ("{{index .Config.Labels \"com.example.team\"}}", "web"),
            (
                "{{(index .NetworkSettings.Ports \"80/tcp\" 0).HostPort}}",
                "8080",
            ),
            (
                "{{(index (index .NetworkSettings.Ports \"80/tcp\") 0).HostPort}}",
                "8080",
            ),
            (
                "{{range .RepoDigests}}{{println .}}{{end}}",
                "busybox@sha256:abc\n",
            ),
            (
                "{{range .RepoTags}}{{.}} {{end}}",
                "busybox:latest busybox:1.36 ",
            ),
            (
                "{{range $i, $t := .RepoTags}}{{$i}}={{$t}};{{end}}",
                "0=busybox:latest;1=busybox:1.36;",
            ),
            (
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                "172.17.0.2",
            ),
            (
                "{{range $name, $net := .NetworkSettings.Networks}}{{$name}} {{$net.Gateway}}{{end}}",
                "bridge 172.17.0.1",
            ),
            (
                "{{range $p, $conf := .NetworkSettings.Ports}}{{$p}} -> {{(index $conf 0).HostPort}}{{end}}",
                "80/tcp -> 8080",
            ),
            (
                "{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}",
                "/srv:/data /var/lib/berth/volumes/logs/_data:/logs ",
            ),
            (
                "{{range .Mounts}}{{if eq .Type \"volume\"}}{{.Name}}{{end}}{{end}}",
                "logs",
            ),
            (
                "{{range .Config.Env}}{{println .}}{{end}}",
                "PATH=/usr/bin:/bin\nMODE=prod\n",
            ),
            ("{{range .Empty}}x{{else}}none{{end}}", "none"),
            (
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}",
                "com.example.team=web,version=1.2,",
            ),
            ("{{if .State.Running}}up{{else}}down{{end}}", "up"),
            (
                "{{if .State.Paused}}paused{{else if .State.Running}}running{{end}}",
                "running",
            ),
            ("{{if not .State.Paused}}ok{{end}}", "ok"),
            (
                "{{if and .State.Running (eq .State.ExitCode 0)}}healthy run{{end}}",
                "healthy run",
            ),
            (
                "{{if or .State.Paused .State.Running}}alive{{end}}",
                "alive",
            ),
            (
                "{{if eq .State.Status \"running\" \"paused\"}}live{{end}}",
                "live",
            ),
            (
                "{{if ne .HostConfig.NetworkMode \"host\"}}own net{{end}}",
                "own net",
            ),
            ("{{if gt .HostConfig.Memory 0}}limited{{end}}", "limited"),
            (
                "{{if lt .RestartCount 3}}few restarts{{end}}",
                "few restarts",
            ),
            ("{{if ge (len .RootFS.Layers) 3}}three+{{end}}", "three+"),
            ("{{if le (len .RepoTags) 1}}one{{else}}many{{end}}", "many"),
            ("{{if .Nothing}}set{{else}}unset{{end}}", "unset"),
            ("{{with .State.Health}}{{.Status}}{{end}}", "healthy"),
            ("{{with .Nothing}}x{{else}}no health{{end}}", "no health"),
            ("{{with $s := .State}}{{$s.Pid}}{{end}}", "4242"),
            ("{{$name := .Name}}{{$name}}", "/web"),
            ("{{$n := len .RepoTags}}{{$n}} tags", "2 tags"),
            ("{{.Name | printf \"%q\"}}", "\"/web\""),
            (
                "{{printf \"%s:%d\" .Config.Image .State.Pid}}",
                "busybox:4242",
            ),
            ("{{printf \"%.2f\" 1.5}}", "1.50"),
            ("{{printf \"%5s|\" \"ab\"}}", "   ab|"),
            ("{{printf \"%-5s|\" \"ab\"}}", "ab   |"),
            ("{{print .State.Pid \" \" .State.Status}}", "4242 running"),
            ("{{println .Name}}", "/web\n"),
            ("{{slice .Id 0 12}}", "4fa6e0f0c678"),
            ("{{slice .RepoTags 1}}", "[busybox:1.36]"),
            ("{{join .Args \" \"}}", "-f -p 8080"),
            ("{{join .RepoTags \", \"}}", "busybox:latest, busybox:1.36"),
            ("{{split .Config.Image \"b\"}}", "[ usy ox]"),
            ("{{index (split \"a:b:c\" \":\") 1}}", "b"),
            ("{{lower \"ABC\"}}", "abc"),
            ("{{upper .State.Status}}", "RUNNING"),
            ("{{title .State.Status}}", "Running"),
            ("{{title \"hello wide world\"}}", "Hello Wide World"),
            ("{{truncate .Id 12}}", "4fa6e0f0c678"),
            ("{{truncate \"ab\" 5}}", "ab"),
            ("{{pad .Config.Image 2 3}}", "  busybox   "),
            ("{{.Name | upper}}", "/WEB"),
            ("{{.Config.Labels.version}}", "1.2"),
            ("{{.HostConfig.RestartPolicy.Name}}", "always"),
            (
                "{{define \"ip\"}}{{.IPAddress}}{{end}}{{template \"ip\" .NetworkSettings}}",
                "172.17.0.2",
            ),
            ("{{- .Name -}}  ", "/web"),
            ("a {{- \" b\" -}} c", "a bc"),
            ("{{/* a comment */}}{{.Name}}", "/web"),
            ("{{.Name}}\t{{.State.Status}}", "/web\trunning"),
            (
                "{{range .Mounts}}{{if .RW}}rw{{else}}ro{{end}} {{end}}",
                "ro rw ",
            ),
            ("{{len .NetworkSettings.Networks}}", "1"),
            (
                "{{index .RootFS.Layers (len (slice .RootFS.Layers 1))}}",
                "sha256:ccc",
            ),
            ("{{not true}}", "false"),
            ("{{and 1 0}}", "0"),
            ("{{or 0 \"x\"}}", "x"),
            ("{{eq 1 1}}", "true"),
            ("{{html \"<a>\"}}", "&lt;a&gt;"),
        ];
        for (t, want) in corpus {
            let got = render(t, &c).unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(&got, want, "{t}");
        }
        assert!(corpus.len() >= 60, "{}", corpus.len());
    }

    #[test]
    fn label_reads_a_rows_labels_as_docker_s_method_does() {
        let row = json!({"Names": "web", "Labels": "team=web,tier=1"});
        assert_eq!(
            render("{{.Names}} {{.Label \"tier\"}}", &row).unwrap(),
            "web 1"
        );
        assert_eq!(
            render("{{if eq (.Label \"team\") \"web\"}}ours{{end}}", &row).unwrap(),
            "ours"
        );
    }

    #[test]
    fn template_errors_are_one_line_with_the_place() {
        let c = container();
        for (t, said) in [
            ("{{.Id", "unclosed action"),
            ("{{frob .Id}}", "function \"frob\" not defined"),
            ("{{if}}", "1:7: empty command"),
            ("{{index .RepoTags 9}}", "out of range"),
            ("{{join .Args}}", "wrong number of args for join"),
        ] {
            let e = render(t, &c).expect_err(t).to_string();
            assert!(e.contains(said), "{t}: {e}");
            assert!(!e.contains('\n'), "{t}: one line: {e}");
        }
    }

    #[test]
    fn aligns_like_docker() {
        let out = align(&[
            "REPOSITORY\tTAG\tIMAGE ID".into(),
            "busybox\tlatest\t0123456789ab".into(),
        ]);
        assert_eq!(
            out,
            "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    0123456789ab\n"
        );
    }
}

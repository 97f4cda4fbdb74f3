//! Output as Docker prints it: aligned tables, `--format json`, and the subset of
//! Go templates that users put in `--format` (`{{.Field}}`, `{{.A.B}}`,
//! `{{json .X}}`, `{{index .X "key"}}`, `{{join .X ","}}`, `{{upper .X}}`,
//! `{{lower .X}}`, and the `table` prefix).

use anyhow::{Result, bail};
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
                let mut s = String::new();
                for r in rows {
                    s.push_str(&render(text, r)?);
                    s.push('\n');
                }
                s
            }
        };
        print_out(&out);
        Ok(())
    }
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
    let mut lines = vec![render(template, header)?];
    for r in rows {
        lines.push(render(template, r)?);
    }
    Ok(align(&lines))
}

/// Aligns tab-separated cells like Go's tabwriter with Docker's settings:
/// minimum width 10, padding 3, last cell unpadded.
pub fn align(lines: &[String]) -> String {
    let cells: Vec<Vec<&str>> = lines.iter().map(|l| l.split('\t').collect()).collect();
    let cols = cells.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; cols];
    for row in &cells {
        for (i, c) in row.iter().enumerate() {
            if i + 1 < row.len() {
                widths[i] = widths[i].max((c.chars().count() + 3).max(10));
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

/// Renders a Go template against a JSON value.
pub fn render(template: &str, data: &Value) -> Result<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            bail!("template: unclosed action in {template:?}");
        };
        let action = after[..end]
            .trim()
            .trim_start_matches('-')
            .trim_end_matches('-')
            .trim();
        out.push_str(&text(&eval(action, data)?));
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn words(action: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut w = String::from("\"");
            loop {
                match chars.next() {
                    Some('"') => break,
                    Some('\\') => w.extend(chars.next()),
                    Some(x) => w.push(x),
                    None => bail!("template: unterminated string in {{{{{action}}}}}"),
                }
            }
            words.push(w);
        } else {
            let mut w = String::new();
            while let Some(&x) = chars.peek() {
                if x.is_whitespace() {
                    break;
                }
                w.push(x);
                chars.next();
            }
            words.push(w);
        }
    }
    Ok(words)
}

fn arg(word: &str, data: &Value) -> Result<Value> {
    if let Some(s) = word.strip_prefix('"') {
        return Ok(Value::String(s.to_string()));
    }
    if let Ok(n) = word.parse::<i64>() {
        return Ok(Value::from(n));
    }
    if word == "." {
        return Ok(data.clone());
    }
    let Some(path) = word.strip_prefix('.') else {
        bail!("template: unknown word {word:?}");
    };
    let mut v = data;
    for key in path.split('.') {
        v = match v.get(key) {
            Some(x) => x,
            None => return Ok(Value::Null),
        };
    }
    Ok(v.clone())
}

fn eval(action: &str, data: &Value) -> Result<Value> {
    let w = words(action)?;
    let Some(first) = w.first() else {
        bail!("template: empty action")
    };
    let args = |n: usize| -> Result<Vec<Value>> {
        if w.len() != n + 1 {
            bail!("template: {first} takes {n} argument(s)");
        }
        w[1..].iter().map(|x| arg(x, data)).collect()
    };
    Ok(match first.as_str() {
        "json" => Value::String(serde_json::to_string(&args(1)?[0])?),
        "upper" => Value::String(text(&args(1)?[0]).to_uppercase()),
        "lower" => Value::String(text(&args(1)?[0]).to_lowercase()),
        "join" => {
            let a = args(2)?;
            let sep = text(&a[1]);
            match &a[0] {
                Value::Array(items) => {
                    Value::String(items.iter().map(text).collect::<Vec<_>>().join(&sep))
                }
                other => Value::String(text(other)),
            }
        }
        "index" => {
            let a = args(2)?;
            match (&a[0], &a[1]) {
                (Value::Object(m), Value::String(k)) => m.get(k).cloned().unwrap_or(Value::Null),
                (Value::Array(v), Value::Number(n)) => {
                    let i = n.as_u64().unwrap_or(u64::MAX) as usize;
                    v.get(i)
                        .cloned()
                        .ok_or_else(|| anyhow::anyhow!("template: index {i} out of range"))?
                }
                _ => Value::Null,
            }
        }
        _ if w.len() == 1 => arg(first, data)?,
        _ => bail!("template: function {first:?} not defined"),
    })
}

/// A value as Go's template prints it.
fn text(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(items) => {
            format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(" "))
        }
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates() {
        let v = json!({"Id": "sha256:x", "RepoTags": ["a:1", "b:2"], "Config": {"Labels": {"k": "v"}, "Cmd": null}});
        assert_eq!(render("{{.Id}}", &v).unwrap(), "sha256:x");
        assert_eq!(
            render("{{json .RepoTags}}", &v).unwrap(),
            r#"["a:1","b:2"]"#
        );
        assert_eq!(render(r#"{{index .Config.Labels "k"}}"#, &v).unwrap(), "v");
        assert_eq!(
            render(r#"{{join .RepoTags ", "}}"#, &v).unwrap(),
            "a:1, b:2"
        );
        assert_eq!(
            render("{{.RepoTags}} {{.Nope}}", &v).unwrap(),
            "[a:1 b:2] <no value>"
        );
        assert!(render("{{.Id", &v).is_err());
        assert!(render("{{frob .Id}}", &v).is_err());
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

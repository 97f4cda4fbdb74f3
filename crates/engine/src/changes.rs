//! Dockerfile instructions given as `--change` to import (and later commit):
//! CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL.

use berth_oci::image::RunConfig;
use serde_json::Value;

use crate::{Error, Result};

/// Applies each `--change` instruction to `config`, in order.
pub fn apply_changes(config: &mut RunConfig, changes: &[String]) -> Result<()> {
    for change in changes {
        apply_one(config, change)?;
    }
    Ok(())
}

fn apply_one(config: &mut RunConfig, change: &str) -> Result<()> {
    let bad = |reason: &str| Error::InvalidChange {
        change: change.to_string(),
        reason: reason.to_string(),
    };
    let trimmed = change.trim();
    let (instr, rest) = trimmed
        .split_once(char::is_whitespace)
        .unwrap_or((trimmed, ""));
    let rest = rest.trim();
    if rest.is_empty() {
        return Err(bad("missing arguments"));
    }
    match instr.to_ascii_uppercase().as_str() {
        "CMD" => config.cmd = Some(command(rest).map_err(&bad)?),
        "ENTRYPOINT" => config.entrypoint = Some(command(rest).map_err(&bad)?),
        "ENV" => {
            let pairs = key_values(rest, true).map_err(&bad)?;
            let env = config.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs {
                env.retain(|e| e.split_once('=').map(|(ek, _)| ek) != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let pairs = key_values(rest, false).map_err(&bad)?;
            config
                .labels
                .get_or_insert_with(Default::default)
                .extend(pairs);
        }
        "EXPOSE" => {
            let ports = config.exposed_ports.get_or_insert_with(Default::default);
            for p in rest.split_whitespace() {
                let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                let valid_num = num.split('-').all(|n| n.parse::<u16>().is_ok());
                if !valid_num || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad("invalid port"));
                }
                ports.insert(format!("{num}/{proto}"), Value::Object(Default::default()));
            }
        }
        "VOLUME" => {
            let vols = if rest.starts_with('[') {
                json_array(rest).map_err(&bad)?
            } else {
                rest.split_whitespace().map(str::to_string).collect()
            };
            let map = config.volumes.get_or_insert_with(Default::default);
            for v in vols {
                map.insert(v, Value::Object(Default::default()));
            }
        }
        "USER" => config.user = Some(rest.to_string()),
        "WORKDIR" => {
            let base = config.working_dir.clone().unwrap_or_else(|| "/".into());
            config.working_dir = Some(if rest.starts_with('/') {
                rest.to_string()
            } else {
                format!("{}/{rest}", base.trim_end_matches('/'))
            });
        }
        "STOPSIGNAL" => config.stop_signal = Some(rest.to_string()),
        "ONBUILD" => config
            .on_build
            .get_or_insert_with(Vec::new)
            .push(rest.to_string()),
        _ => {
            return Err(bad(&format!(
                "{instr} is not allowed; use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR or STOPSIGNAL"
            )));
        }
    }
    Ok(())
}

/// JSON (exec) form, else shell form run by `/bin/sh -c`.
fn command(rest: &str) -> Result<Vec<String>, &'static str> {
    if rest.starts_with('[')
        && let Ok(v) = json_array(rest)
    {
        return Ok(v);
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

fn json_array(s: &str) -> Result<Vec<String>, &'static str> {
    serde_json::from_str::<Vec<String>>(s).map_err(|_| "expected a JSON array of strings")
}

/// `K=V K2="v 2"`; with `legacy`, also ENV's old `K V` form.
fn key_values(rest: &str, legacy: bool) -> Result<Vec<(String, String)>, &'static str> {
    let words = split_words(rest)?;
    if legacy && !words[0].contains('=') {
        let (k, v) = rest
            .split_once(char::is_whitespace)
            .ok_or("expected KEY VALUE")?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| {
            let (k, v) = w.split_once('=').ok_or("expected KEY=VALUE")?;
            if k.is_empty() {
                return Err("empty key");
            }
            Ok((k.to_string(), v.to_string()))
        })
        .collect()
}

/// Splits on blanks outside quotes, removing quotes and backslash escapes.
fn split_words(s: &str) -> Result<Vec<String>, &'static str> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match (c, quote) {
            ('\\', q) if q != Some('\'') => {
                cur.push(chars.next().ok_or("trailing backslash")?);
                in_word = true;
            }
            ('"' | '\'', None) => {
                quote = Some(c);
                in_word = true;
            }
            (c, Some(q)) if c == q => quote = None,
            (c, None) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (c, _) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote");
    }
    if in_word {
        words.push(cur);
    }
    if words.is_empty() {
        return Err("missing arguments");
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn applied(changes: &[&str]) -> Result<RunConfig> {
        let mut c = RunConfig::default();
        apply_changes(
            &mut c,
            &changes.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn docker_forms() {
        let c = applied(&[
            r#"CMD ["sh"]"#,
            "ENTRYPOINT echo hi",
            r#"ENV A=1 B="two words""#,
            "ENV LEGACY some value",
            "ENV A=3",
            r#"LABEL org.x=y "k 2"=v"#,
            "EXPOSE 80 53/udp",
            "VOLUME /data /logs",
            "WORKDIR /app",
            "WORKDIR sub",
            "USER 1000:1000",
            "STOPSIGNAL SIGTERM",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(
            c.env.unwrap(),
            vec!["B=two words", "LEGACY=some value", "A=3"]
        );
        assert_eq!(c.labels.unwrap()["k 2"], "v");
        assert!(c.exposed_ports.unwrap().contains_key("53/udp"));
        assert!(c.volumes.unwrap().contains_key("/logs"));
        assert_eq!(c.working_dir.unwrap(), "/app/sub");
        assert_eq!(c.user.unwrap(), "1000:1000");
    }

    #[test]
    fn refuses_bad_changes() {
        for bad in [
            "RUN echo",
            "CMD",
            "EXPOSE 99999",
            "LABEL novalue",
            r#"ENV A="x"#,
        ] {
            let e = applied(&[bad]).unwrap_err();
            assert_eq!(e.kind(), berth_oci::Kind::InvalidArgument, "{bad}");
        }
    }
}

//! Dockerfile instructions given as `--change` to import (and later commit):
//! CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR, STOPSIGNAL.

use berth_build::dockerfile::parse_line;
use berth_build::instruction::shell_of;
use berth_build::{Expander, apply_metadata};
use berth_oci::image::RunConfig;

use crate::{Error, Result};

/// Instructions `--change` accepts, as docker's.
const ALLOWED: &[&str] = &[
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "ONBUILD",
    "USER",
    "VOLUME",
    "WORKDIR",
    "STOPSIGNAL",
];

/// Applies each `--change` instruction to `config`, in order, as a build step
/// would (the Dockerfile parser's, variables substituted from the config's ENV).
pub fn apply_changes(config: &mut RunConfig, changes: &[String]) -> Result<()> {
    let mut cmd_set = false;
    for change in changes {
        let bad = |reason: String| Error::InvalidChange {
            change: change.to_string(),
            reason,
        };
        let line = parse_line(change, 0).map_err(|e| bad(e.message().to_string()))?;
        if !ALLOWED.contains(&line.keyword.as_str()) {
            return Err(bad(format!(
                "{} is not allowed; use CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR or STOPSIGNAL",
                line.keyword
            )));
        }
        let command = line.command().map_err(|e| bad(e.message().to_string()))?;
        let env = config.env.clone().unwrap_or_default();
        let lookup = |k: &str| {
            env.iter()
                .find_map(|e| e.strip_prefix(k).and_then(|r| r.strip_prefix('=')))
                .map(str::to_string)
        };
        let command = command
            .expand(&Expander::new(&lookup, '\\'), 0)
            .map_err(|e| bad(e.message().to_string()))?;
        let shell = shell_of(config);
        apply_metadata(config, &command, &shell, &mut cmd_set, 0)
            .map_err(|e| bad(e.message().to_string()))?;
    }
    Ok(())
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
            vec!["A=3", "B=two words", "LEGACY=some value"]
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

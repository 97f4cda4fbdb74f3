//! A Dockerfile's text into instruction lines, as BuildKit's parser reads it:
//! parser directives (`# syntax=`, `# escape=`) at the very top; comments and
//! blank lines skipped; the escape character (`\`, or `` ` `` with
//! `# escape=`) at the end of a line continues it, and comment or blank lines
//! inside a continuation are skipped; `--flag=value` words after the keyword;
//! heredocs (`<<EOF`, `<<-EOF`, `<<"EOF"`) for RUN, COPY and ADD.

use crate::Error;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character.
    pub escape: char,
    /// The `# syntax=` directive, if any (berth has one frontend and notes it only).
    pub syntax: Option<String>,
    /// The instructions, in order.
    pub lines: Vec<Line>,
}

/// One instruction as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// The instruction's first line in the file, 1-based.
    pub line: usize,
    /// The keyword, upper case.
    pub keyword: String,
    /// `--name=value` flags before the arguments, quotes removed, without `--`.
    pub flags: Vec<String>,
    /// The arguments after the flags, continuation lines joined.
    pub args: String,
    /// Heredoc bodies, in the order their markers appear.
    pub heredocs: Vec<Heredoc>,
    /// The escape character in force.
    pub escape: char,
}

/// A heredoc: `<<NAME` in the instruction, the lines up to `NAME` after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The terminator (also a COPY source's file name).
    pub name: String,
    /// The body, each line ending in a newline.
    pub body: String,
    /// Variables are substituted in the body (the marker was not quoted).
    pub expand: bool,
}

/// Instructions that may carry heredocs.
const HEREDOC_KEYWORDS: &[&str] = &["RUN", "COPY", "ADD"];

/// Every instruction docker knows.
pub const KEYWORDS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// `# key=value` at the top of the file.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start();
    let (key, value) = rest.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    Some((key.to_ascii_lowercase(), value.to_string()))
}

/// Removes a trailing escape character (and blanks after it). Returns the text
/// and whether the instruction goes on.
fn continuation(line: &str, escape: char) -> (&str, bool) {
    let trimmed = line.trim_end_matches([' ', '\t']);
    match trimmed.strip_suffix(escape) {
        Some(rest) => (rest, true),
        None => (line, false),
    }
}

/// Parses a Dockerfile.
pub fn parse(text: &str) -> Result<Dockerfile, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut escape = '\\';
    let mut syntax = None;
    let mut seen_escape = false;
    let mut i = 0;
    // Directives: only before anything else, a comment that is not one ends them.
    while i < raw.len() {
        let Some((key, value)) = directive(raw[i]) else {
            break;
        };
        match key.as_str() {
            "escape" => {
                if seen_escape {
                    return Err(Error::at(
                        i + 1,
                        "only one escape parser directive can be used",
                    ));
                }
                seen_escape = true;
                escape = match value.as_str() {
                    "\\" => '\\',
                    "`" => '`',
                    _ => {
                        return Err(Error::at(
                            i + 1,
                            format!("invalid escape token '{value}' does not match ` or \\"),
                        ));
                    }
                };
            }
            "syntax" => syntax = Some(value),
            "check" => {}
            _ => break,
        }
        i += 1;
    }

    let mut lines = Vec::new();
    while i < raw.len() {
        let first = raw[i].trim_start();
        i += 1;
        if first.is_empty() || is_comment(first) {
            continue;
        }
        let start = i;
        let (text, mut more) = continuation(first, escape);
        let mut joined = text.to_string();
        while more && i < raw.len() {
            let next = raw[i];
            i += 1;
            if is_comment(next) || next.trim().is_empty() {
                continue;
            }
            let (text, again) = continuation(next, escape);
            joined.push_str(text);
            more = again;
        }
        let mut line = split(&joined, start, escape)?;
        if HEREDOC_KEYWORDS.contains(&line.keyword.as_str()) {
            for (name, expand, chomp) in heredoc_markers(&line.args) {
                let mut body = String::new();
                loop {
                    let Some(l) = raw.get(i) else {
                        return Err(Error::at(
                            start,
                            format!("unterminated heredoc {name}: no line {name:?} after it"),
                        ));
                    };
                    i += 1;
                    let l = if chomp { l.trim_start_matches('\t') } else { l };
                    if l == name {
                        break;
                    }
                    body.push_str(l);
                    body.push('\n');
                }
                line.heredocs.push(Heredoc { name, body, expand });
            }
        }
        lines.push(line);
    }
    Ok(Dockerfile {
        escape,
        syntax,
        lines,
    })
}

/// Parses one instruction given alone (ONBUILD triggers, `commit --change`).
pub fn parse_line(text: &str, line: usize) -> Result<Line, Error> {
    let (text, _) = continuation(text.trim(), '\\');
    split(text, line, '\\')
}

/// Splits an instruction into keyword, flags and arguments.
fn split(text: &str, line: usize, escape: char) -> Result<Line, Error> {
    let text = text.trim();
    let (keyword, rest) = match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    };
    let keyword = keyword.to_ascii_uppercase();
    if !KEYWORDS.contains(&keyword.as_str()) {
        return Err(Error::at(
            line,
            format!(
                "unknown instruction: {}",
                text.split_whitespace().next().unwrap_or(text)
            ),
        ));
    }
    let (flags, args) = if keyword == "ONBUILD" {
        (Vec::new(), rest.to_string())
    } else {
        extract_flags(rest)
    };
    Ok(Line {
        line,
        keyword,
        flags,
        args: args.trim().to_string(),
        heredocs: Vec::new(),
        escape,
    })
}

/// The `--name[=value]` words at the start of `rest`; `--` alone ends them.
fn extract_flags(rest: &str) -> (Vec<String>, String) {
    let chars: Vec<(usize, char)> = rest.char_indices().collect();
    let mut flags = Vec::new();
    let mut pos = 0;
    loop {
        while pos < chars.len() && chars[pos].1.is_whitespace() {
            pos += 1;
        }
        let starts_flag = pos + 1 < chars.len() && chars[pos].1 == '-' && chars[pos + 1].1 == '-';
        if !starts_flag {
            let at = chars.get(pos).map(|c| c.0).unwrap_or(rest.len());
            return (flags, rest[at..].to_string());
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        while pos < chars.len() {
            let c = chars[pos].1;
            match quote {
                None if c.is_whitespace() => break,
                None if c == '"' || c == '\'' => quote = Some(c),
                Some(q) if c == q => quote = None,
                _ if c == '\\' && quote != Some('\'') && pos + 1 < chars.len() => {
                    pos += 1;
                    word.push(chars[pos].1);
                }
                _ => word.push(c),
            }
            pos += 1;
        }
        if word == "--" {
            let at = chars.get(pos).map(|c| c.0).unwrap_or(rest.len());
            return (flags, rest[at..].trim_start().to_string());
        }
        flags.push(word[2..].to_string());
    }
}

/// The heredoc markers in an instruction's arguments: (name, expand, chomp).
fn heredoc_markers(args: &str) -> Vec<(String, bool, bool)> {
    if args.trim_start().starts_with('[') {
        return Vec::new();
    }
    let mut out = Vec::new();
    for word in args.split_whitespace() {
        let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
        let Some(rest) = rest.strip_prefix("<<") else {
            continue;
        };
        if rest.starts_with('<') {
            continue;
        }
        let (chomp, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let (name, expand) = match (rest.chars().next(), rest.chars().last()) {
            (Some(q @ ('"' | '\'')), Some(e)) if q == e && rest.len() >= 2 => {
                (rest[1..rest.len() - 1].to_string(), false)
            }
            _ => (rest.to_string(), true),
        };
        // A redirection target glued to the marker (`<<EOF>file`) is the shell's.
        let name: String = name
            .chars()
            .take_while(|c| !matches!(c, '>' | '|' | ';' | '&' | ')'))
            .collect();
        if !name.is_empty() {
            out.push((name, expand, chomp));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_continuations_comments() {
        let df = parse(
            "# syntax=docker/dockerfile:1\n\nFROM busybox AS base\n# a comment\nRUN echo a \\\n  # inside\n\n    b\nrun echo c\r\nCOPY --from=base --chown=\"1:2\" a b /c/\n",
        )
        .unwrap();
        assert_eq!(df.syntax.as_deref(), Some("docker/dockerfile:1"));
        let l = &df.lines;
        assert_eq!(l.len(), 4);
        assert_eq!(
            (l[0].line, l[0].keyword.as_str(), l[0].args.as_str()),
            (3, "FROM", "busybox AS base")
        );
        assert_eq!((l[1].line, l[1].args.as_str()), (5, "echo a     b"));
        assert_eq!((l[2].line, l[2].keyword.as_str()), (9, "RUN"));
        assert_eq!(l[3].flags, vec!["from=base", "chown=1:2"]);
        assert_eq!(l[3].args, "a b /c/");
    }

    #[test]
    fn escape_directive() {
        let df = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo hi\n").unwrap();
        assert_eq!(df.escape, '`');
        assert_eq!(df.lines[1].args, "dir c:\\   && echo hi");
        // A directive after an instruction is a comment.
        let df = parse("FROM x\n# escape=`\nRUN a \\\n b\n").unwrap();
        assert_eq!(df.escape, '\\');
        assert_eq!(df.lines[1].args, "a  b");
        assert!(parse("# escape=x\nFROM a").is_err());
        assert!(parse("# escape=`\n# escape=\\\nFROM a").is_err());
    }

    #[test]
    fn heredocs() {
        let df = parse(
            "FROM x\nRUN <<EOF\necho $A\n  two\nEOF\nCOPY <<-'one' <<two /dst/\n\tbody1\n\tone\nbody2\ntwo\nRUN cat <<EOF>/f\nx\nEOF\n",
        )
        .unwrap();
        let l = &df.lines;
        assert_eq!(l.len(), 4);
        assert_eq!(l[1].heredocs[0].body, "echo $A\n  two\n");
        assert!(l[1].heredocs[0].expand);
        assert_eq!(l[2].heredocs.len(), 2);
        assert_eq!(l[2].heredocs[0].name, "one");
        assert_eq!(l[2].heredocs[0].body, "body1\n", "<<- strips leading tabs");
        assert!(!l[2].heredocs[0].expand);
        assert_eq!(l[2].heredocs[1].body, "body2\n");
        assert_eq!(l[3].heredocs[0].name, "EOF");
        assert!(parse("FROM x\nRUN <<EOF\nno end\n").is_err());
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("FROM x\n\nFOO bar\n").unwrap_err();
        assert_eq!(e.line(), 3);
        assert!(e.to_string().contains("unknown instruction: FOO"), "{e}");
    }

    #[test]
    fn flags_end_at_double_dash_and_first_word() {
        let (f, rest) = extract_flags("--a=1 --b -- --c x");
        assert_eq!(f, vec!["a=1", "b"]);
        assert_eq!(rest, "--c x");
        let (f, rest) = extract_flags("-x --y");
        assert!(f.is_empty());
        assert_eq!(rest, "-x --y");
    }
}

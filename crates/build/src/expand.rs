//! Variable substitution in instruction arguments, as docker's shell lexer does
//! it: `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`,
//! `${VAR+word}`, `${VAR:?message}`, `${VAR?message}`; single quotes are
//! literal, double quotes allow `$` and escape only `"`, `$` and the escape
//! character; quotes and escapes are removed from the result.

/// Looks variables up; `None` is unset (different from empty for `-`, `+`, `?`).
pub struct Expander<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    escape: char,
}

struct Scanner {
    chars: Vec<char>,
    pos: usize,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }
}

impl<'a> Expander<'a> {
    /// An expander over `lookup`, with the Dockerfile's escape character.
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>, escape: char) -> Expander<'a> {
        Expander { lookup, escape }
    }

    /// One word: variables substituted, quotes and escapes removed; blanks stay.
    pub fn word(&self, text: &str) -> Result<String, String> {
        let mut s = Scanner {
            chars: text.chars().collect(),
            pos: 0,
        };
        self.until(&mut s, None)
    }

    /// Reads up to `stop` (consumed) or the end.
    fn until(&self, s: &mut Scanner, stop: Option<char>) -> Result<String, String> {
        let mut out = String::new();
        while let Some(c) = s.peek() {
            if Some(c) == stop {
                s.next();
                return Ok(out);
            }
            match c {
                '\'' => out.push_str(&self.single_quoted(s)?),
                '"' => out.push_str(&self.double_quoted(s)?),
                '$' => out.push_str(&self.dollar(s)?),
                _ => {
                    s.next();
                    if c == self.escape {
                        match s.next() {
                            Some(n) => out.push(n),
                            // An escape at the very end is dropped.
                            None => break,
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!("syntax error: missing '{stop}'"));
        }
        Ok(out)
    }

    fn single_quoted(&self, s: &mut Scanner) -> Result<String, String> {
        s.next();
        let mut out = String::new();
        loop {
            match s.next() {
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    );
                }
            }
        }
    }

    fn double_quoted(&self, s: &mut Scanner) -> Result<String, String> {
        s.next();
        let mut out = String::new();
        loop {
            match s.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    );
                }
                Some('"') => {
                    s.next();
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar(s)?),
                Some(c) => {
                    s.next();
                    if c == self.escape {
                        match s.peek() {
                            None => continue,
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                s.next();
                                out.push(n);
                            }
                            // Other escapes stay as written, as in the shell.
                            Some(_) => out.push(c),
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    fn name(&self, s: &mut Scanner) -> String {
        let mut name = String::new();
        while let Some(c) = s.peek() {
            if name.is_empty() && c.is_ascii_digit() {
                while let Some(d) = s.peek().filter(char::is_ascii_digit) {
                    name.push(d);
                    s.next();
                }
                return name;
            }
            if !(c.is_alphanumeric() || c == '_') {
                break;
            }
            name.push(c);
            s.next();
        }
        name
    }

    fn dollar(&self, s: &mut Scanner) -> Result<String, String> {
        s.next();
        if s.peek() != Some('{') {
            let name = self.name(s);
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok((self.lookup)(&name).unwrap_or_default());
        }
        s.next();
        match s.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{' | '}' | ':') => return Err("syntax error: bad substitution".into()),
            _ => {}
        }
        let name = self.name(s);
        let value = (self.lookup)(&name);
        match s.next() {
            Some('}') => Ok(value.unwrap_or_default()),
            Some(':') => {
                let modifier = s.next();
                let word = self.until(s, Some('}'))?;
                let empty = value.as_deref().is_none_or(str::is_empty);
                match modifier {
                    Some('-') => Ok(if empty {
                        word
                    } else {
                        value.unwrap_or_default()
                    }),
                    Some('+') => Ok(if empty { String::new() } else { word }),
                    Some('?') if empty => Err(if word.is_empty() {
                        format!("{name}: is not allowed to be empty")
                    } else {
                        format!("{name}: {word}")
                    }),
                    Some('?') => Ok(value.unwrap_or_default()),
                    Some(m) => Err(format!("unsupported modifier ({m}) in substitution")),
                    None => Err("syntax error: missing '}'".into()),
                }
            }
            Some(m @ ('-' | '+' | '?')) => {
                let word = self.until(s, Some('}'))?;
                match (m, value) {
                    ('-', None) => Ok(word),
                    ('-', Some(v)) => Ok(v),
                    ('+', None) => Ok(String::new()),
                    ('+', Some(_)) => Ok(word),
                    (_, None) => Err(if word.is_empty() {
                        format!("{name}: is not allowed to be unset")
                    } else {
                        format!("{name}: {word}")
                    }),
                    (_, Some(v)) => Ok(v),
                }
            }
            Some(m) => Err(format!("unsupported modifier ({m}) in substitution")),
            None => Err("syntax error: missing '}'".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(text: &str) -> Result<String, String> {
        let lookup = |k: &str| match k {
            "A" => Some("apple".to_string()),
            "EMPTY" => Some(String::new()),
            "SP" => Some("a b".to_string()),
            _ => None,
        };
        Expander::new(&lookup, '\\').word(text)
    }

    #[test]
    fn substitutions() {
        assert_eq!(expand("$A").unwrap(), "apple");
        assert_eq!(expand("${A}s").unwrap(), "apples");
        assert_eq!(expand("$A-$B.").unwrap(), "apple-.");
        assert_eq!(expand("${B:-dflt}").unwrap(), "dflt");
        assert_eq!(expand("${EMPTY:-dflt}").unwrap(), "dflt");
        assert_eq!(expand("${EMPTY-dflt}").unwrap(), "");
        assert_eq!(expand("${A:+alt}").unwrap(), "alt");
        assert_eq!(expand("${EMPTY:+alt}").unwrap(), "");
        assert_eq!(expand("${EMPTY+alt}").unwrap(), "alt");
        assert_eq!(expand("${B:-${A}}").unwrap(), "apple");
        assert_eq!(expand("${B:-'x y'}").unwrap(), "x y");
        assert_eq!(expand("$").unwrap(), "$");
        assert_eq!(expand("a$ b").unwrap(), "a$ b");
        assert!(
            expand("${B:?must be set}")
                .unwrap_err()
                .contains("must be set")
        );
        assert!(expand("${B?}").is_err());
        assert!(expand("${A").is_err());
        assert!(expand("${}").is_err());
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(expand("'$A'").unwrap(), "$A");
        assert_eq!(expand("\"$A b\"").unwrap(), "apple b");
        assert_eq!(expand("\\$A").unwrap(), "$A");
        assert_eq!(expand("\"\\$A\\\"\"").unwrap(), "$A\"");
        assert_eq!(expand("\"a\\nb\"").unwrap(), "a\\nb");
        assert_eq!(expand("a\\ b").unwrap(), "a b");
        assert_eq!(expand("$SP").unwrap(), "a b");
        assert!(expand("'open").is_err());
        assert!(expand("\"open").is_err());
        let lookup = |_: &str| None;
        assert_eq!(Expander::new(&lookup, '`').word("a`$b").unwrap(), "a$b");
    }
}

//! `.dockerignore`: which context paths a build does not see, with docker's
//! rules: one pattern per line, `#` comments, `!` exceptions, the last match
//! wins, a pattern that matches a directory excludes what is under it, and
//! `**` matches any number of directories.

/// Go's `filepath.Match` (`*`, `?`, `[a-z]`, `[^x]`, `\` escapes; none of
/// them crosses a `/`) plus `**`, which does (`**/` also matches no directory).
pub fn glob_match(pattern: &str, path: &str) -> bool {
    let (p, s) = (pattern.as_bytes(), path.as_bytes());
    // Each (pattern, path) position is decided once: backtracking over many
    // `*` would otherwise take exponential time on a hostile pattern.
    let mut memo = vec![0u8; (p.len() + 1) * (s.len() + 1)];
    Matcher {
        p,
        s,
        memo: &mut memo,
    }
    .at(0, 0)
}

struct Matcher<'a> {
    p: &'a [u8],
    s: &'a [u8],
    memo: &'a mut [u8],
}

impl Matcher<'_> {
    fn at(&mut self, pi: usize, si: usize) -> bool {
        let slot = pi * (self.s.len() + 1) + si;
        match self.memo[slot] {
            1 => return false,
            2 => return true,
            _ => {}
        }
        let hit = self.decide(pi, si);
        self.memo[slot] = if hit { 2 } else { 1 };
        hit
    }

    fn decide(&mut self, pi: usize, si: usize) -> bool {
        let (p, s) = (&self.p[pi..], &self.s[si..]);
        match p.first() {
            None => s.is_empty(),
            Some(b'*') if p.get(1) == Some(&b'*') => {
                if p.get(2) == Some(&b'/') {
                    // `**/`: no directory, or any number of them.
                    self.at(pi + 3, si)
                        || (0..s.len()).any(|i| s[i] == b'/' && self.at(pi + 3, si + i + 1))
                } else {
                    (0..=s.len()).any(|i| self.at(pi + 2, si + i))
                }
            }
            Some(b'*') => {
                for i in 0..=s.len() {
                    if i > 0 && s[i - 1] == b'/' {
                        break;
                    }
                    if self.at(pi + 1, si + i) {
                        return true;
                    }
                }
                false
            }
            Some(b'?') => !s.is_empty() && s[0] != b'/' && self.at(pi + 1, si + 1),
            Some(b'[') => match (s.first(), class(&p[1..])) {
                (Some(&c), Some((set, negated, len))) if c != b'/' => {
                    let hit = set.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                    hit != negated && self.at(pi + 1 + len, si + 1)
                }
                _ => false,
            },
            Some(b'\\') if p.len() > 1 => s.first() == Some(&p[1]) && self.at(pi + 2, si + 1),
            Some(c) => s.first() == Some(c) && self.at(pi + 1, si + 1),
        }
    }
}

/// A `[...]` class after its `[`: the ranges, negation, and its length up to
/// and including the `]`. `None` when it is not closed.
#[allow(clippy::type_complexity)]
fn class(p: &[u8]) -> Option<(Vec<(u8, u8)>, bool, usize)> {
    let mut i = 0;
    let negated = matches!(p.first(), Some(b'^' | b'!'));
    if negated {
        i += 1;
    }
    let mut set = Vec::new();
    let mut first = true;
    loop {
        let c = *p.get(i)?;
        if c == b']' && !first {
            return Some((set, negated, i + 1));
        }
        first = false;
        let lo = if c == b'\\' {
            i += 1;
            *p.get(i)?
        } else {
            c
        };
        i += 1;
        if p.get(i) == Some(&b'-') && p.get(i + 1).is_some_and(|&n| n != b']') {
            let hi = if p[i + 1] == b'\\' {
                i += 1;
                *p.get(i + 1)?
            } else {
                p[i + 1]
            };
            set.push((lo, hi));
            i += 2;
        } else {
            set.push((lo, lo));
        }
    }
}

/// Cleans a path the way Go's `filepath.Clean` does, relative (no leading `/`).
pub fn clean(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for p in path.split('/') {
        match p {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            p => parts.push(p),
        }
    }
    parts.join("/")
}

/// The patterns of a `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    patterns: Vec<(String, bool)>,
}

impl Ignore {
    /// Reads a `.dockerignore`'s text.
    pub fn parse(text: &str) -> Ignore {
        let mut patterns = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(p) => (true, p.trim()),
                None => (false, line),
            };
            let pattern = clean(pattern);
            if pattern.is_empty() {
                continue;
            }
            patterns.push((pattern, exception));
        }
        Ignore { patterns }
    }

    /// Whether some pattern is an exception (then an excluded directory may
    /// still hold included files, and must be walked).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.1)
    }

    /// Whether the context path `path` (relative, `/`-separated) is excluded.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        if path.is_empty() {
            return false;
        }
        let mut excluded = false;
        for (pattern, exception) in &self.patterns {
            // Only a pattern that could change the answer is looked at.
            if *exception != excluded {
                continue;
            }
            let hit = glob_match(pattern, &path)
                || path
                    .match_indices('/')
                    .any(|(i, _)| glob_match(pattern, &path[..i]));
            if hit {
                excluded = !exception;
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("*.go", "a.go"));
        assert!(!glob_match("*.go", "x/a.go"));
        assert!(glob_match("**/*.go", "a.go"));
        assert!(glob_match("**/*.go", "x/y/a.go"));
        assert!(glob_match("x/**", "x/y/z"));
        assert!(glob_match("**", "anything/at/all"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "a/c"));
        assert!(glob_match("[a-c]x", "bx"));
        assert!(!glob_match("[^a-c]x", "bx"));
        assert!(glob_match("[!a-c]x", "dx"));
        assert!(glob_match("\\*", "*"));
        assert!(!glob_match("\\*", "a"));
        assert!(!glob_match("[ab", "a"));
        assert!(glob_match("a/**/b", "a/b"));
        assert!(glob_match("a/**/b", "a/x/y/b"));
    }

    #[test]
    fn dockerignore_rules() {
        let ig = Ignore::parse(
            "# comment\n\n*.log\n!keep.log\nbuild\n/secret/../secret/key\n**/tmp\n!build/out\n",
        );
        assert!(ig.excludes("a.log"));
        assert!(!ig.excludes("keep.log"));
        assert!(!ig.excludes("dir/a.log"), "* does not cross /");
        assert!(ig.excludes("build"));
        assert!(
            ig.excludes("build/x/y"),
            "a directory's contents go with it"
        );
        assert!(!ig.excludes("build/out"));
        assert!(!ig.excludes("build/out/file"));
        assert!(ig.excludes("secret/key"));
        assert!(ig.excludes("a/b/tmp/c"));
        assert!(!ig.excludes("src/main.rs"));
        assert!(ig.has_exceptions());
    }
}

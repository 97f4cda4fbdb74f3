//! Query strings, with docker's booleans and filters.

use serde_json::Value;

use super::ApiError;

/// A request's query parameters, in order (a name may repeat: `names=a&names=b`).
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    /// Parses `a=1&b=x%20y`.
    pub fn parse(q: Option<&str>) -> Query {
        Query(
            form_urlencoded::parse(q.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// A parameter's value (the last, when it repeats).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter's value when it is given and not empty: docker's clients
    /// send empty strings for what the user did not set.
    pub fn given(&self, name: &str) -> Option<&str> {
        self.get(name).filter(|v| !v.is_empty())
    }

    /// Every value of a repeated parameter.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// `--change`-style instructions: every value of `name`, each of which
    /// may hold several, one per line.
    pub fn instructions(&self, name: &str) -> Vec<String> {
        self.all(name)
            .iter()
            .flat_map(|c| c.lines().map(str::to_string).collect::<Vec<_>>())
            .filter(|c| !c.trim().is_empty())
            .collect()
    }

    /// `repo` and `tag` as one reference (`commit`, `import`).
    pub fn repo_tag(&self) -> Option<String> {
        match (self.given("repo"), self.given("tag")) {
            (Some(r), Some(t)) => Some(format!("{r}:{t}")),
            (Some(r), None) => Some(r.to_string()),
            (None, _) => None,
        }
    }

    /// A terminal size from `h` and `w` (resize).
    pub fn terminal_size(&self) -> Result<(u16, u16), ApiError> {
        let dim = |name: &str| -> Result<u16, ApiError> {
            self.number(name)?
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| {
                    ApiError::bad_request(format!("invalid {name}: a number of 0 to 65535"))
                })
        };
        Ok((dim("h")?, dim("w")?))
    }

    /// docker's booleans: `1`, `true`, `True` are true; absent is false.
    pub fn flag(&self, name: &str) -> bool {
        matches!(self.get(name), Some("1" | "true" | "True" | "TRUE"))
    }

    /// A number, 400 when it is not one.
    pub fn number(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.given(name)
            .map(|v| {
                v.parse().map_err(|_| {
                    ApiError::bad_request(format!("invalid {name} {v:?}: not a number"))
                })
            })
            .transpose()
    }

    /// `filters` as `KEY=VALUE` strings, from either of docker's JSON forms:
    /// `{"status":["running"]}` or the older `{"status":{"running":true}}`.
    pub fn filters(&self) -> Result<Vec<String>, ApiError> {
        let Some(raw) = self.given("filters") else {
            return Ok(Vec::new());
        };
        let bad = || ApiError::bad_request(format!("invalid filter: {raw}"));
        let v: Value = serde_json::from_str(raw).map_err(|_| bad())?;
        let mut out = Vec::new();
        for (k, vals) in v.as_object().ok_or_else(bad)? {
            match vals {
                Value::Array(a) => {
                    for x in a {
                        out.push(format!("{k}={}", x.as_str().ok_or_else(bad)?));
                    }
                }
                Value::Object(m) => {
                    for (x, on) in m {
                        if on.as_bool() == Some(true) {
                            out.push(format!("{k}={x}"));
                        }
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_filter_forms_and_dockers_booleans() {
        let q = Query::parse(Some(
            "all=1&size=False&filters=%7B%22status%22%3A%5B%22running%22%5D%2C%22label%22%3A%7B%22a%3Db%22%3Atrue%7D%7D",
        ));
        assert!(q.flag("all") && !q.flag("size") && !q.flag("missing"));
        assert_eq!(q.filters().unwrap(), vec!["label=a=b", "status=running"]);
        assert!(Query::parse(Some("filters=nope")).filters().is_err());
        assert!(Query::parse(Some("limit=x")).number("limit").is_err());
        assert_eq!(
            Query::parse(Some("limit=3")).number("limit").unwrap(),
            Some(3)
        );
    }
}

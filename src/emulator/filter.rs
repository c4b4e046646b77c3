//! SCIM filter expressions (RFC 7644 §3.4.2.2) and PATCH paths (§3.5.2):
//! parsing into a small tree and evaluating it against a stored resource.

use serde_json::{Map, Value};

use super::schemas::{AttrDef, AttrType, ResourceKind, find};
use crate::timestamp::parse_rfc3339_millis;

/// A parse failure; the caller turns it into `invalidFilter` or `invalidPath`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct ParseError(pub String);

/// An attribute path: `attr` or `attr.sub`, with any core URN prefix removed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct AttrPath {
    pub attr: String,
    pub sub: Option<String>,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Filter {
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Present(AttrPath),
    Compare(AttrPath, CompareOp, Value),
    /// `attr[filter]`: some value of a multi-valued attribute matches.
    ValuePath(String, Box<Filter>),
}

/// A parsed PATCH path: `attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PatchPath {
    pub attr: String,
    pub filter: Option<Filter>,
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    LBracket,
    RBracket,
}

fn tokenize(input: &str) -> Result<Vec<Token>, ParseError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(start, c)) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::LBracket,
                    _ => Token::RBracket,
                });
            }
            '"' => {
                // A JSON string: find its end honouring escapes, then decode.
                chars.next();
                let mut escaped = false;
                let mut end = None;
                for (i, ch) in chars.by_ref() {
                    if escaped {
                        escaped = false;
                    } else if ch == '\\' {
                        escaped = true;
                    } else if ch == '"' {
                        end = Some(i);
                        break;
                    }
                }
                let end = end.ok_or_else(|| ParseError("unterminated string".into()))?;
                let raw = input.get(start..=end).unwrap_or_default();
                let decoded: String = serde_json::from_str(raw)
                    .map_err(|e| ParseError(format!("bad string literal: {e}")))?;
                tokens.push(Token::Str(decoded));
            }
            _ => {
                let mut end = start;
                while let Some(&(i, ch)) = chars.peek() {
                    if ch.is_whitespace() || matches!(ch, '(' | ')' | '[' | ']' | '"') {
                        break;
                    }
                    end = i + ch.len_utf8();
                    chars.next();
                }
                tokens.push(Token::Word(
                    input.get(start..end).unwrap_or_default().into(),
                ));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    kind: ResourceKind,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn peek_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn or(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.and()?;
        while self.peek_keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, ParseError> {
        let mut left = self.unary()?;
        while self.peek_keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn expect(&mut self, want: &Token) -> Result<(), ParseError> {
        match self.next() {
            Some(t) if &t == want => Ok(()),
            other => Err(ParseError(format!("expected {want:?}, found {other:?}"))),
        }
    }

    fn unary(&mut self) -> Result<Filter, ParseError> {
        if self.peek_keyword("not") && self.tokens.get(self.pos + 1) == Some(&Token::Open) {
            self.pos += 2;
            let inner = self.or()?;
            self.expect(&Token::Close)?;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.peek() == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            self.expect(&Token::Close)?;
            return Ok(inner);
        }
        let word = match self.next() {
            Some(Token::Word(w)) => w,
            other => {
                return Err(ParseError(format!(
                    "expected an attribute, found {other:?}"
                )));
            }
        };
        if self.peek() == Some(&Token::LBracket) {
            self.pos += 1;
            let path = parse_attr_path(self.kind, &word)?;
            if path.sub.is_some() {
                return Err(ParseError(format!("unexpected sub-attribute in '{word}['")));
            }
            let inner = self.or()?;
            self.expect(&Token::RBracket)?;
            return Ok(Filter::ValuePath(path.attr, Box::new(inner)));
        }
        let path = parse_attr_path(self.kind, &word)?;
        let op = match self.next() {
            Some(Token::Word(op)) => op.to_ascii_lowercase(),
            other => return Err(ParseError(format!("expected an operator, found {other:?}"))),
        };
        if op == "pr" {
            return Ok(Filter::Present(path));
        }
        let op = match op.as_str() {
            "eq" => CompareOp::Eq,
            "ne" => CompareOp::Ne,
            "co" => CompareOp::Co,
            "sw" => CompareOp::Sw,
            "ew" => CompareOp::Ew,
            "gt" => CompareOp::Gt,
            "ge" => CompareOp::Ge,
            "lt" => CompareOp::Lt,
            "le" => CompareOp::Le,
            other => return Err(ParseError(format!("unknown operator '{other}'"))),
        };
        let value = match self.next() {
            Some(Token::Str(s)) => Value::String(s),
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| ParseError(format!("bad comparison value '{w}'")))?,
            },
            other => return Err(ParseError(format!("expected a value, found {other:?}"))),
        };
        Ok(Filter::Compare(path, op, value))
    }
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '$')
}

/// Parses `[urn:…:]attr[.sub]`.
pub(crate) fn parse_attr_path(kind: ResourceKind, word: &str) -> Result<AttrPath, ParseError> {
    let rest = super::schemas::strip_urn(kind, word)
        .ok_or_else(|| ParseError(format!("unsupported schema in '{word}'")))?;
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a.to_string(), Some(s.to_string())),
        None => (rest, None),
    };
    if !valid_name(&attr) || sub.as_deref().is_some_and(|s| !valid_name(s)) {
        return Err(ParseError(format!("bad attribute path '{word}'")));
    }
    Ok(AttrPath { attr, sub })
}

/// Parses a filter expression for a resource kind.
pub(crate) fn parse_filter(kind: ResourceKind, input: &str) -> Result<Filter, ParseError> {
    let tokens = tokenize(input)?;
    if tokens.is_empty() {
        return Err(ParseError("empty filter".into()));
    }
    let mut p = Parser {
        tokens,
        pos: 0,
        kind,
    };
    let f = p.or()?;
    if p.pos != p.tokens.len() {
        return Err(ParseError(format!(
            "unexpected {:?} after the filter",
            p.tokens.get(p.pos)
        )));
    }
    Ok(f)
}

/// Parses a PATCH `path`.
pub(crate) fn parse_patch_path(kind: ResourceKind, input: &str) -> Result<PatchPath, ParseError> {
    let Some(open) = input.find('[') else {
        let p = parse_attr_path(kind, input.trim())?;
        return Ok(PatchPath {
            attr: p.attr,
            filter: None,
            sub: p.sub,
        });
    };
    let close = input
        .rfind(']')
        .filter(|&c| c > open)
        .ok_or_else(|| ParseError(format!("unbalanced '[' in '{input}'")))?;
    let head = parse_attr_path(kind, input.get(..open).unwrap_or_default().trim())?;
    if head.sub.is_some() {
        return Err(ParseError(format!("bad path '{input}'")));
    }
    let filter = parse_filter(kind, input.get(open + 1..close).unwrap_or_default())?;
    let tail = input.get(close + 1..).unwrap_or_default().trim();
    let sub = if tail.is_empty() {
        None
    } else {
        let s = tail
            .strip_prefix('.')
            .filter(|s| valid_name(s))
            .ok_or_else(|| ParseError(format!("bad sub-attribute after ']' in '{input}'")))?;
        Some(s.to_string())
    };
    Ok(PatchPath {
        attr: head.attr,
        filter: Some(filter),
        sub,
    })
}

/// Where a filter is evaluated: a resource, or one value of a multi-valued
/// attribute (inside `attr[...]`).
pub(crate) struct Scope<'a> {
    pub doc: &'a Map<String, Value>,
    pub defs: &'a [AttrDef],
    pub kind: Option<ResourceKind>,
}

impl<'a> Scope<'a> {
    fn def(&self, name: &str) -> Option<&'a AttrDef> {
        match self.kind {
            Some(kind) => kind.attr(name),
            None => find(self.defs, name),
        }
    }
}

/// Looks a key up ignoring case (stored keys are canonical, requests may not be).
pub(crate) fn get_ci<'a>(doc: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    doc.get(name).or_else(|| {
        doc.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Collects the values a path designates, with the definition that says how
/// to compare them.
fn values<'a>(scope: &Scope<'a>, path: &AttrPath) -> (Vec<&'a Value>, Option<&'a AttrDef>) {
    let def = scope.def(&path.attr);
    let Some(top) = get_ci(scope.doc, &path.attr) else {
        return (
            Vec::new(),
            def.and_then(|d| sub_def(d, path.sub.as_deref())),
        );
    };
    let items: Vec<&Value> = match top {
        Value::Array(a) => a.iter().collect(),
        v => vec![v],
    };
    let sub = path
        .sub
        .as_deref()
        .or(if def.is_some_and(|d| d.ty == AttrType::Complex) {
            Some("value")
        } else {
            None
        });
    let out = match sub {
        Some(s) => items
            .into_iter()
            .filter_map(|v| v.as_object().and_then(|o| get_ci(o, s)))
            .collect(),
        None => items,
    };
    (out, def.and_then(|d| sub_def(d, sub)))
}

fn sub_def<'a>(def: &'a AttrDef, sub: Option<&str>) -> Option<&'a AttrDef> {
    match sub {
        None => Some(def),
        Some(s) => find(def.sub, s),
    }
}

fn compare_one(actual: &Value, op: CompareOp, want: &Value, def: Option<&AttrDef>) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match (actual, want) {
        (Value::String(a), Value::String(b)) => {
            if def.is_some_and(|d| d.ty == AttrType::DateTime)
                && let (Some(x), Some(y)) = (parse_rfc3339_millis(a), parse_rfc3339_millis(b))
            {
                Some(x.cmp(&y))
            } else {
                let exact = def.is_some_and(|d| d.case_exact);
                let (a, b) = if exact {
                    (a.clone(), b.clone())
                } else {
                    (a.to_lowercase(), b.to_lowercase())
                };
                return match op {
                    CompareOp::Eq => a == b,
                    CompareOp::Ne => a != b,
                    CompareOp::Co => a.contains(&b),
                    CompareOp::Sw => a.starts_with(&b),
                    CompareOp::Ew => a.ends_with(&b),
                    CompareOp::Gt => a > b,
                    CompareOp::Ge => a >= b,
                    CompareOp::Lt => a < b,
                    CompareOp::Le => a <= b,
                };
            }
        }
        (Value::Bool(a), Value::Bool(b)) => {
            return match op {
                CompareOp::Eq => a == b,
                CompareOp::Ne => a != b,
                _ => false,
            };
        }
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        _ => None,
    };
    let Some(o) = ordering else {
        return op == CompareOp::Ne;
    };
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
    }
}

fn present(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    }
}

/// Evaluates a filter in a scope.
pub(crate) fn matches(filter: &Filter, scope: &Scope<'_>) -> bool {
    match filter {
        Filter::And(a, b) => matches(a, scope) && matches(b, scope),
        Filter::Or(a, b) => matches(a, scope) || matches(b, scope),
        Filter::Not(a) => !matches(a, scope),
        Filter::Present(path) => values(scope, path).0.into_iter().any(present),
        Filter::Compare(path, op, want) => {
            let (vals, def) = values(scope, path);
            if want.is_null() {
                let has = vals.into_iter().any(present);
                return match op {
                    CompareOp::Eq => !has,
                    CompareOp::Ne => has,
                    _ => false,
                };
            }
            if *op == CompareOp::Ne {
                return !vals
                    .into_iter()
                    .any(|v| compare_one(v, CompareOp::Eq, want, def));
            }
            vals.into_iter().any(|v| compare_one(v, *op, want, def))
        }
        Filter::ValuePath(attr, inner) => {
            let Some(def) = scope.def(attr) else {
                return false;
            };
            let Some(top) = get_ci(scope.doc, attr) else {
                return false;
            };
            let items: Vec<&Value> = match top {
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            items.into_iter().any(|item| {
                item.as_object().is_some_and(|o| {
                    matches(
                        inner,
                        &Scope {
                            doc: o,
                            defs: def.sub,
                            kind: None,
                        },
                    )
                })
            })
        }
    }
}

/// Evaluates a filter against a multi-valued attribute's single value.
pub(crate) fn matches_value(filter: &Filter, value: &Value, defs: &[AttrDef]) -> bool {
    value.as_object().is_some_and(|o| {
        matches(
            filter,
            &Scope {
                doc: o,
                defs,
                kind: None,
            },
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Map<String, Value> {
        json!({
            "id": "abc", "userName": "Ada@Example.com", "active": true,
            "name": {"givenName": "Ada"},
            "emails": [{"value": "ada@work.com", "type": "work"}, {"value": "a@home.com", "type": "home"}],
            "meta": {"lastModified": "2024-05-01T10:00:00.000Z"}
        })
        .as_object()
        .cloned()
        .unwrap()
    }

    fn eval(f: &str) -> bool {
        let d = doc();
        let f = parse_filter(ResourceKind::User, f).unwrap();
        matches(
            &f,
            &Scope {
                doc: &d,
                defs: &[],
                kind: Some(ResourceKind::User),
            },
        )
    }

    #[test]
    fn filter_cases() {
        let cases = [
            (r#"userName eq "ada@example.com""#, true),
            (r#"id eq "ABC""#, false),
            (r#"id eq "abc""#, true),
            (r#"emails[type eq "work" and value co "WORK"]"#, true),
            (r#"emails[type eq "other"]"#, false),
            (r#"emails.value ew "home.com""#, true),
            (r#"emails co "home""#, true),
            ("active eq true and name.givenName pr", true),
            ("not (active eq true) or displayName pr", false),
            (r#"meta.lastModified gt "2024-05-01T09:00:00Z""#, true),
            (
                r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "ADA""#,
                true,
            ),
            (
                r#"userName ne "x" and (externalId pr or active eq true)"#,
                true,
            ),
        ];
        for (f, want) in cases {
            assert_eq!(eval(f), want, "{f}");
        }
    }

    #[test]
    fn bad_filters() {
        for f in [
            "userName eq",
            "userName zz \"a\"",
            "(userName pr",
            "",
            "userName eq \"a\" junk",
        ] {
            assert!(parse_filter(ResourceKind::User, f).is_err(), "{f}");
        }
    }

    #[test]
    fn patch_paths() {
        let p = parse_patch_path(ResourceKind::User, r#"emails[type eq "work"].value"#).unwrap();
        assert_eq!(p.attr, "emails");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p = parse_patch_path(ResourceKind::Group, r#"members[value eq "a\"b"]"#).unwrap();
        assert_eq!(p.attr, "members");
        assert!(parse_patch_path(ResourceKind::User, "emails[type eq").is_err());
    }
}

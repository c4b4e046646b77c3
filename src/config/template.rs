//! Attribute templates such as `"{given_name} {family_name}"`, used by the
//! per-connection mapping to build a Penvio attribute from directory fields.

use std::fmt;

/// The normalized user fields a template may name, besides `attributes.<name>`.
pub const TEMPLATE_FIELDS: &[&str] = &["id", "email", "given_name", "family_name", "display_name"];

/// Prefix for raw vendor attributes, e.g. `{attributes.department}`.
const ATTRIBUTES_PREFIX: &str = "attributes.";

/// A parsed template: literal text with `{field}` placeholders; `{{` and `}}`
/// write literal braces. Parsed once at validation so a typo in a field name
/// is a config problem, not a silent empty attribute at run time.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    source: String,
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(String),
}

impl Template {
    /// Parses a template; the error says what is wrong, for a validation problem.
    pub fn parse(source: &str) -> Result<Template, String> {
        if source.is_empty() {
            return Err("must not be empty".to_owned());
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = source.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut field = String::new();
                    let mut closed = false;
                    for c in chars.by_ref() {
                        match c {
                            '}' => {
                                closed = true;
                                break;
                            }
                            '{' => {
                                return Err(
                                    "has \"{\" inside a placeholder (write \"{{\" for a literal brace)"
                                        .to_owned(),
                                );
                            }
                            other => field.push(other),
                        }
                    }
                    if !closed {
                        return Err(
                            "has an unclosed \"{\" (write \"{{\" for a literal brace)".to_owned()
                        );
                    }
                    check_field(&field)?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(field));
                }
                '}' => {
                    return Err(
                        "has an unmatched \"}\" (write \"}}\" for a literal brace)".to_owned()
                    );
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Template {
            source: source.to_owned(),
            parts,
        })
    }

    /// The template as written in the config, for plans and error messages.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The field names the template refers to, so mapping can tell which
    /// source attributes it needs.
    pub fn fields(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            Part::Field(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Renders the template with `lookup` giving each field's value. Returns
    /// `None` if any referenced field is missing or empty, so a half-filled
    /// value (" Smith") is never sent to Penvio.
    pub fn render(&self, lookup: &dyn Fn(&str) -> Option<String>) -> Option<String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Field(name) => {
                    let value = lookup(name).filter(|value| !value.is_empty())?;
                    out.push_str(&value);
                }
            }
        }
        Some(out)
    }
}

fn check_field(field: &str) -> Result<(), String> {
    if TEMPLATE_FIELDS.contains(&field) {
        return Ok(());
    }
    if let Some(name) = field.strip_prefix(ATTRIBUTES_PREFIX) {
        if !name.is_empty() {
            return Ok(());
        }
        return Err(
            "\"{attributes.}\" needs an attribute name, e.g. \"{attributes.department}\""
                .to_owned(),
        );
    }
    Err(format!(
        "unknown field \"{{{field}}}\" (expected one of: {}, or attributes.<name>)",
        TEMPLATE_FIELDS.join(", ")
    ))
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Template").field(&self.source).finish()
    }
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn lookup(field: &str) -> Option<String> {
        match field {
            "email" => Some("ada@example.com".into()),
            "given_name" => Some("Ada".into()),
            "family_name" => Some("Lovelace".into()),
            "display_name" => Some(String::new()),
            "attributes.department" => Some("R&D".into()),
            _ => None,
        }
    }

    #[test]
    fn renders_placeholders_and_escaped_braces() {
        let cases = [
            ("{email}", Some("ada@example.com")),
            ("{given_name} {family_name}", Some("Ada Lovelace")),
            ("{{{given_name}}}", Some("{Ada}")),
            ("literal", Some("literal")),
            ("{attributes.department}/x", Some("R&D/x")),
            ("{given_name} {id}", None),
            ("{display_name}", None),
            ("{attributes.cost_center}", None),
        ];
        for (source, expected) in cases {
            let template = Template::parse(source).unwrap();
            assert_eq!(template.render(&lookup).as_deref(), expected, "{source}");
            assert_eq!(template.as_str(), source);
        }
    }

    #[test]
    fn lists_referenced_fields() {
        let template = Template::parse("{given_name}.{family_name}@{{x}}").unwrap();
        assert_eq!(
            template.fields().collect::<Vec<_>>(),
            ["given_name", "family_name"]
        );
    }

    #[test]
    fn rejects_bad_templates() {
        let cases = [
            ("", "must not be empty"),
            ("{email", "unclosed"),
            ("email}", "unmatched"),
            ("{em{ail}", "inside a placeholder"),
            ("{mail}", "unknown field \"{mail}\""),
            ("{}", "unknown field \"{}\""),
            ("{attributes.}", "needs an attribute name"),
            ("{Email}", "unknown field"),
        ];
        for (source, expected) in cases {
            let error = Template::parse(source).unwrap_err();
            assert!(error.contains(expected), "{source}: {error}");
        }
    }
}

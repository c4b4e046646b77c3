//! The raw form of a config: a YAML tree in which every node remembers where
//! it came from. Parsing into this loose shape never fails on a wrong key or
//! type, so validation can report every such problem at once, with its line.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use super::error::{ConfigError, Location};

/// A parsed but not yet validated config file: the input of [`super::validate`].
#[derive(Debug, Clone)]
pub struct RawConfig {
    /// The file the text came from; relative paths inside resolve against its directory.
    pub path: PathBuf,
    /// The document's root node.
    pub root: Node,
}

/// One YAML node with its position. `Debug` hides scalar text, which may be a secret.
#[derive(Clone, PartialEq)]
pub struct Node {
    /// The node's content.
    pub value: Value,
    /// Where the node starts, when the parser knows.
    pub location: Option<Location>,
}

/// The content of a YAML node, kept as loose as YAML itself.
#[derive(Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or an empty value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer scalar.
    Int(i128),
    /// A floating-point scalar.
    Float(f64),
    /// Any other scalar.
    String(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order.
    Map(Vec<Entry>),
}

/// One `key: value` pair of a mapping.
#[derive(Clone, PartialEq)]
pub struct Entry {
    /// The key as text.
    pub key: String,
    /// Where the key is, so an unknown key can be pointed at.
    pub key_location: Option<Location>,
    /// The value.
    pub value: Node,
}

impl Value {
    /// The node's kind with its article, for "must be a list, not a string" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl fmt::Debug for Node {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Value::Seq(items) => f.debug_list().entries(items).finish(),
            Value::Map(entries) => f
                .debug_map()
                .entries(entries.iter().map(|entry| (&entry.key, &entry.value)))
                .finish(),
            other => write!(
                f,
                "<{}>",
                other
                    .kind()
                    .trim_start_matches("a ")
                    .trim_start_matches("an ")
            ),
        }
    }
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let node = Node {
            value: self.clone(),
            location: None,
        };
        fmt::Debug::fmt(&node, f)
    }
}

impl fmt::Debug for Entry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("key", &self.key)
            .field("value", &self.value)
            .finish()
    }
}

/// Parses YAML text into a [`RawConfig`]. Only malformed YAML fails here.
pub fn parse(text: &str, path: &Path) -> Result<RawConfig, ConfigError> {
    let root = if text.trim().is_empty() {
        Node {
            value: Value::Null,
            location: None,
        }
    } else {
        serde_saphyr::from_str_with_options::<Node>(text, parse_options()).map_err(|error| {
            let location = error.location().and_then(location_of);
            let mut message = error.without_snippet().to_string();
            if let Some(location) = location {
                // The parser repeats the position at the end; ours is in front.
                let suffix = format!(" at {location}");
                if let Some(stripped) = message.strip_suffix(&suffix) {
                    message = stripped.to_owned();
                }
            }
            ConfigError::Syntax {
                path: path.to_path_buf(),
                line: location.map_or(0, |l| l.line),
                column: location.map_or(0, |l| l.column),
                message,
            }
        })?
    };
    Ok(RawConfig {
        path: path.to_path_buf(),
        root,
    })
}

/// Nesting allowed in a config. The deepest real key path is about six
/// levels (`connections[].source.oauth.scopes[]`); the parser's default (64)
/// lets a hostile or mangled file overflow a 2 MiB thread stack in debug
/// builds, because each level of [`Node`] costs tens of kilobytes there.
pub const MAX_CONFIG_DEPTH: usize = 24;

/// Alias replay allowed in a config: a few anchors for shared blocks are
/// fine; a "billion laughs" expansion is refused long before it costs memory.
pub const MAX_CONFIG_ALIAS_EVENTS: usize = 10_000;

/// The parser limits for config text (see the constants above).
fn parse_options() -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = MAX_CONFIG_DEPTH;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options.alias_limits.max_total_replayed_events = MAX_CONFIG_ALIAS_EVENTS;
    options
}

fn location_of(location: serde_saphyr::Location) -> Option<Location> {
    let line = usize::try_from(location.line()).ok()?;
    let column = usize::try_from(location.column()).ok()?;
    (line > 0).then_some(Location { line, column })
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let spanned = Spanned::<Value>::deserialize(deserializer)?;
        Ok(Node {
            value: spanned.value,
            location: location_of(spanned.referenced),
        })
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Int(i128::from(v)))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Int(i128::from(v)))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer is too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Value::deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<KeyText>>()? {
            let value = map.next_value::<Node>()?;
            entries.push(Entry {
                key: key.value.0,
                key_location: location_of(key.referenced),
                value,
            });
        }
        Ok(Value::Map(entries))
    }
}

/// A mapping key: any scalar, kept as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(KeyVisitor)
    }
}

struct KeyVisitor;

impl Visitor<'_> for KeyVisitor {
    type Value = KeyText;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a scalar mapping key")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<KeyText, E> {
        Ok(KeyText(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<KeyText, E> {
        Ok(KeyText(v.to_owned()))
    }

    fn visit_unit<E: de::Error>(self) -> Result<KeyText, E> {
        Ok(KeyText("null".to_owned()))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn entries(node: &Node) -> &[Entry] {
        match &node.value {
            Value::Map(entries) => entries,
            other => panic!("expected a map, got {other:?}"),
        }
    }

    #[test]
    fn keeps_scalars_and_positions() {
        let raw = parse(
            "a: 1\nb: text\nc:\n  - x\n  - 2.5\nd: true\ne:\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        let map = entries(&raw.root);
        let keys: Vec<_> = map.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["a", "b", "c", "d", "e"]);
        assert_eq!(map[0].value.value, Value::Int(1));
        assert_eq!(map[1].value.value, Value::String("text".into()));
        assert_eq!(map[1].key_location, Some(Location { line: 2, column: 1 }));
        assert_eq!(map[1].value.location, Some(Location { line: 2, column: 4 }));
        match &map[2].value.value {
            Value::Seq(items) => {
                assert_eq!(items[0].value, Value::String("x".into()));
                assert_eq!(items[1].value, Value::Float(2.5));
                assert_eq!(items[1].location.map(|l| l.line), Some(5));
            }
            other => panic!("expected a list, got {other:?}"),
        }
        assert_eq!(map[3].value.value, Value::Bool(true));
        assert_eq!(map[4].value.value, Value::Null);
    }

    #[test]
    fn empty_text_is_a_null_document() {
        let raw = parse("  \n", Path::new("t.yaml")).unwrap();
        assert_eq!(raw.root.value, Value::Null);
    }

    #[test]
    fn syntax_error_has_line_and_column() {
        let error = parse("a: 1\nb: [1, 2\nc: 3\n", Path::new("t.yaml")).unwrap_err();
        match error {
            ConfigError::Syntax { line, column, .. } => {
                assert!(line >= 2, "line {line}");
                assert!(column >= 1, "column {column}");
            }
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn debug_hides_scalar_text() {
        let raw = parse("token: hunter2\n", Path::new("t.yaml")).unwrap();
        let debug = format!("{:?}", raw);
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("token"));
    }
}

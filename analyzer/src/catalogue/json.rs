//! JSON documents read into a `serde_json::Value` under the same limits as YAML ones.
//!
//! `serde_json::from_str::<Value>` has no budget besides its recursion limit: 38 MB of small
//! objects grows to gigabytes (every one-key object is a whole B-tree node), and it silently
//! keeps the last of two equal keys, where the YAML reader refuses them. This reader builds the
//! same `Value` through a visitor that counts nodes (objects, arrays, keys and scalars, as the
//! YAML budget counts them), caps nesting depth, and refuses a key an object already holds.
//! serde_json stamps the line and column where a visitor error was raised onto the error.

use serde::de::{DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::cell::Cell;
use std::fmt;

/// Limits for one JSON document.
#[derive(Debug, Clone, Copy)]
pub(crate) struct JsonLimits {
    /// The whole node budget, for the message when it runs out (what is left of it is passed
    /// separately: a document set shares one budget).
    pub max_nodes: usize,
    /// Deepest nesting of objects and arrays.
    pub max_depth: usize,
}

/// Parse `text` as one JSON value, drawing on `nodes_left` (objects, arrays, keys and scalars
/// each cost one) and nesting at most `limits.max_depth`; trailing text is an error as with
/// `serde_json::from_str`.
pub(crate) fn from_str(
    text: &str,
    nodes_left: &mut usize,
    limits: JsonLimits,
) -> Result<Value, serde_json::Error> {
    let left = Cell::new(*nodes_left);
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Node {
        left: &left,
        limits,
        depth: 0,
    }
    .deserialize(&mut de);
    *nodes_left = left.get();
    let value = value?;
    de.end()?;
    Ok(value)
}

/// The visitor for one node at `depth` (containers above it), drawing on the shared count.
#[derive(Clone, Copy)]
struct Node<'b> {
    left: &'b Cell<usize>,
    limits: JsonLimits,
    depth: usize,
}

impl Node<'_> {
    fn charge<E: serde::de::Error>(&self) -> Result<(), E> {
        match self.left.get().checked_sub(1) {
            Some(n) => {
                self.left.set(n);
                Ok(())
            }
            None => Err(E::custom(format!(
                "more than {} nodes, the budget of a document and the files it references",
                self.limits.max_nodes
            ))),
        }
    }

    /// Charge for a container and give the visitor of its members.
    fn open<E: serde::de::Error>(&self) -> Result<Self, E> {
        self.charge()?;
        if self.depth >= self.limits.max_depth {
            return Err(E::custom(format!(
                "nested deeper than {} levels",
                self.limits.max_depth
            )));
        }
        Ok(Node {
            depth: self.depth + 1,
            ..*self
        })
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Null)
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.charge()?;
        // JSON has no NaN or infinity; serde_json's own `Value` makes them null too.
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.charge()?;
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let member = self.open()?;
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(member)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let member = self.open()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            member.charge()?;
            // Checked before the value is read, so the position serde_json reports is the key's.
            if out.contains_key(&key) {
                return Err(A::Error::custom(format!(
                    "duplicate key `{key}` (each key may appear once in an object)"
                )));
            }
            let value = map.next_value_seed(member)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOMY: JsonLimits = JsonLimits {
        max_nodes: 1000,
        max_depth: 8,
    };

    fn parse(text: &str, limits: JsonLimits) -> Result<Value, serde_json::Error> {
        let mut left = limits.max_nodes;
        from_str(text, &mut left, limits)
    }

    #[test]
    fn builds_the_same_value_as_serde_json() {
        let text = r#"{"a": [1, -2, 3.5, true, null, "s\u00e9"], "b": {"c": {}}, "d": []}"#;
        let ours = parse(text, ROOMY).unwrap_or_else(|e| panic!("{e}"));
        let theirs: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(ours, theirs);
        assert!(parse("{} x", ROOMY).is_err(), "trailing text");
    }

    #[test]
    fn nodes_and_depth_are_budgeted() {
        // {"a": [1, 2]}: object, key, array, two scalars.
        let five = JsonLimits {
            max_nodes: 5,
            max_depth: 8,
        };
        assert!(parse(r#"{"a": [1, 2]}"#, five).is_ok());
        let e = parse(r#"{"a": [1, 2, 3]}"#, five).map_err(|e| e.to_string());
        assert!(
            matches!(&e, Err(m) if m.contains("more than 5 nodes")),
            "{e:?}"
        );
        let shallow = JsonLimits {
            max_nodes: 100,
            max_depth: 2,
        };
        assert!(parse("[[1]]", shallow).is_ok());
        let e = parse("[[[1]]]", shallow).map_err(|e| e.to_string());
        assert!(matches!(&e, Err(m) if m.contains("deeper than 2")), "{e:?}");
    }

    #[test]
    fn duplicate_keys_are_refused_where_they_stand() {
        let text = "{\"a\": 1,\n \"b\": {\"x\": 1, \"x\": 2}}";
        let e = parse(text, ROOMY).err();
        let e = e.unwrap_or_else(|| panic!("duplicate accepted"));
        assert!(e.to_string().contains("duplicate key `x`"), "{e}");
        // The closing quote of the second `x`.
        assert_eq!((e.line(), e.column()), (2, 18));
    }
}

//! A protobuf message walked by wire type (the encoding guide's "Message Structure"), with no
//! descriptor needed: every field is reported under its number (`1`, nested `2.1`), varints as
//! integers, fixed32/fixed64 as numbers, length-delimited fields as a nested message when their
//! bytes parse whole as one and do not read as text, else as a string (UTF-8, handed to the
//! classifier) or bytes (not classified). With a [`Schema`] (a FileDescriptorSet or `.proto`
//! sources from the catalogue) fields get their declared names and types instead.
//!
//! Bounded: nesting is followed to `max_depth`, at most `max_fields` distinct shapes and
//! [`VISIT_FACTOR`] times that many fields are reported per message, and every length is
//! checked against the bytes left; garbage ends the walk with an error naming the offset.

use crate::observation::FieldType;
use crate::walk::{Field, PathId, Paths, Visitor, WalkLimits};

/// Fields visited per walk, as a multiple of `max_fields` (repeated fields revisit a shape).
pub const VISIT_FACTOR: usize = 16;

/// Largest field number (2^29 - 1).
const MAX_FIELD_NUMBER: u64 = (1 << 29) - 1;

/// Why bytes are not one protobuf message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf varint runs past the end or over 10 bytes at byte {0}")]
    Varint(usize),
    #[error("protobuf field number 0 or over 2^29-1 at byte {0}")]
    FieldNumber(usize),
    #[error("protobuf wire type {1} (groups or undefined) at byte {0}")]
    WireType(usize, u8),
    #[error("protobuf field at byte {0} runs past the end of the message")]
    Length(usize),
}

/// Declared names and types of message fields.
pub trait Schema {
    /// Field `number` of the message type `message` (fully qualified, no leading dot).
    fn field(&self, message: &str, number: u32) -> Option<SchemaField<'_>>;
}

/// One declared field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SchemaField<'a> {
    pub name: &'a str,
    pub ty: FieldType,
    /// The message type of a message-typed field.
    pub message: Option<&'a str>,
}

/// One decoded field of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Value<'a> {
    Varint,
    Fixed,
    Delimited(&'a [u8]),
}

/// Read a base-128 varint at `*at`.
fn varint(bytes: &[u8], at: &mut usize) -> Result<u64, ProtoError> {
    let start = *at;
    let mut v = 0u64;
    for i in 0..10 {
        let b = *bytes.get(*at).ok_or(ProtoError::Varint(start))?;
        *at += 1;
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(ProtoError::Varint(start))
}

/// Read one field at `*at`: its number and value.
fn field<'a>(bytes: &'a [u8], at: &mut usize) -> Result<(u32, Value<'a>), ProtoError> {
    let start = *at;
    let key = varint(bytes, at)?;
    let number = key >> 3;
    if number == 0 || number > MAX_FIELD_NUMBER {
        return Err(ProtoError::FieldNumber(start));
    }
    let value = match key & 7 {
        0 => {
            varint(bytes, at)?;
            Value::Varint
        }
        1 | 5 => {
            let len = if key & 7 == 1 { 8 } else { 4 };
            *at = at
                .checked_add(len)
                .filter(|end| *end <= bytes.len())
                .ok_or(ProtoError::Length(start))?;
            Value::Fixed
        }
        2 => {
            let len = usize::try_from(varint(bytes, at)?).map_err(|_| ProtoError::Length(start))?;
            let end = at
                .checked_add(len)
                .filter(|end| *end <= bytes.len())
                .ok_or(ProtoError::Length(start))?;
            let v = bytes.get(*at..end).ok_or(ProtoError::Length(start))?;
            *at = end;
            Value::Delimited(v)
        }
        wt => return Err(ProtoError::WireType(start, wt as u8)),
    };
    Ok((number as u32, value))
}

/// Whether `bytes` parse whole as one message with at least one field.
pub fn is_message(bytes: &[u8]) -> bool {
    let mut at = 0;
    while at < bytes.len() {
        if field(bytes, &mut at).is_err() {
            return false;
        }
    }
    !bytes.is_empty()
}

/// Text a person or program would write: UTF-8 without control characters other than tab
/// and line ends.
fn is_text(bytes: &[u8]) -> bool {
    std::str::from_utf8(bytes).is_ok_and(|s| {
        !s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
    })
}

struct Walk<'p, 'v, V: Visitor, S: Schema> {
    paths: &'p mut Paths,
    visitor: &'v mut V,
    schema: Option<&'p S>,
    limits: WalkLimits,
    shapes: Vec<(PathId, FieldType)>,
    visits: usize,
    number: String,
}

impl<V: Visitor, S: Schema> Walk<'_, '_, V, S> {
    fn message(
        &mut self,
        bytes: &[u8],
        parent: PathId,
        ty: Option<&str>,
        depth: usize,
    ) -> Result<(), ProtoError> {
        let mut at = 0;
        while at < bytes.len() {
            let (number, value) = field(bytes, &mut at)?;
            if depth > self.limits.max_depth || self.visits >= self.limits.max_fields * VISIT_FACTOR
            {
                continue;
            }
            let declared = match (self.schema, ty) {
                (Some(schema), Some(ty)) => schema.field(ty, number),
                _ => None,
            };
            self.number.clear();
            let name = match declared {
                Some(d) => d.name,
                None => {
                    use std::fmt::Write;
                    let _ = write!(self.number, "{number}");
                    &self.number
                }
            };
            let Some(path) = self.paths.key(parent, name) else {
                continue;
            };
            let (kind, scalar, nested) = match value {
                Value::Varint => (FieldType::Integer, None, None),
                Value::Fixed => (FieldType::Number, None, None),
                Value::Delimited(inner) => {
                    let as_message = match declared {
                        Some(d) => d.message.is_some(),
                        None => !is_text(inner) && is_message(inner),
                    };
                    if as_message {
                        (FieldType::Object, None, Some(inner))
                    } else {
                        let text = std::str::from_utf8(inner).is_ok();
                        (FieldType::String, text.then_some(inner), None)
                    }
                }
            };
            let kind = declared.map_or(kind, |d| d.ty);
            // A declared non-string over length-delimited bytes (a packed repeated scalar)
            // has no text to classify.
            let scalar = scalar.filter(|_| kind == FieldType::String);
            let shape = (path, kind);
            if !self.shapes.contains(&shape) {
                if self.shapes.len() >= self.limits.max_fields {
                    continue;
                }
                self.shapes.push(shape);
            }
            self.visits += 1;
            let text = self.paths.text(path).to_string();
            self.visitor.field(&Field {
                path,
                text: &text,
                ty: kind,
                name: self.paths.name(path),
                scalar,
            });
            if let Some(inner) = nested {
                let nested_ty = declared.and_then(|d| d.message);
                // A nested message that does not parse (a declared type over other bytes)
                // keeps what its fields said so far and the walk goes on.
                let _ = self.message(inner, path, nested_ty, depth + 1);
            }
        }
        Ok(())
    }
}

/// No schema: every field by number.
pub struct NoSchema;

impl Schema for NoSchema {
    fn field(&self, _message: &str, _number: u32) -> Option<SchemaField<'_>> {
        None
    }
}

/// Walk one message, reporting its fields to `visitor` (see the module docs). `schema` with
/// the message's type name gives declared names. On `Err` the caller should discard what the
/// visitor saw.
pub fn walk_protobuf<S: Schema>(
    bytes: &[u8],
    paths: &mut Paths,
    limits: &WalkLimits,
    schema: Option<(&S, &str)>,
    visitor: &mut impl Visitor,
) -> Result<(), ProtoError> {
    let mut at = 0;
    while at < bytes.len() {
        field(bytes, &mut at)?;
    }
    let mut walk = Walk {
        paths,
        visitor,
        schema: schema.map(|(s, _)| s),
        limits: *limits,
        shapes: Vec::new(),
        visits: 0,
        number: String::new(),
    };
    walk.message(bytes, PathId::ROOT, schema.map(|(_, t)| t), 1)
}

#[cfg(test)]
mod tests;

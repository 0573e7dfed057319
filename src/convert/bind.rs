//! Binding: what the protobuf encoder makes of the pieces the walk ([`super::walk`]) has
//! checked, a [`Node`] per field. Scalar values are converted here (ranges, dates,
//! decimals, JSON) and refused naming the column and the row; numeric ARRAY elements are
//! packed.

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float32Type, Float64Type};

use super::node::{ByteSource, Node, Packed};
use super::plan::{FieldPlan, Rule, Scalar};
use super::sql_type::{SqlField, SqlType};
use super::values::At;
use super::values::{check_json, decimal_text, int_values};
use super::walk::{cast, Build, Rows};
use super::wire::{tag, FIXED32, FIXED64, LEN, VARINT};
use crate::error::Result;

/// The protobuf encoder's side of the walk: [`Node`]s that size and write rows.
pub(super) struct Proto;

impl Build for Proto {
    type Out = Node;

    fn scalar(
        &self,
        at: &At,
        scalar: (Scalar, Rule),
        _ty: Option<&SqlType>,
        array: &ArrayRef,
        valid: Option<NullBuffer>,
    ) -> Result<Node> {
        bind_scalar(at, scalar, array, valid)
    }

    fn message(
        &self,
        at: &At,
        _fields: Option<&[SqlField]>,
        children: Vec<(&FieldPlan, Node)>,
        valid: Option<NullBuffer>,
        _len: usize,
    ) -> Result<Node> {
        Ok(Node::Message {
            tag: tag(at.number, LEN),
            children: children.into_iter().map(|(_, node)| node).collect(),
            valid,
            inner: Vec::new(),
        })
    }

    /// Numbers packed, anything else as repeated fields.
    fn list(&self, at: &At, _elem: Option<&SqlType>, rows: Rows, elements: Node) -> Result<Node> {
        let packed = match elements {
            Node::Varint { vals, valid, .. } if no_nulls(&valid) => Packed::Varint(vals),
            Node::Fixed32 { vals, valid, .. } if no_nulls(&valid) => Packed::F32(vals),
            Node::Fixed64 { vals, valid, .. } if no_nulls(&valid) => Packed::F64(vals),
            each => return Ok(repeated(rows, each)),
        };
        Ok(Node::Packed {
            tag: tag(at.number, LEN),
            offsets: rows.offsets,
            vals: packed,
            payload: Vec::new(),
        })
    }

    /// Repeated entry messages (key = field 1, value = field 2).
    fn map(
        &self,
        at: &At,
        _types: (Option<&SqlType>, Option<&SqlType>),
        rows: Rows,
        keys: Node,
        values: Node,
    ) -> Result<Node> {
        let entry = Node::Message {
            tag: tag(at.number, LEN),
            children: vec![keys, values],
            valid: None,
            inner: Vec::new(),
        };
        Ok(repeated(rows, entry))
    }
}

fn no_nulls(valid: &Option<NullBuffer>) -> bool {
    valid.as_ref().is_none_or(|v| v.null_count() == 0)
}

fn repeated(rows: Rows, elem: Node) -> Node {
    Node::Repeated {
        offsets: rows.offsets,
        valid: rows.valid,
        elem: Box::new(elem),
        elem_sizes: Vec::new(),
        elem_cursors: Vec::new(),
    }
}

/// The bytes of a text, binary or decimal column.
pub(super) fn byte_source(at: &At, array: &ArrayRef) -> Result<ByteSource> {
    Ok(match array.data_type() {
        DataType::Utf8 => ByteSource::Utf8(array.as_string::<i32>().clone()),
        DataType::LargeUtf8 => ByteSource::LargeUtf8(array.as_string::<i64>().clone()),
        DataType::Utf8View => ByteSource::Utf8View(array.as_string_view().clone()),
        DataType::Binary => ByteSource::Binary(array.as_binary::<i32>().clone()),
        DataType::LargeBinary => ByteSource::LargeBinary(array.as_binary::<i64>().clone()),
        DataType::BinaryView => ByteSource::BinaryView(array.as_binary_view().clone()),
        DataType::FixedSizeBinary(_) => ByteSource::Fixed(array.as_fixed_size_binary().clone()),
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            let text = cast(at, array, &DataType::Utf8)?;
            ByteSource::Utf8(text.as_string::<i32>().clone())
        }
        other => return Err(at.error(format!("{other} is not text or binary"))),
    })
}

fn bind_scalar(
    at: &At,
    (s, rule): (Scalar, Rule),
    array: &ArrayRef,
    valid: Option<NullBuffer>,
) -> Result<Node> {
    let number = at.number;
    Ok(match s {
        Scalar::Int32 | Scalar::Int64 | Scalar::Bool => {
            let vals = int_values(at, array, rule, &valid)?;
            Node::Varint {
                tag: tag(number, VARINT),
                vals,
                valid,
            }
        }
        Scalar::Float => Node::Fixed32 {
            tag: tag(number, FIXED32),
            vals: array.as_primitive::<Float32Type>().values().clone(),
            valid,
        },
        Scalar::Double => Node::Fixed64 {
            tag: tag(number, FIXED64),
            vals: match array.data_type() {
                DataType::Float32 => array
                    .as_primitive::<Float32Type>()
                    .values()
                    .iter()
                    .map(|v| f64::from(*v))
                    .collect::<Vec<f64>>()
                    .into(),
                _ => array.as_primitive::<Float64Type>().values().clone(),
            },
            valid,
        },
        Scalar::String | Scalar::Bytes => {
            let src = match rule {
                Rule::Decimal(precision, scale) => {
                    ByteSource::Utf8(decimal_text(at, array, (precision, scale), &valid)?)
                }
                _ => byte_source(at, array)?,
            };
            if rule == Rule::Json {
                check_json(at, array.len(), |i| src.value(i), &valid)?;
            }
            Node::Bytes {
                tag: tag(number, LEN),
                src,
                valid,
            }
        }
    })
}

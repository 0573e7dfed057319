//! Columnar Arrow → protobuf encoding.
//!
//! A [`RowEncoder`] is planned once per (batch schema, descriptor): every column is matched
//! by name (case-insensitive) to a descriptor field, and every incompatibility is reported
//! at once. Encoding a batch then works column by column with no per-row reflection:
//! 1. each column adds the encoded size of its field to every row's size;
//! 2. row offsets are the prefix sums, so the output is one buffer sized exactly;
//! 3. each column writes its field into every row at that row's cursor.
//!
//! Protobuf lets fields of a message appear in any order, which is what makes writing
//! column by column possible. Numeric lists are written packed (parsers accept packed and
//! unpacked alike). A null is an absent field; an empty list is no field at all.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, FixedSizeBinaryArray, LargeBinaryArray,
    LargeStringArray, OffsetSizeTrait, RecordBatch, StringArray, StringViewArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{
    DataType, Date32Type, Date64Type, Field, Float32Type, Float64Type, Int16Type, Int32Type,
    Int64Type, Int8Type, SchemaRef, TimeUnit, TimestampMicrosecondType, TimestampMillisecondType,
    TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use prost_reflect::{Cardinality, FieldDescriptor, Kind, MessageDescriptor};

use super::descriptor::list_element;
use super::wire::{put_bytes, put_varint, tag, varint_len, Tag, FIXED32, FIXED64, LEN, VARINT};
use crate::error::{Result, ZerobusError};

/// Encoded rows of one batch: one contiguous buffer and the row boundaries.
#[derive(Debug, Default, Clone)]
pub struct EncodedRows {
    data: Vec<u8>,
    offsets: Vec<usize>,
}

impl EncodedRows {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The encoded bytes of row `i`.
    pub fn row(&self, i: usize) -> &[u8] {
        &self.data[self.offsets[i]..self.offsets[i + 1]]
    }

    /// Rows in order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.offsets.windows(2).map(|w| &self.data[w[0]..w[1]])
    }

    /// Total encoded bytes.
    pub fn total_bytes(&self) -> usize {
        self.data.len()
    }

    /// All rows back to back.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// Row boundaries: row `i` is `data[offsets[i]..offsets[i + 1]]`.
    pub fn offsets(&self) -> &[usize] {
        &self.offsets
    }
}

/// The proto scalar a column is written as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scalar {
    Int32,
    Int64,
    Bool,
    Float,
    Double,
    String,
    Bytes,
}

#[derive(Debug, Clone)]
enum Target {
    Scalar(Scalar),
    Message(Vec<FieldPlan>),
    /// `repeated` of a scalar or message element.
    Repeated(Box<Target>),
    /// A map field: entries with key (1) and value (2).
    Map(Scalar, Box<Target>),
}

#[derive(Debug, Clone)]
struct FieldPlan {
    /// Index of the column among its siblings (batch columns or struct children).
    index: usize,
    /// Column path for messages (`s.inner.x`).
    path: String,
    number: u32,
    required: bool,
    target: Target,
}

/// Encodes batches of one schema into rows of one protobuf message.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch, StringArray};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use arrow_zerobus_sdk_wrapper::convert::{descriptor_from_arrow, RowEncoder};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("name", DataType::Utf8, true),
/// ]));
/// let batch = RecordBatch::try_new(schema.clone(), vec![
///     Arc::new(Int64Array::from(vec![1, 2])),
///     Arc::new(StringArray::from(vec![Some("a"), None])),
/// ]).unwrap();
/// let descriptor = descriptor_from_arrow(&schema, "main.default.t").unwrap();
/// let mut encoder = RowEncoder::new("main.default.t", &descriptor, &schema).unwrap();
/// let rows = encoder.encode_batch(&batch).unwrap();
/// assert_eq!(rows.len(), 2);
/// assert_eq!(rows.row(0), &[0x08, 0x01, 0x12, 0x01, b'a']);
/// assert_eq!(rows.row(1), &[0x08, 0x02]);
/// ```
#[derive(Debug)]
pub struct RowEncoder {
    table: String,
    schema: SchemaRef,
    plan: Vec<FieldPlan>,
    out: EncodedRows,
    sizes: Vec<usize>,
    cursors: Vec<usize>,
}

fn conversion(table: &str, msg: String) -> ZerobusError {
    ZerobusError::Conversion(format!("table '{table}': {msg}"))
}

fn scalar_of(kind: &Kind) -> Option<Scalar> {
    Some(match kind {
        Kind::Int32 => Scalar::Int32,
        Kind::Int64 => Scalar::Int64,
        Kind::Bool => Scalar::Bool,
        Kind::Float => Scalar::Float,
        Kind::Double => Scalar::Double,
        Kind::String => Scalar::String,
        Kind::Bytes => Scalar::Bytes,
        _ => return None,
    })
}

fn unwrap_dictionary(dt: &DataType) -> &DataType {
    match dt {
        DataType::Dictionary(_, v) => unwrap_dictionary(v),
        other => other,
    }
}

/// Can a value of Arrow type `dt` be written as proto scalar `s`?
fn scalar_compatible(dt: &DataType, s: Scalar) -> bool {
    use DataType::*;
    match unwrap_dictionary(dt) {
        Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 | Date32 | Date64
        | Timestamp(..) => {
            matches!(s, Scalar::Int32 | Scalar::Int64)
        }
        Boolean => s == Scalar::Bool,
        Float16 | Float32 => matches!(s, Scalar::Float | Scalar::Double),
        Float64 => s == Scalar::Double,
        Utf8 | LargeUtf8 | Utf8View => matches!(s, Scalar::String | Scalar::Bytes),
        Decimal128(..) | Decimal256(..) => s == Scalar::String,
        Binary | LargeBinary | BinaryView | FixedSizeBinary(_) => s == Scalar::Bytes,
        _ => false,
    }
}

fn kind_text(f: &FieldDescriptor) -> String {
    let base = match f.kind() {
        Kind::Message(m) if f.is_map() => format!(
            "map<{:?}, {:?}>",
            m.map_entry_key_field().kind(),
            m.map_entry_value_field().kind()
        ),
        Kind::Message(m) => format!("message {}", m.name()),
        other => format!("{other:?}").to_ascii_lowercase(),
    };
    if f.is_list() {
        format!("repeated {base}")
    } else {
        base
    }
}

fn plan_value(
    dt: &DataType,
    kind: &Kind,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<Target> {
    let dt = unwrap_dictionary(dt);
    if let Some(s) = scalar_of(kind) {
        if scalar_compatible(dt, s) {
            return Some(Target::Scalar(s));
        }
        problems.push(format!(
            "column '{path}' of Arrow type {dt} cannot be written as protobuf {s:?}"
        ));
        return None;
    }
    match (dt, kind) {
        (DataType::Struct(children), Kind::Message(m)) => Some(Target::Message(plan_message(
            children.iter().map(|f| f.as_ref()),
            m,
            path,
            problems,
        )?)),
        _ => {
            problems.push(format!(
                "column '{path}' of Arrow type {dt} cannot be written as protobuf {kind:?}"
            ));
            None
        }
    }
}

fn plan_field(
    field: &Field,
    fd: &FieldDescriptor,
    path: &str,
    problems: &mut Vec<String>,
) -> Option<Target> {
    let dt = unwrap_dictionary(field.data_type());
    if fd.is_map() {
        let (DataType::Map(entries, _), Kind::Message(entry)) = (dt, fd.kind()) else {
            problems.push(format!(
                "column '{path}' of Arrow type {dt} cannot be written as {}",
                kind_text(fd)
            ));
            return None;
        };
        let DataType::Struct(kv) = entries.data_type() else {
            problems.push(format!("column '{path}': map entries are not a struct"));
            return None;
        };
        let (Some(k), Some(v)) = (kv.first(), kv.get(1)) else {
            problems.push(format!(
                "column '{path}': map entries need a key and a value"
            ));
            return None;
        };
        let kf = entry.map_entry_key_field();
        let key = match scalar_of(&kf.kind()) {
            Some(s) if scalar_compatible(k.data_type(), s) => s,
            _ => {
                problems.push(format!(
                    "column '{path}': map key of Arrow type {} cannot be written as protobuf {:?}",
                    k.data_type(),
                    kf.kind()
                ));
                return None;
            }
        };
        let value = plan_value(
            v.data_type(),
            &entry.map_entry_value_field().kind(),
            &format!("{path}.value"),
            problems,
        )?;
        return Some(Target::Map(key, Box::new(value)));
    }
    if fd.is_list() {
        let Some(elem) = list_element(dt) else {
            problems.push(format!(
                "column '{path}' of Arrow type {dt} is not a list but the field is {}",
                kind_text(fd)
            ));
            return None;
        };
        return Some(Target::Repeated(Box::new(plan_value(
            elem.data_type(),
            &fd.kind(),
            path,
            problems,
        )?)));
    }
    if list_element(dt).is_some() || matches!(dt, DataType::Map(..)) {
        problems.push(format!(
            "column '{path}' of Arrow type {dt} is a collection but the field is {}",
            kind_text(fd)
        ));
        return None;
    }
    plan_value(dt, &fd.kind(), path, problems)
}

fn plan_message<'a>(
    fields: impl Iterator<Item = &'a Field>,
    message: &MessageDescriptor,
    prefix: &str,
    problems: &mut Vec<String>,
) -> Option<Vec<FieldPlan>> {
    let before = problems.len();
    let mut plans = Vec::new();
    let mut used = std::collections::HashSet::new();
    for (index, field) in fields.enumerate() {
        let path = if prefix.is_empty() {
            field.name().clone()
        } else {
            format!("{prefix}.{}", field.name())
        };
        let fd = message
            .get_field_by_name(field.name())
            .or_else(|| {
                message
                    .fields()
                    .find(|f| f.name().eq_ignore_ascii_case(field.name()))
            })
            .or_else(|| {
                let ident = super::descriptor::proto_identifier(field.name());
                message
                    .fields()
                    .find(|f| f.name().eq_ignore_ascii_case(&ident))
            });
        let Some(fd) = fd else {
            problems.push(format!("column '{path}' is not a column of the table"));
            continue;
        };
        used.insert(fd.number());
        if let Some(target) = plan_field(field, &fd, &path, problems) {
            plans.push(FieldPlan {
                index,
                path,
                number: fd.number(),
                required: fd.cardinality() == Cardinality::Required,
                target,
            });
        }
    }
    for fd in message.fields() {
        if fd.cardinality() == Cardinality::Required && !used.contains(&fd.number()) {
            let path = if prefix.is_empty() {
                fd.name().to_string()
            } else {
                format!("{prefix}.{}", fd.name())
            };
            problems.push(format!(
                "column '{path}' is NOT NULL in the table but missing from the batch"
            ));
        }
    }
    (problems.len() == before).then_some(plans)
}

impl RowEncoder {
    /// Plan the encoding of batches of `schema` as messages of `descriptor` for `table`.
    /// Every mismatch (extra column, missing NOT NULL column, incompatible type) is named
    /// in one [`ZerobusError::Conversion`].
    pub fn new(
        table: &str,
        descriptor: &prost_types::DescriptorProto,
        schema: &SchemaRef,
    ) -> Result<Self> {
        let message = databricks_zerobus_ingest_sdk::message_descriptor(descriptor)
            .map_err(|e| conversion(table, format!("invalid descriptor: {e}")))?;
        Self::with_message(table, &message, schema)
    }

    /// As [`RowEncoder::new`], from a resolved message descriptor.
    pub fn with_message(
        table: &str,
        message: &MessageDescriptor,
        schema: &SchemaRef,
    ) -> Result<Self> {
        let mut problems = Vec::new();
        let plan = plan_message(
            schema.fields().iter().map(|f| f.as_ref()),
            message,
            "",
            &mut problems,
        );
        match plan {
            Some(plan) if problems.is_empty() => Ok(RowEncoder {
                table: table.to_string(),
                schema: schema.clone(),
                plan,
                out: EncodedRows::default(),
                sizes: Vec::new(),
                cursors: Vec::new(),
            }),
            _ => Err(conversion(table, problems.join("; "))),
        }
    }

    /// Take the rows of the last `encode_batch`, leaving an empty buffer behind.
    pub fn take_rows(&mut self) -> EncodedRows {
        std::mem::take(&mut self.out)
    }

    /// The schema this encoder was planned for.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Encode every row of `batch` (whose schema must equal the planned one). Buffers are
    /// reused between calls. On error nothing is returned: no row of the batch is valid.
    pub fn encode_batch(&mut self, batch: &RecordBatch) -> Result<&EncodedRows> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(conversion(
                &self.table,
                "the batch's schema differs from the schema this encoder was planned for".into(),
            ));
        }
        let n = batch.num_rows();
        let identity = |i: usize| i;
        let mut nodes = Vec::with_capacity(self.plan.len());
        for p in &self.plan {
            nodes.push(bind(
                &self.table,
                p,
                batch.column(p.index),
                None,
                &identity,
            )?);
        }
        self.sizes.clear();
        self.sizes.resize(n, 0);
        for node in &mut nodes {
            node.add_sizes(&mut self.sizes);
        }
        let out = &mut self.out;
        out.offsets.clear();
        out.offsets.reserve(n + 1);
        out.offsets.push(0);
        let mut total = 0usize;
        for s in &self.sizes {
            total += s;
            out.offsets.push(total);
        }
        out.data.clear();
        out.data.resize(total, 0);
        self.cursors.clear();
        self.cursors.extend_from_slice(&out.offsets[..n]);
        for node in &mut nodes {
            node.write(&mut out.data, &mut self.cursors);
        }
        debug_assert!(self
            .cursors
            .iter()
            .zip(&out.offsets[1..])
            .all(|(c, e)| c == e));
        Ok(&self.out)
    }
}

/// Bytes of a string or binary column.
enum ByteSource {
    Utf8(StringArray),
    LargeUtf8(LargeStringArray),
    Utf8View(StringViewArray),
    Binary(BinaryArray),
    LargeBinary(LargeBinaryArray),
    BinaryView(BinaryViewArray),
    Fixed(FixedSizeBinaryArray),
}

impl ByteSource {
    #[inline]
    fn value(&self, i: usize) -> &[u8] {
        match self {
            ByteSource::Utf8(a) => a.value(i).as_bytes(),
            ByteSource::LargeUtf8(a) => a.value(i).as_bytes(),
            ByteSource::Utf8View(a) => a.value(i).as_bytes(),
            ByteSource::Binary(a) => a.value(i),
            ByteSource::LargeBinary(a) => a.value(i),
            ByteSource::BinaryView(a) => a.value(i),
            ByteSource::Fixed(a) => a.value(i),
        }
    }
}

enum Packed {
    Varint(Vec<u64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// One field, bound to the arrays of one batch. `valid` is the effective validity in the
/// node's index space: its own nulls and those of every enclosing struct or list row.
enum Node {
    Varint {
        tag: Tag,
        vals: Vec<u64>,
        valid: Option<NullBuffer>,
    },
    Fixed32 {
        tag: Tag,
        vals: Vec<f32>,
        valid: Option<NullBuffer>,
    },
    Fixed64 {
        tag: Tag,
        vals: Vec<f64>,
        valid: Option<NullBuffer>,
    },
    Bytes {
        tag: Tag,
        src: ByteSource,
        valid: Option<NullBuffer>,
    },
    Message {
        tag: Tag,
        children: Vec<Node>,
        valid: Option<NullBuffer>,
        inner: Vec<usize>,
    },
    Repeated {
        ranges: Vec<(usize, usize)>,
        n_elems: usize,
        valid: Option<NullBuffer>,
        elem: Box<Node>,
        elem_sizes: Vec<usize>,
        elem_cursors: Vec<usize>,
    },
    Packed {
        tag: Tag,
        ranges: Vec<(usize, usize)>,
        valid: Option<NullBuffer>,
        vals: Packed,
        payload: Vec<usize>,
    },
}

#[inline]
fn is_valid(valid: &Option<NullBuffer>, i: usize) -> bool {
    valid.as_ref().is_none_or(|v| v.is_valid(i))
}

impl Node {
    fn add_sizes(&mut self, out: &mut [usize]) {
        match self {
            Node::Varint { tag, vals, valid } => {
                let t = tag.len();
                match valid {
                    None => out
                        .iter_mut()
                        .zip(vals.iter())
                        .for_each(|(o, v)| *o += t + varint_len(*v)),
                    Some(_) => {
                        for (i, (o, v)) in out.iter_mut().zip(vals.iter()).enumerate() {
                            if is_valid(valid, i) {
                                *o += t + varint_len(*v);
                            }
                        }
                    }
                }
            }
            Node::Fixed32 { tag, valid, .. } => add_fixed(out, tag.len() + 4, valid),
            Node::Fixed64 { tag, valid, .. } => add_fixed(out, tag.len() + 8, valid),
            Node::Bytes { tag, src, valid } => {
                let t = tag.len();
                for (i, o) in out.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let l = src.value(i).len();
                        *o += t + varint_len(l as u64) + l;
                    }
                }
            }
            Node::Message {
                tag,
                children,
                valid,
                inner,
            } => {
                inner.clear();
                inner.resize(out.len(), 0);
                for c in children.iter_mut() {
                    c.add_sizes(inner);
                }
                let t = tag.len();
                for (i, o) in out.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        *o += t + varint_len(inner[i] as u64) + inner[i];
                    }
                }
            }
            Node::Repeated {
                ranges,
                n_elems,
                valid,
                elem,
                elem_sizes,
                ..
            } => {
                elem_sizes.clear();
                elem_sizes.resize(*n_elems, 0);
                elem.add_sizes(elem_sizes);
                for (i, o) in out.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let (s, e) = ranges[i];
                        *o += elem_sizes[s..e].iter().sum::<usize>();
                    }
                }
            }
            Node::Packed {
                tag,
                ranges,
                valid,
                vals,
                payload,
            } => {
                payload.clear();
                payload.resize(out.len(), 0);
                for (i, o) in out.iter_mut().enumerate() {
                    let (s, e) = ranges[i];
                    if s == e || !is_valid(valid, i) {
                        continue;
                    }
                    let p = match vals {
                        Packed::Varint(v) => v[s..e].iter().map(|x| varint_len(*x)).sum(),
                        Packed::F32(_) => (e - s) * 4,
                        Packed::F64(_) => (e - s) * 8,
                    };
                    payload[i] = p;
                    *o += tag.len() + varint_len(p as u64) + p;
                }
            }
        }
    }

    fn write(&mut self, buf: &mut [u8], cursors: &mut [usize]) {
        match self {
            Node::Varint { tag, vals, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_varint(buf, c, vals[i]);
                    }
                }
            }
            Node::Fixed32 { tag, vals, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_bytes(buf, c, &vals[i].to_le_bytes());
                    }
                }
            }
            Node::Fixed64 { tag, vals, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_bytes(buf, c, &vals[i].to_le_bytes());
                    }
                }
            }
            Node::Bytes { tag, src, valid } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let v = src.value(i);
                        tag.put(buf, c);
                        put_varint(buf, c, v.len() as u64);
                        put_bytes(buf, c, v);
                    }
                }
            }
            Node::Message {
                tag,
                children,
                valid,
                inner,
            } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        tag.put(buf, c);
                        put_varint(buf, c, inner[i] as u64);
                    }
                }
                for child in children.iter_mut() {
                    child.write(buf, cursors);
                }
            }
            Node::Repeated {
                ranges,
                valid,
                elem,
                elem_sizes,
                elem_cursors,
                ..
            } => {
                elem_cursors.clear();
                elem_cursors.resize(elem_sizes.len(), 0);
                for (i, c) in cursors.iter_mut().enumerate() {
                    if is_valid(valid, i) {
                        let (s, e) = ranges[i];
                        for j in s..e {
                            elem_cursors[j] = *c;
                            *c += elem_sizes[j];
                        }
                    }
                }
                elem.write(buf, elem_cursors);
            }
            Node::Packed {
                tag,
                ranges,
                valid,
                vals,
                payload,
            } => {
                for (i, c) in cursors.iter_mut().enumerate() {
                    let (s, e) = ranges[i];
                    if s == e || !is_valid(valid, i) {
                        continue;
                    }
                    tag.put(buf, c);
                    put_varint(buf, c, payload[i] as u64);
                    match vals {
                        Packed::Varint(v) => v[s..e].iter().for_each(|x| put_varint(buf, c, *x)),
                        Packed::F32(v) => v[s..e]
                            .iter()
                            .for_each(|x| put_bytes(buf, c, &x.to_le_bytes())),
                        Packed::F64(v) => v[s..e]
                            .iter()
                            .for_each(|x| put_bytes(buf, c, &x.to_le_bytes())),
                    }
                }
            }
        }
    }
}

fn add_fixed(out: &mut [usize], size: usize, valid: &Option<NullBuffer>) {
    for (i, o) in out.iter_mut().enumerate() {
        if is_valid(valid, i) {
            *o += size;
        }
    }
}

type RowOf<'a> = &'a dyn Fn(usize) -> usize;

fn cast(table: &str, path: &str, array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    arrow::compute::cast(array, to).map_err(|e| {
        conversion(
            table,
            format!(
                "column '{path}': cannot convert {} to {to}: {e}",
                array.data_type()
            ),
        )
    })
}

/// The array with dictionaries unpacked and Float16 widened, so binding sees plain types.
fn normalize(table: &str, path: &str, array: &ArrayRef) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Dictionary(_, v) => {
            let v = (**v).clone();
            normalize(table, path, &cast(table, path, array, &v)?)
        }
        DataType::Float16 => cast(table, path, array, &DataType::Float32),
        _ => Ok(array.clone()),
    }
}

/// Integer values as the 64-bit two's-complement the varint holds, with the range checks
/// of the target (`i32` for int32 fields) and unit conversions (dates → days, timestamps → µs).
fn int_values(
    table: &str,
    path: &str,
    array: &ArrayRef,
    target: Scalar,
    valid: &Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Vec<u64>> {
    let err = |i: usize, what: String| {
        conversion(table, format!("column '{path}', row {}: {what}", row_of(i)))
    };
    macro_rules! widen {
        ($t:ty) => {
            array
                .as_primitive::<$t>()
                .values()
                .iter()
                .map(|v| *v as i64)
                .collect::<Vec<i64>>()
        };
    }
    macro_rules! scaled {
        ($t:ty, $mul:expr) => {{
            let vals = array.as_primitive::<$t>().values();
            let mut out = Vec::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match (*v as i64).checked_mul($mul) {
                    Some(x) => out.push(x),
                    None if is_valid(valid, i) => {
                        return Err(err(i, format!("timestamp {v} overflows microseconds")))
                    }
                    None => out.push(0),
                }
            }
            out
        }};
    }
    let vals: Vec<i64> = match array.data_type() {
        DataType::Int8 => widen!(Int8Type),
        DataType::Int16 => widen!(Int16Type),
        DataType::Int32 => widen!(Int32Type),
        DataType::Int64 => array.as_primitive::<Int64Type>().values().to_vec(),
        DataType::UInt8 => widen!(UInt8Type),
        DataType::UInt16 => widen!(UInt16Type),
        DataType::UInt32 => widen!(UInt32Type),
        DataType::UInt64 => {
            let vals = array.as_primitive::<UInt64Type>().values();
            let mut out = Vec::with_capacity(vals.len());
            for (i, v) in vals.iter().enumerate() {
                match i64::try_from(*v) {
                    Ok(x) => out.push(x),
                    Err(_) if is_valid(valid, i) => {
                        return Err(err(
                            i,
                            format!("UInt64 value {v} is over the BIGINT maximum {}", i64::MAX),
                        ))
                    }
                    Err(_) => out.push(0),
                }
            }
            out
        }
        DataType::Date32 => widen!(Date32Type),
        DataType::Date64 => array
            .as_primitive::<Date64Type>()
            .values()
            .iter()
            .map(|ms| ms.div_euclid(86_400_000))
            .collect(),
        DataType::Timestamp(TimeUnit::Second, _) => scaled!(TimestampSecondType, 1_000_000),
        DataType::Timestamp(TimeUnit::Millisecond, _) => scaled!(TimestampMillisecondType, 1_000),
        DataType::Timestamp(TimeUnit::Microsecond, _) => array
            .as_primitive::<TimestampMicrosecondType>()
            .values()
            .to_vec(),
        DataType::Timestamp(TimeUnit::Nanosecond, _) => array
            .as_primitive::<TimestampNanosecondType>()
            .values()
            .iter()
            .map(|ns| ns.div_euclid(1_000))
            .collect(),
        DataType::Boolean => {
            let b = array.as_boolean();
            (0..b.len()).map(|i| b.value(i) as i64).collect()
        }
        other => {
            return Err(conversion(
                table,
                format!("column '{path}': {other} is not an integer type"),
            ))
        }
    };
    if target == Scalar::Int32 {
        for (i, v) in vals.iter().enumerate() {
            if i32::try_from(*v).is_err() && is_valid(valid, i) {
                return Err(err(
                    i,
                    format!("value {v} does not fit the table's 32-bit column"),
                ));
            }
        }
    }
    Ok(vals.into_iter().map(|v| v as u64).collect())
}

fn byte_source(table: &str, path: &str, array: &ArrayRef) -> Result<ByteSource> {
    Ok(match array.data_type() {
        DataType::Utf8 => ByteSource::Utf8(array.as_string::<i32>().clone()),
        DataType::LargeUtf8 => ByteSource::LargeUtf8(array.as_string::<i64>().clone()),
        DataType::Utf8View => ByteSource::Utf8View(array.as_string_view().clone()),
        DataType::Binary => ByteSource::Binary(array.as_binary::<i32>().clone()),
        DataType::LargeBinary => ByteSource::LargeBinary(array.as_binary::<i64>().clone()),
        DataType::BinaryView => ByteSource::BinaryView(array.as_binary_view().clone()),
        DataType::FixedSizeBinary(_) => ByteSource::Fixed(array.as_fixed_size_binary().clone()),
        DataType::Decimal128(..) | DataType::Decimal256(..) => {
            let text = cast(table, path, array, &DataType::Utf8)?;
            ByteSource::Utf8(text.as_string::<i32>().clone())
        }
        other => {
            return Err(conversion(
                table,
                format!("column '{path}': {other} is not text or binary"),
            ))
        }
    })
}

/// Per-row element ranges (rebased to the returned values) from list offsets.
fn offset_ranges<O: OffsetSizeTrait>(
    offsets: &[O],
    values: &ArrayRef,
) -> (Vec<(usize, usize)>, ArrayRef) {
    let at = |i: usize| offsets[i].as_usize();
    let base = at(0);
    let ranges = (1..offsets.len())
        .map(|i| (at(i - 1) - base, at(i) - base))
        .collect();
    (ranges, sliced(values, base, at(offsets.len() - 1)))
}

/// Per-row element ranges of a list view (offset and size per row).
fn view_ranges<O: OffsetSizeTrait>(
    offsets: &[O],
    sizes: &[O],
    values: &ArrayRef,
) -> (Vec<(usize, usize)>, ArrayRef) {
    let ranges = offsets
        .iter()
        .zip(sizes)
        .map(|(o, s)| (o.as_usize(), o.as_usize() + s.as_usize()))
        .collect();
    (ranges, values.clone())
}

/// Per-row element ranges and the values of a list-like (or map) array.
fn list_ranges(array: &ArrayRef) -> Option<(Vec<(usize, usize)>, ArrayRef)> {
    Some(match array.data_type() {
        DataType::List(_) => {
            let l = array.as_list::<i32>();
            offset_ranges(l.value_offsets(), l.values())
        }
        DataType::LargeList(_) => {
            let l = array.as_list::<i64>();
            offset_ranges(l.value_offsets(), l.values())
        }
        DataType::FixedSizeList(_, size) => {
            let l = array.as_fixed_size_list();
            let size = *size as usize;
            let base = l.offset() * size;
            (
                (0..l.len()).map(|i| (i * size, (i + 1) * size)).collect(),
                sliced(l.values(), base, base + l.len() * size),
            )
        }
        DataType::ListView(_) => {
            let l = array.as_list_view::<i32>();
            view_ranges(l.value_offsets(), l.value_sizes(), l.values())
        }
        DataType::LargeListView(_) => {
            let l = array.as_list_view::<i64>();
            view_ranges(l.value_offsets(), l.value_sizes(), l.values())
        }
        DataType::Map(_, _) => {
            let m = array.as_map();
            let entries: ArrayRef = Arc::new(m.entries().clone());
            offset_ranges(m.value_offsets(), &entries)
        }
        _ => return None,
    })
}

/// `values[start..end]`, without a copy when that is all of it.
fn sliced(values: &ArrayRef, start: usize, end: usize) -> ArrayRef {
    if start == 0 && end == values.len() {
        values.clone()
    } else {
        values.slice(start, end - start)
    }
}

/// Validity of the elements: valid where the element belongs to a valid row and is itself
/// non-null. Null elements in valid rows are refused (proto lists have no nulls).
fn element_validity(
    table: &str,
    path: &str,
    ranges: &[(usize, usize)],
    rows_valid: &Option<NullBuffer>,
    values: &ArrayRef,
    row_of: RowOf,
) -> Result<Option<NullBuffer>> {
    let n = values.len();
    let own = values.logical_nulls();
    let mut bits = vec![false; n];
    for (i, (s, e)) in ranges.iter().enumerate() {
        if !is_valid(rows_valid, i) {
            continue;
        }
        for (k, j) in (*s..*e).enumerate() {
            if own.as_ref().is_some_and(|o| o.is_null(j)) {
                return Err(conversion(
                    table,
                    format!("column '{path}', row {}: list element {k} is null; Zerobus arrays cannot hold nulls", row_of(i)),
                ));
            }
            bits[j] = true;
        }
    }
    Ok(if bits.iter().all(|b| *b) {
        None
    } else {
        Some(NullBuffer::from(bits))
    })
}

fn bind(
    table: &str,
    plan: &FieldPlan,
    array: &ArrayRef,
    parent: Option<&NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    let array = normalize(table, &plan.path, array)?;
    let own = array.logical_nulls();
    if plan.required {
        if let Some(own) = &own {
            if let Some(i) =
                (0..array.len()).find(|i| own.is_null(*i) && parent.is_none_or(|p| p.is_valid(*i)))
            {
                return Err(conversion(
                    table,
                    format!(
                        "column '{}' is NOT NULL in the table but row {} is null",
                        plan.path,
                        row_of(i)
                    ),
                ));
            }
        }
    }
    let valid = NullBuffer::union(own.as_ref(), parent);
    bind_value(
        table,
        &plan.path,
        plan.number,
        &plan.target,
        &array,
        valid,
        row_of,
    )
}

fn bind_value(
    table: &str,
    path: &str,
    number: u32,
    target: &Target,
    array: &ArrayRef,
    valid: Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    Ok(match target {
        Target::Scalar(s) => bind_scalar(table, path, number, *s, array, valid, row_of)?,
        Target::Message(fields) => {
            let st = array
                .as_struct_opt()
                .ok_or_else(|| conversion(table, format!("column '{path}' is not a struct")))?;
            let mut children = Vec::with_capacity(fields.len());
            for f in fields {
                children.push(bind(table, f, st.column(f.index), valid.as_ref(), row_of)?);
            }
            Node::Message {
                tag: tag(number, LEN),
                children,
                valid,
                inner: Vec::new(),
            }
        }
        Target::Repeated(elem) => {
            let (ranges, values) = list_ranges(array)
                .ok_or_else(|| conversion(table, format!("column '{path}' is not a list")))?;
            let values = normalize(table, path, &values)?;
            let elem_valid = element_validity(table, path, &ranges, &valid, &values, row_of)?;
            let find_row = |j: usize| {
                row_of(
                    ranges
                        .partition_point(|r| r.1 <= j)
                        .min(ranges.len().saturating_sub(1)),
                )
            };
            match elem.as_ref() {
                Target::Scalar(s @ (Scalar::Int32 | Scalar::Int64 | Scalar::Bool)) => {
                    let vals = int_values(table, path, &values, *s, &elem_valid, &find_row)?;
                    Node::Packed {
                        tag: tag(number, LEN),
                        ranges,
                        valid,
                        vals: Packed::Varint(vals),
                        payload: Vec::new(),
                    }
                }
                Target::Scalar(s @ (Scalar::Float | Scalar::Double)) => {
                    let vals = match (s, values.data_type()) {
                        (Scalar::Float, _) => {
                            Packed::F32(values.as_primitive::<Float32Type>().values().to_vec())
                        }
                        (_, DataType::Float32) => Packed::F64(
                            values
                                .as_primitive::<Float32Type>()
                                .values()
                                .iter()
                                .map(|v| *v as f64)
                                .collect(),
                        ),
                        _ => Packed::F64(values.as_primitive::<Float64Type>().values().to_vec()),
                    };
                    Node::Packed {
                        tag: tag(number, LEN),
                        ranges,
                        valid,
                        vals,
                        payload: Vec::new(),
                    }
                }
                other => {
                    let elem =
                        bind_value(table, path, number, other, &values, elem_valid, &find_row)?;
                    Node::Repeated {
                        ranges,
                        n_elems: values.len(),
                        valid,
                        elem: Box::new(elem),
                        elem_sizes: Vec::new(),
                        elem_cursors: Vec::new(),
                    }
                }
            }
        }
        Target::Map(key, value) => {
            let (ranges, entries) = list_ranges(array)
                .ok_or_else(|| conversion(table, format!("column '{path}' is not a map")))?;
            let elem_valid = element_validity(table, path, &ranges, &valid, &entries, row_of)?;
            let find_row = |j: usize| {
                row_of(
                    ranges
                        .partition_point(|r| r.1 <= j)
                        .min(ranges.len().saturating_sub(1)),
                )
            };
            let st = entries.as_struct();
            let key_plan = FieldPlan {
                index: 0,
                path: format!("{path}.key"),
                number: 1,
                required: false,
                target: Target::Scalar(*key),
            };
            let value_plan = FieldPlan {
                index: 1,
                path: format!("{path}.value"),
                number: 2,
                required: false,
                target: (**value).clone(),
            };
            let children = vec![
                bind(
                    table,
                    &key_plan,
                    st.column(0),
                    elem_valid.as_ref(),
                    &find_row,
                )?,
                bind(
                    table,
                    &value_plan,
                    st.column(1),
                    elem_valid.as_ref(),
                    &find_row,
                )?,
            ];
            let entry = Node::Message {
                tag: tag(number, LEN),
                children,
                valid: elem_valid,
                inner: Vec::new(),
            };
            Node::Repeated {
                ranges,
                n_elems: entries.len(),
                valid,
                elem: Box::new(entry),
                elem_sizes: Vec::new(),
                elem_cursors: Vec::new(),
            }
        }
    })
}

fn bind_scalar(
    table: &str,
    path: &str,
    number: u32,
    s: Scalar,
    array: &ArrayRef,
    valid: Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    Ok(match s {
        Scalar::Int32 | Scalar::Int64 | Scalar::Bool => {
            let vals = int_values(table, path, array, s, &valid, row_of)?;
            Node::Varint {
                tag: tag(number, VARINT),
                vals,
                valid,
            }
        }
        Scalar::Float => Node::Fixed32 {
            tag: tag(number, FIXED32),
            vals: array.as_primitive::<Float32Type>().values().to_vec(),
            valid,
        },
        Scalar::Double => Node::Fixed64 {
            tag: tag(number, FIXED64),
            vals: match array.data_type() {
                DataType::Float32 => array
                    .as_primitive::<Float32Type>()
                    .values()
                    .iter()
                    .map(|v| *v as f64)
                    .collect(),
                _ => array.as_primitive::<Float64Type>().values().to_vec(),
            },
            valid,
        },
        Scalar::String | Scalar::Bytes => Node::Bytes {
            tag: tag(number, LEN),
            src: byte_source(table, path, array)?,
            valid,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::descriptor_from_arrow;
    use arrow::array::{Int32Array, Int64Array, ListArray, UInt64Array};
    use arrow::datatypes::{Int32Type as I32, Schema};

    #[test]
    fn uint64_over_bigint_is_refused_with_row_and_column() {
        let schema = Arc::new(Schema::new(vec![Field::new("u", DataType::UInt64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(UInt64Array::from(vec![
                Some(1),
                None,
                Some(u64::MAX),
            ]))],
        )
        .unwrap();
        let d = descriptor_from_arrow(&schema, "main.default.t").unwrap();
        let err = RowEncoder::new("main.default.t", &d, &schema)
            .unwrap()
            .encode_batch(&batch)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'main.default.t'") && err.contains("column 'u', row 2"),
            "{err}"
        );
    }

    #[test]
    fn null_list_elements_are_refused_but_null_lists_are_absent() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("l", DataType::new_list(DataType::Int32, true), true),
        ]));
        let d = descriptor_from_arrow(&schema, "t").unwrap();
        let ok = ListArray::from_iter_primitive::<I32, _, _>(vec![
            Some(vec![Some(1), Some(-2)]),
            None,
            Some(vec![]),
        ]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(ok)],
        )
        .unwrap();
        let mut enc = RowEncoder::new("t", &d, &schema).unwrap();
        let rows = enc.encode_batch(&batch).unwrap();
        // row 0: id=1, packed [1, -2]: -2 is a 10-byte varint.
        assert_eq!(rows.row(0)[..2], [0x08, 0x01]);
        assert_eq!(rows.row(0)[2..4], [0x12, 11]);
        assert_eq!(rows.row(1), &[0x08, 0x02]);
        assert_eq!(rows.row(2), &[0x08, 0x03]);
        let bad = ListArray::from_iter_primitive::<I32, _, _>(vec![
            Some(vec![Some(1)]),
            Some(vec![Some(2), None]),
        ]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(bad)],
        )
        .unwrap();
        let err = enc.encode_batch(&batch).unwrap_err().to_string();
        assert!(
            err.contains("column 'l', row 1: list element 1 is null"),
            "{err}"
        );
    }

    #[test]
    fn not_null_columns_and_schema_mismatches_are_named() {
        let table_schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("n", DataType::Int32, true),
        ]));
        let d = descriptor_from_arrow(&table_schema, "t").unwrap();
        let batch_schema = Arc::new(Schema::new(vec![
            Field::new("ID", DataType::Int64, true),
            Field::new("n", DataType::Utf8, true),
            Field::new("extra", DataType::Int32, true),
        ]));
        let err = RowEncoder::new("t", &d, &batch_schema)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 'n' of Arrow type Utf8")
                && err.contains("column 'extra' is not a column"),
            "{err}"
        );

        let s = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
        let err = RowEncoder::new("t", &d, &s).unwrap_err().to_string();
        assert!(
            err.contains("column 'id' is NOT NULL in the table but missing"),
            "{err}"
        );

        let s = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            s.clone(),
            vec![Arc::new(Int64Array::from(vec![Some(1), None]))],
        )
        .unwrap();
        let err = RowEncoder::new("t", &d, &s)
            .unwrap()
            .encode_batch(&batch)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 'id' is NOT NULL in the table but row 1 is null"),
            "{err}"
        );

        // A wider Arrow integer into a 32-bit column: range checked per value.
        let s = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            s.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(Int64Array::from(vec![5, 1 << 40])),
            ],
        )
        .unwrap();
        let err = RowEncoder::new("t", &d, &s)
            .unwrap()
            .encode_batch(&batch)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 'n', row 1: value 1099511627776 does not fit"),
            "{err}"
        );
        let _ = Int32Array::from(vec![1]);
    }
}

//! Columnar Arrow → protobuf encoding.
//!
//! A [`RowEncoder`] is planned once per (batch schema, table) by [`super::plan`]: every
//! column is matched by name (case-insensitive) to a descriptor field and to the column
//! type the table declares, and every incompatibility is reported at once. Encoding a
//! batch then works column by column with no per-row reflection:
//! 1. each column adds the encoded size of its field to every row's size;
//! 2. row offsets are the prefix sums, so the output is one buffer sized exactly;
//! 3. each column writes its field into every row at that row's cursor.
//!
//! Protobuf lets fields of a message appear in any order, which is what makes writing
//! column by column possible. Numeric lists are written packed (parsers accept packed and
//! unpacked alike). A null is an absent field; an empty list is no field at all. Values
//! are converted by [`super::values`]: exactly, or refused naming column and row.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, BinaryViewArray, FixedSizeBinaryArray, LargeBinaryArray,
    LargeStringArray, OffsetSizeTrait, RecordBatch, StringArray, StringViewArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float32Type, Float64Type, SchemaRef};

use super::plan::{plan_message, FieldPlan, Rule, Scalar, Target};
use super::table_schema::TableSchema;
use super::values::{check_json, conversion, decimal_text, int_values, is_valid, RowOf};
use super::wire::{put_bytes, put_varint, tag, varint_len, Tag, FIXED32, FIXED64, LEN, VARINT};
use crate::error::Result;

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

/// Encodes batches of one schema into rows of one protobuf message.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch, StringArray};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use arrow_zerobus_sdk_wrapper::convert::{RowEncoder, TableSchema};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("name", DataType::Utf8, true),
/// ]));
/// let batch = RecordBatch::try_new(schema.clone(), vec![
///     Arc::new(Int64Array::from(vec![1, 2])),
///     Arc::new(StringArray::from(vec![Some("a"), None])),
/// ]).unwrap();
/// let table = TableSchema::from_arrow("main.default.t", &schema).unwrap();
/// let mut encoder = RowEncoder::new(&table, &schema).unwrap();
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

impl RowEncoder {
    /// Plan the encoding of batches of `schema` for `table`. Every mismatch (extra
    /// column, missing NOT NULL column, a type with no exact conversion to the column's)
    /// is named in one [`crate::ZerobusError::Conversion`].
    pub fn new(table: &TableSchema, schema: &SchemaRef) -> Result<Self> {
        let mut problems = Vec::new();
        let plan = plan_message(
            schema.fields().iter().map(|f| f.as_ref()),
            table.message(),
            table.columns(),
            "",
            &mut problems,
        );
        match plan {
            Some(plan) if problems.is_empty() => Ok(RowEncoder {
                table: table.table().to_string(),
                schema: schema.clone(),
                plan,
                out: EncodedRows::default(),
                sizes: Vec::new(),
                cursors: Vec::new(),
            }),
            _ => Err(conversion(table.table(), problems.join("; "))),
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
        Target::Scalar(s, rule) => {
            bind_scalar(table, path, number, (*s, *rule), array, valid, row_of)?
        }
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
                Target::Scalar(Scalar::Int32 | Scalar::Int64 | Scalar::Bool, rule) => {
                    let vals = int_values(table, path, &values, *rule, &elem_valid, &find_row)?;
                    Node::Packed {
                        tag: tag(number, LEN),
                        ranges,
                        valid,
                        vals: Packed::Varint(vals),
                        payload: Vec::new(),
                    }
                }
                Target::Scalar(s @ (Scalar::Float | Scalar::Double), _) => {
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
            refuse_null_map_values(table, path, st, &elem_valid, &find_row)?;
            let key_plan = FieldPlan {
                index: 0,
                path: format!("{path}.key"),
                number: 1,
                required: false,
                target: Target::Scalar(key.0, key.1),
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

/// A NULL map value cannot travel: the map entry's value field would be absent, which
/// protobuf (and so the service) reads as the type's default (0, "", false).
fn refuse_null_map_values(
    table: &str,
    path: &str,
    entries: &arrow::array::StructArray,
    valid: &Option<NullBuffer>,
    row_of: RowOf,
) -> Result<()> {
    let Some(nulls) = entries.column(1).logical_nulls() else {
        return Ok(());
    };
    match (0..entries.len()).find(|j| nulls.is_null(*j) && is_valid(valid, *j)) {
        None => Ok(()),
        Some(j) => {
            let key = arrow::util::display::array_value_to_string(entries.column(0), j)
                .unwrap_or_else(|_| "?".into());
            Err(conversion(
                table,
                format!(
                    "column '{path}', row {}: the value of key '{key}' is NULL; a Zerobus map cannot \
                     carry NULL values (the table would store the type's default instead): drop the \
                     entry or give it a value",
                    row_of(j)
                ),
            ))
        }
    }
}

fn bind_scalar(
    table: &str,
    path: &str,
    number: u32,
    (s, rule): (Scalar, Rule),
    array: &ArrayRef,
    valid: Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    Ok(match s {
        Scalar::Int32 | Scalar::Int64 | Scalar::Bool => {
            let vals = int_values(table, path, array, rule, &valid, row_of)?;
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
        Scalar::String | Scalar::Bytes => {
            let src = match rule {
                Rule::Decimal(precision, scale) => ByteSource::Utf8(decimal_text(
                    table, path, array, precision, scale, &valid, row_of,
                )?),
                _ => byte_source(table, path, array)?,
            };
            if rule == Rule::Json {
                check_json(table, path, array.len(), |i| src.value(i), &valid, row_of)?;
            }
            Node::Bytes {
                tag: tag(number, LEN),
                src,
                valid,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use arrow::array::{Date32Array, Decimal128Array, MapArray, StringArray as Strs};
    use arrow::array::{Int32Array, Int64Array, ListArray, UInt64Array};
    use arrow::array::{TimestampNanosecondArray, TimestampSecondArray};
    use arrow::datatypes::{Field, Int32Type as I32, Schema};
    use databricks_zerobus_ingest_sdk::schema::UcColumn;

    /// A UC table `main.default.t` of (name, type_name, type_text, type_json) columns.
    fn uc_table(cols: &[(&str, &str, &str, &str)]) -> TableSchema {
        let columns: Vec<UcColumn> = cols
            .iter()
            .enumerate()
            .map(|(i, (name, type_name, type_text, type_json))| UcColumn {
                name: name.to_string(),
                type_name: type_name.to_string(),
                type_text: type_text.to_string(),
                type_json: type_json.to_string(),
                nullable: true,
                position: i as i32,
            })
            .collect();
        TableSchema::from_uc("main.default.t", &columns).unwrap()
    }

    fn one_column(name: &str, array: ArrayRef) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            name,
            array.data_type().clone(),
            true,
        )]));
        RecordBatch::try_new(schema, vec![array]).unwrap()
    }

    fn encode_err(table: &TableSchema, batch: &RecordBatch) -> String {
        match RowEncoder::new(table, &batch.schema()) {
            Err(e) => e.to_string(),
            Ok(mut enc) => enc.encode_batch(batch).unwrap_err().to_string(),
        }
    }

    #[test]
    fn a_date_into_a_timestamp_is_midnight_in_microseconds_never_days() {
        let table = uc_table(&[("ts", "TIMESTAMP", "timestamp", "")]);
        // 2024-06-01 is day 19875.
        let batch = one_column("ts", Arc::new(Date32Array::from(vec![19875])));
        let mut enc = RowEncoder::new(&table, &batch.schema()).unwrap();
        let rows = enc.encode_batch(&batch).unwrap();
        let mut want = vec![0x08];
        let (mut buf, mut at) = ([0u8; 10], 0);
        put_varint(&mut buf, &mut at, (19875i64 * 86_400_000_000) as u64);
        want.extend_from_slice(&buf[..at]);
        assert_eq!(rows.row(0), want.as_slice());
        // The other way has no exact answer: refused when planned.
        let table = uc_table(&[("d", "DATE", "date", "")]);
        let batch = one_column(
            "d",
            Arc::new(TimestampSecondArray::from(vec![60]).with_timezone("UTC")),
        );
        let e = encode_err(&table, &batch);
        assert!(e.contains("column 'd'") && e.contains("DATE column"), "{e}");
        // Sub-microsecond digits are refused, not dropped; zones must match the column.
        let table = uc_table(&[("ts", "TIMESTAMP", "timestamp", "")]);
        let batch = one_column(
            "ts",
            Arc::new(TimestampNanosecondArray::from(vec![1_000, 1_001]).with_timezone("UTC")),
        );
        let e = encode_err(&table, &batch);
        assert!(
            e.contains("column 'ts', row 1:") && e.contains("below a microsecond"),
            "{e}"
        );
        let batch = one_column("ts", Arc::new(TimestampSecondArray::from(vec![1])));
        let e = encode_err(&table, &batch);
        assert!(e.contains("without time zone"), "{e}");
    }

    #[test]
    fn null_map_values_are_refused_naming_row_and_key() {
        let table = uc_table(&[(
            "m",
            "MAP",
            "map<string,int>",
            r#"{"type":"map","keyType":"string","valueType":"integer","valueContainsNull":true}"#,
        )]);
        let keys = Strs::from(vec!["a", "b", "c"]);
        let values = Int32Array::from(vec![Some(1), Some(2), None]);
        let entries = arrow::array::StructArray::from(vec![
            (
                Arc::new(Field::new("keys", DataType::Utf8, false)),
                Arc::new(keys) as ArrayRef,
            ),
            (
                Arc::new(Field::new("values", DataType::Int32, true)),
                Arc::new(values) as ArrayRef,
            ),
        ]);
        let map = MapArray::try_new(
            Arc::new(Field::new("entries", entries.data_type().clone(), false)),
            arrow::buffer::OffsetBuffer::from_lengths([1, 2]),
            entries,
            None,
            false,
        )
        .unwrap();
        let batch = one_column("m", Arc::new(map));
        let e = encode_err(&table, &batch);
        assert!(
            e.contains("column 'm', row 1: the value of key 'c' is NULL"),
            "{e}"
        );
    }

    #[test]
    fn small_integers_decimals_and_variants_are_checked_against_the_column() {
        let table = uc_table(&[("s", "SMALLINT", "smallint", "")]);
        let batch = one_column("s", Arc::new(Int64Array::from(vec![5, 40_000])));
        let e = encode_err(&table, &batch);
        assert!(
            e.contains("column 's', row 1: value 40000 does not fit the table's SMALLINT"),
            "{e}"
        );

        let table = uc_table(&[("d", "DECIMAL", "decimal(10,2)", "")]);
        let dec = |v: Vec<i128>, p: u8, s: i8| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(p, s)
                    .unwrap(),
            )
        };
        // 1.2300 has zeros past the scale: exact; 1.2345 is not.
        let ok = one_column("d", dec(vec![12300, -500], 12, 4));
        let mut enc = RowEncoder::new(&table, &ok.schema()).unwrap();
        let rows = enc.encode_batch(&ok).unwrap();
        assert_eq!(&rows.row(0)[2..], b"1.23");
        assert_eq!(&rows.row(1)[2..], b"-0.05");
        let e = encode_err(&table, &one_column("d", dec(vec![12300, 12345], 12, 4)));
        assert!(
            e.contains("column 'd', row 1: 1.2345 has more than 2 digits after the point"),
            "{e}"
        );
        // 99999999.99 fits DECIMAL(10,2); 100000000.00 does not.
        let e = encode_err(
            &table,
            &one_column("d", dec(vec![9_999_999_999, 10_000_000_000], 38, 2)),
        );
        assert!(
            e.contains("column 'd', row 1: 100000000.00 has 9 integer digits; the table's DECIMAL(10,2) holds 8"),
            "{e}"
        );

        let table = uc_table(&[("v", "VARIANT", "variant", "")]);
        let e = encode_err(
            &table,
            &one_column("v", Arc::new(Strs::from(vec!["{\"a\": 1}", "not json"]))),
        );
        assert!(
            e.contains("column 'v', row 1: VARIANT values are JSON text"),
            "{e}"
        );
    }

    #[test]
    fn columns_differing_only_in_case_are_refused() {
        let table = uc_table(&[("id", "BIGINT", "bigint", "")]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ID", DataType::Int64, true),
        ]));
        let e = RowEncoder::new(&table, &schema).unwrap_err().to_string();
        assert!(
            e.contains("columns 'id' and 'ID' both name the table's column 'id'"),
            "{e}"
        );
    }

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
        let d = TableSchema::from_arrow("main.default.t", &schema).unwrap();
        let err = RowEncoder::new(&d, &schema)
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
        let d = TableSchema::from_arrow("t", &schema).unwrap();
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
        let mut enc = RowEncoder::new(&d, &schema).unwrap();
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
        let d = TableSchema::from_arrow("t", &table_schema).unwrap();
        let batch_schema = Arc::new(Schema::new(vec![
            Field::new("ID", DataType::Int64, true),
            Field::new("n", DataType::Utf8, true),
            Field::new("extra", DataType::Int32, true),
        ]));
        let err = RowEncoder::new(&d, &batch_schema).unwrap_err().to_string();
        assert!(
            err.contains("column 'n' of Arrow type Utf8")
                && err.contains("column 'extra' is not a column"),
            "{err}"
        );

        let s = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
        let err = RowEncoder::new(&d, &s).unwrap_err().to_string();
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
        let err = RowEncoder::new(&d, &s)
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
        let err = RowEncoder::new(&d, &s)
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

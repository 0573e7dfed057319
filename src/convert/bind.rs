//! Binding: a batch's arrays to the [`Node`]s that encode them, following the plan made
//! for the batch's schema. Values are converted here (ranges, dates, decimals, JSON) and
//! refused naming the column and the row; list and map layouts become row ranges.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, OffsetSizeTrait};
use arrow::buffer::NullBuffer;
use arrow::datatypes::{DataType, Float32Type, Float64Type};

use super::node::{ByteSource, Node, Packed};
use super::plan::{FieldPlan, Rule, Scalar, Target};
use super::values::{check_json, conversion, decimal_text, int_values, is_valid, RowOf};
use super::wire::{tag, FIXED32, FIXED64, LEN, VARINT};
use crate::error::Result;

pub(super) fn cast(table: &str, path: &str, array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
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
pub(super) fn normalize(table: &str, path: &str, array: &ArrayRef) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Dictionary(_, v) => {
            let v = (**v).clone();
            normalize(table, path, &cast(table, path, array, &v)?)
        }
        DataType::Float16 => cast(table, path, array, &DataType::Float32),
        _ => Ok(array.clone()),
    }
}

pub(super) fn byte_source(table: &str, path: &str, array: &ArrayRef) -> Result<ByteSource> {
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
pub(super) fn list_ranges(array: &ArrayRef) -> Option<(Vec<(usize, usize)>, ArrayRef)> {
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
pub(super) fn element_validity(
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

/// A field's array with plain types (see [`normalize`]) and its validity (its own nulls
/// and its parent's), refused when the field is NOT NULL and a row under a valid parent is
/// null.
pub(super) fn checked_field(
    table: &str,
    plan: &FieldPlan,
    array: &ArrayRef,
    parent: Option<&NullBuffer>,
    row_of: RowOf,
) -> Result<(ArrayRef, Option<NullBuffer>)> {
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
    Ok((array, valid))
}

pub(super) fn bind(
    table: &str,
    plan: &FieldPlan,
    array: &ArrayRef,
    parent: Option<&NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    let (array, valid) = checked_field(table, plan, array, parent, row_of)?;
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
    match target {
        Target::Scalar(s, rule) => {
            bind_scalar(table, path, number, (*s, *rule), array, valid, row_of)
        }
        Target::Message(fields) => bind_struct(table, path, number, fields, array, valid, row_of),
        Target::Repeated(elem) => bind_list(table, path, number, elem, array, valid, row_of),
        Target::Map(key, value) => bind_map(
            table,
            path,
            number,
            (*key, value.as_ref()),
            array,
            valid,
            row_of,
        ),
    }
}

/// The batch row of element `j` of a list-like column whose rows hold `ranges`.
pub(super) fn row_of_element<'a>(
    ranges: &'a [(usize, usize)],
    row_of: RowOf<'a>,
) -> impl Fn(usize) -> usize + 'a {
    move |j| {
        row_of(
            ranges
                .partition_point(|r| r.1 <= j)
                .min(ranges.len().saturating_sub(1)),
        )
    }
}

fn bind_struct(
    table: &str,
    path: &str,
    number: u32,
    fields: &[FieldPlan],
    array: &ArrayRef,
    valid: Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    let st = array
        .as_struct_opt()
        .ok_or_else(|| conversion(table, format!("column '{path}' is not a struct")))?;
    let mut children = Vec::with_capacity(fields.len());
    for f in fields {
        children.push(bind(table, f, st.column(f.index), valid.as_ref(), row_of)?);
    }
    Ok(Node::Message {
        tag: tag(number, LEN),
        children,
        valid,
        inner: Vec::new(),
    })
}

/// ARRAY: numeric elements packed, others as repeated fields.
fn bind_list(
    table: &str,
    path: &str,
    number: u32,
    elem: &Target,
    array: &ArrayRef,
    valid: Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    let (ranges, values) = list_ranges(array)
        .ok_or_else(|| conversion(table, format!("column '{path}' is not a list")))?;
    let values = normalize(table, path, &values)?;
    let elem_valid = element_validity(table, path, &ranges, &valid, &values, row_of)?;
    // The elements, bound while `find_row` borrows the ranges; the node then takes them.
    let elements = {
        let find_row = row_of_element(&ranges, row_of);
        bind_elements(table, path, number, elem, &values, elem_valid, &find_row)?
    };
    Ok(match elements {
        Elements::Packed(vals) => Node::Packed {
            tag: tag(number, LEN),
            ranges,
            valid,
            vals,
            payload: Vec::new(),
        },
        Elements::Each(elem) => Node::Repeated {
            ranges,
            n_elems: values.len(),
            valid,
            elem: Box::new(elem),
            elem_sizes: Vec::new(),
            elem_cursors: Vec::new(),
        },
    })
}

/// A list's elements, bound.
enum Elements {
    /// Numbers, written packed.
    Packed(Packed),
    /// Anything else: one node over every element.
    Each(Node),
}

fn bind_elements(
    table: &str,
    path: &str,
    number: u32,
    elem: &Target,
    values: &ArrayRef,
    elem_valid: Option<NullBuffer>,
    find_row: RowOf,
) -> Result<Elements> {
    Ok(match elem {
        Target::Scalar(Scalar::Int32 | Scalar::Int64 | Scalar::Bool, rule) => {
            Elements::Packed(Packed::Varint(int_values(
                table,
                path,
                values,
                *rule,
                &elem_valid,
                find_row,
            )?))
        }
        Target::Scalar(s @ (Scalar::Float | Scalar::Double), _) => {
            Elements::Packed(match (s, values.data_type()) {
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
            })
        }
        other => Elements::Each(bind_value(
            table, path, number, other, values, elem_valid, find_row,
        )?),
    })
}

/// MAP: repeated entry messages (key = field 1, value = field 2).
fn bind_map(
    table: &str,
    path: &str,
    number: u32,
    (key, value): ((Scalar, Rule), &Target),
    array: &ArrayRef,
    valid: Option<NullBuffer>,
    row_of: RowOf,
) -> Result<Node> {
    let (ranges, entries) = list_ranges(array)
        .ok_or_else(|| conversion(table, format!("column '{path}' is not a map")))?;
    let elem_valid = element_validity(table, path, &ranges, &valid, &entries, row_of)?;
    let st = entries.as_struct();
    // The entries, bound while `find_row` borrows the ranges; the node then takes them.
    let children = {
        let find_row = row_of_element(&ranges, row_of);
        refuse_null_map_values(table, path, st, &elem_valid, &find_row)?;
        let entry = |index: usize, name: &str, number: u32, target: Target| {
            let plan = FieldPlan {
                index,
                path: format!("{path}.{name}"),
                number,
                required: false,
                target,
                column: None,
            };
            bind(
                table,
                &plan,
                st.column(index),
                elem_valid.as_ref(),
                &find_row,
            )
        };
        vec![
            entry(0, "key", 1, Target::Scalar(key.0, key.1))?,
            entry(1, "value", 2, value.clone())?,
        ]
    };
    let entry = Node::Message {
        tag: tag(number, LEN),
        children,
        valid: elem_valid,
        inner: Vec::new(),
    };
    Ok(Node::Repeated {
        ranges,
        n_elems: entries.len(),
        valid,
        elem: Box::new(entry),
        elem_sizes: Vec::new(),
        elem_cursors: Vec::new(),
    })
}

/// Refuse a NULL ARRAY or MAP (under a valid parent) among `plans` over `columns`:
/// protobuf's repeated fields cannot say NULL, so it would land as an empty one. Struct
/// fields are searched too; collections inside collections are elements, refused as
/// such when NULL (see [`element_validity`], [`refuse_null_map_values`]).
pub(super) fn refuse_null_collections(
    table: &str,
    plans: &[FieldPlan],
    columns: &[ArrayRef],
    parent: Option<&NullBuffer>,
) -> Result<()> {
    for plan in plans {
        let Some(array) = columns.get(plan.index) else {
            continue;
        };
        // Scalars hold no collection: nothing to look at (the encoder's hot path).
        if matches!(plan.target, Target::Scalar(..)) {
            continue;
        }
        let own = array.logical_nulls();
        match &plan.target {
            Target::Repeated(_) | Target::Map(..) => {
                let Some(own) = own else { continue };
                let row = (0..array.len())
                    .find(|&i| own.is_null(i) && parent.is_none_or(|p| p.is_valid(i)));
                if let Some(row) = row {
                    let what = if matches!(plan.target, Target::Map(..)) {
                        "MAP"
                    } else {
                        "ARRAY"
                    };
                    return Err(conversion(
                        table,
                        format!(
                            "column '{}', row {row}: the {what} is NULL, which the proto transport \
                             cannot carry (it would land as an empty {what}); COALESCE it in the \
                             query, use the flight transport (which carries NULL), or set \
                             null_collections 'empty' to send it empty",
                            plan.path
                        ),
                    ));
                }
            }
            Target::Message(fields) => {
                if let Some(st) = array.as_struct_opt() {
                    let valid = NullBuffer::union(own.as_ref(), parent);
                    refuse_null_collections(table, fields, st.columns(), valid.as_ref())?;
                }
            }
            Target::Scalar(..) => {}
        }
    }
    Ok(())
}

/// A NULL map value cannot travel: the map entry's value field would be absent, which
/// protobuf (and so the service) reads as the type's default (0, "", false).
pub(super) fn refuse_null_map_values(
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

//! The one walk over a batch's arrays that both encoders share.
//!
//! It follows the plan made for the batch's schema ([`super::plan`]) field by field and
//! does everything that does not depend on the transport: dictionaries unpacked, NOT NULL
//! checked, validity carried down from enclosing structs, list and map layouts (offsets,
//! list views, fixed-size lists) turned into one form with the elements of null rows left
//! out, null elements and NULL map values refused, and the batch row of every nested
//! element kept for messages. An encoder says what it makes of each checked piece, from
//! the leaves up ([`Build`]): the protobuf encoder [`super::node::Node`]s, the Flight
//! encoder the table's Arrow arrays. A refusal made here has one wording on both
//! transports.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, OffsetSizeTrait, StructArray, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::datatypes::DataType;

use super::plan::{FieldPlan, Rule, Scalar, Target};
use super::sql_type::{SqlField, SqlType};
use super::values::{conversion, is_valid, At, RowOf};
use crate::error::Result;

/// The rows of an ARRAY or MAP column: row `i` holds elements
/// `offsets[i]..offsets[i + 1]`; a null row (`valid`) holds none.
pub(super) struct Rows {
    pub offsets: Vec<usize>,
    pub valid: Option<NullBuffer>,
}

impl Rows {
    /// The number of elements of all rows.
    pub fn elements(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }
}

/// What an encoder makes of the pieces the walk has checked, from the leaves up. The
/// table type (`ty`) is `None` where the table declares none (a descriptor-only field).
pub(super) trait Build {
    type Out;

    /// A scalar column: `array` has a plain type (no dictionary, no Float16); `valid` is
    /// its validity with every enclosing null.
    fn scalar(
        &self,
        at: &At,
        scalar: (Scalar, Rule),
        ty: Option<&SqlType>,
        array: &ArrayRef,
        valid: Option<NullBuffer>,
    ) -> Result<Self::Out>;

    /// A struct column: its fields, in the batch's order, with the plans they came from.
    fn message(
        &self,
        at: &At,
        fields: Option<&[SqlField]>,
        children: Vec<(&FieldPlan, Self::Out)>,
        valid: Option<NullBuffer>,
        len: usize,
    ) -> Result<Self::Out>;

    /// An ARRAY column: its rows and every element of its valid rows, in row order.
    fn list(
        &self,
        at: &At,
        elem: Option<&SqlType>,
        rows: Rows,
        elements: Self::Out,
    ) -> Result<Self::Out>;

    /// A MAP column: its rows and the keys and values of its valid rows' entries.
    fn map(
        &self,
        at: &At,
        types: (Option<&SqlType>, Option<&SqlType>),
        rows: Rows,
        keys: Self::Out,
        values: Self::Out,
    ) -> Result<Self::Out>;
}

/// The walk of one batch for one encoder.
pub(super) struct Walk<'a, B> {
    pub table: &'a str,
    pub build: &'a B,
    /// Refuse a NULL ARRAY or MAP (the protobuf transport cannot say NULL for them and
    /// would land an empty one); the Flight transport carries NULL.
    pub refuse_null_collections: bool,
}

impl<B: Build> Walk<'_, B> {
    /// The fields `plans` over `arrays` (a batch's columns or a struct's children), each
    /// built; `types` are the table's declared fields at this level.
    pub fn fields<'p>(
        &self,
        plans: &'p [FieldPlan],
        types: Option<&[SqlField]>,
        arrays: &[ArrayRef],
        parent: Option<&NullBuffer>,
        row_of: RowOf,
    ) -> Result<Vec<(&'p FieldPlan, B::Out)>> {
        let mut out = Vec::with_capacity(plans.len());
        for plan in plans {
            let ty = types
                .zip(plan.column)
                .and_then(|(t, c)| t.get(c))
                .map(|f| &f.ty);
            let array = arrays.get(plan.index).ok_or_else(|| {
                conversion(self.table, format!("column '{}' is missing", plan.path))
            })?;
            let at = At {
                table: self.table,
                path: &plan.path,
                number: plan.number,
                row_of,
            };
            let (array, valid) = checked_field(&at, plan.required, array, parent)?;
            out.push((
                plan,
                self.value(&at, &plan.target, ty, &array, valid, parent)?,
            ));
        }
        Ok(out)
    }

    fn value(
        &self,
        at: &At,
        target: &Target,
        ty: Option<&SqlType>,
        array: &ArrayRef,
        valid: Option<NullBuffer>,
        parent: Option<&NullBuffer>,
    ) -> Result<B::Out> {
        match target {
            Target::Scalar(s, rule) => self.build.scalar(at, (*s, *rule), ty, array, valid),
            Target::Message(plans) => {
                let st = array
                    .as_struct_opt()
                    .ok_or_else(|| at.error("not a struct"))?;
                let types = match ty {
                    Some(SqlType::Struct(fields)) => Some(fields.as_slice()),
                    _ => None,
                };
                let children =
                    self.fields(plans, types, st.columns(), valid.as_ref(), at.row_of)?;
                self.build.message(at, types, children, valid, st.len())
            }
            Target::Repeated(elem) => {
                self.refuse_null(at, "ARRAY", array, parent)?;
                self.list(at, elem, ty, array, valid)
            }
            Target::Map(key, value) => {
                self.refuse_null(at, "MAP", array, parent)?;
                self.map(at, (*key, value), ty, array, valid)
            }
        }
    }

    fn list(
        &self,
        at: &At,
        elem: &Target,
        ty: Option<&SqlType>,
        array: &ArrayRef,
        valid: Option<NullBuffer>,
    ) -> Result<B::Out> {
        let (rows, values) = collection(at, array, valid, false)?;
        let elem_ty = match ty {
            Some(SqlType::Array(e)) => Some(e.as_ref()),
            _ => None,
        };
        // The elements, walked while `find_row` borrows the offsets; the rows then go.
        let elements = {
            let find_row = row_of_element(&rows.offsets, at.row_of);
            let elem_at = At {
                row_of: &find_row,
                ..*at
            };
            self.value(&elem_at, elem, elem_ty, &values, None, None)?
        };
        self.build.list(at, elem_ty, rows, elements)
    }

    fn map(
        &self,
        at: &At,
        (key, value): ((Scalar, Rule), &Target),
        ty: Option<&SqlType>,
        array: &ArrayRef,
        valid: Option<NullBuffer>,
    ) -> Result<B::Out> {
        let (rows, entries) = collection(at, array, valid, true)?;
        let types = match ty {
            Some(SqlType::Map(k, v)) => (Some(k.as_ref()), Some(v.as_ref())),
            _ => (None, None),
        };
        let st = entries.as_struct();
        let (key_path, value_path) = (format!("{}.key", at.path), format!("{}.value", at.path));
        // Keys and values, walked while `find_row` borrows the offsets; the rows then go.
        let (keys, values) = {
            let find_row = row_of_element(&rows.offsets, at.row_of);
            let key_at = At {
                path: &key_path,
                number: 1,
                row_of: &find_row,
                ..*at
            };
            let (keys, key_valid) = checked_field(&key_at, false, st.column(0), None)?;
            let keys = self.build.scalar(&key_at, key, types.0, &keys, key_valid)?;
            let value_at = At {
                path: &value_path,
                number: 2,
                ..key_at
            };
            let (values, value_valid) = checked_field(&value_at, false, st.column(1), None)?;
            let values = self.value(&value_at, value, types.1, &values, value_valid, None)?;
            (keys, values)
        };
        self.build.map(at, types, rows, keys, values)
    }

    /// A NULL ARRAY or MAP under a valid parent, refused when the encoder asks for it.
    fn refuse_null(
        &self,
        at: &At,
        what: &str,
        array: &ArrayRef,
        parent: Option<&NullBuffer>,
    ) -> Result<()> {
        if !self.refuse_null_collections {
            return Ok(());
        }
        let Some(own) = array.logical_nulls() else {
            return Ok(());
        };
        match (0..array.len()).find(|&i| own.is_null(i) && parent.is_none_or(|p| p.is_valid(i))) {
            None => Ok(()),
            Some(i) => Err(conversion(
                at.table,
                format!(
                    "column '{}', row {}: the {what} is NULL, which the proto transport cannot \
                     carry (it would land as an empty {what}); COALESCE it in the query, use \
                     the flight transport (which carries NULL), or set null_collections 'empty' \
                     to send it empty",
                    at.path,
                    (at.row_of)(i)
                ),
            )),
        }
    }
}

/// `array` converted to `to`, or an error naming the column.
pub(super) fn cast(at: &At, array: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    arrow::compute::cast(array, to)
        .map_err(|e| at.error(format!("cannot convert {} to {to}: {e}", array.data_type())))
}

/// The array with dictionaries unpacked and Float16 widened, so encoders see plain types.
fn normalize(at: &At, array: &ArrayRef) -> Result<ArrayRef> {
    match array.data_type() {
        DataType::Dictionary(_, v) => {
            let v = (**v).clone();
            normalize(at, &cast(at, array, &v)?)
        }
        DataType::Float16 => cast(at, array, &DataType::Float32),
        _ => Ok(array.clone()),
    }
}

/// A field's array with plain types (see [`normalize`]) and its validity (its own nulls
/// and its parent's), refused when the field is NOT NULL and a row under a valid parent is
/// null.
fn checked_field(
    at: &At,
    required: bool,
    array: &ArrayRef,
    parent: Option<&NullBuffer>,
) -> Result<(ArrayRef, Option<NullBuffer>)> {
    let array = normalize(at, array)?;
    let own = array.logical_nulls();
    if required {
        if let Some(own) = &own {
            if let Some(i) =
                (0..array.len()).find(|i| own.is_null(*i) && parent.is_none_or(|p| p.is_valid(*i)))
            {
                return Err(conversion(
                    at.table,
                    format!(
                        "column '{}' is NOT NULL in the table but row {} is null",
                        at.path,
                        (at.row_of)(i)
                    ),
                ));
            }
        }
    }
    let valid = NullBuffer::union(own.as_ref(), parent);
    Ok((array, valid))
}

/// The batch row of element `j` of a collection whose rows hold `offsets`.
fn row_of_element<'a>(offsets: &'a [usize], row_of: RowOf<'a>) -> impl Fn(usize) -> usize + 'a {
    let rows = offsets.len().saturating_sub(1);
    move |j| {
        row_of(
            offsets[1..]
                .partition_point(|end| *end <= j)
                .min(rows.saturating_sub(1)),
        )
    }
}

/// The rows and elements of a list or map column, with the elements of null rows left
/// out (a null row is empty), after the checks: no null element in a valid row, no NULL
/// map value. The elements are copied only when the rows do not already lie end to end.
fn collection(
    at: &At,
    array: &ArrayRef,
    valid: Option<NullBuffer>,
    map: bool,
) -> Result<(Rows, ArrayRef)> {
    let (ranges, values) =
        list_ranges(array).ok_or_else(|| at.error(if map { "not a map" } else { "not a list" }))?;
    let values = normalize(at, &values)?;
    refuse_null_elements(at, &ranges, &valid, &values)?;
    if map {
        refuse_null_map_values(at, &ranges, &valid, values.as_struct())?;
    }
    let mut offsets = Vec::with_capacity(ranges.len() + 1);
    offsets.push(0);
    let mut end_to_end = true;
    let mut next = 0;
    for (i, (s, e)) in ranges.iter().enumerate() {
        let keep = is_valid(&valid, i);
        if keep {
            end_to_end &= *s == next;
            next += e - s;
        }
        offsets.push(next);
    }
    let values = if end_to_end && next == values.len() {
        values
    } else {
        let keep = ranges
            .iter()
            .enumerate()
            .filter(|(i, _)| is_valid(&valid, *i))
            .flat_map(|(_, (s, e))| *s..*e)
            .map(|j| {
                u32::try_from(j).map_err(|_| {
                    at.error("more than 2^32 elements in one batch; send smaller batches")
                })
            })
            .collect::<Result<Vec<u32>>>()?;
        arrow::compute::take(&values, &UInt32Array::from(keep), None).map_err(|e| at.error(e))?
    };
    Ok((Rows { offsets, valid }, values))
}

/// Null elements in valid rows are refused: Zerobus arrays cannot hold nulls.
fn refuse_null_elements(
    at: &At,
    ranges: &[(usize, usize)],
    valid: &Option<NullBuffer>,
    values: &ArrayRef,
) -> Result<()> {
    let Some(own) = values.logical_nulls() else {
        return Ok(());
    };
    for (i, (s, e)) in ranges.iter().enumerate() {
        if !is_valid(valid, i) {
            continue;
        }
        if let Some(k) = (*s..*e).position(|j| own.is_null(j)) {
            return Err(conversion(
                at.table,
                format!(
                    "column '{}', row {}: list element {k} is null; Zerobus arrays cannot hold nulls",
                    at.path,
                    (at.row_of)(i)
                ),
            ));
        }
    }
    Ok(())
}

/// A NULL map value cannot travel: the map entry's value field would be absent, which
/// protobuf (and so the service) reads as the type's default (0, "", false).
fn refuse_null_map_values(
    at: &At,
    ranges: &[(usize, usize)],
    valid: &Option<NullBuffer>,
    entries: &StructArray,
) -> Result<()> {
    let Some(nulls) = entries.column(1).logical_nulls() else {
        return Ok(());
    };
    for (i, (s, e)) in ranges.iter().enumerate() {
        if !is_valid(valid, i) {
            continue;
        }
        if let Some(j) = (*s..*e).find(|j| nulls.is_null(*j)) {
            let key = arrow::util::display::array_value_to_string(entries.column(0), j)
                .unwrap_or_else(|_| "?".into());
            return Err(conversion(
                at.table,
                format!(
                    "column '{}', row {}: the value of key '{key}' is NULL; a Zerobus map cannot \
                     carry NULL values (the table would store the type's default instead): drop \
                     the entry or give it a value",
                    at.path,
                    (at.row_of)(i)
                ),
            ));
        }
    }
    Ok(())
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

//! The bytes each row of an Arrow batch holds, over every column and every nesting level:
//! what the Flight transport checks against the service's message limit before anything
//! is sent (the protobuf transport measures its encoded records instead).

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use arrow::datatypes::DataType;

/// The value bytes of each row of `batch`: text and binary lengths, fixed-width values,
/// list offsets, and the same inside lists, maps and structs (a row's share of a nested
/// column is its elements' bytes). Validity bits are left out. A lower bound of the row's
/// size in an Arrow IPC message, close to it for large rows.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{ArrayRef, Int64Array, ListArray, RecordBatch, StringArray};
/// use arrow::datatypes::Int32Type;
/// use arrow_zerobus_sdk_wrapper::convert::row_bytes;
///
/// let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
/// let lists: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
///     Some(vec![Some(1), Some(2), Some(3)]),
///     None,
/// ]));
/// let batch = RecordBatch::try_from_iter([("id", ids), ("xs", lists)]).unwrap();
/// // row 0: 8 (id) + 4 (offset) + 3 × 4 (items); row 1: 8 + 4
/// assert_eq!(row_bytes(&batch), vec![24, 12]);
/// ```
pub fn row_bytes(batch: &RecordBatch) -> Vec<usize> {
    let mut sizes = vec![0; batch.num_rows()];
    for column in batch.columns() {
        add_row_bytes(column, &mut sizes);
    }
    sizes
}

/// Add the bytes of each element of `array` to `sizes` (one entry per element).
fn add_row_bytes(array: &ArrayRef, sizes: &mut [usize]) {
    match array.data_type() {
        DataType::Utf8 => add_lengths(array.as_string::<i32>().value_offsets(), 4, sizes),
        DataType::LargeUtf8 => add_lengths(array.as_string::<i64>().value_offsets(), 8, sizes),
        DataType::Binary => add_lengths(array.as_binary::<i32>().value_offsets(), 4, sizes),
        DataType::LargeBinary => add_lengths(array.as_binary::<i64>().value_offsets(), 8, sizes),
        DataType::Utf8View => {
            for (size, s) in sizes.iter_mut().zip(array.as_string_view().iter()) {
                *size += 16 + s.map_or(0, str::len);
            }
        }
        DataType::BinaryView => {
            for (size, b) in sizes.iter_mut().zip(array.as_binary_view().iter()) {
                *size += 16 + b.map_or(0, <[u8]>::len);
            }
        }
        DataType::List(_) => {
            let list = array.as_list::<i32>();
            add_children(list.values(), list.value_offsets(), 4, sizes);
        }
        DataType::LargeList(_) => {
            let list = array.as_list::<i64>();
            add_children(list.values(), list.value_offsets(), 8, sizes);
        }
        DataType::Map(..) => {
            let map = array.as_map();
            let entries: ArrayRef = std::sync::Arc::new(map.entries().clone());
            add_children(&entries, map.value_offsets(), 4, sizes);
        }
        DataType::Struct(_) => {
            for child in array.as_struct().columns() {
                add_row_bytes(child, sizes);
            }
        }
        DataType::FixedSizeList(_, n) => {
            let list = array.as_fixed_size_list();
            let n = *n as usize;
            let offsets: Vec<usize> = (0..=list.len()).map(|i| (list.offset() + i) * n).collect();
            add_children(list.values(), &offsets, 0, sizes);
        }
        other => {
            let width = other.primitive_width().unwrap_or(0);
            for size in sizes.iter_mut() {
                *size += width;
            }
        }
    }
}

/// Add each element's value length (from `offsets`) plus the offset's own width.
fn add_lengths<O: Copy + TryInto<usize>>(offsets: &[O], width: usize, sizes: &mut [usize]) {
    for (size, w) in sizes.iter_mut().zip(offsets.windows(2)) {
        *size += width + span(w[0], w[1]);
    }
}

/// Add, to each element of a list-like array, the bytes of its children
/// `offsets[i]..offsets[i + 1]` of `values`, plus the offset's own width.
fn add_children<O: Copy + TryInto<usize>>(
    values: &ArrayRef,
    offsets: &[O],
    width: usize,
    sizes: &mut [usize],
) {
    let mut children = vec![0; values.len()];
    add_row_bytes(values, &mut children);
    // prefix[i] = bytes of children 0..i
    let mut prefix = Vec::with_capacity(children.len() + 1);
    prefix.push(0usize);
    let mut total = 0usize;
    for c in children {
        total = total.saturating_add(c);
        prefix.push(total);
    }
    let at = |o: O| -> usize {
        let i: usize = o.try_into().unwrap_or(0);
        prefix[i.min(prefix.len() - 1)]
    };
    for (size, w) in sizes.iter_mut().zip(offsets.windows(2)) {
        *size += width + at(w[1]).saturating_sub(at(w[0]));
    }
}

fn span<O: Copy + TryInto<usize>>(start: O, end: O) -> usize {
    let (s, e): (usize, usize) = (start.try_into().unwrap_or(0), end.try_into().unwrap_or(0));
    e.saturating_sub(s)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        Int32Array, LargeStringArray, ListArray, MapBuilder, StringBuilder, StructArray,
    };
    use arrow::buffer::OffsetBuffer;
    use arrow::datatypes::{Field, Int32Type};

    use super::*;

    fn batch(columns: Vec<(&str, ArrayRef)>) -> RecordBatch {
        RecordBatch::try_from_iter(columns).unwrap()
    }

    #[test]
    fn text_counts_its_bytes_and_offsets() {
        let text: ArrayRef = Arc::new(LargeStringArray::from(vec![Some("abc"), None, Some("")]));
        assert_eq!(row_bytes(&batch(vec![("t", text)])), vec![11, 8, 8]);
    }

    #[test]
    fn a_list_of_strings_counts_each_rows_elements() {
        let strings: ArrayRef = Arc::new(arrow::array::StringArray::from(vec![
            "a", "bb", "ccc", "dddd",
        ]));
        let field = Arc::new(Field::new("item", DataType::Utf8, false));
        let list: ArrayRef = Arc::new(ListArray::new(
            field,
            OffsetBuffer::new(vec![0, 3, 3, 4].into()),
            strings,
            None,
        ));
        // row 0: 4 + (4+1) + (4+2) + (4+3); row 1: 4; row 2: 4 + (4+4)
        assert_eq!(row_bytes(&batch(vec![("l", list)])), vec![22, 4, 12]);
    }

    #[test]
    fn a_sliced_list_counts_only_its_own_rows_elements() {
        let list = ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1); 10]),
            Some(vec![Some(1); 2]),
        ]);
        let sliced: ArrayRef = Arc::new(list.slice(1, 1));
        assert_eq!(row_bytes(&batch(vec![("l", sliced)])), vec![4 + 2 * 4]);
    }

    #[test]
    fn maps_and_structs_add_up_their_children() {
        let mut m = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        m.keys().append_value("k");
        m.values().append_value("vv");
        m.append(true).unwrap();
        m.append(false).unwrap();
        let map: ArrayRef = Arc::new(m.finish());
        let ints: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
        let st: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("x", DataType::Int32, false)),
            ints,
        )]));
        // map row 0: 4 (offset) + (4+1) + (4+2); row 1: 4; struct: 4 each
        assert_eq!(
            row_bytes(&batch(vec![("m", map), ("s", st)])),
            vec![15 + 4, 4 + 4]
        );
    }
}

//! What a send carries, ready to go: protobuf records (transport `proto`) or the batch in
//! the table's Arrow Flight schema (transport `flight`), and how it is cut into requests.

use arrow::array::RecordBatch;

use arrow::array::{make_array, ArrayData, MutableArrayData, RecordBatchOptions};
use arrow::buffer::{BooleanBuffer, Buffer, NullBuffer};

use super::budget::arrow_bytes;
use crate::convert::EncodedRows;

/// Most rows of one Arrow Flight message (as [`CHUNK_ROWS`] caps a protobuf request):
/// a retry resends whole messages, and the service's records-per-second quota is paced
/// per message.
const FLIGHT_PART_ROWS: usize = 20_000;

/// A batch encoded for its transport, checked in full before anything is sent.
#[derive(Debug)]
pub(crate) enum Payload {
    /// One protobuf record per row.
    Proto(EncodedRows),
    /// The batch in the table's Flight schema.
    Flight(RecordBatch),
}

impl Payload {
    /// Rows.
    pub(crate) fn len(&self) -> usize {
        match self {
            Payload::Proto(rows) => rows.len(),
            Payload::Flight(batch) => batch.num_rows(),
        }
    }

    /// Encoded bytes of rows `range`: protobuf bytes, or the Arrow bytes of the Flight
    /// batch's rows (before IPC compression).
    pub(crate) fn bytes(&self, range: (usize, usize)) -> usize {
        match self {
            Payload::Proto(rows) => rows.offsets()[range.1] - rows.offsets()[range.0],
            Payload::Flight(batch) => arrow_bytes(&batch.slice(range.0, range.1 - range.0)),
        }
    }

    /// Rows `range` cut into the requests (protobuf) or messages (Flight) of one send.
    pub(crate) fn parts(&self, range: (usize, usize)) -> Vec<(usize, usize)> {
        match self {
            Payload::Proto(rows) => chunk(rows, range),
            Payload::Flight(batch) => flight_parts(batch, range, FLIGHT_PART_ROWS),
        }
    }
}

/// Target size of one ingest request.
const CHUNK_BYTES: usize = 4 * 1024 * 1024;
/// Most records in one ingest request.
const CHUNK_ROWS: usize = 20_000;

/// Rows `range` of `rows` cut into ingest requests of at most [`CHUNK_BYTES`] bytes and
/// [`CHUNK_ROWS`] rows (a larger record goes alone).
fn chunk(rows: &EncodedRows, range: (usize, usize)) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut start = range.0;
    let mut bytes = 0;
    for i in range.0..range.1 {
        let len = rows.row(i).len();
        if i > start && (bytes + len > CHUNK_BYTES || i - start >= CHUNK_ROWS) {
            out.push((start, i));
            start = i;
            bytes = 0;
        }
        bytes += len;
    }
    if start < range.1 {
        out.push((start, range.1));
    }
    out
}

/// Largest uncompressed Arrow size of one Flight message we send: under the 2 MiB at
/// which the Flight encoder splits a batch (it measures buffer capacity), so that each
/// part of a send is one message and one acknowledgement.
const FLIGHT_PART_BYTES: usize = 1536 * 1024;

/// Rows `range` of `batch` cut into parts of at most [`FLIGHT_PART_BYTES`] (by the average
/// row size of the range) and `max_rows` rows.
fn flight_parts(
    batch: &RecordBatch,
    range: (usize, usize),
    max_rows: usize,
) -> Vec<(usize, usize)> {
    let n = range.1 - range.0;
    if n == 0 {
        return Vec::new();
    }
    let bytes = arrow_bytes(&batch.slice(range.0, n));
    let per_row = bytes.div_ceil(n).max(1);
    let rows = (FLIGHT_PART_BYTES / per_row).clamp(1, max_rows.max(1));
    (range.0..range.1)
        .step_by(rows)
        .map(|s| (s, (s + rows).min(range.1)))
        .collect()
}

/// Rows `range` of `batch`, each column with buffers no larger than its rows need (as the
/// Flight encoder measures them). A slice shares its parent's buffers, and the arrays of
/// a batch read from Arrow IPC all view one body buffer, whose whole size each of them
/// reports: the Flight encoder sizes a batch by that sum, and would split a small part
/// into many tiny messages.
///
/// A column is first given views of its own buffers ([`exact_capacity`], no copy); only
/// a column that is still much larger than its rows (a small part of a large batch) is
/// copied.
pub(super) fn compact_part(batch: &RecordBatch, range: (usize, usize)) -> RecordBatch {
    let part = batch.slice(range.0, range.1 - range.0);
    let columns = part
        .columns()
        .iter()
        .map(|c| {
            let data = c.to_data();
            let used = data.get_slice_memory_size().unwrap_or(0);
            let fits = |size: usize| size <= used + used / 2 + 4096;
            if fits(c.get_buffer_memory_size()) {
                return c.clone();
            }
            let viewed = exact_capacity(&data);
            if fits(viewed.get_buffer_memory_size()) {
                return make_array(viewed);
            }
            let mut copy = MutableArrayData::new(vec![&data], false, c.len());
            match copy.try_extend(0, 0, c.len()) {
                Ok(()) => make_array(copy.freeze()),
                // Offsets of the copy would overflow: the slice goes as it is.
                Err(_) => c.clone(),
            }
        })
        .collect();
    let options = RecordBatchOptions::new().with_row_count(Some(part.num_rows()));
    // Same schema, same lengths: cannot fail; the slice itself is the fallback.
    RecordBatch::try_new_with_options(part.schema(), columns, &options).unwrap_or(part)
}

/// `data` with every buffer (its null bitmap's and its children's too) replaced by a
/// view of the same bytes whose capacity is its length, so that
/// `get_buffer_memory_size` counts what the array views, not the allocation the view is
/// part of. Nothing is copied; the original allocation is kept alive by the views.
fn exact_capacity(data: &ArrayData) -> ArrayData {
    let buffers = data.buffers().iter().map(exact_buffer).collect();
    let children = data.child_data().iter().map(exact_capacity).collect();
    let nulls = data.nulls().map(|n| {
        let bits = n.inner();
        NullBuffer::new(BooleanBuffer::new(
            exact_buffer(bits.inner()),
            bits.offset(),
            bits.len(),
        ))
    });
    let builder = data
        .clone()
        .into_builder()
        .buffers(buffers)
        .child_data(children)
        .nulls(nulls);
    // SAFETY: `data` is valid array data (it comes from an array, whose constructors
    // validate it). The builder keeps its type, length, offset and number of buffers and
    // children; each buffer is replaced by `exact_buffer` of it, which views the same
    // bytes at the same address with the same length (so contents, bounds and alignment
    // are unchanged); the null bitmap views the same bits with the same offset and
    // length, and its null count is counted again by `NullBuffer::new`; each child is
    // this same replacement of a valid child. Validity depends on nothing else (not on
    // a buffer's capacity), so the result is as valid as `data`.
    unsafe { builder.build_unchecked() }
}

/// A view of `buffer`'s bytes whose capacity is its length: the same bytes at the same
/// address, owned by a clone of `buffer` (no copy).
fn exact_buffer(buffer: &Buffer) -> Buffer {
    if buffer.capacity() <= buffer.len() {
        return buffer.clone();
    }
    Buffer::from(bytes::Bytes::from_owner(BufferBytes(buffer.clone())))
}

/// A [`Buffer`] as the owner of a [`bytes::Bytes`].
struct BufferBytes(Buffer);

impl AsRef<[u8]> for BufferBytes {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{ArrayRef, Int64Array, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;
    use crate::convert::{FlightEncoder, TableSchema};

    fn table(fields: Vec<Field>) -> TableSchema {
        TableSchema::from_arrow("main.default.t", &Schema::new(fields)).unwrap()
    }

    /// Record-batch messages the Flight encoder makes of `batch`, as the SDK drives it
    /// (the default 2 MiB split).
    async fn messages(batch: RecordBatch) -> usize {
        use futures::StreamExt;
        arrow_flight::encode::FlightDataEncoderBuilder::new()
            .with_schema(batch.schema())
            .build(futures::stream::iter([Ok(batch)]))
            .filter(|m| std::future::ready(m.as_ref().is_ok_and(|m| !m.data_body.is_empty())))
            .count()
            .await
    }

    /// The Flight encoder (as the SDK drives it: default 2 MiB split) makes ONE message of
    /// each part of a large batch's slice, where the slice itself would become dozens.
    #[tokio::test]
    async fn each_part_of_a_slice_is_one_flight_message() {
        let n = 400_000;
        let t = table(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("body", DataType::Utf8, true),
        ]);
        let ids = Int64Array::from_iter_values(0..n as i64);
        let body = StringArray::from_iter_values((0..n).map(|i| format!("body-{i:08}")));
        let batch = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(ids) as ArrayRef),
            ("body", Arc::new(body) as ArrayRef),
        ])
        .unwrap();
        let sent = FlightEncoder::new(&t, &batch.schema())
            .unwrap()
            .encode_batch(&batch)
            .unwrap();
        let range = (100_000, 160_000);
        let parts = flight_parts(&sent, range, 1_000_000);
        assert!(parts.len() >= 2, "{parts:?}");
        assert_eq!((parts[0].0, parts.last().unwrap().1), range);
        for p in &parts {
            assert_eq!(messages(compact_part(&sent, *p)).await, 1, "part {p:?}");
        }
        let plain_slice = sent.slice(parts[0].0, parts[0].1 - parts[0].0);
        let split = messages(plain_slice).await;
        assert!(
            split > 5,
            "a plain slice is sized by its parent's buffers: {split} messages"
        );
        // Rows cap the parts too.
        let capped = flight_parts(&sent, (0, 50_000), 20_000);
        assert_eq!(
            capped,
            vec![(0, 20_000), (20_000, 40_000), (40_000, 50_000)]
        );
    }

    /// Arrays read from Arrow IPC all view one body buffer. Each part of such a batch
    /// goes as ONE Flight message without a copy: its columns view the same memory.
    #[tokio::test]
    async fn an_ipc_read_batch_goes_in_one_message_without_a_copy() {
        use arrow::array::{Array, ListArray};
        use arrow::datatypes::Int64Type;
        use arrow::ipc::reader::FileReader;
        use arrow::ipc::writer::FileWriter;

        let n = 8192;
        let ids = Int64Array::from_iter_values(0..n as i64);
        let body =
            StringArray::from_iter((0..n).map(|i| (i % 7 != 0).then(|| format!("b-{i:040}"))));
        let lists = ListArray::from_iter_primitive::<Int64Type, _, _>(
            (0..n).map(|i| Some((0..(i % 5) as i64).map(Some).collect::<Vec<_>>())),
        );
        let written = RecordBatch::try_from_iter(vec![
            ("id", Arc::new(ids) as ArrayRef),
            ("body", Arc::new(body) as ArrayRef),
            ("list", Arc::new(lists) as ArrayRef),
        ])
        .unwrap();
        let mut file = Vec::new();
        let mut writer = FileWriter::try_new(&mut file, &written.schema()).unwrap();
        writer.write(&written).unwrap();
        writer.finish().unwrap();
        drop(writer);
        let read = FileReader::try_new(std::io::Cursor::new(file), None)
            .unwrap()
            .next()
            .unwrap()
            .unwrap();
        // The premise: every column reports the whole body, so the encoder would split.
        let reported: usize = read
            .columns()
            .iter()
            .map(|c| c.get_buffer_memory_size())
            .sum();
        assert!(reported > 2 * 1024 * 1024, "{reported}");

        let part = compact_part(&read, (0, n));
        assert_eq!(part, read);
        let values = |b: &RecordBatch, i: usize| b.column(i).to_data().buffers()[0].as_ptr();
        for i in 0..3 {
            assert_eq!(values(&part, i), values(&read, i), "column {i} was copied");
        }
        let nulls = |b: &RecordBatch| b.column(1).nulls().unwrap().buffer().as_ptr();
        assert_eq!(nulls(&part), nulls(&read));
        let sized: usize = part
            .columns()
            .iter()
            .map(|c| c.get_buffer_memory_size())
            .sum();
        let used: usize = part
            .columns()
            .iter()
            .map(|c| c.to_data().get_slice_memory_size().unwrap())
            .sum();
        assert!(sized <= used + 3 * 4096, "{sized} > {used}");
        assert_eq!(messages(part).await, 1);
    }
}

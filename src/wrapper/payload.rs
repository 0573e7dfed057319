//! What a send carries, ready to go: protobuf records (transport `proto`) or the batch in
//! the table's Arrow Flight schema (transport `flight`), and how it is cut into requests.

use arrow::array::RecordBatch;

use arrow::array::{make_array, MutableArrayData, RecordBatchOptions};

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
            Payload::Flight(batch) => batch
                .slice(range.0, range.1 - range.0)
                .columns()
                .iter()
                .map(|c| c.to_data().get_slice_memory_size().unwrap_or(0))
                .sum(),
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
    let bytes: usize = batch
        .slice(range.0, n)
        .columns()
        .iter()
        .map(|c| {
            c.to_data()
                .get_slice_memory_size()
                .unwrap_or_else(|_| c.get_buffer_memory_size())
        })
        .sum();
    let per_row = bytes.div_ceil(n).max(1);
    let rows = (FLIGHT_PART_BYTES / per_row).clamp(1, max_rows.max(1));
    (range.0..range.1)
        .step_by(rows)
        .map(|s| (s, (s + rows).min(range.1)))
        .collect()
}

/// Rows `range` of `batch` with buffers of their own. A slice shares its parent's
/// buffers, and the Flight encoder sizes a batch by its buffers: without this, a small
/// part of a large batch would be split into many tiny messages.
pub(super) fn compact_part(batch: &RecordBatch, range: (usize, usize)) -> RecordBatch {
    let part = batch.slice(range.0, range.1 - range.0);
    let columns = part
        .columns()
        .iter()
        .map(|c| {
            let data = c.to_data();
            let used = data.get_slice_memory_size().unwrap_or(0);
            if c.get_buffer_memory_size() <= used + used / 2 + 4096 {
                return c.clone();
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

    /// The Flight encoder (as the SDK drives it: default 2 MiB split) makes ONE message of
    /// each part of a large batch's slice, where the slice itself would become dozens.
    #[tokio::test]
    async fn each_part_of_a_slice_is_one_flight_message() {
        use futures::StreamExt;
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
        let messages = |b: RecordBatch| async move {
            let schema = b.schema();
            arrow_flight::encode::FlightDataEncoderBuilder::new()
                .with_schema(schema)
                .build(futures::stream::iter([Ok(b)]))
                .filter(|m| std::future::ready(m.as_ref().is_ok_and(|m| !m.data_body.is_empty())))
                .count()
                .await
        };
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
}

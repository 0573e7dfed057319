//! What a send carries, ready to go: protobuf records (transport `proto`) or the batch in
//! the table's Arrow Flight schema (transport `flight`), and how it is cut into requests.

use arrow::array::RecordBatch;

use super::chunks::chunk;
use crate::convert::{flight_parts, EncodedRows};

/// Most rows of one Arrow Flight message (as [`super::chunks`] caps a protobuf request):
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

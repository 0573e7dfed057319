//! Encoded rows of one batch, and the spare output buffers an encoder writes the next
//! batches into.
//!
//! Rows stay alive until the service has acknowledged them (a retry sends them again), so
//! every batch used to be written into a new buffer: a large allocation that the allocator
//! often takes from fresh pages, zero-filled before the encoder wrote over every byte. A
//! dropped [`EncodedRows`] now gives its buffers back to the encoder that wrote it (and to
//! that encoder's clones), which writes the next batch over the old bytes.

use std::sync::{Arc, Mutex};

/// Encoded rows of one batch: one contiguous buffer and the row boundaries.
#[derive(Debug, Default, Clone)]
pub struct EncodedRows {
    pub(super) data: Vec<u8>,
    pub(super) offsets: Vec<usize>,
    /// Where the buffers go when the rows are dropped.
    pub(super) spare: Option<Arc<SpareBuffers>>,
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

    /// Where the rows written so far end in `data` (which, while a batch is encoded over
    /// a kept buffer, may be longer).
    pub(super) fn end(&self) -> usize {
        self.offsets.last().copied().unwrap_or(0)
    }
}

impl Drop for EncodedRows {
    fn drop(&mut self) {
        if let Some(spare) = self.spare.take() {
            spare.keep(
                std::mem::take(&mut self.data),
                std::mem::take(&mut self.offsets),
            );
        }
    }
}

/// Most bytes of buffers kept spare per encoder plan: the output of several batches (a
/// 8,192-row batch of 100-byte rows is 800 KiB), not of a large batch that came once
/// (that one is freed). A wrapper keeps up to 8 plans, so at most 64 MiB stay allocated
/// between loads, and only with 8 input schemas.
const SPARE_BYTES: usize = 8 << 20;
/// Most buffer pairs kept spare per encoder plan.
const SPARE_BUFFERS: usize = 16;

/// Output buffers of dropped rows, for the next batches of one encoder plan.
#[derive(Debug, Default)]
pub(super) struct SpareBuffers(Mutex<Vec<(Vec<u8>, Vec<usize>)>>);

impl SpareBuffers {
    /// Keep `data` and `offsets` for a later batch, unless enough are kept already.
    fn keep(&self, data: Vec<u8>, offsets: Vec<usize>) {
        let size = |d: &Vec<u8>, o: &Vec<usize>| d.capacity() + std::mem::size_of_val(o.as_slice());
        if data.capacity() == 0 {
            return;
        }
        if let Ok(mut kept) = self.0.lock() {
            let total: usize = kept.iter().map(|(d, o)| size(d, o)).sum();
            if kept.len() < SPARE_BUFFERS && total + size(&data, &offsets) <= SPARE_BYTES {
                kept.push((data, offsets));
            }
        }
    }

    /// The buffers kept last (their memory is the likeliest to be in cache), if any.
    pub(super) fn take(&self) -> Option<(Vec<u8>, Vec<usize>)> {
        self.0.lock().ok()?.pop()
    }

    /// Buffer pairs kept now.
    #[cfg(test)]
    pub(super) fn count(&self) -> usize {
        self.0.lock().map(|k| k.len()).unwrap_or(0)
    }
}

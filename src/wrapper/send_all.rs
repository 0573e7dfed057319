//! [`crate::ZerobusWrapper::send_all`]: the one bounded sender of many batches, used by INSERT,
//! COPY, `zerobus-sql copy` and Python's Table/stream input.
//!
//! At most [`crate::ZerobusWrapper::max_in_flight`] batches are in flight, spread over the
//! wrapper's lanes (streams) as they saturate, and at most `max_inflight_bytes` of their
//! rows over every load of the wrapper (a send waits for room in that budget; one larger
//! than all of it goes alone). A slot and room are free before the next batch is pulled,
//! so no batch is ever taken from the input and then dropped, and at most one batch
//! read waits for room. After the first
//! failure nothing more is read; the batches already in flight are settled (acknowledged
//! or dead-lettered) and ONE error reports the whole account: rows read, acknowledged,
//! dead-lettered, every dead-letter file, and whether the input was read to its end.
//!
//! The sends run as their own tasks: if the caller drops the future (a cancelled query,
//! a cancelled asyncio task), the batches in flight still finish — acknowledged, or in a
//! dead-letter file — instead of being aborted halfway.

use super::inner::Inner;
use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::RecordBatch;
use futures::stream::FuturesUnordered;
use futures::{Stream, StreamExt};

use super::budget::{arrow_bytes, Room};
use super::interrupt::Interrupt;
use super::outcome::{BatchOutcome, TransmissionResult};
use super::payload::Payload;
use crate::error::{Detail, LoadFailure, Result, ZerobusError};
use crate::telemetry::in_context;

/// Fewest batches in flight at once: enough to keep a stream busy while earlier batches
/// wait for their acknowledgement, few enough that memory stays bounded whatever the input
/// size. With many lanes the bound grows to keep each of them fed (see
/// [`crate::ZerobusWrapper::max_in_flight`]).
pub const MAX_IN_FLIGHT: usize = 16;

/// Rows of the largest piece `send_all` sends as one send: a larger batch is encoded and
/// checked whole (a bad row refuses the whole batch, before anything of it is sent, and
/// errors name its row in the batch), then sent in parts of this many rows, so that its
/// rows spread over the lanes instead of holding one stream.
pub const PART_ROWS: usize = 20_000;

/// One send of `send_all`: a whole batch, or rows `range` of an encoded large batch;
/// each with the batch's place in the input (0 for the first batch read).
enum Work {
    Whole(u64, RecordBatch),
    Part(u64, RecordBatch, Arc<Payload>, (usize, usize)),
}

impl Work {
    /// The batch and the rows of it this send would send.
    fn rows(&self) -> (&RecordBatch, (usize, usize)) {
        match self {
            Work::Whole(_, b) => (b, (0, b.num_rows())),
            Work::Part(_, b, _, range) => (b, *range),
        }
    }

    /// Arrow bytes of the rows this send would send (what it takes of the byte budget).
    fn bytes(&self) -> usize {
        let (batch, (s, e)) = self.rows();
        arrow_bytes(&batch.slice(s, e - s))
    }

    /// The batch's place in the input.
    fn seq(&self) -> u64 {
        match self {
            Work::Whole(seq, _) | Work::Part(seq, ..) => *seq,
        }
    }
}

/// What became of rows `rows` of the `batch`-th batch a load read (counting from 0): the
/// first `acknowledged` of them are durably acknowledged, the next `dead_lettered` are in
/// the file `dead_letter`; any after those are unaccounted (refused before they were sent,
/// or their dead-letter file could not be written). A load journal keeps these to know
/// which rows of its input landed ([`crate::ZerobusWrapper::send_all_with_receipts`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The batch's place in the input, counting from 0.
    pub batch: u64,
    /// The rows of that batch this send carried, `start..end`.
    pub rows: (usize, usize),
    /// Rows `rows.0 .. rows.0 + acknowledged` were acknowledged.
    pub acknowledged: usize,
    /// The rows after those, this many, are in `dead_letter`.
    pub dead_lettered: usize,
    /// The dead-letter file of the rows not acknowledged, if any.
    pub dead_letter: Option<PathBuf>,
}

/// Called with the [`Receipt`] of every send as it settles.
pub type Receipts<'a> = &'a (dyn Fn(Receipt) + Send + Sync);

/// A send that ended: its result, its rows' account, and which rows it carried.
type Settled = (
    Result<TransmissionResult>,
    BatchOutcome,
    u64,
    (usize, usize),
);

/// What a send task returns: the send settled, and the room it held in the byte budget.
type Sent = (Settled, Room);

fn receipt(batch: u64, rows: (usize, usize), outcome: &BatchOutcome) -> Receipt {
    Receipt {
        batch,
        rows,
        acknowledged: outcome.acknowledged,
        dead_lettered: outcome.dead_lettered,
        dead_letter: outcome.dead_letter.clone(),
    }
}

/// The sends of the batch last read that have not started: parts of one batch, in order,
/// contiguous. Whatever is still here when the load ends — or when the caller drops the
/// load's future (a cancelled query, an asyncio timeout) — goes to one dead-letter file:
/// no row taken from the input is ever dropped.
struct Unsent {
    queue: std::collections::VecDeque<Work>,
    wrapper: Arc<Inner>,
}

impl Unsent {
    /// The rows of `batch` the queue still holds (`start..end`).
    fn take_range(&mut self) -> Option<(u64, RecordBatch, (usize, usize))> {
        let (first, last) = (self.queue.front()?, self.queue.back()?);
        let (batch, (start, _)) = first.rows();
        let (_, (_, end)) = last.rows();
        let taken = (first.seq(), batch.clone(), (start, end));
        self.queue.clear();
        Some(taken)
    }
}

impl Drop for Unsent {
    fn drop(&mut self) {
        let Some((_, batch, range)) = self.take_range() else {
            return;
        };
        let w = self.wrapper.clone();
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            tracing::error!(table = %w.table(), rows = range.1 - range.0,
                "a dropped load left rows unsent and there is no runtime to dead-letter them");
            return;
        };
        handle.spawn(async move {
            let mut outcome = BatchOutcome::default();
            match w.dead_letter(&batch, range, &mut outcome).await {
                Ok(p) => tracing::warn!(table = %w.table(), rows = range.1 - range.0, file = %p.display(),
                    "the load was dropped before these rows were sent: they are in a dead-letter file"),
                Err(e) => tracing::error!(table = %w.table(), rows = range.1 - range.0, error = %e,
                    "the load was dropped before these rows were sent, and they could not be dead-lettered"),
            }
        });
    }
}

/// The task that passes an [`Interrupt::give_up`] on to the wrapper while a load runs;
/// it ends with the load.
struct GiveUpWatch(tokio::task::JoinHandle<()>);

impl Drop for GiveUpWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Where a load stands, for progress displays.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadProgress {
    /// Rows taken from the input.
    pub rows_read: u64,
    /// Rows durably acknowledged.
    pub rows_acknowledged: u64,
    /// Streams (lanes) the wrapper has open.
    pub streams_open: usize,
    /// Rows written to dead-letter files.
    pub rows_dead_lettered: u64,
    /// Attempts beyond the first, over every send so far.
    pub retries: u64,
    /// Arrow bytes of the rows in flight now, over every load of the wrapper (at most
    /// `max_inflight_bytes`, or one send larger than that).
    pub bytes_in_flight: u64,
}

/// Called as a load progresses.
pub type Progress<'a> = &'a (dyn Fn(LoadProgress) + Send + Sync);

/// The totals of a load that finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadSummary {
    /// Rows read and acknowledged (equal on success).
    pub rows: u64,
    /// Batches sent.
    pub batches: u64,
    /// Encoded bytes sent.
    pub bytes: u64,
    /// Most attempts any batch needed.
    pub max_attempts: u32,
    /// Highest stream offset acknowledged.
    pub ack_offset: Option<i64>,
    /// Attempts beyond the first, over every send.
    pub retries: u64,
}

#[derive(Default)]
struct Account<'a> {
    /// Where each send's receipt goes, if anywhere.
    receipts: Option<Receipts<'a>>,
    batches_read: u64,
    read: u64,
    acknowledged: u64,
    dead_lettered: u64,
    dead_letters: Vec<PathBuf>,
    batches: u64,
    bytes: u64,
    max_attempts: u32,
    retries: u64,
    ack_offset: Option<i64>,
    first_error: Option<ZerobusError>,
}

impl Account<'_> {
    /// Hand a receipt to the caller's `receipts`, if it asked for them.
    fn give(&self, receipt: Option<Receipt>) {
        if let (Some(give), Some(r)) = (self.receipts, receipt) {
            give(r);
        }
    }

    /// Count a send that ended and hand over its receipt, when it ran to its end.
    fn settle(&mut self, done: std::result::Result<Settled, tokio::task::JoinError>) {
        let receipt = self.count(done);
        self.give(receipt);
    }

    /// [`Self::settle`] a send task's result; its room in the byte budget is given back
    /// once its rows are counted, so that no more rows are in flight than the budget
    /// holds, as the progress counts them.
    fn settle_sent(&mut self, done: std::result::Result<Sent, tokio::task::JoinError>) {
        let (done, room) = match done {
            Ok((settled, room)) => (Ok(settled), Some(room)),
            Err(e) => (Err(e), None),
        };
        self.settle(done);
        drop(room);
    }

    /// Count a send that ended; its receipt, when it ran to its end.
    fn count(
        &mut self,
        done: std::result::Result<Settled, tokio::task::JoinError>,
    ) -> Option<Receipt> {
        let mut settled = None;
        match done {
            Ok((result, outcome, batch, rows)) => {
                settled = Some(receipt(batch, rows, &outcome));
                self.acknowledged += outcome.acknowledged as u64;
                self.dead_lettered += outcome.dead_lettered as u64;
                self.dead_letters.extend(outcome.dead_letter);
                match result {
                    Ok(r) => {
                        self.batches += 1;
                        self.bytes += r.batch_size_bytes as u64;
                        self.max_attempts = self.max_attempts.max(r.attempts);
                        self.retries += u64::from(r.attempts.saturating_sub(1));
                        self.ack_offset = self.ack_offset.max(r.ack_offset);
                    }
                    Err(e) => {
                        if let ZerobusError::RetryExhausted { attempts, .. } = &e {
                            self.retries += u64::from(attempts.saturating_sub(1));
                        }
                        self.first_error.get_or_insert(e);
                    }
                }
            }
            Err(e) => {
                self.first_error.get_or_insert(ZerobusError::Transmission(
                    Detail::new(format!("a send task stopped unexpectedly: {e}")).caused_by(e),
                ));
            }
        }
        settled
    }

    fn progress(&self, w: &Inner) -> LoadProgress {
        LoadProgress {
            rows_read: self.read,
            rows_acknowledged: self.acknowledged,
            streams_open: w.streams_open(),
            rows_dead_lettered: self.dead_lettered,
            retries: self.retries,
            bytes_in_flight: w.budget.in_flight(),
        }
    }
}

/// The error of a load whose input failed with `e`: our own error where the input refused
/// a batch (an INSERT's exact conversion), else "reading the input failed".
fn input_error(table: &str, e: &(dyn std::error::Error + 'static)) -> ZerobusError {
    ZerobusError::find_in(e).unwrap_or_else(|| {
        ZerobusError::Conversion(format!("table '{table}': reading the input failed: {e}").into())
    })
}

fn interrupted(table: &str) -> ZerobusError {
    ZerobusError::Transmission(
        format!("table '{table}': the load was interrupted; the batches in flight were settled")
            .into(),
    )
}

impl Inner {
    /// Batches [`Self::send_all`] keeps in flight: [`MAX_IN_FLIGHT`], or enough to give
    /// every lane a backlog (`LANE_BACKLOG × max_streams + 2`), whichever is more.
    pub(super) fn max_in_flight(&self) -> usize {
        MAX_IN_FLIGHT.max(super::lanes::LANE_BACKLOG * self.config().max_streams + 2)
    }

    /// [`crate::ZerobusWrapper::send_all_until`] with at most `limit` batches in flight (several loads
    /// sharing one wrapper each take their share).
    pub(super) async fn send_all_within<S, E>(
        self: &Arc<Self>,
        batches: S,
        progress: Progress<'_>,
        interrupt: Option<&Interrupt>,
        limit: usize,
        receipts: Option<Receipts<'_>>,
    ) -> Result<LoadSummary>
    where
        S: Stream<Item = std::result::Result<RecordBatch, E>>,
        E: std::error::Error + 'static,
    {
        let never = Interrupt::new();
        let interrupt = interrupt.unwrap_or(&never);
        let _give_up = self.give_up_with(interrupt);
        let mut batches = std::pin::pin!(batches);
        // Each batch's span is a child of the caller's (e.g. the INSERT's) span.
        let cx = self.otel_context();
        let mut in_flight = FuturesUnordered::new();
        let mut account = Account {
            receipts,
            ..Account::default()
        };
        let mut input_complete = false;
        let limit = limit.max(1);
        // Sends of the batch last read, not started yet.
        let mut pending = Unsent {
            queue: std::collections::VecDeque::new(),
            wrapper: Arc::clone(self),
        };
        loop {
            // A slot, and (before a batch is read) some room in the byte budget.
            while in_flight.len() >= limit
                || (pending.queue.is_empty() && self.budget.is_spent() && !in_flight.is_empty())
            {
                if let Some(done) = in_flight.next().await {
                    account.settle_sent(done);
                    progress(account.progress(self));
                }
            }
            if account.first_error.is_some() {
                break;
            }
            if interrupt.is_set() {
                account.first_error = Some(interrupted(self.table()));
                break;
            }
            if let Some(bytes) = pending.queue.front().map(Work::bytes) {
                // Room for the send; meanwhile the sends in flight settle as they end.
                let room = tokio::select! {
                    biased;
                    _ = interrupt.wait() => continue,
                    Some(done) = in_flight.next(), if !in_flight.is_empty() => {
                        account.settle_sent(done);
                        progress(account.progress(self));
                        continue;
                    }
                    room = self.budget.take(bytes) => room,
                };
                if let Some(work) = pending.queue.pop_front() {
                    in_flight.push(self.start(work, room, cx.clone()));
                }
                continue;
            }
            let next = tokio::select! {
                biased;
                _ = interrupt.wait() => {
                    account.first_error = Some(interrupted(self.table()));
                    break;
                }
                next = batches.next() => next,
            };
            match next {
                None => {
                    input_complete = true;
                    break;
                }
                Some(Err(e)) => {
                    account.first_error = Some(input_error(self.table(), &e));
                    break;
                }
                Some(Ok(batch)) => {
                    account.read += batch.num_rows() as u64;
                    account.batches_read += 1;
                    progress(account.progress(self));
                    self.queue(batch, &mut pending, &mut account).await;
                }
            }
        }
        self.settle_the_rest(&mut in_flight, &mut pending, &mut account, progress)
            .await;
        self.summary(account, input_complete)
    }

    /// After the load stopped reading: the sends in flight settled, the sends not started
    /// dead-lettered.
    async fn settle_the_rest(
        &self,
        in_flight: &mut FuturesUnordered<tokio::task::JoinHandle<Sent>>,
        pending: &mut Unsent,
        account: &mut Account<'_>,
        progress: Progress<'_>,
    ) {
        while let Some(done) = in_flight.next().await {
            account.settle_sent(done);
            progress(account.progress(self));
        }
        if self.dead_letter_unstarted(pending, account).await {
            progress(account.progress(self));
        }
    }

    /// Sends not started (the load stopped) are all of one batch, contiguous: their rows
    /// go to one dead-letter file, so that every row read is accounted for (their receipt
    /// handed over). Whether there were any.
    async fn dead_letter_unstarted(&self, pending: &mut Unsent, account: &mut Account<'_>) -> bool {
        let Some((seq, batch, range)) = pending.take_range() else {
            return false;
        };
        let mut outcome = BatchOutcome::default();
        // A failed write is logged and leaves the rows unaccounted (the summary counts them).
        let _ = self.dead_letter(&batch, range, &mut outcome).await;
        account.dead_lettered += outcome.dead_lettered as u64;
        let r = receipt(seq, range, &outcome);
        account.dead_letters.extend(outcome.dead_letter);
        account.give(Some(r));
        true
    }

    /// A give-up of `interrupt` passed on to this wrapper while the returned watch lives:
    /// the sends in flight are tasks of their own, they learn it from the wrapper (they
    /// stop waiting and dead-letter what is not acknowledged).
    fn give_up_with(self: &Arc<Self>, interrupt: &Interrupt) -> GiveUpWatch {
        let (interrupt, w) = (interrupt.clone(), Arc::clone(self));
        GiveUpWatch(tokio::spawn(async move {
            interrupt.wait_given_up().await;
            w.give_up();
        }))
    }

    /// `work` sent as a task of its own, in the caller's span `cx`; it returns `room` (in
    /// the byte budget) with its result, for the load to give back once it has counted
    /// the rows (a JoinHandle that is dropped detaches its task rather than abort it, and
    /// the room goes back when the task ends).
    fn start(
        self: &Arc<Self>,
        work: Work,
        room: Room,
        cx: Option<opentelemetry::Context>,
    ) -> tokio::task::JoinHandle<Sent> {
        let w = Arc::clone(self);
        tokio::spawn(async move {
            let (seq, (_, rows)) = (work.seq(), work.rows());
            let sent = async {
                match &work {
                    Work::Whole(_, b) => w.send_batch_counted(b).await,
                    Work::Part(_, b, payload, range) => {
                        w.send_part_counted(b, payload, *range).await
                    }
                }
            };
            let (result, outcome) = in_context(cx.as_ref(), sent).await;
            ((result, outcome, seq, rows), room)
        })
    }

    /// `batch`, read, queued as its sends: whole, or (larger than [`PART_ROWS`] with lanes
    /// to spread over) encoded and checked whole, then cut into parts. A batch refused by
    /// the check is settled as failed (its receipt: nothing sent). It is the input's
    /// batch number `account.batches_read - 1`.
    async fn queue(&self, batch: RecordBatch, pending: &mut Unsent, account: &mut Account<'_>) {
        let seq = account.batches_read.saturating_sub(1);
        let n = batch.num_rows();
        if n <= PART_ROWS || self.config().max_streams == 1 {
            pending.queue.push_back(Work::Whole(seq, batch));
            return;
        }
        let mut outcome = BatchOutcome::default();
        match self.encode_checked(&batch, &mut outcome).await {
            Ok(rows) => {
                let rows = Arc::new(rows);
                pending.queue.extend((0..n).step_by(PART_ROWS).map(|s| {
                    Work::Part(
                        seq,
                        batch.clone(),
                        rows.clone(),
                        (s, (s + PART_ROWS).min(n)),
                    )
                }));
            }
            Err(e) => account.settle(Ok((Err(e), outcome, seq, (0, n)))),
        }
    }

    /// The load's result from its account: the totals, or ONE error with every row.
    fn summary(&self, mut account: Account<'_>, input_complete: bool) -> Result<LoadSummary> {
        let Some(source) = account.first_error.take() else {
            return Ok(LoadSummary {
                rows: account.acknowledged,
                batches: account.batches,
                bytes: account.bytes,
                max_attempts: account.max_attempts,
                ack_offset: account.ack_offset,
                retries: account.retries,
            });
        };
        tracing::error!(table = %self.table(), read = account.read, acknowledged = account.acknowledged,
            dead_lettered = account.dead_lettered, "load failed: {source}");
        // Nothing sent, and nothing read that was not refused with it: the failure alone.
        if account.acknowledged == 0
            && account.dead_letters.is_empty()
            && (input_complete || account.read == 0)
        {
            return Err(source);
        }
        Err(ZerobusError::LoadIncomplete(Box::new(LoadFailure {
            source,
            rows_read: account.read,
            rows_acknowledged: account.acknowledged,
            rows_dead_lettered: account.dead_lettered,
            rows_unaccounted: account
                .read
                .saturating_sub(account.acknowledged + account.dead_lettered),
            dead_letters: account.dead_letters,
            input_complete,
        })))
    }
}

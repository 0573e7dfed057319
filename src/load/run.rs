//! [`copy_into`]: plan every file from the journal, then one `send_all` over the rows
//! to send of all of them, each send's receipt journaled as it settles.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use futures::{Stream, StreamExt};

use super::journal::default_journal_dir;
use super::journal::{now_ms, FileEntry, Journal, LoadRecord};
use super::options::CopyOptions;
use super::plan::{plan_file, Decision, FilePlan};
use super::read::{read_ranges, Piece, READ_BATCH_ROWS};
use super::sources::expand;
use super::summary::CopySummary;
use crate::error::{Result, ZerobusError};
use crate::wrapper::{Interrupt, LoadSummary, Progress, Receipt};
use crate::ZerobusWrapper;

/// How often the entries of files with new acknowledgements are written: what a SIGKILL
/// can lose of the acknowledgements (those rows are sent again) is this much of a load.
const SAVE_EVERY: Duration = Duration::from_millis(200);

/// Rows the reader reserves in the journal at a time, ahead of what it has read: the
/// bound of duplicates a resumed load reports is the rows in flight plus at most this.
const RESERVE_ROWS: u64 = 16 * READ_BATCH_ROWS as u64;

/// The state of a load shared by the reader, the receipts and the saver.
struct Shared {
    /// The entry of each file being loaded, as it is now.
    entries: Vec<FileEntry>,
    /// Entries changed since they were last written.
    dirty: Vec<bool>,
    /// Each batch read, in order: its file and the file row of its first row.
    batches: Vec<(usize, u64)>,
}

struct Load {
    journal: Journal,
    shared: Mutex<Shared>,
    /// Held while an entry is snapshotted and written, so writes land in order.
    saving: tokio::sync::Mutex<()>,
    /// Rows the reader reserves at a time ([`RESERVE_ROWS`]).
    window: u64,
}

fn lock(m: &Mutex<Shared>) -> std::sync::MutexGuard<'_, Shared> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Load {
    /// Write entry `i` if it changed (or `always`).
    async fn save(&self, i: usize, always: bool) -> Result<()> {
        let _order = self.saving.lock().await;
        let entry = {
            let mut s = lock(&self.shared);
            if !(s.dirty[i] || always) {
                return Ok(());
            }
            s.dirty[i] = false;
            s.entries[i].updated_ms = now_ms();
            s.entries[i].clone()
        };
        self.journal.save(&entry).await
    }

    async fn save_all(&self, always: bool) -> Result<()> {
        let n = lock(&self.shared).entries.len();
        for i in 0..n {
            self.save(i, always).await?;
        }
        Ok(())
    }

    /// A send's receipt, journaled in memory (the saver writes it).
    fn receive(&self, r: &Receipt) {
        let mut s = lock(&self.shared);
        let Some(&(i, first)) = s.batches.get(r.batch as usize) else {
            return;
        };
        let start = first + r.rows.0 as u64;
        let acked_end = start + r.acknowledged as u64;
        let e = &mut s.entries[i];
        e.acknowledged.insert(start, acked_end);
        if r.dead_lettered > 0 {
            if let Some(file) = &r.dead_letter {
                e.dead_lettered.push(super::journal::DeadLettered {
                    rows: (acked_end, acked_end + r.dead_lettered as u64),
                    file: file.display().to_string(),
                });
            }
        }
        s.dirty[i] = true;
    }

    /// Before rows `first..end` of file `i` are handed to the sender: when they reach
    /// past the reserved rows, reserve a window more and write it down first, so that an
    /// interrupted load's successor knows which rows may have been sent.
    async fn reserve(&self, i: usize, end: u64) -> Result<()> {
        {
            let mut s = lock(&self.shared);
            if end <= s.entries[i].reserved_until {
                return Ok(());
            }
            s.entries[i].reserved_until = end + self.window;
            s.dirty[i] = true;
        }
        self.save(i, true).await
    }
}

/// A load planned from the journal, its files claimed: what [`CopyPlan::run`] will send.
pub struct CopyPlan {
    journal: Journal,
    plans: Vec<FilePlan>,
    summary: CopySummary,
    record: LoadRecord,
    options: CopyOptions,
    started: Instant,
}

impl CopyPlan {
    /// The account as planned: files matched and skipped, rows skipped and to be resent.
    pub fn planned(&self) -> &CopySummary {
        &self.summary
    }

    /// Rows to send, where known (a CSV or JSON file's rows are known once read).
    pub fn rows_to_send(&self) -> Option<u64> {
        self.plans
            .iter()
            .map(|p| {
                p.entry
                    .rows
                    .map(|n| super::ranges::RowRanges::from_sorted(p.send.clone()).below(n))
            })
            .sum()
    }
}

/// Plan a load of the files `inputs` name (paths, globs, directories; local or
/// object-store URLs) into `wrapper`'s table: files already loaded are skipped, of a file
/// an earlier load did not finish only the rows not acknowledged will be sent, and the
/// files to send are claimed. Nothing is sent.
///
/// Errors: an input that matches nothing, a file changed since it was journaled (unless
/// `force`), a corrupt or foreign journal entry, a file another load is reading.
pub async fn plan_copy(
    wrapper: &ZerobusWrapper,
    inputs: &[String],
    options: &CopyOptions,
) -> Result<CopyPlan> {
    let started = Instant::now();
    let config = wrapper.config();
    let table = config.table_name.clone();
    let dir = options
        .journal_dir
        .clone()
        .or_else(|| config.journal_dir.clone())
        .unwrap_or_else(default_journal_dir);
    let service = match &options.service {
        Some(s) => s.clone(),
        None => service_of(&config.endpoint),
    };
    let journal = Journal::open(&dir, &service, &table)?;
    let load_id = uuid::Uuid::now_v7().to_string();
    let files = expand(inputs, options.format).await?;
    let mut summary = CopySummary {
        table: table.clone(),
        load: load_id.clone(),
        journal: journal.location(),
        files: files.len() as u64,
        ..CopySummary::default()
    };
    let mut plans = Vec::new();
    for file in files {
        match plan_file(&journal, file, options.force, &load_id, &table).await? {
            Decision::Skip => summary.files_skipped += 1,
            Decision::Load(p) => {
                summary.rows_skipped += p.skipped;
                summary.rows_resent += p.resent;
                plans.push(*p);
            }
        }
    }
    let record = LoadRecord {
        journal: "arrow-zerobus load journal".into(),
        load: load_id,
        table,
        started_ms: now_ms(),
        finished_ms: None,
        state: "running".into(),
        files: summary.files,
        files_skipped: summary.files_skipped,
        rows_sent: 0,
        rows_acknowledged: 0,
        rows_skipped: summary.rows_skipped,
        rows_dead_lettered: 0,
        error: None,
    };
    Ok(CopyPlan {
        journal,
        plans,
        summary,
        record,
        options: options.clone(),
        started,
    })
}

/// [`plan_copy`], then [`CopyPlan::run`]: a journaled load of the files `inputs` name.
/// `progress` and `interrupt` as for [`ZerobusWrapper::send_all_until`].
pub async fn copy_into(
    wrapper: &ZerobusWrapper,
    inputs: &[String],
    options: &CopyOptions,
    progress: Progress<'_>,
    interrupt: Option<&Interrupt>,
) -> Result<CopySummary> {
    plan_copy(wrapper, inputs, options)
        .await?
        .run(wrapper, progress, interrupt)
        .await
}

impl CopyPlan {
    /// Send the planned rows through `wrapper` (the table it was planned for), each
    /// send's receipt journaled as it settles. On failure the error is the load's, and
    /// the journal holds every receipt: run the load again to resume it.
    pub async fn run(
        self,
        wrapper: &ZerobusWrapper,
        progress: Progress<'_>,
        interrupt: Option<&Interrupt>,
    ) -> Result<CopySummary> {
        let CopyPlan {
            journal,
            plans,
            mut summary,
            mut record,
            options,
            started,
        } = self;
        if plans.is_empty() {
            record.state = "complete".into();
            record.finished_ms = Some(now_ms());
            journal.record(&record).await?;
            summary.seconds = started.elapsed().as_secs_f64();
            return Ok(summary);
        }
        journal.record(&record).await?;
        let load = Arc::new(Load {
            journal,
            shared: Mutex::new(Shared {
                entries: plans.iter().map(|p| p.entry.clone()).collect(),
                dirty: vec![true; plans.len()],
                batches: Vec::new(),
            }),
            saving: tokio::sync::Mutex::new(()),
            window: RESERVE_ROWS,
        });
        load.save_all(true).await?;
        let saver = spawn_saver(Arc::clone(&load));
        let input = rows_of(Arc::clone(&load), &plans, &options);
        let receipts = |r: Receipt| load.receive(&r);
        let sent = wrapper
            .send_all_with_receipts(input, progress, interrupt, &receipts)
            .await;
        saver.abort();
        let superseded = set_aside_superseded(&load, &plans);
        // Every entry, whatever the saver last wrote (it may have been stopped mid-write).
        let saved = load.save_all(true).await;
        settle_summary(&load, &plans, &sent, &mut summary);
        summary.dead_letters_superseded = superseded;
        summary.seconds = started.elapsed().as_secs_f64();
        record.finished_ms = Some(now_ms());
        record.rows_sent = summary.rows_sent;
        record.rows_acknowledged = summary.rows_acknowledged;
        record.rows_dead_lettered = summary.rows_dead_lettered;
        record.state = match &sent {
            Ok(_) => "complete".into(),
            Err(_) if interrupt.is_some_and(|i| i.is_set()) => "interrupted".into(),
            Err(_) => "failed".into(),
        };
        record.error = sent.as_ref().err().map(|e| e.to_string());
        let recorded = load.journal.record(&record).await;
        for plan in plans {
            plan.claim.release().await;
        }
        sent?;
        saved?;
        recorded?;
        Ok(summary)
    }
}

/// The journal's name of the service at `endpoint`: its host and port.
pub fn service_of(endpoint: &str) -> String {
    match url::Url::parse(endpoint) {
        Ok(u) => match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}_{p}"),
            (Some(h), None) => h.to_string(),
            _ => endpoint.to_string(),
        },
        Err(_) => endpoint.to_string(),
    }
}

/// Writes changed entries every [`SAVE_EVERY`] while the load runs.
fn spawn_saver(load: Arc<Load>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(SAVE_EVERY).await;
            if let Err(e) = load.save_all(false).await {
                tracing::warn!(error = %e, "could not write the load journal; will try again");
            }
        }
    })
}

/// The rows to send of every planned file, in order, with the lineage columns asked
/// for; each batch noted (file, first row) for its receipts, and its rows reserved in
/// the journal before it is handed over.
fn rows_of(
    load: Arc<Load>,
    plans: &[FilePlan],
    options: &CopyOptions,
) -> impl Stream<Item = Result<RecordBatch>> + Send + 'static {
    // Each file's reader is made when the one before it has ended (a CSV reader starts
    // reading as soon as it is made).
    let reads: Vec<_> = plans
        .iter()
        .map(|p| (p.file.clone(), p.send.clone()))
        .collect();
    let urls: Vec<String> = plans.iter().map(|p| p.file.identity.url.clone()).collect();
    let lineage = (
        options.source_file_column.clone(),
        options.source_row_column.clone(),
    );
    futures::stream::iter(reads.into_iter().enumerate())
        .flat_map(|(i, (file, ranges))| read_ranges(file, ranges).map(move |piece| (i, piece)))
        .filter_map(move |(i, piece)| {
            let (load, url, lineage) = (Arc::clone(&load), urls[i].clone(), lineage.clone());
            async move {
                match piece {
                    Err(e) => Some(Err(e)),
                    Ok(Piece::End { total }) => {
                        let mut s = lock(&load.shared);
                        s.entries[i].rows = Some(total);
                        s.dirty[i] = true;
                        None
                    }
                    Ok(Piece::Rows(batch, first)) if batch.num_rows() == 0 => {
                        let _ = (batch, first);
                        None
                    }
                    Ok(Piece::Rows(batch, first)) => {
                        let end = first + batch.num_rows() as u64;
                        if let Err(e) = load.reserve(i, end).await {
                            return Some(Err(e));
                        }
                        let batch = match with_lineage(batch, &url, first, &lineage) {
                            Ok(b) => b,
                            Err(e) => return Some(Err(e)),
                        };
                        lock(&load.shared).batches.push((i, first));
                        Some(Ok(batch))
                    }
                }
            }
        })
}

/// `batch` with a column of its file's URL and one of each row's number in the file, as
/// `lineage` names them.
fn with_lineage(
    batch: RecordBatch,
    url: &str,
    first: u64,
    (file_column, row_column): &(Option<String>, Option<String>),
) -> Result<RecordBatch> {
    if file_column.is_none() && row_column.is_none() {
        return Ok(batch);
    }
    let n = batch.num_rows();
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    if let Some(name) = file_column {
        fields.push(Field::new(name, DataType::Utf8, false));
        columns.push(Arc::new(StringArray::from(vec![url; n])));
    }
    if let Some(name) = row_column {
        fields.push(Field::new(name, DataType::Int64, false));
        columns.push(Arc::new(Int64Array::from_iter_values(
            (first..first + n as u64).map(|r| r as i64),
        )));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).map_err(|e| {
        ZerobusError::Conversion(
            format!(
                "{url}: cannot add the source columns (a column of that name already exists?): {e}"
            )
            .into(),
        )
    })
}

/// Dead-letter files of earlier loads whose rows are now acknowledged or in a new
/// dead-letter file: renamed `*.resent` (so nobody replays them as well). The others stay
/// recorded in their entries.
fn set_aside_superseded(load: &Load, plans: &[FilePlan]) -> Vec<String> {
    let mut done = Vec::new();
    let mut s = lock(&load.shared);
    for (i, plan) in plans.iter().enumerate() {
        for d in &plan.superseded {
            let e = &mut s.entries[i];
            let mut covered = e.acknowledged.clone();
            for newer in e.dead_lettered.iter().filter(|n| n.file != d.file) {
                covered.insert(newer.rows.0, newer.rows.1);
            }
            if !covered.covers(d.rows.0, d.rows.1) {
                continue;
            }
            e.dead_lettered.retain(|n| n.file != d.file);
            let from = std::path::Path::new(&d.file);
            if from.exists() {
                let to = format!("{}.resent", d.file);
                match std::fs::rename(from, &to) {
                    Ok(()) => done.push(to),
                    Err(err) => tracing::warn!(file = %d.file, error = %err,
                        "rows of this dead-letter file were sent again from the source; it could not be renamed *.resent, so do not replay it"),
                }
            }
        }
        s.dirty[i] = true;
    }
    done
}

fn settle_summary(
    load: &Load,
    plans: &[FilePlan],
    sent: &Result<LoadSummary>,
    summary: &mut CopySummary,
) {
    let s = lock(&load.shared);
    for (i, plan) in plans.iter().enumerate() {
        let e = &s.entries[i];
        summary.rows_acknowledged += e.acknowledged.rows() - plan.skipped;
        summary.files_loaded += u64::from(e.complete());
    }
    summary.rows_sent = match sent {
        Ok(l) => l.rows,
        Err(ZerobusError::LoadIncomplete(f)) => f.rows_read,
        Err(_) => summary.rows_acknowledged,
    };
    if let Err(ZerobusError::LoadIncomplete(f)) = sent {
        summary.rows_dead_lettered = f.rows_dead_lettered;
    }
}

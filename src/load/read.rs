//! Reading the rows of an input file a load still has to send, in file order, each
//! batch with the number of its first row in the file: Parquet by row selection (row
//! groups outside the ranges are not read), CSV and JSON by reading on and skipping.

use std::sync::Arc;

use arrow::array::RecordBatch;
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::parquet::arrow::async_reader::AsyncFileReader;
use datafusion::parquet::arrow::ParquetRecordBatchStreamBuilder;
use futures::stream::{self, BoxStream};
use futures::{StreamExt, TryStreamExt};

use super::sources::{FileFormat, Location, SourceFile};
use crate::error::{Detail, Result, ZerobusError};

/// Rows per batch read.
pub const READ_BATCH_ROWS: usize = 8192;

/// What reading a file yields.
#[derive(Debug)]
pub enum Piece {
    /// Rows of the file, the first of them being row `first` (counting from 0).
    Rows(RecordBatch, u64),
    /// The file was read to its end: it holds `total` rows.
    End {
        /// Rows in the file.
        total: u64,
    },
}

fn read_error(file: &SourceFile, e: impl std::fmt::Display) -> ZerobusError {
    ZerobusError::Conversion(Detail::new(format!(
        "reading {} failed: {e}",
        file.identity.url
    )))
}

/// Rows of a Parquet file, from its footer.
pub async fn parquet_rows(file: &SourceFile) -> Result<u64> {
    let builder = parquet_builder(file).await?;
    Ok(builder.metadata().file_metadata().num_rows().max(0) as u64)
}

async fn parquet_builder(
    file: &SourceFile,
) -> Result<ParquetRecordBatchStreamBuilder<Box<dyn AsyncFileReader>>> {
    let reader: Box<dyn AsyncFileReader> = match &file.location {
        Location::Local(path) => Box::new(
            tokio::fs::File::open(path)
                .await
                .map_err(|e| read_error(file, e))?,
        ),
        Location::Store(store, path) => Box::new(StoreReader {
            store: Arc::clone(store),
            path: path.clone(),
            size: file.identity.size,
        }),
    };
    ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(|e| read_error(file, e))
}

/// A Parquet object read by ranges (its size known from the listing).
struct StoreReader {
    store: Arc<dyn object_store::ObjectStore>,
    path: object_store::path::Path,
    size: u64,
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> futures::future::BoxFuture<'_, datafusion::parquet::errors::Result<bytes::Bytes>> {
        use object_store::ObjectStoreExt;
        Box::pin(async move {
            self.store
                .get_range(&self.path, range)
                .await
                .map_err(|e| datafusion::parquet::errors::ParquetError::External(Box::new(e)))
        })
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a datafusion::parquet::arrow::arrow_reader::ArrowReaderOptions>,
    ) -> futures::future::BoxFuture<
        'a,
        datafusion::parquet::errors::Result<
            Arc<datafusion::parquet::file::metadata::ParquetMetaData>,
        >,
    > {
        Box::pin(async move {
            let size = self.size;
            let metadata = datafusion::parquet::file::metadata::ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        })
    }
}

/// The rows `ranges` (sorted, disjoint) of `file`, then [`Piece::End`] when the ranges
/// reach the end of the file (always for CSV and JSON, which are read to their end).
pub fn read_ranges(file: SourceFile, ranges: Vec<(u64, u64)>) -> BoxStream<'static, Result<Piece>> {
    match file.format {
        FileFormat::Parquet => parquet_ranges(file, ranges),
        FileFormat::Csv | FileFormat::Json => text_ranges(file, ranges),
    }
}

fn parquet_ranges(file: SourceFile, ranges: Vec<(u64, u64)>) -> BoxStream<'static, Result<Piece>> {
    let file = Arc::new(file);
    let pieces = stream::iter(ranges)
        .then({
            let file = Arc::clone(&file);
            move |range| parquet_range(Arc::clone(&file), range)
        })
        .try_flatten();
    let end =
        stream::once(async move { parquet_rows(&file).await.map(|total| Piece::End { total }) });
    pieces.chain(end).boxed()
}

/// One range of a Parquet file: only the row groups it touches are read, and within them
/// only its rows are decoded into batches.
async fn parquet_range(
    file: Arc<SourceFile>,
    (start, end): (u64, u64),
) -> Result<BoxStream<'static, Result<Piece>>> {
    let builder = parquet_builder(&file).await?;
    let mut groups = Vec::new();
    let mut group_start = 0u64;
    let mut first_row = None;
    for (i, g) in builder.metadata().row_groups().iter().enumerate() {
        let n = g.num_rows().max(0) as u64;
        if group_start < end && start < group_start + n {
            groups.push(i);
            first_row.get_or_insert(group_start);
        }
        group_start += n;
    }
    let Some(first_row) = first_row else {
        return Ok(stream::empty().boxed());
    };
    let end = end.min(group_start);
    let selection = RowSelection::from(vec![
        RowSelector::skip((start - first_row) as usize),
        RowSelector::select((end - start) as usize),
    ]);
    let batches = builder
        .with_row_groups(groups)
        .with_row_selection(selection)
        .with_batch_size(READ_BATCH_ROWS)
        .build()
        .map_err(|e| read_error(&file, e))?;
    let mut at = start;
    Ok(batches
        .map(move |b| {
            let b = b.map_err(|e| read_error(&file, e))?;
            let first = at;
            at += b.num_rows() as u64;
            Ok(Piece::Rows(b, first))
        })
        .boxed())
}

/// CSV (with a header line) or newline-delimited JSON, read on one blocking thread with
/// the schema inferred from its first 1000 rows; rows outside `ranges` are dropped. A
/// local file is streamed; an object is fetched whole first. Nothing is read until the
/// stream is first polled.
fn text_ranges(file: SourceFile, ranges: Vec<(u64, u64)>) -> BoxStream<'static, Result<Piece>> {
    stream::once(async move {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Piece>>(4);
        tokio::spawn(async move {
            let source: Box<dyn ReadSeek> = match &file.location {
                Location::Local(path) => match std::fs::File::open(path) {
                    Ok(f) => Box::new(f),
                    Err(e) => {
                        let _ = tx.send(Err(read_error(&file, e))).await;
                        return;
                    }
                },
                Location::Store(..) => match file.read_range(0, file.identity.size).await {
                    Ok(b) => Box::new(std::io::Cursor::new(b)),
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                },
            };
            let _ =
                tokio::task::spawn_blocking(move || read_text(&file, source, &ranges, &tx)).await;
        });
        tokio_stream_from(rx)
    })
    .flatten()
    .boxed()
}

/// A source of text rows: a local file, or an object's bytes.
trait ReadSeek: std::io::Read + std::io::Seek + Send {}
impl<T: std::io::Read + std::io::Seek + Send> ReadSeek for T {}

fn tokio_stream_from<T: Send + 'static>(
    rx: tokio::sync::mpsc::Receiver<T>,
) -> BoxStream<'static, T> {
    stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) }).boxed()
}

/// Sends each wanted piece on `tx` (blocking), then the end; stops when `tx` is closed.
fn read_text(
    file: &SourceFile,
    bytes: Box<dyn ReadSeek>,
    ranges: &[(u64, u64)],
    tx: &tokio::sync::mpsc::Sender<Result<Piece>>,
) {
    let send = |p: Result<Piece>| tx.blocking_send(p).is_ok();
    let batches = match text_reader(file, bytes) {
        Ok(r) => r,
        Err(e) => {
            send(Err(e));
            return;
        }
    };
    let mut at = 0u64;
    for batch in batches {
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                send(Err(read_error(file, e)));
                return;
            }
        };
        let (first, n) = (at, batch.num_rows() as u64);
        at += n;
        for &(s, e) in ranges {
            let (s, e) = (s.max(first), e.min(first + n));
            if s < e {
                let piece = batch.slice((s - first) as usize, (e - s) as usize);
                if !send(Ok(Piece::Rows(piece, s))) {
                    return;
                }
            }
        }
    }
    send(Ok(Piece::End { total: at }));
}

type Batches =
    Box<dyn Iterator<Item = std::result::Result<RecordBatch, arrow::error::ArrowError>> + Send>;

/// Batches of `source`, its schema inferred from its first 1000 rows (then read again
/// from its start).
fn text_reader(file: &SourceFile, mut source: Box<dyn ReadSeek>) -> Result<Batches> {
    use std::io::{BufReader, Seek};
    let infer_rows = Some(1000);
    let schema = match file.format {
        FileFormat::Csv => {
            let format = datafusion::arrow::csv::reader::Format::default().with_header(true);
            format
                .infer_schema(&mut source, infer_rows)
                .map_err(|e| read_error(file, e))?
                .0
        }
        _ => {
            arrow::json::reader::infer_json_schema_from_seekable(
                BufReader::new(&mut source),
                infer_rows,
            )
            .map_err(|e| read_error(file, e))?
            .0
        }
    };
    source.rewind().map_err(|e| read_error(file, e))?;
    let schema = Arc::new(schema);
    let source = BufReader::new(source);
    Ok(match file.format {
        FileFormat::Csv => Box::new(
            datafusion::arrow::csv::ReaderBuilder::new(schema)
                .with_format(datafusion::arrow::csv::reader::Format::default().with_header(true))
                .with_batch_size(READ_BATCH_ROWS)
                .build(source)
                .map_err(|e| read_error(file, e))?,
        ),
        _ => Box::new(
            arrow::json::reader::ReaderBuilder::new(schema)
                .with_batch_size(READ_BATCH_ROWS)
                .build(source)
                .map_err(|e| read_error(file, e))?,
        ),
    })
}

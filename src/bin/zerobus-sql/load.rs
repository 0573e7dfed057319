//! `zerobus-sql copy FILE TABLE` and `zerobus-sql replay PATH...`.

use std::path::{Path, PathBuf};

use arrow_zerobus_sdk_wrapper::datafusion::send_stream;
use arrow_zerobus_sdk_wrapper::ZerobusWrapper;
use datafusion::error::{DataFusionError, Result};

use crate::shell::Shell;

impl Shell {
    /// `zerobus-sql copy FILE TABLE`: stream the file's rows into the table, showing rows
    /// read, rows acknowledged and rows/s, then a summary.
    pub(crate) async fn copy(&self, file: &Path, table: &str) -> Result<()> {
        let wrapper = self
            .connection
            .for_table(table)
            .and_then(ZerobusWrapper::new)
            .map_err(|e| DataFusionError::Plan(e.to_string()))?;
        let path = file
            .to_str()
            .ok_or_else(|| DataFusionError::Plan(format!("{} is not UTF-8", file.display())))?;
        let stream = self
            .ctx
            .sql(&format!("SELECT * FROM '{}'", path.replace('\'', "''")))
            .await?
            .execute_stream()
            .await?;
        // A Parquet file says how many rows it holds: then a bar with percent and ETA.
        let bar = match parquet_rows(file) {
            Some(total) => {
                let bar = indicatif::ProgressBar::new(total);
                if let Ok(style) = indicatif::ProgressStyle::with_template(
                    "{bar:30} {percent:>3}% {pos}/{len} rows acknowledged, {msg}, ETA {eta}",
                ) {
                    bar.set_style(style);
                }
                bar
            }
            None => indicatif::ProgressBar::new_spinner(),
        };
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        let started = std::time::Instant::now();
        let rate = move |n: u64| n as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let shown = bar.clone();
        let most_streams = std::sync::atomic::AtomicUsize::new(0);
        let sent = send_stream(
            &wrapper,
            stream,
            &|p| {
                most_streams.fetch_max(p.streams_open, std::sync::atomic::Ordering::Relaxed);
                shown.set_position(p.rows_acknowledged);
                shown.set_message(format!(
                    "{} rows read, {} acknowledged, {:.0} rows/s, {} streams open",
                    p.rows_read,
                    p.rows_acknowledged,
                    rate(p.rows_acknowledged),
                    p.streams_open
                ));
            },
            Some(&self.interrupt),
        )
        .await;
        let closed = wrapper.shutdown().await;
        bar.finish_and_clear();
        let acked = sent?;
        closed.map_err(|e| DataFusionError::Plan(e.to_string()))?;
        println!(
            "copied {acked} rows from {} into {table} in {:.2} s ({:.0} rows/s, up to {} streams)",
            file.display(),
            started.elapsed().as_secs_f64(),
            rate(acked),
            most_streams.load(std::sync::atomic::Ordering::Relaxed)
        );
        Ok(())
    }

    /// `zerobus-sql replay PATH...`: send each dead-letter file to the table it names.
    pub(crate) async fn replay(&self, paths: &[PathBuf]) -> std::result::Result<(), String> {
        use arrow_zerobus_sdk_wrapper::dead_letter::{dead_letter_files, dead_letter_table};
        let mut files = Vec::new();
        for p in paths {
            files.extend(dead_letter_files(p).map_err(|e| e.to_string())?);
        }
        if files.is_empty() {
            return Err("no *.dead.arrow files found".into());
        }
        let mut total = 0;
        for file in &files {
            let table = dead_letter_table(file)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("{} does not name its table", file.display()))?;
            let wrapper = self
                .connection
                .for_table(&table)
                .and_then(ZerobusWrapper::new)
                .map_err(|e| e.to_string())?;
            let replayed = wrapper.replay_dead_letters(file).await;
            let closed = wrapper.shutdown().await;
            let rows = replayed.map_err(|e| e.to_string())?;
            closed.map_err(|e| e.to_string())?;
            println!("replayed {rows} rows of {} into {table}", file.display());
            total += rows;
        }
        println!("replayed {total} rows from {} files", files.len());
        Ok(())
    }
}

/// Rows of a Parquet file, from its footer; `None` for other files or an unreadable one.
fn parquet_rows(file: &Path) -> Option<u64> {
    use datafusion::parquet::file::reader::FileReader;
    let is_parquet = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
    if !is_parquet {
        return None;
    }
    let f = std::fs::File::open(file).ok()?;
    let reader = datafusion::parquet::file::serialized_reader::SerializedFileReader::new(f).ok()?;
    u64::try_from(reader.metadata().file_metadata().num_rows()).ok()
}

//! `zerobus-sql copy INPUT... TABLE`, `zerobus-sql load-history TABLE` and
//! `zerobus-sql replay PATH...`.

use std::path::PathBuf;
use std::time::Duration;

use arrow_zerobus_sdk_wrapper::load::{
    default_journal_dir, plan_copy, service_of, CopyOptions, CopySummary, FileFormat, Journal,
};
use arrow_zerobus_sdk_wrapper::wrapper::LoadProgress;
use arrow_zerobus_sdk_wrapper::ZerobusWrapper;
use datafusion::error::{DataFusionError, Result};

use crate::shell::Shell;

/// `zerobus-sql copy`'s choices besides the inputs and the table.
pub(crate) struct CopyFlags {
    pub(crate) format: Option<String>,
    pub(crate) force: bool,
    pub(crate) source_file_column: Option<String>,
    pub(crate) source_row_column: Option<String>,
    pub(crate) watch: Option<Duration>,
}

impl Shell {
    /// What the load journal calls the service: the embedded emulator by its warehouse
    /// (its port changes from run to run, its tables stay), else the endpoint.
    pub(crate) fn journal_service(&self) -> Option<String> {
        Some(embedded_service(self.emulator.as_ref()?.warehouse()))
    }

    /// `zerobus-sql copy INPUT... TABLE`: a journaled load of the inputs' files into the
    /// table (files already loaded skipped; of an interrupted load only the rows not
    /// acknowledged sent), showing rows read, acknowledged and rows/s, then a summary.
    /// With `--watch`, again every poll interval until Ctrl-C.
    pub(crate) async fn copy(
        &self,
        inputs: &[String],
        table: &str,
        flags: &CopyFlags,
    ) -> Result<()> {
        let plan =
            |e: arrow_zerobus_sdk_wrapper::ZerobusError| DataFusionError::Plan(e.to_string());
        let options = CopyOptions {
            format: flags
                .format
                .as_deref()
                .map(FileFormat::parse)
                .transpose()
                .map_err(plan)?,
            force: flags.force,
            journal_dir: None,
            service: self.journal_service(),
            source_file_column: flags.source_file_column.clone(),
            source_row_column: flags.source_row_column.clone(),
        };
        let wrapper = self
            .connection
            .for_table(table)
            .and_then(ZerobusWrapper::new)
            .map_err(plan)?;
        let result = match flags.watch {
            None => self
                .copy_once(&wrapper, inputs, &options)
                .await
                .map(|s| println!("{s}")),
            Some(every) => self.copy_watching(&wrapper, inputs, options, every).await,
        };
        let closed = wrapper.shutdown().await;
        result?;
        closed.map_err(plan)
    }

    /// `--watch`: load, then look again every `every`, until Ctrl-C; each later look
    /// loads only the files that appeared (or grew a journal gap) since.
    async fn copy_watching(
        &self,
        wrapper: &ZerobusWrapper,
        inputs: &[String],
        mut options: CopyOptions,
        every: Duration,
    ) -> Result<()> {
        println!(
            "watching {} for new files to load into {} every {:.1} s (Ctrl-C to stop)",
            inputs.join(", "),
            wrapper.config().table_name,
            every.as_secs_f64()
        );
        loop {
            match self.copy_once(wrapper, inputs, &options).await {
                // Said only when a look found something to load.
                Ok(s) if s.files_skipped < s.files => println!("{s}"),
                Ok(_) => {}
                // Nothing there yet: look again later.
                Err(e) if e.to_string().contains("matches no input file") => {}
                Err(e) => return Err(e),
            }
            // Force applies to the first pass only: later passes pick up new files.
            options.force = false;
            tokio::select! {
                _ = self.interrupt.wait() => return Ok(()),
                _ = tokio::time::sleep(every) => {}
            }
        }
    }

    async fn copy_once(
        &self,
        wrapper: &ZerobusWrapper,
        inputs: &[String],
        options: &CopyOptions,
    ) -> Result<CopySummary> {
        let plan = plan_copy(wrapper, inputs, options)
            .await
            .map_err(DataFusionError::from)?;
        let planned = plan.planned();
        if planned.rows_skipped > 0 || planned.rows_resent > 0 {
            println!(
                "resuming the load into {}: {} of {} files already loaded, {} rows already \
                 acknowledged are skipped, {} rows are sent again that an interrupted load may \
                 have delivered",
                planned.table,
                planned.files_skipped,
                planned.files,
                planned.rows_skipped,
                planned.rows_resent
            );
        }
        // Parquet files say how many rows they hold: then a bar with percent and ETA.
        let bar = match plan.rows_to_send() {
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
        bar.enable_steady_tick(Duration::from_millis(200));
        let started = std::time::Instant::now();
        let shown = bar.clone();
        let rate = move |n: u64| n as f64 / started.elapsed().as_secs_f64().max(1e-3);
        let progress = move |p: LoadProgress| {
            shown.set_position(p.rows_acknowledged);
            shown.set_message(format!(
                "{} rows read, {:.0} rows/s, {} streams open",
                p.rows_read,
                rate(p.rows_acknowledged),
                p.streams_open
            ));
        };
        let loaded = plan.run(wrapper, &progress, Some(&self.interrupt)).await;
        bar.finish_and_clear();
        loaded.map_err(|e| {
            eprintln!(
                "zerobus-sql: the load journal holds every acknowledged row: run the same copy \
                 again to send only the rest"
            );
            DataFusionError::from(e)
        })
    }

    /// `zerobus-sql load-history TABLE`: the loads into the table and its files, from
    /// the load journal.
    pub(crate) async fn load_history(&self, table: &str) -> std::result::Result<(), String> {
        let dir = self
            .connection
            .journal_dir
            .clone()
            .unwrap_or_else(default_journal_dir);
        let service = match self.journal_service() {
            Some(s) => s,
            None => service_of(&self.connection.endpoint),
        };
        let journal = Journal::open(&dir, &service, table).map_err(|e| e.to_string())?;
        let (loads, files) = journal.history().await.map_err(|e| e.to_string())?;
        println!("load journal {}", journal.location());
        println!(
            "{:<38} {:<24} {:<12} {:>6} {:>6} {:>12} {:>12} {:>10}",
            "load",
            "started (UTC)",
            "state",
            "files",
            "skipped",
            "rows sent",
            "acknowledged",
            "dead-letter"
        );
        for l in &loads {
            println!(
                "{:<38} {:<24} {:<12} {:>6} {:>6} {:>12} {:>12} {:>10}",
                l.load,
                utc(l.started_ms),
                l.state,
                l.files,
                l.files_skipped,
                l.rows_sent,
                l.rows_acknowledged,
                l.rows_dead_lettered
            );
        }
        println!();
        println!(
            "{:<60} {:>12} {:>12} {:<10} {:<24}",
            "file", "rows", "acknowledged", "state", "last load (UTC)"
        );
        for f in &files {
            let state = if f.complete() { "loaded" } else { "partial" };
            println!(
                "{:<60} {:>12} {:>12} {:<10} {:<24}",
                f.file.url,
                f.rows.map_or("?".into(), |n| n.to_string()),
                f.acknowledged.rows(),
                state,
                utc(f.updated_ms)
            );
        }
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

/// Milliseconds since the epoch as RFC 3339 (UTC, whole seconds).
fn utc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// What the load journal calls the embedded emulator of warehouse `warehouse`.
pub(crate) fn embedded_service(warehouse: &std::path::Path) -> String {
    let warehouse = std::path::absolute(warehouse).unwrap_or(warehouse.to_path_buf());
    format!("emulator {}", warehouse.display())
}

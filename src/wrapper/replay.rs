//! Sending dead-letter files again.

use std::path::{Path, PathBuf};

use arrow::array::RecordBatch;

use super::inner::Inner;
use crate::dead_letter::{
    dead_letter_files, dead_letter_table, read_dead_letters, write_dead_letters_at,
};
use crate::error::{LoadFailure, Result, ZerobusError};

impl Inner {
    /// Send the rows of a dead-letter file again — or of every `*.dead.arrow` file of a
    /// directory — and return the rows acknowledged. A replayed file is renamed with a
    /// `.replayed` suffix once each of its rows is acknowledged or in a new dead-letter
    /// file: a replay that fails part-way leaves no file whose rows were both re-sent and
    /// kept (the error names the new files).
    pub(super) async fn replay_dead_letters(&self, path: &Path) -> Result<usize> {
        let files = dead_letter_files(path)?;
        // Every file is checked before anything is sent: ours, and for this table.
        for file in &files {
            match dead_letter_table(file)? {
                Some(t) if t.eq_ignore_ascii_case(self.table()) => {}
                Some(t) => {
                    return Err(ZerobusError::Configuration(
                        format!(
                            "{} holds rows for table '{t}', not '{}'",
                            file.display(),
                            self.table()
                        )
                        .into(),
                    ))
                }
                None => {
                    return Err(ZerobusError::Configuration(
                        format!(
                            "{} is not replayed: it names no table, so it is not one of our \
                             dead-letter files",
                            file.display()
                        )
                        .into(),
                    ))
                }
            }
        }
        let mut rows = 0;
        for file in files {
            rows += self.replay_file(&file).await?;
        }
        Ok(rows)
    }

    async fn replay_file(&self, path: &Path) -> Result<usize> {
        let (table, batches) = read_dead_letters(path)?;
        if let Some(t) = table {
            if !t.eq_ignore_ascii_case(self.table()) {
                return Err(ZerobusError::Configuration(
                    format!(
                        "{} holds rows for table '{t}', not '{}'",
                        path.display(),
                        self.table()
                    )
                    .into(),
                ));
            }
        }
        let total: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
        let retire = |path: &Path| {
            let done = PathBuf::from(format!("{}.replayed", path.display()));
            std::fs::rename(path, &done).map_err(|e| {
                ZerobusError::Configuration(format!(
                    "replayed, but cannot rename {}: {e}; remove it by hand so that it is not replayed twice",
                    path.display()
                ).into())
            })
        };
        let mut acknowledged = 0usize;
        for (k, b) in batches.iter().enumerate() {
            let (result, outcome) = self.send_batch_counted(b).await;
            let error = match result {
                Ok(r) => {
                    acknowledged += r.rows;
                    continue;
                }
                Err(e) => e,
            };
            acknowledged += outcome.acknowledged;
            let mut dead_letters: Vec<PathBuf> = outcome.dead_letter.iter().cloned().collect();
            // What is neither acknowledged nor in the failed batch's own dead-letter file.
            let mut rest: Vec<RecordBatch> = Vec::new();
            if outcome.dead_letter.is_none() && outcome.acknowledged < b.num_rows() {
                rest.push(b.slice(outcome.acknowledged, b.num_rows() - outcome.acknowledged));
            }
            rest.extend(batches[k + 1..].iter().cloned());
            let rest_rows: usize = rest.iter().map(|b| b.num_rows()).sum();
            if !rest.is_empty() {
                let written =
                    write_dead_letters_at(&self.dead_letters, self.table(), &rest)
                        .await
                        .map_err(|we| {
                            ZerobusError::Configuration(format!(
                                "replay of {} stopped ({error}) and the rows not yet sent could not be \
                                 saved ({we}); {} is kept and holds {acknowledged} rows that were re-sent",
                                path.display(),
                                path.display()
                            ).into())
                        })?;
                dead_letters.push(written);
            }
            retire(path)?;
            return Err(ZerobusError::LoadIncomplete(Box::new(LoadFailure {
                source: error,
                rows_read: total,
                rows_acknowledged: acknowledged as u64,
                rows_dead_lettered: (outcome.dead_lettered + rest_rows) as u64,
                rows_unaccounted: 0,
                dead_letters,
                input_complete: true,
            })));
        }
        retire(path)?;
        Ok(acknowledged)
    }
}

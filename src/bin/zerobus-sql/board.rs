//! The progress board: every Zerobus INSERT/COPY of a statement reports its load here; a
//! live line on a terminal while it runs, a summary line after.

use std::sync::Arc;

use arrow_zerobus_sdk_wrapper::wrapper::{LoadProgress, LoadWatch};

/// The Zerobus loads of the running statement: each table's latest progress, drawn as a
/// live line on stderr when it is a terminal, and summed up when the statement ends.
#[derive(Clone)]
pub(crate) struct Board {
    state: Arc<std::sync::Mutex<BoardState>>,
    quiet: bool,
}

#[derive(Default)]
struct BoardState {
    /// (table, latest progress, most streams seen open)
    loads: Vec<(String, LoadProgress, usize)>,
    started: Option<std::time::Instant>,
}

impl Board {
    pub(crate) fn new(quiet: bool) -> Board {
        Board {
            state: Arc::default(),
            quiet,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BoardState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session-config extension the Zerobus sink reports to.
    pub(crate) fn watch(&self) -> LoadWatch {
        let board = self.clone();
        LoadWatch::new(move |table, p| {
            let mut st = board.lock();
            match st.loads.iter_mut().find(|(t, _, _)| t == table) {
                Some(entry) => {
                    entry.1 = p;
                    entry.2 = entry.2.max(p.streams_open);
                }
                None => st.loads.push((table.to_string(), p, p.streams_open)),
            }
        })
    }

    pub(crate) fn start(&self) {
        let mut st = self.lock();
        st.loads.clear();
        st.started = Some(std::time::Instant::now());
    }

    /// One line: every table's rows read and acknowledged, rate and streams open.
    fn line(&self, summary: bool) -> Option<String> {
        let st = self.lock();
        let secs = st.started?.elapsed().as_secs_f64().max(1e-3);
        let parts: Vec<String> = st
            .loads
            .iter()
            .map(|(table, p, most)| {
                let rate = p.rows_acknowledged as f64 / secs;
                if summary {
                    format!(
                        "{table}: {} rows acknowledged of {} read in {secs:.2} s ({rate:.0} rows/s, up to {most} streams)",
                        p.rows_acknowledged, p.rows_read
                    )
                } else {
                    format!(
                        "{table}: {} rows read, {} acknowledged, {rate:.0} rows/s, {} streams open",
                        p.rows_read, p.rows_acknowledged, p.streams_open
                    )
                }
            })
            .collect();
        (!parts.is_empty()).then(|| parts.join("; "))
    }

    /// Draw the live line until the returned bar is finished (nothing is drawn when stderr
    /// is not a terminal).
    pub(crate) fn show(&self) -> (indicatif::ProgressBar, tokio::task::JoinHandle<()>) {
        let bar = indicatif::ProgressBar::new_spinner();
        let shown = bar.clone();
        let board = self.clone();
        let ticker = tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
            loop {
                tick.tick().await;
                if let Some(line) = board.line(false) {
                    shown.set_message(line);
                    shown.tick();
                }
            }
        });
        (bar, ticker)
    }

    pub(crate) fn finish(&self, bar: indicatif::ProgressBar, ticker: tokio::task::JoinHandle<()>) {
        ticker.abort();
        bar.finish_and_clear();
        if !self.quiet {
            if let Some(line) = self.line(true) {
                eprintln!("zerobus: {line}");
            }
        }
        self.lock().started = None;
    }
}

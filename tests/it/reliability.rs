//! The fault matrix: 200,000 rows with unique ids, through the Rust wrapper and through
//! `INSERT INTO`, against the emulator *program* (so it can be killed), for each fault;
//! the Delta table is read back and every id counted. Prints one row per case and, with
//! `RELIABILITY_MD=path`, writes the table there (`scripts/reliability.sh` writes
//! `tests/RELIABILITY.md`). Ignored in the ordinary suite (about a minute in release):
//! `cargo test --release --workspace --features cli --test it -- reliability:: --ignored --nocapture`.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql};
use arrow_zerobus_sdk_wrapper::wrapper::Interrupt;
use arrow_zerobus_sdk_wrapper::{Transport, WrapperConfig, ZerobusWrapper};
use datafusion::prelude::{SessionConfig, SessionContext};

const TABLE: &str = "main.default.reliable";
const COLUMNS: &str = "id BIGINT NOT NULL, body STRING";
const ROWS: i64 = 200_000;
/// Rows per batch (wrapper) and per statement (INSERT).
const CHUNK: i64 = 5_000;

fn emulator_binary() -> PathBuf {
    if let Ok(p) = std::env::var("ZEROBUS_EMULATOR_BIN") {
        return PathBuf::from(p);
    }
    // target/<profile>/deps/reliability-… → target/<profile>/zerobus-emulator
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .and_then(Path::parent)
        .unwrap()
        .join("zerobus-emulator")
}

struct Server {
    child: Child,
    grpc: SocketAddr,
    http: SocketAddr,
}

impl Server {
    /// Start the emulator program on `warehouse`; ports 0 pick free ones.
    fn start(warehouse: &Path, grpc: SocketAddr, http: SocketAddr, extra: &[&str]) -> Server {
        let bin = emulator_binary();
        assert!(
            bin.exists(),
            "{} is missing: cargo build --workspace --bins",
            bin.display()
        );
        let mut child = Command::new(bin)
            .arg("--warehouse")
            .arg(warehouse)
            .args([
                "--grpc-addr",
                &grpc.to_string(),
                "--http-addr",
                &http.to_string(),
            ])
            .args(["--table", &format!("{TABLE}:{COLUMNS}")])
            .args(extra)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let parts: HashMap<&str, &str> = line
            .split_whitespace()
            .skip(1)
            .filter_map(|p| p.split_once('='))
            .collect();
        let addr =
            |k: &str| -> SocketAddr { parts[k].trim_start_matches("http://").parse().unwrap() };
        Server {
            grpc: addr("grpc"),
            http: addr("http"),
            child,
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill(); // SIGKILL
        let _ = self.child.wait();
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn config(
    server: &Server,
    dead: &Path,
    attempts: u32,
    ack_timeout_ms: Option<u64>,
) -> WrapperConfig {
    let mut b = WrapperConfig::builder(format!("http://{}", server.grpc), TABLE);
    if let Some(ms) = ack_timeout_ms {
        b = b.ack_timeout_ms(ms);
    }
    b.client_id(zerobus_emulator::DEFAULT_CLIENT_ID)
        .client_secret(zerobus_emulator::DEFAULT_CLIENT_SECRET)
        .unity_catalog_url(format!("http://{}", server.http))
        .dead_letter_dir(dead)
        .retry_max_attempts(attempts)
        .retry_base_delay_ms(20)
        .retry_max_delay_ms(400)
        .build()
        .unwrap()
}

fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
    RecordBatch::try_new(
        Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("body", DataType::Utf8, true),
        ])),
        vec![
            Arc::new(Int64Array::from_iter_values(ids.clone())),
            Arc::new(StringArray::from_iter_values(
                ids.map(|i| format!("row-{i}")),
            )),
        ],
    )
    .unwrap()
}

#[derive(Clone, Copy, PartialEq)]
enum Path2 {
    Wrapper,
    /// The wrapper with `transport = flight` (Arrow Flight).
    Flight,
    Insert,
}

/// What a load handed over: the errors met (a failed batch is not retried here: the
/// wrapper retried it and dead-lettered it) and the id ranges it handed to the wrapper or
/// whose statement read them.
type Handed = (Vec<String>, Vec<std::ops::Range<i64>>);

/// Send ids 0..ROWS: four tasks of 5,000-row batches (wrapper) or 5,000-row INSERTs two at
/// a time, sleeping `pace` after each. `stop` (Ctrl-C as zerobus-sql has it): once set,
/// nothing more is handed over; once given up, the sends in flight stop waiting.
async fn ingest(path: Path2, config: WrapperConfig, pace: Duration, stop: Interrupt) -> Handed {
    let lanes = if path == Path2::Insert { 2 } else { 4 };
    let wrapper = ZerobusWrapper::new(config.clone()).unwrap();
    let give_up = {
        let (stop, wrapper) = (stop.clone(), wrapper.clone());
        tokio::spawn(async move {
            stop.wait_given_up().await;
            wrapper.give_up();
        })
    };
    let mut tasks = Vec::new();
    for lane in 0..lanes {
        let (wrapper, config, stop) = (wrapper.clone(), config.clone(), stop.clone());
        tasks.push(tokio::spawn(async move {
            let session = SessionConfig::new().with_extension(Arc::new(stop.clone()));
            let ctx = SessionContext::new_with_config(session);
            register(&ctx, "zerobus", config.connection);
            let mut errors = Vec::new();
            let mut handed = Vec::new();
            let mut start = lane * CHUNK;
            while start < ROWS && !stop.is_set() {
                let end = (start + CHUNK).min(ROWS);
                let result = match path {
                    Path2::Wrapper | Path2::Flight => wrapper
                        .send_batch(&batch(start..end))
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Path2::Insert => async {
                        sql(
                            &ctx,
                            &format!(
                                "INSERT INTO zerobus.main.default.reliable SELECT value AS id, \
                                 concat('row-', CAST(value AS VARCHAR)) AS body FROM generate_series({start}, {})",
                                end - 1
                            ),
                        )
                        .await?
                        .collect()
                        .await
                        .map(|_| ())
                    }
                    .await
                    .map_err(|e| e.to_string()),
                };
                // A statement that read nothing before it was interrupted handed nothing.
                let read = match &result {
                    Err(e) if path == Path2::Insert => !e.contains("interrupted") || e.contains(" rows read"),
                    _ => true,
                };
                if read {
                    handed.push(start..end);
                }
                if let Err(e) = result {
                    errors.push(e);
                }
                tokio::time::sleep(pace).await;
                start += CHUNK * lanes;
            }
            (errors, handed)
        }));
    }
    let mut errors = Vec::new();
    let mut handed = Vec::new();
    for t in tasks {
        let (e, h) = t.await.unwrap();
        errors.extend(e);
        handed.extend(h);
    }
    give_up.abort();
    let _ = wrapper.shutdown().await;
    (errors, handed)
}

/// Count of each id in the table (read from the Delta files, no server needed).
async fn landed(warehouse: &Path) -> HashMap<i64, usize> {
    let mut counts = HashMap::new();
    let location = warehouse.join("main/default/reliable");
    for b in zerobus_emulator::storage::read_table(&location)
        .await
        .unwrap()
    {
        let ids = b.column_by_name("id").unwrap().as_primitive::<Int64Type>();
        let bodies = b.column_by_name("body").unwrap().as_string::<i32>();
        for i in 0..b.num_rows() {
            assert_eq!(
                bodies.value(i),
                format!("row-{}", ids.value(i)),
                "values survive"
            );
            *counts.entry(ids.value(i)).or_default() += 1;
        }
    }
    counts
}

/// Ids in the dead-letter files under `dead`, and the files.
fn dead_letters(dead: &Path) -> (Vec<i64>, Vec<PathBuf>) {
    let mut ids = Vec::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(dead).into_iter().flatten().flatten() {
        let p = e.path();
        if !p.to_string_lossy().ends_with(".dead.arrow") {
            continue;
        }
        let reader =
            arrow::ipc::reader::FileReader::try_new(std::fs::File::open(&p).unwrap(), None)
                .unwrap();
        for b in reader {
            let b = b.unwrap();
            ids.extend(
                b.column_by_name("id")
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .values(),
            );
        }
        files.push(p);
    }
    (ids, files)
}

struct Row {
    case: &'static str,
    path: &'static str,
    /// Rows handed over (all ROWS but where the load was interrupted).
    sent: usize,
    in_table: usize,
    distinct: usize,
    duplicates: usize,
    missing: usize,
    dead_letter: usize,
    secs: f64,
    note: String,
}

fn free_addr() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[derive(Clone, Copy)]
enum Kill {
    No,
    AndRestart,
    Forever,
    /// Run the faulty service for 2.5 s, then restart it on the same warehouse and ports
    /// without the fault's arguments.
    ThenHealthy,
    /// Ctrl-C as `zerobus-sql` takes it, against a service that stopped acknowledging:
    /// interrupt at 1.5 s, give up 1 s later; then a healthy restart and a replay of the
    /// dead letters.
    GiveUp,
}

async fn run_case(
    case: &'static str,
    path: Path2,
    args: &[&str],
    pace: Duration,
    kill: Kill,
) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let warehouse = dir.path().join("wh");
    let dead = dir.path().join("dead");
    let (grpc, http) = (free_addr(), free_addr());
    let mut server = Server::start(&warehouse, grpc, http, args);
    let attempts = if matches!(kill, Kill::Forever) { 3 } else { 60 };
    // Acks delayed past the timeout: 1,000 ms against the service's 1,500 ms.
    let ack_timeout = matches!(kill, Kill::ThenHealthy).then_some(1_000);
    let mut config = config(&server, &dead, attempts, ack_timeout);
    if path == Path2::Flight {
        config.transport = Transport::Flight;
    }
    let started = Instant::now();
    let stop = Interrupt::new();
    let sending = tokio::spawn(ingest(path, config.clone(), pace, stop.clone()));
    let mut note = String::new();
    match kill {
        Kill::No => {}
        Kill::AndRestart => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            server.kill();
            tokio::time::sleep(Duration::from_millis(500)).await;
            server = Server::start(&warehouse, grpc, http, args);
            note = "SIGKILL at 0.4 s, restarted 0.5 s later".into();
        }
        Kill::Forever => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            server.kill();
        }
        Kill::ThenHealthy => {
            tokio::time::sleep(Duration::from_millis(2_500)).await;
            server.kill();
            server = Server::start(&warehouse, grpc, http, &[]);
            note = "ack timeout 1,000 ms; healthy service from 2.5 s on".into();
        }
        Kill::GiveUp => {
            tokio::time::sleep(Duration::from_millis(1_500)).await;
            stop.set();
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            stop.give_up();
        }
    }
    let (errors, handed) = sending.await.unwrap();
    let handed: Vec<i64> = handed.into_iter().flatten().collect();
    let secs = started.elapsed().as_secs_f64();
    let (dl_ids, dl_files) = dead_letters(&dead);
    if matches!(kill, Kill::GiveUp) {
        // What landed while nothing was acknowledged, and the dead letters: together every
        // row handed over; rows in both were sent and then given up on (at-least-once).
        let before = landed(&warehouse).await;
        let in_both = dl_ids.iter().filter(|i| before.contains_key(i)).count();
        note = format!(
            "interrupted at 1.5 s, given up 1 s later; {} rows handed over, {} landed before, {} dead-lettered, {in_both} in both; replayed after a healthy restart",
            handed.len(),
            before.len(),
            dl_ids.len()
        );
        server.kill();
        server = Server::start(&warehouse, grpc, http, &[]);
        let replayer = ZerobusWrapper::new(config).unwrap();
        for f in &dl_files {
            replayer.replay_dead_letters(f).await.unwrap();
        }
        replayer.shutdown().await.unwrap();
    } else if matches!(kill, Kill::Forever) {
        // The table as the killed service left it, and the dead letters: together every
        // row, and no row in both (the dead-letter file holds only unacknowledged rows).
        let before = landed(&warehouse).await;
        let in_both = dl_ids.iter().filter(|i| before.contains_key(i)).count();
        note = format!(
            "SIGKILL at 0.4 s; {} failed batches/statements; {} rows landed before, {} dead-lettered, {in_both} in both; replayed after restart",
            errors.len(),
            before.len(),
            dl_ids.len()
        );
        assert!(
            !errors.is_empty(),
            "{case}: killing the service must fail the ingest"
        );
        server = Server::start(&warehouse, grpc, http, args);
        let replayer = ZerobusWrapper::new(config).unwrap();
        for f in &dl_files {
            replayer.replay_dead_letters(f).await.unwrap();
        }
        replayer.shutdown().await.unwrap();
    } else {
        assert!(errors.is_empty(), "{case}: {:?}", errors.first());
    }
    server.stop();
    let counts = landed(&warehouse).await;
    let in_table: usize = counts.values().sum();
    // Every row handed over is in the table (a given-up load hands over only part of them).
    let missing = if matches!(kill, Kill::GiveUp) {
        handed.iter().filter(|i| !counts.contains_key(i)).count()
    } else {
        (0..ROWS).filter(|i| !counts.contains_key(i)).count()
    };
    Row {
        case,
        path: match path {
            Path2::Wrapper => "wrapper",
            Path2::Flight => "wrapper, flight",
            Path2::Insert => "INSERT",
        },
        sent: if matches!(kill, Kill::GiveUp) {
            handed.len()
        } else {
            ROWS as usize
        },
        in_table,
        distinct: counts.len(),
        duplicates: in_table - counts.len(),
        missing,
        dead_letter: dl_ids.len(),
        secs,
        note,
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "the fault matrix takes about a minute in release: scripts/reliability.sh"]
async fn fault_matrix() {
    let fast = Duration::ZERO;
    let paced = Duration::from_millis(20);
    let cases: Vec<(&'static str, Vec<&str>, Duration, Kill)> = vec![
        (
            "stream closed every 20,000 records",
            vec!["--close-stream-after-records", "20000"],
            fast,
            Kill::No,
        ),
        (
            "UNAVAILABLE on 5% of requests",
            vec!["--unavailable-rate", "0.05"],
            fast,
            Kill::No,
        ),
        (
            "UNAVAILABLE on 50% of requests",
            vec!["--unavailable-rate", "0.5"],
            fast,
            Kill::No,
        ),
        (
            "acknowledgements delayed 300 ms",
            vec!["--ack-delay-ms", "300"],
            fast,
            Kill::No,
        ),
        (
            "acknowledgements delayed 1,500 ms, past the 1,000-ms ack timeout",
            vec!["--ack-delay-ms", "1500"],
            fast,
            Kill::ThenHealthy,
        ),
        (
            "token endpoint answers 429 to its first 6 requests",
            vec!["--token-fault", "429:6"],
            fast,
            Kill::No,
        ),
        (
            "token TTL 2 s (ingest paced over > 4 s)",
            vec!["--token-ttl-secs", "2"],
            Duration::from_millis(450),
            Kill::No,
        ),
        (
            "SIGKILL mid-ingest, restarted on the same warehouse and ports",
            vec![],
            paced,
            Kill::AndRestart,
        ),
        (
            "SIGKILL mid-ingest, never restarted",
            vec![],
            paced,
            Kill::Forever,
        ),
        (
            "Ctrl-C give-up: acknowledgements stop, interrupted, given up 1 s later",
            vec!["--ack-delay-ms", "600000"],
            paced,
            Kill::GiveUp,
        ),
    ];
    let mut rows = Vec::new();
    for (case, args, pace, kill) in &cases {
        for path in [Path2::Wrapper, Path2::Flight, Path2::Insert] {
            let row = run_case(case, path, args, *pace, *kill).await;
            println!(
                "{} / {}: table {} distinct {} duplicates {} missing {} dead-letter {} {:.1} s {}",
                row.case,
                row.path,
                row.in_table,
                row.distinct,
                row.duplicates,
                row.missing,
                row.dead_letter,
                row.secs,
                row.note
            );
            rows.push(row);
        }
    }
    let mut md = format!(
        "# Reliability: the fault matrix\n\n`scripts/reliability.sh` (release build, emulator program with Delta commits and the service's per-stream quota of 100,000 records/s, the wrapper's default lanes of up to 16 streams, {} CPUs). \
         Each case sends ids 0..{ROWS} once: through the Rust wrapper (4 tasks, {CHUNK}-row batches; over protobuf, and over Arrow Flight with `transport = flight`) and through \
         `INSERT INTO … SELECT … FROM generate_series` ({CHUNK}-row statements, 2 at a time); then the Delta table is read back.\n\n\
         | case | path | rows sent | rows in table | distinct ids | duplicates | missing | dead-letter rows | wall s | note |\n\
         |---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    for r in &rows {
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {:.1} | {} |\n",
            r.case,
            r.path,
            r.sent,
            r.in_table,
            r.distinct,
            r.duplicates,
            r.missing,
            r.dead_letter,
            r.secs,
            r.note
        ));
    }
    println!("\n{md}");
    if let Ok(path) = std::env::var("RELIABILITY_MD") {
        std::fs::write(path, &md).unwrap();
    }
    let lost: Vec<String> = rows
        .iter()
        .filter(|r| r.missing > 0)
        .map(|r| format!("{} / {}: {} missing", r.case, r.path, r.missing))
        .collect();
    assert!(lost.is_empty(), "rows lost: {lost:?}");
}

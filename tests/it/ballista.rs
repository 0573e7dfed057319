//! A Zerobus INSERT on a Ballista cluster: a scheduler and two executors as separate
//! processes on 127.0.0.1 (`zerobus-ballista-scheduler`, `zerobus-ballista-executor`),
//! the client `zerobus-sql --ballista`, and an emulator that holds each stream to a quota.
//! Rows are read back from the Delta table. The plans' bytes are checked for secrets.

#![cfg(feature = "ballista")]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, UInt64Type};
use arrow_zerobus_sdk_wrapper::datafusion::ballista::{ZerobusLogicalCodec, ZerobusPhysicalCodec};
use arrow_zerobus_sdk_wrapper::datafusion::{register, sql, ZerobusWriteExec};
use arrow_zerobus_sdk_wrapper::{Transport, ZerobusConnection};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionContext;
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, StreamQuota};

const TABLE: &str = "main.default.spread";

/// A free port on 127.0.0.1 (released at once: the process that binds it next is ours).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A scheduler and executors, killed when dropped. Each process's output goes to a file.
struct Cluster {
    scheduler_port: u16,
    scheduler: Child,
    executors: Vec<Child>,
    logs: Vec<PathBuf>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in self
            .executors
            .iter_mut()
            .chain(std::iter::once(&mut self.scheduler))
        {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Cluster {
    /// The scheduler (no Zerobus variables at all) and `n` executors whose environment has
    /// the emulator's endpoint, workspace and credentials. Short heartbeats, so that a
    /// killed executor is declared lost within seconds.
    fn start(emu: &EmulatorHandle, dir: &Path, n: usize) -> Cluster {
        let log = |name: &str| {
            let path = dir.join(format!("{name}.log"));
            let file = std::fs::File::create(&path).unwrap();
            (path, file)
        };
        let scheduler_port = free_port();
        let (scheduler_log, file) = log("scheduler");
        let scheduler = Command::new(env!("CARGO_BIN_EXE_zerobus-ballista-scheduler"))
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--bind-port", &scheduler_port.to_string()])
            .args(["--executor-timeout-seconds", "5"])
            .args(["--expire-dead-executor-interval-seconds", "1"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("start zerobus-ballista-scheduler");
        let mut cluster = Cluster {
            scheduler_port,
            scheduler,
            executors: Vec::new(),
            logs: vec![scheduler_log],
        };
        wait_for_port(scheduler_port, "the scheduler");
        for i in 0..n {
            let work = dir.join(format!("executor-{i}"));
            std::fs::create_dir_all(&work).unwrap();
            let (path, file) = log(&format!("executor-{i}"));
            let (flight, grpc, health) = (free_port(), free_port(), free_port());
            let child = Command::new(env!("CARGO_BIN_EXE_zerobus-ballista-executor"))
                .args(["--scheduler-host", "127.0.0.1"])
                .args(["--scheduler-port", &scheduler_port.to_string()])
                .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                .args(["--bind-port", &flight.to_string()])
                .args(["--bind-grpc-port", &grpc.to_string()])
                .args(["--bind-health-port", &health.to_string()])
                .args(["--executor-heartbeat-interval-seconds", "1"])
                .arg("--work-dir")
                .arg(&work)
                .env("ZEROBUS_ENDPOINT", emu.grpc_url())
                .env("DATABRICKS_HOST", emu.http_url())
                .env("DATABRICKS_CLIENT_ID", emu.client_id())
                .env("DATABRICKS_CLIENT_SECRET", emu.client_secret())
                .env(
                    "RUST_LOG",
                    "warn,arrow_zerobus_sdk_wrapper=info,ballista_executor=info",
                )
                .stdout(file.try_clone().unwrap())
                .stderr(file)
                .spawn()
                .expect("start zerobus-ballista-executor");
            cluster.executors.push(child);
            cluster.logs.push(path);
            wait_for_port(flight, "an executor");
        }
        // Registered: the scheduler logs one request per executor.
        let deadline = Instant::now() + Duration::from_secs(60);
        while cluster.log(0).matches("register executor request").count() < n {
            assert!(
                Instant::now() < deadline,
                "executors did not register:\n{}",
                cluster.log(0)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        cluster
    }

    /// Process `i`'s output so far (0 is the scheduler, then the executors).
    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(&self.logs[i]).unwrap_or_default()
    }

    /// The partitions each executor wrote to completion: "zerobus write partition done".
    fn partitions_written(&self) -> Vec<usize> {
        (1..self.logs.len())
            .map(|i| self.log(i).matches("zerobus write partition done").count())
            .collect()
    }

    /// `zerobus-sql --ballista` against this cluster, with the client's connection to the
    /// emulator (used for the table's schema; the executors use their own).
    fn zerobus_sql(&self, emu: &EmulatorHandle, flags: &[&str], statements: &[&str]) -> Child {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zerobus-sql"));
        command
            .args([
                "--ballista",
                &format!("df://127.0.0.1:{}", self.scheduler_port),
            ])
            .args(flags)
            .args(["--format", "csv", "--quiet"])
            .env("ZEROBUS_ENDPOINT", emu.grpc_url())
            .env("DATABRICKS_HOST", emu.http_url())
            .env("DATABRICKS_CLIENT_ID", emu.client_id())
            .env("DATABRICKS_CLIENT_SECRET", emu.client_secret())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for s in statements {
            command.args(["-c", s]);
        }
        command.spawn().expect("run zerobus-sql")
    }
}

/// An emulator holding each stream to `records_per_sec`, with the table created, and
/// credentials no plan could hold by chance.
async fn emulator(dir: &Path, records_per_sec: u64) -> EmulatorHandle {
    let mut config = EmulatorConfig::new(dir.join("warehouse")).with_stream_quota(StreamQuota {
        records_per_sec,
        bytes_per_sec: StreamQuota::SERVICE.bytes_per_sec,
    });
    config.client_id = "cluster-client-4d2e".into();
    config.client_secret = "cluster-secret-7f3a9c".into();
    let emu = Emulator::start(config).await.unwrap();
    emu.create_table(TABLE, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    emu
}

/// `files` Parquet files of `rows` ids each (ids 0..files×rows) in `dir/input`.
async fn parquet_files(dir: &Path, files: usize, rows: usize) -> PathBuf {
    let input = dir.join("input");
    std::fs::create_dir_all(&input).unwrap();
    for f in 0..files {
        let ids = (f * rows) as i64..((f + 1) * rows) as i64;
        let path = input.join(format!("part-{f}.parquet"));
        crate::common::id_parquet(&path, ids, "concat('body-', CAST(value AS VARCHAR))").await;
    }
    input
}

/// How many times each id landed in the table.
async fn landed(emu: &EmulatorHandle) -> BTreeMap<i64, usize> {
    let location = emu.table_location(TABLE).unwrap();
    let batches = zerobus_emulator::storage::read_table(&location)
        .await
        .unwrap();
    let mut seen = BTreeMap::new();
    for batch in &batches {
        let ids = batch
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>();
        for id in ids.values().iter() {
            *seen.entry(*id).or_insert(0) += 1;
        }
    }
    seen
}

fn insert_statements(input: &Path) -> [String; 2] {
    [
        // One partition per file: eight tasks for the two executors.
        "SET datafusion.execution.target_partitions = 8".to_string(),
        format!(
            "INSERT INTO zerobus.{TABLE} SELECT * FROM '{}/*.parquet'",
            input.display()
        ),
    ]
}

fn finish(child: Child) -> (bool, String, String) {
    let out = child.wait_with_output().expect("zerobus-sql ran");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Eight files through a cluster of two executors: every id lands exactly once, both
/// executors wrote partitions, each partition on streams of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_insert_on_a_cluster_is_written_by_both_executors() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), 5_000).await;
    let input = parquet_files(dir.path(), 8, 5_000).await;
    let cluster = Cluster::start(&emu, dir.path(), 2);
    let statements = insert_statements(&input);
    let started = Instant::now();
    let client = cluster.zerobus_sql(&emu, &[], &[&statements[0], &statements[1]]);
    let (ok, out, err) = tokio::task::spawn_blocking(move || finish(client))
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(
        ok,
        "zerobus-sql --ballista failed: {err}\n{out}\nscheduler:\n{}",
        cluster.log(0)
    );
    assert!(out.contains("count\n40000\n"), "{out}");
    let seen = landed(&emu).await;
    assert_eq!(seen.len(), 40_000, "distinct ids landed");
    assert!(seen.keys().copied().eq(0..40_000));
    assert!(seen.values().all(|&n| n == 1), "an id landed twice");
    let written = cluster.partitions_written();
    let stats = emu.stats();
    let streams = stats.get(TABLE).map(|s| s.streams_opened).unwrap_or(0);
    println!(
        "40,000 rows, 8 partitions, 2 executors in {:.2} s: partitions per executor {written:?}, \
         {streams} streams opened",
        elapsed.as_secs_f64()
    );
    assert_eq!(written.iter().sum::<usize>(), 8, "{written:?}");
    assert!(
        written.iter().all(|&n| n > 0),
        "an executor wrote nothing: {written:?}"
    );
    // Each executor wrote through its own wrapper: a stream at least on each.
    assert!(streams >= 2, "{streams} streams for 2 executors");
    emu.shutdown().await;
}

/// An executor killed while it writes: Ballista runs its tasks again on the other one, and
/// no id is missing. Duplicates (rows the killed executor had landed before it died, sent
/// again by the rerun) are counted and printed: delivery is at least once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_killed_mid_insert_loses_no_row() {
    let dir = tempfile::tempdir().unwrap();
    // 8 × 5,000 rows at 1,000 records/s per stream, one stream a partition (max_streams 2
    // travels in the plan; a task runs two partitions): a partition takes at least 5 s,
    // so the kill lands while partitions are being written.
    let emu = emulator(dir.path(), 1_000).await;
    let input = parquet_files(dir.path(), 8, 5_000).await;
    let mut cluster = Cluster::start(&emu, dir.path(), 2);
    let statements = insert_statements(&input);
    let client = cluster.zerobus_sql(
        &emu,
        &["--max-streams", "2"],
        &[&statements[0], &statements[1]],
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let acknowledged = || {
        emu.stats()
            .get(TABLE)
            .map(|s| s.records_acknowledged)
            .unwrap_or(0)
    };
    while acknowledged() < 2_000 {
        assert!(Instant::now() < deadline, "the insert did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let victim = &mut cluster.executors[0];
    victim.kill().expect("kill executor 0");
    let _ = victim.wait();
    let at_kill = acknowledged();
    assert!(at_kill < 40_000, "the insert had finished before the kill");
    let (ok, out, err) = tokio::task::spawn_blocking(move || finish(client))
        .await
        .unwrap();
    assert!(
        ok,
        "the insert failed after an executor was lost: {err}\n{out}\nscheduler:\n{}",
        cluster.log(0)
    );
    let seen = landed(&emu).await;
    let missing: Vec<i64> = (0..40_000).filter(|id| !seen.contains_key(id)).collect();
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    println!(
        "executor 0 killed at {at_kill} records acknowledged; client said {:?}; partitions done \
         per executor {:?}; {} ids missing, {duplicates} duplicate rows",
        out.lines().collect::<Vec<_>>(),
        cluster.partitions_written(),
        missing.len()
    );
    assert!(
        missing.is_empty(),
        "{} ids missing, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(10)]
    );
    assert_eq!(seen.len(), 40_000);
    assert!(
        out.contains("count\n40000\n"),
        "the rerun partitions' counts: {out}"
    );
    // The survivor finished partitions, its own and the lost executor's.
    assert!(cluster.partitions_written()[1] > 0);
    emu.shutdown().await;
}

/// Ctrl-C under `zerobus-sql --ballista` cancels the job on the cluster: the executors stop
/// their tasks, and rows stop landing well short of the whole input (before, the job went on
/// to the end after the client had stopped waiting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_cancels_the_cluster_job() {
    let dir = tempfile::tempdir().unwrap();
    // 16 files of 1,000 rows, one stream per partition at 500 records/s: each partition
    // takes 2 s, the whole input at least 8 s on two executors.
    let emu = emulator(dir.path(), 500).await;
    let input = parquet_files(dir.path(), 16, 1_000).await;
    let cluster = Cluster::start(&emu, dir.path(), 2);
    let insert = format!(
        "INSERT INTO zerobus.{TABLE} SELECT * FROM '{}/*.parquet'",
        input.display()
    );
    let client = cluster.zerobus_sql(
        &emu,
        &["--max-streams", "1"],
        &["SET datafusion.execution.target_partitions = 16", &insert],
    );
    let acknowledged = || {
        emu.stats()
            .get(TABLE)
            .map(|s| s.records_acknowledged)
            .unwrap_or(0)
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while acknowledged() < 500 {
        assert!(Instant::now() < deadline, "the insert did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let sent = Command::new("kill")
        .args(["-INT", &client.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let at_interrupt = acknowledged();
    let (ok, out, err) = tokio::task::spawn_blocking(move || finish(client))
        .await
        .unwrap();
    assert!(!ok, "the interrupted insert succeeded: {out}");
    assert!(
        err.contains("cancelled cluster job"),
        "{err}\n{at_interrupt} acknowledged at the interrupt, {} now\nscheduler:\n{}",
        acknowledged(),
        cluster.log(0)
    );
    // What was in flight on the executors settles; then nothing more lands.
    let mut last = acknowledged();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let now = acknowledged();
        if now == last {
            break;
        }
        assert!(Instant::now() < deadline, "rows kept landing: {now}");
        last = now;
    }
    println!("rows landed after Ctrl-C and cancel: {last} of 16000; client said: {err}");
    assert!(last < 16_000, "the whole input landed after Ctrl-C: {last}");
    assert!(
        cluster.log(0).contains("cancellation request for job"),
        "scheduler:\n{}",
        cluster.log(0)
    );
    emu.shutdown().await;
}

/// The plan of an INSERT as it travels: client → scheduler (logical, ZerobusLogicalCodec)
/// and scheduler → executor (physical, ZerobusPhysicalCodec). No byte of either holds the
/// client's secret or client id; the table's OPTIONS travel; the executor connects with its
/// own connection, and the rows land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plan_travels_without_secrets_and_writes_with_the_executors_connection() {
    use datafusion_proto::bytes::{
        logical_plan_from_bytes_with_extension_codec, logical_plan_to_bytes_with_extension_codec,
        physical_plan_from_bytes_with_extension_codec, physical_plan_to_bytes_with_extension_codec,
    };
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path(), StreamQuota::SERVICE.records_per_sec).await;
    let (client_id, secret) = (emu.client_id(), emu.client_secret());
    // The client's connection: the emulator's UC for the table's schema.
    let client = SessionContext::new();
    register(
        &client,
        "zerobus",
        ZerobusConnection::new(emu.grpc_url())
            .client_id(client_id)
            .client_secret(secret)
            .unity_catalog_url(emu.http_url()),
    );
    client
        .sql(&format!("CREATE EXTERNAL TABLE tuned STORED AS ZEROBUS LOCATION '{TABLE}' OPTIONS ('transport' 'flight', 'max_streams' '3')"))
        .await
        .unwrap();
    let input = parquet_files(dir.path(), 1, 3_000).await;
    let insert = format!(
        "INSERT INTO tuned SELECT * FROM '{}/part-0.parquet'",
        input.display()
    );
    let client = client.enable_url_table();
    let logical = sql(&client, &insert).await.unwrap().logical_plan().clone();
    let bytes =
        logical_plan_to_bytes_with_extension_codec(&logical, &ZerobusLogicalCodec::default())
            .unwrap();
    let holds = |b: &[u8], s: &str| b.windows(s.len()).any(|w| w == s.as_bytes());
    assert!(
        !holds(&bytes, secret) && !holds(&bytes, client_id),
        "the logical plan holds a credential"
    );
    assert!(holds(&bytes, TABLE) && holds(&bytes, "flight"));

    // The scheduler: no Zerobus connection at all. It decodes and plans.
    assert!(
        std::env::var_os("ZEROBUS_ENDPOINT").is_none(),
        "this test needs ZEROBUS_ENDPOINT unset (it plays a scheduler without Zerobus settings)"
    );
    let scheduler = SessionContext::new();
    let decoded = logical_plan_from_bytes_with_extension_codec(
        &bytes,
        &scheduler.task_ctx(),
        &ZerobusLogicalCodec::default(),
    )
    .unwrap();
    let physical = scheduler
        .state()
        .create_physical_plan(&decoded)
        .await
        .unwrap();
    let stage = physical_plan_to_bytes_with_extension_codec(
        physical.clone(),
        &ZerobusPhysicalCodec::default(),
    )
    .unwrap();
    assert!(
        !holds(&stage, secret) && !holds(&stage, client_id),
        "the physical plan holds a credential"
    );

    // Executed where no connection is configured: a clear error, nothing sent.
    let nowhere = physical_plan_from_bytes_with_extension_codec(
        &stage,
        &scheduler.task_ctx(),
        &ZerobusPhysicalCodec::default(),
    )
    .unwrap();
    let err = datafusion::physical_plan::collect(nowhere, scheduler.task_ctx())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("ZEROBUS_ENDPOINT") && err.contains(TABLE),
        "{err}"
    );

    // An executor whose own connection is for another workspace: refused, naming the
    // table and the host the statement was planned for; nothing is sent there.
    let elsewhere = ZerobusConnection::new("http://127.0.0.1:9")
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url("http://127.0.0.1:9");
    let wrong = physical_plan_from_bytes_with_extension_codec(
        &stage,
        &SessionContext::new().task_ctx(),
        &ZerobusPhysicalCodec::with_connection(elsewhere),
    )
    .unwrap();
    let err = datafusion::physical_plan::collect(wrong, scheduler.task_ctx())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(TABLE) && err.contains(&emu.grpc_url()) && err.contains("planned for"),
        "{err}"
    );

    // An executor with its own connection (here given in code; on a cluster, its
    // environment): the OPTIONS came along, the rows land.
    let own = ZerobusConnection::new(emu.grpc_url())
        .client_id(emu.client_id())
        .client_secret(emu.client_secret())
        .unity_catalog_url(emu.http_url());
    let executor = SessionContext::new();
    let plan = physical_plan_from_bytes_with_extension_codec(
        &stage,
        &executor.task_ctx(),
        &ZerobusPhysicalCodec::with_connection(own),
    )
    .unwrap();
    let write = find_write(&plan).expect("a ZerobusWriteExec in the decoded plan");
    let config = write.sink().config();
    assert_eq!(
        (config.transport, config.max_streams),
        (Transport::Flight, 3)
    );
    assert_eq!(
        config.client_secret.as_ref().map(|s| s.expose()),
        Some(emu.client_secret())
    );
    let out = datafusion::physical_plan::collect(plan, executor.task_ctx())
        .await
        .unwrap();
    assert_eq!(
        out[0].column(0).as_primitive::<UInt64Type>().value(0),
        3_000
    );
    let seen = landed(&emu).await;
    assert!(seen.keys().copied().eq(0..3_000) && seen.values().all(|&n| n == 1));
    emu.shutdown().await;
}

/// `--ballista` writes with the executors' connection: with the embedded emulator (no
/// endpoint) it is refused, before any scheduler is contacted.
#[test]
fn ballista_without_an_endpoint_is_refused() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_zerobus-sql"))
        .args(["--ballista", &format!("df://127.0.0.1:{port}")])
        .arg("--warehouse")
        .arg(dir.path().join("warehouse"))
        .args(["-c", "SELECT 1"])
        .env_remove("ZEROBUS_ENDPOINT")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("--ballista needs --endpoint (ZEROBUS_ENDPOINT)"),
        "{err}"
    );
    assert!(listener.accept().is_err(), "the scheduler was contacted");
}

fn find_write(plan: &Arc<dyn ExecutionPlan>) -> Option<&ZerobusWriteExec> {
    if let Some(w) = plan.downcast_ref::<ZerobusWriteExec>() {
        return Some(w);
    }
    plan.children().into_iter().find_map(find_write)
}

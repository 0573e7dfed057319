//! Object-store directories and inputs against a real S3-compatible server (moto's server
//! mode, on 127.0.0.1): `zerobus-sql` reads an `s3://` input, writes its dead letters and
//! debug files under `s3://` prefixes, and `zerobus-sql copy` loads an `s3://` file. The
//! credentials reach every process through the standard AWS variables.
//!
//! The server is `moto_server` (`ZEROBUS_MOTO_SERVER`, else on `PATH`; `pip install
//! 'moto[server]'`, as `.ci/run` does). Without it the test says so and passes, except in
//! CI (`CI` set), where it fails.

#![cfg(feature = "cli")]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use arrow_zerobus_sdk_wrapper::{WrapperConfig, ZerobusWrapper};
use futures::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use zerobus_emulator::{Emulator, EmulatorConfig, EmulatorHandle, Faults};

const BUCKET: &str = "zerobus-test";
const KEY: &str = "moto-key";
const SECRET: &str = "moto-secret";

/// A moto server on a free port, killed when dropped.
struct S3Server {
    child: Child,
    port: u16,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3Server {
    /// The server with `BUCKET` created, or `None` (outside CI) when there is no
    /// `moto_server`.
    async fn start() -> Option<S3Server> {
        let program = std::env::var("ZEROBUS_MOTO_SERVER").unwrap_or_else(|_| "moto_server".into());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let child = match Command::new(&program)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI needs an S3 server: cannot run {program}: {e} (pip install 'moto[server]')"
                );
                eprintln!("no S3 server ({program}: {e}); skipping the object-store test");
                return None;
            }
        };
        let server = S3Server { child, port };
        let deadline = Instant::now() + Duration::from_secs(60);
        let client = reqwest::Client::new();
        // Create the bucket (moto takes unsigned requests) once the server answers.
        loop {
            match client
                .put(format!("{}/{BUCKET}", server.endpoint()))
                .send()
                .await
            {
                Ok(r) if r.status().is_success() => break,
                _ if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(100)).await
                }
                other => panic!("the S3 server on {port} did not come up: {other:?}"),
            }
        }
        Some(server)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The test's own client of the bucket.
    fn bucket(&self) -> AmazonS3 {
        AmazonS3Builder::new()
            .with_endpoint(self.endpoint())
            .with_allow_http(true)
            .with_bucket_name(BUCKET)
            .with_region("us-east-1")
            .with_access_key_id(KEY)
            .with_secret_access_key(SECRET)
            .build()
            .unwrap()
    }

    /// The standard AWS variables that point a process at this server.
    fn env(&self, command: &mut Command) {
        command
            .env("AWS_ACCESS_KEY_ID", KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_ALLOW_HTTP", "true");
    }

    /// Every object under `prefix` with its bytes, by name.
    async fn objects(&self, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let bucket = self.bucket();
        let listed: Vec<_> = bucket
            .list(Some(&ObjectPath::from(prefix)))
            .try_collect()
            .await
            .unwrap();
        let mut out = BTreeMap::new();
        for meta in listed {
            let bytes = bucket
                .get(&meta.location)
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            out.insert(meta.location.to_string(), bytes.to_vec());
        }
        out
    }
}

/// A Parquet file of ids `ids` (`body` 'POISON' for `poison`) as bytes.
async fn parquet(
    dir: &Path,
    name: &str,
    ids: std::ops::Range<i64>,
    poison: Option<i64>,
) -> Vec<u8> {
    let path = dir.join(name);
    let body = match poison {
        Some(p) => format!(
            "CASE WHEN value = {p} THEN 'POISON' ELSE concat('b', CAST(value AS VARCHAR)) END"
        ),
        None => "concat('b', CAST(value AS VARCHAR))".to_string(),
    };
    crate::common::id_parquet(&path, ids, &body).await;
    std::fs::read(&path).unwrap()
}

fn zerobus_sql(emu: &EmulatorHandle, s3: &S3Server, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_zerobus-sql"));
    command
        .args(["--format", "csv", "--quiet"])
        .args(args)
        .env("ZEROBUS_ENDPOINT", emu.grpc_url())
        .env("DATABRICKS_HOST", emu.http_url())
        .env("DATABRICKS_CLIENT_ID", emu.client_id())
        .env("DATABRICKS_CLIENT_SECRET", emu.client_secret())
        // Load journals in the bucket: shared by every process of the test.
        .env("ZEROBUS_JOURNAL_DIR", format!("s3://{BUCKET}/journal"));
    s3.env(&mut command);
    command.output().expect("run zerobus-sql")
}

fn ids_of(batches: &[RecordBatch], into: &mut BTreeMap<i64, usize>) {
    for b in batches {
        for id in b
            .column_by_name("id")
            .unwrap()
            .as_primitive::<Int64Type>()
            .values()
        {
            *into.entry(*id).or_insert(0) += 1;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_inputs_dead_letters_and_debug_files() {
    let Some(s3) = S3Server::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let emu = Emulator::start(
        EmulatorConfig::new(dir.path().join("warehouse")).with_faults(Faults {
            refuse_records_containing: Some(b"POISON".to_vec()),
            ..Faults::default()
        }),
    )
    .await
    .unwrap();
    for t in ["main.default.ev", "main.default.copied"] {
        emu.create_table(t, "id BIGINT NOT NULL, body STRING")
            .await
            .unwrap();
    }
    let bucket = s3.bucket();
    let put = |name: &str, bytes: Vec<u8>| {
        let bucket = &bucket;
        let path = ObjectPath::from(name);
        async move { bucket.put(&path, PutPayload::from(bytes)).await.unwrap() }
    };
    put(
        "in/events.parquet",
        // The refused row is in the last batch read: every row is read before the load stops.
        parquet(dir.path(), "events.parquet", 0..20_000, Some(19_000)).await,
    )
    .await;
    put(
        "in/clean.parquet",
        parquet(dir.path(), "clean.parquet", 0..3_000, None).await,
    )
    .await;

    // INSERT from an s3:// input; the batch with the refused row goes to s3://…/dead.
    let dead_dir = format!("s3://{BUCKET}/dead");
    let debug_dir = format!("s3://{BUCKET}/debug");
    let out = zerobus_sql(
        &emu,
        &s3,
        &[
            "--retry-max-attempts", "2",
            "--dead-letter-dir", &dead_dir,
            "--debug-enabled",
            "--debug-output-dir", &debug_dir,
            "-c", "SET datafusion.execution.target_partitions = 1",
            "-c", &format!("INSERT INTO zerobus.main.default.ev SELECT * FROM 's3://{BUCKET}/in/events.parquet'"),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the refused row fails the statement");
    assert!(
        err.contains(&format!("{dead_dir}/")),
        "the error names the dead letters: {err}"
    );

    let mut ids = BTreeMap::new();
    let landed =
        zerobus_emulator::storage::read_table(&emu.table_location("main.default.ev").unwrap())
            .await
            .unwrap();
    ids_of(&landed, &mut ids);
    let landed_rows = ids.values().sum::<usize>();
    let dead = s3.objects("dead").await;
    assert!(
        !dead.is_empty() && dead.keys().all(|k| k.ends_with(".dead.arrow")),
        "{:?}",
        dead.keys()
    );
    let mut dead_ids = BTreeMap::new();
    for (name, bytes) in &dead {
        let local = dir.path().join(name.replace('/', "_"));
        std::fs::write(&local, bytes).unwrap();
        let (table, batches) =
            arrow_zerobus_sdk_wrapper::dead_letter::read_dead_letters(&local).unwrap();
        assert_eq!(table.as_deref(), Some("main.default.ev"));
        ids_of(&batches, &mut dead_ids);
    }
    println!(
        "{landed_rows} rows landed, {} dead-lettered in {} objects under {dead_dir}",
        dead_ids.values().sum::<usize>(),
        dead.len()
    );
    assert!(
        dead_ids.contains_key(&19_000),
        "the refused row is a dead letter"
    );
    for (id, n) in &dead_ids {
        *ids.entry(*id).or_insert(0) += n;
    }
    // Every id exactly once: landed or dead-lettered, never both, never neither.
    assert!(ids.keys().copied().eq(0..20_000) && ids.values().all(|&n| n == 1));

    // Debug files: uploaded once finished, every batch sent and what was sent for it.
    let debug = s3.objects("debug").await;
    assert!(
        debug.keys().any(|k| k.ends_with(".pb")),
        "{:?}",
        debug.keys()
    );
    let mut sent_ids = BTreeMap::new();
    for (name, bytes) in debug.iter().filter(|(k, _)| k.ends_with(".arrows")) {
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let batches: Vec<RecordBatch> = reader.collect::<Result<_, _>>().unwrap();
        ids_of(&batches, &mut sent_ids);
    }
    assert!(
        sent_ids.keys().copied().eq(0..20_000),
        "debug files hold every batch sent"
    );

    // `zerobus-sql copy` of an s3:// file.
    let out = zerobus_sql(
        &emu,
        &s3,
        &[
            "copy",
            &format!("s3://{BUCKET}/in/clean.parquet"),
            "main.default.copied",
        ],
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("loaded 3000 rows into main.default.copied from 1 file in"),
        "{said}"
    );
    let mut copied = BTreeMap::new();
    ids_of(
        &zerobus_emulator::storage::read_table(&emu.table_location("main.default.copied").unwrap())
            .await
            .unwrap(),
        &mut copied,
    );
    assert!(copied.keys().copied().eq(0..3_000) && copied.values().all(|&n| n == 1));
    emu.shutdown().await;
}

/// A directory URL of a scheme no store serves is refused when the wrapper is made,
/// naming the option, before anything is sent.
#[test]
fn a_directory_of_an_unknown_scheme_is_refused_up_front() {
    for (option, dir) in [
        ("dead_letter_dir", "ftp://host/dead"),
        ("debug_output_dir", "https://host/debug"),
    ] {
        let mut b = WrapperConfig::builder("http://127.0.0.1:1", "main.default.t")
            .client_id("id")
            .client_secret("secret")
            .unity_catalog_url("http://127.0.0.1:2");
        b = if option == "dead_letter_dir" {
            b.dead_letter_dir(dir)
        } else {
            b.debug_enabled(true).debug_output_dir(dir)
        };
        let e = ZerobusWrapper::new(b.build().unwrap())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains(&format!("{option} '{dir}'")) && e.contains("s3"),
            "{e}"
        );
    }
}

/// The load journal in a bucket, shared by processes: two `zerobus-sql copy` at once into
/// one table, of disjoint files, both land everything; a third process loading a file
/// another one is reading is refused by name (the claim object); a later run over every
/// file finds them all loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_in_a_bucket_is_shared_by_processes() {
    let Some(s3) = S3Server::start().await else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    // One slow stream: a load of 60,000 rows takes about 3 s.
    let emu = Emulator::start(
        EmulatorConfig::new(dir.path().join("warehouse")).with_stream_quota(
            zerobus_emulator::StreamQuota {
                records_per_sec: 20_000,
                bytes_per_sec: 100_000_000,
            },
        ),
    )
    .await
    .unwrap();
    emu.create_table("main.default.shared", "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (i, name) in ["a1", "a2", "b1", "b2"].iter().enumerate() {
        let start = i as i64 * 30_000;
        crate::common::id_parquet(
            &input.join(format!("{name}.parquet")),
            start..start + 30_000,
            "concat('b', CAST(value AS VARCHAR))",
        )
        .await;
    }
    let spawn = |glob: &str| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_zerobus-sql"));
        command
            .args(["--quiet", "--max-streams", "1", "copy"])
            .arg(input.join(glob))
            .arg("main.default.shared")
            .env("ZEROBUS_ENDPOINT", emu.grpc_url())
            .env("DATABRICKS_HOST", emu.http_url())
            .env("DATABRICKS_CLIENT_ID", emu.client_id())
            .env("DATABRICKS_CLIENT_SECRET", emu.client_secret())
            .env("ZEROBUS_JOURNAL_DIR", format!("s3://{BUCKET}/journal"))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        s3.env(&mut command);
        command.spawn().expect("run zerobus-sql copy")
    };
    let a = spawn("a*.parquet");
    let b = spawn("b*.parquet");
    // While they run, a third load of a file `a` is reading is refused by name.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let third = spawn("a1.parquet").wait_with_output().unwrap();
    let refused = String::from_utf8_lossy(&third.stderr);
    assert!(!third.status.success(), "{refused}");
    assert!(
        refused.contains("a1.parquet is being loaded into main.default.shared by another load"),
        "{refused}"
    );
    for (name, child) in [("a", a), ("b", b)] {
        let out = child.wait_with_output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            said.contains("loaded 60000 rows into main.default.shared from 2 files"),
            "{said}"
        );
    }
    let mut landed = BTreeMap::new();
    ids_of(
        &zerobus_emulator::storage::read_table(&emu.table_location("main.default.shared").unwrap())
            .await
            .unwrap(),
        &mut landed,
    );
    assert!(landed.keys().copied().eq(0..120_000) && landed.values().all(|&n| n == 1));
    // The entries and claims are objects in the bucket; the claims are gone.
    let objects = s3.objects("journal").await;
    let entries = objects
        .keys()
        .filter(|k| k.ends_with(".json") && k.contains("/files/"))
        .count();
    assert_eq!(entries, 4, "{:?}", objects.keys());
    assert!(
        !objects.keys().any(|k| k.ends_with(".claim")),
        "{:?}",
        objects.keys()
    );
    let all = spawn("*.parquet").wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&all.stdout);
    assert!(
        said.contains("4 of 4 files already loaded into main.default.shared"),
        "{said}{}",
        String::from_utf8_lossy(&all.stderr)
    );
    emu.shutdown().await;
}

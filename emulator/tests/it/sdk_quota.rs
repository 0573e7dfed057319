//! The per-stream quota, with the official SDK as the client: a stream is read no faster
//! than its quota (acknowledgements come later, nothing is refused or lost), each stream
//! has a quota of its own, and the stats endpoint reports what was paced.
//!
//! The time bounds follow from the quota (N records at Q/s cannot take less than N/Q),
//! not from the machine's speed.

use std::time::{Duration, Instant};

use crate::common::*;
use databricks_zerobus_ingest_sdk::{message_descriptor, ProtoBytes};
use prost::Message as _;
use prost_reflect::DynamicMessage;
use serde_json::json;
use zerobus_emulator::StreamQuota;

const TABLE: &str = "main.default.paced";

async fn send(t: &TestEmulator, ids: std::ops::Range<i64>, per_request: usize) -> Duration {
    let desc = descriptor(&t.emu, TABLE).await;
    let md = message_descriptor(&desc).unwrap();
    let stream = proto_stream(&t.emu, TABLE).await;
    let started = Instant::now();
    let ids: Vec<i64> = ids.collect();
    for chunk in ids.chunks(per_request) {
        let recs: Vec<ProtoBytes> = chunk
            .iter()
            .map(|id| {
                ProtoBytes(
                    DynamicMessage::deserialize(md.clone(), json!({"id": id}))
                        .unwrap()
                        .encode_to_vec(),
                )
            })
            .collect();
        stream.ingest_records_offset(recs).await.expect("ingest");
    }
    stream.flush().await.expect("flush");
    let took = started.elapsed();
    let mut stream = stream;
    stream.close().await.expect("close");
    took
}

async fn quota_emulator(records_per_sec: u64, bytes_per_sec: u64) -> TestEmulator {
    let t = start(|c| {
        c.with_stream_quota(StreamQuota {
            records_per_sec,
            bytes_per_sec,
        })
    })
    .await;
    t.emu
        .create_table(TABLE, "id BIGINT NOT NULL")
        .await
        .unwrap();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_read_no_faster_than_its_record_quota() {
    let t = quota_emulator(2_000, 0).await;
    let took = send(&t, 0..6_000, 500).await;
    let s = t.emu.stats()[TABLE].clone();
    println!("6,000 records at 2,000/s on one SDK stream: {took:?}; {s:?}");
    assert!(took >= Duration::from_secs(3), "{took:?}");
    assert_eq!(s.records_acknowledged, 6_000);
    assert!(s.seconds_paced >= 2.5, "{s:?}");
    let batches = read_table(&t.emu.table_location(TABLE).unwrap()).await;
    let (distinct, dups, missing) = id_stats(&batches, 6_000);
    assert_eq!(
        (distinct, dups, missing.len()),
        (6_000, 0, 0),
        "paced, not dropped"
    );
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_quota_paces_too_and_zero_turns_both_off() {
    // Records of the table are ~3 bytes (field tag + varint): 6,000 records ≈ 18 KB, at
    // 6,000 bytes/s at least 3 s.
    let t = quota_emulator(0, 6_000).await;
    let took = send(&t, 0..6_000, 500).await;
    let s = t.emu.stats()[TABLE].clone();
    println!("6,000 records at 6,000 bytes/s: {took:?}; {s:?}");
    assert!(s.bytes_acknowledged >= 6_000 * 2, "{s:?}");
    let floor = Duration::from_secs_f64(s.bytes_acknowledged as f64 / 6_000.0);
    assert!(took >= floor, "{took:?} < {floor:?}");
    t.emu.shutdown().await;

    let t = quota_emulator(0, 0).await;
    send(&t, 0..6_000, 500).await;
    let s = t.emu.stats()[TABLE].clone();
    assert_eq!(s.seconds_paced, 0.0, "no quota, no pacing: {s:?}");
    assert_eq!(s.records_acknowledged, 6_000);
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_stream_has_a_quota_of_its_own() {
    let t = quota_emulator(2_000, 0).await;
    let started = Instant::now();
    let (a, b) = tokio::join!(send(&t, 0..4_000, 500), send(&t, 4_000..8_000, 500));
    let both = started.elapsed();
    let s = t.emu.stats()[TABLE].clone();
    println!(
        "two streams of 4,000 records at 2,000/s each: {a:?}, {b:?}, together {both:?}; {s:?}"
    );
    assert!(a >= Duration::from_secs(2) && b >= Duration::from_secs(2));
    // One stream would need 4 s for the 8,000; two are held to 2 s each, not to 4 s.
    assert!(
        both < Duration::from_secs(4),
        "two streams, two quotas: {both:?}"
    );
    assert_eq!((s.streams_opened, s.streams_open), (2, 0));
    assert_eq!(s.records_acknowledged, 8_000);
    t.emu.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_delta_log_gets_checkpoints() {
    // A commit per request (interval 0), 230 requests: checkpoints at versions 100 and 200.
    let t = start(|c| {
        c.with_commit_interval(Duration::ZERO)
            .with_stream_quota(StreamQuota::OFF)
    })
    .await;
    let location = t
        .emu
        .create_table(TABLE, "id BIGINT NOT NULL")
        .await
        .unwrap();
    let desc = descriptor(&t.emu, TABLE).await;
    let md = message_descriptor(&desc).unwrap();
    let stream = proto_stream(&t.emu, TABLE).await;
    for id in 0..230i64 {
        let rec = ProtoBytes(
            DynamicMessage::deserialize(md.clone(), json!({"id": id}))
                .unwrap()
                .encode_to_vec(),
        );
        // Waiting for each acknowledgement makes each request a commit of its own.
        let off = stream
            .ingest_records_offset(vec![rec])
            .await
            .unwrap()
            .unwrap();
        stream.wait_for_offset(off).await.unwrap();
    }
    let mut stream = stream;
    stream.close().await.unwrap();
    // Checkpoints are written in the background after the acknowledgement.
    let log = location.join("_delta_log");
    let checkpoints = || {
        let mut v: Vec<String> = std::fs::read_dir(&log)
            .unwrap()
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| n.contains(".checkpoint"))
            .collect();
        v.sort();
        v
    };
    for _ in 0..100 {
        if checkpoints().len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let found = checkpoints();
    println!("checkpoints: {found:?}");
    assert!(
        found
            .iter()
            .any(|n| n.starts_with("00000000000000000100.checkpoint")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|n| n.starts_with("00000000000000000200.checkpoint")),
        "{found:?}"
    );
    let batches = read_table(&location).await;
    let (distinct, dups, missing) = id_stats(&batches, 230);
    assert_eq!(
        (distinct, dups, missing.len()),
        (230, 0, 0),
        "the table reads through its checkpoints"
    );
    t.emu.shutdown().await;
}

//! Fuzzing the emulator's record decoding, bounded in time: random bytes, random
//! wire-format-shaped bytes and mutated valid records go through `ProtoPlan::decode`, and
//! random text through `decode_json`, for a table with every UC type. Nothing may panic
//! or hang; every input is either a row or an error. `FUZZ_SECONDS` (default 3) per
//! target; `scripts/fuzz.sh` runs each for 60 s in release.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use databricks_zerobus_ingest_sdk::schema::{descriptor_from_uc_columns, UcColumn};
use prost_reflect::{DynamicMessage, Value};
use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use zerobus_emulator::catalog::columns_json;
use zerobus_emulator::decode::{decode_json, ProtoPlan};
use zerobus_emulator::types::{parse_columns, UcField};

const COLUMNS: &str = "id BIGINT NOT NULL, i INT, s SMALLINT, t TINYINT, f FLOAT, d DOUBLE, \
    b BOOLEAN, name STRING, raw BINARY, day DATE, ts TIMESTAMP, ntz TIMESTAMP_NTZ, \
    amount DECIMAL(10,2), v VARIANT, tags ARRAY<STRING>, m MAP<STRING, BIGINT>, \
    st STRUCT<a: INT, b: ARRAY<DOUBLE>, c: STRUCT<x: STRING>>";

fn budget() -> Duration {
    let secs = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::rng().next_u64())
}

fn table() -> (Vec<UcField>, ProtoPlan, prost_reflect::MessageDescriptor) {
    let fields = parse_columns(COLUMNS).unwrap();
    let columns: Vec<UcColumn> =
        serde_json::from_value(serde_json::Value::Array(columns_json(&fields))).unwrap();
    let descriptor = descriptor_from_uc_columns(&columns, "Row").unwrap();
    let message = databricks_zerobus_ingest_sdk::message_descriptor(&descriptor).unwrap();
    let plan = ProtoPlan::new(&fields, &descriptor).unwrap();
    (fields, plan, message)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Bytes shaped like protobuf: tags for fields 1..=20 with every wire type and random
/// payloads (lengths sometimes lying), nested a little.
fn wire_shaped(rng: &mut StdRng, depth: u32) -> Vec<u8> {
    let mut out = Vec::new();
    for _ in 0..rng.random_range(0..12) {
        let field = rng.random_range(1..=20u64);
        let wire = rng.random_range(0..6u64);
        varint(&mut out, (field << 3) | wire);
        match wire {
            0 => varint(&mut out, rng.next_u64() >> rng.random_range(0..64)),
            1 => out.extend_from_slice(&rng.next_u64().to_le_bytes()),
            2 => {
                let payload = if depth < 3 && rng.random_bool(0.3) {
                    wire_shaped(rng, depth + 1)
                } else {
                    let mut p = vec![0u8; rng.random_range(0..40)];
                    rng.fill_bytes(&mut p);
                    p
                };
                let claimed = if rng.random_bool(0.1) {
                    payload.len() as u64 + rng.random_range(1..1000)
                } else {
                    payload.len() as u64
                };
                varint(&mut out, claimed);
                out.extend_from_slice(&payload);
            }
            5 => out.extend_from_slice(&(rng.next_u64() as u32).to_le_bytes()),
            _ => {}
        }
    }
    out
}

/// A valid record with random values in a few columns, encoded.
fn valid(rng: &mut StdRng, message: &prost_reflect::MessageDescriptor) -> Vec<u8> {
    let mut m = DynamicMessage::new(message.clone());
    if let Some(f) = message.get_field_by_name("id") {
        m.set_field(&f, Value::I64(rng.next_u64() as i64));
    }
    if let Some(f) = message.get_field_by_name("name") {
        m.set_field(&f, Value::String(format!("n{}", rng.next_u32())));
    }
    if let Some(f) = message.get_field_by_name("amount") {
        m.set_field(
            &f,
            Value::String(format!(
                "{}.{:02}",
                rng.random_range(-9999..9999),
                rng.random_range(0..100)
            )),
        );
    }
    if let Some(f) = message.get_field_by_name("tags") {
        m.set_field(
            &f,
            Value::List(vec![Value::String("a".into()), Value::String("é".into())]),
        );
    }
    prost::Message::encode_to_vec(&m)
}

fn run(name: &str, mut one: impl FnMut(&mut StdRng) -> Option<String>) {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let deadline = Instant::now() + budget();
    let (mut inputs, mut rows) = (0u64, 0u64);
    while Instant::now() < deadline {
        let mut case_rng = StdRng::seed_from_u64(rng.next_u64());
        match catch_unwind(AssertUnwindSafe(|| one(&mut case_rng))) {
            Ok(Some(_)) => rows += 1,
            Ok(None) => {}
            Err(_) => {
                panic!("{name}: panicked on input {inputs} (FUZZ_SEED={seed} reproduces the run)")
            }
        }
        inputs += 1;
    }
    println!("{name}: {inputs} inputs, {rows} decoded as rows, 0 panics (seed {seed})");
    assert!(inputs > 0);
}

#[test]
fn proto_decoding_never_panics() {
    let (_, plan, message) = table();
    run("proto: random bytes", |rng| {
        let mut bytes = vec![0u8; rng.random_range(0..512)];
        rng.fill_bytes(&mut bytes);
        plan.decode(&bytes).ok().map(|r| format!("{}", r.len()))
    });
    run("proto: wire-shaped bytes", |rng| {
        plan.decode(&wire_shaped(rng, 0))
            .ok()
            .map(|r| format!("{}", r.len()))
    });
    run("proto: mutated valid records", |rng| {
        let mut bytes = valid(rng, &message);
        assert!(plan.decode(&bytes).is_ok(), "a valid record decodes");
        for _ in 0..rng.random_range(1..4) {
            match rng.random_range(0..3) {
                0 if !bytes.is_empty() => {
                    let i = rng.random_range(0..bytes.len());
                    bytes[i] ^= 1 << rng.random_range(0..8);
                }
                1 if !bytes.is_empty() => bytes.truncate(rng.random_range(0..bytes.len())),
                _ => bytes.insert(rng.random_range(0..=bytes.len()), rng.random()),
            }
        }
        plan.decode(&bytes).ok().map(|r| format!("{}", r.len()))
    });
}

#[test]
fn json_decoding_never_panics() {
    let (fields, _, _) = table();
    let pieces = [
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"id\"",
        "\"name\"",
        "\"tags\"",
        "\"m\"",
        "\"st\"",
        "\"amount\"",
        "\"ts\"",
        "\"day\"",
        "null",
        "true",
        "1",
        "-1",
        "1e400",
        "9223372036854775808",
        "\"x\"",
        "\"1.005\"",
        "{\"a\":1}",
        "\"\\u0000\"",
        "\"é\"",
        " ",
    ];
    run("json: token soup", |rng| {
        let text: String = (0..rng.random_range(0..40))
            .map(|_| pieces[rng.random_range(0..pieces.len())])
            .collect();
        decode_json(&fields, &text)
            .ok()
            .map(|r| format!("{}", r.len()))
    });
    run("json: mutated valid objects", |rng| {
        let mut text = format!(
            "{{\"id\": {}, \"name\": \"n\", \"tags\": [\"a\"], \"m\": {{\"k\": 1}}, \"st\": {{\"a\": 1, \"b\": [1.5], \"c\": {{\"x\": \"y\"}}}}, \"amount\": \"12.34\"}}",
            rng.next_u64() as i64
        );
        for _ in 0..rng.random_range(0..4) {
            let i = rng.random_range(0..text.len());
            if text.is_char_boundary(i) {
                text.insert_str(i, pieces[rng.random_range(0..pieces.len())]);
            }
        }
        decode_json(&fields, &text)
            .ok()
            .map(|r| format!("{}", r.len()))
    });
}

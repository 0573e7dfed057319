//! The emulator's dashboard (`http://127.0.0.1:PORT/`) in a real browser: headless
//! Chromium loads the page while a load runs and after it, and the numbers it renders are
//! checked against the stats endpoint. Chromium is `chromium` (`ZEROBUS_CHROMIUM`, else on
//! PATH; Debian's package, which `.ci/run` installs); without it the test says so and
//! passes, except in CI (`CI` set), where it fails.

use std::process::Command;
use std::time::Duration;

use arrow_zerobus_sdk_wrapper::ZerobusWrapper;
use zerobus_emulator::{Emulator, EmulatorConfig, Faults, StreamQuota};

use crate::common::{id_body_batch, wrapper_config};

/// The page as Chromium renders it after `wait_ms` of its (virtual) time.
fn rendered(url: &str, wait_ms: u64) -> Option<String> {
    let program = std::env::var("ZEROBUS_CHROMIUM").unwrap_or_else(|_| "chromium".into());
    let out = Command::new(&program)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            &format!("--virtual-time-budget={wait_ms}"),
            "--dump-dom",
            url,
        ])
        .output();
    match out {
        Ok(o) if o.status.success() => Some(String::from_utf8_lossy(&o.stdout).into_owned()),
        Ok(o) => panic!("{program} failed: {}", String::from_utf8_lossy(&o.stderr)),
        Err(e) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI needs Chromium: cannot run {program}: {e} (apt-get install chromium)"
            );
            eprintln!("no Chromium ({program}: {e}); skipping the dashboard test");
            None
        }
    }
}

/// The number the page shows for `field` of `table`.
fn shown(dom: &str, table: &str, field: &str) -> u64 {
    let marker = format!("data-table=\"{table}\" data-field=\"{field}\">");
    let at = dom
        .find(&marker)
        .unwrap_or_else(|| panic!("no {field} of {table} on the page:\n{dom}"))
        + marker.len();
    let text = &dom[at..at + dom[at..].find('<').unwrap()];
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|_| panic!("{field}: '{text}'"))
}

async fn stats(http_url: &str, table: &str) -> serde_json::Value {
    let body: serde_json::Value = reqwest::get(format!("{http_url}/zerobus-emulator/v1/stats"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    body["tables"][table].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_what_the_stats_endpoint_says() {
    let tmp = tempfile::tempdir().unwrap();
    let emu = Emulator::start(
        EmulatorConfig::new(tmp.path().join("warehouse"))
            .with_stream_quota(StreamQuota {
                records_per_sec: 20_000,
                bytes_per_sec: 100_000_000,
            })
            .with_faults(Faults {
                refuse_records_containing: Some(b"POISON".to_vec()),
                ..Faults::default()
            }),
    )
    .await
    .unwrap();
    let table = "main.default.dash";
    emu.create_table(table, "id BIGINT NOT NULL, body STRING")
        .await
        .unwrap();
    let url = format!("{}/", emu.http_url());
    let Some(empty) = rendered(&url, 1500) else {
        emu.shutdown().await;
        return;
    };
    assert!(empty.contains("Zerobus emulator"), "{empty}");
    // A load of 100,000 rows on one stream at 20,000 records/s: about 5 s.
    let w = ZerobusWrapper::new(
        wrapper_config(&emu, table, tmp.path())
            .max_streams(1)
            .build()
            .unwrap(),
    )
    .unwrap();
    let load = {
        let w = w.clone();
        tokio::spawn(async move {
            let batches = (0..10).map(|i| {
                Ok::<_, std::convert::Infallible>(id_body_batch(i * 10_000..(i + 1) * 10_000))
            });
            w.send_all(futures::stream::iter(batches), &|_| {}).await
        })
    };
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = stats(&emu.http_url(), table).await["records_acknowledged"]
        .as_u64()
        .unwrap();
    let url2 = url.clone();
    let during = tokio::task::spawn_blocking(move || rendered(&url2, 2500))
        .await
        .unwrap()
        .unwrap();
    let after = stats(&emu.http_url(), table).await["records_acknowledged"]
        .as_u64()
        .unwrap();
    let seen = shown(&during, table, "records_acknowledged");
    eprintln!("during the load: stats {before} before, page {seen}, stats {after} after");
    assert!(
        before <= seen && seen <= after && after < 100_000,
        "{before} ≤ {seen} ≤ {after}"
    );
    assert_eq!(shown(&during, table, "streams_open"), 1);
    assert!(during.contains("<svg"), "the chart is drawn");
    assert_eq!(load.await.unwrap().unwrap().rows, 100_000);

    // A refused request shows with its reason.
    let rows = id_body_batch(0..3);
    let poison = arrow::array::RecordBatch::try_new(
        rows.schema(),
        vec![
            rows.column(0).clone(),
            std::sync::Arc::new(arrow::array::StringArray::from(vec!["b0", "POISON", "b2"])),
        ],
    )
    .unwrap();
    assert!(w.send_batch(&poison).await.is_err());
    w.shutdown().await.unwrap();
    let now = stats(&emu.http_url(), table).await;
    let page = tokio::task::spawn_blocking(move || rendered(&url, 1500))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        shown(&page, table, "records_acknowledged"),
        now["records_acknowledged"].as_u64().unwrap()
    );
    assert_eq!(
        shown(&page, table, "streams_opened"),
        now["streams_opened"].as_u64().unwrap()
    );
    assert_eq!(
        shown(&page, table, "lookups"),
        now["lookups"].as_u64().unwrap()
    );
    let refusals = now["refusals"].as_u64().unwrap();
    assert!(refusals >= 1, "{now}");
    assert_eq!(shown(&page, table, "refusals"), refusals);
    let reason = now["recent_refusals"][0]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("refusal marker"), "{reason}");
    // The page escapes nothing away: the reason is there as text.
    assert!(page.contains("refusal marker"), "{page}");
    emu.shutdown().await;
}

//! Write the benchmark data set of `benches/compare`: `ROWS` rows of the seeded 10-column
//! mixed schema (`benches/common`), as an Arrow IPC file of 8,192-row batches, with its
//! protobuf descriptor beside it (`OUT.descriptor.pb`, for the official SDK 3.x peer, which
//! cannot link this crate), and print the table's Unity Catalog columns.
//!
//! `cargo run --release --example compare_data -- OUT.arrow [ROWS]`

#[path = "../benches/common/mod.rs"]
mod common;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let out = args.first().ok_or("usage: compare_data OUT.arrow [ROWS]")?;
    let rows: usize = args.get(1).map_or(Ok(1_000_000), |r| r.parse())?;
    let data = common::mixed(rows);
    let file = std::fs::File::create(out)?;
    let mut writer = arrow::ipc::writer::FileWriter::try_new(file, &data.schema())?;
    let mut start = 0;
    while start < rows {
        let n = 8192.min(rows - start);
        writer.write(&data.slice(start, n))?;
        start += n;
    }
    writer.finish()?;
    let descriptor =
        arrow_zerobus_sdk_wrapper::convert::descriptor_from_arrow(&data.schema(), "bench")?;
    std::fs::write(
        std::path::Path::new(out).with_extension("descriptor.pb"),
        prost::Message::encode_to_vec(&descriptor),
    )?;
    println!("{}", common::MIXED_COLUMNS);
    Ok(())
}

//! Write the benchmark data set of `benches/compare`: `ROWS` rows of the seeded 10-column
//! mixed schema (`benches/common`), as an Arrow IPC file of 8,192-row batches, and print
//! the table's Unity Catalog columns.
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
    println!("{}", common::MIXED_COLUMNS);
    Ok(())
}

//! Columnar Arrow → protobuf encoding.
//!
//! A [`RowEncoder`] is planned once per (batch schema, table) by [`super::plan`]: every
//! column is matched by name (case-insensitive) to a descriptor field and to the column
//! type the table declares, and every incompatibility is reported at once. Encoding a
//! batch then works column by column with no per-row reflection, on a few thousand rows
//! at a time (so that their output stays in the core's cache):
//! 1. each column adds the encoded size of its field to every row's size;
//! 2. row offsets are the prefix sums, so the output is one buffer sized exactly;
//! 3. each column writes its field into every row at that row's cursor.
//!
//! Protobuf lets fields of a message appear in any order, which is what makes writing
//! column by column possible. Numeric lists are written packed (parsers accept packed and
//! unpacked alike). A null is an absent field; an empty list is no field at all. Values
//! are converted by [`super::values`]: exactly, or refused naming column and row.

use std::sync::Arc;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;

use super::bind::Proto;
use super::node::Node;
use super::plan::{plan_message, FieldPlan};
use super::rows::{EncodedRows, SpareBuffers};
use super::table_schema::TableSchema;
use super::values::conversion;
use super::walk::Walk;
use crate::connection::NullCollections;
use crate::error::Result;

/// The plan of batches of `schema` for `table` (both encoders use it): every mismatch in
/// one [`crate::ZerobusError::Conversion`].
pub(super) fn plan_batch(table: &TableSchema, schema: &SchemaRef) -> Result<Vec<FieldPlan>> {
    let mut problems = Vec::new();
    let plan = plan_message(
        schema.fields().iter().map(|f| f.as_ref()),
        table.message(),
        table.columns(),
        "",
        &mut problems,
    );
    match plan {
        Some(plan) if problems.is_empty() => Ok(plan),
        _ => Err(conversion(table.table(), problems.join("; "))),
    }
}

/// Encodes batches of one schema into rows of one protobuf message.
///
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, RecordBatch, StringArray};
/// use arrow::datatypes::{DataType, Field, Schema};
/// use arrow_zerobus_sdk_wrapper::convert::{RowEncoder, TableSchema};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("id", DataType::Int64, false),
///     Field::new("name", DataType::Utf8, true),
/// ]));
/// let batch = RecordBatch::try_new(schema.clone(), vec![
///     Arc::new(Int64Array::from(vec![1, 2])),
///     Arc::new(StringArray::from(vec![Some("a"), None])),
/// ]).unwrap();
/// let table = TableSchema::from_arrow("main.default.t", &schema).unwrap();
/// let mut encoder = RowEncoder::new(&table, &schema).unwrap();
/// let rows = encoder.encode_batch(&batch).unwrap();
/// assert_eq!(rows.len(), 2);
/// assert_eq!(rows.row(0), &[0x08, 0x01, 0x12, 0x01, b'a']);
/// assert_eq!(rows.row(1), &[0x08, 0x02]);
/// ```
///
/// Cloning is cheap (the plan is shared; the clone's buffers start empty): plan once per
/// schema, clone per concurrent user.
#[derive(Debug)]
pub struct RowEncoder {
    table: String,
    schema: SchemaRef,
    plan: Arc<[FieldPlan]>,
    out: EncodedRows,
    sizes: Vec<usize>,
    cursors: Vec<usize>,
    null_collections: NullCollections,
    /// Buffers of dropped rows, shared with the clones.
    spare: Arc<SpareBuffers>,
}

impl Clone for RowEncoder {
    /// The same plan with empty buffers: the rows of the last batch are not copied.
    fn clone(&self) -> Self {
        RowEncoder {
            table: self.table.clone(),
            schema: self.schema.clone(),
            plan: self.plan.clone(),
            out: EncodedRows::default(),
            sizes: Vec::new(),
            cursors: Vec::new(),
            null_collections: self.null_collections,
            spare: self.spare.clone(),
        }
    }
}

impl RowEncoder {
    /// Plan the encoding of batches of `schema` for `table`. Every mismatch (extra
    /// column, missing NOT NULL column, a type with no exact conversion to the column's)
    /// is named in one [`crate::ZerobusError::Conversion`].
    pub fn new(table: &TableSchema, schema: &SchemaRef) -> Result<Self> {
        Ok(RowEncoder {
            table: table.table().to_string(),
            schema: schema.clone(),
            plan: plan_batch(table, schema)?.into(),
            out: EncodedRows::default(),
            sizes: Vec::new(),
            cursors: Vec::new(),
            null_collections: NullCollections::Refuse,
            spare: Arc::default(),
        })
    }

    /// The same encoder, doing `what` with a NULL ARRAY or MAP (refused by default,
    /// naming column and row: protobuf cannot carry it).
    pub fn with_null_collections(mut self, what: NullCollections) -> Self {
        self.null_collections = what;
        self
    }

    /// Take the rows of the last `encode_batch`, leaving an empty buffer behind. When the
    /// rows are dropped, their buffers come back to this encoder and its clones, and a
    /// later batch is written over them.
    pub fn take_rows(&mut self) -> EncodedRows {
        let mut rows = std::mem::take(&mut self.out);
        rows.spare = Some(self.spare.clone());
        rows
    }

    /// The schema this encoder was planned for.
    pub fn schema(&self) -> &SchemaRef {
        &self.schema
    }

    /// Encode every row of `batch` (whose schema must equal the planned one). Buffers are
    /// reused between calls. On error nothing is returned: no row of the batch is valid.
    ///
    /// Rows are encoded [`PART_ROWS`] at a time, so that a part's output and its per-row
    /// sizes stay in the core's cache while every column writes into them.
    pub fn encode_batch(&mut self, batch: &RecordBatch) -> Result<&EncodedRows> {
        if batch.schema().fields() != self.schema.fields() {
            return Err(conversion(
                &self.table,
                "the batch's schema differs from the schema this encoder was planned for".into(),
            ));
        }
        if self.out.data.capacity() == 0 {
            if let Some((data, offsets)) = self.spare.take() {
                (self.out.data, self.out.offsets) = (data, offsets);
            }
        }
        self.out.offsets.clear();
        self.out.offsets.reserve(batch.num_rows() + 1);
        self.out.offsets.push(0);
        let encoded = self.encode_parts(batch);
        if encoded.is_err() {
            self.out.offsets.truncate(1);
        }
        // The buffer may hold a longer earlier batch, or a part that failed: only what the
        // offsets cover is rows.
        let end = self.out.end();
        self.out.data.truncate(end);
        encoded.map(|()| &self.out)
    }

    /// Encode the rows of `batch` [`PART_ROWS`] at a time.
    fn encode_parts(&mut self, batch: &RecordBatch) -> Result<()> {
        let n = batch.num_rows();
        let mut first = 0;
        while first < n {
            let len = PART_ROWS.min(n - first);
            if len == n {
                self.encode_part(batch, 0)?;
            } else {
                self.encode_part(&batch.slice(first, len), first)?;
            }
            if first == 0 && len < n {
                // The whole batch's output, guessed from the first part, in one allocation.
                let written = self.out.end();
                let guess = written / len * (n - len) + written / 8;
                self.out
                    .data
                    .reserve((written + guess).saturating_sub(self.out.data.len()));
            }
            first += len;
        }
        Ok(())
    }

    /// Encode the rows of `part`, which are the batch's rows from `first` on, after the
    /// rows already in the output.
    fn encode_part(&mut self, part: &RecordBatch, first: usize) -> Result<()> {
        let n = part.num_rows();
        let row_of = |i: usize| first + i;
        let walk = Walk {
            table: &self.table,
            build: &Proto,
            refuse_null_collections: self.null_collections == NullCollections::Refuse,
        };
        let mut nodes: Vec<Node> = walk
            .fields(&self.plan, None, part.columns(), None, &row_of)?
            .into_iter()
            .map(|(_, node)| node)
            .collect();
        self.sizes.clear();
        self.sizes.resize(n, 0);
        for node in &mut nodes {
            node.add_sizes(&mut self.sizes);
        }
        // Each row's cursor starts at its offset in the part; its end goes to the offsets.
        let out = &mut self.out;
        // Rows go after the rows already written; the buffer may be longer (it held an
        // earlier batch), and every byte up to the part's end is written over below.
        let base = out.end();
        self.cursors.clear();
        let mut at = 0;
        for s in &self.sizes {
            self.cursors.push(at);
            at += s;
            out.offsets.push(base + at);
        }
        if out.data.len() < base + at {
            out.data.resize(base + at, 0);
        }
        let buf = &mut out.data[base..base + at];
        for node in &mut nodes {
            node.write(buf, &mut self.cursors);
        }
        debug_assert!(self
            .cursors
            .iter()
            .zip(&out.offsets[out.offsets.len() - n..])
            .all(|(c, e)| c + base == *e));
        Ok(())
    }
}

/// Rows encoded at a time (see [`RowEncoder::encode_batch`]): about 400 KB of output for
/// rows of 100 bytes.
const PART_ROWS: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef};
    use arrow::datatypes::DataType;

    use crate::convert::wire::put_varint;

    use arrow::array::{Date32Array, Decimal128Array, MapArray, StringArray as Strs};
    use arrow::array::{Int32Array, Int64Array, ListArray, UInt64Array};
    use arrow::array::{TimestampNanosecondArray, TimestampSecondArray};
    use arrow::datatypes::{Field, Int32Type as I32, Schema};
    use databricks_zerobus_ingest_sdk::schema::UcColumn;

    /// A UC table `main.default.t` of (name, type_name, type_text, type_json) columns.
    fn uc_table(cols: &[(&str, &str, &str, &str)]) -> TableSchema {
        let columns: Vec<UcColumn> = cols
            .iter()
            .enumerate()
            .map(|(i, (name, type_name, type_text, type_json))| UcColumn {
                name: name.to_string(),
                type_name: type_name.to_string(),
                type_text: type_text.to_string(),
                type_json: type_json.to_string(),
                nullable: true,
                position: i as i32,
            })
            .collect();
        TableSchema::from_uc("main.default.t", &columns).unwrap()
    }

    fn one_column(name: &str, array: ArrayRef) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![Field::new(
            name,
            array.data_type().clone(),
            true,
        )]));
        RecordBatch::try_new(schema, vec![array]).unwrap()
    }

    fn encode_err(table: &TableSchema, batch: &RecordBatch) -> String {
        match RowEncoder::new(table, &batch.schema()) {
            Err(e) => e.to_string(),
            Ok(mut enc) => enc.encode_batch(batch).unwrap_err().to_string(),
        }
    }

    #[test]
    fn a_batch_of_many_parts_encodes_like_its_slices_and_names_rows_of_later_parts() {
        use arrow::array::{ListBuilder, StructArray};
        let n = 2 * PART_ROWS + 1_234;
        let mut list = ListBuilder::new(arrow::array::Int64Builder::new());
        for i in 0..n {
            list.append_value((0..i % 4).map(|k| Some((i * k) as i64)));
        }
        let list: ArrayRef = Arc::new(list.finish());
        let text: ArrayRef = Arc::new(Strs::from_iter(
            (0..n).map(|i| (i % 7 != 0).then(|| "x".repeat(i % 40))),
        ));
        let inner: ArrayRef = Arc::new(Int32Array::from_iter_values(0..n as i32));
        let st: ArrayRef = Arc::new(StructArray::from(vec![(
            Arc::new(Field::new("a", DataType::Int32, false)),
            inner,
        )]));
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values(0..n as i64));
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("text", DataType::Utf8, true),
            Field::new("l", list.data_type().clone(), true),
            Field::new("s", st.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), vec![ids, text, list, st]).unwrap();
        let table = TableSchema::from_arrow("main.default.t", &schema).unwrap();
        let mut enc = RowEncoder::new(&table, &schema).unwrap();
        let whole = enc.encode_batch(&batch).unwrap().clone();
        assert_eq!(whole.len(), n);
        // Slices that straddle the parts' edges, each encoded on its own.
        let mut at = 0;
        for len in [1, 999, PART_ROWS, 3_000, n] {
            let len = len.min(n - at);
            let rows = enc.encode_batch(&batch.slice(at, len)).unwrap();
            for k in 0..len {
                assert_eq!(rows.row(k), whole.row(at + k), "row {}", at + k);
            }
            at += len;
        }
        assert_eq!(at, n);
        assert_eq!(
            whole.total_bytes(),
            whole.iter().map(<[u8]>::len).sum::<usize>()
        );

        // A bad value in the third part is named by its row in the batch.
        let table = uc_table(&[("id", "SMALLINT", "smallint", "")]);
        let bad = 2 * PART_ROWS + 17;
        let ids: Vec<i64> = (0..n as i64)
            .map(|i| if i as usize == bad { 1 << 20 } else { i % 100 })
            .collect();
        let e = encode_err(&table, &one_column("id", Arc::new(Int64Array::from(ids))));
        assert!(
            e.contains(&format!("column 'id', row {bad}: value 1048576")),
            "{e}"
        );
    }

    #[test]
    fn a_clone_shares_the_plan_not_the_rows() {
        let batch = one_column("id", Arc::new(Int64Array::from(vec![1, 2, 3])));
        let table = TableSchema::from_arrow("main.default.t", &batch.schema()).unwrap();
        let mut enc = RowEncoder::new(&table, &batch.schema()).unwrap();
        assert_eq!(enc.encode_batch(&batch).unwrap().len(), 3);
        let mut clone = enc.clone();
        assert!(
            clone.take_rows().is_empty(),
            "the clone starts with no rows"
        );
        assert_eq!(clone.encode_batch(&batch).unwrap().row(2), &[0x08, 0x03]);
    }

    #[test]
    fn dropped_rows_give_their_buffer_to_the_next_batch_which_writes_over_every_byte() {
        // Long rows first, then shorter ones with nulls: a byte of the first batch left
        // in the second's rows would differ from what a fresh encoder writes.
        let long = one_column(
            "s",
            Arc::new(Strs::from_iter_values(
                (0..5000).map(|i| format!("{i:0>40}")),
            )),
        );
        let short = one_column(
            "s",
            Arc::new(Strs::from_iter(
                (0..4500).map(|i| (i % 3 != 0).then(|| format!("v{i}"))),
            )),
        );
        let table = TableSchema::from_arrow("main.default.t", &long.schema()).unwrap();
        let planned = RowEncoder::new(&table, &long.schema()).unwrap();

        let mut first = planned.clone();
        first.encode_batch(&long).unwrap();
        let rows = first.take_rows();
        let buffer = rows.data().as_ptr();
        drop(rows);
        assert_eq!(planned.spare.count(), 1, "the dropped rows' buffer is kept");

        // Another clone of the plan (as the next batch of a load gets) takes it.
        let mut second = planned.clone();
        let reused = second.encode_batch(&short).unwrap();
        assert_eq!(
            reused.data().as_ptr(),
            buffer,
            "the kept buffer is written over"
        );
        let reused = second.take_rows();
        assert_eq!(planned.spare.count(), 0);
        let fresh = RowEncoder::new(&table, &short.schema())
            .unwrap()
            .encode_batch(&short)
            .unwrap()
            .clone();
        assert_eq!(reused.offsets(), fresh.offsets());
        assert_eq!(reused.data(), fresh.data());
        assert_eq!(reused.total_bytes(), fresh.total_bytes());
    }

    #[test]
    fn a_null_collection_is_refused_unless_empty_is_asked_for() {
        use arrow::array::{ListBuilder, MapBuilder, StringBuilder, StructArray};
        let mut list = ListBuilder::new(StringBuilder::new());
        list.append_value([Some("a")]);
        list.append_null();
        let list: ArrayRef = Arc::new(list.finish());
        let table =
            TableSchema::from_arrow("main.default.t", &one_column("l", list.clone()).schema())
                .unwrap();
        let batch = one_column("l", list.clone());
        let e = encode_err(&table, &batch);
        assert!(e.contains("column 'l', row 1: the ARRAY is NULL"), "{e}");
        let mut enc = RowEncoder::new(&table, &batch.schema())
            .unwrap()
            .with_null_collections(NullCollections::Empty);
        let rows = enc.encode_batch(&batch).unwrap();
        assert_eq!(rows.row(1), &[] as &[u8], "sent empty when asked");

        let mut map = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        map.append(false).unwrap();
        let map: ArrayRef = Arc::new(map.finish());
        let batch = one_column("m", map);
        let table = TableSchema::from_arrow("main.default.t", &batch.schema()).unwrap();
        let e = encode_err(&table, &batch);
        assert!(
            e.contains("column 'm', row 0: the MAP is NULL") && e.contains("COALESCE"),
            "{e}"
        );

        // Inside a struct: refused under a valid struct, not under a NULL one.
        let field = Arc::new(Field::new("l", list.data_type().clone(), true));
        let nulls = |valid: bool| Some(arrow::buffer::NullBuffer::from(vec![true, valid]));
        for (struct_valid, refused) in [(true, true), (false, false)] {
            let st = StructArray::new(
                vec![field.clone()].into(),
                vec![list.clone()],
                nulls(struct_valid),
            );
            let batch = one_column("s", Arc::new(st));
            let table = TableSchema::from_arrow("main.default.t", &batch.schema()).unwrap();
            let result = RowEncoder::new(&table, &batch.schema())
                .unwrap()
                .encode_batch(&batch)
                .map(|_| ());
            assert_eq!(result.is_err(), refused, "{result:?}");
            if let Err(e) = result {
                assert!(e.to_string().contains("column 's.l', row 1"), "{e}");
            }
        }
    }

    #[test]
    fn a_date_into_a_timestamp_is_midnight_in_microseconds_never_days() {
        let table = uc_table(&[("ts", "TIMESTAMP", "timestamp", "")]);
        // 2024-06-01 is day 19875.
        let batch = one_column("ts", Arc::new(Date32Array::from(vec![19875])));
        let mut enc = RowEncoder::new(&table, &batch.schema()).unwrap();
        let rows = enc.encode_batch(&batch).unwrap();
        let mut want = vec![0x08];
        let (mut buf, mut at) = ([0u8; 10], 0);
        put_varint(&mut buf, &mut at, (19875i64 * 86_400_000_000) as u64);
        want.extend_from_slice(&buf[..at]);
        assert_eq!(rows.row(0), want.as_slice());
        // The other way has no exact answer: refused when planned.
        let table = uc_table(&[("d", "DATE", "date", "")]);
        let batch = one_column(
            "d",
            Arc::new(TimestampSecondArray::from(vec![60]).with_timezone("UTC")),
        );
        let e = encode_err(&table, &batch);
        assert!(e.contains("column 'd'") && e.contains("DATE column"), "{e}");
        // Sub-microsecond digits are refused, not dropped; zones must match the column.
        let table = uc_table(&[("ts", "TIMESTAMP", "timestamp", "")]);
        let batch = one_column(
            "ts",
            Arc::new(TimestampNanosecondArray::from(vec![1_000, 1_001]).with_timezone("UTC")),
        );
        let e = encode_err(&table, &batch);
        assert!(
            e.contains("column 'ts', row 1:") && e.contains("below a microsecond"),
            "{e}"
        );
        let batch = one_column("ts", Arc::new(TimestampSecondArray::from(vec![1])));
        let e = encode_err(&table, &batch);
        assert!(e.contains("without time zone"), "{e}");
    }

    #[test]
    fn null_map_values_are_refused_naming_row_and_key() {
        let table = uc_table(&[(
            "m",
            "MAP",
            "map<string,int>",
            r#"{"type":"map","keyType":"string","valueType":"integer","valueContainsNull":true}"#,
        )]);
        let keys = Strs::from(vec!["a", "b", "c"]);
        let values = Int32Array::from(vec![Some(1), Some(2), None]);
        let entries = arrow::array::StructArray::from(vec![
            (
                Arc::new(Field::new("keys", DataType::Utf8, false)),
                Arc::new(keys) as ArrayRef,
            ),
            (
                Arc::new(Field::new("values", DataType::Int32, true)),
                Arc::new(values) as ArrayRef,
            ),
        ]);
        let map = MapArray::try_new(
            Arc::new(Field::new("entries", entries.data_type().clone(), false)),
            arrow::buffer::OffsetBuffer::from_lengths([1, 2]),
            entries,
            None,
            false,
        )
        .unwrap();
        let batch = one_column("m", Arc::new(map));
        let e = encode_err(&table, &batch);
        assert!(
            e.contains("column 'm', row 1: the value of key 'c' is NULL"),
            "{e}"
        );
    }

    #[test]
    fn small_integers_decimals_and_variants_are_checked_against_the_column() {
        let table = uc_table(&[("s", "SMALLINT", "smallint", "")]);
        let batch = one_column("s", Arc::new(Int64Array::from(vec![5, 40_000])));
        let e = encode_err(&table, &batch);
        assert!(
            e.contains("column 's', row 1: value 40000 does not fit the table's SMALLINT"),
            "{e}"
        );

        let table = uc_table(&[("d", "DECIMAL", "decimal(10,2)", "")]);
        let dec = |v: Vec<i128>, p: u8, s: i8| -> ArrayRef {
            Arc::new(
                Decimal128Array::from(v)
                    .with_precision_and_scale(p, s)
                    .unwrap(),
            )
        };
        // 1.2300 has zeros past the scale: exact; 1.2345 is not.
        let ok = one_column("d", dec(vec![12300, -500], 12, 4));
        let mut enc = RowEncoder::new(&table, &ok.schema()).unwrap();
        let rows = enc.encode_batch(&ok).unwrap();
        assert_eq!(&rows.row(0)[2..], b"1.23");
        assert_eq!(&rows.row(1)[2..], b"-0.05");
        let e = encode_err(&table, &one_column("d", dec(vec![12300, 12345], 12, 4)));
        assert!(
            e.contains("column 'd', row 1: 1.2345 has more than 2 digits after the point"),
            "{e}"
        );
        // 99999999.99 fits DECIMAL(10,2); 100000000.00 does not.
        let e = encode_err(
            &table,
            &one_column("d", dec(vec![9_999_999_999, 10_000_000_000], 38, 2)),
        );
        assert!(
            e.contains("column 'd', row 1: 100000000.00 has 9 integer digits; the table's DECIMAL(10,2) holds 8"),
            "{e}"
        );

        let table = uc_table(&[("v", "VARIANT", "variant", "")]);
        let e = encode_err(
            &table,
            &one_column("v", Arc::new(Strs::from(vec!["{\"a\": 1}", "not json"]))),
        );
        assert!(
            e.contains("column 'v', row 1: VARIANT values are JSON text"),
            "{e}"
        );
    }

    #[test]
    fn columns_differing_only_in_case_are_refused() {
        let table = uc_table(&[("id", "BIGINT", "bigint", "")]);
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("ID", DataType::Int64, true),
        ]));
        let e = RowEncoder::new(&table, &schema).unwrap_err().to_string();
        assert!(
            e.contains("columns 'id' and 'ID' both name the table's column 'id'"),
            "{e}"
        );
    }

    #[test]
    fn uint64_over_bigint_is_refused_with_row_and_column() {
        let schema = Arc::new(Schema::new(vec![Field::new("u", DataType::UInt64, true)]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(UInt64Array::from(vec![
                Some(1),
                None,
                Some(u64::MAX),
            ]))],
        )
        .unwrap();
        let d = TableSchema::from_arrow("main.default.t", &schema).unwrap();
        let err = RowEncoder::new(&d, &schema)
            .unwrap()
            .encode_batch(&batch)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'main.default.t'") && err.contains("column 'u', row 2"),
            "{err}"
        );
    }

    #[test]
    fn null_list_elements_are_refused_and_null_lists_absent_when_asked() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("l", DataType::new_list(DataType::Int32, true), true),
        ]));
        let d = TableSchema::from_arrow("t", &schema).unwrap();
        let ok = ListArray::from_iter_primitive::<I32, _, _>(vec![
            Some(vec![Some(1), Some(-2)]),
            None,
            Some(vec![]),
        ]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2, 3])), Arc::new(ok)],
        )
        .unwrap();
        let mut enc = RowEncoder::new(&d, &schema)
            .unwrap()
            .with_null_collections(NullCollections::Empty);
        let rows = enc.encode_batch(&batch).unwrap();
        // row 0: id=1, packed [1, -2]: -2 is a 10-byte varint.
        assert_eq!(rows.row(0)[..2], [0x08, 0x01]);
        assert_eq!(rows.row(0)[2..4], [0x12, 11]);
        assert_eq!(rows.row(1), &[0x08, 0x02]);
        assert_eq!(rows.row(2), &[0x08, 0x03]);
        let bad = ListArray::from_iter_primitive::<I32, _, _>(vec![
            Some(vec![Some(1)]),
            Some(vec![Some(2), None]),
        ]);
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(Int64Array::from(vec![1, 2])), Arc::new(bad)],
        )
        .unwrap();
        let err = enc.encode_batch(&batch).unwrap_err().to_string();
        assert!(
            err.contains("column 'l', row 1: list element 1 is null"),
            "{err}"
        );
    }

    #[test]
    fn packed_rows_hold_their_own_elements_and_a_null_row_none_of_those_under_it() {
        use arrow::array::Float64Array;
        use arrow::buffer::{NullBuffer, OffsetBuffer};
        // Row 1 is NULL but its Arrow slot spans two elements (Arrow allows it); row 2 is
        // empty. Doubles pack 8 bytes each, BIGINTs as varints of their own lengths.
        let offsets = OffsetBuffer::new(vec![0, 2, 4, 4, 5].into());
        let nulls = Some(NullBuffer::from(vec![true, false, true, true]));
        let list = |values: ArrayRef, item: DataType| -> ArrayRef {
            let field = Arc::new(Field::new("item", item, false));
            Arc::new(ListArray::new(
                field,
                offsets.clone(),
                values,
                nulls.clone(),
            ))
        };
        let doubles = list(
            Arc::new(Float64Array::from(vec![1.5, 2.5, 9.0, 9.0, -3.0])),
            DataType::Float64,
        );
        let longs = list(
            Arc::new(Int64Array::from(vec![1, 300, 7, 7, -1])),
            DataType::Int64,
        );
        let schema = Arc::new(Schema::new(vec![
            Field::new("d", doubles.data_type().clone(), true),
            Field::new("l", longs.data_type().clone(), true),
        ]));
        let batch = RecordBatch::try_new(schema.clone(), vec![doubles, longs]).unwrap();
        let table = TableSchema::from_arrow("t", &schema).unwrap();
        let mut enc = RowEncoder::new(&table, &schema)
            .unwrap()
            .with_null_collections(NullCollections::Empty);
        let rows = enc.encode_batch(&batch).unwrap();
        let mut row0 = vec![0x0a, 16];
        row0.extend(1.5f64.to_le_bytes());
        row0.extend(2.5f64.to_le_bytes());
        row0.extend([0x12, 3, 0x01, 0xac, 0x02]);
        assert_eq!(rows.row(0), row0);
        assert_eq!(rows.row(1), &[] as &[u8]);
        assert_eq!(rows.row(2), &[] as &[u8]);
        let mut row3 = vec![0x0a, 8];
        row3.extend((-3.0f64).to_le_bytes());
        row3.extend([0x12, 10]);
        row3.extend([0xff; 9]);
        row3.push(0x01);
        assert_eq!(rows.row(3), row3);
        assert_eq!(rows.len(), 4);
    }

    #[test]
    fn not_null_columns_and_schema_mismatches_are_named() {
        let table_schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("n", DataType::Int32, true),
        ]));
        let d = TableSchema::from_arrow("t", &table_schema).unwrap();
        let batch_schema = Arc::new(Schema::new(vec![
            Field::new("ID", DataType::Int64, true),
            Field::new("n", DataType::Utf8, true),
            Field::new("extra", DataType::Int32, true),
        ]));
        let err = RowEncoder::new(&d, &batch_schema).unwrap_err().to_string();
        assert!(
            err.contains("column 'n' of Arrow type Utf8")
                && err.contains("column 'extra' is not a column"),
            "{err}"
        );

        let s = Arc::new(Schema::new(vec![Field::new("n", DataType::Int32, true)]));
        let err = RowEncoder::new(&d, &s).unwrap_err().to_string();
        assert!(
            err.contains("column 'id' is NOT NULL in the table but missing"),
            "{err}"
        );

        let s = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, true)]));
        let batch = RecordBatch::try_new(
            s.clone(),
            vec![Arc::new(Int64Array::from(vec![Some(1), None]))],
        )
        .unwrap();
        let err = RowEncoder::new(&d, &s)
            .unwrap()
            .encode_batch(&batch)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 'id' is NOT NULL in the table but row 1 is null"),
            "{err}"
        );

        // A wider Arrow integer into a 32-bit column: range checked per value.
        let s = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("n", DataType::Int64, true),
        ]));
        let batch = RecordBatch::try_new(
            s.clone(),
            vec![
                Arc::new(Int64Array::from(vec![1, 2])),
                Arc::new(Int64Array::from(vec![5, 1 << 40])),
            ],
        )
        .unwrap();
        let err = RowEncoder::new(&d, &s)
            .unwrap()
            .encode_batch(&batch)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column 'n', row 1: value 1099511627776 does not fit"),
            "{err}"
        );
        let _ = Int32Array::from(vec![1]);
    }
}

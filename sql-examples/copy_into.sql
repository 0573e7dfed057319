-- COPY INTO: load files into a Zerobus table as Databricks' statement does, journaled so
-- that running it again loads only what is new, and an interrupted load resumes.
--   cargo run --features cli --bin zerobus-sql -- -f sql-examples/copy_into.sql
-- The journal lives in ZEROBUS_JOURNAL_DIR (else ~/.local/state/arrow-zerobus/journal);
-- `zerobus-sql load-history main.default.readings` lists its loads.

-- Something to load: two days of readings, one Parquet file per day.
COPY (SELECT value AS reading_id, CAST(value % 50 AS INT) AS sensor, CAST(value AS DOUBLE) / 4 AS celsius
      FROM generate_series(1, 3000))
TO 'readings/day-1.parquet' STORED AS PARQUET;
COPY (SELECT value AS reading_id, CAST(value % 50 AS INT) AS sensor, CAST(value AS DOUBLE) / 4 AS celsius
      FROM generate_series(3001, 5000))
TO 'readings/day-2.parquet' STORED AS PARQUET;

-- The lineage columns let the few duplicates of an interrupted load be removed exactly.
CREATE TABLE IF NOT EXISTS zerobus.main.default.readings
  (reading_id BIGINT NOT NULL, sensor INT, celsius DOUBLE, src_file STRING, src_row BIGINT);

COPY INTO zerobus.main.default.readings
  FROM 'readings/' FILEFORMAT = PARQUET
  COPY_OPTIONS ('source_file_column' = 'src_file', 'source_row_column' = 'src_row');

-- Again: both files are already loaded, nothing is sent.
COPY INTO zerobus.main.default.readings FROM 'readings/' FILEFORMAT = PARQUET;

-- A third day arrives: only it is loaded.
COPY (SELECT value AS reading_id, CAST(value % 50 AS INT) AS sensor, CAST(value AS DOUBLE) / 4 AS celsius
      FROM generate_series(5001, 6000))
TO 'readings/day-3.parquet' STORED AS PARQUET;
COPY INTO zerobus.main.default.readings FROM 'readings/' FILEFORMAT = PARQUET PATTERN = 'day-*.parquet';

-- Read back what landed in Delta: every reading once.
SELECT count(*) AS readings, count(DISTINCT reading_id) AS distinct_readings,
       count(DISTINCT src_file) AS files, max(src_row) AS last_row_of_a_file
FROM main.default.readings;

-- The journal's account of the three loads (also: zerobus-sql load-history main.default.readings).
SELECT state, files, files_skipped, rows_acknowledged
FROM load_history('zerobus.main.default.readings') ORDER BY started;

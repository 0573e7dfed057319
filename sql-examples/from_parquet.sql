-- Load a local Parquet file into a Zerobus table with INSERT INTO … SELECT.
--   cargo run --features cli --bin zerobus-sql -- -f sql-examples/from_parquet.sql
-- (writes readings.parquet in the current directory first, to have something to load)
COPY (SELECT value AS id, concat('device-', CAST(value % 5 AS VARCHAR)) AS device, CAST(value AS DOUBLE) / 3 AS reading
      FROM generate_series(1, 5000))
TO 'readings.parquet' STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS zerobus.main.default.readings (id BIGINT NOT NULL, device STRING, reading DOUBLE);

INSERT INTO zerobus.main.default.readings SELECT * FROM 'readings.parquet';

SELECT device, count(*) AS n FROM main.default.readings GROUP BY device ORDER BY device;

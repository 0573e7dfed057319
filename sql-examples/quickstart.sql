-- Quickstart on the embedded Zerobus emulator (no Databricks account needed):
--   cargo run --features cli --bin zerobus-sql -- -f sql-examples/quickstart.sql
-- 1. Create the target table. Against Databricks you create it with Databricks SQL;
--    on the emulator, zerobus-sql creates it through the Unity Catalog API.
CREATE TABLE IF NOT EXISTS zerobus.main.default.quickstart (
    id BIGINT NOT NULL,
    device STRING,
    temp DOUBLE,
    tags ARRAY<STRING>,
    reading STRUCT<value: DOUBLE, unit: STRING>
);

-- 2. Stream generated rows through Zerobus into the Delta table.
INSERT INTO zerobus.main.default.quickstart
SELECT value AS id,
       concat('sensor-', CAST(value % 10 AS VARCHAR)) AS device,
       20.0 + CAST(value % 15 AS DOUBLE) / 2 AS temp,
       make_array('quickstart', concat('batch-', CAST(value / 1000 AS VARCHAR))) AS tags,
       named_struct('value', CAST(value AS DOUBLE) / 10, 'unit', 'celsius') AS reading
FROM generate_series(1, 10000);

-- 3. Read back what landed in Delta.
SELECT count(*) AS rows_landed, min(id) AS first_id, max(id) AS last_id FROM main.default.quickstart;
SELECT device, count(*) AS readings, round(avg(temp), 2) AS avg_temp
FROM main.default.quickstart GROUP BY device ORDER BY device LIMIT 3;

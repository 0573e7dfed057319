-- COPY a query's rows into a Zerobus table: the "load this local file into Delta" path.
--   cargo run --features cli --bin zerobus-sql -- -f sql-examples/copy_to_zerobus.sql
-- A target of the form 'zerobus://catalog.schema.table' needs no STORED AS in zerobus-sql;
-- in any other DataFusion session with our format registered, add STORED AS ZEROBUS.

-- Something to load: 4,000 trips in a Parquet file in the current directory.
COPY (SELECT value AS trip_id,
             arrow_cast(value * 60000000, 'Timestamp(Microsecond, Some("UTC"))') AS started_at,
             CAST(value % 7 AS INT) AS zone,
             CASE WHEN value % 10 = 0 THEN NULL ELSE CAST(value AS DOUBLE) / 8 END AS fare
      FROM generate_series(1, 4000))
TO 'trips.parquet' STORED AS PARQUET;

CREATE TABLE IF NOT EXISTS zerobus.main.default.trips
  (trip_id BIGINT NOT NULL, started_at TIMESTAMP, zone INT, fare DOUBLE);

COPY (SELECT * FROM 'trips.parquet') TO 'zerobus://main.default.trips';

-- Read back what landed in Delta.
SELECT count(*) AS trips, count(fare) AS with_fare, min(started_at) AS first_start, max(zone) AS max_zone
FROM main.default.trips;

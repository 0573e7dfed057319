-- The same INSERT over Arrow Flight: the rows travel as Arrow batches (the table's Flight
-- schema) instead of protobuf records. Per table with OPTIONS, or for every table with
-- `zerobus-sql --transport flight` (ZEROBUS_TRANSPORT=flight).
--   cargo run --features cli --bin zerobus-sql -- -f sql-examples/arrow_flight.sql
CREATE TABLE IF NOT EXISTS zerobus.main.default.readings (
    sensor BIGINT NOT NULL,
    tags ARRAY<STRING>,
    reading DECIMAL(8, 3),
    at TIMESTAMP
);

CREATE EXTERNAL TABLE readings_over_flight STORED AS ZEROBUS
LOCATION 'main.default.readings'
OPTIONS ('transport' 'flight', 'flight_compression' 'lz4');

INSERT INTO readings_over_flight
SELECT value AS sensor,
       CASE WHEN value % 3 = 0 THEN NULL ELSE make_array('site-a', concat('s', CAST(value AS VARCHAR))) END AS tags,
       CAST(CAST(value AS DOUBLE) / 8 AS DECIMAL(8, 3)) AS reading,
       arrow_cast(to_timestamp_micros(1700000000000000 + value), 'Timestamp(Microsecond, Some("UTC"))') AS at
FROM generate_series(1, 5000);

SELECT count(*) AS readings, count(tags) AS with_tags, sum(reading) AS total FROM main.default.readings;

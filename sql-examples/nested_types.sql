-- Nested types: STRUCT, ARRAY and MAP columns, NULLs, decimals and timestamps.
--   cargo run --features cli --bin zerobus-sql -- -f sql-examples/nested_types.sql
CREATE TABLE IF NOT EXISTS zerobus.main.default.orders (
    order_id BIGINT NOT NULL,
    customer STRUCT<name: STRING, email: STRING>,
    items ARRAY<STRUCT<sku: STRING, qty: INT>>,
    attributes MAP(STRING, STRING),
    total DECIMAL(12, 2),
    placed_at TIMESTAMP
);

INSERT INTO zerobus.main.default.orders
SELECT value AS order_id,
       CASE WHEN value % 4 = 0 THEN NULL
            ELSE named_struct('name', concat('customer-', CAST(value AS VARCHAR)), 'email', concat('c', CAST(value AS VARCHAR), '@example.com'))
       END AS customer,
       make_array(named_struct('sku', 'A-1', 'qty', CAST(value % 3 + 1 AS INT)),
                  named_struct('sku', 'B-2', 'qty', 1)) AS items,
       map(['channel', 'region'], ['web', CASE WHEN value % 2 = 0 THEN 'eu' ELSE 'us' END]) AS attributes,
       CAST(CAST(value AS DOUBLE) * 9.99 AS DECIMAL(12, 2)) AS total,
       arrow_cast(to_timestamp_micros(1700000000000000 + value * 1000000), 'Timestamp(Microsecond, Some("UTC"))') AS placed_at
FROM generate_series(1, 1000);

SELECT order_id, customer['name'] AS name, items[1]['qty'] AS first_qty, attributes['region'] AS region, total
FROM main.default.orders WHERE order_id IN (1, 4) ORDER BY order_id;
SELECT count(*) AS orders, sum(total) AS revenue, count(customer) AS with_customer FROM main.default.orders;

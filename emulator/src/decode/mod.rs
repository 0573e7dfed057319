//! Records to rows: the stream's protobuf descriptor is checked against the table once,
//! at stream creation (as the real service does), then every record is decoded into
//! [`Cell`]s, in the table's column order, with the service's value checks (integer
//! ranges, decimal precision, NOT NULL, JSON validity of VARIANT).
//!
//! Protobuf has no null for `repeated` fields: an ARRAY or MAP column that a record leaves
//! empty lands as an empty array/map, never as NULL. Protobuf maps are unordered: MAP
//! entries from protobuf records land sorted by key.

mod json;
mod limits;
mod proto;
mod values;

pub use json::decode_json;
pub use limits::{MAX_RECORD_BYTES, MAX_REQUEST_BYTES};
pub use proto::ProtoPlan;
pub use values::{parse_date, parse_decimal};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cells::Cell;

    use crate::types::parse_columns;

    #[test]
    fn decimals_are_exact() {
        assert_eq!(parse_decimal("12.34", 10, 2), Ok(1234));
        assert_eq!(parse_decimal("-0.5", 3, 2), Ok(-50));
        assert_eq!(parse_decimal("1e3", 6, 2), Ok(100000));
        assert_eq!(parse_decimal("7", 3, 0), Ok(7));
        assert_eq!(parse_decimal("1.230", 5, 2), Ok(123));
        assert!(parse_decimal("1.234", 5, 2)
            .unwrap_err()
            .contains("decimal places"));
        assert!(parse_decimal("123456", 5, 0)
            .unwrap_err()
            .contains("does not fit"));
        assert!(parse_decimal("1.2.3", 5, 0).is_err());
        assert!(parse_decimal("", 5, 0).is_err());
    }

    #[test]
    fn dates_parse() {
        assert_eq!(parse_date("1970-01-01"), Some(0));
        assert_eq!(parse_date("2000-03-01"), Some(11017));
        assert_eq!(parse_date("1969-12-31"), Some(-1));
        assert_eq!(parse_date("2024-13-01"), None);
    }

    #[test]
    fn json_records_are_checked_against_the_table() {
        let cols = parse_columns("id BIGINT NOT NULL, t TINYINT, tags ARRAY<STRING>, m MAP<INT, STRING>, s STRUCT<a: DATE>").unwrap();
        let row = decode_json(
            &cols,
            r#"{"id": 5, "t": -3, "tags": ["x"], "m": {"1": "one"}, "s": {"a": "1970-01-02"}}"#,
        )
        .unwrap();
        assert_eq!(row[0], Cell::Int(5));
        assert_eq!(
            row[3],
            Cell::Map(vec![(Cell::Int(1), Cell::Str("one".into()))])
        );
        assert_eq!(row[4], Cell::Struct(vec![Cell::Int(1)]));
        assert!(decode_json(&cols, r#"{"t": 1}"#)
            .unwrap_err()
            .contains("'id' is NOT NULL"));
        assert!(decode_json(&cols, r#"{"id": 1, "t": 300}"#)
            .unwrap_err()
            .contains("out of range for TINYINT"));
        assert!(decode_json(&cols, r#"{"id": 1, "zzz": 1}"#)
            .unwrap_err()
            .contains("'zzz' is not a column"));
        assert!(decode_json(&cols, r#"{"id": 1, "tags": [null]}"#)
            .unwrap_err()
            .contains("element 0 is null"));
        assert!(decode_json(&cols, "[1]")
            .unwrap_err()
            .contains("JSON object"));
    }
}

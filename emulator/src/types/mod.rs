//! Unity Catalog column types: parsed from DDL text (`BIGINT`, `ARRAY<STRUCT<a: INT>>`,
//! `DECIMAL(10,2)`) or from UC's `type_json`, printed back in the three forms the UC tables
//! API reports (`type_name`, `type_text`, `type_json`), and mapped to Delta.
//!
//! `VARIANT` columns are stored in Delta as STRING holding the JSON text (delta-rs has no
//! variant writer); the UC type survives in the Delta field metadata under
//! [`UC_TYPE_METADATA_KEY`], so the tables API reports `VARIANT` after a restart.

mod model;
mod parse;

pub use model::*;
pub use parse::parse_columns;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_ddl_and_round_trips_through_json() {
        let cols = parse_columns(
            "id BIGINT NOT NULL, price DECIMAL(12, 3), tags ARRAY<STRING>, \
             attrs MAP(STRING, BIGINT), s STRUCT<a: INT NOT NULL, b STRUCT<c: DATE>>, v VARIANT",
        )
        .unwrap();
        assert_eq!(cols.len(), 6);
        assert!(!cols[0].nullable);
        assert_eq!(cols[1].ty, UcType::Primitive(Primitive::Decimal(12, 3)));
        for c in &cols {
            let back = UcType::from_json(&c.to_json()).unwrap();
            assert_eq!(back, c.ty, "json round trip of {}", c.name);
            let reparsed = UcType::parse(&c.ty.type_text()).unwrap();
            assert_eq!(reparsed, c.ty, "text round trip of {}", c.name);
            let delta = c.to_delta().unwrap();
            assert_eq!(
                UcField::from_delta(&delta).unwrap(),
                *c,
                "delta round trip of {}",
                c.name
            );
        }
        assert_eq!(
            cols[4].ty.type_text(),
            "struct<a:int not null,b:struct<c:date>>"
        );
        assert_eq!(cols[0].ty.type_name(), "LONG");
    }

    #[test]
    fn refuses_bad_definitions_with_the_reason() {
        let err = parse_columns("id BIGINT, m MAP<DOUBLE, STRING>").unwrap_err();
        assert!(err.0.contains("map keys"), "{err}");
        let err = parse_columns("a ARRAY<ARRAY<INT>>").unwrap_err();
        assert!(err.0.contains("nested arrays"), "{err}");
        let err = parse_columns("bad-name INT").unwrap_err();
        assert!(
            err.0.contains("bad-name") || err.0.contains("unexpected"),
            "{err}"
        );
        let err = parse_columns("x WIDGET").unwrap_err();
        assert!(err.0.contains("WIDGET"), "{err}");
        let err = UcType::parse("DECIMAL(40,2)").unwrap_err();
        assert!(err.0.contains("out of range"), "{err}");
    }
}

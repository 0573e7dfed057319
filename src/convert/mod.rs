//! Arrow → protobuf: the table's schema (descriptor + column types), and the columnar row
//! encoder (planned per batch schema, values converted exactly or refused).

mod bind;
mod decimal;
mod descriptor;
mod encode;
mod exact_cast;
mod flight;
mod flight_schema;
mod node;
mod plan;
mod row_bytes;
mod rows;
mod sql_type;
mod table_schema;
mod values;
mod walk;
pub(crate) mod wire;

pub use decimal::decimal_args;
pub use descriptor::{descriptor_from_arrow, descriptor_from_uc, proto_identifier, MAX_COLUMNS};
pub use encode::RowEncoder;
pub use exact_cast::{cast_batch_exactly, check_insert_types, insert_schema};
pub use flight::FlightEncoder;
pub use flight_schema::{flight_schema, flight_type};
pub use row_bytes::row_bytes;
pub use rows::EncodedRows;
pub use sql_type::{columns_from_arrow, columns_from_uc, SqlField, SqlType};
pub use table_schema::TableSchema;

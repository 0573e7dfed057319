//! Arrow → protobuf: descriptors for a table, and the columnar row encoder.

mod descriptor;
mod encode;
pub mod wire;

pub use descriptor::{descriptor_from_arrow, descriptor_from_uc, proto_identifier, MAX_COLUMNS};
pub use encode::{EncodedRows, RowEncoder};

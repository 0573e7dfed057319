//! Arrow → protobuf: descriptors for a table, and the columnar row encoder.

mod decimal;
mod descriptor;
mod encode;
pub mod wire;

pub use decimal::{check_decimals, decimal_args, decimal_limits, DecimalLimit};
pub use descriptor::{descriptor_from_arrow, descriptor_from_uc, proto_identifier, MAX_COLUMNS};
pub use encode::{EncodedRows, RowEncoder};

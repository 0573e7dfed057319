//! Loads of files that resume: [`copy_into`] sends the rows of Parquet, CSV and JSON
//! files (paths, globs, directories; local or in an object store) into a table and keeps
//! a [`journal`] of which rows of each file the service acknowledged. Run again, a load
//! skips the files already loaded and sends only the rows of the others that are not
//! acknowledged, so an interrupted load's duplicates are bounded by what it had in flight.
//!
//! ```no_run
//! # async fn demo(w: arrow_zerobus_sdk_wrapper::ZerobusWrapper) -> arrow_zerobus_sdk_wrapper::Result<()> {
//! use arrow_zerobus_sdk_wrapper::load::{copy_into, CopyOptions};
//! let inputs = vec!["data/events/*.parquet".to_string()];
//! let summary = copy_into(&w, &inputs, &CopyOptions::default(), &|_| {}, None).await?;
//! println!("{summary}");
//! # Ok(()) }
//! ```

mod claim;
pub mod journal;
mod options;
mod plan;
mod ranges;
pub mod read;
mod run;
pub mod sources;
mod summary;

pub use claim::{Claim, ClaimRenewal, CLAIM_LEASE};
pub use journal::{default_journal_dir, FileEntry, Journal, LoadRecord};
pub use options::CopyOptions;
pub use ranges::RowRanges;
pub use run::{copy_into, plan_copy, service_of, CopyPlan};
pub use sources::{FileFormat, FileIdentity, SourceFile};
pub use summary::CopySummary;

//! Every option of a [`ZerobusConnection`], in one table ([`OPTIONS`]) with one parser
//! ([`apply`]): SQL OPTIONS (`CREATE EXTERNAL TABLE`, `COPY`), the Python keywords,
//! `zerobus-sql`'s flags and the environment all go through it, so a key means the same
//! everywhere and is checked the same way. Defaults are those of
//! [`ZerobusConnection::new`].
//!
//! A SQL author may point a table at another endpoint or workspace, but not with the
//! operator's credentials: an `endpoint` or `unity_catalog_url` on another host than the
//! configured one needs `client_id` and `client_secret` in the same OPTIONS, or the
//! statement is refused before anything is sent anywhere.
//!
//! [`table`] holds the options, [`apply`] their one parser (and the reverse,
//! [`option_value`]), [`hosts`] the rule above ([`with_options`]), [`env`] the environment
//! ([`ZerobusConnection::from_env`](crate::ZerobusConnection::from_env)).

mod apply;
mod env;
mod hosts;
mod table;
#[cfg(test)]
mod tests;

pub use apply::{apply, apply_as, option_value};
#[cfg(test)]
pub(crate) use env::from_vars;
#[cfg(feature = "ballista")]
pub(crate) use hosts::origin_of;
pub use hosts::with_options;
pub use table::{find, ConnectionOption, OptionKind, CONNECTION_KEYS, OPTIONS};

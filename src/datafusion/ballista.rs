//! Zerobus writes on a Ballista cluster (feature `ballista`): the codecs that carry a
//! Zerobus table (the INSERT target, client → scheduler) and the write plan's nodes
//! (scheduler → executors) in Ballista's plans.
//!
//! What travels is a recipe: the table's name, its schema and the settings of its
//! connection *except* where and as whom to connect (`endpoint`, `unity_catalog_url`,
//! `client_id`, `client_secret`) and `allow_plaintext`. Each process takes those from its
//! own environment (`ZEROBUS_ENDPOINT`, `DATABRICKS_HOST`, `DATABRICKS_CLIENT_ID`,
//! `DATABRICKS_CLIENT_SECRET`, [`ZerobusConnection::from_env`]), so a plan never holds a
//! secret and a client cannot send an executor's credentials to a host of its choosing.
//!
//! ```
//! use arrow_zerobus_sdk_wrapper::datafusion::ballista::ballista_session_config;
//! // A client session whose plans can carry Zerobus tables.
//! let config = ballista_session_config();
//! # let _ = config;
//! ```

use std::collections::HashMap;
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use ballista_core::extension::SessionConfigExt;
use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::catalog::TableProvider;
use datafusion::common::TableReference;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF, WindowUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion::prelude::SessionConfig;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};
use prost::Message;

pub use super::cluster_jobs::ClusterJobs;
use super::exec::{ZerobusTotalExec, ZerobusWriteExec};
use super::sink::ZerobusSink;
use super::table::ZerobusTable;
use crate::config::WrapperConfig;
use crate::connection::ZerobusConnection;
use crate::options::{self, OPTIONS};

/// The first bytes of every node these codecs write: anything else is the inner codec's.
const MAGIC: &[u8] = b"zerobus.1:";

/// Options that stay with each process: where to connect, as whom, and whether plaintext
/// to a remote host is allowed.
const LOCAL_KEYS: &[&str] = &[
    "endpoint",
    "unity_catalog_url",
    "client_id",
    "client_secret",
    "allow_plaintext",
];

/// What a Zerobus node is in a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
enum NodeKind {
    /// The INSERT target (logical plan).
    Table = 0,
    /// A [`ZerobusWriteExec`].
    Write = 1,
    /// A [`ZerobusTotalExec`].
    Total = 2,
}

/// The recipe of a Zerobus node: all a process needs to rebuild it with its own
/// connection.
#[derive(Clone, PartialEq, prost::Message)]
struct ZerobusNode {
    #[prost(enumeration = "NodeKind", tag = "1")]
    kind: i32,
    #[prost(string, tag = "2")]
    table: String,
    #[prost(message, optional, tag = "3")]
    schema: Option<datafusion_proto::protobuf::Schema>,
    #[prost(map = "string, string", tag = "4")]
    options: HashMap<String, String>,
    /// Where the statement was planned to write (no secret): the endpoint and the Unity
    /// Catalog URL of the planning process's connection for the table. A process whose
    /// own connection points elsewhere refuses to write (see [`ZerobusNode::config`]).
    #[prost(string, optional, tag = "5")]
    endpoint: Option<String>,
    #[prost(string, optional, tag = "6")]
    unity_catalog_url: Option<String>,
}

impl ZerobusNode {
    fn of(kind: NodeKind, config: &WrapperConfig, schema: &Schema) -> Result<Self> {
        let options = OPTIONS
            .iter()
            .filter(|o| !LOCAL_KEYS.contains(&o.key))
            .filter_map(|o| Some((o.key.to_string(), options::option_value(config, o.key)?)))
            .collect();
        let written = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Ok(ZerobusNode {
            kind: kind as i32,
            table: config.table_name.clone(),
            schema: Some(schema.try_into()?),
            options,
            endpoint: written(&config.endpoint),
            unity_catalog_url: config.unity_catalog_url.as_deref().and_then(written),
        })
    }

    fn encode_into(&self, buf: &mut Vec<u8>) {
        buf.extend_from_slice(MAGIC);
        self.encode(buf)
            .unwrap_or_else(|_| unreachable!("a Vec<u8> grows as needed"));
    }

    /// The recipe in `buf`, or `None` when `buf` is not one of ours.
    fn decode_from(buf: &[u8]) -> Result<Option<Self>> {
        let Some(body) = buf.strip_prefix(MAGIC) else {
            return Ok(None);
        };
        ZerobusNode::decode(body).map(Some).map_err(|e| {
            DataFusionError::Internal(format!("a Zerobus plan node is unreadable: {e}"))
        })
    }

    fn schema(&self) -> Result<SchemaRef> {
        let proto = self.schema.as_ref().ok_or_else(|| {
            DataFusionError::Internal(format!(
                "the Zerobus node of '{}' has no schema",
                self.table
            ))
        })?;
        Ok(Arc::new(proto.try_into()?))
    }

    /// The hosts the statement was planned for, as a connection without credentials.
    fn planned_connection(&self) -> ZerobusConnection {
        let mut c = ZerobusConnection::new(self.endpoint.clone().unwrap_or_default());
        c.unity_catalog_url = self.unity_catalog_url.clone();
        c
    }

    /// Where the statement was planned to write, for messages.
    fn planned_hosts(&self) -> String {
        format!(
            "endpoint {}, Unity Catalog {}",
            self.endpoint.as_deref().unwrap_or("(not recorded)"),
            self.unity_catalog_url
                .as_deref()
                .unwrap_or("(not recorded)")
        )
    }

    /// Why `connection` is not the one the statement was planned for (another endpoint
    /// or workspace host), if it is not.
    fn elsewhere(&self, connection: &ZerobusConnection) -> Option<String> {
        let differs = |planned: &Option<String>, own: Option<&str>| match (planned, own) {
            (Some(p), Some(o)) => options::origin_of(p) != options::origin_of(o),
            (Some(_), None) => true,
            (None, _) => false,
        };
        (differs(&self.endpoint, Some(&connection.endpoint))
            || differs(
                &self.unity_catalog_url,
                connection.unity_catalog_url.as_deref(),
            ))
        .then(|| {
            format!(
                "table '{}' was planned for {}, but this process's Zerobus connection is for \
                 endpoint {}, Unity Catalog {}: rows go only where the statement named; give \
                 this executor the environment of that workspace",
                self.table,
                self.planned_hosts(),
                connection.endpoint,
                connection.unity_catalog_url.as_deref().unwrap_or("(none)")
            )
        })
    }

    /// This process's connection (`given`, else the environment's) for the node's table
    /// with the node's settings, or why there is none: the environment names no endpoint
    /// and credentials, or names another host than the statement was planned for. Without
    /// a usable connection the configuration keeps the planned hosts (no credentials), so
    /// that a plan re-encoded here (a scheduler) still says where it goes.
    fn config(&self, given: Option<&ZerobusConnection>) -> (WrapperConfig, Option<String>) {
        let from_env = || given.cloned().map_or_else(ZerobusConnection::from_env, Ok);
        let (mut connection, unconnected) = match from_env() {
            Ok(c) => match self.elsewhere(&c) {
                None => (c, None),
                Some(why) => (self.planned_connection(), Some(why)),
            },
            Err(e) => (
                self.planned_connection(),
                Some(format!(
                    "this process has no Zerobus connection for '{}' ({e}), which was planned \
                     for {}: on a Ballista cluster each executor takes ZEROBUS_ENDPOINT, \
                     DATABRICKS_HOST, DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET from its \
                     own environment",
                    self.table,
                    self.planned_hosts()
                )),
            ),
        };
        let mut refused = Vec::new();
        for (key, value) in &self.options {
            // A key this version does not know (or a local one) is not applied.
            if options::find(key).is_some() && !LOCAL_KEYS.contains(&key.as_str()) {
                if let Err(e) = options::apply(&mut connection, key, value) {
                    refused.push(e.to_string());
                }
            }
        }
        let unconnected = match (unconnected, refused.is_empty()) {
            (None, true) => None,
            (why, _) => Some(
                why.into_iter()
                    .chain(refused)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        };
        let config = WrapperConfig {
            connection,
            table_name: self.table.clone(),
        };
        (config, unconnected)
    }
}

/// The functions (UDF, UDAF, UDWF) of a plan are the inner (Ballista's) codec's: the same
/// methods in both codecs.
macro_rules! functions_of_inner {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            self.inner.try_decode_udf(name, buf)
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.inner.try_encode_udf(node, buf)
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            self.inner.try_decode_udaf(name, buf)
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.inner.try_encode_udaf(node, buf)
        }

        fn try_decode_udwf(&self, name: &str, buf: &[u8]) -> Result<Arc<WindowUDF>> {
            self.inner.try_decode_udwf(name, buf)
        }

        fn try_encode_udwf(&self, node: &WindowUDF, buf: &mut Vec<u8>) -> Result<()> {
            self.inner.try_encode_udwf(node, buf)
        }
    };
}

/// Ballista's logical codec, and the Zerobus table as an INSERT target.
#[derive(Debug)]
pub struct ZerobusLogicalCodec {
    inner: Arc<dyn LogicalExtensionCodec>,
    connection: Option<ZerobusConnection>,
}

impl Default for ZerobusLogicalCodec {
    /// Ballista's codec, and Zerobus nodes that connect as this process's environment says
    /// ([`ZerobusConnection::from_env`], read when a plan is decoded).
    fn default() -> Self {
        ZerobusLogicalCodec {
            inner: Arc::new(BallistaLogicalExtensionCodec::default()),
            connection: None,
        }
    }
}

impl ZerobusLogicalCodec {
    /// Zerobus nodes decoded here connect with `connection` (its endpoint, workspace and
    /// credentials; the plan's settings still apply), not with the environment's: for a
    /// process that is configured in code.
    pub fn with_connection(connection: ZerobusConnection) -> Self {
        ZerobusLogicalCodec {
            connection: Some(connection),
            ..Self::default()
        }
    }
}

impl LogicalExtensionCodec for ZerobusLogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match ZerobusNode::decode_from(buf)? {
            Some(node) => {
                let (config, unconnected) = node.config(self.connection.as_ref());
                Ok(Arc::new(
                    ZerobusTable::new(config, schema).with_unconnected(unconnected),
                ))
            }
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<ZerobusTable>() {
            Some(table) => {
                ZerobusNode::of(NodeKind::Table, table.config(), &table.schema())?.encode_into(buf);
                Ok(())
            }
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn datafusion::datasource::file_format::FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn datafusion::datasource::file_format::FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    functions_of_inner!();
}

/// Ballista's physical codec, and the nodes of a Zerobus write ([`ZerobusWriteExec`],
/// [`ZerobusTotalExec`]).
#[derive(Debug)]
pub struct ZerobusPhysicalCodec {
    inner: Arc<dyn PhysicalExtensionCodec>,
    connection: Option<ZerobusConnection>,
}

impl Default for ZerobusPhysicalCodec {
    /// Ballista's codec, and Zerobus nodes that connect as this process's environment says
    /// ([`ZerobusConnection::from_env`], read when a plan is decoded).
    fn default() -> Self {
        ZerobusPhysicalCodec {
            inner: Arc::new(BallistaPhysicalExtensionCodec::default()),
            connection: None,
        }
    }
}

impl ZerobusPhysicalCodec {
    /// Zerobus nodes decoded here connect with `connection` (its endpoint, workspace and
    /// credentials; the plan's settings still apply), not with the environment's: for a
    /// process that is configured in code.
    pub fn with_connection(connection: ZerobusConnection) -> Self {
        ZerobusPhysicalCodec {
            connection: Some(connection),
            ..Self::default()
        }
    }
}

impl PhysicalExtensionCodec for ZerobusPhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let Some(node) = ZerobusNode::decode_from(buf)? else {
            return self.inner.try_decode(buf, inputs, ctx, proto_converter);
        };
        let [input] = inputs else {
            return Err(DataFusionError::Internal(format!(
                "a Zerobus plan node of '{}' takes one input, got {}",
                node.table,
                inputs.len()
            )));
        };
        match node.kind() {
            NodeKind::Write => {
                let (config, unconnected) = node.config(self.connection.as_ref());
                let sink = ZerobusSink::new(config, node.schema()?).with_unconnected(unconnected);
                Ok(Arc::new(ZerobusWriteExec::new(input.clone(), sink)))
            }
            NodeKind::Total => Ok(Arc::new(ZerobusTotalExec::new(input.clone()))),
            NodeKind::Table => Err(DataFusionError::Internal(format!(
                "the Zerobus table '{}' is not a physical plan node",
                node.table
            ))),
        }
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        if let Some(write) = node.downcast_ref::<ZerobusWriteExec>() {
            let sink = write.sink();
            ZerobusNode::of(NodeKind::Write, sink.config(), sink.schema())?.encode_into(buf);
            return Ok(());
        }
        if node.downcast_ref::<ZerobusTotalExec>().is_some() {
            let node = ZerobusNode {
                kind: NodeKind::Total as i32,
                table: String::new(),
                schema: None,
                options: HashMap::new(),
                endpoint: None,
                unity_catalog_url: None,
            };
            node.encode_into(buf);
            return Ok(());
        }
        self.inner.try_encode(node, buf, proto_converter)
    }

    functions_of_inner!();
}

/// A Ballista client session configuration whose plans carry Zerobus tables: Ballista's
/// settings with [`ZerobusLogicalCodec`] and [`ZerobusPhysicalCodec`].
pub fn ballista_session_config() -> SessionConfig {
    SessionConfig::new_with_ballista()
        .with_ballista_logical_extension_codec(Arc::new(ZerobusLogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(ZerobusPhysicalCodec::default()))
}

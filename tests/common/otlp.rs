//! An in-process OTLP collector for tests: gRPC (the `opentelemetry-proto` tonic services)
//! and HTTP (`POST /v1/traces`, `/v1/metrics`, protobuf bodies). It keeps every request
//! decoded, and its raw bytes and headers for the secret search.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// What the collector received.
#[derive(Default)]
pub struct Received {
    pub traces: Vec<ExportTraceServiceRequest>,
    pub metrics: Vec<ExportMetricsServiceRequest>,
    /// Every request body and header value, as received.
    pub raw: Vec<u8>,
    /// Every header (name, value) of every request.
    pub headers: Vec<(String, String)>,
}

#[derive(Clone, Default)]
pub struct Collector(pub Arc<Mutex<Received>>);

impl Collector {
    fn keep_headers<'a>(&self, headers: impl Iterator<Item = (&'a str, &'a [u8])>) {
        let mut r = self.0.lock().unwrap();
        for (k, v) in headers {
            r.raw.extend_from_slice(v);
            r.headers
                .push((k.to_string(), String::from_utf8_lossy(v).into_owned()));
        }
    }

    fn keep_traces(&self, req: ExportTraceServiceRequest) {
        let mut r = self.0.lock().unwrap();
        r.raw.extend(req.encode_to_vec());
        r.traces.push(req);
    }

    fn keep_metrics(&self, req: ExportMetricsServiceRequest) {
        let mut r = self.0.lock().unwrap();
        r.raw.extend(req.encode_to_vec());
        r.metrics.push(req);
    }

    /// A collector answering OTLP/gRPC on a free loopback port.
    pub async fn grpc() -> (Collector, SocketAddr) {
        let collector = Collector::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .add_service(MetricsServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener));
        tokio::spawn(server);
        (collector, addr)
    }

    /// A collector answering OTLP/HTTP (protobuf) on a free loopback port.
    pub async fn http() -> (Collector, SocketAddr) {
        use axum::body::Bytes;
        use axum::http::HeaderMap;
        let collector = Collector::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (c1, c2) = (collector.clone(), collector.clone());
        let app = axum::Router::new()
            .route(
                "/v1/traces",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let c = c1.clone();
                    async move {
                        c.keep_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
                        c.keep_traces(ExportTraceServiceRequest::decode(body).unwrap());
                        ExportTraceServiceResponse::default().encode_to_vec()
                    }
                }),
            )
            .route(
                "/v1/metrics",
                axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                    let c = c2.clone();
                    async move {
                        c.keep_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
                        c.keep_metrics(ExportMetricsServiceRequest::decode(body).unwrap());
                        ExportMetricsServiceResponse::default().encode_to_vec()
                    }
                }),
            );
        tokio::spawn(async move { axum::serve(listener, app).await });
        (collector, addr)
    }

    /// Every span received, with its resource's `service.name`.
    pub fn spans(&self) -> Vec<(String, Span)> {
        let r = self.0.lock().unwrap();
        let mut out = Vec::new();
        for req in &r.traces {
            for rs in &req.resource_spans {
                let service = rs
                    .resource
                    .as_ref()
                    .and_then(|res| attr(&res.attributes, "service.name"))
                    .unwrap_or_default();
                for ss in &rs.scope_spans {
                    for s in &ss.spans {
                        out.push((service.clone(), s.clone()));
                    }
                }
            }
        }
        out
    }

    /// The latest value of sum metric `name` whose attributes include `attrs`
    /// (cumulative temporality: the latest point is the total).
    pub fn sum(&self, name: &str, attrs: &[(&str, &str)]) -> Option<i64> {
        let r = self.0.lock().unwrap();
        let mut best: Option<(u64, i64)> = None;
        for req in &r.metrics {
            for rm in &req.resource_metrics {
                for sm in &rm.scope_metrics {
                    for m in sm.metrics.iter().filter(|m| m.name == name) {
                        let Some(metric::Data::Sum(sum)) = &m.data else {
                            continue;
                        };
                        for p in &sum.data_points {
                            if !attrs
                                .iter()
                                .all(|(k, v)| attr(&p.attributes, k).as_deref() == Some(*v))
                            {
                                continue;
                            }
                            let v = match p.value {
                                Some(number_data_point::Value::AsInt(i)) => i,
                                Some(number_data_point::Value::AsDouble(d)) => d as i64,
                                None => continue,
                            };
                            if best.is_none_or(|(t, _)| p.time_unix_nano >= t) {
                                best = Some((p.time_unix_nano, v));
                            }
                        }
                    }
                }
            }
        }
        best.map(|(_, v)| v)
    }

    /// The latest (count, sum) of histogram `name` with attributes `attrs`.
    pub fn histogram(&self, name: &str, attrs: &[(&str, &str)]) -> Option<(u64, f64)> {
        let r = self.0.lock().unwrap();
        let mut best: Option<(u64, u64, f64)> = None;
        for req in &r.metrics {
            for rm in &req.resource_metrics {
                for sm in &rm.scope_metrics {
                    for m in sm.metrics.iter().filter(|m| m.name == name) {
                        let Some(metric::Data::Histogram(h)) = &m.data else {
                            continue;
                        };
                        for p in &h.data_points {
                            if attrs
                                .iter()
                                .all(|(k, v)| attr(&p.attributes, k).as_deref() == Some(*v))
                                && best.is_none_or(|(t, _, _)| p.time_unix_nano >= t)
                            {
                                best = Some((p.time_unix_nano, p.count, p.sum.unwrap_or(0.0)));
                            }
                        }
                    }
                }
            }
        }
        best.map(|(_, c, s)| (c, s))
    }

    /// Names of every metric received.
    pub fn metric_names(&self) -> std::collections::BTreeSet<String> {
        let r = self.0.lock().unwrap();
        r.metrics
            .iter()
            .flat_map(|req| &req.resource_metrics)
            .flat_map(|rm| &rm.scope_metrics)
            .flat_map(|sm| &sm.metrics)
            .map(|m| m.name.clone())
            .collect()
    }
}

/// The string (or integer, as text) value of attribute `key`.
pub fn attr(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| match &v.value {
            Some(any_value::Value::StringValue(s)) => Some(s.clone()),
            Some(any_value::Value::IntValue(i)) => Some(i.to_string()),
            Some(any_value::Value::BoolValue(b)) => Some(b.to_string()),
            _ => None,
        })
}

/// Lower-case hex of an id, as `tracing` fields and logs show it.
pub fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.keep_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
        self.keep_traces(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Collector {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = request.metadata().clone().into_headers();
        self.keep_headers(headers.iter().map(|(k, v)| (k.as_str(), v.as_bytes())));
        self.keep_metrics(request.into_inner());
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

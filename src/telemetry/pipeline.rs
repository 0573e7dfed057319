//! One export pipeline per settings: the tracer and meter providers and the instruments.

use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _, UpDownCounter};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
use opentelemetry_sdk::Resource;

use crate::error::Result;

use super::export::*;
use super::settings::*;

/// The instruments of one pipeline.
pub(crate) struct Instruments {
    pub rows_sent: Counter<u64>,
    pub batches_sent: Counter<u64>,
    pub bytes_sent: Counter<u64>,
    pub rows_acknowledged: Counter<u64>,
    pub retries: Counter<u64>,
    pub errors: Counter<u64>,
    pub send_duration: Histogram<f64>,
    pub rows_in_flight: UpDownCounter<i64>,
    pub streams_created: Counter<u64>,
    pub streams_open: UpDownCounter<i64>,
    pub rows_dead_lettered: Counter<u64>,
}

pub(super) struct Pipeline {
    pub(super) tracer_provider: SdkTracerProvider,
    pub(super) meter_provider: SdkMeterProvider,
    pub(super) tracer: SdkTracer,
    pub(super) instruments: Instruments,
}

impl Pipeline {
    /// The exporters, the providers and the instruments for `settings`.
    pub(super) fn build(settings: &ExportSettings) -> Result<Pipeline> {
        let rt = export_runtime()?;
        // tonic's channel spawns its worker when it is built.
        let _entered = rt.enter();
        let (spans, metrics) = exporters(settings)?;
        let resource = resource(settings);
        let tracer_provider = SdkTracerProvider::builder()
            .with_batch_exporter(OnExportRuntime(spans))
            .with_resource(resource.clone())
            .build();
        let mut reader = PeriodicReader::builder(OnExportRuntime(metrics));
        if let Some(i) = settings.export_interval {
            reader = reader.with_interval(i);
        }
        let meter_provider = SdkMeterProvider::builder()
            .with_reader(reader.build())
            .with_resource(resource)
            .build();
        let scope = opentelemetry::InstrumentationScope::builder("arrow-zerobus")
            .with_version(env!("CARGO_PKG_VERSION"))
            .build();
        let tracer = tracer_provider.tracer_with_scope(scope.clone());
        let instruments = Instruments::new(&meter_provider.meter_with_scope(scope));
        Ok(Pipeline {
            tracer_provider,
            meter_provider,
            tracer,
            instruments,
        })
    }
}

/// The span and metric exporters of `settings` (OTLP over gRPC or HTTP).
fn exporters(
    settings: &ExportSettings,
) -> Result<(
    opentelemetry_otlp::SpanExporter,
    opentelemetry_otlp::MetricExporter,
)> {
    let signal_url = |path: &str| {
        settings.endpoint.as_ref().map(|e| match settings.protocol {
            Protocol::Grpc => e.clone(),
            Protocol::HttpProtobuf => format!("{e}{path}"),
        })
    };
    let http_client = || {
        reqwest::Client::builder()
            .build()
            .map(HttpClient)
            .map_err(|e| build_error("HTTP", e))
    };
    let headers = match &settings.headers {
        Some(h) => Some(header_map(h)?),
        None => None,
    };

    let spans = match settings.protocol {
        Protocol::Grpc => with_tonic(
            opentelemetry_otlp::SpanExporter::builder().with_tonic(),
            settings,
            signal_url("/v1/traces"),
            headers.as_ref(),
        )
        .build(),
        Protocol::HttpProtobuf => with_http(
            opentelemetry_otlp::SpanExporter::builder().with_http(),
            settings,
            signal_url("/v1/traces"),
            http_client()?,
        )
        .build(),
    }
    .map_err(|e| build_error("span", e))?;
    let metrics = match settings.protocol {
        Protocol::Grpc => with_tonic(
            opentelemetry_otlp::MetricExporter::builder().with_tonic(),
            settings,
            signal_url("/v1/metrics"),
            headers.as_ref(),
        )
        .build(),
        Protocol::HttpProtobuf => with_http(
            opentelemetry_otlp::MetricExporter::builder().with_http(),
            settings,
            signal_url("/v1/metrics"),
            http_client()?,
        )
        .build(),
    }
    .map_err(|e| build_error("metric", e))?;
    Ok((spans, metrics))
}

/// The resource: `service.name` from the settings, else `OTEL_SERVICE_NAME` (which the
/// resource detector reads), else `arrow-zerobus`.
fn resource(settings: &ExportSettings) -> Resource {
    let service_name = settings.service_name.clone().or_else(|| {
        match std::env::var("OTEL_SERVICE_NAME") {
            Ok(s) if !s.trim().is_empty() => None, // the resource detector reads it
            _ => Some("arrow-zerobus".to_string()),
        }
    });
    let mut resource = Resource::builder();
    if let Some(name) = service_name {
        resource = resource.with_service_name(name);
    }
    resource.build()
}

impl Instruments {
    /// Every instrument, made by `meter`.
    fn new(meter: &opentelemetry::metrics::Meter) -> Instruments {
        let rows = |name: &'static str, doc: &'static str| {
            meter
                .u64_counter(name)
                .with_unit("{row}")
                .with_description(doc)
                .build()
        };
        Instruments {
            rows_sent: rows(
                "zerobus.rows.sent",
                "Rows handed to the Zerobus stream (resends after a failure count again)",
            ),
            batches_sent: meter
                .u64_counter("zerobus.batches.sent")
                .with_unit("{batch}")
                .with_description("Arrow batches encoded and submitted to the stream")
                .build(),
            bytes_sent: meter
                .u64_counter("zerobus.bytes.sent")
                .with_unit("By")
                .with_description("Encoded protobuf bytes handed to the stream")
                .build(),
            rows_acknowledged: rows(
                "zerobus.rows.acknowledged",
                "Rows the service acknowledged as durable",
            ),
            retries: meter
                .u64_counter("zerobus.retries")
                .with_unit("{retry}")
                .with_description("Retries after a transient failure")
                .build(),
            errors: meter
                .u64_counter("zerobus.errors")
                .with_unit("{error}")
                .with_description("Failed send_batch calls, by error.kind")
                .build(),
            send_duration: meter
                .f64_histogram("zerobus.send.duration")
                .with_unit("s")
                .with_description("send_batch latency: call to last acknowledgement")
                .build(),
            rows_in_flight: meter
                .i64_up_down_counter("zerobus.rows.in_flight")
                .with_unit("{row}")
                .with_description("Rows encoded and not yet acknowledged or given up")
                .build(),
            streams_created: meter
                .u64_counter("zerobus.streams.created")
                .with_unit("{stream}")
                .with_description("Zerobus streams opened (first and re-created)")
                .build(),
            streams_open: meter
                .i64_up_down_counter("zerobus.streams.open")
                .with_unit("{stream}")
                .with_description("Zerobus streams (lanes) open now")
                .build(),
            rows_dead_lettered: rows(
                "zerobus.rows.dead_lettered",
                "Rows written to a dead-letter file",
            ),
        }
    }
}

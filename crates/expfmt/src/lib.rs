//! Prometheus text exposition format 0.0.4, byte for byte as the kubelet
//! writes it, and a zero-copy parser that accepts what metrics-server
//! accepts.
//!
//! The kubelet serves `/metrics/resource` and `/metrics/cadvisor` through
//! `k8s.io/component-base/metrics`: client_golang's registry `Gather`,
//! promhttp's content negotiation, then prometheus/common's `expfmt` text
//! encoder. [`Exposition`] reproduces that pipeline's bytes: families sorted
//! by name, empty families dropped, samples sorted the way `Gather` sorts
//! them, labels sorted by name, `# HELP` (escaped) then `# TYPE`, Go's float
//! formatting ([`write_go_float`], with `-0` written `0`), and names escaped
//! with underscores as the default negotiation asks.
//!
//! [`parse`] and [`parse_items`] read the format the way Prometheus'
//! `textparse.PromParser` (metrics-server's decoder) does, rule for rule,
//! without copying names or label values; see [`Parser`] for the exact
//! grammar.
//!
//! Not for: OpenMetrics, protobuf exposition, or writing histograms and
//! summaries (the parser reads their `# TYPE` lines and samples).
//!
//! ```
//! use workingset_expfmt::{Exposition, MetricType, Sample, parse};
//!
//! let mut e = Exposition::new();
//! e.family(
//!     "node_memory_working_set_bytes",
//!     "[STABLE] Current working set of the node in bytes",
//!     MetricType::Gauge,
//! )
//! .push(Sample::new(1_582_764_032.0).at_ms(1_735_616_290_756));
//! let text = e.to_string();
//! assert_eq!(
//!     text.lines().collect::<Vec<_>>(),
//!     [
//!         "# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes",
//!         "# TYPE node_memory_working_set_bytes gauge",
//!         "node_memory_working_set_bytes 1.582764032e+09 1735616290756",
//!     ]
//! );
//!
//! let sample = parse(&text).next().unwrap()?;
//! assert_eq!(sample.name, "node_memory_working_set_bytes");
//! assert_eq!((sample.value, sample.timestamp_ms), (1_582_764_032.0, Some(1_735_616_290_756)));
//! # Ok::<(), workingset_expfmt::ParseError>(())
//! ```

mod float;
mod parse;
mod write;

pub use float::{write_go_float, write_value};
pub use parse::{
    Item, LabelIter, Labels, ParseError, ParseErrorKind, ParsedSample, ParsedType, Parser, parse,
    parse_items,
};
pub use write::{Exposition, Family, MetricType, Sample};

/// The media type of text exposition 0.0.4 (prometheus/common's `FmtText`):
/// the `Content-Type` of kubelets up to 1.30 (prometheus/common v0.44).
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The `Content-Type` of kubelets from 1.33 on (prometheus/common ≥ v0.62)
/// for a request without an `Accept` header: promhttp appends the
/// name-escaping scheme it applied, by default `underscores`, which is the
/// one [`Exposition`] applies. (1.31 and 1.32, on v0.55, say
/// `escaping=values`.) metrics-server ignores the header; Prometheus
/// accepts the parameter.
pub const CONTENT_TYPE_ESCAPING_UNDERSCORES: &str =
    "text/plain; version=0.0.4; charset=utf-8; escaping=underscores";

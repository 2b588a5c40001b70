//! A kubelet `/metrics/resource` body → one [`NodeBatch`] of points.
//!
//! What is read, as metrics-server's `decodeBatch` reads it:
//!
//! - `container_cpu_usage_seconds_total`, `container_memory_working_set_bytes`
//!   and `container_start_time_seconds`, keyed by their `namespace`, `pod`
//!   and `container` labels; `node_cpu_usage_seconds_total` and
//!   `node_memory_working_set_bytes`, whatever their labels. Every other
//!   family (`pod_*`, the swap families, `resource_scrape_error`, anything a
//!   future kubelet adds) is ignored.
//! - Timestamps are integer milliseconds; a sample without one (as
//!   `container_start_time_seconds` always is since 1.29) is taken at
//!   `received_at`.
//! - CPU seconds become nanoseconds as `uint64(value * 1e9)` does, except
//!   that a value too large for a `u64` saturates instead of being
//!   undefined; memory bytes are `uint64(value)`, saturating the same way.
//! - A container point needs both its CPU and its memory sample; its start
//!   time is optional. A node point needs both node samples. A point's
//!   timestamp is its CPU sample's, since that is the counter rates divide
//!   by time (the kubelet stamps both samples alike anyway).
//!
//! Where this decoder is deliberately stricter or different:
//!
//! - **Zeros are kept.** metrics-server drops a container (and with it its
//!   whole pod) whose CPU counter or working set is exactly 0, and a node
//!   likewise, which makes pods vanish from the API right after they start
//!   or while a container is idle and tiny. Here a 0 is a valid reading;
//!   the store decides what it means for a rate.
//! - **Unusable samples are dropped, not guessed.** A NaN, ±Inf or negative
//!   value, or a timestamp outside the representable range, makes that one
//!   sample unusable (upstream converts them into arbitrary integers). A
//!   container sample without a non-empty `namespace`, `pod` or `container`
//!   label is skipped (upstream slices the series text at an index of -1).
//! - **The first of duplicate series wins**; later ones are ignored
//!   (upstream keeps the last). A kubelet never writes duplicates, so this
//!   only decides which of two bad samples a broken exporter gets.
//! - **Label values are unescaped** as the text format defines (`\"`, `\\`,
//!   `\n`); metrics-server cuts a value at its first `"`, escaped or not.
//!   The two differ only for values containing a quote or a backslash, which
//!   valid pod, namespace and container names never do; unescaping keeps
//!   names written by our own agent (whose writer escapes) intact.
//! - A body that is not valid UTF-8 is rejected (the text format is UTF-8;
//!   upstream tolerates invalid bytes only inside comments).
//!
//! Like metrics-server, a body that is not valid text format is rejected
//! whole, naming the line, since a half-read node is worse than a missed
//! scrape.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use thiserror::Error;
use workingset_expfmt::{ParseError, parse};

use crate::point::{MetricsPoint, NodeBatch, PodPoints, PodRef};

const CONTAINER_CPU: &str = "container_cpu_usage_seconds_total";
const CONTAINER_MEMORY: &str = "container_memory_working_set_bytes";
const CONTAINER_START: &str = "container_start_time_seconds";
const NODE_CPU: &str = "node_cpu_usage_seconds_total";
const NODE_MEMORY: &str = "node_memory_working_set_bytes";

/// A body that cannot be decoded at all.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is not UTF-8.
    #[error(
        "the /metrics/resource body of node {node} is not valid UTF-8 (line {line}); is the URL a kubelet or workingset agent?"
    )]
    NotUtf8 {
        /// The node.
        node: String,
        /// 1-based line of the first invalid byte.
        line: usize,
    },
    /// The body is not Prometheus text format.
    #[error("the /metrics/resource body of node {node} is not Prometheus text format: {error}")]
    Parse {
        /// The node.
        node: String,
        /// Where and what (the line number is in it).
        error: ParseError,
    },
}

impl DecodeError {
    /// The short label for metrics: `parse_error`.
    pub fn outcome(&self) -> &'static str {
        "parse_error"
    }

    /// 1-based line of the problem.
    pub fn line(&self) -> usize {
        match self {
            DecodeError::NotUtf8 { line, .. } => *line,
            DecodeError::Parse { error, .. } => error.line,
        }
    }
}

/// One reading: a value and its time, or `None` when the first sample of
/// this series was unusable (so that a later duplicate cannot replace it).
type Reading<T> = Option<(T, Timestamp)>;

#[derive(Debug, Default)]
struct ContainerSamples {
    cpu: Option<Reading<u64>>,
    memory: Option<Reading<u64>>,
    start: Option<Option<Timestamp>>,
}

/// The container families read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ContainerFamily {
    Cpu,
    Memory,
    Start,
}

/// `namespace`, `pod`, `container`, borrowed from the body unless escaped.
pub type ContainerKey<'a> = (Cow<'a, str>, Cow<'a, str>, Cow<'a, str>);

/// What one node's body says, borrowing its names from the body: the
/// tick records it straight into the store, so a steady node costs no
/// allocation per pod or container.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NodeSamples<'a> {
    /// The node's own point, when the body had its CPU and memory.
    pub node_point: Option<MetricsPoint>,
    /// Every container with a complete point, sorted by namespace, pod and
    /// container, each once.
    pub containers: Vec<(ContainerKey<'a>, MetricsPoint)>,
}

/// A node's decoded body that owns its text: what a scrape task hands to
/// the tick. Names stay where they are in the body (a few escaped ones
/// are copied aside), so keeping a node's samples costs three allocations
/// whatever the number of pods.
#[derive(Debug, Clone, PartialEq)]
pub struct ScrapedSamples {
    text: String,
    /// Names that had escapes, unescaped.
    escaped: String,
    node_point: Option<MetricsPoint>,
    containers: Vec<([Span; 3], MetricsPoint)>,
}

/// Where a name is: in the body, or among the escaped names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    escaped: bool,
    start: u32,
    end: u32,
}

impl ScrapedSamples {
    /// Decodes one node's `/metrics/resource` body received at
    /// `received_at`.
    pub fn decode(body: Vec<u8>, node: &str, received_at: Timestamp) -> Result<Self, DecodeError> {
        let text = String::from_utf8(body)
            .map_err(|error| not_utf8(node, error.as_bytes(), error.utf8_error().valid_up_to()))?;
        let samples = decode_text(&text, node, received_at)?;
        let base = text.as_ptr() as usize;
        let mut escaped = String::new();
        let mut span = |name: &Cow<'_, str>| -> Span {
            // A borrowed name lies within the body (address arithmetic
            // only, checked): it is kept as a range of the body.
            let offset = (name.as_ptr() as usize).wrapping_sub(base);
            let within = offset
                .checked_add(name.len())
                .is_some_and(|end| end <= text.len());
            match name {
                Cow::Borrowed(borrowed) if within => Span {
                    escaped: false,
                    start: u32::try_from(offset).unwrap_or(u32::MAX),
                    end: u32::try_from(offset + borrowed.len()).unwrap_or(u32::MAX),
                },
                _ => {
                    let start = escaped.len();
                    escaped.push_str(name);
                    Span {
                        escaped: true,
                        start: u32::try_from(start).unwrap_or(u32::MAX),
                        end: u32::try_from(escaped.len()).unwrap_or(u32::MAX),
                    }
                }
            }
        };
        let containers = samples
            .containers
            .iter()
            .map(|((namespace, pod, container), point)| {
                ([span(namespace), span(pod), span(container)], *point)
            })
            .collect();
        let node_point = samples.node_point;
        drop(samples);
        Ok(Self {
            text,
            escaped,
            node_point,
            containers,
        })
    }

    fn name(&self, span: Span) -> &str {
        let source = if span.escaped {
            &self.escaped
        } else {
            &self.text
        };
        source
            .get(span.start as usize..span.end as usize)
            .unwrap_or_default()
    }

    /// The samples, borrowing their names.
    pub fn samples(&self) -> NodeSamples<'_> {
        NodeSamples {
            node_point: self.node_point,
            containers: self
                .containers
                .iter()
                .map(|([namespace, pod, container], point)| {
                    let key = (
                        Cow::Borrowed(self.name(*namespace)),
                        Cow::Borrowed(self.name(*pod)),
                        Cow::Borrowed(self.name(*container)),
                    );
                    (key, *point)
                })
                .collect(),
        }
    }

    /// Each pod once, sorted by namespace and name.
    pub fn pods(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut previous: Option<(&str, &str)> = None;
        self.containers
            .iter()
            .filter_map(move |([namespace, pod, _], _)| {
                let current = (self.name(*namespace), self.name(*pod));
                (previous.replace(current) != Some(current)).then_some(current)
            })
    }

    /// Number of pods.
    pub fn pod_count(&self) -> usize {
        self.pods().count()
    }
}

impl NodeSamples<'_> {
    /// The owned form (tests, benchmarks, callers that keep it).
    pub fn to_batch(&self, node: &str) -> NodeBatch {
        let mut pods: BTreeMap<PodRef, PodPoints> = BTreeMap::new();
        for ((namespace, pod, container), point) in &self.containers {
            let reference = PodRef {
                namespace: namespace.clone().into_owned(),
                name: pod.clone().into_owned(),
            };
            pods.entry(reference)
                .or_default()
                .insert(container.clone().into_owned(), *point);
        }
        NodeBatch {
            node: node.to_owned(),
            node_point: self.node_point,
            pods,
        }
    }
}

/// The containers met so far, in first-seen order.
///
/// Every container family of a kubelet body lists the same containers in
/// the same order with byte-identical label text, so the entry after the
/// last one found is almost always the next sample's: comparing its label
/// text is the fast path, and parsing the labels and hashing them is the
/// fallback for anything else (another order, other or extra labels).
#[derive(Default)]
struct Containers<'a> {
    entries: Vec<Entry<'a>>,
    by_key: HashMap<ContainerKey<'a>, usize, foldhash::fast::RandomState>,
    /// Where the next sample's container probably is.
    cursor: usize,
}

struct Entry<'a> {
    /// The label text it was first seen with.
    raw: &'a str,
    key: ContainerKey<'a>,
    samples: ContainerSamples,
}

impl<'a> Containers<'a> {
    /// A new family starts: its containers start from the first again.
    fn rewind(&mut self) {
        self.cursor = 0;
    }

    /// The entry of the container `labels` name; `None` without the three
    /// identifying labels.
    fn find(&mut self, labels: &workingset_expfmt::Labels<'a>) -> Option<&mut ContainerSamples> {
        let raw = labels.raw();
        let index = match self.entries.get(self.cursor) {
            Some(entry) if entry.raw == raw => self.cursor,
            _ => {
                let key = container_key(labels)?;
                match self.by_key.get(&key) {
                    Some(&index) => index,
                    None => {
                        let index = self.entries.len();
                        self.by_key.insert(key.clone(), index);
                        self.entries.push(Entry {
                            raw,
                            key,
                            samples: ContainerSamples::default(),
                        });
                        index
                    }
                }
            }
        };
        self.cursor = index + 1;
        self.entries.get_mut(index).map(|entry| &mut entry.samples)
    }
}

/// Decodes one node's `/metrics/resource` body received at `received_at`
/// into its owned form; see [`decode_samples`].
pub fn decode_resource(
    body: &[u8],
    node: &str,
    received_at: Timestamp,
) -> Result<NodeBatch, DecodeError> {
    decode_samples(body, node, received_at).map(|samples| samples.to_batch(node))
}

/// Decodes one node's `/metrics/resource` body received at `received_at`,
/// borrowing names from it.
pub fn decode_samples<'a>(
    body: &'a [u8],
    node: &str,
    received_at: Timestamp,
) -> Result<NodeSamples<'a>, DecodeError> {
    let text =
        std::str::from_utf8(body).map_err(|error| not_utf8(node, body, error.valid_up_to()))?;
    decode_text(text, node, received_at)
}

/// The error of a body whose first `valid_up_to` bytes are UTF-8.
fn not_utf8(node: &str, body: &[u8], valid_up_to: usize) -> DecodeError {
    DecodeError::NotUtf8 {
        node: node.to_owned(),
        line: 1 + body
            .get(..valid_up_to)
            .unwrap_or_default()
            .iter()
            .filter(|&&b| b == b'\n')
            .count(),
    }
}

/// [`decode_samples`] of a body already known to be text.
fn decode_text<'a>(
    text: &'a str,
    node: &str,
    received_at: Timestamp,
) -> Result<NodeSamples<'a>, DecodeError> {
    let mut node_cpu: Option<Reading<u64>> = None;
    let mut node_memory: Option<Reading<u64>> = None;
    let mut containers = Containers::default();
    let mut family: Option<ContainerFamily> = None;
    let mut unlabelled = 0usize;

    for sample in parse(text) {
        let sample = sample.map_err(|error| DecodeError::Parse {
            node: node.to_owned(),
            error,
        })?;
        let at = |ms: Option<i64>| match ms {
            None => Some(received_at),
            Some(ms) => Timestamp::from_millisecond(ms).ok(),
        };
        let reading = |convert: fn(f64) -> u64| -> Reading<u64> {
            usable(sample.value)
                .then(|| convert(sample.value))
                .zip(at(sample.timestamp_ms))
        };
        let kind = match sample.name.as_ref() {
            NODE_CPU => {
                node_cpu.get_or_insert_with(|| reading(cpu_ns));
                continue;
            }
            NODE_MEMORY => {
                node_memory.get_or_insert_with(|| reading(bytes));
                continue;
            }
            CONTAINER_CPU => ContainerFamily::Cpu,
            CONTAINER_MEMORY => ContainerFamily::Memory,
            CONTAINER_START => ContainerFamily::Start,
            _ => continue,
        };
        if family != Some(kind) {
            family = Some(kind);
            containers.rewind();
        }
        let Some(entry) = containers.find(&sample.labels) else {
            unlabelled += 1;
            continue;
        };
        match kind {
            ContainerFamily::Cpu => {
                entry.cpu.get_or_insert_with(|| reading(cpu_ns));
            }
            ContainerFamily::Memory => {
                entry.memory.get_or_insert_with(|| reading(bytes));
            }
            ContainerFamily::Start => {
                entry.start.get_or_insert_with(|| start_time(sample.value));
            }
        }
    }
    if unlabelled > 0 {
        tracing::debug!(
            node,
            samples = unlabelled,
            "Container samples without namespace, pod or container labels skipped"
        );
    }

    let node_point = match (node_cpu.flatten(), node_memory.flatten()) {
        (Some((cpu, timestamp)), Some((memory, _))) => Some(MetricsPoint {
            timestamp,
            cumulative_cpu_ns: cpu,
            memory_working_set: memory,
            start_time: None,
        }),
        _ => None,
    };
    let mut complete = Vec::with_capacity(containers.entries.len());
    let mut incomplete = 0usize;
    for Entry { key, samples, .. } in containers.entries {
        let (Some((cpu, timestamp)), Some((memory, _))) =
            (samples.cpu.flatten(), samples.memory.flatten())
        else {
            incomplete += 1;
            continue;
        };
        let point = MetricsPoint {
            timestamp,
            cumulative_cpu_ns: cpu,
            memory_working_set: memory,
            start_time: samples.start.flatten(),
        };
        complete.push((key, point));
    }
    // Sorted by pod then container, as the store walks them; a container
    // listed twice (no kubelet does) counts once.
    complete.sort_unstable_by(|(a, _), (b, _)| a.cmp(b));
    complete.dedup_by(|(a, _), (b, _)| a == b);
    if incomplete > 0 {
        tracing::debug!(
            node,
            containers = incomplete,
            "Containers without a usable CPU and memory sample skipped"
        );
    }
    Ok(NodeSamples {
        node_point,
        containers: complete,
    })
}

/// The three identifying labels, all present and non-empty.
fn container_key<'a>(labels: &workingset_expfmt::Labels<'a>) -> Option<ContainerKey<'a>> {
    let (mut namespace, mut pod, mut container) = (None, None, None);
    for (name, value) in labels.iter() {
        let slot = match name.as_ref() {
            "namespace" => &mut namespace,
            "pod" => &mut pod,
            "container" => &mut container,
            _ => continue,
        };
        // The first of a repeated label, as `Labels::get` reads it.
        if slot.is_none() {
            *slot = Some(value);
        }
    }
    let nonempty = |v: Option<Cow<'a, str>>| v.filter(|v| !v.is_empty());
    Some((nonempty(namespace)?, nonempty(pod)?, nonempty(container)?))
}

/// Whether a value can be a counter or a gauge reading.
fn usable(value: f64) -> bool {
    value.is_finite() && value >= 0.0
}

/// Seconds → nanoseconds, truncated like Go's `uint64(v * 1e9)`; `as`
/// saturates where Go's conversion is undefined.
fn cpu_ns(seconds: f64) -> u64 {
    (seconds * 1e9) as u64
}

/// Bytes as Go's `uint64(v)`, saturating.
fn bytes(value: f64) -> u64 {
    value as u64
}

/// Unix seconds → a timestamp, as Go's `time.Unix(0, int64(v * 1e9))`
/// without its overflow; `None` for an unusable or unrepresentable value.
fn start_time(seconds: f64) -> Option<Timestamp> {
    if !usable(seconds) {
        return None;
    }
    let nanos = seconds * 1e9;
    if nanos >= i128::MAX as f64 {
        return None;
    }
    Timestamp::from_nanosecond(nanos as i128).ok()
}

#[cfg(test)]
mod tests;

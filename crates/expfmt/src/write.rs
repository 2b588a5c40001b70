//! The exposition builder and renderer: what client_golang's registry
//! `Gather` plus prometheus/common's text encoder put on the wire.
//!
//! Families and samples may be pushed in any order; [`Exposition::render`]
//! imposes the upstream order (families by name; samples by label count,
//! then label values in label-name order, then timestamp with "no
//! timestamp" last; labels by name) so writers need not care.

use std::borrow::{Borrow, Cow};
use std::cmp::Ordering;
use std::fmt;
use std::io;

use crate::float::{push_i64, write_value};

/// The `# TYPE` of a family the writer can produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MetricType {
    /// `counter`: a cumulative value.
    Counter,
    /// `gauge`: a value that may go up and down.
    Gauge,
    /// `untyped`: no type information.
    Untyped,
}

impl MetricType {
    /// The word written after `# TYPE <name> `.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricType::Counter => "counter",
            MetricType::Gauge => "gauge",
            MetricType::Untyped => "untyped",
        }
    }
}

impl fmt::Display for MetricType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One sample of a family: its labels, value and optional timestamp.
///
/// Label names are `Cow<'static, str>` because they are nearly always
/// literals; label values are owned because they come from pod names and
/// the like.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// `(name, value)` pairs in any order; rendered sorted by name.
    pub labels: Vec<(Cow<'static, str>, String)>,
    /// The sample value.
    pub value: f64,
    /// Milliseconds since the Unix epoch, or `None` for "scrape time".
    pub timestamp_ms: Option<i64>,
}

impl Sample {
    /// A sample with no labels and no timestamp.
    pub fn new(value: f64) -> Self {
        Sample {
            labels: Vec::new(),
            value,
            timestamp_ms: None,
        }
    }

    /// Adds a label (builder style).
    #[must_use]
    pub fn label(mut self, name: impl Into<Cow<'static, str>>, value: impl Into<String>) -> Self {
        self.labels.push((name.into(), value.into()));
        self
    }

    /// Sets the timestamp in milliseconds since the Unix epoch (builder style).
    #[must_use]
    pub fn at_ms(mut self, timestamp_ms: i64) -> Self {
        self.timestamp_ms = Some(timestamp_ms);
        self
    }

    /// Whether the labels are already sorted by name (the common case, so
    /// rendering can skip building a sorted view).
    fn labels_sorted(&self) -> bool {
        self.labels.is_sorted_by(|a, b| a.0 <= b.0)
    }
}

/// A metric family: name, help, type and its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Metric name; must match `[a-zA-Z_:][a-zA-Z0-9_:]*` (not checked when
    /// rendering, as upstream's legacy names never need quoting).
    pub name: Cow<'static, str>,
    /// Help text, written escaped after `# HELP <name> `.
    pub help: Cow<'static, str>,
    /// The `# TYPE` word.
    pub metric_type: MetricType,
    /// Samples in any order.
    pub samples: Vec<Sample>,
}

impl Family {
    /// An empty family.
    pub fn new(
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        metric_type: MetricType,
    ) -> Self {
        Family {
            name: name.into(),
            help: help.into(),
            metric_type,
            samples: Vec::new(),
        }
    }

    /// Appends a sample.
    pub fn push(&mut self, sample: Sample) -> &mut Self {
        self.samples.push(sample);
        self
    }

    /// Appends a sample built from `labels`, `value` and `timestamp_ms`.
    pub fn sample<I, N, V>(&mut self, labels: I, value: f64, timestamp_ms: Option<i64>) -> &mut Self
    where
        I: IntoIterator<Item = (N, V)>,
        N: Into<Cow<'static, str>>,
        V: Into<String>,
    {
        let labels = labels
            .into_iter()
            .map(|(n, v)| (n.into(), v.into()))
            .collect();
        self.samples.push(Sample {
            labels,
            value,
            timestamp_ms,
        });
        self
    }

    /// Renders this family alone (nothing if it has no samples).
    pub fn render(&self, out: &mut String) {
        render_family(self, out);
    }
}

/// A whole exposition: the families one endpoint serves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Exposition {
    families: Vec<Family>,
}

impl Exposition {
    /// An empty exposition.
    pub fn new() -> Self {
        Exposition::default()
    }

    /// The family called `name`, created with `help` and `metric_type` if it
    /// does not exist yet. An existing family keeps its help and type.
    pub fn family(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        help: impl Into<Cow<'static, str>>,
        metric_type: MetricType,
    ) -> &mut Family {
        let name = name.into();
        let idx = match self.families.iter().position(|f| f.name == name) {
            Some(i) => i,
            None => {
                self.families.push(Family::new(name, help, metric_type));
                self.families.len() - 1
            }
        };
        &mut self.families[idx]
    }

    /// Adds a whole family; samples of a family with the same name are
    /// appended to the existing one.
    pub fn push_family(&mut self, family: Family) -> &mut Self {
        match self.families.iter_mut().find(|f| f.name == family.name) {
            Some(existing) => existing.samples.extend(family.samples),
            None => self.families.push(family),
        }
        self
    }

    /// The families in insertion order.
    pub fn families(&self) -> &[Family] {
        &self.families
    }

    /// Appends the text exposition to `out`.
    pub fn render(&self, out: &mut String) {
        for family in self.sorted_families() {
            render_family(family, out);
        }
    }

    /// Writes the text exposition to `w`, buffering in chunks so that a
    /// large exposition is never held in memory whole.
    pub fn write_to(&self, w: &mut impl io::Write) -> io::Result<()> {
        const FLUSH_AT: usize = 32 * 1024;
        let mut buf = String::with_capacity(FLUSH_AT + 4096);
        for family in self.sorted_families() {
            render_family(family, &mut buf);
            if buf.len() >= FLUSH_AT {
                w.write_all(buf.as_bytes())?;
                buf.clear();
            }
        }
        w.write_all(buf.as_bytes())
    }

    fn sorted_families(&self) -> Vec<&Family> {
        let mut families: Vec<&Family> = self.families.iter().collect();
        families.sort_by(|a, b| a.name.cmp(&b.name));
        families
    }
}

impl fmt::Display for Exposition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = String::new();
        self.render(&mut s);
        f.write_str(&s)
    }
}

type Label = (Cow<'static, str>, String);
type LabelRef<'a> = &'a Label;

/// Upstream's `MetricSorter.Less` as a total order: fewer labels first,
/// then label values position by position (with consistent label names
/// the positions are the sorted names), then by timestamp with "none"
/// last. Go's sort is not stable; ours keeps push order for exact ties.
fn compare_samples<L: Borrow<Label>>(
    a_labels: &[L],
    a_ts: Option<i64>,
    b_labels: &[L],
    b_ts: Option<i64>,
) -> Ordering {
    a_labels
        .len()
        .cmp(&b_labels.len())
        .then_with(|| {
            a_labels
                .iter()
                .map(|l| l.borrow().1.as_str())
                .cmp(b_labels.iter().map(|l| l.borrow().1.as_str()))
        })
        .then_with(|| match (a_ts, b_ts) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
}

fn compare_plain(a: &Sample, b: &Sample) -> Ordering {
    compare_samples(&a.labels, a.timestamp_ms, &b.labels, b.timestamp_ms)
}

fn sorted_labels(s: &Sample) -> Vec<LabelRef<'_>> {
    let mut v: Vec<LabelRef<'_>> = s.labels.iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn render_family(family: &Family, out: &mut String) {
    // Gather drops families without metrics, and the encoder refuses them.
    if family.samples.is_empty() {
        return;
    }
    // Escaped once per family rather than once per sample.
    let name = escape_name(&family.name);
    out.push_str("# HELP ");
    out.push_str(&name);
    out.push(' ');
    push_escaped(out, &family.help, false);
    out.push_str("\n# TYPE ");
    out.push_str(&name);
    out.push(' ');
    out.push_str(family.metric_type.as_str());
    out.push('\n');

    // Views of each sample with its labels sorted by name. Labels are
    // almost always pushed sorted already; then the view borrows them.
    let all_sorted = family.samples.iter().all(Sample::labels_sorted);
    if all_sorted {
        let mut order: Vec<&Sample> = family.samples.iter().collect();
        // Writers usually push in order already; checking is cheaper
        // than sorting.
        if !order.is_sorted_by(|a, b| compare_plain(a, b) != Ordering::Greater) {
            order.sort_by(|a, b| compare_plain(a, b));
        }
        for s in order {
            render_sample(&name, s.labels.iter(), s.value, s.timestamp_ms, out);
        }
    } else {
        let mut order: Vec<(Vec<LabelRef<'_>>, &Sample)> = family
            .samples
            .iter()
            .map(|s| (sorted_labels(s), s))
            .collect();
        order.sort_by(|(al, a), (bl, b)| compare_samples(al, a.timestamp_ms, bl, b.timestamp_ms));
        for (labels, s) in order {
            render_sample(&name, labels.into_iter(), s.value, s.timestamp_ms, out);
        }
    }
}

/// Writes one sample line; `name` is already escaped.
fn render_sample<'a>(
    name: &str,
    labels: impl Iterator<Item = LabelRef<'a>>,
    value: f64,
    timestamp_ms: Option<i64>,
    out: &mut String,
) {
    out.push_str(name);
    let mut first = true;
    for (n, v) in labels {
        out.push(if first { '{' } else { ',' });
        first = false;
        push_name(out, n);
        out.push_str("=\"");
        push_escaped(out, v, true);
        out.push('"');
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    write_value(out, value);
    if let Some(ts) = timestamp_ms {
        out.push(' ');
        push_i64(out, ts);
    }
    out.push('\n');
}

/// Whether `name` is a legacy Prometheus name, `[a-zA-Z_:][a-zA-Z0-9_:]*`
/// (upstream applies the metric-name rule to label names too).
pub(crate) fn is_legacy_name(name: &str) -> bool {
    let b = name.as_bytes();
    match b.first() {
        Some(&c) if c.is_ascii_alphabetic() || c == b'_' || c == b':' => b[1..]
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || c == b'_' || c == b':'),
        _ => false,
    }
}

/// Writes a metric or label name as the kubelet's HTTP handler does: it
/// negotiates `escaping=underscores` by default, so every character that
/// is not legal in a legacy name becomes `_` (one per character, and a
/// leading digit too) before the text encoder sees it. The encoder would
/// then quote a name that is still not legal, which only the empty name is.
fn push_name(out: &mut String, name: &str) {
    if is_legacy_name(name) {
        out.push_str(name);
    } else {
        out.push_str(&escape_name(name));
    }
}

/// The slow path of [`push_name`].
fn escape_name(name: &str) -> Cow<'_, str> {
    if is_legacy_name(name) {
        return Cow::Borrowed(name);
    }
    if name.is_empty() {
        return Cow::Borrowed("\"\"");
    }
    Cow::Owned(
        name.char_indices()
            .map(|(i, c)| {
                let ok = c.is_ascii_alphabetic()
                    || c == '_'
                    || c == ':'
                    || (i > 0 && c.is_ascii_digit());
                if ok { c } else { '_' }
            })
            .collect(),
    )
}

/// Escapes `\` and newline (and `"` in label values) as the text encoder does.
fn push_escaped(out: &mut String, s: &str, quote: bool) {
    let mut rest = s;
    while let Some(i) = rest
        .bytes()
        .position(|b| b == b'\\' || b == b'\n' || (quote && b == b'"'))
    {
        out.push_str(&rest[..i]);
        out.push_str(match rest.as_bytes()[i] {
            b'\\' => "\\\\",
            b'\n' => "\\n",
            _ => "\\\"",
        });
        rest = &rest[i + 1..];
    }
    out.push_str(rest);
}

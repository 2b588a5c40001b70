//! The tables of `kubectl top node` and `kubectl top pod`, as kubectl's
//! `pkg/metricsutil` prints them.
//!
//! Everything a reader of the output can observe is reproduced:
//!
//! - every cell, the last one of a row included, is followed by a tab, so
//!   the [`TabWriter`] pads it and every line ends in spaces; rows with
//!   fewer cells (a node without allocatable resources, the `--sum` footer)
//!   split the columns into blocks whose widths the writer carries
//!   downwards, as kubectl's `RememberWidths` writer does;
//! - CPU is `Quantity::milli_value()` (rounded up) followed by `m`, memory is
//!   `Quantity::value() / 2^20` (Go integer division) followed by `Mi`;
//! - a node percentage is Go's `int64(float64(usage_milli) /
//!   float64(available_milli) * 100)`, converted the way Go does on amd64
//!   (NaN and values out of range become `-9223372036854775808`), and the
//!   cell is left out entirely when the node has no such resource in its
//!   allocatable (or capacity) list, which shifts the cells after it;
//! - a pod row is the exact sum of its containers, rounded once; the
//!   `--sum` footer is the exact sum over all containers of all pods;
//! - rows are sorted with Go's unstable `sort.Sort` ([`crate::gosort`]), so
//!   ties under `--sort-by` come out as in kubectl;
//! - the `--sum` footer's indentation counts the `NAMESPACE` and `POD`
//!   columns only when headers are printed (a kubectl quirk: with
//!   `--no-headers` the footer is shifted left).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::{self, Write};
use std::ops::Range;
use std::rc::Rc;
use std::str::FromStr;

use workingset_model::metrics::{
    CPU, ContainerMetrics, MEMORY, NodeMetrics, PodMetrics, ResourceList,
};
use workingset_quantity::Quantity;

use crate::gosort::{self, GoSort};
use crate::tabwriter::TabWriter;
use crate::version::KubectlVersion;

/// What `--sort-by` orders rows by (descending); without it rows are sorted
/// by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SortBy {
    /// `--sort-by=cpu`: millicores, highest first.
    Cpu,
    /// `--sort-by=memory`: bytes, highest first.
    Memory,
}

/// A `--sort-by` value other than `cpu` or `memory`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--sort-by accepts only cpu or memory")]
pub struct InvalidSortBy(pub String);

impl SortBy {
    /// Interprets the flag as kubectl does: empty means "not given".
    pub fn from_flag(text: &str) -> Result<Option<Self>, InvalidSortBy> {
        if text.is_empty() {
            Ok(None)
        } else {
            text.parse().map(Some)
        }
    }

    /// The flag value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
        }
    }
}

impl FromStr for SortBy {
    type Err = InvalidSortBy;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "cpu" => Ok(Self::Cpu),
            "memory" => Ok(Self::Memory),
            other => Err(InvalidSortBy(other.to_owned())),
        }
    }
}

impl fmt::Display for SortBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How to print the node table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeTableOptions {
    /// `--no-headers`.
    pub no_headers: bool,
    /// `--sort-by`.
    pub sort_by: Option<SortBy>,
    /// Decides the header and the sort's tie order.
    pub kubectl: KubectlVersion,
}

/// How to print the pod table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PodTableOptions {
    /// `--containers`: one row per container, with a `POD` column.
    pub containers: bool,
    /// `-A`: a `NAMESPACE` column, and sorting by namespace first.
    pub with_namespace: bool,
    /// `--no-headers`.
    pub no_headers: bool,
    /// `--sort-by`.
    pub sort_by: Option<SortBy>,
    /// `--sum`: a footer with the totals.
    pub sum: bool,
    /// Decides the sort's tie order.
    pub kubectl: KubectlVersion,
}

/// The value `kubectl top` prints for nodes without metrics.
const UNKNOWN: &str = "<unknown>";

/// Prints the `top node` table (kubectl's `PrintNodeMetrics`).
///
/// `available` maps node names to the resources percentages are relative to
/// (allocatable, or capacity with `--show-capacity`). Nodes in it without
/// metrics get a row of `<unknown>` after the others. kubectl prints those
/// in Go map iteration order, which is random; we print them sorted by name,
/// which is one of the orders kubectl may print.
///
/// Prints nothing at all when `metrics` is empty.
pub fn print_node_metrics(
    out: &mut dyn Write,
    metrics: &[NodeMetrics],
    mut available: BTreeMap<&str, &ResourceList>,
    options: NodeTableOptions,
) -> io::Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    let mut rows: Vec<&NodeMetrics> = metrics.iter().collect();
    sort_rows(&mut rows, options.kubectl.go_sort(), options.sort_by, |m| {
        (&m.metadata.name, Usage::of_list(&m.usage))
    });

    let mut w = TabWriter::new(out);
    if !options.no_headers {
        print_header(&mut w, &options.kubectl.node_columns())?;
    }
    for node in rows {
        let name = node.metadata.name.as_str();
        // Each node's resources are used once: a second entry with the same
        // name prints no percentages, as in kubectl, which deletes the entry.
        let resources = available.remove(name);
        let usage = &node.usage;
        print_usage_row(
            &mut w,
            name,
            Usage::of_list(usage),
            node_percents(usage, resources),
        )?;
    }
    for name in available.keys() {
        cell(&mut w, name)?;
        for _ in 0..4 {
            cell(&mut w, UNKNOWN)?;
        }
        w.write_all(b"\n")?;
    }
    w.flush()
}

/// The `top pod` table (kubectl's `PrintPodMetrics`), gathered one pod at
/// a time so that a long list is never held whole: a pod keeps its name,
/// its namespace (shared between pods) and its usage already summed and
/// rounded; its containers are kept only with `--containers`, and the
/// `--sum` footer is added up as pods arrive.
#[derive(Debug)]
pub struct PodTable {
    options: PodTableOptions,
    /// Namespaces and container names, shared: a list repeats few of them.
    shared_names: HashSet<Rc<str>>,
    pods: Vec<PodRow>,
    containers: Vec<ContainerRow>,
    /// The exact sum over every container of every pod (`--sum`).
    total: Totals,
}

#[derive(Debug)]
struct PodRow {
    namespace: Rc<str>,
    name: Box<str>,
    /// The exact sum of the containers, rounded once.
    usage: Usage,
    /// Where the pod's containers are in `PodTable::containers`.
    containers: Range<usize>,
}

#[derive(Debug)]
struct ContainerRow {
    name: Rc<str>,
    usage: Usage,
}

/// CPU in millicores (rounded up) and memory in bytes, as printed and
/// compared; a missing entry is zero.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Usage {
    cpu_milli: i64,
    memory_bytes: i64,
}

impl Usage {
    fn of_list(list: &ResourceList) -> Self {
        Self {
            cpu_milli: list.get(CPU).map_or(0, Quantity::milli_value),
            memory_bytes: list.get(MEMORY).map_or(0, Quantity::value),
        }
    }
}

impl PodTable {
    /// An empty table printed with `options`.
    pub fn new(options: PodTableOptions) -> Self {
        Self {
            options,
            shared_names: HashSet::new(),
            pods: Vec::new(),
            containers: Vec::new(),
            total: Totals::zero(),
        }
    }

    /// Adds a list item, in list order (which decides how ties sort).
    pub fn push(&mut self, pod: PodMetrics) {
        let totals = Totals::of(&pod.containers);
        if self.options.sum {
            self.total.cpu += totals.cpu.clone();
            self.total.memory += totals.memory.clone();
        }
        let first = self.containers.len();
        if self.options.containers {
            for container in &pod.containers {
                let name = self.shared(&container.name);
                self.containers.push(ContainerRow {
                    name,
                    usage: Usage::of_list(&container.usage),
                });
            }
        }
        let namespace = self.shared(&pod.metadata.namespace);
        self.pods.push(PodRow {
            namespace,
            name: pod.metadata.name.into_boxed_str(),
            usage: Usage {
                cpu_milli: totals.cpu.milli_value(),
                memory_bytes: totals.memory.value(),
            },
            containers: first..self.containers.len(),
        });
    }

    fn shared(&mut self, name: &str) -> Rc<str> {
        if let Some(shared) = self.shared_names.get(name) {
            return Rc::clone(shared);
        }
        let shared: Rc<str> = Rc::from(name);
        self.shared_names.insert(Rc::clone(&shared));
        shared
    }

    /// How many pods were added.
    pub fn len(&self) -> usize {
        self.pods.len()
    }

    /// Whether no pod was added.
    pub fn is_empty(&self) -> bool {
        self.pods.is_empty()
    }

    /// Prints the table; nothing at all when no pod was added.
    pub fn print(mut self, out: &mut dyn Write) -> io::Result<()> {
        if self.pods.is_empty() {
            return Ok(());
        }
        let options = self.options;
        let mut w = TabWriter::new(out);

        // Only printed header columns count for the footer's indentation.
        let mut columns = 3;
        if !options.no_headers {
            if options.with_namespace {
                cell(&mut w, "NAMESPACE")?;
                columns += 1;
            }
            if options.containers {
                cell(&mut w, "POD")?;
                columns += 1;
            }
            print_header(&mut w, &["NAME", "CPU(cores)", "MEMORY(bytes)"])?;
        }

        let variant = options.kubectl.go_sort();
        gosort::sort_by(&mut self.pods, variant, |a, b| match options.sort_by {
            Some(SortBy::Cpu) => a.usage.cpu_milli > b.usage.cpu_milli,
            Some(SortBy::Memory) => a.usage.memory_bytes > b.usage.memory_bytes,
            None => {
                if options.with_namespace && a.namespace != b.namespace {
                    a.namespace < b.namespace
                } else {
                    a.name < b.name
                }
            }
        });

        for pod in &self.pods {
            if options.containers {
                let containers = &mut self.containers[pod.containers.clone()];
                sort_rows(containers, variant, options.sort_by, |c| (&c.name, c.usage));
                for container in containers.iter() {
                    if options.with_namespace {
                        cell(&mut w, &pod.namespace)?;
                    }
                    cell(&mut w, &pod.name)?;
                    print_usage_row(&mut w, &container.name, container.usage, [None; 2])?;
                }
            } else {
                if options.with_namespace {
                    cell(&mut w, &pod.namespace)?;
                }
                print_usage_row(&mut w, &pod.name, pod.usage, [None; 2])?;
            }
        }

        if options.sum {
            for _ in 0..columns - 2 {
                cell(&mut w, "")?;
            }
            cell(&mut w, "________")?;
            cell(&mut w, "________")?;
            w.write_all(b"\n")?;
            for _ in 0..columns - 3 {
                cell(&mut w, "")?;
            }
            let total = Usage {
                cpu_milli: self.total.cpu.milli_value(),
                memory_bytes: self.total.memory.value(),
            };
            print_usage_row(&mut w, "", total, [None; 2])?;
        }
        w.flush()
    }
}

/// Sorts rows of a name and a usage like kubectl's node and container
/// sorters.
fn sort_rows<T>(
    rows: &mut [T],
    variant: GoSort,
    sort_by: Option<SortBy>,
    key: impl Fn(&T) -> (&str, Usage),
) {
    gosort::sort_by(rows, variant, |a, b| {
        let ((a_name, a_usage), (b_name, b_usage)) = (key(a), key(b));
        match sort_by {
            Some(SortBy::Cpu) => a_usage.cpu_milli > b_usage.cpu_milli,
            Some(SortBy::Memory) => a_usage.memory_bytes > b_usage.memory_bytes,
            None => a_name < b_name,
        }
    });
}

/// Exact CPU and memory sums over containers, rounded only when printed
/// (kubectl adds with `Quantity.Add`, which is exact).
#[derive(Debug)]
struct Totals {
    cpu: Quantity,
    memory: Quantity,
}

impl Totals {
    fn zero() -> Self {
        Self {
            cpu: Quantity::zero(),
            memory: Quantity::zero(),
        }
    }

    fn of<'a>(containers: impl IntoIterator<Item = &'a ContainerMetrics>) -> Self {
        let mut totals = Self::zero();
        for container in containers {
            if let Some(q) = container.usage.get(CPU) {
                totals.cpu += q.clone();
            }
            if let Some(q) = container.usage.get(MEMORY) {
                totals.memory += q.clone();
            }
        }
        totals
    }
}

fn cell(w: &mut impl Write, text: &str) -> io::Result<()> {
    w.write_all(text.as_bytes())?;
    w.write_all(b"\t")
}

fn print_header(w: &mut impl Write, names: &[&str]) -> io::Result<()> {
    for name in names {
        cell(w, name)?;
    }
    w.write_all(b"\n")
}

/// A row: the name, then CPU and memory, each followed by its percentage
/// when there is one (kubectl's `printMetricsLine`).
fn print_usage_row(
    w: &mut impl Write,
    name: &str,
    usage: Usage,
    percents: [Option<i64>; 2],
) -> io::Result<()> {
    cell(w, name)?;
    write!(w, "{}m\t", usage.cpu_milli)?;
    if let Some(percent) = percents[0] {
        write!(w, "{percent}%\t")?;
    }
    write!(w, "{}Mi\t", usage.memory_bytes / (1024 * 1024))?;
    if let Some(percent) = percents[1] {
        write!(w, "{percent}%\t")?;
    }
    w.write_all(b"\n")
}

/// A node's percentages of `available` (allocatable or capacity): none for
/// a resource the list does not have. Memory is compared in millis, as
/// kubectl does.
fn node_percents(usage: &ResourceList, available: Option<&ResourceList>) -> [Option<i64>; 2] {
    let percent_of = |resource: &str| {
        let total = available?.get(resource)?;
        let used = usage.get(resource).map_or(0, Quantity::milli_value);
        Some(percent(used, total.milli_value()))
    };
    [percent_of(CPU), percent_of(MEMORY)]
}

/// Go's `int64(float64(usage) / float64(available) * 100)` on amd64.
///
/// Go leaves float-to-int conversions of values that do not fit (NaN, ±Inf,
/// beyond ±2^63) to the implementation; amd64's `CVTTSD2SI` yields
/// `i64::MIN` for all of them, which is what the kubectl binaries we compare
/// with print (for example for a node with allocatable CPU `0`). Rust's `as`
/// saturates instead, so those cases are handled first.
pub fn percent(usage_milli: i64, available_milli: i64) -> i64 {
    let fraction = usage_milli as f64 / available_milli as f64 * 100.0;
    // 2^63 as f64; every finite value below it and >= -2^63 converts exactly
    // by truncation.
    const LIMIT: f64 = 9_223_372_036_854_775_808.0;
    if fraction.is_nan() || !(-LIMIT..LIMIT).contains(&fraction) {
        i64::MIN
    } else {
        fraction as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_by_parses_like_kubectl() {
        assert_eq!(SortBy::from_flag(""), Ok(None));
        assert_eq!(SortBy::from_flag("cpu"), Ok(Some(SortBy::Cpu)));
        assert_eq!(SortBy::from_flag("memory"), Ok(Some(SortBy::Memory)));
        let err = SortBy::from_flag("CPU").unwrap_err();
        assert_eq!(err.to_string(), "--sort-by accepts only cpu or memory");
        assert_eq!(err.0, "CPU");
        assert_eq!(SortBy::Memory.to_string(), "memory");
    }

    #[test]
    fn percent_truncates_and_matches_amd64_go_on_overflow() {
        assert_eq!(percent(251, 4000), 6);
        assert_eq!(percent(1022, 2000), 51);
        assert_eq!(percent(3999, 4000), 99);
        assert_eq!(percent(9000, 4000), 225);
        assert_eq!(percent(0, 4000), 0);
        assert_eq!(percent(1, 0), i64::MIN);
        assert_eq!(percent(0, 0), i64::MIN);
        assert_eq!(percent(i64::MAX, 1), i64::MIN);
        assert_eq!(percent(-1, 0), i64::MIN);
    }
}

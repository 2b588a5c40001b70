//! The flow of `kubectl top node` and `kubectl top pod`: validation, the
//! requests in kubectl's order, the empty-result rules, then the table.
//!
//! This follows kubectl's `pkg/cmd/top/top_node.go` and `top_pod.go`
//! (identical from 1.27 to 1.33 apart from the header), whose order decides
//! which error wins when several apply:
//!
//! 1. *Complete*: more than one NAME argument is a usage error
//!    ([`TopNodeOptions::name_from_args`]); the binary resolves the
//!    namespace and builds the source.
//! 2. *Validate*: a bad `--sort-by`, then NAME together with a selector.
//!    Both look at the raw flag strings, so `--sort-by=` and `-l ''` count
//!    as not given.
//! 3. *Run*: the label selector is parsed, then (pods) the field selector,
//!    all before any request; then discovery, the metrics request, and the
//!    node list, or, for pods without metrics, the pod list that tells
//!    "no pods" from "too early" from "missing metrics".
//!
//! Data comes through [`MetricsSource`], a synchronous trait with one
//! method per request kubectl makes, so the local agent and an HTTP client
//! of a real API server can both serve it and the request sequence can be
//! checked in tests.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::Duration;

use workingset_model::duration::GoDuration;
use workingset_model::metrics::{Node, NodeMetrics, Pod, PodMetrics, ResourceList, Time};
use workingset_model::selector::{FieldSelector, LabelSelector};

use crate::error::{SourceError, TopError};
use crate::printer::{self, NodeTableOptions, PodTable, PodTableOptions, SortBy};
use crate::version::KubectlVersion;

/// Which objects a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Query<'a> {
    /// One object by name (`GET …/NAME`). The source returns exactly one
    /// object, or an error such as a `NotFound` [`Status`](crate::Status).
    Get(&'a str),
    /// A list (`GET …` with query parameters). The selectors are in
    /// apimachinery's canonical `String()` form, as kubectl sends them; an
    /// empty string means the parameter is not sent.
    List {
        /// `labelSelector`.
        label_selector: &'a str,
        /// `fieldSelector`; always empty for nodes.
        field_selector: &'a str,
    },
}

impl Query<'_> {
    /// A list with no selector at all.
    pub const ALL: Query<'static> = Query::List {
        label_selector: "",
        field_selector: "",
    };
}

/// Where `top` gets its data: one method per request kubectl makes.
///
/// Methods take `&mut self` so that a source may keep a connection or
/// record calls; they are called in kubectl's request order (see the module
/// docs and `kubectl-top.md`).
pub trait MetricsSource {
    /// Discovery (`GET /api`, `GET /apis`): whether the group
    /// `metrics.k8s.io` is served with version `v1beta1`.
    fn metrics_api_available(&mut self) -> Result<bool, SourceError>;

    /// `GET /apis/metrics.k8s.io/v1beta1/nodes[/NAME]`.
    fn node_metrics(&mut self, query: Query<'_>) -> Result<Vec<NodeMetrics>, SourceError>;

    /// `GET /api/v1/nodes[/NAME]`.
    fn nodes(&mut self, query: Query<'_>) -> Result<Vec<Node>, SourceError>;

    /// `GET /apis/metrics.k8s.io/v1beta1/namespaces/NS/pods[/NAME]`, or
    /// `…/v1beta1/pods[/NAME]` when `namespace` is `None` (all namespaces).
    fn pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<PodMetrics>, SourceError>;

    /// `GET /api/v1/namespaces/NS/pods[/NAME]`.
    fn pods(&mut self, namespace: &str, query: Query<'_>) -> Result<Vec<Pod>, SourceError>;

    /// [`pod_metrics`](Self::pod_metrics), handing each item to `each` in
    /// list order instead of returning the list. `top pod` asks this way;
    /// a source that decodes a long list from the network overrides it so
    /// that the whole list is never held decoded.
    fn each_pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
        each: &mut dyn FnMut(PodMetrics),
    ) -> Result<(), SourceError> {
        self.pod_metrics(namespace, query)?
            .into_iter()
            .for_each(each);
        Ok(())
    }
}

impl<S: MetricsSource + ?Sized> MetricsSource for &mut S {
    fn metrics_api_available(&mut self) -> Result<bool, SourceError> {
        (**self).metrics_api_available()
    }
    fn node_metrics(&mut self, query: Query<'_>) -> Result<Vec<NodeMetrics>, SourceError> {
        (**self).node_metrics(query)
    }
    fn nodes(&mut self, query: Query<'_>) -> Result<Vec<Node>, SourceError> {
        (**self).nodes(query)
    }
    fn pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<PodMetrics>, SourceError> {
        (**self).pod_metrics(namespace, query)
    }
    fn pods(&mut self, namespace: &str, query: Query<'_>) -> Result<Vec<Pod>, SourceError> {
        (**self).pods(namespace, query)
    }
    fn each_pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
        each: &mut dyn FnMut(PodMetrics),
    ) -> Result<(), SourceError> {
        (**self).each_pod_metrics(namespace, query, each)
    }
}

/// The flags and argument of `top node`, as given (validated by
/// [`run_top_node`] in kubectl's order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopNodeOptions {
    /// The NAME argument; empty counts as absent, as in kubectl.
    pub name: Option<String>,
    /// `-l`/`--selector`, raw.
    pub selector: String,
    /// `--sort-by`, raw (`cpu`, `memory`, or empty).
    pub sort_by: String,
    /// `--no-headers`.
    pub no_headers: bool,
    /// `--show-capacity`: percentages of capacity instead of allocatable.
    pub show_capacity: bool,
    /// `--use-protocol-buffers` (default true). It only changes what an HTTP
    /// source asks for, never the output, so `run_top_node` ignores it.
    /// Measured with the real binaries: metrics requests send `Accept:
    /// application/vnd.kubernetes.protobuf, */*` when true (1.27–1.33), and
    /// when false `application/json, */*` (1.27–1.31) or
    /// `application/vnd.kubernetes.protobuf,application/json` (1.32+), which
    /// is also what 1.32+ send to the core API (`application/json, */*`
    /// before).
    pub use_protocol_buffers: bool,
    /// The kubectl release to imitate.
    pub kubectl: KubectlVersion,
}

impl Default for TopNodeOptions {
    fn default() -> Self {
        Self {
            name: None,
            selector: String::new(),
            sort_by: String::new(),
            no_headers: false,
            show_capacity: false,
            use_protocol_buffers: true,
            kubectl: KubectlVersion::default(),
        }
    }
}

impl TopNodeOptions {
    /// kubectl's use line for `top node`.
    pub const USAGE: &'static str = "node [NAME | -l label]";

    /// The NAME from the positional arguments: none or one, else kubectl's
    /// usage error naming `command_path` (e.g. `kubectl top node`).
    pub fn name_from_args(args: &[String], command_path: &str) -> Result<Option<String>, TopError> {
        name_from_args(args, Self::USAGE, command_path)
    }
}

/// The flags and argument of `top pod`, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopPodOptions {
    /// The current namespace (from `--namespace` or the kubeconfig context).
    /// With `-A` it is still where pods are listed when there are no metrics.
    pub namespace: String,
    /// `-A`/`--all-namespaces`.
    pub all_namespaces: bool,
    /// The NAME argument; empty counts as absent.
    pub name: Option<String>,
    /// `-l`/`--selector`, raw.
    pub selector: String,
    /// `--field-selector`, raw.
    pub field_selector: String,
    /// `--containers`.
    pub containers: bool,
    /// `--sort-by`, raw.
    pub sort_by: String,
    /// `--no-headers`.
    pub no_headers: bool,
    /// `--sum`.
    pub sum: bool,
    /// `--use-protocol-buffers`; ignored here, see [`TopNodeOptions`].
    pub use_protocol_buffers: bool,
    /// The kubectl release to imitate.
    pub kubectl: KubectlVersion,
    /// The time pod ages are measured against; `None` reads the clock when
    /// an age is needed (as kubectl's `time.Since`).
    pub now: Option<Time>,
}

impl Default for TopPodOptions {
    fn default() -> Self {
        Self {
            namespace: "default".to_owned(),
            all_namespaces: false,
            name: None,
            selector: String::new(),
            field_selector: String::new(),
            containers: false,
            sort_by: String::new(),
            no_headers: false,
            sum: false,
            use_protocol_buffers: true,
            kubectl: KubectlVersion::default(),
            now: None,
        }
    }
}

impl TopPodOptions {
    /// kubectl's use line for `top pod`.
    pub const USAGE: &'static str = "pod [NAME | -l label]";

    /// The NAME from the positional arguments, see
    /// [`TopNodeOptions::name_from_args`].
    pub fn name_from_args(args: &[String], command_path: &str) -> Result<Option<String>, TopError> {
        name_from_args(args, Self::USAGE, command_path)
    }
}

fn name_from_args(
    args: &[String],
    usage: &'static str,
    command_path: &str,
) -> Result<Option<String>, TopError> {
    match args {
        [] => Ok(None),
        [name] => Ok(Some(name.clone())),
        _ => Err(TopError::TooManyArguments {
            usage,
            command_path: command_path.to_owned(),
        }),
    }
}

/// How long after creation kubectl accepts a pod without metrics
/// (`metricsCreationDelay`).
const METRICS_CREATION_DELAY: Duration = Duration::from_secs(120);

/// Runs `top node`: writes the table to `stdout`. Nothing is written to
/// `stderr` (it is taken for symmetry with [`run_top_pod`]); errors are
/// returned for the caller to print (see [`TopError`]).
pub fn run_top_node(
    options: &TopNodeOptions,
    source: &mut dyn MetricsSource,
    stdout: &mut dyn Write,
    _stderr: &mut dyn Write,
) -> Result<(), TopError> {
    // Validate.
    let sort_by = SortBy::from_flag(&options.sort_by)?;
    let name = non_empty(options.name.as_deref());
    if name.is_some() && !options.selector.is_empty() {
        return Err(TopError::NodeNameAndSelector);
    }

    // Run.
    let selector = parse_labels(&options.selector)?;
    if !source.metrics_api_available()? {
        return Err(TopError::MetricsApiNotAvailable);
    }
    let query = match name {
        Some(name) => Query::Get(name),
        None => Query::List {
            label_selector: &selector,
            field_selector: "",
        },
    };
    let metrics = source.node_metrics(query)?;
    if metrics.is_empty() {
        return Err(TopError::MetricsNotAvailableYet);
    }
    let nodes = source.nodes(query)?;

    // Later nodes of the same name win, as in kubectl's map.
    let mut available: BTreeMap<&str, &ResourceList> = BTreeMap::new();
    for node in &nodes {
        let resources = if options.show_capacity {
            &node.status.capacity
        } else {
            &node.status.allocatable
        };
        available.insert(node.metadata.name.as_str(), resources);
    }
    let table = NodeTableOptions {
        no_headers: options.no_headers,
        sort_by,
        kubectl: options.kubectl,
    };
    printer::print_node_metrics(stdout, &metrics, available, table)?;
    Ok(())
}

/// Runs `top pod`: writes the table to `stdout` and the "No resources
/// found" notice (exit status 0) to `stderr`; errors are returned.
pub fn run_top_pod(
    options: &TopPodOptions,
    source: &mut dyn MetricsSource,
    stdout: &mut dyn Write,
    stderr: &mut dyn Write,
) -> Result<(), TopError> {
    // Validate.
    let sort_by = SortBy::from_flag(&options.sort_by)?;
    let name = non_empty(options.name.as_deref());
    if name.is_some() && (!options.selector.is_empty() || !options.field_selector.is_empty()) {
        return Err(TopError::PodNameAndSelector);
    }

    // Run.
    let labels = parse_labels(&options.selector)?;
    let fields = if options.field_selector.is_empty() {
        String::new()
    } else {
        options.field_selector.parse::<FieldSelector>()?.to_string()
    };
    if !source.metrics_api_available()? {
        return Err(TopError::MetricsApiNotAvailable);
    }
    let query = match name {
        Some(name) => Query::Get(name),
        None => Query::List {
            label_selector: &labels,
            field_selector: &fields,
        },
    };
    let metrics_namespace = (!options.all_namespaces).then_some(options.namespace.as_str());
    let mut table = PodTable::new(PodTableOptions {
        containers: options.containers,
        with_namespace: options.all_namespaces,
        no_headers: options.no_headers,
        sort_by,
        sum: options.sum,
        kubectl: options.kubectl,
    });
    source.each_pod_metrics(metrics_namespace, query, &mut |pod| table.push(pod))?;

    if table.is_empty() {
        // Tell "no pods" from "too early" from "metrics missing". kubectl
        // looks in the current namespace even with -A.
        let pods = source.pods(&options.namespace, query)?;
        if !pods.is_empty() || name.is_some() {
            let now = options.now.unwrap_or_else(Time::now);
            for pod in &pods {
                check_pod_age(pod, now)?;
            }
            return Err(TopError::MetricsNotAvailableYet);
        }
        if options.all_namespaces {
            writeln!(stderr, "No resources found")?;
        } else {
            writeln!(
                stderr,
                "No resources found in {} namespace.",
                options.namespace
            )?;
        }
        return Ok(());
    }

    table.print(stdout)?;
    Ok(())
}

fn non_empty(name: Option<&str>) -> Option<&str> {
    name.filter(|name| !name.is_empty())
}

/// Parses `-l` like kubectl (only when given) and returns the canonical
/// form that goes into the request.
fn parse_labels(text: &str) -> Result<String, TopError> {
    if text.is_empty() {
        return Ok(String::new());
    }
    Ok(text.parse::<LabelSelector>()?.to_string())
}

/// kubectl's `checkPodAge`: a pod older than the creation delay should have
/// metrics by now.
fn check_pod_age(pod: &Pod, now: Time) -> Result<(), TopError> {
    let age_nanos: i128 = match pod.metadata.creation_timestamp {
        Some(created) => now.0.as_nanosecond() - created.0.as_nanosecond(),
        // Go's zero time is year 1; the difference saturates at the largest
        // duration.
        None => i128::from(i64::MAX),
    };
    // Go's `Time.Sub` saturates to the int64 nanosecond range.
    let age_nanos = age_nanos.clamp(i128::from(i64::MIN), i128::from(i64::MAX));
    if age_nanos <= METRICS_CREATION_DELAY.as_nanos() as i128 {
        return Ok(());
    }
    let age = Duration::from_nanos(u64::try_from(age_nanos).unwrap_or(u64::MAX));
    Err(TopError::PodMetricsMissing {
        namespace: pod.metadata.namespace.clone(),
        name: pod.metadata.name.clone(),
        age: GoDuration(age),
    })
}

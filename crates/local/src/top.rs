//! `workingset top` on this machine: sampled twice, answering the
//! requests `kubectl top` makes as metrics-server and the API server would.
//!
//! Answering *requests* (rather than printing the sample directly) keeps one
//! code path for `top`: `workingset_top` runs kubectl's exact flow against
//! this source, so errors such as `nodemetrics.metrics.k8s.io "x" not found`
//! or "No resources found in default namespace." come out as they would from
//! a cluster.

use std::thread;

use workingset_model::metrics::{Node, NodeMetrics, ObjectMeta, Pod, PodMetrics};
use workingset_model::selector::{FieldSelector, LabelSelector, METRICS_API_FIELDS};
use workingset_sampling::metrics::{MachineMetrics, machine_metrics};
use workingset_sampling::sampler::Sampler;
use workingset_top::{MetricsSource, Query, SourceError, Status};

use crate::{LocalError, LocalMachine, open_cgroups, sample_pass};

/// Samples this machine twice, `window` apart, with names from the
/// container runtimes when they answer.
pub fn sample(machine: &LocalMachine) -> Result<MachineMetrics, LocalError> {
    let cgroups = open_cgroups(&machine.cgroups)?;
    tracing::debug!(hierarchy = ?cgroups.hierarchy(), "Detected cgroups");
    let inventory = machine.names.inventory();
    let mut sampler = Sampler::new(&cgroups);
    let earlier = sample_pass(&mut sampler, &inventory, "first")?;
    thread::sleep(machine.window);
    let later = sample_pass(&mut sampler, &inventory, "second")?;
    Ok(machine_metrics(&machine.node_name, &earlier, &later))
}

/// This machine's metrics behind kubectl's requests.
///
/// Sampling starts at the first request, not before: kubectl validates its
/// flags before it sends anything, so a bad `--sort-by` fails at once here
/// too instead of after the sampling window.
#[derive(Debug)]
pub struct LocalSource {
    machine: LocalMachine,
    metrics: Option<MachineMetrics>,
}

impl LocalSource {
    /// A source that samples `machine` when first asked.
    pub fn new(machine: LocalMachine) -> Self {
        Self {
            machine,
            metrics: None,
        }
    }

    fn metrics(&mut self) -> Result<&MachineMetrics, SourceError> {
        if self.metrics.is_none() {
            let sampled = sample(&self.machine).map_err(|e| SourceError::Other(e.to_string()))?;
            self.metrics = Some(sampled);
        }
        self.metrics
            .as_ref()
            .ok_or_else(|| SourceError::Other("no sample".to_owned()))
    }
}

const METRICS_GROUP: &str = "metrics.k8s.io";

fn bad_request(message: String) -> SourceError {
    Status {
        code: 400,
        reason: "BadRequest".to_owned(),
        message,
        details: None,
    }
    .into()
}

/// The label and field selectors of a list request, parsed as a server does
/// (a bad one is a 400, as the API server answers).
fn selectors(
    label_selector: &str,
    field_selector: &str,
    allowed_fields: &[&str],
) -> Result<(LabelSelector, FieldSelector), SourceError> {
    let labels = LabelSelector::parse(label_selector).map_err(|e| bad_request(e.to_string()))?;
    let fields = FieldSelector::parse(field_selector).map_err(|e| bad_request(e.to_string()))?;
    fields
        .check_fields(allowed_fields)
        .map_err(|e| bad_request(e.to_string()))?;
    Ok((labels, fields))
}

fn meta_matches(meta: &ObjectMeta, labels: &LabelSelector, fields: &FieldSelector) -> bool {
    labels.matches(&meta.labels)
        && fields.matches_with(|field| match field {
            "metadata.name" => Some(meta.name.as_str()),
            "metadata.namespace" => Some(meta.namespace.as_str()),
            _ => None,
        })
}

impl MetricsSource for LocalSource {
    fn metrics_api_available(&mut self) -> Result<bool, SourceError> {
        Ok(true)
    }

    fn node_metrics(&mut self, query: Query<'_>) -> Result<Vec<NodeMetrics>, SourceError> {
        let node = self.metrics()?.node.iter();
        match query {
            Query::Get(name) => node
                .filter(|n| n.metadata.name == name)
                .cloned()
                .map(|mut n| {
                    n.kind = Some("NodeMetrics".to_owned());
                    n.api_version = Some(workingset_model::metrics::METRICS_API_VERSION.to_owned());
                    vec![n]
                })
                .next()
                .ok_or_else(|| Status::not_found(METRICS_GROUP, "nodemetrics", name).into()),
            Query::List {
                label_selector,
                field_selector,
            } => {
                let (labels, fields) =
                    selectors(label_selector, field_selector, &["metadata.name"])?;
                Ok(node
                    .filter(|n| meta_matches(&n.metadata, &labels, &fields))
                    .cloned()
                    .collect())
            }
        }
    }

    fn nodes(&mut self, query: Query<'_>) -> Result<Vec<Node>, SourceError> {
        let node = &self.metrics()?.node_object;
        match query {
            Query::Get(name) if node.metadata.name == name => Ok(vec![node.clone()]),
            Query::Get(name) => Err(Status::not_found("", "nodes", name).into()),
            Query::List {
                label_selector,
                field_selector,
            } => {
                let (labels, fields) =
                    selectors(label_selector, field_selector, &["metadata.name"])?;
                Ok(meta_matches(&node.metadata, &labels, &fields)
                    .then(|| node.clone())
                    .into_iter()
                    .collect())
            }
        }
    }

    fn pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<PodMetrics>, SourceError> {
        let in_namespace =
            |pod: &&PodMetrics| namespace.is_none_or(|ns| pod.metadata.namespace == ns);
        let metrics = self.metrics()?;
        let mut pods: Vec<PodMetrics> = match query {
            Query::Get(name) => {
                let found = metrics
                    .pods
                    .iter()
                    .filter(in_namespace)
                    .find(|pod| pod.metadata.name == name)
                    .cloned();
                let Some(mut pod) = found else {
                    let full_name = format!("{}/{name}", namespace.unwrap_or_default());
                    return Err(Status::not_found(METRICS_GROUP, "podmetrics", &full_name).into());
                };
                pod.kind = Some("PodMetrics".to_owned());
                pod.api_version = Some(workingset_model::metrics::METRICS_API_VERSION.to_owned());
                return Ok(vec![pod]);
            }
            Query::List {
                label_selector,
                field_selector,
            } => {
                let (labels, fields) =
                    selectors(label_selector, field_selector, &METRICS_API_FIELDS)?;
                metrics
                    .pods
                    .iter()
                    .filter(in_namespace)
                    .filter(|pod| meta_matches(&pod.metadata, &labels, &fields))
                    .cloned()
                    .collect()
            }
        };
        // metrics-server answers lists sorted by namespace, then name.
        pods.sort_by(|a, b| {
            (&a.metadata.namespace, &a.metadata.name)
                .cmp(&(&b.metadata.namespace, &b.metadata.name))
        });
        Ok(pods)
    }

    fn pods(&mut self, namespace: &str, query: Query<'_>) -> Result<Vec<Pod>, SourceError> {
        let in_namespace = |pod: &&Pod| pod.metadata.namespace == namespace;
        let metrics = self.metrics()?;
        match query {
            Query::Get(name) => metrics
                .pod_objects
                .iter()
                .filter(in_namespace)
                .find(|pod| pod.metadata.name == name)
                .map(|pod| vec![pod.clone()])
                .ok_or_else(|| Status::not_found("", "pods", name).into()),
            Query::List {
                label_selector,
                field_selector,
            } => {
                let (labels, fields) =
                    selectors(label_selector, field_selector, &METRICS_API_FIELDS)?;
                Ok(metrics
                    .pod_objects
                    .iter()
                    .filter(in_namespace)
                    .filter(|pod| meta_matches(&pod.metadata, &labels, &fields))
                    .cloned()
                    .collect())
            }
        }
    }
}

//! `workingset top` on this machine: sampled twice, answering the
//! requests `kubectl top` makes as metrics-server and the API server would.
//!
//! Answering *requests* (rather than printing the sample directly) keeps one
//! code path for `top`: `workingset_top` runs kubectl's exact flow against
//! this source, so errors such as `nodemetrics.metrics.k8s.io "x" not found`
//! or "No resources found in default namespace." come out as they would from
//! a cluster.

use std::thread;

use workingset_cgroup::Detail;
use workingset_model::metrics::{METRICS_API_VERSION, Node, NodeMetrics, Pod, PodMetrics};
use workingset_model::select::{self, ListOptions};
use workingset_sampling::metrics::{MachineMetrics, machine_metrics};
use workingset_sampling::sampler::Sampler;
use workingset_top::{MetricsSource, Query, SourceError};

use crate::{LocalError, LocalMachine, open_cgroups, sample_pass};

/// Samples this machine twice, `window` apart, with names from the
/// container runtimes when they answer.
pub fn sample(machine: &LocalMachine) -> Result<MachineMetrics, LocalError> {
    let cgroups = open_cgroups(&machine.cgroups)?;
    tracing::debug!(hierarchy = ?cgroups.hierarchy(), "Detected cgroups");
    let inventory = machine.names.inventory();
    let mut sampler = Sampler::new(&cgroups);
    // The table shows CPU and working set: the other figures are not read.
    sampler.set_detail(Detail::Usage);
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

fn list_options<'q>(label_selector: &'q str, field_selector: &'q str) -> ListOptions<'q> {
    ListOptions {
        label_selector,
        field_selector,
    }
}

/// The requests as metrics-server (and, for `nodes` and `pods`, the API
/// server) answers them: the same selection and not-found rules as our
/// server's (`workingset_model::select`), over this machine's catalog.
impl MetricsSource for LocalSource {
    fn metrics_api_available(&mut self) -> Result<bool, SourceError> {
        Ok(true)
    }

    fn node_metrics(&mut self, query: Query<'_>) -> Result<Vec<NodeMetrics>, SourceError> {
        let metrics = self.metrics()?;
        match query {
            Query::Get(name) => {
                let mut node = select::get_node_metrics(metrics, name)?.clone();
                node.kind = Some("NodeMetrics".to_owned());
                node.api_version = Some(METRICS_API_VERSION.to_owned());
                Ok(vec![node])
            }
            Query::List {
                label_selector,
                field_selector,
            } => {
                let options = list_options(label_selector, field_selector);
                Ok(select::list_node_metrics(metrics, &options)?
                    .into_iter()
                    .cloned()
                    .collect())
            }
        }
    }

    fn nodes(&mut self, query: Query<'_>) -> Result<Vec<Node>, SourceError> {
        let metrics = self.metrics()?;
        match query {
            Query::Get(name) => Ok(vec![select::get_node(metrics, name)?.clone()]),
            Query::List {
                label_selector,
                field_selector,
            } => {
                let options = list_options(label_selector, field_selector);
                Ok(select::list_nodes(metrics, &options)?
                    .into_iter()
                    .cloned()
                    .collect())
            }
        }
    }

    fn pod_metrics(
        &mut self,
        namespace: Option<&str>,
        query: Query<'_>,
    ) -> Result<Vec<PodMetrics>, SourceError> {
        let metrics = self.metrics()?;
        match query {
            Query::Get(name) => {
                let namespace = namespace.unwrap_or_default();
                let mut pod = select::get_pod_metrics(metrics, namespace, name)?.clone();
                pod.kind = Some("PodMetrics".to_owned());
                pod.api_version = Some(METRICS_API_VERSION.to_owned());
                Ok(vec![pod])
            }
            Query::List {
                label_selector,
                field_selector,
            } => {
                let options = list_options(label_selector, field_selector);
                Ok(select::list_pod_metrics(metrics, namespace, &options)?
                    .into_iter()
                    .cloned()
                    .collect())
            }
        }
    }

    fn pods(&mut self, namespace: &str, query: Query<'_>) -> Result<Vec<Pod>, SourceError> {
        let metrics = self.metrics()?;
        match query {
            Query::Get(name) => Ok(vec![select::get_pod(metrics, namespace, name)?.clone()]),
            Query::List {
                label_selector,
                field_selector,
            } => {
                let options = list_options(label_selector, field_selector);
                Ok(select::list_pods(metrics, Some(namespace), &options)?
                    .into_iter()
                    .cloned()
                    .collect())
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use workingset_model::metrics::{Node, ObjectMeta, Pod};
    use workingset_sampling::inventory::PathNamesOnly;

    use super::*;

    /// A source whose sample is already taken: one node, one pod.
    fn source() -> LocalSource {
        let meta = |namespace: &str, name: &str| ObjectMeta {
            name: name.to_owned(),
            namespace: namespace.to_owned(),
            ..ObjectMeta::default()
        };
        let machine = LocalMachine {
            cgroups: workingset_cgroup::Config::default(),
            node_name: "vm".to_owned(),
            window: Duration::ZERO,
            names: Arc::new(PathNamesOnly),
        };
        let mut source = LocalSource::new(machine);
        source.metrics = Some(MachineMetrics {
            node: None,
            node_object: Node {
                metadata: meta("", "vm"),
                ..Node::default()
            },
            pods: Vec::new(),
            pod_objects: vec![Pod {
                metadata: meta("docker", "web"),
                ..Pod::default()
            }],
        });
        source
    }

    fn list<'a>(field_selector: &'a str) -> Query<'a> {
        Query::List {
            label_selector: "",
            field_selector,
        }
    }

    #[test]
    fn selection_is_the_servers() {
        let mut source = source();
        // The core node fields the server accepts, `spec.unschedulable`
        // included (the local source used to refuse it).
        let nodes = source.nodes(list("spec.unschedulable=false")).unwrap();
        assert_eq!(nodes.len(), 1);
        // The apiserver's refusal of a pod field it cannot answer.
        let error = source
            .pods("docker", list("status.phase=Running"))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "Error from server (BadRequest): field label not supported: status.phase"
        );
        // metrics-server's texts for objects its listers do not know.
        let error = source.node_metrics(Query::Get("elsewhere")).unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"Error from server (NotFound): node "elsewhere" not found"#
        );
        let error = source
            .pod_metrics(Some("docker"), Query::Get("web"))
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            r#"Error from server (NotFound): podmetrics.metrics.k8s.io "docker/web" not found"#
        );
    }
}

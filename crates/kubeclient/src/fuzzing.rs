//! Entry points for the fuzz targets (`fuzz/`, feature `fuzzing`): what
//! `top` does with bytes from outside — a Metrics API answer, JSON or
//! protobuf, and a kubeconfig file. Each must return, never panic.

use workingset_model::metrics::{Node, NodeMetrics, Pod, PodMetrics};

use crate::config::{self, Environment, KubeArgs};
use crate::decode::{FromWire, JSON, PROTOBUF, Resource, each_object};
use crate::transport::Answer;

/// Decodes `body` as every answer `top` reads: lists and single objects of
/// pod and node metrics, pods and nodes, with status `status`, as JSON and
/// as protobuf.
pub fn metrics_answer(body: &[u8], status: u16) {
    for content_type in [JSON, PROTOBUF] {
        let answer = Answer {
            status,
            content_type: Some(content_type.to_owned()),
            retry_after: None,
            body: body.to_vec(),
        };
        for list in [true, false] {
            decode::<PodMetrics>(&answer, "metrics.k8s.io", "pods", list);
            decode::<NodeMetrics>(&answer, "metrics.k8s.io", "nodes", list);
            decode::<Pod>(&answer, "", "pods", list);
            decode::<Node>(&answer, "", "nodes", list);
        }
    }
}

fn decode<T: FromWire>(answer: &Answer, group: &str, resource: &str, list: bool) {
    let resource = Resource {
        group,
        resource,
        name: (!list).then_some("name"),
    };
    let result = each_object::<T>(answer, resource, list, JSON, &mut |object| {
        std::hint::black_box(object);
    });
    // The error text is what the user reads: it must be buildable too.
    if let Err(error) = result {
        std::hint::black_box(error.to_string());
    }
}

/// Resolves `text` as the only kubeconfig file, as `top` resolves it, with
/// no flags and an empty environment. The file is written to the
/// temporary directory and removed again.
pub fn kubeconfig(text: &[u8]) {
    let path =
        std::env::temp_dir().join(format!("workingset-fuzz-kubeconfig-{}", std::process::id()));
    if std::fs::write(&path, text).is_err() {
        return;
    }
    let args = KubeArgs {
        kubeconfig: Some(path.to_string_lossy().into_owned()),
        ..KubeArgs::default()
    };
    thread_local! {
        static RUNTIME: Option<tokio::runtime::Runtime> =
            tokio::runtime::Builder::new_current_thread().build().ok();
    }
    RUNTIME.with(|runtime| {
        if let Some(runtime) = runtime {
            resolve(runtime, &args);
        }
    });
    let _ = std::fs::remove_file(&path);
}

fn resolve(runtime: &tokio::runtime::Runtime, args: &KubeArgs) {
    for for_pods in [true, false] {
        let resolved = runtime.block_on(config::resolve(
            args,
            None,
            for_pods,
            &Environment::default(),
        ));
        if let Err(error) = resolved {
            std::hint::black_box(error.to_string());
        }
    }
}

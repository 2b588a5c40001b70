//! `workingset top node|pod`: picks the source (the cluster of a
//! kubeconfig, or this machine) and runs kubectl's flow against it.

use std::io::{self, Write as _};
use std::process::ExitCode;

use workingset_kubeclient::{self as remote, Environment};
use workingset_local::LocalSource;
use workingset_top::{KubectlVersion, MetricsSource, TopError, TopNodeOptions, TopPodOptions};

use crate::cli::{TopArgs, TopResource};
use crate::exit;

/// `workingset top node|pod`: against the cluster of the kubeconfig (as
/// kubectl), or on this machine (embedded local mode).
pub fn run_top(top: TopArgs) -> ExitCode {
    let kubectl: KubectlVersion = match top.local.kubectl_version.parse() {
        Ok(version) => version,
        Err(error) => {
            eprintln!("error: {error}");
            return exit(1);
        }
    };
    let (namespace_flag, for_pods, use_protocol_buffers) = match &top.resource {
        TopResource::Node(node) => (None, false, node.use_protocol_buffers),
        TopResource::Pod(pod) => (pod.namespace.clone(), true, pod.use_protocol_buffers),
    };
    let env = Environment::current();
    let (mut source, namespace): (Box<dyn MetricsSource>, String) =
        if remote::remote_wanted(&top.kube, &env) {
            let options = remote::RemoteOptions {
                namespace: namespace_flag.as_deref(),
                for_pods,
                kubectl,
                use_protocol_buffers,
            };
            // kubectl resolves its configuration before it validates flags,
            // so these errors come first.
            match remote::RemoteSource::connect(&top.kube, &env, options) {
                Ok((source, namespace)) => (Box::new(source), namespace),
                Err(error) => {
                    eprintln!("{error}");
                    return exit(1);
                }
            }
        } else {
            if let Err(error) = top.kube.check_request_timeout() {
                eprintln!("{error}");
                return exit(1);
            }
            let namespace = namespace_flag.unwrap_or_else(|| "default".to_owned());
            (
                Box::new(LocalSource::new(top.local.local_machine())),
                namespace,
            )
        };
    let stdout = io::stdout();
    let stderr = io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let result = match top.resource {
        TopResource::Node(node) => {
            let options = TopNodeOptions {
                name: node.name,
                selector: node.selector,
                sort_by: node.sort_by,
                no_headers: node.no_headers,
                show_capacity: node.show_capacity,
                use_protocol_buffers: node.use_protocol_buffers,
                kubectl,
            };
            workingset_top::run_top_node(&options, &mut *source, &mut out, &mut err)
        }
        TopResource::Pod(pod) => {
            let options = TopPodOptions {
                namespace,
                all_namespaces: pod.all_namespaces,
                name: pod.name,
                selector: pod.selector,
                field_selector: pod.field_selector,
                containers: pod.containers,
                sort_by: pod.sort_by,
                no_headers: pod.no_headers,
                sum: pod.sum,
                use_protocol_buffers: pod.use_protocol_buffers,
                kubectl,
                now: None,
            };
            workingset_top::run_top_pod(&options, &mut *source, &mut out, &mut err)
        }
    };
    let flushed = out.flush();
    match result.and(flushed.map_err(TopError::Output)) {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`workingset top pod -A | head`) is not an error worth a message.
        Err(TopError::Output(error)) if error.kind() == io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(error) => {
            let _ = writeln!(err, "{error}");
            exit(error.exit_code())
        }
    }
}

//! `workingset explain node|pod`: where every figure of one workload comes
//! from. This module owns the flags and the IO at both ends — reading this
//! machine ([`local`]) or fetching a node's endpoints ([`remote`]), then
//! printing — while `workingset-explain` derives and renders.

mod local;
mod remote;

use std::io::{self, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand, ValueEnum};
use workingset_explain::lookup::LookupError;
use workingset_explain::{Explanation, explain_node, explain_pod};
use workingset_model::duration::GoDuration;

use crate::cli::SourceArgs;

/// `workingset explain`.
#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// What to explain.
    #[command(subcommand)]
    pub target: ExplainTarget,
    /// This machine's files (the default source).
    #[command(flatten)]
    pub source: SourceArgs,
    /// Time between the two local samples that give CPU rates (Go duration).
    #[arg(long, global = true, default_value = "1s", value_name = "DURATION")]
    pub window: GoDuration,
    /// Output format: `text` for people, `json` for machines (see docs/explain.md).
    #[arg(short = 'o', long, global = true, value_enum, default_value = "text")]
    pub output: OutputFormat,
    /// Read the figures from this node agent or kubelet instead of this
    /// machine: its base URL (`https://node:10250`, `http://127.0.0.1:10250`).
    #[arg(long, global = true, value_name = "URL")]
    pub agent: Option<String>,
    /// File holding the bearer token sent to --agent.
    #[arg(long, global = true, value_name = "FILE", requires = "agent")]
    pub token_file: Option<PathBuf>,
    /// Which cluster to go through, as for `top` (kubeconfig, context, …;
    /// `--certificate-authority` and `--insecure-skip-tls-verify` also apply
    /// to --agent); `--local` reads this machine even when a kubeconfig exists.
    #[command(flatten)]
    pub kube: crate::remote::KubeArgs,
}

/// `-o`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Sentences and tables.
    Text,
    /// One JSON object (docs/explain.schema.json).
    Json,
}

/// `explain node` / `explain pod`.
#[derive(Debug, Subcommand)]
pub enum ExplainTarget {
    /// Explain a node's figures: why it is not the sum of its pods.
    #[command(visible_aliases = ["nodes", "no"])]
    Node(ExplainNodeArgs),
    /// Explain a pod's figures: its containers, the pause container, pod
    /// overhead, docker stats and the OOM headroom.
    #[command(visible_aliases = ["pods", "po"])]
    Pod(ExplainPodArgs),
}

/// `explain node [NAME]`.
#[derive(Debug, Args)]
pub struct ExplainNodeArgs {
    /// The node (default: the one the source is).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
}

/// `explain pod NAME`.
#[derive(Debug, Args)]
pub struct ExplainPodArgs {
    /// The pod (or workload) name, as `workingset top pod` lists it.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// Its namespace (default: whichever namespace has a pod of that name).
    #[arg(short = 'n', long = "namespace", value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// Explain only this container of the pod.
    #[arg(short = 'c', long = "container", value_name = "CONTAINER")]
    pub container: Option<String>,
}

/// Why explaining failed.
#[derive(Debug, thiserror::Error)]
enum ExplainError {
    /// The workload is not there: a message with close matches.
    #[error(transparent)]
    NotFound(#[from] LookupError),
    /// Anything else.
    #[error("{0:#}")]
    Other(#[from] anyhow::Error),
}

/// Runs `workingset explain`; exit 0 on success, 1 with a message otherwise.
pub fn run(args: ExplainArgs) -> ExitCode {
    let result = explain(&args).and_then(|explanation| {
        let text = match args.output {
            OutputFormat::Text => workingset_explain::text::render(&explanation),
            OutputFormat::Json => {
                let mut json = serde_json::to_string_pretty(&explanation)
                    .map_err(|e| ExplainError::Other(e.into()))?;
                json.push('\n');
                json
            }
        };
        Ok(text)
    });
    match result {
        Ok(text) => {
            let mut out = io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) if error.kind() == io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("error: cannot write the explanation: {error}");
                    ExitCode::from(1)
                }
            }
        }
        Err(ExplainError::NotFound(error)) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
        Err(ExplainError::Other(error)) => {
            eprintln!("error: {error:#}");
            ExitCode::from(1)
        }
    }
}

fn explain(args: &ExplainArgs) -> Result<Explanation, ExplainError> {
    let via_api = crate::remote::remote_wanted(&args.kube, &crate::remote::Environment::current());
    match (&args.target, &args.agent, via_api) {
        (ExplainTarget::Node(node), Some(url), _) => {
            let inputs = remote::agent_node(args, url, node.name.as_deref())?;
            Ok(explain_node(&inputs))
        }
        (ExplainTarget::Pod(pod), Some(url), _) => {
            let inputs = remote::agent_pod(args, url, &query(pod))?;
            Ok(explain_pod(&inputs))
        }
        (ExplainTarget::Node(node), None, true) => {
            let inputs = remote::api_node(args, node.name.as_deref())?;
            Ok(explain_node(&inputs))
        }
        (ExplainTarget::Pod(pod), None, true) => {
            let inputs = remote::api_pod(args, &query(pod))?;
            Ok(explain_pod(&inputs))
        }
        (ExplainTarget::Node(node), None, false) => {
            let inputs = local::node(args, node.name.as_deref())?;
            Ok(explain_node(&inputs))
        }
        (ExplainTarget::Pod(pod), None, false) => {
            let inputs = local::pod(args, &query(pod))?;
            Ok(explain_pod(&inputs))
        }
    }
}

fn query(pod: &ExplainPodArgs) -> workingset_explain::kubelet::PodQuery {
    workingset_explain::kubelet::PodQuery {
        name: pod.name.clone(),
        namespace: pod.namespace.clone(),
        container: pod.container.clone(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command, usage_error};

    fn fail(line: &str) -> String {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let error = Cli::try_parse_from(&args).expect_err("should not parse");
        let usage = usage_error(&error, &args);
        assert_eq!(usage.code, 1);
        usage.message
    }

    #[test]
    fn flags_parse_in_any_position() {
        let cli = Cli::try_parse_from(
            "workingset explain -o json pod web -n docker -c web --window 250ms --local".split(' '),
        )
        .unwrap();
        let Command::Explain(args) = cli.command else {
            panic!("not explain")
        };
        assert_eq!(args.output, OutputFormat::Json);
        assert_eq!(args.window.to_string(), "250ms");
        assert!(args.kube.local);
        let ExplainTarget::Pod(pod) = args.target else {
            panic!("not pod")
        };
        assert_eq!(
            (
                pod.name.as_str(),
                pod.namespace.as_deref(),
                pod.container.as_deref()
            ),
            ("web", Some("docker"), Some("web"))
        );
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert_eq!(
            fail("workingset explain pod"),
            "error: NAME is missing\nSee 'workingset explain pod --help' for usage."
        );
        assert_eq!(
            fail("workingset explain node -o yaml"),
            "error: invalid argument \"yaml\" for \"--output\" flag: must be one of: text, json\nSee 'workingset explain node --help' for usage."
        );
        assert_eq!(
            fail("workingset explain pod x --token-file t"),
            "error: required flag(s) \"agent\" not set\nSee 'workingset explain pod --help' for usage."
        );
    }
}

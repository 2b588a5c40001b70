//! `workingset explain node|pod`: picks where the figures are read
//! (this machine: `workingset-local`; an agent or the API server's node
//! proxy: `workingset-kubeclient`), then prints what `workingset-explain`
//! derives and renders.

use std::io::{self, Write as _};
use std::process::ExitCode;

use workingset_explain::{ExplainError, Explanation, explain_node, explain_pod};
use workingset_kubeclient::explain::{self as remote, ExplainSource};
use workingset_kubeclient::{Environment, remote_wanted};

use crate::cli::{ExplainArgs, ExplainPodArgs, ExplainTarget, OutputFormat};

/// Runs `workingset explain`; exit 0 on success, 1 with a message otherwise.
pub fn run(args: ExplainArgs) -> ExitCode {
    let result = explain(&args).and_then(|explanation| {
        let text = match args.output {
            OutputFormat::Text => workingset_explain::text::render(&explanation),
            OutputFormat::Json => {
                let mut json = serde_json::to_string_pretty(&explanation)
                    .map_err(|e| ExplainError::failed(e.to_string()))?;
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
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

fn explain(args: &ExplainArgs) -> Result<Explanation, ExplainError> {
    let via_api = remote_wanted(&args.kube, &Environment::current());
    let source = ExplainSource {
        kube: &args.kube,
        token_file: args.token_file.as_deref(),
    };
    match (&args.target, &args.agent, via_api) {
        (ExplainTarget::Node(node), Some(url), _) => {
            let inputs = remote::agent_node(source, url, node.name.as_deref())?;
            Ok(explain_node(&inputs))
        }
        (ExplainTarget::Pod(pod), Some(url), _) => {
            let inputs = remote::agent_pod(source, url, &query(pod))?;
            Ok(explain_pod(&inputs))
        }
        (ExplainTarget::Node(node), None, true) => {
            let inputs = remote::api_node(source, node.name.as_deref())?;
            Ok(explain_node(&inputs))
        }
        (ExplainTarget::Pod(pod), None, true) => {
            let inputs = remote::api_pod(source, &query(pod))?;
            Ok(explain_pod(&inputs))
        }
        (ExplainTarget::Node(node), None, false) => {
            let inputs =
                workingset_local::explain::node(&args.local_machine(), node.name.as_deref())?;
            Ok(explain_node(&inputs))
        }
        (ExplainTarget::Pod(pod), None, false) => {
            let inputs = workingset_local::explain::pod(&args.local_machine(), &query(pod))?;
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

    use crate::cli::{Cli, Command, ExplainTarget, OutputFormat, usage_error};

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

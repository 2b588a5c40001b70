//! The `workingset` binary: parses the command line, sets up logging and
//! hands over to the library crates. It owns exit codes and nothing else.

mod cli;
mod local;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use workingset_top::{KubectlVersion, TopError, TopNodeOptions, TopPodOptions};

use crate::cli::{Cli, Command, TopArgs, TopResource};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(error) => {
            let usage = cli::usage_error(&error, &args);
            if usage.code == 0 {
                print!("{}", usage.message);
            } else {
                eprintln!("{}", usage.message.trim_end());
            }
            return exit(usage.code);
        }
    };
    init_logging(&cli.log);
    match cli.command {
        Command::Top(top) => run_top(top),
    }
}

fn init_logging(filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|error| {
        eprintln!("warning: ignoring --log {filter:?}: {error}");
        EnvFilter::new("warn")
    });
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(io::stderr)
        .with_ansi(io::stderr().is_terminal())
        .init();
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// `workingset top node|pod` on this machine.
fn run_top(top: TopArgs) -> ExitCode {
    let kubectl: KubectlVersion = match top.local.kubectl_version.parse() {
        Ok(version) => version,
        Err(error) => {
            eprintln!("error: {error}");
            return exit(1);
        }
    };
    let mut source = local::LocalSource::new(top.local);
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
            workingset_top::run_top_node(&options, &mut source, &mut out, &mut err)
        }
        TopResource::Pod(pod) => {
            let options = TopPodOptions {
                namespace: pod.namespace.unwrap_or_else(|| "default".to_owned()),
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
            workingset_top::run_top_pod(&options, &mut source, &mut out, &mut err)
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

//! The `workingset` binary: parses the command line, sets up logging and
//! hands over to the library crates. It owns exit codes, signals and the
//! tokio runtime of `agent`, and nothing else.

mod cli;
mod local;

use std::io::{self, IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;
use tokio::signal::unix::{SignalKind, signal};
use tracing_subscriber::EnvFilter;
use workingset_agent::http::{AgentConfig, DEFAULT_SHUTDOWN_GRACE, MachineFacts, TlsFiles};
use workingset_agent::sampler::Sampler;
use workingset_cgroup::Cgroups;
use workingset_top::{KubectlVersion, TopError, TopNodeOptions, TopPodOptions};

use crate::cli::{AgentArgs, Cli, Command, TopArgs, TopResource};

/// Worker threads of the agent's runtime: requests are cheap renders of
/// ready data and sampling runs on the blocking pool, so two are plenty and
/// keep the agent's footprint small on the nodes it measures.
const AGENT_WORKERS: usize = 2;
/// How long the runtime waits for blocking work (a sampling pass still
/// running) after the agent stopped, before the process exits anyway.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(2);

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
    let default_log = match cli.command {
        Command::Top(_) => "warn",
        Command::Agent(_) => "info",
    };
    init_logging(cli.log.as_deref().unwrap_or(default_log));
    match cli.command {
        Command::Top(top) => run_top(top),
        Command::Agent(agent) => run_agent(agent),
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

/// `workingset agent`: serves until SIGTERM or SIGINT, then exits 0.
fn run_agent(args: AgentArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(AGENT_WORKERS)
        .thread_name("workingset-agent")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return exit(1);
        }
    };
    let result = runtime.block_on(agent(args));
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit(1)
        }
    }
}

async fn agent(args: AgentArgs) -> anyhow::Result<()> {
    // Whatever else in the process uses rustls gets ring too (the agent's
    // own TLS config names ring explicitly). Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Handlers first: a SIGTERM that arrives right after "Listening" must
    // mean a clean stop, not the default action (death by signal).
    let mut terminate = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut interrupt = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;

    let cgroups = Cgroups::open(args.source.cgroup_config()).context(
        "cannot find the cgroup filesystem; check --cgroupfs and --proc (run on Linux with /sys/fs/cgroup mounted)",
    )?;
    tracing::debug!(hierarchy = ?cgroups.hierarchy(), "Detected cgroups");
    let tls = match (args.tls_cert_file, args.tls_private_key_file) {
        (Some(cert_file), Some(key_file)) => Some(TlsFiles {
            cert_file,
            key_file,
        }),
        // clap requires both or neither.
        _ => None,
    };
    let config = AgentConfig {
        listen: args.listen,
        housekeeping_interval: args.housekeeping_interval.0,
        node_name: args.source.node_name(),
        tls,
        token_file: args.token_file,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        machine: MachineFacts::read(&args.source.proc, &args.source.sys),
        runtime: args.source.runtime_config(),
    };
    let agent = workingset_agent::http::start(config, Sampler::new(&cgroups))
        .await
        // The message already carries its cause (and names the file); as a
        // chain it would print the cause twice.
        .map_err(|error| anyhow::anyhow!("{error}"))?;

    let signal = tokio::select! {
        _ = terminate.recv() => "SIGTERM",
        _ = interrupt.recv() => "SIGINT",
    };
    tracing::info!(signal, "Shutting down");
    agent.shutdown().await;
    tracing::info!("Stopped");
    Ok(())
}

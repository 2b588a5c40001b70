//! The `workingset` binary: parses the command line, sets up logging and
//! hands over to the library crates. It owns exit codes, signals and the
//! tokio runtime of the daemons (`agent`, `server`, `serve`), and nothing
//! else.

mod cli;
mod completion;
mod explain;
mod local;
mod remote;
mod server;

use std::future::Future;
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
use workingset_top::{KubectlVersion, MetricsSource, TopError, TopNodeOptions, TopPodOptions};

use crate::cli::{AgentArgs, Cli, Command, TopArgs, TopResource};

/// Worker threads of a daemon's runtime: requests are cheap renders of
/// ready data, sampling runs on the blocking pool and scraping is IO-bound,
/// so two are plenty and keep the footprint small on the nodes measured.
const DAEMON_WORKERS: usize = 2;
/// How long the runtime waits for blocking work (a sampling pass still
/// running) after the daemon stopped, before the process exits anyway.
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
        // kubectl prints nothing but its table and its error: the warnings
        // of the libraries under remote `top` (kube on an insecure server,
        // the platform certificate verifier on a failure it reports itself)
        // would be extra lines.
        Command::Top(_) => remote::DEFAULT_LOG,
        Command::Explain(_) | Command::Completion(_) => remote::DEFAULT_LOG,
        Command::Agent(_) | Command::Server(_) => "info",
        Command::Serve(_) => server::SERVE_DEFAULT_LOG,
    };
    init_logging(cli.log.as_deref().unwrap_or(default_log));
    match cli.command {
        Command::Top(top) => run_top(top),
        Command::Explain(args) => explain::run(args),
        Command::Completion(args) => completion::run(&args),
        Command::Agent(agent) => run_daemon("workingset-agent", agent_main(agent)),
        Command::Server(args) => run_daemon("workingset-server", server::server(args)),
        Command::Serve(args) => run_daemon("workingset-serve", server::serve(args)),
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

/// `workingset top node|pod`: against the cluster of the kubeconfig (as
/// kubectl), or on this machine (embedded local mode).
fn run_top(top: TopArgs) -> ExitCode {
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
    let env = remote::Environment::current();
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
            let namespace = namespace_flag.unwrap_or_else(|| "default".to_owned());
            (Box::new(local::LocalSource::new(top.local)), namespace)
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

/// Runs a daemon's main future on its own runtime: exits 0 when it returns
/// `Ok` (after SIGTERM or SIGINT and a clean shutdown), else prints the
/// error and exits 1.
fn run_daemon(thread_name: &str, daemon: impl Future<Output = anyhow::Result<()>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(DAEMON_WORKERS)
        .thread_name(thread_name)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return exit(1);
        }
    };
    let result = runtime.block_on(daemon);
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            exit(1)
        }
    }
}

/// `workingset agent`: serves until SIGTERM or SIGINT.
async fn agent_main(args: AgentArgs) -> anyhow::Result<()> {
    // Whatever else in the process uses rustls gets ring too (the agent's
    // own TLS config names ring explicitly). Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Handlers first: a SIGTERM that arrives right after "Listening" must
    // mean a clean stop, not the default action (death by signal).
    let mut signals = Signals::install()?;

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

    let signal = signals.recv().await;
    tracing::info!(signal, "Shutting down");
    agent.shutdown().await;
    tracing::info!("Stopped");
    Ok(())
}

/// The signals that stop a daemon cleanly.
struct Signals {
    terminate: tokio::signal::unix::Signal,
    interrupt: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; from then on SIGTERM and SIGINT are queued
    /// for [`Signals::recv`] instead of killing the process.
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            interrupt: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    /// Waits for the next one and names it.
    async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.terminate.recv() => "SIGTERM",
            _ = self.interrupt.recv() => "SIGINT",
        }
    }
}

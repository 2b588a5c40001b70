//! The `workingset` binary: parses the command line, sets up logging and
//! hands over to the library crates. It owns exit codes, signals and the
//! tokio runtime of the daemons (`agent`, `server`, `serve`), and nothing
//! else.

mod agent;
mod cli;
mod completion;
mod explain;
mod server;
mod signals;
mod top;

use std::future::Future;
use std::io::{self, IsTerminal};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, Command};

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
        Command::Top(_) => workingset_kubeclient::DEFAULT_LOG,
        Command::Explain(_) | Command::Completion(_) | Command::Doctor(_) => {
            workingset_kubeclient::DEFAULT_LOG
        }
        Command::Agent(_) | Command::Server(_) => "info",
        Command::Serve(_) => server::SERVE_DEFAULT_LOG,
    };
    init_logging(cli.log.as_deref().unwrap_or(default_log));
    match cli.command {
        Command::Top(top) => top::run_top(top),
        Command::Explain(args) => explain::run(args),
        Command::Doctor(args) => doctor(&args),
        Command::Completion(args) => completion::run(&args),
        Command::Agent(agent) => run_daemon("workingset-agent", agent::agent_main(agent)),
        Command::Server(args) => run_daemon("workingset-server", server::server(args)),
        Command::Serve(args) => run_daemon("workingset-serve", server::serve(args)),
    }
}

/// `workingset doctor`: the report on stdout; exit 0 when all is well, 1
/// with findings or when the cluster cannot be asked.
fn doctor(args: &cli::DoctorArgs) -> ExitCode {
    let env = workingset_kubeclient::Environment::current();
    match workingset_kubeclient::doctor::run(&args.kube, &env) {
        Ok(report) => {
            print!("{}", report.render());
            if report.findings().next().is_none() {
                ExitCode::SUCCESS
            } else {
                exit(1)
            }
        }
        Err(error) => {
            eprintln!("error: {error}");
            exit(1)
        }
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

pub(crate) fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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

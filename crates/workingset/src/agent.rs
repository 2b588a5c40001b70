//! `workingset agent`: wires the flags to the agent daemon.

use workingset_agent::http::{AgentConfig, DEFAULT_SHUTDOWN_GRACE, MachineFacts, TlsFiles};
use workingset_sampling::sampler::Sampler;

use crate::cli::AgentArgs;
use crate::signals::Signals;

/// `workingset agent`: serves until SIGTERM or SIGINT.
pub async fn agent_main(args: AgentArgs) -> anyhow::Result<()> {
    // Whatever else in the process uses rustls gets ring too (the agent's
    // own TLS config names ring explicitly). Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Handlers first: a SIGTERM that arrives right after "Listening" must
    // mean a clean stop, not the default action (death by signal).
    let mut signals = Signals::install()?;
    // Refused before anything is made (a self-signed certificate in
    // --cert-dir, say); the agent library warns when the flag allows it.
    if !args.listen.ip().is_loopback()
        && args.token_file.is_none()
        && !args.insecure_unauthenticated_listen
    {
        anyhow::bail!(
            "refusing to serve the node's workloads on {} without --token-file: anyone who can reach it could read them; give --token-file (and TLS), listen on loopback, or pass --insecure-unauthenticated-listen",
            args.listen
        );
    }

    let cgroups = workingset_local::open_cgroups(&args.source.cgroup_config())?;
    tracing::debug!(hierarchy = ?cgroups.hierarchy(), "Detected cgroups");
    let tls = match (args.tls_cert_file, args.tls_private_key_file) {
        (Some(cert_file), Some(key_file)) => Some(TlsFiles {
            cert_file,
            key_file,
        }),
        // clap requires both or neither.
        _ => match &args.cert_dir {
            Some(dir) => {
                let (files, generated) = workingset_httpd::secure::serving_files(None, dir)
                    .map_err(|error| anyhow::anyhow!("{error}"))?;
                if generated {
                    tracing::info!(dir = %dir.display(), "Generated a self-signed serving certificate");
                }
                Some(TlsFiles {
                    cert_file: files.cert_file,
                    key_file: files.key_file,
                })
            }
            None => None,
        },
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

//! `workingset server` and `workingset serve`: flags and files → a
//! [`ServerConfig`], then serve until SIGTERM or SIGINT.
//!
//! `serve` is the one-command way to a Metrics API on any machine: it
//! starts the agent for this machine on a free loopback port, waits for its
//! first sample, and registers it as a node of the server (before any
//! `--node` given too). Its default log filter keeps the embedded agent's
//! own `Listening` line out, so the only one is the server's, the address
//! users and scripts want.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::anyhow;
use tokio::time::Instant;
use workingset_agent::http::{AgentConfig, DEFAULT_SHUTDOWN_GRACE, MachineFacts};
use workingset_httpd::secure::SecureTls;
use workingset_kubeclient::kubelet::{ClientIdentity, ClientOptions, ScrapeClient};
use workingset_sampling::sampler::Sampler;
use workingset_server::cluster::{Fleet, KubeletAddressing};
use workingset_server::run::SecurePort;
use workingset_server::run::{ServerConfig, StartError, TlsFiles};
use workingset_server::secure::authz::AuthorizerConfig;
use workingset_server::secure::{Guard, RequestHeaderOptions, SecureOptions};
use workingset_server::target::{self, NodeSpec, TargetError};

use crate::cli::{ScrapeArgs, ServeArgs, ServerArgs};
use crate::signals::Signals;

/// `serve`'s default log filter: `info`, but the embedded agent's HTTP
/// module only from `warn`, so its `Listening` line (an internal port) does
/// not precede the server's.
pub const SERVE_DEFAULT_LOG: &str = "info,workingset_agent::http=warn";

/// `--listen`'s default: standalone mode serves loopback only.
pub const STANDALONE_LISTEN: std::net::SocketAddr =
    std::net::SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8001);

/// How long `serve` waits for the embedded agent's first sample before
/// starting the server anyway (the first tick then fails and the next one
/// picks the node up).
const FIRST_SAMPLE_WAIT: Duration = Duration::from_secs(10);

/// `workingset server`: the metrics server for the nodes on the command line.
pub async fn server(args: ServerArgs) -> anyhow::Result<()> {
    // The scrape client and TLS name ring explicitly; anything else in the
    // process that uses rustls gets it too. Already installed is fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Handlers first: a SIGTERM right after "Listening" means a clean stop.
    let mut signals = Signals::install()?;
    let nodes = configured_nodes(&args.scrape)?;
    let mut config = server_config(&args.scrape, args.metric_resolution.0, nodes);
    if let Some(kube_config) = kubernetes_mode(&args).await? {
        secure_config(&args, &kube_config, &mut config).await?;
        cluster_config(&args, kube_config, &mut config)?;
    } else {
        check_standalone_listen(&args.scrape)?;
    }
    let server = workingset_server::run::start(config)
        .await
        .map_err(|error| start_error(error, None))?;

    let signal = signals.recv().await;
    tracing::info!(signal, "Shutting down");
    server.shutdown().await;
    tracing::info!("Stopped");
    Ok(())
}

/// `workingset serve`: this machine's agent and the metrics server.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut signals = Signals::install()?;
    // Every flag and file is checked before anything starts.
    check_standalone_listen(&args.scrape)?;
    let extra_nodes = configured_nodes(&args.scrape)?;
    let cgroups = workingset_local::open_cgroups(&args.source.cgroup_config())?;
    let node_name = args.source.node_name();
    // The name is checked before the agent starts (its URL is not known yet).
    local_node(&node_name, "http://127.0.0.1")?;
    if let Some(clash) = extra_nodes.iter().find(|node| node.name == node_name) {
        return Err(start_error(
            StartError::DuplicateNode {
                name: node_name.clone(),
                first: "this machine".to_owned(),
                second: clash.url.clone(),
            },
            Some(&node_name),
        ));
    }

    let agent_config = AgentConfig {
        // Loopback, any free port: only the server in this process needs it.
        listen: ([127, 0, 0, 1], 0).into(),
        housekeeping_interval: args.housekeeping_interval.0,
        node_name: node_name.clone(),
        tls: None,
        token_file: None,
        shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        machine: MachineFacts::read(&args.source.proc, &args.source.sys),
        runtime: args.source.runtime_config(),
    };
    let agent = workingset_agent::http::start(agent_config, Sampler::new(&cgroups))
        .await
        // The message already names its cause and file.
        .map_err(|error| anyhow!("{error}"))?;
    let url = format!("http://{}", agent.local_addr());
    let local = local_node(&node_name, &url)?;
    tracing::info!(node = %node_name, %url, "Embedded agent started");

    tokio::select! {
        () = wait_for_first_sample(&url) => {}
        signal = signals.recv() => {
            tracing::info!(signal, "Shutting down");
            agent.shutdown().await;
            tracing::info!("Stopped");
            return Ok(());
        }
    }

    let mut nodes = Vec::with_capacity(extra_nodes.len() + 1);
    nodes.push(local);
    nodes.extend(extra_nodes);
    let config = server_config(&args.scrape, args.metric_resolution.0, nodes);
    let server = workingset_server::run::start(config)
        .await
        .map_err(|error| start_error(error, Some(&node_name)))?;

    let signal = signals.recv().await;
    tracing::info!(signal, "Shutting down");
    tokio::join!(server.shutdown(), agent.shutdown());
    tracing::info!("Stopped");
    Ok(())
}

/// The API server's client configuration when the server runs in
/// Kubernetes mode: with `--kubeconfig`, or in a pod when no node is given
/// on the command line. `None` is standalone mode.
async fn kubernetes_mode(args: &ServerArgs) -> anyhow::Result<Option<kube::Config>> {
    let standalone_nodes = !args.scrape.nodes.is_empty() || args.scrape.nodes_file.is_some();
    match &args.cluster.kubeconfig {
        Some(path) => {
            if standalone_nodes {
                return Err(anyhow!(
                    "--kubeconfig discovers the nodes from the API server; drop --node and --nodes-file, or drop --kubeconfig to scrape only the nodes given"
                ));
            }
            Ok(Some(load_kubeconfig(path).await?))
        }
        None if !standalone_nodes && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
            let config = kube::Config::incluster().map_err(|error| {
                anyhow!("running in a pod, but its service account cannot be used: {error}; give --kubeconfig, or --node/--nodes-file for standalone mode")
            })?;
            Ok(Some(config))
        }
        None => Ok(None),
    }
}

/// Kubernetes mode serves HTTPS only, on `--bind-address:--secure-port`,
/// every request authenticated and authorized through the API server.
async fn secure_config(
    args: &ServerArgs,
    kube_config: &kube::Config,
    config: &mut ServerConfig,
) -> anyhow::Result<()> {
    let secure = &args.secure;
    if args.scrape.listen != STANDALONE_LISTEN {
        return Err(anyhow!(
            "--listen is standalone mode's address; in Kubernetes mode the server listens on --bind-address and --secure-port (HTTPS)"
        ));
    }
    let given = config.tls.take();
    let (files, generated) = workingset_httpd::secure::serving_files(given, &secure.cert_dir)
        .map_err(|error| anyhow!("{error}"))?;
    if generated {
        tracing::info!(dir = %secure.cert_dir.display(), "Generated a self-signed serving certificate");
    }
    let client_for = |path: &Option<PathBuf>| {
        let path = path.clone();
        async move {
            let config = match path {
                Some(path) => load_kubeconfig(&path).await?,
                None => kube_config.clone(),
            };
            kube::Client::try_from(config)
                .map_err(|error| anyhow!("cannot build the API server client: {error}"))
        }
    };
    let authentication_client = client_for(&secure.authentication_kubeconfig).await?;
    let authorization_client = client_for(&secure.authorization_kubeconfig).await?;
    let guard = Guard::start(SecureOptions {
        authentication_client: Some(authentication_client),
        client_ca_file: secure.client_ca_file.clone(),
        request_header: RequestHeaderOptions {
            client_ca_file: secure.requestheader_client_ca_file.clone(),
            allowed_names: secure.requestheader_allowed_names.clone(),
            username_headers: secure.requestheader_username_headers.clone(),
            group_headers: secure.requestheader_group_headers.clone(),
            extra_prefixes: secure.requestheader_extra_headers_prefix.clone(),
        },
        token_cache_ttl: secure.authentication_token_webhook_cache_ttl.0,
        anonymous: true,
        authorization: AuthorizerConfig {
            client: Some(authorization_client),
            always_allow_paths: secure.authorization_always_allow_paths.clone(),
            allowed_ttl: secure.authorization_webhook_cache_authorized_ttl.0,
            denied_ttl: secure.authorization_webhook_cache_unauthorized_ttl.0,
        },
    })
    .map_err(|error| anyhow!("{error}"))?;
    config.listen = std::net::SocketAddr::new(secure.bind_address, secure.secure_port);
    config.secure = Some(SecurePort {
        tls: SecureTls {
            files,
            min_version: secure.tls_min_version,
            cipher_suites: secure.tls_cipher_suites.clone(),
        },
        guard,
    });
    Ok(())
}

async fn load_kubeconfig(path: &Path) -> anyhow::Result<kube::Config> {
    let kubeconfig = kube::config::Kubeconfig::read_from(path)
        .map_err(|error| anyhow!("cannot read the kubeconfig {}: {error}", path.display()))?;
    kube::Config::from_custom_kubeconfig(kubeconfig, &kube::config::KubeConfigOptions::default())
        .await
        .map_err(|error| anyhow!("cannot use the kubeconfig {}: {error}", path.display()))
}

/// Turns `config` into Kubernetes mode: nodes and pods watched through
/// `kube_config`, kubelets reached as metrics-server reaches them (the
/// cluster CA and the service account's token unless flags say otherwise),
/// and no core API of our own (the API server serves it).
fn cluster_config(
    args: &ServerArgs,
    kube_config: kube::Config,
    config: &mut ServerConfig,
) -> anyhow::Result<()> {
    let cluster = &args.cluster;
    let node_selector = match cluster.node_selector.trim() {
        "" => None,
        text => Some(
            workingset_model::selector::LabelSelector::parse(text)
                .map_err(|error| anyhow!("invalid --node-selector: {error}"))?,
        ),
    };
    let insecure = cluster.deprecated_kubelet_completely_insecure;
    if insecure
        && (args.scrape.kubelet_insecure_tls
            || args.scrape.kubelet_certificate_authority.is_some()
            || cluster.kubelet_client_certificate.is_some())
    {
        return Err(anyhow!(
            "--deprecated-kubelet-completely-insecure cannot be used with --kubelet-insecure-tls, --kubelet-certificate-authority or --kubelet-client-certificate: it scrapes over plain HTTP"
        ));
    }
    let addressing = KubeletAddressing {
        address_types: cluster.kubelet_preferred_address_types.clone(),
        port: cluster.kubelet_port,
        use_node_status_port: cluster.kubelet_use_node_status_port,
        scheme: if insecure { "http" } else { "https" },
    };

    let mut client = args.scrape.client_options();
    if !insecure {
        if client.ca_file.is_none() && !client.insecure_tls {
            client.cluster_ca_der = kube_config.root_cert.clone().unwrap_or_default();
        }
        if client.token_file.is_none() {
            client.token_file = kube_config.auth_info.token_file.as_ref().map(PathBuf::from);
        }
        if let (Some(cert), Some(key)) = (
            &cluster.kubelet_client_certificate,
            &cluster.kubelet_client_key,
        ) {
            let read = |path: &Path| {
                std::fs::read(path)
                    .map_err(|error| anyhow!("cannot read {}: {error}", path.display()))
            };
            client.client_identity = Some(ClientIdentity {
                source: cert.display().to_string(),
                cert_pem: read(cert)?,
                key_pem: read(key)?,
            });
        }
    }

    let api = workingset_server::cluster::fleet_client(kube_config)
        .map_err(|error| anyhow!("cannot build the API server client: {error}"))?;
    config.fleet = Some(Arc::new(Fleet::watch(api, addressing, node_selector)));
    config.client = client;
    // Behind the aggregator the API server answers the core requests.
    config.core_api = false;
    Ok(())
}

/// This machine as a node of the server.
fn local_node(name: &str, url: &str) -> anyhow::Result<NodeSpec> {
    NodeSpec::parse_flag(&format!("{name}={url}")).map_err(|error| match error {
        TargetError::Flag { problem } => anyhow!(
            "this machine cannot be served as a node: {problem}; choose a name with --node-name"
        ),
        other => other.into(),
    })
}

/// The `--node` flags, then the nodes of `--nodes-file`. Duplicates across
/// the two are reported by the server's own check.
fn configured_nodes(args: &ScrapeArgs) -> anyhow::Result<Vec<NodeSpec>> {
    let mut nodes = args.nodes.clone();
    if let Some(path) = &args.nodes_file {
        nodes.extend(read_nodes_file(path)?);
    }
    Ok(nodes)
}

fn read_nodes_file(path: &Path) -> anyhow::Result<Vec<NodeSpec>> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| anyhow!("cannot read the nodes file {}: {error}", path.display()))?;
    target::parse_nodes_file(&text).map_err(|error| anyhow!("{}: {error}", path.display()))
}

/// Standalone mode has no authentication: a non-loopback address is served
/// only when the operator says so by name, and then with a warning.
fn check_standalone_listen(args: &ScrapeArgs) -> anyhow::Result<()> {
    if args.listen.ip().is_loopback() {
        return Ok(());
    }
    if !args.insecure_unauthenticated_listen {
        return Err(anyhow!(
            "refusing to serve every node's workloads on {} without authentication (standalone mode has none): listen on loopback, run in Kubernetes mode (--kubeconfig) behind the API server, or pass --insecure-unauthenticated-listen",
            args.listen
        ));
    }
    tracing::warn!(
        addr = %args.listen,
        "Serving without authentication on a non-loopback address: anyone who can reach it can read every node's workloads"
    );
    Ok(())
}

fn server_config(args: &ScrapeArgs, resolution: Duration, nodes: Vec<NodeSpec>) -> ServerConfig {
    let tls = match (&args.tls_cert_file, &args.tls_private_key_file) {
        (Some(cert_file), Some(key_file)) => Some(TlsFiles {
            cert_file: cert_file.clone(),
            key_file: key_file.clone(),
        }),
        // clap requires both or neither.
        _ => None,
    };
    ServerConfig {
        listen: args.listen,
        tls,
        secure: None,
        resolution,
        scrape_timeout: args.kubelet_request_timeout.0,
        nodes,
        fleet: None,
        client: args.client_options(),
        // Standalone: no API server in front, so kubectl's core requests
        // (nodes, pods) are answered here too.
        core_api: true,
        shutdown_grace: workingset_server::run::DEFAULT_SHUTDOWN_GRACE,
    }
}

/// A start error in the words of the flags that cause it. `local` is the
/// embedded agent's node name under `serve`.
fn start_error(error: StartError, local: Option<&str>) -> anyhow::Error {
    match error {
        StartError::NoNodes => {
            anyhow!(
                "no nodes to scrape: give --node NAME=URL (repeatable) or --nodes-file FILE, or --kubeconfig FILE to scrape a cluster's nodes"
            )
        }
        StartError::DuplicateNode { name, second, .. } if Some(name.as_str()) == local => anyhow!(
            "the node {name:?} is configured twice: it is this machine's name and also given for {second}; rename the --node or choose this machine's name with --node-name"
        ),
        // The message already names its cause and file; as a chain it
        // would print the cause twice.
        other => anyhow!("{other}"),
    }
}

/// Waits (at most [`FIRST_SAMPLE_WAIT`]) until the agent at `url` serves
/// `/metrics/resource`, which it does after its first sampling pass, so the
/// server's first tick already gets a point and the first rates come one
/// resolution later.
async fn wait_for_first_sample(url: &str) {
    let client = match ScrapeClient::new(&ClientOptions::default()) {
        Ok(client) => client,
        Err(error) => {
            tracing::debug!(%error, "Not waiting for the embedded agent");
            return;
        }
    };
    let resource = format!("{url}/metrics/resource");
    let deadline = Instant::now() + FIRST_SAMPLE_WAIT;
    loop {
        match client.get(&resource, Duration::from_secs(1)).await {
            Ok(_) => return,
            Err(error) if Instant::now() >= deadline => {
                tracing::warn!(%error, "The embedded agent has no sample yet; starting the server anyway");
                return;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

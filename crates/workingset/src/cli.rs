//! The command line: clap definitions, and kubectl/cobra-compatible errors.
//!
//! `workingset top` accepts kubectl's flags with kubectl's syntax (Go booleans
//! such as `--no-headers=false`, the `nodes`/`no`/`pods`/`po` aliases) and,
//! when parsing fails, prints the text cobra prints and exits 1, so scripts
//! written for `kubectl top` behave the same. `workingset agent` and
//! `workingset serve` share the flags that say where the machine's files are
//! ([`SourceArgs`]); `server` and `serve` share the scrape flags
//! ([`ScrapeArgs`]), named as metrics-server names them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, Parser, Subcommand, ValueEnum};
use workingset_agent::runtime::BlockingRuntimeNames;
use workingset_cgroup::Config;
use workingset_httpd::secure::TlsMinVersion;
use workingset_kubeclient::kubelet::ClientOptions;
use workingset_kubeclient::{KubeArgs, parse_go_bool};
use workingset_local::LocalMachine;
use workingset_model::duration::GoDuration;
use workingset_model::selector::GoQuoted;
use workingset_server::cluster::AddressType;
use workingset_server::target::NodeSpec;

/// workingset: from cgroup files to `kubectl top`, with every number explained.
#[derive(Debug, Parser)]
#[command(name = "workingset", version, about, long_about = None)]
#[command(propagate_version = true)]
pub struct Cli {
    /// Log filter for diagnostics on stderr (tracing `EnvFilter` syntax, e.g.
    /// `debug`) [default: `warn`; `info` for `agent`, `server` and `serve`,
    /// daemons whose start and stop should be on record].
    #[arg(long, global = true, env = "WORKINGSET_LOG", value_name = "FILTER")]
    pub log: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Display resource (CPU/memory) usage, exactly as `kubectl top` prints it.
    Top(TopArgs),
    /// Serve this machine's figures as a kubelet does (/stats/summary,
    /// /metrics/resource, /metrics/cadvisor) for metrics-server and Prometheus.
    Agent(AgentArgs),
    /// Scrape agents or kubelets and serve the Metrics API (metrics.k8s.io)
    /// that `kubectl top` and autoscalers read, as metrics-server does.
    // A flag given twice takes its last value, as metrics-server's (pflag)
    // do: manifests and overlays append flags.
    #[command(args_override_self = true)]
    Server(ServerArgs),
    /// Agent and metrics server in one process: a Metrics API for this
    /// machine (and any --node) on 127.0.0.1:8001.
    Serve(ServeArgs),
    /// Explain where every figure of a pod or node comes from: files, formulas,
    /// `kubectl top`, `docker stats`, the OOM headroom, the pause container.
    Explain(ExplainArgs),
    /// Say why `kubectl top` fails in a cluster, and what fixes it
    /// (APIService, discovery, the server's pods, per-node scrape errors,
    /// pods too young for metrics).
    Doctor(DoctorArgs),
    /// Print the shell completion script (bash, zsh or fish).
    Completion(CompletionArgs),
}

/// `workingset doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// kubectl's flags for talking to a cluster.
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// `workingset top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    #[command(subcommand)]
    pub resource: TopResource,
    #[command(flatten)]
    pub local: LocalArgs,
    /// kubectl's flags for talking to a cluster (remote mode).
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Where this machine's files are: what `top` and `agent` both read.
///
/// The flags are `global` so that `top` takes them after its resource
/// (`workingset top pod -A --cgroup-root X`); on `agent`, which has no
/// subcommands, that changes nothing.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The cgroup treated as the node, like the kubelet's --cgroup-root.
    #[arg(long, global = true, default_value = "/", value_name = "PATH")]
    pub cgroup_root: String,
    /// Where the cgroup filesystem is mounted.
    #[arg(
        long,
        global = true,
        default_value = "/sys/fs/cgroup",
        value_name = "DIR"
    )]
    pub cgroupfs: PathBuf,
    /// The cgroup filesystem's mount point as /proc/self/mountinfo names it,
    /// when it is read from elsewhere (a captured tree, a host mount in a pod).
    #[arg(long, global = true, value_name = "DIR", hide = true)]
    pub cgroupfs_mount_point: Option<PathBuf>,
    /// Where procfs is mounted.
    #[arg(long, global = true, default_value = "/proc", value_name = "DIR")]
    pub proc: PathBuf,
    /// Where sysfs is mounted (online CPUs).
    #[arg(long, global = true, default_value = "/sys", value_name = "DIR")]
    pub sys: PathBuf,
    /// Name shown for this machine (default: its hostname).
    #[arg(long, global = true, value_name = "NAME")]
    pub node_name: Option<String>,
    /// Docker Engine API socket, for container names and labels ("" = don't ask).
    #[arg(
        long,
        global = true,
        default_value = "/var/run/docker.sock",
        value_name = "PATH"
    )]
    pub docker_socket: String,
    /// CRI socket (containerd, CRI-O, cri-dockerd), for pod names and labels ("" = don't ask).
    #[arg(
        long,
        global = true,
        default_value = "/run/containerd/containerd.sock",
        value_name = "PATH"
    )]
    pub cri_socket: String,
}

impl SourceArgs {
    /// The cgroup reader's configuration these flags describe.
    pub fn cgroup_config(&self) -> Config {
        Config {
            proc_root: self.proc.clone(),
            sys_root: self.sys.clone(),
            cgroupfs_root: self.cgroupfs.clone(),
            cgroupfs_mount_point: self
                .cgroupfs_mount_point
                .clone()
                .unwrap_or_else(|| self.cgroupfs.clone()),
            cgroup_root: self.cgroup_root.clone(),
        }
    }

    /// This machine as the local mode reads it, samples `window` apart.
    pub fn local_machine(&self, window: std::time::Duration) -> LocalMachine {
        LocalMachine {
            cgroups: self.cgroup_config(),
            node_name: self.node_name(),
            window,
            names: Arc::new(BlockingRuntimeNames::new(self.runtime_config())),
        }
    }

    /// Which container runtimes to ask, from `--docker-socket` and `--cri-socket`.
    pub fn runtime_config(&self) -> workingset_agent::runtime::RuntimeConfig {
        workingset_agent::runtime::RuntimeConfig {
            docker_socket: workingset_agent::runtime::socket_flag(&self.docker_socket),
            cri_socket: workingset_agent::runtime::socket_flag(&self.cri_socket),
            ..workingset_agent::runtime::RuntimeConfig::default()
        }
    }

    /// `--node-name`, else the machine's hostname (lower-cased, as the
    /// kubelet names its node), else `localhost`.
    pub fn node_name(&self) -> String {
        if let Some(name) = &self.node_name {
            return name.clone();
        }
        std::fs::read_to_string(self.proc.join("sys/kernel/hostname"))
            .ok()
            .map(|name| name.trim().to_lowercase())
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| "localhost".to_owned())
    }
}

/// Where the embedded local agent of `top` reads from, and how.
#[derive(Debug, Clone, Args)]
pub struct LocalArgs {
    /// The machine's files.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Time between the two samples that give CPU rates (Go duration: 1s, 500ms).
    #[arg(long, global = true, default_value = "1s", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub window: GoDuration,
    /// Print tables as this kubectl release does (1.27 … 1.33).
    #[arg(long, global = true, default_value = "1.33", value_name = "VERSION")]
    pub kubectl_version: String,
}

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
    #[arg(long, global = true, default_value = "1s", value_name = "DURATION", value_parser = parse_positive_duration)]
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
    pub kube: KubeArgs,
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

impl ExplainArgs {
    /// This machine, for `explain` without `--agent` or a kubeconfig.
    pub fn local_machine(&self) -> LocalMachine {
        self.source.local_machine(self.window.0)
    }
}

impl LocalArgs {
    /// This machine, for local `top`.
    pub fn local_machine(&self) -> LocalMachine {
        self.source.local_machine(self.window.0)
    }
}

/// `workingset completion`.
#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// The shell to write the script for.
    #[arg(value_enum)]
    pub shell: CompletionShell,
}

/// The shells a script is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    /// bash: `source <(workingset completion bash)`.
    Bash,
    /// zsh: `workingset completion zsh > "${fpath[1]}/_workingset"`.
    Zsh,
    /// fish: `workingset completion fish > ~/.config/fish/completions/workingset.fish`.
    Fish,
}

/// `workingset agent`: the node agent's HTTP server.
#[derive(Debug, Args)]
pub struct AgentArgs {
    /// The machine's files.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Address to serve on. Loopback by default, for safety: use
    /// `0.0.0.0:10250` (with --token-file and TLS) to serve metrics-server as
    /// a kubelet does.
    #[arg(long, default_value = "127.0.0.1:10250", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Serve a non-loopback --listen address without --token-file: anyone
    /// who can reach it reads the node's workloads. Refused without this.
    #[arg(long)]
    pub insecure_unauthenticated_listen: bool,
    /// Time between two sampling passes (Go duration: 10s, 500ms).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub housekeeping_interval: GoDuration,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-private-key-file).
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` with the token in this file on
    /// every endpoint but /healthz.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    /// Serve HTTPS with a self-signed certificate kept in this directory
    /// (made on first start) when no --tls-cert-file is given.
    #[arg(long, value_name = "DIR", conflicts_with = "tls_cert_file")]
    pub cert_dir: Option<PathBuf>,
}

/// What `server` and `serve` share: where the Metrics API is served, the
/// nodes to scrape and how to reach them. Flag names are metrics-server's
/// where it has one.
#[derive(Debug, Clone, Args)]
pub struct ScrapeArgs {
    /// A node to scrape: its name and the base URL of its agent or kubelet
    /// (repeatable), e.g. `node-1=https://10.0.0.5:10250`.
    #[arg(long = "node", value_name = "NAME=URL", value_parser = parse_node)]
    pub nodes: Vec<NodeSpec>,
    /// A file of nodes to scrape: one `NAME=URL [LABEL=VALUE ...]` a line,
    /// `#` comments.
    #[arg(long, value_name = "FILE")]
    pub nodes_file: Option<PathBuf>,
    /// Address to serve the Metrics API on (standalone mode; Kubernetes
    /// mode uses --bind-address and --secure-port). Loopback by default:
    /// the API shows every workload of every node to whoever can reach it.
    #[arg(long, default_value = "127.0.0.1:8001", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// Serve a non-loopback --listen address in standalone mode, which has
    /// no authentication: anyone who can reach it reads every node's
    /// workloads. Refused without this; Kubernetes mode authenticates.
    #[arg(long)]
    pub insecure_unauthenticated_listen: bool,
    /// Longest time one node's requests may take in a tick (Go duration).
    #[arg(long, default_value = "10s", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub kubelet_request_timeout: GoDuration,
    /// Do not verify the nodes' serving certificates (still TLS).
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub kubelet_insecure_tls: bool,
    /// PEM file of the CA that signs the nodes' serving certificates
    /// [default: the system's roots].
    #[arg(long, value_name = "FILE")]
    pub kubelet_certificate_authority: Option<PathBuf>,
    /// File holding the bearer token sent to every node (re-read when it
    /// changes).
    #[arg(long, value_name = "FILE")]
    pub kubelet_token_file: Option<PathBuf>,
    /// The largest response body accepted from a node, in bytes; a larger
    /// one fails that node's scrape.
    #[arg(long, value_name = "BYTES", default_value_t = ClientOptions::DEFAULT_MAX_BODY_BYTES, value_parser = parse_positive_bytes)]
    pub max_response_bytes: usize,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-private-key-file).
    #[arg(long, value_name = "FILE", requires = "tls_private_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// The PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_private_key_file: Option<PathBuf>,
}

impl ScrapeArgs {
    /// The scrape client's options these flags describe.
    pub fn client_options(&self) -> ClientOptions {
        ClientOptions {
            ca_file: self.kubelet_certificate_authority.clone(),
            insecure_tls: self.kubelet_insecure_tls,
            token_file: self.kubelet_token_file.clone(),
            max_body_bytes: self.max_response_bytes,
            ..ClientOptions::default()
        }
    }
}

/// Kubernetes mode: nodes and pods from an API server, kubelets reached
/// as metrics-server reaches them. Flag names and defaults are
/// metrics-server's.
#[derive(Debug, Clone, Args)]
pub struct ClusterArgs {
    /// Kubernetes mode: watch nodes and pods through this kubeconfig. In a
    /// pod (KUBERNETES_SERVICE_HOST set) with no --node or --nodes-file,
    /// the in-cluster service account is used without it.
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// The order in which to pick a node's address to scrape: the first
    /// address of the first type the node has.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "TYPES",
        default_value = "Hostname,InternalDNS,InternalIP,ExternalDNS,ExternalIP"
    )]
    pub kubelet_preferred_address_types: Vec<AddressType>,
    /// The port kubelets serve on.
    #[arg(long, default_value_t = 10250, value_name = "PORT")]
    pub kubelet_port: u16,
    /// Use the port a node reports (status.daemonEndpoints.kubeletEndpoint.port)
    /// instead of --kubelet-port when it reports one.
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub kubelet_use_node_status_port: bool,
    /// Scrape only nodes whose labels match (label selector: '=', '==',
    /// '!=', 'in', 'notin', 'key', '!key').
    #[arg(short = 'l', long, value_name = "SELECTOR", default_value = "")]
    pub node_selector: String,
    /// PEM client certificate presented to kubelets (with --kubelet-client-key).
    #[arg(long, value_name = "FILE", requires = "kubelet_client_key")]
    pub kubelet_client_certificate: Option<PathBuf>,
    /// The PEM private key of --kubelet-client-certificate.
    #[arg(long, value_name = "FILE", requires = "kubelet_client_certificate")]
    pub kubelet_client_key: Option<PathBuf>,
    /// Scrape kubelets over plain HTTP with no credentials (testing only).
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub deprecated_kubelet_completely_insecure: bool,
}

/// Kubernetes mode's secure port and its delegated authentication and
/// authorization (k8s.io/apiserver's flags, as metrics-server has them).
#[derive(Debug, Clone, Args)]
pub struct SecureArgs {
    /// Kubernetes mode: the HTTPS port (metrics-server's manifests use 10250).
    #[arg(long, default_value_t = 443, value_name = "PORT")]
    pub secure_port: u16,
    /// Kubernetes mode: the address the secure port listens on.
    #[arg(long, default_value = "0.0.0.0", value_name = "IP")]
    pub bind_address: std::net::IpAddr,
    /// Where the self-signed serving certificate is written when no
    /// --tls-cert-file is given.
    #[arg(
        long,
        default_value = "apiserver.local.config/certificates",
        value_name = "DIR"
    )]
    pub cert_dir: PathBuf,
    /// The lowest TLS version served: VersionTLS12 or VersionTLS13.
    #[arg(long, default_value = "VersionTLS12", value_name = "VERSION")]
    pub tls_min_version: TlsMinVersion,
    /// TLS 1.2 cipher suites served (Go names, comma-separated)
    /// [default: rustls' secure suites].
    #[arg(long, value_delimiter = ',', value_name = "SUITES")]
    pub tls_cipher_suites: Vec<String>,
    /// PEM CA of client certificates (user = CN, groups = O) [default: the
    /// extension-apiserver-authentication ConfigMap's].
    #[arg(long, value_name = "FILE")]
    pub client_ca_file: Option<PathBuf>,
    /// PEM CA of the front proxy's client certificate [default: the
    /// extension-apiserver-authentication ConfigMap's, with its names and
    /// headers].
    #[arg(long, value_name = "FILE")]
    pub requestheader_client_ca_file: Option<PathBuf>,
    /// Common names allowed as front proxy (comma-separated); empty allows
    /// any certificate the front-proxy CA signed.
    #[arg(long, value_delimiter = ',', value_name = "NAMES")]
    pub requestheader_allowed_names: Vec<String>,
    /// Headers holding the user name [default: X-Remote-User].
    #[arg(long, value_delimiter = ',', value_name = "HEADERS")]
    pub requestheader_username_headers: Vec<String>,
    /// Headers holding the groups [default: X-Remote-Group].
    #[arg(long, value_delimiter = ',', value_name = "HEADERS")]
    pub requestheader_group_headers: Vec<String>,
    /// Prefixes of headers holding extra attributes [default: X-Remote-Extra-].
    #[arg(long, value_delimiter = ',', value_name = "PREFIXES")]
    pub requestheader_extra_headers_prefix: Vec<String>,
    /// kubeconfig of the API server that reviews tokens and publishes the
    /// authentication ConfigMap [default: the --kubeconfig one].
    #[arg(long, value_name = "FILE")]
    pub authentication_kubeconfig: Option<PathBuf>,
    /// How long TokenReview answers are cached (Go duration).
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub authentication_token_webhook_cache_ttl: GoDuration,
    /// kubeconfig of the API server that answers SubjectAccessReviews
    /// [default: the --kubeconfig one].
    #[arg(long, value_name = "FILE")]
    pub authorization_kubeconfig: Option<PathBuf>,
    /// Paths served without authorization (comma-separated; a trailing `*`
    /// is a prefix).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "/healthz,/readyz,/livez",
        value_name = "PATHS"
    )]
    pub authorization_always_allow_paths: Vec<String>,
    /// How long allowed SubjectAccessReview answers are cached.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub authorization_webhook_cache_authorized_ttl: GoDuration,
    /// How long denied SubjectAccessReview answers are cached.
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    pub authorization_webhook_cache_unauthorized_ttl: GoDuration,
}

/// `workingset server`: the metrics server, standalone or in a cluster.
#[derive(Debug, Args)]
pub struct ServerArgs {
    /// Nodes, listen address, client and TLS flags.
    #[command(flatten)]
    pub scrape: ScrapeArgs,
    /// Kubernetes mode.
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Kubernetes mode's secure port.
    #[command(flatten)]
    pub secure: SecureArgs,
    /// Time between two scrapes of every node; the Metrics API's figures are
    /// rates over about this window (Go duration).
    #[arg(long, default_value = "15s", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub metric_resolution: GoDuration,
}

/// `workingset serve`: an agent for this machine and the metrics server.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The machine's files.
    #[command(flatten)]
    pub source: SourceArgs,
    /// Nodes besides this machine, listen address, client and TLS flags.
    #[command(flatten)]
    pub scrape: ScrapeArgs,
    /// Time between two scrapes (Go duration). Shorter than `server`'s 15s
    /// so that the first figures show within seconds; one node on loopback
    /// costs next to nothing to scrape.
    #[arg(long, default_value = "5s", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub metric_resolution: GoDuration,
    /// Time between two sampling passes of the embedded agent (Go
    /// duration): well under the resolution, so every scrape sees a fresh
    /// sample.
    #[arg(long, default_value = "1s", value_name = "DURATION", value_parser = parse_positive_duration)]
    pub housekeeping_interval: GoDuration,
}

/// A `--node NAME=URL` value.
fn parse_node(text: &str) -> Result<NodeSpec, String> {
    NodeSpec::parse_flag(text).map_err(|e| e.to_string())
}

/// A byte count that is more than zero.
fn parse_positive_bytes(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be more than zero".to_owned()),
        Ok(bytes) => Ok(bytes),
        // pflag's wording for a bad integer.
        Err(e) => {
            let reason = match e.kind() {
                std::num::IntErrorKind::PosOverflow => "value out of range",
                _ => "invalid syntax",
            };
            Err(format!(
                "strconv.ParseUint: parsing {}: {reason}",
                GoQuoted(text)
            ))
        }
    }
}

/// A Go duration that is more than zero.
fn parse_positive_duration(text: &str) -> Result<GoDuration, String> {
    let duration: GoDuration = text.parse().map_err(|e| format!("{e}"))?;
    if duration.0.is_zero() {
        return Err("must be more than zero".to_owned());
    }
    Ok(duration)
}

/// `top node` / `top pod`.
#[derive(Debug, Subcommand)]
pub enum TopResource {
    /// Display resource (CPU/memory) usage of nodes.
    #[command(visible_aliases = ["nodes", "no"])]
    Node(TopNodeArgs),
    /// Display resource (CPU/memory) usage of pods.
    #[command(visible_aliases = ["pods", "po"])]
    Pod(TopPodArgs),
}

/// Flags of `kubectl top node`.
#[derive(Debug, Args)]
pub struct TopNodeArgs {
    /// Node name; all nodes when omitted.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.
    #[arg(short = 'l', long = "selector", default_value = "")]
    pub selector: String,
    /// If non-empty, sort nodes list using specified field. The field can be either 'cpu' or 'memory'.
    #[arg(long, default_value = "")]
    pub sort_by: String,
    /// If present, print output without headers.
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub no_headers: bool,
    /// Print node resources based on Capacity instead of Allocatable(default) of the nodes.
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub show_capacity: bool,
    /// Accepted as kubectl's global flag is; nodes have no namespace.
    #[arg(short = 'n', long = "namespace", hide = true)]
    pub namespace: Option<String>,
    /// Enables using protocol-buffers to access Metrics API (remote mode asks for them as kubectl does).
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    pub use_protocol_buffers: bool,
}

/// Flags of `kubectl top pod`.
#[derive(Debug, Args)]
pub struct TopPodArgs {
    /// Pod name; all pods of the namespace when omitted.
    #[arg(value_name = "NAME")]
    pub name: Option<String>,
    /// If present, the namespace scope for this CLI request.
    #[arg(short = 'n', long = "namespace")]
    pub namespace: Option<String>,
    /// If present, list the requested object(s) across all namespaces.
    #[arg(short = 'A', long = "all-namespaces", value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub all_namespaces: bool,
    /// Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.
    #[arg(short = 'l', long = "selector", default_value = "")]
    pub selector: String,
    /// Selector (field query) to filter on, supports '=', '==', and '!='.
    #[arg(long, default_value = "")]
    pub field_selector: String,
    /// If present, print usage of containers within a pod.
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub containers: bool,
    /// If non-empty, sort pods list using specified field. The field can be either 'cpu' or 'memory'.
    #[arg(long, default_value = "")]
    pub sort_by: String,
    /// If present, print output without headers.
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub no_headers: bool,
    /// Print the sum of the resource usage.
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true")]
    pub sum: bool,
    /// Enables using protocol-buffers to access Metrics API (remote mode asks for them as kubectl does).
    #[arg(long, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "true", default_missing_value = "true")]
    pub use_protocol_buffers: bool,
}

/// A parse failure rendered the way cobra renders it.
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError {
    /// Everything to print on stderr.
    pub message: String,
    /// Process exit code.
    pub code: i32,
}

/// Turns a clap error into cobra's wording for the command that failed.
///
/// Help and version requests are not errors: they print on stdout and exit 0
/// (returned with code 0 and the rendered text).
pub fn usage_error(error: &clap::Error, args: &[String]) -> UsageError {
    let command = command_path(args);
    let see_usage = format!("See '{command} --help' for usage.");
    let invalid_arg = || match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let message = match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            return UsageError {
                message: error.render().to_string(),
                code: 0,
            };
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand | ErrorKind::MissingSubcommand => {
            return UsageError {
                message: error.render().to_string(),
                code: 1,
            };
        }
        ErrorKind::UnknownArgument => {
            let arg = invalid_arg();
            if let Some(long) = arg.strip_prefix("--") {
                let flag = long.split('=').next().unwrap_or(long);
                format!("error: unknown flag: --{flag}\n{see_usage}")
            } else if let Some(short) = arg.strip_prefix('-').and_then(|s| s.chars().next()) {
                format!("error: unknown shorthand flag: '{short}' in {arg}\n{see_usage}")
            } else if !command.starts_with("workingset top") {
                format!(
                    "error: unknown command {} for {}\n{see_usage}",
                    GoQuoted(&arg),
                    GoQuoted(&command)
                )
            } else {
                // An extra positional argument: kubectl prints its usage line.
                let resource = if command.ends_with("node") {
                    "node"
                } else {
                    "pod"
                };
                format!(
                    "error: {resource} [NAME | -l label]\nSee '{command} -h' for help and examples"
                )
            }
        }
        ErrorKind::InvalidValue | ErrorKind::ValueValidation | ErrorKind::NoEquals => {
            let arg = invalid_arg();
            let flag = arg.split_whitespace().next().unwrap_or(&arg).to_owned();
            let value = match error.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(s)) => Some(s.clone()),
                _ => None,
            };
            match value {
                Some(value) if !value.is_empty() => {
                    // The value parser's own message (Go's ParseBool text for
                    // booleans, Go's ParseDuration text for durations), as
                    // pflag reports it.
                    let valid = match error.get(ContextKind::ValidValue) {
                        Some(ContextValue::Strings(values)) => {
                            Some(format!("must be one of: {}", values.join(", ")))
                        }
                        _ => None,
                    };
                    let reason = std::error::Error::source(error)
                        .map(ToString::to_string)
                        .or(valid)
                        .or_else(|| parse_go_bool(&value).err())
                        .unwrap_or_else(|| "invalid value".to_owned());
                    format!(
                        "error: invalid argument {} for {} flag: {reason}\n{see_usage}",
                        GoQuoted(&value),
                        GoQuoted(&cobra_flag_name(&flag))
                    )
                }
                // A flag missing its value is necessarily the last word typed,
                // and cobra names it the way it was typed (`-n` vs `--namespace`).
                _ => {
                    let typed = args.last().map_or(flag.as_str(), String::as_str);
                    format!(
                        "error: flag needs an argument: {}\n{see_usage}",
                        cobra_flag_ref(typed)
                    )
                }
            }
        }
        ErrorKind::MissingRequiredArgument
            if matches!(
                error.get(ContextKind::InvalidArg),
                Some(ContextValue::Strings(args)) if args.iter().all(|a| a.starts_with('<'))
            ) =>
        {
            // A missing argument (`explain pod` without NAME).
            let missing = match error.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(args)) => args.join(" "),
                _ => String::new(),
            };
            format!(
                "error: {} is missing\nSee '{command} --help' for usage.",
                missing.trim_matches(['<', '>'])
            )
        }
        ErrorKind::MissingRequiredArgument => {
            // Flags one of the others needs (`--tls-cert-file` without its
            // key): cobra's wording for required flags.
            let missing: Vec<String> = match error.get(ContextKind::InvalidArg) {
                Some(ContextValue::Strings(args)) => args
                    .iter()
                    .map(|arg| {
                        let name = arg.split([' ', '=', '<']).next().unwrap_or(arg);
                        GoQuoted(name.trim_start_matches('-')).to_string()
                    })
                    .collect(),
                _ => Vec::new(),
            };
            format!(
                "error: required flag(s) {} not set\n{see_usage}",
                missing.join(", ")
            )
        }
        _ => format!(
            "error: {}\n{see_usage}",
            first_line(&error.render().to_string())
        ),
    };
    UsageError { message, code: 1 }
}

/// How cobra names a flag in "invalid argument" errors: `-A, --all-namespaces`.
fn cobra_flag_name(flag: &str) -> String {
    let long = flag.split(['=', ' ', '[', '<']).next().unwrap_or(flag);
    match long {
        "--all-namespaces" | "-A" => "-A, --all-namespaces".to_owned(),
        "--selector" | "-l" => "-l, --selector".to_owned(),
        "--namespace" | "-n" => "-n, --namespace".to_owned(),
        other => other.to_owned(),
    }
}

/// How cobra names a flag in "needs an argument" errors: `--sort-by`, `'n' in -n`.
fn cobra_flag_ref(flag: &str) -> String {
    let flag = flag.split(['=', ' ', '[', '<']).next().unwrap_or(flag);
    match flag.strip_prefix('-') {
        Some(short) if !short.starts_with('-') => format!("'{short}' in {flag}"),
        _ => flag.to_owned(),
    }
}

fn first_line(text: &str) -> &str {
    let text = text.strip_prefix("error: ").unwrap_or(text);
    text.lines().next().unwrap_or(text)
}

/// `workingset top node` / `workingset top pod`, as cobra names the command.
fn command_path(args: &[String]) -> String {
    let mut path = String::from("workingset");
    let mut words = args.iter().skip(1).filter(|a| !a.starts_with('-'));
    if let Some(command) = words.next() {
        path.push(' ');
        path.push_str(command);
        if (command == "top" || command == "explain")
            && let Some(resource) = words.next()
        {
            let canonical = match resource.as_str() {
                "node" | "nodes" | "no" => "node",
                _ => "pod",
            };
            path.push(' ');
            path.push_str(canonical);
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(line: &str) -> UsageError {
        let args: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let error = Cli::try_parse_from(&args).expect_err("should not parse");
        usage_error(&error, &args)
    }

    fn parse(line: &str) -> Cli {
        Cli::try_parse_from(line.split_whitespace()).unwrap()
    }

    // Expected texts were produced by kubectl.1.33 with the same arguments.
    #[test]
    fn unknown_flags_read_like_cobra() {
        assert_eq!(
            fail("workingset top node --containers").message,
            "error: unknown flag: --containers\nSee 'workingset top node --help' for usage."
        );
        assert_eq!(
            fail("workingset top pod -x").message,
            "error: unknown shorthand flag: 'x' in -x\nSee 'workingset top pod --help' for usage."
        );
    }

    #[test]
    fn extra_names_print_the_usage_line() {
        let error = fail("workingset top pod a b");
        assert_eq!(
            error.message,
            "error: pod [NAME | -l label]\nSee 'workingset top pod -h' for help and examples"
        );
        assert_eq!(error.code, 1);
        assert_eq!(
            fail("workingset top nodes a b").message,
            "error: node [NAME | -l label]\nSee 'workingset top node -h' for help and examples"
        );
    }

    #[test]
    fn bad_booleans_and_missing_values() {
        assert_eq!(
            fail("workingset top pod --no-headers=x").message,
            "error: invalid argument \"x\" for \"--no-headers\" flag: strconv.ParseBool: parsing \"x\": invalid syntax\nSee 'workingset top pod --help' for usage."
        );
        assert_eq!(
            fail("workingset top pod -A=x").message,
            "error: invalid argument \"x\" for \"-A, --all-namespaces\" flag: strconv.ParseBool: parsing \"x\": invalid syntax\nSee 'workingset top pod --help' for usage."
        );
        assert_eq!(
            fail("workingset top pod --sort-by").message,
            "error: flag needs an argument: --sort-by\nSee 'workingset top pod --help' for usage."
        );
        assert_eq!(
            fail("workingset top pod -n").message,
            "error: flag needs an argument: 'n' in -n\nSee 'workingset top pod --help' for usage."
        );
    }

    #[test]
    fn agent_flags_and_their_errors() {
        let cli = parse("workingset agent");
        let Command::Agent(agent) = cli.command else {
            panic!("not an agent command")
        };
        assert_eq!(agent.listen.to_string(), "127.0.0.1:10250");
        assert_eq!(agent.housekeeping_interval.to_string(), "10s");
        assert_eq!(agent.source.cgroup_root, "/");
        assert!(agent.tls_cert_file.is_none() && agent.token_file.is_none());
        assert!(cli.log.is_none());

        let cli = parse(
            "workingset agent --listen 0.0.0.0:10250 --housekeeping-interval 1m30s --cgroup-root /kubepods --node-name n1 --token-file /t --tls-cert-file /c --tls-private-key-file /k --log debug",
        );
        let Command::Agent(agent) = cli.command else {
            panic!("not an agent command")
        };
        assert_eq!(agent.listen.to_string(), "0.0.0.0:10250");
        assert_eq!(agent.housekeeping_interval.0.as_secs(), 90);
        assert_eq!(agent.source.cgroup_root, "/kubepods");
        assert_eq!(agent.source.node_name(), "n1");
        assert_eq!(cli.log.as_deref(), Some("debug"));

        assert_eq!(
            fail("workingset agent --tls-cert-file /c").message,
            "error: required flag(s) \"tls-private-key-file\" not set\nSee 'workingset agent --help' for usage."
        );
        assert_eq!(
            fail("workingset agent --housekeeping-interval 0s").message,
            "error: invalid argument \"0s\" for \"--housekeeping-interval\" flag: must be more than zero\nSee 'workingset agent --help' for usage."
        );
        assert_eq!(
            fail("workingset agent --housekeeping-interval 10").message,
            "error: invalid argument \"10\" for \"--housekeeping-interval\" flag: time: invalid duration \"10\"\nSee 'workingset agent --help' for usage."
        );
        assert_eq!(
            fail("workingset agent extra").message,
            "error: unknown command \"extra\" for \"workingset agent\"\nSee 'workingset agent --help' for usage."
        );
        // Top-only flags are not agent flags.
        assert_eq!(
            fail("workingset agent --window 1s").message,
            "error: unknown flag: --window\nSee 'workingset agent --help' for usage."
        );
    }

    #[test]
    fn server_flags_and_their_defaults() {
        let cli = parse("workingset server --node a=http://127.0.0.1:10250");
        let Command::Server(server) = cli.command else {
            panic!("not a server command")
        };
        let scrape = &server.scrape;
        assert_eq!(scrape.nodes.len(), 1);
        assert_eq!(
            (scrape.nodes[0].name.as_str(), scrape.nodes[0].url.as_str()),
            ("a", "http://127.0.0.1:10250")
        );
        assert_eq!(scrape.listen.to_string(), "127.0.0.1:8001");
        assert_eq!(server.metric_resolution.to_string(), "15s");
        assert_eq!(scrape.kubelet_request_timeout.to_string(), "10s");
        assert_eq!(scrape.client_options(), ClientOptions::default());
        assert!(scrape.nodes_file.is_none() && scrape.tls_cert_file.is_none());

        let cli = parse(
            "workingset server --node a=https://10.0.0.1:10250 --node b=https://10.0.0.2:10250/ --nodes-file /n --listen 0.0.0.0:443 --metric-resolution 30s --kubelet-request-timeout 2s --kubelet-insecure-tls --kubelet-token-file /t --max-response-bytes 1024 --tls-cert-file /c --tls-private-key-file /k",
        );
        let Command::Server(server) = cli.command else {
            panic!("not a server command")
        };
        let scrape = &server.scrape;
        let names: Vec<&str> = scrape.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(scrape.nodes[1].url, "https://10.0.0.2:10250");
        assert_eq!(
            scrape.nodes_file.as_deref(),
            Some(std::path::Path::new("/n"))
        );
        assert_eq!(scrape.listen.to_string(), "0.0.0.0:443");
        assert_eq!(server.metric_resolution.0.as_secs(), 30);
        assert_eq!(scrape.kubelet_request_timeout.0.as_secs(), 2);
        let client = scrape.client_options();
        assert!(client.insecure_tls && client.ca_file.is_none());
        assert_eq!(
            client.token_file.as_deref(),
            Some(std::path::Path::new("/t"))
        );
        assert_eq!(client.max_body_bytes, 1024);
        assert!(scrape.tls_cert_file.is_some() && scrape.tls_private_key_file.is_some());
        // A Go boolean, as metrics-server's flag.
        let cli = parse(
            "workingset server --kubelet-insecure-tls=false --kubelet-certificate-authority /ca",
        );
        let Command::Server(server) = cli.command else {
            panic!("not a server command")
        };
        assert!(!server.scrape.kubelet_insecure_tls);
        assert_eq!(
            server.scrape.client_options().ca_file.as_deref(),
            Some(std::path::Path::new("/ca"))
        );
    }

    #[test]
    fn server_flag_errors_read_like_cobra() {
        let error = fail("workingset server --node a");
        assert_eq!(error.code, 1);
        assert!(
            error.message.starts_with(
                "error: invalid argument \"a\" for \"--node\" flag: invalid --node value: "
            ),
            "{}",
            error.message
        );
        assert!(
            error
                .message
                .ends_with("\nSee 'workingset server --help' for usage."),
            "{}",
            error.message
        );
        assert_eq!(
            fail("workingset server --metric-resolution 0s").message,
            "error: invalid argument \"0s\" for \"--metric-resolution\" flag: must be more than zero\nSee 'workingset server --help' for usage."
        );
        assert_eq!(
            fail("workingset server --max-response-bytes 1k").message,
            "error: invalid argument \"1k\" for \"--max-response-bytes\" flag: strconv.ParseUint: parsing \"1k\": invalid syntax\nSee 'workingset server --help' for usage."
        );
        assert_eq!(
            fail("workingset server --max-response-bytes 0").message,
            "error: invalid argument \"0\" for \"--max-response-bytes\" flag: must be more than zero\nSee 'workingset server --help' for usage."
        );
        assert_eq!(
            fail("workingset server --tls-private-key-file /k").message,
            "error: required flag(s) \"tls-cert-file\" not set\nSee 'workingset server --help' for usage."
        );
        // Machine flags belong to the commands that read the machine.
        assert_eq!(
            fail("workingset server --cgroup-root /a").message,
            "error: unknown flag: --cgroup-root\nSee 'workingset server --help' for usage."
        );
    }

    #[test]
    fn serve_flags_and_their_defaults() {
        let cli = parse("workingset serve");
        let Command::Serve(serve) = cli.command else {
            panic!("not a serve command")
        };
        assert_eq!(serve.scrape.listen.to_string(), "127.0.0.1:8001");
        assert_eq!(serve.metric_resolution.to_string(), "5s");
        assert_eq!(serve.housekeeping_interval.to_string(), "1s");
        assert!(serve.scrape.nodes.is_empty());
        assert_eq!(serve.source.cgroup_root, "/");

        let cli = parse(
            "workingset serve --listen 127.0.0.1:0 --node-name laptop --node other=http://127.0.0.1:10250 --cgroup-root /a --housekeeping-interval 500ms --metric-resolution 2s",
        );
        let Command::Serve(serve) = cli.command else {
            panic!("not a serve command")
        };
        assert_eq!(serve.scrape.listen.port(), 0);
        assert_eq!(serve.source.node_name(), "laptop");
        assert_eq!(serve.scrape.nodes[0].name, "other");
        assert_eq!(serve.source.cgroup_root, "/a");
        assert_eq!(serve.housekeeping_interval.0.as_millis(), 500);
        assert_eq!(serve.metric_resolution.0.as_secs(), 2);
        assert_eq!(
            fail("workingset serve --housekeeping-interval 0s").message,
            "error: invalid argument \"0s\" for \"--housekeeping-interval\" flag: must be more than zero\nSee 'workingset serve --help' for usage."
        );
        assert_eq!(
            fail("workingset serve --window 1s").message,
            "error: unknown flag: --window\nSee 'workingset serve --help' for usage."
        );
    }

    #[test]
    fn top_takes_the_source_flags_anywhere() {
        let cli = parse("workingset top --cgroup-root /a pod -A --proc /p --node-name n");
        let Command::Top(top) = cli.command else {
            panic!("not a top command")
        };
        assert_eq!(top.local.source.cgroup_root, "/a");
        assert_eq!(top.local.source.proc.to_str(), Some("/p"));
        assert_eq!(top.local.source.node_name(), "n");
        assert_eq!(
            fail("workingset top node --window x").message,
            "error: invalid argument \"x\" for \"--window\" flag: time: invalid duration \"x\"\nSee 'workingset top node --help' for usage."
        );
        // Two samples at the same instant would make every rate 0m.
        assert_eq!(
            fail("workingset top pod -A --window 0s").message,
            "error: invalid argument \"0s\" for \"--window\" flag: must be more than zero\nSee 'workingset top pod --help' for usage."
        );
        assert_eq!(
            fail("workingset explain node --window 0").message,
            "error: invalid argument \"0\" for \"--window\" flag: must be more than zero\nSee 'workingset explain node --help' for usage."
        );
    }

    #[test]
    fn go_booleans_and_aliases_parse() {
        let cli = parse("workingset top po -A --containers=true --no-headers=F --sum");
        let Command::Top(top) = cli.command else {
            panic!("not a top command")
        };
        let TopResource::Pod(pod) = top.resource else {
            panic!("not a pod command")
        };
        assert!(pod.all_namespaces && pod.containers && pod.sum && !pod.no_headers);
        assert!(pod.use_protocol_buffers);
        let cli = parse("workingset top no worker-1 --window 250ms --cgroup-root /kubelet");
        let Command::Top(top) = cli.command else {
            panic!("not a top command")
        };
        assert_eq!(top.local.source.cgroup_root, "/kubelet");
        assert_eq!(top.local.window.to_string(), "250ms");
        let TopResource::Node(node) = top.resource else {
            panic!("not a node command")
        };
        assert_eq!(node.name.as_deref(), Some("worker-1"));
    }
}

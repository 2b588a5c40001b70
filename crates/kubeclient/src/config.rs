//! Which API server `top` talks to, as whom, and in which namespace:
//! kubectl's kubeconfig rules (client-go's `clientcmd`) on top of kube's
//! kubeconfig types.
//!
//! kube can load a kubeconfig, but its rules are not kubectl's in ways that
//! show: missing files in `$KUBECONFIG` are errors there, a context that
//! does not exist has its own wording, and kube sends credentials to plain
//! `http://` servers, which kubectl never does. So the choice is made here,
//! in clientcmd's order (which decides which error wins), and kube gets a
//! one-context kubeconfig describing the result:
//!
//! 1. Load `--kubeconfig` (which must exist), else the files of
//!    `$KUBECONFIG` (missing ones skipped, the first to set a name wins),
//!    else `~/.kube/config`.
//! 2. The context is `--context` or `current-context`; cluster and user are
//!    `--cluster`/`--user` or the context's. A name given by flag must
//!    exist (`context "x" does not exist`).
//! 3. The cluster starts from kubectl's defaults (`http://localhost:8080`,
//!    or `$KUBERNETES_MASTER`), then the kubeconfig, then the flags
//!    (`--server`, `--certificate-authority`, `--insecure-skip-tls-verify`,
//!    `--tls-server-name`); the user from the kubeconfig, then `--token`,
//!    `--client-certificate`, `--client-key`.
//! 4. Validation as clientcmd's `ConfirmUsable`, then `--request-timeout`.
//! 5. A server without a scheme is `http://`. Credentials and server
//!    certificates only count for `https://` servers; a TLS server without
//!    any credentials makes kubectl prompt for a user name and password.
//! 6. When the kubeconfig contributed nothing and the process runs in a pod
//!    (service-account token present), the in-cluster configuration is used.

use std::ffi::OsString;
use std::io::{self, BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use kube::config::{
    AuthInfo, Cluster, Context, KubeConfigOptions, Kubeconfig, KubeconfigError, NamedAuthInfo,
    NamedCluster, NamedContext,
};
use secrecy::{ExposeSecret as _, SecretString};
use workingset_model::duration::GoDuration;
use workingset_model::selector::GoQuoted;
use workingset_top::SourceError;

/// The service account files of a pod.
const SERVICE_ACCOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";
/// Where kubectl goes when nothing says otherwise.
const DEFAULT_SERVER: &str = "http://localhost:8080";
/// The one name of everything in the kubeconfig handed to kube.
const RESOLVED: &str = "workingset";

/// Go's `strconv.ParseBool`, which is what cobra accepts for boolean flags.
pub fn parse_go_bool(text: &str) -> Result<bool, String> {
    match text {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Ok(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Ok(false),
        _ => Err(format!(
            "strconv.ParseBool: parsing {}: invalid syntax",
            GoQuoted(text)
        )),
    }
}

/// kubectl's global flags that say which cluster to talk to, plus
/// `--local`. As with pflag, a flag given twice takes the last value.
#[derive(Debug, Clone, Default)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct KubeArgs {
    /// Path to the kubeconfig file to use (talk to that cluster as kubectl does).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            overrides_with = "kubeconfig"
        )
    )]
    pub kubeconfig: Option<String>,
    /// The name of the kubeconfig context to use.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_name = "NAME", overrides_with = "context")
    )]
    pub context: Option<String>,
    /// The name of the kubeconfig cluster to use.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_name = "NAME", overrides_with = "cluster")
    )]
    pub cluster: Option<String>,
    /// The name of the kubeconfig user to use.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_name = "NAME", overrides_with = "user")
    )]
    pub user: Option<String>,
    /// The address and port of the Kubernetes API server.
    #[cfg_attr(
        feature = "clap",
        arg(
            short = 's',
            long,
            global = true,
            value_name = "URL",
            overrides_with = "server"
        )
    )]
    pub server: Option<String>,
    /// Bearer token for authentication to the API server.
    #[cfg_attr(
        feature = "clap",
        arg(long, global = true, value_name = "TOKEN", overrides_with = "token")
    )]
    pub token: Option<String>,
    /// Path to a cert file for the certificate authority.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            overrides_with = "certificate_authority"
        )
    )]
    pub certificate_authority: Option<String>,
    /// Path to a client certificate file for TLS.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            overrides_with = "client_certificate"
        )
    )]
    pub client_certificate: Option<String>,
    /// Path to a client key file for TLS.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "FILE",
            overrides_with = "client_key"
        )
    )]
    pub client_key: Option<String>,
    /// Server name to use for server certificate validation.
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            value_name = "NAME",
            overrides_with = "tls_server_name"
        )
    )]
    pub tls_server_name: Option<String>,
    /// If true, the server's certificate will not be checked for validity.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", overrides_with = "insecure_skip_tls_verify"))]
    pub insecure_skip_tls_verify: bool,
    /// How long to wait for each request (1s, 2m, 3h; a bare integer is
    /// seconds; 0 waits forever).
    #[cfg_attr(
        feature = "clap",
        arg(
            long,
            global = true,
            default_value = "0",
            value_name = "DURATION",
            overrides_with = "request_timeout"
        )
    )]
    pub request_timeout: String,
    /// Always measure this machine (the embedded local mode), even when a
    /// kubeconfig exists.
    #[cfg_attr(feature = "clap", arg(long, global = true, value_parser = parse_go_bool, num_args = 0..=1, require_equals = true, default_value = "false", default_missing_value = "true", overrides_with = "local"))]
    pub local: bool,
}

/// What of the process environment kubectl's rules read, captured once so
/// that tests can give their own.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `$KUBECONFIG`.
    pub kubeconfig: Option<OsString>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// `$KUBERNETES_MASTER`: the default server instead of localhost:8080.
    pub kubernetes_master: Option<String>,
    /// `$KUBERNETES_SERVICE_HOST` and `_PORT`, when this runs in a pod with a
    /// service-account token.
    pub in_cluster: Option<(String, String)>,
    /// `$POD_NAMESPACE`.
    pub pod_namespace: Option<String>,
    /// Where the service account's files are.
    pub service_account: PathBuf,
}

impl Environment {
    /// This process's environment.
    pub fn current() -> Self {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let service_account = PathBuf::from(SERVICE_ACCOUNT);
        let token_is_file = std::fs::metadata(service_account.join("token"))
            .map(|m| !m.is_dir())
            .unwrap_or(false);
        let in_cluster = match (
            var("KUBERNETES_SERVICE_HOST"),
            var("KUBERNETES_SERVICE_PORT"),
        ) {
            (Some(host), Some(port)) if token_is_file => Some((host, port)),
            _ => None,
        };
        Self {
            kubeconfig: std::env::var_os("KUBECONFIG"),
            home: std::env::var_os("HOME").map(PathBuf::from),
            kubernetes_master: var("KUBERNETES_MASTER"),
            in_cluster,
            pod_namespace: var("POD_NAMESPACE"),
            service_account,
        }
    }

    fn default_kubeconfig(&self) -> Option<PathBuf> {
        self.home
            .as_ref()
            .map(|home| home.join(".kube").join("config"))
    }

    fn kubeconfig_list(&self) -> Vec<PathBuf> {
        let Some(list) = self.kubeconfig.as_ref().filter(|v| !v.is_empty()) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = Vec::new();
        for path in std::env::split_paths(list) {
            if !path.as_os_str().is_empty() && !paths.contains(&path) {
                paths.push(path);
            }
        }
        paths
    }
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

/// Whether `top` talks to an API server: a kubeconfig, a server or a
/// kubeconfig entry was named, a kubeconfig file exists (one of
/// `$KUBECONFIG`'s, or `~/.kube/config`), or this runs in a pod; and
/// `--local` was not given. A `$KUBECONFIG` naming only missing files does
/// not count: kubectl would then try localhost:8080, which helps nobody.
pub fn remote_wanted(args: &KubeArgs, env: &Environment) -> bool {
    if args.local {
        return false;
    }
    given(&args.kubeconfig).is_some()
        || given(&args.server).is_some()
        || given(&args.context).is_some()
        || given(&args.cluster).is_some()
        || given(&args.user).is_some()
        || env.kubeconfig_list().iter().any(|p| p.is_file())
        || env.default_kubeconfig().is_some_and(|p| p.is_file())
        || env.in_cluster.is_some()
}

/// Go's wording of an OS error: the C library's text, lower-cased first
/// letter, no error number.
pub fn go_io_text(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match text.find(" (os error ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

/// The result: everything needed to build the client, and the namespace.
#[derive(Debug)]
pub struct Resolved {
    /// kube's configuration for the chosen server and credentials.
    pub config: kube::Config,
    /// `--request-timeout`, when more than zero.
    pub timeout: Option<Duration>,
    /// The namespace `top pod` uses when `-n` is not given.
    pub namespace: String,
}

/// What the flags override, with empty strings counting as not given (as in
/// kubectl).
struct Overrides<'a> {
    context: Option<&'a str>,
    cluster: Option<&'a str>,
    user: Option<&'a str>,
    server: Option<&'a str>,
    token: Option<&'a str>,
    certificate_authority: Option<&'a str>,
    client_certificate: Option<&'a str>,
    client_key: Option<&'a str>,
    tls_server_name: Option<&'a str>,
    insecure: bool,
    namespace: Option<&'a str>,
}

/// Resolves the flags against the kubeconfig. `namespace_flag` is `-n` of
/// `top pod`; `for_pods` says the namespace is asked for first, as `kubectl
/// top pod` does (which decides which error is reported).
pub async fn resolve(
    args: &KubeArgs,
    namespace_flag: Option<&str>,
    for_pods: bool,
    env: &Environment,
) -> Result<Resolved, SourceError> {
    let overrides = Overrides {
        context: given(&args.context),
        cluster: given(&args.cluster),
        user: given(&args.user),
        server: given(&args.server),
        token: given(&args.token),
        certificate_authority: given(&args.certificate_authority),
        client_certificate: given(&args.client_certificate),
        client_key: given(&args.client_key),
        tls_server_name: given(&args.tls_server_name),
        insecure: args.insecure_skip_tls_verify,
        namespace: namespace_flag.filter(|n| !n.is_empty()),
    };
    let raw = load(args, env)?;
    let chosen = Chosen::new(&raw, &overrides, env);

    if for_pods && overrides.namespace.is_none() {
        // kubectl top pod asks for the namespace first, which validates.
        chosen.confirm_usable()?;
        chosen.required_context()?;
    }
    chosen.required_user()?;
    chosen.required_context()?;
    chosen.required_cluster()?;
    chosen.confirm_usable()?;
    let timeout = parse_timeout(&args.request_timeout)?;
    let namespace = chosen.namespace(&overrides, env);

    let (cluster, auth) = if chosen.is_default() && env.in_cluster.is_some() {
        in_cluster(&overrides, env)?
    } else {
        chosen.for_kube()?
    };
    let config = kube_config(cluster, auth, &namespace).await?;
    Ok(Resolved {
        config,
        timeout,
        namespace,
    })
}

/// Loads and merges the kubeconfig files kubectl would read.
fn load(args: &KubeArgs, env: &Environment) -> Result<Kubeconfig, SourceError> {
    let files: Vec<PathBuf> = if let Some(path) = given(&args.kubeconfig) {
        if let Err(error) = std::fs::metadata(path)
            && error.kind() == io::ErrorKind::NotFound
        {
            return Err(SourceError::Other(format!(
                "stat {path}: {}",
                go_io_text(&error)
            )));
        }
        vec![PathBuf::from(path)]
    } else {
        let list = env.kubeconfig_list();
        if list.is_empty() {
            env.default_kubeconfig().into_iter().collect()
        } else {
            list
        }
    };
    let mut merged = Kubeconfig::default();
    for path in files {
        let config = match odd_utf16(&path).map_or_else(|| Kubeconfig::read_from(&path), Err) {
            Ok(config) => config,
            Err(KubeconfigError::ReadConfig(error, _))
                if error.kind() == io::ErrorKind::NotFound =>
            {
                continue;
            }
            Err(error) => return Err(load_error(&path, &error)),
        };
        merged = merge(merged, config);
    }
    Ok(merged)
}

/// kube (5.0) decodes a file that starts with a UTF-16 byte-order mark by
/// pairs of bytes and panics on an odd count (found by `fuzz/`, target
/// `kubeconfig`); such a file is refused here first, with the error kube
/// gives for invalid UTF-16.
fn odd_utf16(path: &Path) -> Option<KubeconfigError> {
    let bytes = std::fs::read(path).ok()?;
    let order = match bytes.get(..2)? {
        [0xFF, 0xFE] => "LE",
        [0xFE, 0xFF] => "BE",
        _ => return None,
    };
    (bytes.len() % 2 == 1).then(|| {
        KubeconfigError::ReadConfig(
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("Invalid UTF-16 {order}"),
            ),
            path.to_path_buf(),
        )
    })
}

fn load_error(path: &Path, error: &KubeconfigError) -> SourceError {
    let detail = match error {
        KubeconfigError::ReadConfig(io, _) => {
            format!("open {}: {}", path.display(), go_io_text(io))
        }
        other => other.to_string(),
    };
    SourceError::Other(format!(
        "error loading config file {}: {detail}",
        GoQuoted(&path.display().to_string())
    ))
}

/// clientcmd's merge: the first file to name a cluster, user or context
/// wins, and the first non-empty `current-context`.
fn merge(mut into: Kubeconfig, next: Kubeconfig) -> Kubeconfig {
    fn add<T>(into: &mut Vec<T>, next: Vec<T>, name: impl Fn(&T) -> &str) {
        for item in next {
            if !into.iter().any(|known| name(known) == name(&item)) {
                into.push(item);
            }
        }
    }
    add(&mut into.clusters, next.clusters, |c| &c.name);
    add(&mut into.auth_infos, next.auth_infos, |a| &a.name);
    add(&mut into.contexts, next.contexts, |c| &c.name);
    if into.current_context.as_deref().is_none_or(str::is_empty) {
        into.current_context = next.current_context;
    }
    into
}

/// The context, cluster and user chosen from a kubeconfig and the flags.
struct Chosen<'a> {
    overrides: &'a Overrides<'a>,
    context_name: String,
    context: Option<Context>,
    cluster_name: String,
    cluster_found: bool,
    cluster: Cluster,
    user_name: String,
    user_found: bool,
    user: AuthInfo,
}

impl<'a> Chosen<'a> {
    fn new(raw: &Kubeconfig, overrides: &'a Overrides<'a>, env: &Environment) -> Self {
        let context_name = overrides
            .context
            .map(str::to_owned)
            .or_else(|| raw.current_context.clone())
            .unwrap_or_default();
        let context = raw
            .contexts
            .iter()
            .find(|c| c.name == context_name)
            .map(|c| c.context.clone().unwrap_or_default());
        let cluster_name = overrides
            .cluster
            .map(str::to_owned)
            .or_else(|| context.as_ref().map(|c| c.cluster.clone()))
            .unwrap_or_default();
        let file_cluster = raw
            .clusters
            .iter()
            .find(|c| c.name == cluster_name)
            .map(|c| c.cluster.clone().unwrap_or_default());
        let user_name = overrides
            .user
            .map(str::to_owned)
            .or_else(|| context.as_ref().and_then(|c| c.user.clone()))
            .unwrap_or_default();
        let file_user = raw
            .auth_infos
            .iter()
            .find(|u| u.name == user_name)
            .map(|u| u.auth_info.clone().unwrap_or_default());

        // Cluster: defaults, then the file, then the flags.
        let mut cluster = Cluster {
            server: Some(
                env.kubernetes_master
                    .clone()
                    .unwrap_or_else(|| DEFAULT_SERVER.to_owned()),
            ),
            ..Cluster::default()
        };
        if let Some(file) = &file_cluster {
            let mut file = file.clone();
            if file.server.as_deref().is_none_or(str::is_empty) {
                file.server = cluster.server.take();
            }
            cluster = file;
        }
        if let Some(server) = overrides.server {
            cluster.server = Some(server.to_owned());
        }
        if overrides.insecure || overrides.certificate_authority.is_some() {
            cluster.insecure_skip_tls_verify = Some(overrides.insecure);
            cluster.certificate_authority = overrides.certificate_authority.map(str::to_owned);
            cluster.certificate_authority_data = None;
        }
        if overrides.tls_server_name.is_some() || overrides.server.is_some() {
            cluster.tls_server_name = overrides.tls_server_name.map(str::to_owned);
        }

        // User: the file, then the flags.
        let mut user = file_user.clone().unwrap_or_default();
        if let Some(token) = overrides.token {
            user.token = Some(SecretString::from(token.to_owned()));
        }
        if overrides.client_certificate.is_some() {
            user.client_certificate = overrides.client_certificate.map(str::to_owned);
            user.client_certificate_data = None;
        }
        if overrides.client_key.is_some() {
            user.client_key = overrides.client_key.map(str::to_owned);
            user.client_key_data = None;
        }

        Self {
            overrides,
            context_name,
            context,
            cluster_name,
            cluster_found: file_cluster.is_some(),
            cluster,
            user_name,
            user_found: file_user.is_some(),
            user,
        }
    }

    fn required_context(&self) -> Result<(), SourceError> {
        match self.overrides.context {
            Some(name) if self.context.is_none() => Err(SourceError::Other(format!(
                "context {} does not exist",
                GoQuoted(name)
            ))),
            _ => Ok(()),
        }
    }

    fn required_cluster(&self) -> Result<(), SourceError> {
        match self.overrides.cluster {
            Some(name) if !self.cluster_found => Err(SourceError::Other(format!(
                "cluster {} does not exist",
                GoQuoted(name)
            ))),
            _ => Ok(()),
        }
    }

    fn required_user(&self) -> Result<(), SourceError> {
        match self.overrides.user {
            Some(name) if !self.user_found => Err(SourceError::Other(format!(
                "auth info {} does not exist",
                GoQuoted(name)
            ))),
            _ => Ok(()),
        }
    }

    /// clientcmd's `ConfirmUsable`, printed as kubectl's `CheckErr` prints
    /// it: one error plainly (a missing context as a configuration error),
    /// several as a list.
    fn confirm_usable(&self) -> Result<(), SourceError> {
        let mut errors: Vec<String> = Vec::new();
        let context_missing = !self.context_name.is_empty() && self.context.is_none();
        if context_missing {
            errors.push(format!(
                "context was not found for specified context: {}",
                self.context_name
            ));
        }
        errors.extend(validate_user(&self.user_name, &self.user));
        errors.extend(validate_cluster(&self.cluster_name, &self.cluster));
        match errors.as_slice() {
            [] => Ok(()),
            [only] if context_missing => Err(SourceError::Verbatim(format!(
                "Error in configuration: {only}"
            ))),
            [only] => Err(SourceError::Other(only.clone())),
            many => {
                let mut text = String::from("Error in configuration: ");
                for error in many {
                    text.push_str("\n* ");
                    text.push_str(error);
                }
                Err(SourceError::Verbatim(text))
            }
        }
    }

    /// Whether the kubeconfig contributed nothing to the connection, so
    /// that kubectl would try the in-cluster configuration.
    fn is_default(&self) -> bool {
        let contributed =
            self.cluster_found || (self.user_found && is_tls(&server_url(&self.cluster)));
        !contributed
    }

    /// `-n`, else the context's namespace, else the pod's (in a cluster),
    /// else `default`.
    fn namespace(&self, overrides: &Overrides<'_>, env: &Environment) -> String {
        if let Some(namespace) = overrides.namespace {
            return namespace.to_owned();
        }
        let from_context = self
            .context
            .as_ref()
            .and_then(|c| c.namespace.clone())
            .filter(|n| !n.is_empty());
        match from_context {
            Some(namespace) => namespace,
            None if env.in_cluster.is_some() => in_cluster_namespace(env),
            None => "default".to_owned(),
        }
    }

    /// The cluster and user for kube: no credentials and no server
    /// certificates for plain HTTP, as clientcmd reads them only "if we are
    /// secure".
    fn for_kube(&self) -> Result<(Cluster, AuthInfo), SourceError> {
        let url = server_url(&self.cluster);
        if !is_tls(&url) {
            let cluster = Cluster {
                server: Some(url),
                ..Cluster::default()
            };
            return Ok((cluster, AuthInfo::default()));
        }
        let mut cluster = self.cluster.clone();
        cluster.server = Some(url);
        if cluster.insecure_skip_tls_verify == Some(true)
            && (cluster.certificate_authority.is_some()
                || cluster.certificate_authority_data.is_some())
        {
            return Err(SourceError::Other(
                "specifying a root certificates file with the insecure flag is not allowed"
                    .to_owned(),
            ));
        }
        let mut user = self.user.clone();
        // A token wins over a token file, which is read now.
        if user
            .token
            .as_ref()
            .is_some_and(|t| !t.expose_secret().is_empty())
        {
            user.token_file = None;
        } else if let Some(file) = user.token_file.clone().filter(|f| !f.is_empty()) {
            let token = std::fs::read_to_string(&file)
                .map_err(|e| SourceError::Other(format!("open {file}: {}", go_io_text(&e))))?;
            // client-go's file token source trims the file's content.
            user.token = Some(SecretString::from(token.trim().to_owned()));
        }
        if let Some(token) = &user.token
            && !valid_header_value(token.expose_secret())
        {
            return Err(SourceError::Verbatim(
                "Unable to connect to the server: net/http: invalid header field value for \"Authorization\""
                    .to_owned(),
            ));
        }
        if !can_identify(&user) {
            let (username, password) = prompt_credentials()?;
            user.username = Some(username);
            user.password = Some(SecretString::from(password));
        }
        Ok((cluster, user))
    }
}

/// Whether `Bearer TOKEN` is a valid HTTP header value (Go refuses to send
/// one that is not; kube would panic).
fn valid_header_value(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b == b'\t' || (b' '..=b'~').contains(&b) || b >= 0x80)
}

/// clientcmd's `validateAuthInfo`, the checks a kubeconfig can fail.
fn validate_user(name: &str, user: &AuthInfo) -> Vec<String> {
    let mut errors = Vec::new();
    let mut methods = Vec::new();
    if user
        .token
        .as_ref()
        .is_some_and(|t| !t.expose_secret().is_empty())
    {
        methods.push("token");
    }
    if user.username.as_deref().is_some_and(|u| !u.is_empty())
        || user
            .password
            .as_ref()
            .is_some_and(|p| !p.expose_secret().is_empty())
    {
        methods.push("basicAuth");
    }
    let cert_file = user.client_certificate.as_deref().filter(|f| !f.is_empty());
    let cert_data = user
        .client_certificate_data
        .as_deref()
        .filter(|d| !d.is_empty());
    let key_file = user.client_key.as_deref().filter(|f| !f.is_empty());
    let key_data = user
        .client_key_data
        .as_ref()
        .is_some_and(|d| !d.expose_secret().is_empty());
    if cert_file.is_some() || cert_data.is_some() {
        if cert_file.is_some() && cert_data.is_some() {
            errors.push(format!("client-cert-data and client-cert are both specified for {name}. client-cert-data will override."));
        }
        if key_file.is_some() && key_data {
            errors.push(format!("client-key-data and client-key are both specified for {name}; client-key-data will override"));
        }
        if key_file.is_none() && !key_data {
            errors.push(format!("client-key-data or client-key must be specified for {name} to use the clientCert authentication method."));
        }
        if let Some(file) = cert_file
            && let Err(error) = std::fs::File::open(file)
        {
            errors.push(format!(
                "unable to read client-cert {file} for {name} due to open {file}: {}",
                go_io_text(&error)
            ));
        }
        if let Some(file) = key_file
            && let Err(error) = std::fs::File::open(file)
        {
            errors.push(format!(
                "unable to read client-key {file} for {name} due to open {file}: {}",
                go_io_text(&error)
            ));
        }
    }
    if let Some(exec) = &user.exec {
        if user.auth_provider.is_some() {
            errors.push(format!(
                "authProvider cannot be provided in combination with an exec plugin for {name}"
            ));
        }
        if exec.command.as_deref().is_none_or(str::is_empty) {
            errors.push(format!(
                "command must be specified for {name} to use exec authentication plugin"
            ));
        }
        if exec.api_version.as_deref().is_none_or(str::is_empty) {
            errors.push(format!(
                "apiVersion must be specified for {name} to use exec authentication plugin"
            ));
        }
    }
    if methods.len() > 1 {
        errors.push(format!(
            "more than one authentication method found for {name}; found [{}], only one is allowed",
            methods.join(" ")
        ));
    }
    errors
}

/// clientcmd's `validateClusterInfo`.
fn validate_cluster(name: &str, cluster: &Cluster) -> Vec<String> {
    let mut errors = Vec::new();
    let ca_file = cluster
        .certificate_authority
        .as_deref()
        .filter(|f| !f.is_empty());
    let ca_data = cluster
        .certificate_authority_data
        .as_deref()
        .is_some_and(|d| !d.is_empty());
    if ca_file.is_some() && ca_data {
        errors.push(format!("certificate-authority-data and certificate-authority are both specified for {name}. certificate-authority-data will override."));
    }
    if let Some(file) = ca_file
        && let Err(error) = std::fs::File::open(file)
    {
        errors.push(format!(
            "unable to read certificate-authority {file} for {name} due to open {file}: {}",
            go_io_text(&error)
        ));
    }
    errors
}

/// client-go's `canIdentifyUser`.
fn can_identify(user: &AuthInfo) -> bool {
    user.username.as_deref().is_some_and(|u| !u.is_empty())
        || user
            .client_certificate
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        || user
            .client_certificate_data
            .as_deref()
            .is_some_and(|c| !c.is_empty())
        || user
            .token
            .as_ref()
            .is_some_and(|t| !t.expose_secret().is_empty())
        || user.auth_provider.is_some()
        || user.exec.is_some()
}

/// What kubectl does when a TLS server is configured without credentials:
/// it asks on the terminal. The user name is read like Go's `fmt.Fscan`
/// (one word); the password only from a terminal, without echo.
fn prompt_credentials() -> Result<(String, String), SourceError> {
    let mut stdout = io::stdout();
    let _ = write!(stdout, "Please enter Username: ");
    let _ = stdout.flush();
    let username = read_word().map_err(SourceError::Other)?;
    let _ = write!(stdout, "Please enter Password: ");
    let _ = stdout.flush();
    let stdin = io::stdin();
    if !stdin.is_terminal() {
        return Err(SourceError::Other(
            "error reading input for Password".to_owned(),
        ));
    }
    let password = read_password().map_err(|e| SourceError::Other(go_io_text(&e)))?;
    Ok((username, password))
}

/// One whitespace-separated word from stdin; `EOF` when there is none.
fn read_word() -> Result<String, String> {
    let stdin = io::stdin();
    let mut lock = stdin.lock();
    let mut word = String::new();
    loop {
        let buffer = lock.fill_buf().map_err(|e| go_io_text(&e))?;
        if buffer.is_empty() {
            return if word.is_empty() {
                Err("EOF".to_owned())
            } else {
                Ok(word)
            };
        }
        let mut used = 0;
        let mut done = false;
        for &byte in buffer {
            used += 1;
            if byte.is_ascii_whitespace() {
                if !word.is_empty() {
                    done = true;
                    break;
                }
            } else {
                word.push(char::from(byte));
            }
        }
        lock.consume(used);
        if done {
            return Ok(word);
        }
    }
}

/// A line from the terminal with echo off.
fn read_password() -> io::Result<String> {
    use rustix::termios::{self, LocalModes, OptionalActions};
    let stdin = io::stdin();
    let original = termios::tcgetattr(&stdin)?;
    let mut silent = original.clone();
    silent.local_modes.remove(LocalModes::ECHO);
    termios::tcsetattr(&stdin, OptionalActions::Now, &silent)?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let restored = termios::tcsetattr(&stdin, OptionalActions::Now, &original);
    println!();
    read?;
    restored?;
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// The server URL as client-go completes it: without a scheme it is
/// `http://`.
fn server_url(cluster: &Cluster) -> String {
    let server = cluster.server.clone().unwrap_or_default();
    match server.split_once("://") {
        Some((scheme, rest))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                && !rest.is_empty() =>
        {
            server
        }
        _ => format!("http://{server}"),
    }
}

fn is_tls(url: &str) -> bool {
    url.to_ascii_lowercase().starts_with("https://")
}

impl KubeArgs {
    /// kubectl's check of `--request-timeout`, for the local mode, which
    /// makes no request but takes the flag: a value kubectl refuses is
    /// refused here too, with its message.
    pub fn check_request_timeout(&self) -> Result<(), SourceError> {
        parse_timeout(&self.request_timeout).map(|_| ())
    }
}

/// kubectl's `ParseTimeout`: whole seconds, or a Go duration.
fn parse_timeout(text: &str) -> Result<Option<Duration>, SourceError> {
    // An empty value is no override at all.
    if text.is_empty() {
        return Ok(None);
    }
    if let Ok(seconds) = text.parse::<i64>()
        && seconds >= 0
    {
        return Ok(Some(Duration::from_secs(seconds.unsigned_abs())).filter(|d| !d.is_zero()));
    }
    if let Ok(duration) = text.parse::<GoDuration>() {
        return Ok(Some(duration.0).filter(|d| !d.is_zero()));
    }
    // A negative Go duration parses in kubectl and means no timeout.
    if let Some(positive) = text.strip_prefix('-')
        && positive.parse::<GoDuration>().is_ok()
    {
        return Ok(None);
    }
    Err(SourceError::Other(
        "Invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)".to_owned(),
    ))
}

/// client-go's in-cluster configuration, with the flags that may override
/// it (server, token, certificate authority).
fn in_cluster(
    overrides: &Overrides<'_>,
    env: &Environment,
) -> Result<(Cluster, AuthInfo), SourceError> {
    let Some((host, port)) = &env.in_cluster else {
        return Err(SourceError::Other("unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined".to_owned()));
    };
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host.clone()
    };
    let server = overrides
        .server
        .map_or_else(|| format!("https://{host}:{port}"), str::to_owned);
    let token_file = env.service_account.join("token");
    let mut user = AuthInfo::default();
    if let Some(token) = overrides.token {
        user.token = Some(SecretString::from(token.to_owned()));
    } else {
        // Read now, as client-go does, so a missing token fails here; kube
        // re-reads the file as it rotates.
        std::fs::read(&token_file).map_err(|e| {
            SourceError::Other(format!("open {}: {}", token_file.display(), go_io_text(&e)))
        })?;
        user.token_file = Some(token_file.display().to_string());
    }
    let ca = match overrides.certificate_authority {
        Some(ca) => Some(ca.to_owned()),
        None => {
            let ca = env.service_account.join("ca.crt");
            if ca.is_file() {
                Some(ca.display().to_string())
            } else {
                tracing::error!(file = %ca.display(), "Expected to load root CA config, but it is missing");
                None
            }
        }
    };
    let cluster = Cluster {
        server: Some(server),
        certificate_authority: ca,
        ..Cluster::default()
    };
    Ok((cluster, user))
}

fn in_cluster_namespace(env: &Environment) -> String {
    if let Some(namespace) = &env.pod_namespace {
        return namespace.clone();
    }
    std::fs::read_to_string(env.service_account.join("namespace"))
        .ok()
        .map(|text| text.trim().to_owned())
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| "default".to_owned())
}

/// kube's configuration for one cluster and user. Its own retries and
/// timeouts are off: the request loop is client-go's (see `transport`).
async fn kube_config(
    cluster: Cluster,
    user: AuthInfo,
    namespace: &str,
) -> Result<kube::Config, SourceError> {
    let has_ca =
        cluster.certificate_authority.is_some() || cluster.certificate_authority_data.is_some();
    // The file, when it is what the certificates come from (data wins).
    let ca_file = cluster
        .certificate_authority
        .clone()
        .filter(|_| cluster.certificate_authority_data.is_none());
    let ca_error = move || {
        let text = ca_file
            .as_ref()
            .and_then(|file| std::fs::read(file).ok())
            .map_or_else(
                || "no valid certificate authority data seen".to_owned(),
                |pem| ca_parse_error(&pem),
            );
        SourceError::Other(format!("unable to load root certificates: {text}"))
    };
    let kubeconfig = Kubeconfig {
        clusters: vec![NamedCluster {
            name: RESOLVED.to_owned(),
            cluster: Some(cluster),
            ..NamedCluster::default()
        }],
        auth_infos: vec![NamedAuthInfo {
            name: RESOLVED.to_owned(),
            auth_info: Some(user),
            ..NamedAuthInfo::default()
        }],
        contexts: vec![NamedContext {
            name: RESOLVED.to_owned(),
            context: Some(Context {
                cluster: RESOLVED.to_owned(),
                user: Some(RESOLVED.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..Context::default()
            }),
            ..NamedContext::default()
        }],
        current_context: Some(RESOLVED.to_owned()),
        ..Kubeconfig::default()
    };
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|error| match error {
                KubeconfigError::ParseCertificates(_) => ca_error(),
                KubeconfigError::ParseClusterUrl(e) => SourceError::Other(e.to_string()),
                other => SourceError::Other(other.to_string()),
            })?;
    if has_ca && config.root_cert.as_ref().is_none_or(Vec::is_empty) {
        return Err(ca_error());
    }
    config.read_timeout = None;
    config.write_timeout = None;
    config.default_retry = false;
    config.proxy_url = None;
    Ok(config)
}

/// client-go's account of CA data without a usable certificate: it walks
/// the PEM blocks as Go's `pem.Decode` finds them.
fn ca_parse_error(pem: &[u8]) -> String {
    let text = String::from_utf8_lossy(pem);
    let mut rest: &str = &text;
    while !rest.is_empty() {
        let Some(begin) = rest.find("-----BEGIN ") else {
            return "unable to parse bytes as PEM block".to_owned();
        };
        let after = &rest[begin + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            return "unable to parse bytes as PEM block".to_owned();
        };
        let label = &after[..label_end];
        let end_line = format!("-----END {label}-----");
        let Some(end) = after.find(&end_line) else {
            return "unable to parse bytes as PEM block".to_owned();
        };
        let body = &after[label_end + 5..end];
        let has_headers = body.contains(':');
        if label == "CERTIFICATE" && !has_headers {
            // A certificate block that did not load is malformed.
            return "failed to parse certificate: x509: malformed certificate".to_owned();
        }
        rest = &after[end + end_line.len()..];
        rest = rest
            .strip_prefix("\r\n")
            .or_else(|| rest.strip_prefix('\n'))
            .unwrap_or(rest);
    }
    "no valid certificate authority data seen".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_odd_length_utf16_kubeconfig_is_an_error_not_a_panic() {
        // The input `fuzz/` found (target kubeconfig): a UTF-16 LE mark and
        // three more bytes; kube 5.0 panics on it.
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in [
            ("le", &[0xFF, 0xFE, b'a', b'a', b'z'][..]),
            ("be", &[0xFE, 0xFF, b'a']),
        ] {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            let args = KubeArgs {
                kubeconfig: Some(path.to_string_lossy().into_owned()),
                ..KubeArgs::default()
            };
            let error = load(&args, &Environment::default())
                .unwrap_err()
                .to_string();
            assert!(
                error.contains(&format!("open {}", path.display())) && error.contains("UTF-16"),
                "{error}"
            );
        }
    }

    // What client-go said about these files (kubectl.1.27 and 1.33).
    #[test]
    fn unusable_ca_files() {
        assert_eq!(
            ca_parse_error(b"not a certificate\n"),
            "unable to parse bytes as PEM block"
        );
        assert_eq!(
            ca_parse_error(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
            "no valid certificate authority data seen"
        );
        assert_eq!(
            ca_parse_error(b""),
            "no valid certificate authority data seen"
        );
    }

    #[test]
    fn timeouts_parse_like_kubectl() {
        assert_eq!(parse_timeout("0").unwrap(), None);
        assert_eq!(parse_timeout("").unwrap(), None);
        assert_eq!(parse_timeout("5").unwrap(), Some(Duration::from_secs(5)));
        assert_eq!(
            parse_timeout("1m30s").unwrap(),
            Some(Duration::from_secs(90))
        );
        assert_eq!(
            parse_timeout("500ms").unwrap(),
            Some(Duration::from_millis(500))
        );
        assert_eq!(parse_timeout("-1s").unwrap(), None);
        assert!(parse_timeout("x").unwrap_err().to_string().starts_with(
            "error: Invalid timeout value. Timeout must be a single integer in seconds"
        ));
        assert!(parse_timeout("-5").is_err());
    }

    #[test]
    fn servers_without_a_scheme_are_http() {
        let cluster = |server: &str| Cluster {
            server: Some(server.to_owned()),
            ..Cluster::default()
        };
        assert_eq!(
            server_url(&cluster("127.0.0.1:8080")),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            server_url(&cluster("localhost:8080")),
            "http://localhost:8080"
        );
        assert_eq!(server_url(&cluster("https://h:6443")), "https://h:6443");
        assert!(is_tls("HTTPS://h"));
    }

    #[test]
    fn os_errors_read_like_go() {
        let error = io::Error::from_raw_os_error(2);
        assert_eq!(go_io_text(&error), "no such file or directory");
        let error = io::Error::from_raw_os_error(13);
        assert_eq!(go_io_text(&error), "permission denied");
    }

    #[test]
    fn merging_keeps_the_first_definition() {
        let first = Kubeconfig::from_yaml(
            "clusters:\n- name: a\n  cluster:\n    server: http://one\ncurrent-context: x\n",
        )
        .unwrap();
        let second = Kubeconfig::from_yaml(
            "clusters:\n- name: a\n  cluster:\n    server: http://two\n- name: b\n  cluster:\n    server: http://three\ncurrent-context: y\n",
        )
        .unwrap();
        let merged = merge(merge(Kubeconfig::default(), first), second);
        assert_eq!(merged.clusters.len(), 2);
        assert_eq!(
            merged.clusters[0]
                .cluster
                .as_ref()
                .unwrap()
                .server
                .as_deref(),
            Some("http://one")
        );
        assert_eq!(merged.current_context.as_deref(), Some("x"));
    }

    fn resolve_now(args: &KubeArgs, namespace: Option<&str>, env: &Environment) -> Resolved {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(resolve(args, namespace, true, env))
            .unwrap()
    }

    #[test]
    fn in_a_pod_the_service_account_is_used() {
        let account = tempfile::tempdir().unwrap();
        std::fs::write(account.path().join("token"), "sa-token").unwrap();
        std::fs::write(account.path().join("namespace"), "monitoring\n").unwrap();
        let env = Environment {
            in_cluster: Some(("fd00::1".into(), "443".into())),
            service_account: account.path().to_owned(),
            ..Environment::default()
        };
        let resolved = resolve_now(&KubeArgs::default(), None, &env);
        assert_eq!(
            resolved.config.cluster_url.to_string(),
            "https://[fd00::1]:443/"
        );
        assert_eq!(resolved.namespace, "monitoring");
        assert_eq!(
            resolved.config.auth_info.token_file.as_deref(),
            Some(account.path().join("token").to_str().unwrap())
        );
        // The downward API's POD_NAMESPACE comes first; -n before both.
        let env = Environment {
            pod_namespace: Some("from-env".into()),
            ..env
        };
        assert_eq!(
            resolve_now(&KubeArgs::default(), None, &env).namespace,
            "from-env"
        );
        assert_eq!(
            resolve_now(&KubeArgs::default(), Some("x"), &env).namespace,
            "x"
        );
        // --server and --token override the pod's.
        let args = KubeArgs {
            server: Some("https://10.0.0.9:6443".into()),
            token: Some("t".into()),
            ..KubeArgs::default()
        };
        let resolved = resolve_now(&args, None, &env);
        assert_eq!(
            resolved.config.cluster_url.to_string(),
            "https://10.0.0.9:6443/"
        );
        assert_eq!(resolved.config.auth_info.token_file, None);
    }

    #[test]
    fn remote_mode_needs_a_reason() {
        let nothing = Environment::default();
        assert!(!remote_wanted(&KubeArgs::default(), &nothing));
        let with_file = KubeArgs {
            kubeconfig: Some("/x".into()),
            ..KubeArgs::default()
        };
        assert!(remote_wanted(&with_file, &nothing));
        let forced_local = KubeArgs {
            local: true,
            ..with_file
        };
        assert!(!remote_wanted(&forced_local, &nothing));
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("a");
        let present = dir.path().join("b");
        let list = |paths: &[&Path]| Environment {
            kubeconfig: Some(std::env::join_paths(paths).unwrap()),
            ..Environment::default()
        };
        assert!(!remote_wanted(
            &KubeArgs::default(),
            &list(&[&missing, &present])
        ));
        std::fs::write(&present, "").unwrap();
        assert!(remote_wanted(
            &KubeArgs::default(),
            &list(&[&missing, &present])
        ));
        let home = Environment {
            home: Some(dir.path().to_owned()),
            ..Environment::default()
        };
        assert!(!remote_wanted(&KubeArgs::default(), &home));
        std::fs::create_dir(dir.path().join(".kube")).unwrap();
        std::fs::write(dir.path().join(".kube/config"), "").unwrap();
        assert!(remote_wanted(&KubeArgs::default(), &home));
        let pod = Environment {
            in_cluster: Some(("10.0.0.1".into(), "443".into())),
            ..Environment::default()
        };
        assert!(remote_wanted(&KubeArgs::default(), &pod));
    }
}

//! The nodes to scrape: name and base URL of each agent or kubelet.
//!
//! In standalone mode they come from `--node NAME=URL` flags
//! ([`NodeSpec::parse_flag`]) and `--nodes-file` ([`parse_nodes_file`]).
//! In Kubernetes mode the nodes come from the API server instead
//! ([`crate::cluster`]).
//!
//! Everything is checked up front, so a typo fails the start with a message
//! naming the flag or line and showing the expected form, instead of
//! turning into a node that silently never scrapes:
//!
//! - a node name is a lowercase RFC 1123 DNS subdomain of at most 253
//!   characters, as Kubernetes requires of `Node` names;
//! - a URL is `http://` or `https://`, a host (name, IPv4, or IPv6 in
//!   brackets) and an optional port, nothing else: no user info (the token
//!   goes in the token file), no query, no fragment, and no path other than
//!   a trailing `/`, which is dropped — the server appends the kubelet paths
//!   (`/metrics/resource`, `/pods`, …) itself, so a path would be a mistake
//!   such as pasting a full metrics URL;
//! - node labels in a nodes file are validated as the API server validates
//!   labels (an optional DNS-subdomain prefix and `/`, a name of at most 63
//!   characters; values of at most 63 characters, possibly empty).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use thiserror::Error;
use workingset_model::selector::{label_key_problems, label_value_problems};

/// One node as the operator declared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    /// The node's name, as it appears in the Metrics API.
    pub name: String,
    /// Base URL of its agent or kubelet: `http(s)://host:port`, no path.
    pub url: String,
    /// Labels the operator gave the node, on top of the kubelet's own
    /// well-known labels (`kubernetes.io/hostname`, `kubernetes.io/os`, ...).
    pub labels: BTreeMap<String, String>,
}

/// The form `--node` expects, shown in every flag error.
const FLAG_FORM: &str = "--node NAME=URL, e.g. --node node-1=https://10.0.0.5:10250";
/// The form a nodes-file line takes, shown in every file error.
const LINE_FORM: &str = "NAME=URL [LABEL=VALUE ...], e.g. node-1=https://10.0.0.5:10250 topology.kubernetes.io/zone=eu-1a";

/// The longest node name (a DNS subdomain).
const MAX_NODE_NAME: usize = 253;

/// What is wrong with one `NAME=URL` (and its labels).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum SpecProblem {
    /// There is no `=` between a name and a URL.
    #[error("{given:?} is not NAME=URL")]
    NotNameEqualsUrl {
        /// The text as given.
        given: String,
    },
    /// The node name is not a valid Kubernetes node name.
    #[error("node name {name:?} {reason}")]
    Name {
        /// The name as given.
        name: String,
        /// Which rule it breaks.
        reason: &'static str,
    },
    /// The URL is not a base URL of an agent or kubelet.
    #[error("URL {url:?} {reason}")]
    Url {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A node label is not `key=value`, or its key or value is invalid.
    #[error("label {label:?}: {reason}")]
    Label {
        /// The `key=value` token as given.
        label: String,
        /// What is wrong with it.
        reason: String,
    },
}

/// The node list cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum TargetError {
    /// A `--node` value is invalid.
    #[error("invalid --node value: {problem}; expected {FLAG_FORM}")]
    Flag {
        /// What is wrong.
        problem: SpecProblem,
    },
    /// A line of the nodes file is invalid.
    #[error("nodes file line {line}: {problem}; expected {LINE_FORM}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        problem: SpecProblem,
    },
    /// Two lines of the nodes file declare the same node.
    #[error(
        "nodes file line {line}: node {name:?} is already declared on line {first_line}; each node may appear once"
    )]
    DuplicateNode {
        /// The node's name.
        name: String,
        /// Where it was declared first.
        first_line: usize,
        /// Where it was declared again.
        line: usize,
    },
}

impl NodeSpec {
    /// Parses one `--node NAME=URL` value (no labels).
    ///
    /// ```
    /// use workingset_server::target::NodeSpec;
    ///
    /// let spec = NodeSpec::parse_flag("node-1=https://10.0.0.5:10250/")?;
    /// assert_eq!((spec.name.as_str(), spec.url.as_str()), ("node-1", "https://10.0.0.5:10250"));
    /// assert!(NodeSpec::parse_flag("node-1=10.0.0.5:10250").is_err());
    /// # Ok::<(), workingset_server::target::TargetError>(())
    /// ```
    pub fn parse_flag(text: &str) -> Result<NodeSpec, TargetError> {
        parse_name_and_url(text).map_err(|problem| TargetError::Flag { problem })
    }
}

/// Parses a nodes file: one node per line, `NAME=URL` followed by optional
/// whitespace-separated `key=value` node labels. Blank lines and comments
/// (a `#` at the start of a line or of a word) are ignored. A node declared
/// twice is an error, as is a label key given twice on one line.
pub fn parse_nodes_file(text: &str) -> Result<Vec<NodeSpec>, TargetError> {
    let mut specs = Vec::new();
    let mut declared: HashMap<String, usize> = HashMap::new();
    for (index, raw_line) in text.lines().enumerate() {
        let line = index + 1;
        let mut words = raw_line
            .split_whitespace()
            .take_while(|word| !word.starts_with('#'));
        let Some(first) = words.next() else {
            continue;
        };
        let at_line = |problem| TargetError::Line { line, problem };
        let mut spec = parse_name_and_url(first).map_err(at_line)?;
        for word in words {
            let (key, value) = parse_label(word).map_err(at_line)?;
            if spec.labels.contains_key(key) {
                return Err(at_line(SpecProblem::Label {
                    label: word.to_owned(),
                    reason: format!("key {key:?} is given twice"),
                }));
            }
            spec.labels.insert(key.to_owned(), value.to_owned());
        }
        if let Some(&first_line) = declared.get(&spec.name) {
            return Err(TargetError::DuplicateNode {
                name: spec.name,
                first_line,
                line,
            });
        }
        declared.insert(spec.name.clone(), line);
        specs.push(spec);
    }
    Ok(specs)
}

fn parse_name_and_url(text: &str) -> Result<NodeSpec, SpecProblem> {
    let Some((name, url)) = text.split_once('=') else {
        return Err(SpecProblem::NotNameEqualsUrl {
            given: text.to_owned(),
        });
    };
    if let Some(reason) = node_name_problem(name) {
        return Err(SpecProblem::Name {
            name: name.to_owned(),
            reason,
        });
    }
    let url = base_url(url).map_err(|reason| SpecProblem::Url {
        url: url.to_owned(),
        reason,
    })?;
    Ok(NodeSpec {
        name: name.to_owned(),
        url,
        labels: BTreeMap::new(),
    })
}

fn parse_label(word: &str) -> Result<(&str, &str), SpecProblem> {
    let problem = |reason: String| SpecProblem::Label {
        label: word.to_owned(),
        reason,
    };
    let Some((key, value)) = word.split_once('=') else {
        return Err(problem("expected key=value".to_owned()));
    };
    let key_problems = label_key_problems(key);
    if !key_problems.is_empty() {
        return Err(problem(format!("key {key:?}: {}", joined(&key_problems))));
    }
    let value_problems = label_value_problems(value);
    if !value_problems.is_empty() {
        return Err(problem(format!(
            "value {value:?}: {}",
            joined(&value_problems)
        )));
    }
    Ok((key, value))
}

fn joined<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Why `name` is not a valid node name, if it is not.
fn node_name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.len() > MAX_NODE_NAME {
        Some("is longer than 253 characters")
    } else if !is_dns_subdomain(name) {
        Some(
            "is not a lowercase RFC 1123 subdomain: lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
        )
    } else {
        None
    }
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`.
fn is_dns_subdomain(text: &str) -> bool {
    let is_end = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    text.split('.').all(|label| {
        let bytes = label.as_bytes();
        match (bytes.first(), bytes.last()) {
            (Some(first), Some(last)) => {
                is_end(first) && is_end(last) && bytes.iter().all(|b| is_end(b) || *b == b'-')
            }
            _ => false,
        }
    })
}

/// `url` as `scheme://host[:port]`, or why it is not a base URL.
fn base_url(url: &str) -> Result<String, String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err("does not start with http:// or https://".to_owned());
    };
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "has scheme {scheme:?}; only http:// and https:// are supported"
        ));
    }
    if rest.contains('?') {
        return Err("has a query; give the base URL only".to_owned());
    }
    if rest.contains('#') {
        return Err("has a fragment; give the base URL only".to_owned());
    }
    let (authority, path) = match rest.find('/') {
        Some(slash) => rest.split_at(slash),
        None => (rest, ""),
    };
    if !path.is_empty() && path != "/" {
        return Err(format!(
            "has the path {path:?}; give the base URL only (the server appends /metrics/resource, /pods and the other kubelet paths itself)"
        ));
    }
    if authority.contains('@') {
        return Err(
            "has user info; credentials go in the bearer token file, not in the URL".to_owned(),
        );
    }
    host_and_port(authority)?;
    Ok(format!("{scheme}://{authority}"))
}

/// Checks `host[:port]`, where an IPv6 host is in brackets.
fn host_and_port(authority: &str) -> Result<(), String> {
    if authority.is_empty() {
        return Err("has no host".to_owned());
    }
    let port = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((address, after)) = bracketed.split_once(']') else {
            return Err("has an unclosed '[' around an IPv6 address".to_owned());
        };
        if address.parse::<Ipv6Addr>().is_err() {
            return Err(format!("has {address:?} in brackets, not an IPv6 address"));
        }
        match after.strip_prefix(':') {
            Some(port) => Some(port),
            None if after.is_empty() => None,
            None => return Err(format!("has {after:?} after the IPv6 address")),
        }
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((_, port)) if port.contains(':') => {
                return Err("has several ':'; an IPv6 address must be in brackets, e.g. https://[fd00::5]:10250".to_owned());
            }
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        if host.is_empty() {
            return Err("has no host".to_owned());
        }
        if host.parse::<Ipv4Addr>().is_err() && !is_host_name(host) {
            return Err(format!(
                "has the host {host:?}, which is neither an IP address nor a host name"
            ));
        }
        port
    };
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p != 0);
        if !valid {
            return Err(format!("has the port {port:?}; a port is 1 to 65535"));
        }
    }
    Ok(())
}

/// Dot-separated labels of letters, digits, `-` and `_` (real networks
/// have underscores in host names even though DNS forbids them), none
/// empty and none starting or ending with `-`.
fn is_host_name(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn flag(text: &str) -> NodeSpec {
        NodeSpec::parse_flag(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn flag_error(text: &str) -> String {
        NodeSpec::parse_flag(text).expect_err(text).to_string()
    }

    #[test]
    fn flags_take_a_name_and_a_base_url() {
        let spec = flag("node-1=https://10.0.0.5:10250");
        assert_eq!(
            spec,
            NodeSpec {
                name: "node-1".into(),
                url: "https://10.0.0.5:10250".into(),
                labels: BTreeMap::new(),
            }
        );
        assert_eq!(flag("n=http://localhost/").url, "http://localhost");
        assert_eq!(
            flag("n=HTTPS://Host.Example:1").url,
            "https://Host.Example:1"
        );
        assert_eq!(flag("a.b-c.d=http://[::1]:8080").url, "http://[::1]:8080");
        assert_eq!(flag("n=http://[fd00::5]").url, "http://[fd00::5]");
        assert_eq!(
            flag("n=http://my_host.local:65535").url,
            "http://my_host.local:65535"
        );
        // Only the first `=` separates: a URL has none anyway.
        assert_eq!(flag("n=http://h").name, "n");
    }

    #[test]
    fn flag_errors_say_what_is_wrong_and_show_the_form() {
        for (given, says) in [
            ("node-1", "\"node-1\" is not NAME=URL"),
            ("=http://h", "node name \"\" is empty"),
            ("Node-1=http://h", "is not a lowercase RFC 1123 subdomain"),
            ("node_1=http://h", "is not a lowercase RFC 1123 subdomain"),
            ("-n=http://h", "is not a lowercase RFC 1123 subdomain"),
            ("n.=http://h", "is not a lowercase RFC 1123 subdomain"),
            (
                "n=10.0.0.5:10250",
                "does not start with http:// or https://",
            ),
            ("n=ftp://h", "only http:// and https://"),
            (
                "n=https://h:10250/metrics/resource",
                "has the path \"/metrics/resource\"",
            ),
            ("n=https://h//", "has the path \"//\""),
            ("n=https://h?x=1", "has a query"),
            ("n=https://h#top", "has a fragment"),
            ("n=https://u:p@h", "has user info"),
            ("n=https://", "has no host"),
            ("n=https://:10250", "has no host"),
            ("n=https://h:", "has the port \"\""),
            ("n=https://h:0", "has the port \"0\""),
            ("n=https://h:65536", "has the port \"65536\""),
            ("n=https://h:+1", "has the port \"+1\""),
            ("n=https://fd00::5", "must be in brackets"),
            ("n=https://[fd00::5", "unclosed"),
            ("n=https://[fd00::zz]", "not an IPv6 address"),
            ("n=https://[::1]x", "after the IPv6 address"),
            ("n=https://h%41", "neither an IP address nor a host name"),
            ("n=https://-h", "neither an IP address nor a host name"),
            ("n=https://a..b", "neither an IP address nor a host name"),
        ] {
            let message = flag_error(given);
            assert!(message.contains(says), "{given}: {message}");
            assert!(
                message.ends_with(
                    "expected --node NAME=URL, e.g. --node node-1=https://10.0.0.5:10250"
                ),
                "{given}: {message}"
            );
        }
        let long = format!("{}=http://h", "a".repeat(254));
        assert!(flag_error(&long).contains("longer than 253"));
        let longest = format!(
            "{}=http://h",
            vec!["a".repeat(63); 4].join(".").get(..253).unwrap()
        );
        assert_eq!(flag(&longest).name.len(), 253);
    }

    #[test]
    fn a_nodes_file_has_one_node_per_line_with_labels() {
        let text = "\
# the lab
node-1=https://10.0.0.5:10250 topology.kubernetes.io/zone=eu-1a tier=
  node-2=http://10.0.0.6:10250/   # on the agent's plain port

\t
node-3=https://[fd00::7]:10250 example.com/role=Worker_1 #zone=x
";
        let specs = parse_nodes_file(text).unwrap();
        type Row<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>);
        let summary: Vec<Row<'_>> = specs
            .iter()
            .map(|s| {
                (
                    s.name.as_str(),
                    s.url.as_str(),
                    s.labels
                        .iter()
                        .map(|(k, v)| (k.as_str(), v.as_str()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "node-1",
                    "https://10.0.0.5:10250",
                    vec![("tier", ""), ("topology.kubernetes.io/zone", "eu-1a")]
                ),
                ("node-2", "http://10.0.0.6:10250", vec![]),
                (
                    "node-3",
                    "https://[fd00::7]:10250",
                    vec![("example.com/role", "Worker_1")]
                ),
            ]
        );
        assert_eq!(parse_nodes_file("").unwrap(), []);
        assert_eq!(parse_nodes_file("# nothing\n\n").unwrap(), []);
        // CRLF files work too.
        assert_eq!(
            parse_nodes_file("n=http://h\r\nm=http://h\r\n")
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn nodes_file_errors_name_the_line() {
        for (text, says) in [
            (
                "n=http://h\nbroken\n",
                "nodes file line 2: \"broken\" is not NAME=URL",
            ),
            (
                "\n\nn=http://h/x",
                "nodes file line 3: URL \"http://h/x\" has the path",
            ),
            (
                "n=http://h zone",
                "line 1: label \"zone\": expected key=value",
            ),
            (
                "n=http://h a/b/c=x",
                "line 1: label \"a/b/c=x\": key \"a/b/c\": a qualified name",
            ),
            (
                "n=http://h Ex.com/a=x",
                "key \"Ex.com/a\": prefix part a lowercase RFC 1123",
            ),
            ("n=http://h a=-x", "value \"-x\": a valid label must be"),
            (
                &format!("n=http://h a={}", "v".repeat(64)),
                "must be no more than 63 characters",
            ),
            (
                "n=http://h a=1 a=2",
                "label \"a=2\": key \"a\" is given twice",
            ),
            (
                "n=http://h\nm=http://h\nn=https://other",
                "nodes file line 3: node \"n\" is already declared on line 1",
            ),
        ] {
            let message = parse_nodes_file(text).expect_err(text).to_string();
            assert!(message.contains(says), "{text:?}: {message}");
        }
        let message = parse_nodes_file("x").unwrap_err().to_string();
        assert!(
            message.ends_with("expected NAME=URL [LABEL=VALUE ...], e.g. node-1=https://10.0.0.5:10250 topology.kubernetes.io/zone=eu-1a"),
            "{message}"
        );
        assert_eq!(
            parse_nodes_file("n=http://h\nn=http://h").unwrap_err(),
            TargetError::DuplicateNode {
                name: "n".into(),
                first_line: 1,
                line: 2
            }
        );
    }

    proptest! {
        #[test]
        fn parsing_never_panics(text in "\\PC{0,80}") {
            let _ = NodeSpec::parse_flag(&text);
            let _ = parse_nodes_file(&text);
        }

        #[test]
        fn parsing_never_panics_on_near_misses(
            text in "[a-z0-9.=:/\\[\\]@?#% \n-]{0,60}",
        ) {
            let _ = NodeSpec::parse_flag(&text);
            let _ = parse_nodes_file(&text);
        }

        #[test]
        fn valid_specs_round_trip(
            name in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z0-9]{1,5}){0,2}",
            https in any::<bool>(),
            host in "[a-z][a-z0-9]{0,8}(\\.[a-z]{1,4}){0,2}",
            port in proptest::option::of(1u16..),
            slash in any::<bool>(),
            labels in proptest::collection::btree_map("[a-z]{1,5}(/[a-z]{1,5})?", "[A-Za-z0-9]{0,6}", 0..4),
        ) {
            let scheme = if https { "https" } else { "http" };
            let port = port.map(|p| format!(":{p}")).unwrap_or_default();
            let url = format!("{scheme}://{host}{port}");
            let slash = if slash { "/" } else { "" };
            let spec = NodeSpec::parse_flag(&format!("{name}={url}{slash}")).unwrap();
            prop_assert_eq!(&spec.url, &url);
            prop_assert_eq!(&spec.name, &name);
            let words: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let line = format!("{name}={url}{slash} {}", words.join(" "));
            let specs = parse_nodes_file(&line).unwrap();
            prop_assert_eq!(specs, vec![NodeSpec { name, url, labels }]);
        }
    }
}

//! Finding the workload the user named, and saying clearly what to do when
//! it is not there: close matches, and the command that lists them all.

use std::fmt;

/// A workload the user asked for that the source does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    /// No pod of that name (in that namespace).
    #[error("{}", pod_not_found(.name, .namespace.as_deref(), .close))]
    PodNotFound {
        /// The name asked for.
        name: String,
        /// The namespace asked for, if any.
        namespace: Option<String>,
        /// Close matches, `namespace/name`.
        close: Vec<String>,
    },
    /// The name exists in several namespaces.
    #[error(
        "pod {name:?} exists in several namespaces: {}.\nPick one with -n NAMESPACE, e.g. `workingset explain pod {name} -n {}`.",
        .namespaces.join(", "),
        .namespaces.first().map_or("NAMESPACE", String::as_str)
    )]
    Ambiguous {
        /// The name asked for.
        name: String,
        /// Where it exists.
        namespaces: Vec<String>,
    },
    /// The pod has no container of that name.
    #[error(
        "container {container:?} not found in pod {pod}; its containers are: {}.\nPick one with -c, or leave -c out to explain them all.",
        list_or_none(.containers)
    )]
    ContainerNotFound {
        /// The container asked for.
        container: String,
        /// `namespace/name` of the pod.
        pod: String,
        /// The pod's containers.
        containers: Vec<String>,
    },
    /// No node of that name.
    #[error(
        "node {name:?} not found: this source is node {}.\nRun `workingset explain node` without a name, or point --agent (or the kubeconfig) at that node.",
        .available.join(", ")
    )]
    NodeNotFound {
        /// The name asked for.
        name: String,
        /// The node(s) the source knows.
        available: Vec<String>,
    },
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

fn pod_not_found(name: &str, namespace: Option<&str>, close: &[String]) -> String {
    let mut text = match namespace {
        Some(ns) => format!("pod {name:?} not found in namespace {ns:?}."),
        None => format!("pod {name:?} not found in any namespace."),
    };
    if close.is_empty() {
        text.push_str("\nNo pod has a similar name.");
    } else {
        text.push_str(&format!("\nClose matches: {}.", close.join(", ")));
    }
    text.push_str(
        "\nRun `workingset top pod -A` (with the same source flags) to list every workload, then `workingset explain pod NAME -n NAMESPACE`.",
    );
    text
}

/// One workload as a lookup sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<'a> {
    /// Namespace.
    pub namespace: &'a str,
    /// Name.
    pub name: &'a str,
}

impl fmt::Display for Candidate<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Most close matches listed.
const MAX_CLOSE: usize = 8;

/// Finds the pod `name` (in `namespace`, or in any namespace when `None`)
/// among `candidates`; returns its index.
pub fn find_pod(
    candidates: &[Candidate<'_>],
    name: &str,
    namespace: Option<&str>,
) -> Result<usize, LookupError> {
    let exact: Vec<usize> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| c.name == name && namespace.is_none_or(|ns| c.namespace == ns))
        .map(|(i, _)| i)
        .collect();
    match exact.as_slice() {
        [only] => return Ok(*only),
        [] => {}
        several => {
            let mut namespaces: Vec<String> = several
                .iter()
                .filter_map(|&i| candidates.get(i))
                .map(|c| c.namespace.to_owned())
                .collect();
            namespaces.sort();
            namespaces.dedup();
            // One name twice in one namespace: the first is the one served.
            if namespaces.len() == 1 {
                return Ok(several[0]);
            }
            return Err(LookupError::Ambiguous {
                name: name.to_owned(),
                namespaces,
            });
        }
    }
    let mut close: Vec<(usize, String)> = candidates
        .iter()
        .filter_map(|c| {
            let distance = closeness(name, c.name)?;
            // Right name, wrong namespace: the best match of all.
            let distance = if c.name == name { 0 } else { distance + 1 };
            Some((distance, c.to_string()))
        })
        .collect();
    close.sort();
    close.dedup_by(|a, b| a.1 == b.1);
    Err(LookupError::PodNotFound {
        name: name.to_owned(),
        namespace: namespace.map(str::to_owned),
        close: close
            .into_iter()
            .take(MAX_CLOSE)
            .map(|(_, text)| text)
            .collect(),
    })
}

/// How close `candidate` is to `wanted` (smaller is closer), or `None`
/// when it is not a plausible typo or abbreviation.
fn closeness(wanted: &str, candidate: &str) -> Option<usize> {
    let wanted = wanted.to_lowercase();
    let candidate = candidate.to_lowercase();
    if wanted == candidate {
        return Some(0);
    }
    if !wanted.is_empty() && (candidate.contains(&wanted) || wanted.contains(&candidate)) {
        return Some(1);
    }
    let distance = levenshtein(&wanted, &candidate);
    let allowed = (wanted.chars().count() / 3).clamp(1, 3);
    (distance <= allowed).then_some(1 + distance)
}

fn levenshtein(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = Vec::with_capacity(b.len() + 1);
        current.push(i + 1);
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous.get(j).copied().unwrap_or(0) + usize::from(ca != *cb);
            let deletion = previous.get(j + 1).copied().unwrap_or(0) + 1;
            let insertion = current.get(j).copied().unwrap_or(0) + 1;
            current.push(substitution.min(deletion).min(insertion));
        }
        previous = current;
    }
    previous.last().copied().unwrap_or(0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pods() -> Vec<Candidate<'static>> {
        vec![
            Candidate {
                namespace: "docker",
                name: "web",
            },
            Candidate {
                namespace: "myns",
                name: "mypod",
            },
            Candidate {
                namespace: "other",
                name: "mypod",
            },
            Candidate {
                namespace: "system.slice",
                name: "ssh.service",
            },
        ]
    }

    #[test]
    fn exact_and_ambiguous() {
        assert_eq!(find_pod(&pods(), "web", None), Ok(0));
        assert_eq!(find_pod(&pods(), "mypod", Some("other")), Ok(2));
        let err = find_pod(&pods(), "mypod", None).unwrap_err();
        assert_eq!(
            err.to_string(),
            "pod \"mypod\" exists in several namespaces: myns, other.\nPick one with -n NAMESPACE, e.g. `workingset explain pod mypod -n myns`."
        );
    }

    #[test]
    fn not_found_lists_close_matches_and_what_to_do() {
        let err = find_pod(&pods(), "mypd", Some("myns")).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("pod \"mypd\" not found in namespace \"myns\".\nClose matches: myns/mypod, other/mypod."), "{text}");
        assert!(text.contains("workingset top pod -A"), "{text}");
        // The right name in the wrong namespace comes first.
        let err = find_pod(&pods(), "web", Some("default")).unwrap_err();
        assert!(
            err.to_string().contains("Close matches: docker/web."),
            "{err}"
        );
        let err = find_pod(&pods(), "zzzzzzzz", None).unwrap_err();
        assert!(
            err.to_string().contains("No pod has a similar name."),
            "{err}"
        );
        assert!(
            find_pod(&pods(), "ssh", None)
                .unwrap_err()
                .to_string()
                .contains("system.slice/ssh.service")
        );
    }

    #[test]
    fn edit_distance() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "ab"), 2);
        assert_eq!(levenshtein("same", "same"), 0);
    }
}

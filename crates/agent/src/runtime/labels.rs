//! The labels the kubelet and the runtimes put on pods and containers, and
//! how pod and container identity is read back from them.
//!
//! The kubelet labels every sandbox config with the pod's own labels plus
//! `io.kubernetes.pod.{name,namespace,uid}`, and every container config with
//! those three plus `io.kubernetes.container.name`; annotations travel
//! separately. The CRI runtimes hand both back as they were given.
//!
//! Docker has no annotations, so cri-dockerd (formerly the kubelet's
//! dockershim) stores a CRI annotation `k` as the Docker label
//! `annotation.k`, and adds labels of its own: `io.kubernetes.docker.type`
//! (`podsandbox` or `container`), `io.kubernetes.sandbox.id` and
//! `io.kubernetes.container.logpath` on app containers, and
//! `io.kubernetes.container.name=POD` on sandboxes. It names the Docker
//! containers `k8s_POD_<pod>_<namespace>_<uid>_<attempt>` and
//! `k8s_<container>_<pod>_<namespace>_<uid>_<attempt>`. [`cri_view`] undoes
//! that mapping the way cri-dockerd does when it answers CRI calls.

use std::collections::{BTreeMap, HashMap};

use super::PodRef;

/// Pod name label the kubelet sets on sandboxes and containers.
pub const POD_NAME: &str = "io.kubernetes.pod.name";
/// Pod namespace label.
pub const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
/// Pod UID label.
pub const POD_UID: &str = "io.kubernetes.pod.uid";
/// Container name label (the name in the pod spec).
pub const CONTAINER_NAME: &str = "io.kubernetes.container.name";
/// The container name cri-dockerd and CRI-O give sandboxes (the kubelet's
/// `PodInfraContainerName`).
pub const SANDBOX_CONTAINER_NAME: &str = "POD";

/// cri-dockerd: what a Docker container is for.
pub const DOCKER_TYPE: &str = "io.kubernetes.docker.type";
/// cri-dockerd's [`DOCKER_TYPE`] value on sandbox (pause) containers.
pub const DOCKER_TYPE_SANDBOX: &str = "podsandbox";
/// cri-dockerd's [`DOCKER_TYPE`] value on app containers.
pub const DOCKER_TYPE_CONTAINER: &str = "container";
/// cri-dockerd: the sandbox an app container belongs to.
pub const DOCKER_SANDBOX_ID: &str = "io.kubernetes.sandbox.id";
/// cri-dockerd: where the kubelet expects the container log.
pub const DOCKER_LOG_PATH: &str = "io.kubernetes.container.logpath";
/// cri-dockerd: prefix of labels that carry CRI annotations.
pub const DOCKER_ANNOTATION_PREFIX: &str = "annotation.";

/// containerd marks its own containers with this label (`sandbox` or
/// `container`); it is not visible through the CRI, which flags sandboxes by
/// listing them separately.
pub const CONTAINERD_KIND: &str = "io.cri-containerd.kind";

/// The pod named by the `io.kubernetes.pod.*` labels, when all three are
/// present and non-empty.
pub fn pod_ref<S: std::hash::BuildHasher>(labels: &HashMap<String, String, S>) -> Option<PodRef> {
    let get = |key: &str| labels.get(key).filter(|v| !v.is_empty()).cloned();
    Some(PodRef {
        name: get(POD_NAME)?,
        namespace: get(POD_NAMESPACE)?,
        uid: get(POD_UID)?,
    })
}

/// A pod's own labels from its sandbox's CRI labels: the
/// `io.kubernetes.pod.*` labels are the kubelet's additions, not the pod's
/// (the API server's pod object, which `kubectl top -l` filters, has none of
/// them).
pub fn pod_labels(sandbox_labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    sandbox_labels
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), POD_NAME | POD_NAMESPACE | POD_UID))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Whether Docker labels mark a container as created by cri-dockerd (or
/// dockershim).
pub fn is_cri_dockerd<S: std::hash::BuildHasher>(labels: &HashMap<String, String, S>) -> bool {
    labels.contains_key(DOCKER_TYPE)
}

/// The CRI labels and annotations of a cri-dockerd container from its
/// Docker labels: internal labels dropped, `annotation.*` labels moved to
/// the annotations, and a sandbox's `io.kubernetes.container.name` dropped
/// (cri-dockerd adds it for the kubelet's summary, not as a pod label).
pub fn cri_view<S: std::hash::BuildHasher>(
    docker_labels: &HashMap<String, String, S>,
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let sandbox = docker_labels.get(DOCKER_TYPE).map(String::as_str) == Some(DOCKER_TYPE_SANDBOX);
    let mut labels = BTreeMap::new();
    let mut annotations = BTreeMap::new();
    for (k, v) in docker_labels {
        if matches!(
            k.as_str(),
            DOCKER_TYPE | DOCKER_SANDBOX_ID | DOCKER_LOG_PATH
        ) {
            continue;
        }
        if sandbox && k == CONTAINER_NAME {
            continue;
        }
        match k.strip_prefix(DOCKER_ANNOTATION_PREFIX) {
            Some(annotation) => {
                annotations.insert(annotation.to_owned(), v.clone());
            }
            None => {
                labels.insert(k.clone(), v.clone());
            }
        }
    }
    (labels, annotations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn pod_ref_needs_all_three() {
        let full = map(&[
            (POD_NAME, "web"),
            (POD_NAMESPACE, "default"),
            (POD_UID, "u-1"),
        ]);
        assert_eq!(
            pod_ref(&full),
            Some(PodRef {
                name: "web".into(),
                namespace: "default".into(),
                uid: "u-1".into()
            })
        );
        assert_eq!(pod_ref(&map(&[(POD_NAME, "web"), (POD_UID, "u")])), None);
        assert_eq!(
            pod_ref(&map(&[
                (POD_NAME, ""),
                (POD_NAMESPACE, "d"),
                (POD_UID, "u")
            ])),
            None
        );
    }

    #[test]
    fn sandbox_labels_split_like_cri_dockerd() {
        let docker = map(&[
            (POD_NAME, "mypod"),
            (POD_NAMESPACE, "myns"),
            (POD_UID, "u"),
            ("app", "demo"),
            (DOCKER_TYPE, DOCKER_TYPE_SANDBOX),
            (CONTAINER_NAME, "POD"),
            ("annotation.kubernetes.io/config.source", "api"),
        ]);
        assert!(is_cri_dockerd(&docker));
        let (labels, annotations) = cri_view(&docker);
        assert_eq!(
            labels.keys().map(String::as_str).collect::<Vec<_>>(),
            ["app", POD_NAME, POD_NAMESPACE, POD_UID]
        );
        assert_eq!(annotations["kubernetes.io/config.source"], "api");
        let pod = pod_labels(&labels);
        assert_eq!(pod.len(), 1);
        assert_eq!(pod["app"], "demo");
    }

    #[test]
    fn app_container_labels_split_like_cri_dockerd() {
        let docker = map(&[
            (POD_NAME, "mypod"),
            (POD_NAMESPACE, "myns"),
            (POD_UID, "u"),
            (CONTAINER_NAME, "app"),
            (DOCKER_TYPE, DOCKER_TYPE_CONTAINER),
            (DOCKER_SANDBOX_ID, "abc"),
            (DOCKER_LOG_PATH, "/var/log/pods/x/app/0.log"),
            ("annotation.io.kubernetes.container.restartCount", "0"),
        ]);
        let (labels, annotations) = cri_view(&docker);
        assert_eq!(labels[CONTAINER_NAME], "app");
        assert!(!labels.contains_key(DOCKER_TYPE));
        assert!(!labels.contains_key(DOCKER_SANDBOX_ID));
        assert!(!labels.contains_key(DOCKER_LOG_PATH));
        assert_eq!(annotations["io.kubernetes.container.restartCount"], "0");
    }
}

//! What a cgroup path is: a Kubernetes pod, one of its containers, a Docker
//! container, a systemd unit, or just a cgroup.
//!
//! This is pure classification of path text, no IO: the layouts are the ones
//! the kubelet, container runtimes and systemd create (see
//! `docs/naming.md`). The sampler walks the real tree and asks this module
//! what each directory is; runtime metadata (names, labels) is layered on top
//! later and never changes *which* cgroups are workloads.

/// Length of the short container id people know from `docker ps`.
pub const SHORT_ID_LEN: usize = 12;

/// Kubernetes QoS class, from the pod cgroup's parent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QosClass {
    /// `kubepods/pod<uid>`: requests equal limits.
    Guaranteed,
    /// `kubepods/burstable/pod<uid>`.
    Burstable,
    /// `kubepods/besteffort/pod<uid>`.
    BestEffort,
}

impl QosClass {
    /// The class as Kubernetes spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Guaranteed => "Guaranteed",
            Self::Burstable => "Burstable",
            Self::BestEffort => "BestEffort",
        }
    }
}

/// Which container runtime named a container cgroup, when its name tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    /// `docker-<id>.scope`, or a bare id below a `docker` cgroup.
    Docker,
    /// `cri-containerd-<id>.scope`.
    Containerd,
    /// `crio-<id>` / `crio-<id>.scope`.
    CriO,
    /// `libpod-<id>.scope`.
    Podman,
    /// A bare 64-hex directory: cgroupfs drivers of every runtime use it.
    Unknown,
}

/// What one cgroup directory is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CgroupKind<'a> {
    /// `kubepods` / `kubepods.slice`: every pod of the node (the kubelet's
    /// `pods` system container).
    AllPods,
    /// A QoS-class parent (`kubepods/burstable`).
    QosParent(QosClass),
    /// A pod cgroup; `uid` is the pod UID with dashes.
    Pod {
        /// Pod UID, `-` restored from the systemd `_` spelling.
        uid: String,
        /// QoS class from the parent.
        qos: QosClass,
    },
    /// A container of a pod (the pause container included; telling it
    /// apart needs the runtime or its process).
    PodContainer {
        /// Pod UID.
        pod_uid: String,
        /// Full container id.
        id: &'a str,
        /// Runtime that named the cgroup.
        runtime: Runtime,
    },
    /// A runtime's helper cgroup that is not a container (`crio-conmon-<id>`).
    RuntimeHelper,
    /// A container outside Kubernetes (Docker, Podman, containerd, …).
    Container {
        /// Full container id.
        id: &'a str,
        /// Runtime that named the cgroup.
        runtime: Runtime,
    },
    /// A systemd unit (`.service`, `.scope`, `.slice`, …).
    SystemdUnit {
        /// Unit name, e.g. `ssh.service`.
        unit: &'a str,
    },
    /// Any other cgroup.
    Plain,
}

/// Classifies a cgroup path relative to the cgroup root (`/a/b/c`, `/` for the root).
pub fn classify(path: &str) -> CgroupKind<'_> {
    let components: Vec<&str> = path.split('/').filter(|c| !c.is_empty()).collect();
    let Some(&leaf) = components.last() else {
        return CgroupKind::Plain;
    };
    if let Some(start) = components.iter().position(|c| is_kubepods(c))
        && let Some(kind) = classify_kubepods(&components[start + 1..])
    {
        return kind;
    }
    if leaf.starts_with("crio-conmon-") {
        return CgroupKind::RuntimeHelper;
    }
    if let Some((id, runtime)) = container_id(leaf) {
        let runtime = match runtime {
            Runtime::Unknown
                if components.len() >= 2 && components[components.len() - 2] == "docker" =>
            {
                Runtime::Docker
            }
            other => other,
        };
        return CgroupKind::Container { id, runtime };
    }
    if let Some(unit) = systemd_unit(leaf) {
        return CgroupKind::SystemdUnit { unit };
    }
    CgroupKind::Plain
}

fn is_kubepods(component: &str) -> bool {
    component == "kubepods" || component == "kubepods.slice"
}

/// Classifies what follows the `kubepods` component; `None` when the path
/// leaves the kubelet's layout (then it is classified like any cgroup).
fn classify_kubepods<'a>(rest: &[&'a str]) -> Option<CgroupKind<'a>> {
    let mut qos = QosClass::Guaranteed;
    let mut rest = rest;
    if let Some(&first) = rest.first() {
        if let Some(class) = qos_parent(first) {
            qos = class;
            rest = &rest[1..];
            if rest.is_empty() {
                return Some(CgroupKind::QosParent(class));
            }
        }
    } else {
        return Some(CgroupKind::AllPods);
    }
    let uid = pod_uid(rest.first()?)?;
    match rest {
        [_] => Some(CgroupKind::Pod { uid, qos }),
        [_, container] => {
            if container.starts_with("crio-conmon-") {
                return Some(CgroupKind::RuntimeHelper);
            }
            let (id, runtime) = container_id(container)?;
            Some(CgroupKind::PodContainer {
                pod_uid: uid,
                id,
                runtime,
            })
        }
        _ => None,
    }
}

fn qos_parent(component: &str) -> Option<QosClass> {
    match component {
        "burstable" | "kubepods-burstable.slice" => Some(QosClass::Burstable),
        "besteffort" | "kubepods-besteffort.slice" => Some(QosClass::BestEffort),
        _ => None,
    }
}

/// `pod<uid>` (cgroupfs) or `kubepods[-<qos>]-pod<uid_>.slice` (systemd).
fn pod_uid(component: &str) -> Option<String> {
    if let Some(uid) = component.strip_prefix("pod") {
        return is_uid(uid).then(|| uid.to_owned());
    }
    let stem = component.strip_suffix(".slice")?;
    let (_, uid) = stem.rsplit_once("-pod")?;
    let uid = uid.replace('_', "-");
    is_uid(&uid).then_some(uid)
}

/// A pod UID: hex digits and dashes (RFC 4122 form, but static pods use
/// other hex hashes, so the form is not enforced).
fn is_uid(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Container id and runtime from a container cgroup's name.
fn container_id(component: &str) -> Option<(&str, Runtime)> {
    if let Some(stem) = component.strip_suffix(".scope") {
        let (prefix, id) = stem.rsplit_once('-')?;
        let runtime = match prefix {
            "docker" => Runtime::Docker,
            "cri-containerd" => Runtime::Containerd,
            "crio" => Runtime::CriO,
            "libpod" => Runtime::Podman,
            _ => return None,
        };
        return is_container_id(id).then_some((id, runtime));
    }
    if let Some(id) = component.strip_prefix("crio-") {
        return is_container_id(id).then_some((id, Runtime::CriO));
    }
    is_container_id(component).then_some((component, Runtime::Unknown))
}

/// Runtimes use 64 lowercase hex digits for container ids.
fn is_container_id(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn systemd_unit(component: &str) -> Option<&str> {
    const UNIT_SUFFIXES: [&str; 4] = [".service", ".scope", ".slice", ".socket"];
    UNIT_SUFFIXES
        .iter()
        .any(|suffix| component.len() > suffix.len() && component.ends_with(suffix))
        .then_some(component)
}

/// The first [`SHORT_ID_LEN`] characters of a container id.
pub fn short_id(id: &str) -> &str {
    id.get(..SHORT_ID_LEN).unwrap_or(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const UID: &str = "6f1c2b3a-1d2e-4f50-9a8b-7c6d5e4f3a2b";
    const UID_: &str = "6f1c2b3a_1d2e_4f50_9a8b_7c6d5e4f3a2b";

    fn pod(qos: QosClass) -> CgroupKind<'static> {
        CgroupKind::Pod {
            uid: UID.to_owned(),
            qos,
        }
    }

    #[test]
    fn cgroupfs_kubelet_layout() {
        assert_eq!(classify("/kubepods"), CgroupKind::AllPods);
        assert_eq!(
            classify("/kubepods/burstable"),
            CgroupKind::QosParent(QosClass::Burstable)
        );
        assert_eq!(
            classify(&format!("/kubepods/pod{UID}")),
            pod(QosClass::Guaranteed)
        );
        assert_eq!(
            classify(&format!("/kubepods/besteffort/pod{UID}")),
            pod(QosClass::BestEffort)
        );
        let path = format!("/kubepods/burstable/pod{UID}/{ID}");
        assert_eq!(
            classify(&path),
            CgroupKind::PodContainer {
                pod_uid: UID.to_owned(),
                id: ID,
                runtime: Runtime::Unknown
            }
        );
    }

    #[test]
    fn systemd_kubelet_layout() {
        assert_eq!(classify("/kubepods.slice"), CgroupKind::AllPods);
        assert_eq!(
            classify("/kubepods.slice/kubepods-besteffort.slice"),
            CgroupKind::QosParent(QosClass::BestEffort)
        );
        assert_eq!(
            classify(&format!("/kubepods.slice/kubepods-pod{UID_}.slice")),
            pod(QosClass::Guaranteed)
        );
        let pod_path =
            format!("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{UID_}.slice");
        assert_eq!(classify(&pod_path), pod(QosClass::Burstable));
        for (name, runtime) in [
            (format!("cri-containerd-{ID}.scope"), Runtime::Containerd),
            (format!("crio-{ID}.scope"), Runtime::CriO),
            (format!("docker-{ID}.scope"), Runtime::Docker),
            (format!("crio-{ID}"), Runtime::CriO),
        ] {
            let path = format!("{pod_path}/{name}");
            assert_eq!(
                classify(&path),
                CgroupKind::PodContainer {
                    pod_uid: UID.to_owned(),
                    id: ID,
                    runtime
                },
                "{name}"
            );
        }
        assert_eq!(
            classify(&format!("{pod_path}/crio-conmon-{ID}.scope")),
            CgroupKind::RuntimeHelper
        );
    }

    #[test]
    fn kubepods_below_a_cgroup_root() {
        let path = format!("/test-root/kubepods/burstable/pod{UID}/{ID}");
        assert!(matches!(classify(&path), CgroupKind::PodContainer { .. }));
    }

    #[test]
    fn docker_outside_kubernetes() {
        assert_eq!(
            classify(&format!("/docker/{ID}")),
            CgroupKind::Container {
                id: ID,
                runtime: Runtime::Docker
            }
        );
        assert_eq!(
            classify(&format!("/system.slice/docker-{ID}.scope")),
            CgroupKind::Container {
                id: ID,
                runtime: Runtime::Docker
            }
        );
        assert_eq!(
            classify(&format!("/machine.slice/libpod-{ID}.scope")),
            CgroupKind::Container {
                id: ID,
                runtime: Runtime::Podman
            }
        );
        assert_eq!(
            classify(&format!("/custom-parent/{ID}")),
            CgroupKind::Container {
                id: ID,
                runtime: Runtime::Unknown
            }
        );
    }

    #[test]
    fn systemd_units_and_plain_cgroups() {
        assert_eq!(
            classify("/system.slice/ssh.service"),
            CgroupKind::SystemdUnit {
                unit: "ssh.service"
            }
        );
        assert_eq!(
            classify("/user.slice/user-1000.slice/session-2.scope"),
            CgroupKind::SystemdUnit {
                unit: "session-2.scope"
            }
        );
        assert_eq!(classify("/process_api/876410a1"), CgroupKind::Plain);
        assert_eq!(classify("/"), CgroupKind::Plain);
        // Not quite a container id: 63 digits, upper case.
        assert_eq!(
            classify(&format!("/docker/{}", &ID[1..])),
            CgroupKind::Plain
        );
        assert_eq!(
            classify(&format!("/docker/{}", ID.to_uppercase())),
            CgroupKind::Plain
        );
    }

    #[test]
    fn odd_paths_inside_kubepods_are_not_pods() {
        assert_eq!(classify("/kubepods/notapod"), CgroupKind::Plain);
        assert_eq!(classify("/kubepods/podxyz"), CgroupKind::Plain);
        assert_eq!(
            classify(&format!("/kubepods/pod{UID}/{ID}/nested")),
            CgroupKind::Plain
        );
        assert_eq!(
            classify(&format!("/kubepods/pod{UID}/not-an-id")),
            CgroupKind::Plain
        );
    }

    #[test]
    fn short_ids() {
        assert_eq!(short_id(ID), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
    }
}

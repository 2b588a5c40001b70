//! The kubelet's Summary API (`stats/v1alpha1`, `GET /stats/summary`): what
//! a node agent serves and what a metrics pipeline reads from it.
//!
//! The structs follow `k8s.io/kubelet/pkg/apis/stats/v1alpha1/types.go`:
//! the same JSON names, the same field order, and Go's omission rules, so
//! that what we write is what a kubelet writes and what a kubelet writes
//! reads back without loss:
//!
//! - every optional number (`*uint64` with `omitempty` in Go) is an
//!   [`Option`] and is **omitted** when unknown, never written as `null`;
//! - a `metav1.Time` is RFC 3339 in UTC with whole seconds ([`Time`]); Go
//!   writes its zero time as `null`, which is what a `None` start time
//!   serialises to, and what a `time` field reads a `null` as;
//! - slices Go writes without `omitempty` (`pods`, `containers`) are always
//!   written, as `[]` when empty (a nil Go slice would be `null`, which we
//!   accept when reading);
//! - fields newer kubelets add that workingset does not model (pressure
//!   stall information `psi` and `io`, `accelerators`,
//!   `userDefinedMetrics`) are ignored when reading.
//!
//! Not here: how the figures are derived from cgroup samples — the agent's
//! `serve::summary` builds these objects from two snapshots.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::metrics::Time;

/// Name of the system container that tracks the kubelet
/// (`statsapi.SystemContainerKubelet`).
pub const SYSTEM_CONTAINER_KUBELET: &str = "kubelet";
/// Name of the system container that tracks the container runtime.
pub const SYSTEM_CONTAINER_RUNTIME: &str = "runtime";
/// Name of the system container that tracks non-Kubernetes processes.
pub const SYSTEM_CONTAINER_MISC: &str = "misc";
/// Name of the system container that tracks all pods (the pod cgroup root).
pub const SYSTEM_CONTAINER_PODS: &str = "pods";

/// `Summary`: the node and its pods.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Node-level figures.
    pub node: NodeStats,
    /// Per-pod figures.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub pods: Vec<PodStats>,
}

/// `NodeStats`: node-level figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    /// The node's name.
    pub node_name: String,
    /// `kubelet`, `runtime`, `misc` and `pods`, each the figures of that cgroup.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub system_containers: Vec<ContainerStats>,
    /// When node-level collection started: the kubelet reports the
    /// machine's boot time. `None` is Go's zero time, written `null`.
    #[serde(default)]
    pub start_time: Option<Time>,
    /// CPU of the root cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// Memory of the root cgroup; `availableBytes` is capacity − working set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Network of the node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    /// The filesystem holding the kubelet's root directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fs: Option<FsStats>,
    /// The container runtime's image and container filesystems.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<RuntimeStats>,
    /// Process-number limit and usage of the machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rlimit: Option<RlimitStats>,
    /// Swap of the root cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapStats>,
}

/// `RlimitStats`: process-number limit and usage of the machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RlimitStats {
    /// When these figures were read.
    #[serde(with = "go_time")]
    pub time: Time,
    /// The most process ids the kernel hands out (`pid_max`).
    #[serde(default, rename = "maxpid", skip_serializing_if = "Option::is_none")]
    pub max_pid: Option<i64>,
    /// Processes (threads) running now.
    #[serde(default, rename = "curproc", skip_serializing_if = "Option::is_none")]
    pub num_of_running_processes: Option<i64>,
}

/// `RuntimeStats`: the container runtime's filesystems.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeStats {
    /// Where images are stored; `usedBytes` is what images occupy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_fs: Option<FsStats>,
    /// Where writable container layers are stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_fs: Option<FsStats>,
}

/// `ProcessStats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessStats {
    /// Processes in the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_count: Option<u64>,
}

/// `PodStats`: one pod's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodStats {
    /// Which pod.
    pub pod_ref: PodReference,
    /// When the pod started. `None` is Go's zero time, written `null`.
    #[serde(default)]
    pub start_time: Option<Time>,
    /// Its containers, the pause (sandbox) container excluded.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub containers: Vec<ContainerStats>,
    /// CPU of the pod cgroup: all containers, the sandbox and pod overhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// Memory of the pod cgroup: all containers, the sandbox and pod overhead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// Network of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkStats>,
    /// Volumes of the pod.
    #[serde(
        default,
        rename = "volume",
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub volume_stats: Vec<VolumeStats>,
    /// Containers' writable layers, logs and emptyDir volumes together.
    #[serde(
        default,
        rename = "ephemeral-storage",
        skip_serializing_if = "Option::is_none"
    )]
    pub ephemeral_storage: Option<FsStats>,
    /// Processes of the pod.
    #[serde(
        default,
        rename = "process_stats",
        skip_serializing_if = "Option::is_none"
    )]
    pub process_stats: Option<ProcessStats>,
    /// Swap of the pod cgroup.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapStats>,
}

/// `ContainerStats`: one container's (or system container's) figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerStats {
    /// The container's name within its pod, or the system container's name.
    pub name: String,
    /// When the container started. `None` is Go's zero time, written `null`.
    #[serde(default)]
    pub start_time: Option<Time>,
    /// CPU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    /// Memory; `availableBytes` only when the container has a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// The writable layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<FsStats>,
    /// The container's logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<FsStats>,
    /// Swap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap: Option<SwapStats>,
}

/// `PodReference`: a pod's identity. Go writes all three, empty or not.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PodReference {
    /// Pod name.
    #[serde(default)]
    pub name: String,
    /// Pod namespace.
    #[serde(default)]
    pub namespace: String,
    /// Pod UID.
    #[serde(default)]
    pub uid: String,
}

/// `InterfaceStats`: one network interface's cumulative counters.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InterfaceStats {
    /// Interface name; Go writes it even when empty.
    #[serde(default)]
    pub name: String,
    /// Bytes received.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_bytes: Option<u64>,
    /// Receive errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rx_errors: Option<u64>,
    /// Bytes sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_bytes: Option<u64>,
    /// Transmit errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tx_errors: Option<u64>,
}

/// `NetworkStats`: the default interface (inlined, as Go does) and all of
/// them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkStats {
    /// When these figures were read.
    #[serde(with = "go_time")]
    pub time: Time,
    /// The default interface (`eth0`), inlined into this object.
    #[serde(flatten)]
    pub default_interface: InterfaceStats,
    /// Every interface.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_empty"
    )]
    pub interfaces: Vec<InterfaceStats>,
}

/// `CPUStats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CpuStats {
    /// When the counter was read.
    #[serde(with = "go_time")]
    pub time: Time,
    /// Rate over the last two samples, in nanocores (1e9 = one core busy).
    /// Omitted when there is no honest rate (a new or restarted counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_nano_cores: Option<u64>,
    /// Cumulative CPU time, nanoseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_core_nano_seconds: Option<u64>,
}

/// `MemoryStats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemoryStats {
    /// When the figures were read.
    #[serde(with = "go_time")]
    pub time: Time,
    /// Limit − working set; omitted when there is no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<u64>,
    /// Everything charged, page cache included.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage_bytes: Option<u64>,
    /// Usage − inactive file cache: what eviction and `kubectl top` use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_set_bytes: Option<u64>,
    /// Anonymous memory and swap cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rss_bytes: Option<u64>,
    /// Cumulative minor page faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub page_faults: Option<u64>,
    /// Cumulative major page faults.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub major_page_faults: Option<u64>,
}

/// `SwapStats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SwapStats {
    /// When the figures were read.
    #[serde(with = "go_time")]
    pub time: Time,
    /// Swap limit − swap usage; omitted when there is no swap limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_available_bytes: Option<u64>,
    /// Swap in use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swap_usage_bytes: Option<u64>,
}

/// `FsStats`: one filesystem's (or one consumer's share of one
/// filesystem's) usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FsStats {
    /// When the figures were read.
    #[serde(with = "go_time")]
    pub time: Time,
    /// Bytes free for use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub available_bytes: Option<u64>,
    /// Size of the filesystem.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_bytes: Option<u64>,
    /// Bytes used by the consumer these figures are about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    /// Free inodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes_free: Option<u64>,
    /// All inodes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes: Option<u64>,
    /// Inodes used by the consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inodes_used: Option<u64>,
}

/// `VolumeStats`: one volume's usage (its [`FsStats`] inlined, as Go does).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeStats {
    /// The usage.
    #[serde(flatten)]
    pub fs: FsStats,
    /// The volume's name in the pod spec.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The claim behind it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc_ref: Option<PvcReference>,
    /// Whether the volume is healthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volume_health_stats: Option<VolumeHealthStats>,
}

/// `PVCReference`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PvcReference {
    /// Claim name.
    #[serde(default)]
    pub name: String,
    /// Claim namespace.
    #[serde(default)]
    pub namespace: String,
}

/// `VolumeHealthStats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeHealthStats {
    /// The volume does not operate normally.
    #[serde(default)]
    pub abnormal: bool,
}

/// Reads Go's `null` for a slice written without `omitempty` as empty.
fn null_as_empty<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(deserializer)?.unwrap_or_default())
}

/// A `metav1.Time` that is always set in practice, read leniently: Go
/// writes its zero time as `null`, which reads as [`go_time::zero()`] and
/// writes back as `null`.
pub mod go_time {
    use super::{Deserialize, Deserializer, Serialize, Serializer, Time};

    /// Go's zero `time.Time`, 0001-01-01T00:00:00Z.
    pub const ZERO_UNIX_SECONDS: i64 = -62_135_596_800;

    /// Go's zero time as a [`Time`].
    pub fn zero() -> Time {
        // The constant is inside jiff's range, so this never falls back.
        Time(jiff::Timestamp::from_second(ZERO_UNIX_SECONDS).unwrap_or(jiff::Timestamp::MIN))
    }

    /// Writes `null` for Go's zero time, else the RFC 3339 text.
    pub fn serialize<S: Serializer>(time: &Time, serializer: S) -> Result<S::Ok, S::Error> {
        if *time == zero() {
            serializer.serialize_none()
        } else {
            time.serialize(serializer)
        }
    }

    /// Reads `null` as Go's zero time.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Time, D::Error> {
        Ok(Option::<Time>::deserialize(deserializer)?.unwrap_or_else(zero))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Time {
        Time(text.parse().unwrap())
    }

    fn memory(time: Time) -> MemoryStats {
        MemoryStats {
            time,
            available_bytes: None,
            usage_bytes: Some(20_000_000),
            working_set_bytes: Some(15_000_000),
            rss_bytes: Some(10_000_000),
            page_faults: Some(0),
            major_page_faults: Some(0),
        }
    }

    #[test]
    fn summary_serialises_in_go_field_order_omitting_unknowns() {
        let t = at("2025-01-02T03:04:05.678Z");
        let summary = Summary {
            node: NodeStats {
                node_name: "n1".into(),
                system_containers: vec![ContainerStats {
                    name: SYSTEM_CONTAINER_PODS.into(),
                    start_time: Some(at("2025-01-01T00:00:00Z")),
                    cpu: Some(CpuStats {
                        time: t,
                        usage_nano_cores: None,
                        usage_core_nano_seconds: Some(7),
                    }),
                    memory: None,
                    rootfs: None,
                    logs: None,
                    swap: None,
                }],
                start_time: Some(at("2024-12-31T23:00:00.9Z")),
                cpu: None,
                memory: Some(MemoryStats {
                    available_bytes: Some(1),
                    ..memory(t)
                }),
                network: None,
                fs: None,
                runtime: None,
                rlimit: None,
                swap: Some(SwapStats {
                    time: t,
                    swap_available_bytes: None,
                    swap_usage_bytes: Some(0),
                }),
            },
            pods: vec![],
        };
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            concat!(
                r#"{"node":{"nodeName":"n1","systemContainers":[{"name":"pods","startTime":"2025-01-01T00:00:00Z","#,
                r#""cpu":{"time":"2025-01-02T03:04:05Z","usageCoreNanoSeconds":7}}],"#,
                r#""startTime":"2024-12-31T23:00:00Z","#,
                r#""memory":{"time":"2025-01-02T03:04:05Z","availableBytes":1,"usageBytes":20000000,"workingSetBytes":15000000,"rssBytes":10000000,"pageFaults":0,"majorPageFaults":0},"#,
                r#""swap":{"time":"2025-01-02T03:04:05Z","swapUsageBytes":0}},"pods":[]}"#
            )
        );
    }

    #[test]
    fn unknown_start_time_is_null_like_go_zero_time() {
        let container = ContainerStats {
            name: "c".into(),
            start_time: None,
            cpu: None,
            memory: None,
            rootfs: None,
            logs: None,
            swap: None,
        };
        let json = serde_json::to_string(&container).unwrap();
        assert_eq!(json, r#"{"name":"c","startTime":null}"#);
        assert_eq!(
            serde_json::from_str::<ContainerStats>(&json).unwrap(),
            container
        );
    }

    #[test]
    fn pod_fields_use_gos_odd_names() {
        let t = at("2025-01-02T03:04:05Z");
        let fs = FsStats {
            time: t,
            available_bytes: None,
            capacity_bytes: None,
            used_bytes: Some(4096),
            inodes_free: None,
            inodes: None,
            inodes_used: Some(3),
        };
        let pod = PodStats {
            pod_ref: PodReference {
                name: "p".into(),
                namespace: "ns".into(),
                uid: String::new(),
            },
            start_time: Some(t),
            containers: vec![],
            cpu: None,
            memory: None,
            network: Some(NetworkStats {
                time: t,
                default_interface: InterfaceStats {
                    name: "eth0".into(),
                    rx_bytes: Some(1),
                    ..InterfaceStats::default()
                },
                interfaces: vec![],
            }),
            volume_stats: vec![VolumeStats {
                fs: fs.clone(),
                name: "data".into(),
                pvc_ref: Some(PvcReference {
                    name: "claim".into(),
                    namespace: "ns".into(),
                }),
                volume_health_stats: None,
            }],
            ephemeral_storage: Some(fs),
            process_stats: Some(ProcessStats {
                process_count: Some(2),
            }),
            swap: None,
        };
        let json = serde_json::to_string(&pod).unwrap();
        assert_eq!(
            json,
            concat!(
                r#"{"podRef":{"name":"p","namespace":"ns","uid":""},"startTime":"2025-01-02T03:04:05Z","containers":[],"#,
                r#""network":{"time":"2025-01-02T03:04:05Z","name":"eth0","rxBytes":1},"#,
                r#""volume":[{"time":"2025-01-02T03:04:05Z","usedBytes":4096,"inodesUsed":3,"name":"data","pvcRef":{"name":"claim","namespace":"ns"}}],"#,
                r#""ephemeral-storage":{"time":"2025-01-02T03:04:05Z","usedBytes":4096,"inodesUsed":3},"#,
                r#""process_stats":{"process_count":2}}"#
            )
        );
        assert_eq!(serde_json::from_str::<PodStats>(&json).unwrap(), pod);
    }

    #[test]
    fn reads_a_kubelet_summary_with_nulls_and_fields_we_do_not_model() {
        let json = r#"{"node":{"nodeName":"kind-control-plane",
          "systemContainers":[{"name":"kubelet","startTime":"2025-01-01T10:00:00Z",
            "cpu":{"time":"2025-01-01T10:05:00Z","usageNanoCores":123,"usageCoreNanoSeconds":456,
                   "psi":{"full":{"total":0,"avg10":0,"avg60":0,"avg300":0}}},
            "memory":{"time":"2025-01-01T10:05:00Z","usageBytes":1,"workingSetBytes":1,"rssBytes":1,"pageFaults":0,"majorPageFaults":0},
            "accelerators":[],"userDefinedMetrics":null}],
          "startTime":"2025-01-01T09:00:00Z",
          "network":{"time":"2025-01-01T10:05:00Z","name":"eth0","rxBytes":10,"rxErrors":0,"txBytes":20,"txErrors":0,
                     "interfaces":[{"name":"eth0","rxBytes":10,"rxErrors":0,"txBytes":20,"txErrors":0}]},
          "fs":{"time":"2025-01-01T10:05:00Z","availableBytes":1,"capacityBytes":2,"usedBytes":1,"inodesFree":1,"inodes":2,"inodesUsed":1},
          "runtime":{"imageFs":{"time":"2025-01-01T10:05:00Z","usedBytes":5},"containerFs":{"time":"2025-01-01T10:05:00Z"}},
          "rlimit":{"time":"2025-01-01T10:05:00Z","maxpid":4194304,"curproc":512},
          "io":{"time":"2025-01-01T10:05:00Z"}},
          "pods":[{"podRef":{"name":"p","namespace":"default","uid":"u"},"startTime":null,"containers":null}]}"#;
        let summary: Summary = serde_json::from_str(json).unwrap();
        let node = &summary.node;
        assert_eq!(
            node.system_containers[0]
                .cpu
                .as_ref()
                .unwrap()
                .usage_nano_cores,
            Some(123)
        );
        assert_eq!(
            node.network.as_ref().unwrap().default_interface.tx_bytes,
            Some(20)
        );
        assert_eq!(node.network.as_ref().unwrap().interfaces.len(), 1);
        assert_eq!(node.rlimit.as_ref().unwrap().max_pid, Some(4_194_304));
        assert_eq!(
            node.runtime
                .as_ref()
                .unwrap()
                .image_fs
                .as_ref()
                .unwrap()
                .used_bytes,
            Some(5)
        );
        assert_eq!(summary.pods[0].start_time, None);
        assert!(summary.pods[0].containers.is_empty());
    }

    #[test]
    fn null_time_reads_as_go_zero_and_writes_back_as_null() {
        let cpu: CpuStats = serde_json::from_str(r#"{"time":null,"usageNanoCores":0}"#).unwrap();
        assert_eq!(cpu.time, go_time::zero());
        assert_eq!(cpu.usage_nano_cores, Some(0));
        assert_eq!(
            serde_json::to_string(&cpu).unwrap(),
            r#"{"time":null,"usageNanoCores":0}"#
        );
        assert_eq!(go_time::zero().to_string(), "0001-01-01T00:00:00Z");
    }
}

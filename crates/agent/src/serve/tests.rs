//! Golden tests of the three endpoints on a hand-built machine.
//!
//! The fixture, two snapshots 10 s apart (times are wall clock of the
//! newer pass, 2025-01-02T03:04:15.250Z = 1735787055250 ms):
//!
//! - node: 4 CPUs, MemTotal 8e9, SwapTotal 2e9; root CPU 100 s → 115 s
//!   (1.5 cores), working set 2e9, swap 1 MiB;
//! - `default/web-0`, a Kubernetes pod: `app` (CPU 2 s → 4.5 s = 0.25
//!   cores, limit 1e8, CPU quota, throttled), `sidecar` whose counter went
//!   down (9 s → 1 s: restarted, no rate), and a pod cgroup larger than the
//!   two (pause and overhead): 12 s → 15 s, working set 6.5e7;
//! - `kube-system/job-1`, a Kubernetes pod that appeared between the
//!   passes: figures, no rates, a container whose start is unknown;
//! - `docker/0123456789ab`, a Docker container outside Kubernetes (its
//!   cgroup is both its pod and its container), limited to 1 GiB, swapping;
//! - system containers `pods` and `kubelet`; no runtime cgroup identified.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use workingset_cgroup::{
    CpuMax, CpuOrigin, CpuStats, Meminfo, MemoryOrigin, MemoryStats, NodeStats, Throttling,
};
use workingset_model::metrics::Time;

use super::{MachineIdentity, Observation, cadvisor, pods, resource, summary};
use workingset_sampling::discovery::{QosClass, Runtime};
use workingset_sampling::sampler::{
    CgroupSample, ContainerSample, CpuCounter, PodKey, PodSample, Snapshot, SystemContainers,
    WorkloadKind,
};

fn at(text: &str) -> Time {
    Time(text.parse().unwrap())
}

/// Memory figures from the four that matter; the rest derived so that they
/// are consistent (cache = usage − rss, inactive = usage − working set).
fn mem(usage: u64, working_set: u64, rss: u64, limit: Option<u64>) -> MemoryStats {
    let cache = usage - rss;
    let inactive = usage - working_set;
    MemoryStats {
        usage,
        working_set,
        rss,
        cache,
        mapped_file: 1_000_000,
        swap: 0,
        active_file: cache.saturating_sub(inactive),
        inactive_file: Some(inactive),
        pgfault: 100,
        pgmajfault: 1,
        failcnt: 0,
        oom_events: Some(0),
        kernel: None,
        max_usage: None,
        limit,
        origin: MemoryOrigin::V2 {
            swap_accounted: true,
        },
    }
}

/// A cgroup CPU counter at `usage_ns`: 70 % user, 30 % system.
fn cpu_stats(usage_ns: u64) -> CpuStats {
    CpuStats {
        usage_ns,
        user_ns: usage_ns / 10 * 7,
        system_ns: usage_ns - usage_ns / 10 * 7,
        throttling: None,
        quota: None,
        origin: CpuOrigin::V2,
    }
}

fn cpu(usage_ns: u64) -> CpuCounter {
    CpuCounter::Cgroup(cpu_stats(usage_ns))
}

fn cgroup(path: &str, memory: MemoryStats, cpu: CpuCounter, started: Option<Time>) -> CgroupSample {
    CgroupSample {
        cgroup: path.to_owned(),
        memory,
        cpu,
        started,
    }
}

const WEB_POD: &str = "/kubepods/burstable/pod1111-2222";
const APP: &str = "/kubepods/burstable/pod1111-2222/abc123";
const SIDECAR: &str = "/kubepods/burstable/pod1111-2222/def456";
const DOCKER: &str = "/system.slice/docker-0123456789abcdef.scope";

/// The snapshot at `time`; `earlier` selects the first pass's counters.
fn snapshot(earlier: bool, instant: Instant) -> Snapshot {
    // Counters that differ between the passes: (earlier, later).
    let pick = |before: u64, after: u64| if earlier { before } else { after };

    let app_cpu = CpuStats {
        throttling: Some(Throttling {
            periods: 100,
            throttled_periods: 7,
            throttled_ns: 350_000_000,
        }),
        quota: Some(CpuMax {
            quota_us: Some(50_000),
            period_us: 100_000,
        }),
        ..cpu_stats(pick(2_000_000_000, 4_500_000_000))
    };
    let web = PodSample {
        key: PodKey {
            namespace: "default".into(),
            name: "web-0".into(),
        },
        kind: WorkloadKind::KubernetesPod(QosClass::Burstable),
        cgroup: WEB_POD.into(),
        uid: Some("1111-2222".into()),
        labels: BTreeMap::new(),
        created: Some(at("2025-01-02T02:59:58Z")),
        // Walk order, not name order: the renderers sort.
        containers: vec![
            ContainerSample {
                name: "sidecar".into(),
                id: Some("def456".into()),
                image: None,
                started: Some(at("2025-01-02T03:04:10Z")),
                cgroup: SIDECAR.into(),
                memory: mem(12_000_000, 10_000_000, 8_000_000, None),
                cpu: cpu(pick(9_000_000_000, 1_000_000_000)),
            },
            ContainerSample {
                name: "app".into(),
                id: Some("abc123".into()),
                image: Some("nginx:1.27".into()),
                started: Some(at("2025-01-02T03:00:00Z")),
                cgroup: APP.into(),
                memory: mem(60_000_000, 50_000_000, 40_000_000, Some(100_000_000)),
                cpu: CpuCounter::Cgroup(app_cpu),
            },
        ],
        pod_cgroup: Some(cgroup(
            WEB_POD,
            mem(80_000_000, 65_000_000, 50_000_000, None),
            cpu(pick(12_000_000_000, 15_000_000_000)),
            Some(at("2025-01-02T02:59:58Z")),
        )),
    };
    let job = PodSample {
        key: PodKey {
            namespace: "kube-system".into(),
            name: "job-1".into(),
        },
        kind: WorkloadKind::KubernetesPod(QosClass::BestEffort),
        cgroup: "/kubepods/besteffort/pod3333-4444".into(),
        uid: Some("3333-4444".into()),
        labels: BTreeMap::new(),
        created: Some(at("2025-01-02T03:04:12Z")),
        containers: vec![ContainerSample {
            name: "worker".into(),
            id: Some("fed789".into()),
            image: None,
            started: None,
            cgroup: "/kubepods/besteffort/pod3333-4444/fed789".into(),
            memory: mem(5_000_000, 4_000_000, 3_000_000, None),
            cpu: cpu(700_000_000),
        }],
        pod_cgroup: Some(cgroup(
            "/kubepods/besteffort/pod3333-4444",
            mem(6_000_000, 4_500_000, 4_000_000, None),
            cpu(800_000_000),
            Some(at("2025-01-02T03:04:12Z")),
        )),
    };
    let docker = PodSample {
        key: PodKey {
            namespace: "docker".into(),
            name: "0123456789ab".into(),
        },
        kind: WorkloadKind::Container(Runtime::Docker),
        cgroup: DOCKER.into(),
        uid: None,
        labels: BTreeMap::new(),
        created: Some(at("2025-01-01T00:00:00Z")),
        containers: vec![ContainerSample {
            name: "0123456789ab".into(),
            id: Some("0123456789abcdef".into()),
            image: Some("redis:7".into()),
            started: Some(at("2025-01-01T00:00:00Z")),
            cgroup: DOCKER.into(),
            memory: MemoryStats {
                swap: 4096,
                ..mem(30_000_000, 25_000_000, 20_000_000, Some(1 << 30))
            },
            cpu: cpu(pick(50_000_000_000, 51_000_000_000)),
        }],
        pod_cgroup: None,
    };
    let mut pods = vec![docker, web];
    if !earlier {
        pods.push(job);
    }
    Snapshot {
        time: if earlier {
            at("2025-01-02T03:04:05.250Z")
        } else {
            at("2025-01-02T03:04:15.250Z")
        },
        instant,
        node: NodeStats {
            memory: MemoryStats {
                swap: 1_048_576,
                origin: MemoryOrigin::V2Root,
                ..mem(3_000_000_000, 2_000_000_000, 1_500_000_000, None)
            },
            cpu: cpu_stats(pick(100_000_000_000, 115_000_000_000)),
            meminfo: Meminfo {
                mem_total: 8_000_000_000,
                mem_free: None,
                mem_available: None,
                buffers: None,
                cached: None,
                swap_total: Some(2_000_000_000),
                swap_free: None,
            },
            online_cpus: 4,
        },
        pods,
        system: SystemContainers {
            pods: Some(cgroup(
                "/kubepods",
                mem(100_000_000, 80_000_000, 70_000_000, None),
                cpu(pick(20_000_000_000, 25_000_000_000)),
                Some(at("2025-01-02T00:00:00Z")),
            )),
            kubelet: Some(cgroup(
                "/system.slice/kubelet.service",
                mem(70_000_000, 60_000_000, 50_000_000, None),
                cpu(pick(30_000_000_000, 30_500_000_000)),
                Some(at("2025-01-02T00:00:05Z")),
            )),
            runtime: None,
        },
    }
}

fn observation() -> Observation {
    let start = Instant::now();
    let earlier = Arc::new(snapshot(true, start));
    let later = Arc::new(snapshot(false, start + Duration::from_secs(10)));
    let mut first = Observation::first("node-1", earlier);
    first.boot_time = Some(at("2025-01-01T23:59:00Z"));
    first.next(later)
}

const RESOURCE: &str = "\
# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container=\"0123456789ab\",namespace=\"docker\",pod=\"0123456789ab\"} 51 1735787055250
container_cpu_usage_seconds_total{container=\"app\",namespace=\"default\",pod=\"web-0\"} 4.5 1735787055250
container_cpu_usage_seconds_total{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 1 1735787055250
container_cpu_usage_seconds_total{container=\"worker\",namespace=\"kube-system\",pod=\"job-1\"} 0.7 1735787055250
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container=\"0123456789ab\",namespace=\"docker\",pod=\"0123456789ab\"} 2.5e+07 1735787055250
container_memory_working_set_bytes{container=\"app\",namespace=\"default\",pod=\"web-0\"} 5e+07 1735787055250
container_memory_working_set_bytes{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 1e+07 1735787055250
container_memory_working_set_bytes{container=\"worker\",namespace=\"kube-system\",pod=\"job-1\"} 4e+06 1735787055250
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container=\"0123456789ab\",namespace=\"docker\",pod=\"0123456789ab\"} 1.7356896e+09
container_start_time_seconds{container=\"app\",namespace=\"default\",pod=\"web-0\"} 1.7357868e+09
container_start_time_seconds{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 1.73578705e+09
# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems
# TYPE container_swap_usage_bytes gauge
container_swap_usage_bytes{container=\"0123456789ab\",namespace=\"docker\",pod=\"0123456789ab\"} 4096 1735787055250
container_swap_usage_bytes{container=\"app\",namespace=\"default\",pod=\"web-0\"} 0 1735787055250
container_swap_usage_bytes{container=\"sidecar\",namespace=\"default\",pod=\"web-0\"} 0 1735787055250
container_swap_usage_bytes{container=\"worker\",namespace=\"kube-system\",pod=\"job-1\"} 0 1735787055250
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 115 1735787055250
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 2e+09 1735787055250
# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems
# TYPE node_swap_usage_bytes gauge
node_swap_usage_bytes 1.048576e+06 1735787055250
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace=\"default\",pod=\"web-0\"} 15 1735787055250
pod_cpu_usage_seconds_total{namespace=\"docker\",pod=\"0123456789ab\"} 51 1735787055250
pod_cpu_usage_seconds_total{namespace=\"kube-system\",pod=\"job-1\"} 0.8 1735787055250
# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace=\"default\",pod=\"web-0\"} 6.5e+07 1735787055250
pod_memory_working_set_bytes{namespace=\"docker\",pod=\"0123456789ab\"} 2.5e+07 1735787055250
pod_memory_working_set_bytes{namespace=\"kube-system\",pod=\"job-1\"} 4.5e+06 1735787055250
# HELP pod_swap_usage_bytes [ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems
# TYPE pod_swap_usage_bytes gauge
pod_swap_usage_bytes{namespace=\"default\",pod=\"web-0\"} 0 1735787055250
pod_swap_usage_bytes{namespace=\"docker\",pod=\"0123456789ab\"} 4096 1735787055250
pod_swap_usage_bytes{namespace=\"kube-system\",pod=\"job-1\"} 0 1735787055250
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
";

#[test]
fn resource_metrics_are_byte_for_byte_a_kubelets() {
    let mut out = String::new();
    resource::render(&observation(), &mut out);
    assert_eq!(out, RESOURCE);
}

#[test]
fn resource_metrics_without_a_snapshot_are_the_error_gauge_alone() {
    let mut out = String::new();
    resource::render_unavailable(&mut out);
    assert_eq!(
        out,
        "# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise\n\
         # TYPE resource_scrape_error gauge\n\
         resource_scrape_error 1\n"
    );
}

/// `"time":"2025-01-02T03:04:15Z"`, the newer pass in whole seconds.
macro_rules! t {
    () => {
        r#""time":"2025-01-02T03:04:15Z""#
    };
}

/// The Summary of the fixture, hand-checked field by field. Both
/// `only_cpu_and_memory` answers are this until the sampler reads network,
/// filesystem and process figures.
const SUMMARY: &str = concat!(
    r#"{"node":{"nodeName":"node-1","systemContainers":["#,
    // kubelet.service: 30 s → 30.5 s over 10 s = 0.05 cores.
    r#"{"name":"kubelet","startTime":"2025-01-02T00:00:05Z","#,
    r#""cpu":{"#,
    t!(),
    r#","usageNanoCores":50000000,"usageCoreNanoSeconds":30500000000},"#,
    r#""memory":{"#,
    t!(),
    r#","usageBytes":70000000,"workingSetBytes":60000000,"rssBytes":50000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":0}},"#,
    // kubepods: 20 s → 25 s = 0.5 cores.
    r#"{"name":"pods","startTime":"2025-01-02T00:00:00Z","#,
    r#""cpu":{"#,
    t!(),
    r#","usageNanoCores":500000000,"usageCoreNanoSeconds":25000000000},"#,
    r#""memory":{"#,
    t!(),
    r#","usageBytes":100000000,"workingSetBytes":80000000,"rssBytes":70000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":0}}],"#,
    // The node: boot time; 1.5 cores; MemTotal 8e9 − working set 2e9;
    // SwapTotal 2e9 − 1048576.
    r#""startTime":"2025-01-01T23:59:00Z","#,
    r#""cpu":{"#,
    t!(),
    r#","usageNanoCores":1500000000,"usageCoreNanoSeconds":115000000000},"#,
    r#""memory":{"#,
    t!(),
    r#","availableBytes":6000000000,"usageBytes":3000000000,"workingSetBytes":2000000000,"rssBytes":1500000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapAvailableBytes":1998951424,"swapUsageBytes":1048576}},"#,
    r#""pods":["#,
    // default/web-0: containers by name; app 0.25 cores and 1e8 − 5e7
    // available; sidecar restarted (no rate, no limit); the pod cgroup
    // 12 s → 15 s = 0.3 cores.
    r#"{"podRef":{"name":"web-0","namespace":"default","uid":"1111-2222"},"startTime":"2025-01-02T02:59:58Z","containers":["#,
    r#"{"name":"app","startTime":"2025-01-02T03:00:00Z","#,
    r#""cpu":{"#,
    t!(),
    r#","usageNanoCores":250000000,"usageCoreNanoSeconds":4500000000},"#,
    r#""memory":{"#,
    t!(),
    r#","availableBytes":50000000,"usageBytes":60000000,"workingSetBytes":50000000,"rssBytes":40000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":0}},"#,
    r#"{"name":"sidecar","startTime":"2025-01-02T03:04:10Z","#,
    r#""cpu":{"#,
    t!(),
    r#","usageCoreNanoSeconds":1000000000},"#,
    r#""memory":{"#,
    t!(),
    r#","usageBytes":12000000,"workingSetBytes":10000000,"rssBytes":8000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":0}}],"#,
    r#""cpu":{"#,
    t!(),
    r#","usageNanoCores":300000000,"usageCoreNanoSeconds":15000000000},"#,
    r#""memory":{"#,
    t!(),
    r#","usageBytes":80000000,"workingSetBytes":65000000,"rssBytes":50000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":0}},"#,
    // docker/0123456789ab: one cgroup, 50 s → 51 s = 0.1 cores; 1 GiB −
    // 25e6 = 1048741824 available; no UID.
    r#"{"podRef":{"name":"0123456789ab","namespace":"docker","uid":""},"startTime":"2025-01-01T00:00:00Z","containers":["#,
    r#"{"name":"0123456789ab","startTime":"2025-01-01T00:00:00Z","#,
    r#""cpu":{"#,
    t!(),
    r#","usageNanoCores":100000000,"usageCoreNanoSeconds":51000000000},"#,
    r#""memory":{"#,
    t!(),
    r#","availableBytes":1048741824,"usageBytes":30000000,"workingSetBytes":25000000,"rssBytes":20000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":4096}}],"#,
    r#""cpu":{"#,
    t!(),
    r#","usageNanoCores":100000000,"usageCoreNanoSeconds":51000000000},"#,
    r#""memory":{"#,
    t!(),
    r#","availableBytes":1048741824,"usageBytes":30000000,"workingSetBytes":25000000,"rssBytes":20000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":4096}},"#,
    // kube-system/job-1: new since the earlier pass, so no rate anywhere;
    // its container's start is unknown (Go's zero time: null).
    r#"{"podRef":{"name":"job-1","namespace":"kube-system","uid":"3333-4444"},"startTime":"2025-01-02T03:04:12Z","containers":["#,
    r#"{"name":"worker","startTime":null,"#,
    r#""cpu":{"#,
    t!(),
    r#","usageCoreNanoSeconds":700000000},"#,
    r#""memory":{"#,
    t!(),
    r#","usageBytes":5000000,"workingSetBytes":4000000,"rssBytes":3000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":0}}],"#,
    r#""cpu":{"#,
    t!(),
    r#","usageCoreNanoSeconds":800000000},"#,
    r#""memory":{"#,
    t!(),
    r#","usageBytes":6000000,"workingSetBytes":4500000,"rssBytes":4000000,"pageFaults":100,"majorPageFaults":1},"#,
    r#""swap":{"#,
    t!(),
    r#","swapUsageBytes":0}}]}"#,
);

#[test]
fn summary_json_is_a_kubelets_field_for_field() {
    let observation = observation();
    for only_cpu_and_memory in [false, true] {
        let json =
            serde_json::to_string(&summary::build(&observation, only_cpu_and_memory)).unwrap();
        assert_eq!(json, SUMMARY, "only_cpu_and_memory={only_cpu_and_memory}");
    }
}

#[test]
fn summary_round_trips_through_json() {
    let built = summary::build(&observation(), false);
    let read: workingset_model::summary::Summary =
        serde_json::from_str(&serde_json::to_string(&built).unwrap()).unwrap();
    // Times are written in whole seconds, so compare what was written.
    assert_eq!(
        serde_json::to_string(&read).unwrap(),
        serde_json::to_string(&built).unwrap()
    );
}

#[test]
fn first_observation_has_figures_but_no_rates() {
    let later = Arc::new(snapshot(false, Instant::now()));
    let observation = Observation::first("node-1", later);
    assert_eq!(observation.window(), None);
    let summary = summary::build(&observation, true);
    let node_cpu = summary.node.cpu.as_ref().unwrap();
    assert_eq!(node_cpu.usage_nano_cores, None);
    assert_eq!(node_cpu.usage_core_nano_seconds, Some(115_000_000_000));
    for pod in &summary.pods {
        assert_eq!(pod.cpu.as_ref().unwrap().usage_nano_cores, None);
        for container in &pod.containers {
            assert_eq!(container.cpu.as_ref().unwrap().usage_nano_cores, None);
        }
    }
    // Unknown boot time: Go's zero time.
    assert_eq!(summary.node.start_time, None);
}

#[test]
fn restarted_and_new_containers_have_no_rate_never_a_negative_one() {
    let summary = summary::build(&observation(), true);
    let rate = |namespace: &str, pod: &str, container: &str| {
        let pod = summary
            .pods
            .iter()
            .find(|p| p.pod_ref.namespace == namespace && p.pod_ref.name == pod)
            .unwrap();
        let container = pod.containers.iter().find(|c| c.name == container).unwrap();
        container.cpu.as_ref().unwrap().usage_nano_cores
    };
    assert_eq!(rate("default", "web-0", "app"), Some(250_000_000));
    assert_eq!(rate("default", "web-0", "sidecar"), None);
    assert_eq!(rate("kube-system", "job-1", "worker"), None);
    // Nothing in any of the three outputs is negative.
    let json = serde_json::to_string(&summary).unwrap();
    assert!(!json.contains(":-"), "{json}");
    for render in [resource::render, cadvisor::render] {
        let mut out = String::new();
        render(&observation(), &mut out);
        assert!(!out.contains(" -"), "{out}");
    }
}

#[test]
fn pod_memory_is_at_least_the_sum_of_its_containers() {
    let summary = summary::build(&observation(), false);
    assert_eq!(summary.pods.len(), 3);
    for pod in &summary.pods {
        let working_set = |m: Option<&workingset_model::summary::MemoryStats>| {
            m.and_then(|m| m.working_set_bytes).unwrap()
        };
        let usage = |m: Option<&workingset_model::summary::MemoryStats>| {
            m.and_then(|m| m.usage_bytes).unwrap()
        };
        let containers_ws: u64 = pod
            .containers
            .iter()
            .map(|c| working_set(c.memory.as_ref()))
            .sum();
        let containers_usage: u64 = pod
            .containers
            .iter()
            .map(|c| usage(c.memory.as_ref()))
            .sum();
        assert!(
            working_set(pod.memory.as_ref()) >= containers_ws,
            "{}",
            pod.pod_ref.name
        );
        assert!(
            usage(pod.memory.as_ref()) >= containers_usage,
            "{}",
            pod.pod_ref.name
        );
    }
}

#[test]
fn cadvisor_lines_of_one_container() {
    let mut observation = observation();
    observation.machine = MachineIdentity {
        machine_id: "m1".into(),
        system_uuid: "u1".into(),
        boot_id: "b1".into(),
    };
    let mut out = String::new();
    cadvisor::render(&observation, &mut out);
    let app = r#"{container="app",id="/kubepods/burstable/pod1111-2222/abc123",image="nginx:1.27",name="abc123",namespace="default",pod="web-0"}"#;
    let expected = [
        format!("container_cpu_cfs_periods_total{app} 100 1735787055250"),
        format!("container_cpu_cfs_throttled_periods_total{app} 7 1735787055250"),
        format!("container_cpu_cfs_throttled_seconds_total{app} 0.35 1735787055250"),
        format!("container_cpu_system_seconds_total{app} 1.35 1735787055250"),
        r#"container_cpu_usage_seconds_total{container="app",cpu="total",id="/kubepods/burstable/pod1111-2222/abc123",image="nginx:1.27",name="abc123",namespace="default",pod="web-0"} 4.5 1735787055250"#.to_owned(),
        format!("container_cpu_user_seconds_total{app} 3.15 1735787055250"),
        format!("container_memory_cache{app} 2e+07 1735787055250"),
        format!("container_memory_failcnt{app} 0 1735787055250"),
        format!("container_memory_mapped_file{app} 1e+06 1735787055250"),
        format!("container_memory_rss{app} 4e+07 1735787055250"),
        format!("container_memory_swap{app} 0 1735787055250"),
        format!("container_memory_total_active_file_bytes{app} 1e+07 1735787055250"),
        format!("container_memory_total_inactive_file_bytes{app} 1e+07 1735787055250"),
        format!("container_memory_usage_bytes{app} 6e+07 1735787055250"),
        format!("container_memory_working_set_bytes{app} 5e+07 1735787055250"),
        format!("container_spec_memory_limit_bytes{app} 1e+08"),
        format!("container_start_time_seconds{app} 1.7357868e+09"),
    ];
    let app_lines: Vec<&str> = out
        .lines()
        .filter(|line| line.contains(r#"id="/kubepods/burstable/pod1111-2222/abc123""#))
        .collect();
    assert_eq!(app_lines, expected, "{out}");

    // The root, a pod cgroup, a Docker container (no Kubernetes labels),
    // the machine, and cAdvisor's HELP texts.
    for line in [
        "# HELP container_memory_usage_bytes Current memory usage in bytes, including all memory regardless of when it was accessed",
        "# TYPE container_memory_failcnt counter",
        "# TYPE container_cpu_usage_seconds_total counter",
        r#"container_memory_working_set_bytes{container="",id="/",image="",name="",namespace="",pod=""} 2e+09 1735787055250"#,
        r#"container_spec_memory_limit_bytes{container="",id="/",image="",name="",namespace="",pod=""} 8e+09"#,
        r#"container_start_time_seconds{container="",id="/",image="",name="",namespace="",pod=""} 1.73577594e+09"#,
        r#"container_cpu_usage_seconds_total{container="",cpu="total",id="/",image="",name="",namespace="",pod=""} 115 1735787055250"#,
        r#"container_memory_working_set_bytes{container="",id="/kubepods/burstable/pod1111-2222",image="",name="",namespace="default",pod="web-0"} 6.5e+07 1735787055250"#,
        r#"container_memory_working_set_bytes{container="",id="/kubepods",image="",name="",namespace="",pod=""} 8e+07 1735787055250"#,
        r#"container_memory_swap{container="",id="/system.slice/docker-0123456789abcdef.scope",image="redis:7",name="0123456789ab",namespace="",pod=""} 4096 1735787055250"#,
        r#"container_spec_memory_limit_bytes{container="",id="/system.slice/docker-0123456789abcdef.scope",image="redis:7",name="0123456789ab",namespace="",pod=""} 1.073741824e+09"#,
        "container_scrape_error 0",
        r#"machine_cpu_cores{boot_id="b1",machine_id="m1",system_uuid="u1"} 4 1735787055250"#,
        r#"machine_memory_bytes{boot_id="b1",machine_id="m1",system_uuid="u1"} 8e+09 1735787055250"#,
        "machine_scrape_error 0",
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line:?} in\n{out}");
    }
    // No quota, no CFS lines; a start time that is unknown is left out.
    assert!(!out.contains("cfs_periods_total{container=\"sidecar\""));
    assert!(!out.contains("container_start_time_seconds{container=\"worker\""));
    // Families in name order.
    let families: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(|l| l.split(' ').next().unwrap())
        .collect();
    assert!(families.is_sorted(), "{families:?}");
    assert_eq!(families.len(), 21, "{families:?}");
}

#[test]
fn workloads_with_one_name_are_served_once() {
    let start = Instant::now();
    let mut later = snapshot(false, start);
    let mut twin = later.pods[0].clone();
    twin.cgroup = "/other/docker-0123456789abcdef.scope".into();
    twin.containers[0].cgroup = twin.cgroup.clone();
    later.pods.push(twin);
    let observation = Observation::first("node-1", Arc::new(later));
    let mut out = String::new();
    resource::render(&observation, &mut out);
    assert_eq!(
        out.matches(r#"pod_memory_working_set_bytes{namespace="docker",pod="0123456789ab"}"#)
            .count(),
        1
    );
    assert_eq!(summary::build(&observation, true).pods.len(), 3);
}

#[test]
fn pod_list_is_a_kubelets_shape_with_the_resource_endpoints_pods() {
    let start = Instant::now();
    let mut later = snapshot(false, start + Duration::from_secs(10));
    // Runtime labels of web-0 (walk order: docker, web, job).
    later.pods[1].labels = BTreeMap::from([
        ("app".to_owned(), "web".to_owned()),
        ("app.kubernetes.io/part-of".to_owned(), "shop".to_owned()),
    ]);
    let observation =
        Observation::first("node-1", Arc::new(snapshot(true, start))).next(Arc::new(later));
    let json = serde_json::to_string(&pods::build(&observation)).unwrap();
    assert_eq!(
        json,
        concat!(
            r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":["#,
            // Containers by name; labels from the runtime.
            r#"{"metadata":{"name":"web-0","namespace":"default","uid":"1111-2222","creationTimestamp":"2025-01-02T02:59:58Z","labels":{"app":"web","app.kubernetes.io/part-of":"shop"}},"#,
            r#""spec":{"containers":[{"name":"app"},{"name":"sidecar"}],"nodeName":"node-1"},"#,
            r#""status":{"phase":"Running","startTime":"2025-01-02T02:59:58Z"}},"#,
            // Not a Kubernetes pod: no UID.
            r#"{"metadata":{"name":"0123456789ab","namespace":"docker","creationTimestamp":"2025-01-01T00:00:00Z"},"#,
            r#""spec":{"containers":[{"name":"0123456789ab"}],"nodeName":"node-1"},"#,
            r#""status":{"phase":"Running","startTime":"2025-01-01T00:00:00Z"}},"#,
            r#"{"metadata":{"name":"job-1","namespace":"kube-system","uid":"3333-4444","creationTimestamp":"2025-01-02T03:04:12Z"},"#,
            r#""spec":{"containers":[{"name":"worker"}],"nodeName":"node-1"},"#,
            r#""status":{"phase":"Running","startTime":"2025-01-02T03:04:12Z"}}]}"#,
        )
    );

    // The same pods, in the same order, as /metrics/resource.
    let mut resource = String::new();
    resource::render(&observation, &mut resource);
    let from_resource: Vec<String> = resource
        .lines()
        .filter_map(|line| line.strip_prefix("pod_memory_working_set_bytes{"))
        .map(|rest| rest.split('}').next().unwrap().to_owned())
        .collect();
    let from_list: Vec<String> = pods::build(&observation)
        .items
        .iter()
        .map(|pod| {
            format!(
                "namespace=\"{}\",pod=\"{}\"",
                pod.metadata.namespace, pod.metadata.name
            )
        })
        .collect();
    assert_eq!(from_list, from_resource);
}

#[test]
fn pod_list_of_a_machine_without_workloads_is_empty_not_null() {
    let mut later = snapshot(false, Instant::now());
    later.pods.clear();
    let observation = Observation::first("node-1", Arc::new(later));
    assert_eq!(
        serde_json::to_string(&pods::build(&observation)).unwrap(),
        r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#
    );
}

//! Explanations built from hand-made inputs validate against the committed
//! JSON Schema, and the schema catches a wrong shape.

use std::time::Duration;

use crate::inputs::{
    CgroupInputs, CpuInputs, Figure, Hierarchy, HostMemory, LimitFigure, MemoryInputs, Mode,
    NodeInputs, PartInputs, PodInputs, QuotaInput, RateInput, SourceInputs, ThrottleInput,
    ThrottleScope,
};

fn schema() -> jsonschema::Validator {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/explain.schema.json"
    ))
    .unwrap();
    let schema: serde_json::Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(value: &serde_json::Value) {
    let validator = schema();
    let errors: Vec<String> = validator
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{value:#}");
}

fn memory(usage: u64, cache: u64, inactive: u64, limit: Option<u64>) -> MemoryInputs {
    MemoryInputs {
        usage: Figure::known(usage, "memory.usage_in_bytes"),
        rss: Figure::known(usage - cache, "memory.stat total_rss"),
        cache: Figure::known(cache, "memory.stat total_cache"),
        own_cache: Figure::known(cache, "memory.stat cache"),
        mapped_file: Figure::known(0, "memory.stat total_mapped_file"),
        swap: Figure::missing("not available: no swap accounting"),
        shmem: Figure::known(0, "memory.stat total_shmem"),
        active_file: Figure::known(cache - inactive, "memory.stat total_active_file"),
        inactive_file: Figure::known(inactive, "memory.stat total_inactive_file"),
        kernel: Figure::known(4096, "memory.kmem.usage_in_bytes"),
        limit: LimitFigure {
            bytes: limit,
            unlimited: limit.is_none(),
            source: "memory.limit_in_bytes".to_owned(),
        },
        reported_working_set: None,
    }
}

fn cgroup(name: &str, usage: u64, limit: Option<u64>) -> CgroupInputs {
    CgroupInputs {
        name: name.to_owned(),
        cgroup: Some(format!("/kubepods/pod1/{name}")),
        memory: memory(usage, usage / 2, usage / 4, limit),
        cpu: CpuInputs {
            rate: RateInput::Counters {
                before_ns: 1_000,
                after_ns: 2_000_000,
                window: Duration::from_secs(1),
                source: "cpuacct.usage".to_owned(),
            },
            throttling: Some(ThrottleInput {
                scope: ThrottleScope::Window,
                periods: 10,
                throttled_periods: 2,
                throttled_ns: 5_000_000,
                source: "cpu.stat".to_owned(),
            }),
            quota: QuotaInput::Limited {
                quota_us: 50_000,
                period_us: 100_000,
                source: "cpu.cfs_quota_us / cpu.cfs_period_us".to_owned(),
            },
        },
    }
}

fn source() -> SourceInputs {
    SourceInputs {
        mode: Mode::Local,
        endpoint: None,
        hierarchy: Hierarchy::V1,
        window: Some(Duration::from_secs(1)),
    }
}

fn host() -> HostMemory {
    HostMemory::total_only(Figure::known(8 << 30, "/proc/meminfo MemTotal"), "not read")
}

#[test]
fn pod_explanations_match_the_schema() {
    let pod = PodInputs {
        source: source(),
        node: "n1".to_owned(),
        namespace: "ns".to_owned(),
        name: "p".to_owned(),
        uid: Some("1".to_owned()),
        kubernetes: true,
        containers: vec![
            cgroup("app", 40 << 20, Some(256 << 20)),
            cgroup("side", 8 << 20, None),
        ],
        only_container: None,
        sandboxes: vec![cgroup("pause", 1 << 20, None)],
        sandbox_note: None,
        pod_cgroup: Some(cgroup("p", 50 << 20, None)),
        pod_cgroup_note: None,
        host: host(),
    };
    let explanation = crate::explain_pod(&pod);
    let overhead = explanation.pod_overhead.as_ref().unwrap();
    // Working sets are usage − usage/4: 37.5 MiB pod, 30 + 6 MiB containers, 0.75 MiB pause.
    assert_eq!(overhead.pod_working_set, Some(39_321_600));
    assert_eq!(overhead.containers_working_set, 31_457_280 + 6_291_456);
    assert_eq!(overhead.overhead_bytes, Some(39_321_600 - 37_748_736));
    assert_eq!(
        overhead.other_bytes,
        Some(39_321_600 - 37_748_736 - 786_432)
    );
    assert_eq!(explanation.kubectl_top.memory.as_deref(), Some("36Mi"));
    let json = serde_json::to_value(&explanation).unwrap();
    assert_valid(&json);

    // -c keeps the pod figures and details one container.
    let only = PodInputs {
        only_container: Some("side".to_owned()),
        ..pod
    };
    let explanation = crate::explain_pod(&only);
    assert_eq!(explanation.cgroups.len(), 1);
    assert_eq!(explanation.kubectl_top.memory.as_deref(), Some("36Mi"));
    assert_valid(&serde_json::to_value(&explanation).unwrap());
}

#[test]
fn node_explanations_match_the_schema() {
    let part = |name: &str, ws: u64| PartInputs {
        name: name.to_owned(),
        cgroup: format!("/{name}"),
        working_set: Some(ws),
        usage: Some(ws * 2),
        cache: Some(ws),
        source: "memory.usage_in_bytes".to_owned(),
    };
    let node = NodeInputs {
        source: source(),
        name: "n1".to_owned(),
        root: CgroupInputs {
            name: "n1".to_owned(),
            cgroup: Some("/".to_owned()),
            ..cgroup("root", 4 << 30, None)
        },
        cpus: Some(4),
        host: host(),
        top_level: vec![part("kubepods", 1 << 30), part("system.slice", 1 << 29)],
        pods_cgroup: Some(part("kubepods", 1 << 30)),
        system: vec![part("kubelet", 1 << 26)],
        containers_working_set: 900 << 20,
        container_count: 3,
        pod_count: 2,
    };
    let explanation = crate::explain_node(&node);
    let breakdown = explanation.node_breakdown.as_ref().unwrap();
    // Root working set: 4 GiB − 1 GiB inactive.
    assert_eq!(breakdown.node_working_set, Some(3 << 30));
    assert_eq!(
        breakdown.outside_parts,
        Some((3 << 30) - (1 << 30) - (1 << 29))
    );
    assert_eq!(
        breakdown.page_cache.outside_pods,
        Some((2 << 30) - (1 << 30))
    );
    let json = serde_json::to_value(&explanation).unwrap();
    assert_valid(&json);

    // The schema is not a rubber stamp.
    let mut broken = json.clone();
    broken["kind"] = serde_json::json!("pod");
    assert!(
        !schema().is_valid(&broken),
        "a node explanation labelled pod must fail"
    );
    let mut broken = json;
    broken["cgroups"][0]["memory"]["usage"]["bytes"] = serde_json::json!(-1);
    assert!(!schema().is_valid(&broken));
}

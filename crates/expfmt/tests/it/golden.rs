//! The kubelet's `/metrics/resource`, byte for byte.

use workingset_expfmt::{Exposition, MetricType, Sample};

/// The example of metrics-api.md §1, verbatim.
const METRICS_API_EXAMPLE: &str = r#"# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 21.911392 1735616288521
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 1.910784e+07 1735616288521
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 531.060042 1738767712185
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.582764032e+09 1735616290756
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
"#;

const CPU_HELP: &str = "[STABLE] Cumulative cpu time consumed by the container in core-seconds";
const MEM_HELP: &str = "[STABLE] Current working set of the container in bytes";

#[test]
fn metrics_api_example() {
    let mut e = Exposition::new();
    // Pushed in reverse order on purpose: the renderer sorts families.
    e.family(
        "resource_scrape_error",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        MetricType::Gauge,
    )
    .push(Sample::new(0.0));
    e.family(
        "node_memory_working_set_bytes",
        "[STABLE] Current working set of the node in bytes",
        MetricType::Gauge,
    )
    .push(Sample::new(1_582_764_032.0).at_ms(1_735_616_290_756));
    e.family(
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        MetricType::Counter,
    )
    .push(Sample::new(531.060042).at_ms(1_738_767_712_185));
    // Labels pushed unsorted; the renderer sorts them by name.
    e.family(
        "container_memory_working_set_bytes",
        MEM_HELP,
        MetricType::Gauge,
    )
    .push(
        Sample::new(19_107_840.0)
            .label("pod", "coredns-668d6bf9bc-d7nx2")
            .label("namespace", "kube-system")
            .label("container", "coredns")
            .at_ms(1_735_616_288_521),
    );
    e.family(
        "container_cpu_usage_seconds_total",
        CPU_HELP,
        MetricType::Counter,
    )
    .sample(
        [
            ("container", "coredns"),
            ("namespace", "kube-system"),
            ("pod", "coredns-668d6bf9bc-d7nx2"),
        ],
        21.911392,
        Some(1_735_616_288_521),
    );
    let mut out = String::new();
    e.render(&mut out);
    assert_eq!(out, METRICS_API_EXAMPLE);
}

/// A fuller node: several pods, swap, start times without timestamps, an
/// empty family (not written), samples pushed out of order.
const FULL: &str = r#"# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the container in core-seconds
# TYPE container_cpu_usage_seconds_total counter
container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 21.911392 1735616288521
container_cpu_usage_seconds_total{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-zq8mk"} 20.004 1735616288530
container_cpu_usage_seconds_total{container="etcd",namespace="kube-system",pod="etcd-minikube"} 1234.567891 1735616288400
container_cpu_usage_seconds_total{container="web",namespace="default",pod="shop-7d9f"} 0 1735616289000
# HELP container_memory_working_set_bytes [STABLE] Current working set of the container in bytes
# TYPE container_memory_working_set_bytes gauge
container_memory_working_set_bytes{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 1.910784e+07 1735616288521
container_memory_working_set_bytes{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-zq8mk"} 1.8546688e+07 1735616288530
container_memory_working_set_bytes{container="etcd",namespace="kube-system",pod="etcd-minikube"} 7.3527296e+07 1735616288400
container_memory_working_set_bytes{container="web",namespace="default",pod="shop-7d9f"} 999424 1735616289000
# HELP container_start_time_seconds [STABLE] Start time of the container since unix epoch in seconds
# TYPE container_start_time_seconds gauge
container_start_time_seconds{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 1.7356140034e+09
container_start_time_seconds{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-zq8mk"} 1.735614003521e+09
container_start_time_seconds{container="etcd",namespace="kube-system",pod="etcd-minikube"} 1.7356139e+09
container_start_time_seconds{container="web",namespace="default",pod="shop-7d9f"} 1.735615e+09
# HELP container_swap_usage_bytes [ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems
# TYPE container_swap_usage_bytes gauge
container_swap_usage_bytes{container="coredns",namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 0 1735616288521
# HELP node_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the node in core-seconds
# TYPE node_cpu_usage_seconds_total counter
node_cpu_usage_seconds_total 531.060042 1738767712185
# HELP node_memory_working_set_bytes [STABLE] Current working set of the node in bytes
# TYPE node_memory_working_set_bytes gauge
node_memory_working_set_bytes 1.582764032e+09 1735616290756
# HELP node_swap_usage_bytes [ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems
# TYPE node_swap_usage_bytes gauge
node_swap_usage_bytes 4096 1735616290756
# HELP pod_cpu_usage_seconds_total [STABLE] Cumulative cpu time consumed by the pod in core-seconds
# TYPE pod_cpu_usage_seconds_total counter
pod_cpu_usage_seconds_total{namespace="default",pod="shop-7d9f"} 1.2e-05 1735616289000
pod_cpu_usage_seconds_total{namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 22.5 1735616288521
pod_cpu_usage_seconds_total{namespace="kube-system",pod="etcd-minikube"} 1240.000001 1735616288400
# HELP pod_memory_working_set_bytes [STABLE] Current working set of the pod in bytes
# TYPE pod_memory_working_set_bytes gauge
pod_memory_working_set_bytes{namespace="default",pod="shop-7d9f"} 1.04448e+06 1735616289000
pod_memory_working_set_bytes{namespace="kube-system",pod="coredns-668d6bf9bc-d7nx2"} 1.933312e+07 1735616288521
pod_memory_working_set_bytes{namespace="kube-system",pod="etcd-minikube"} 7.4e+07 1735616288400
# HELP resource_scrape_error [STABLE] 1 if there was an error while getting container metrics, 0 otherwise
# TYPE resource_scrape_error gauge
resource_scrape_error 0
"#;

/// One running container: where it is, its CPU, memory and start time,
/// and the time of the CPU and memory sample.
struct Container {
    ns: &'static str,
    pod: &'static str,
    name: &'static str,
    cpu: f64,
    mem: f64,
    start: f64,
    ts: i64,
}

fn container(e: &mut Exposition, c: Container) {
    let Container {
        ns,
        pod,
        name,
        cpu,
        mem,
        start,
        ts,
    } = c;
    let labels = [("container", name), ("namespace", ns), ("pod", pod)];
    e.family(
        "container_cpu_usage_seconds_total",
        CPU_HELP,
        MetricType::Counter,
    )
    .sample(labels, cpu, Some(ts));
    e.family(
        "container_memory_working_set_bytes",
        MEM_HELP,
        MetricType::Gauge,
    )
    .sample(labels, mem, Some(ts));
    e.family(
        "container_start_time_seconds",
        "[STABLE] Start time of the container since unix epoch in seconds",
        MetricType::Gauge,
    )
    .sample(labels, start, None);
}

pub fn full_exposition() -> Exposition {
    let mut e = Exposition::new();
    e.family(
        "resource_scrape_error",
        "[STABLE] 1 if there was an error while getting container metrics, 0 otherwise",
        MetricType::Gauge,
    )
    .push(Sample::new(0.0));
    // Pods in an order the kubelet would never sort them in.
    container(
        &mut e,
        Container {
            ns: "kube-system",
            pod: "etcd-minikube",
            name: "etcd",
            cpu: 1234.567891,
            mem: 73_527_296.0,
            start: 1_735_613_900.0,
            ts: 1_735_616_288_400,
        },
    );
    container(
        &mut e,
        Container {
            ns: "default",
            pod: "shop-7d9f",
            name: "web",
            cpu: 0.0,
            mem: 999_424.0,
            start: 1_735_615_000.0,
            ts: 1_735_616_289_000,
        },
    );
    container(
        &mut e,
        Container {
            ns: "kube-system",
            pod: "coredns-668d6bf9bc-zq8mk",
            name: "coredns",
            cpu: 20.004,
            mem: 18_546_688.0,
            start: 1_735_614_003.521,
            ts: 1_735_616_288_530,
        },
    );
    container(
        &mut e,
        Container {
            ns: "kube-system",
            pod: "coredns-668d6bf9bc-d7nx2",
            name: "coredns",
            cpu: 21.911392,
            mem: 19_107_840.0,
            start: 1_735_614_003.4,
            ts: 1_735_616_288_521,
        },
    );
    e.family(
        "container_swap_usage_bytes",
        "[ALPHA] Current amount of the container swap usage in bytes. Reported only on non-windows systems",
        MetricType::Gauge,
    )
    .sample(
        [("container", "coredns"), ("namespace", "kube-system"), ("pod", "coredns-668d6bf9bc-d7nx2")],
        -0.0,
        Some(1_735_616_288_521),
    );
    // A family nobody filled in: Gather drops it.
    e.family(
        "pod_swap_usage_bytes",
        "[ALPHA] Current amount of the pod swap usage in bytes. Reported only on non-windows systems",
        MetricType::Gauge,
    );
    let pod_cpu = "[STABLE] Cumulative cpu time consumed by the pod in core-seconds";
    let pod_mem = "[STABLE] Current working set of the pod in bytes";
    for (ns, pod, cpu, mem, ts) in [
        (
            "kube-system",
            "etcd-minikube",
            1240.000001,
            74e6,
            1_735_616_288_400,
        ),
        (
            "kube-system",
            "coredns-668d6bf9bc-d7nx2",
            22.5,
            19_333_120.0,
            1_735_616_288_521,
        ),
        (
            "default",
            "shop-7d9f",
            0.000012,
            1_044_480.0,
            1_735_616_289_000,
        ),
    ] {
        e.family("pod_cpu_usage_seconds_total", pod_cpu, MetricType::Counter)
            .sample([("pod", pod), ("namespace", ns)], cpu, Some(ts));
        e.family("pod_memory_working_set_bytes", pod_mem, MetricType::Gauge)
            .sample([("pod", pod), ("namespace", ns)], mem, Some(ts));
    }
    e.family(
        "node_swap_usage_bytes",
        "[ALPHA] Current swap usage of the node in bytes. Reported only on non-windows systems",
        MetricType::Gauge,
    )
    .push(Sample::new(4096.0).at_ms(1_735_616_290_756));
    e.family(
        "node_memory_working_set_bytes",
        "[STABLE] Current working set of the node in bytes",
        MetricType::Gauge,
    )
    .push(Sample::new(1_582_764_032.0).at_ms(1_735_616_290_756));
    e.family(
        "node_cpu_usage_seconds_total",
        "[STABLE] Cumulative cpu time consumed by the node in core-seconds",
        MetricType::Counter,
    )
    .push(Sample::new(531.060042).at_ms(1_738_767_712_185));
    e
}

#[test]
fn full_node() {
    let e = full_exposition();
    let mut out = String::new();
    e.render(&mut out);
    assert_eq!(out, FULL);
}

#[test]
fn write_to_and_display_match_render() {
    let e = full_exposition();
    let mut bytes = Vec::new();
    e.write_to(&mut bytes).unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), FULL);
    assert_eq!(e.to_string(), FULL);
}

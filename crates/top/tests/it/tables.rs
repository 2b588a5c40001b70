//! Table tests for the printers, run through the command flow.
//!
//! Expected lines are written with `format!` column widths, which are
//! derived by hand from Go's rule (widest cell of the column block + 3,
//! at least 6), independently of the tabwriter under test.

use workingset_top::{KubectlVersion, TopNodeOptions, TopPodOptions};

use crate::support::{
    Example, FakeSource, node, node_metrics, pod_metrics, resources, top_node, top_pod,
};

fn node_options() -> TopNodeOptions {
    TopNodeOptions::default()
}

#[test]
fn node_headers_per_release() {
    let newest = top_node(&node_options(), &mut Example::nodes()).stdout;
    for version in KubectlVersion::ALL {
        let options = TopNodeOptions {
            kubectl: version,
            ..node_options()
        };
        let got = top_node(&options, &mut Example::nodes()).stdout;
        let want = if version.minor() >= 32 {
            newest.clone()
        } else {
            // Same column widths: `<unknown>` is the widest cell of both.
            newest
                .replace("CPU(%)      ", "CPU%        ")
                .replace("MEMORY(%)   ", "MEMORY%     ")
        };
        assert_eq!(got, want, "kubectl {version}");
    }
}

#[test]
fn node_without_node_object_prints_no_percent_cells() {
    let mut source = FakeSource::new();
    source.node_metrics = vec![
        node_metrics("node-a", "250264852n", "8318172Ki"),
        node_metrics("node-x", "100m", "1Gi"),
    ];
    source.nodes = vec![node("node-a", "4", "14000Mi")];
    let got = top_node(&node_options(), &mut source);
    // node-x has three cells, so MEMORY(bytes) lands in the CPU(%) column,
    // and the column block of MEMORY(bytes) ends above it.
    let want = [
        format!(
            "{:9}{:13}{:9}{:16}{:12}\n",
            "NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"
        ),
        format!(
            "{:9}{:13}{:9}{:16}{:12}\n",
            "node-a", "251m", "6%", "8123Mi", "58%"
        ),
        format!("{:9}{:13}{:9}\n", "node-x", "100m", "1024Mi"),
    ]
    .concat();
    assert_eq!(got.stdout, want);
    assert_eq!(got.code, 0);
}

#[test]
fn percentages_above_100_zero_usage_missing_and_zero_allocatable() {
    let mut source = FakeSource::new();
    source.node_metrics = vec![
        node_metrics("zero", "1m", "1Mi"),
        node_metrics("hot", "9", "1Gi"),
        node_metrics("idle", "0", "0"),
        node_metrics("half", "500m", "512Mi"),
    ];
    source.nodes = vec![
        node("hot", "4", "512Mi"),
        node("idle", "2", "2Gi"),
        // No memory in allocatable: no MEMORY(%) cell.
        node("half", "1", ""),
        // Division by zero: Go on amd64 prints int64's minimum.
        node("zero", "0", "0"),
    ];
    let got = top_node(&node_options(), &mut source).stdout;
    let min = format!("{}%", i64::MIN);
    let want = [
        format!(
            "{:7}{:13}{:24}{:16}{:12}\n",
            "NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"
        ),
        format!("{:7}{:13}{:24}{:16}\n", "half", "500m", "50%", "512Mi"),
        format!(
            "{:7}{:13}{:24}{:16}{:24}\n",
            "hot", "9000m", "225%", "1024Mi", "200%"
        ),
        format!(
            "{:7}{:13}{:24}{:16}{:24}\n",
            "idle", "0m", "0%", "0Mi", "0%"
        ),
        format!("{:7}{:13}{:24}{:16}{:24}\n", "zero", "1m", min, "1Mi", min),
    ]
    .concat();
    assert_eq!(got, want);
}

fn tied_nodes() -> FakeSource {
    let mut source = FakeSource::new();
    source.node_metrics = vec![
        node_metrics("a", "100m", "3Gi"),
        node_metrics("b", "300m", "1Gi"),
        node_metrics("c", "100m", "2Gi"),
        node_metrics("d", "300m", "1Gi"),
    ];
    source.nodes = ["z", "a", "b", "c", "d", "y"]
        .into_iter()
        .map(|name| node(name, "1", "4Gi"))
        .collect();
    source
}

fn node_row(name: &str, cpu: &str, cpu_pct: &str, mem: &str, mem_pct: &str) -> String {
    format!("{name:7}{cpu:13}{cpu_pct:12}{mem:16}{mem_pct:12}\n")
}

#[test]
fn sort_by_cpu_and_memory_descending_ties_keep_input_order_unknown_last() {
    let header = node_row("NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)");
    let unknown = |name: &str| node_row(name, "<unknown>", "<unknown>", "<unknown>", "<unknown>");
    let rows = |names: &[&str]| -> String {
        names
            .iter()
            .map(|name| match *name {
                "a" => node_row("a", "100m", "10%", "3072Mi", "75%"),
                "b" => node_row("b", "300m", "30%", "1024Mi", "25%"),
                "c" => node_row("c", "100m", "10%", "2048Mi", "50%"),
                "d" => node_row("d", "300m", "30%", "1024Mi", "25%"),
                other => unknown(other),
            })
            .collect()
    };
    for (sort_by, order) in [
        ("", ["a", "b", "c", "d", "y", "z"]),
        // Up to 12 rows Go's sort is an insertion sort, hence stable.
        ("cpu", ["b", "d", "a", "c", "y", "z"]),
        ("memory", ["a", "c", "b", "d", "y", "z"]),
    ] {
        let options = TopNodeOptions {
            sort_by: sort_by.to_owned(),
            ..node_options()
        };
        let got = top_node(&options, &mut tied_nodes()).stdout;
        assert_eq!(
            got,
            format!("{header}{}", rows(&order)),
            "--sort-by={sort_by}"
        );
    }
}

#[test]
fn node_no_headers() {
    let options = TopNodeOptions {
        no_headers: true,
        ..node_options()
    };
    let got = top_node(&options, &mut Example::nodes()).stdout;
    let want = [
        format!(
            "{:9}{:12}{:12}{:12}{:12}\n",
            "node-a", "251m", "6%", "8123Mi", "58%"
        ),
        format!(
            "{:9}{:12}{:12}{:12}{:12}\n",
            "node-b", "1022m", "52%", "2048Mi", "34%"
        ),
        format!(
            "{:9}{:12}{:12}{:12}{:12}\n",
            "node-c", "<unknown>", "<unknown>", "<unknown>", "<unknown>"
        ),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn show_capacity_uses_capacity() {
    let mut source = FakeSource::new();
    source.node_metrics = vec![node_metrics("n", "1", "1Gi")];
    let mut n = node("n", "1", "1Gi");
    n.status.capacity = resources("4", "4Gi");
    source.nodes = vec![n];
    let options = TopNodeOptions {
        show_capacity: true,
        no_headers: true,
        ..node_options()
    };
    let got = top_node(&options, &mut source).stdout;
    assert_eq!(
        got,
        format!(
            "{:6}{:8}{:6}{:9}{:6}\n",
            "n", "1000m", "25%", "1024Mi", "25%"
        )
    );
}

fn pod_options() -> TopPodOptions {
    TopPodOptions::default()
}

fn example_pods_in_default(options: TopPodOptions) -> String {
    top_pod(&options, &mut Example::pods()).stdout
}

#[test]
fn pod_table_in_one_namespace_sorted_by_name() {
    let got = example_pods_in_default(pod_options());
    let want = [
        format!("{:8}{:13}{:16}\n", "NAME", "CPU(cores)", "MEMORY(bytes)"),
        format!("{:8}{:13}{:16}\n", "api-7", "0m", "0Mi"),
        format!("{:8}{:13}{:16}\n", "db-0", "15m", "200Mi"),
        // 1.5m + 0.5m and 10.5Mi + 1.5Mi: summed exactly, rounded once.
        format!("{:8}{:13}{:16}\n", "web-1", "2m", "12Mi"),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn pod_table_all_namespaces_sorted_by_namespace_then_name() {
    let options = TopPodOptions {
        all_namespaces: true,
        ..pod_options()
    };
    let got = example_pods_in_default(options);
    let row =
        |ns: &str, pod: &str, cpu: &str, mem: &str| format!("{ns:14}{pod:12}{cpu:13}{mem:16}\n");
    let want = [
        row("NAMESPACE", "NAME", "CPU(cores)", "MEMORY(bytes)"),
        row("default", "api-7", "0m", "0Mi"),
        row("default", "db-0", "15m", "200Mi"),
        row("default", "web-1", "2m", "12Mi"),
        row("kube-system", "coredns-1", "3m", "19Mi"),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn containers_without_all_namespaces_sorted_by_cpu_inside_and_across_pods() {
    let options = TopPodOptions {
        containers: true,
        sort_by: "cpu".to_owned(),
        ..pod_options()
    };
    let got = example_pods_in_default(options);
    let row =
        |pod: &str, name: &str, cpu: &str, mem: &str| format!("{pod:8}{name:11}{cpu:13}{mem:16}\n");
    let want = [
        row("POD", "NAME", "CPU(cores)", "MEMORY(bytes)"),
        row("db-0", "postgres", "15m", "200Mi"),
        // Inside web-1 containers follow the same key: 2m before 1m.
        row("web-1", "nginx", "2m", "10Mi"),
        row("web-1", "sidecar", "1m", "1Mi"),
        row("api-7", "api", "0m", "0Mi"),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn containers_sorted_by_name_without_sort_by() {
    let options = TopPodOptions {
        containers: true,
        name: Some("web-1".to_owned()),
        ..pod_options()
    };
    let got = example_pods_in_default(options);
    let row =
        |pod: &str, name: &str, cpu: &str, mem: &str| format!("{pod:8}{name:10}{cpu:13}{mem:16}\n");
    let want = [
        row("POD", "NAME", "CPU(cores)", "MEMORY(bytes)"),
        row("web-1", "nginx", "2m", "10Mi"),
        row("web-1", "sidecar", "1m", "1Mi"),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn sum_without_containers() {
    let options = TopPodOptions {
        sum: true,
        ..pod_options()
    };
    let got = example_pods_in_default(options);
    let row = |name: &str, cpu: &str, mem: &str| format!("{name:8}{cpu:13}{mem:16}\n");
    let want = [
        row("NAME", "CPU(cores)", "MEMORY(bytes)"),
        row("api-7", "0m", "0Mi"),
        row("db-0", "15m", "200Mi"),
        row("web-1", "2m", "12Mi"),
        row("", "________", "________"),
        row("", "17m", "212Mi"),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn sum_footer_shifts_left_without_headers() {
    // kubectl counts the NAMESPACE and POD columns for the footer only when
    // it prints the header.
    let options = TopPodOptions {
        all_namespaces: true,
        containers: true,
        sum: true,
        no_headers: true,
        ..pod_options()
    };
    let got = example_pods_in_default(options);
    let row = |ns: &str, pod: &str, name: &str, cpu: &str, mem: &str| {
        format!("{ns:14}{pod:12}{name:11}{cpu:6}{mem:8}\n")
    };
    let want = [
        row("default", "api-7", "api", "0m", "0Mi"),
        row("default", "db-0", "postgres", "15m", "200Mi"),
        row("default", "web-1", "nginx", "2m", "10Mi"),
        row("default", "web-1", "sidecar", "1m", "1Mi"),
        row("kube-system", "coredns-1", "coredns", "3m", "19Mi"),
        format!("{:14}{:12}{:11}\n", "", "________", "________"),
        format!("{:14}{:12}{:11}\n", "", "20m", "231Mi"),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn pods_without_containers_and_missing_usage_keys_print_zero() {
    let mut source = FakeSource::new();
    source.pod_metrics = vec![
        pod_metrics("default", "empty", &[]),
        pod_metrics("default", "partial", &[("c", "", "1Mi")]),
    ];
    let got = top_pod(&pod_options(), &mut source).stdout;
    let row = |name: &str, cpu: &str, mem: &str| format!("{name:10}{cpu:13}{mem:16}\n");
    assert_eq!(
        got,
        [
            row("NAME", "CPU(cores)", "MEMORY(bytes)"),
            row("empty", "0m", "0Mi"),
            row("partial", "0m", "1Mi"),
        ]
        .concat()
    );
    // With --containers the empty pod has no rows at all.
    let options = TopPodOptions {
        containers: true,
        ..pod_options()
    };
    let got = top_pod(&options, &mut source).stdout;
    let row =
        |pod: &str, name: &str, cpu: &str, mem: &str| format!("{pod:10}{name:7}{cpu:13}{mem:16}\n");
    assert_eq!(
        got,
        [
            row("POD", "NAME", "CPU(cores)", "MEMORY(bytes)"),
            row("partial", "c", "0m", "1Mi")
        ]
        .concat()
    );
}

#[test]
fn pod_sort_by_memory_with_no_headers() {
    let options = TopPodOptions {
        sort_by: "memory".to_owned(),
        no_headers: true,
        all_namespaces: true,
        ..pod_options()
    };
    let got = example_pods_in_default(options);
    let row =
        |ns: &str, pod: &str, cpu: &str, mem: &str| format!("{ns:14}{pod:12}{cpu:6}{mem:8}\n");
    let want = [
        row("default", "db-0", "15m", "200Mi"),
        row("kube-system", "coredns-1", "3m", "19Mi"),
        row("default", "web-1", "2m", "12Mi"),
        row("default", "api-7", "0m", "0Mi"),
    ]
    .concat();
    assert_eq!(got, want);
}

#[test]
fn wide_unicode_names_are_counted_in_runes() {
    let mut source = FakeSource::new();
    source.pod_metrics = vec![pod_metrics("default", "pöd-ü", &[("c", "1m", "1Mi")])];
    let got = top_pod(&pod_options(), &mut source).stdout;
    // 5 runes + 3 padding = 8 columns, although the name is 7 bytes.
    assert_eq!(
        got,
        format!(
            "NAME    {:13}{:16}\npöd-ü   {:13}{:16}\n",
            "CPU(cores)", "MEMORY(bytes)", "1m", "1Mi"
        )
    );
}

//! The plain-text rendering of an [`Explanation`]: short sentences first,
//! then one small table per cgroup with every figure, its value and where
//! it came from, then the formulas filled in.

use std::fmt::Write as _;

use crate::derive::{mib, mib_signed};
use crate::inputs::Figure;
use crate::report::{
    CgroupReport, Derived, Explanation, Kind, NodeBreakdown, OverheadReport, PartReport, Role,
};

/// Lines of cells, printed with each column as wide as its widest cell.
/// `right` says which columns are numbers (right-aligned).
fn table(out: &mut String, indent: &str, rows: &[Vec<String>], right: &[bool]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::from(indent);
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            let last = i + 1 == row.len();
            if right.get(i).copied().unwrap_or(false) {
                let _ = write!(line, "{cell:>width$}");
            } else if last {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<width$}");
            }
            if !last {
                line.push_str("  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
}

fn figure_row(name: &str, figure: &Figure) -> Vec<String> {
    match figure.bytes {
        Some(bytes) => vec![
            name.to_owned(),
            bytes.to_string(),
            mib(bytes),
            figure.source.clone(),
        ],
        None => vec![
            name.to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            figure.source.clone(),
        ],
    }
}

fn derived_line(out: &mut String, label: &str, derived: &Derived) {
    let result = match derived.bytes {
        // The calculation already ends with the result: just add the units.
        Some(b)
            if derived.calculation.ends_with(&format!(" {b}"))
                || derived.calculation == b.to_string() =>
        {
            format!(" bytes ({})", mib(b))
        }
        Some(b) => format!(" → {b} bytes ({})", mib(b)),
        None => String::new(),
    };
    let _ = writeln!(out, "  {label} = {}", derived.formula);
    let pad = " ".repeat(label.chars().count());
    let _ = writeln!(out, "  {pad} = {}{result}", derived.calculation);
}

fn title(report: &CgroupReport) -> String {
    let what = match report.role {
        Role::Node => format!("Node {} (root cgroup)", report.name),
        Role::Pod => format!("Pod cgroup of {}", report.name),
        Role::Container => format!("Container {}", report.name),
        Role::Sandbox => format!("Sandbox {} — the pause container", report.name),
    };
    match &report.cgroup {
        Some(cgroup) => format!("{what} — cgroup {cgroup}"),
        None => what,
    }
}

fn cgroup_section(out: &mut String, report: &CgroupReport) {
    let _ = writeln!(out, "{}", title(report));
    let m = &report.memory;
    let mut rows = vec![vec![
        "MEMORY".to_owned(),
        "BYTES".to_owned(),
        "MiB".to_owned(),
        "FROM".to_owned(),
    ]];
    for (name, figure) in [
        ("usage", &m.usage),
        ("rss", &m.rss),
        ("cache", &m.cache),
        ("mapped_file", &m.mapped_file),
        ("swap", &m.swap),
        ("shmem", &m.shmem),
        ("active_file", &m.active_file),
        ("inactive_file", &m.inactive_file),
        ("kernel", &m.kernel),
    ] {
        rows.push(figure_row(name, figure));
    }
    rows.push(match m.limit.bytes {
        Some(bytes) => vec![
            "limit".to_owned(),
            bytes.to_string(),
            mib(bytes),
            m.limit.source.clone(),
        ],
        None if m.limit.unlimited => vec![
            "limit".to_owned(),
            "none".to_owned(),
            "-".to_owned(),
            m.limit.source.clone(),
        ],
        None => vec![
            "limit".to_owned(),
            "-".to_owned(),
            "-".to_owned(),
            m.limit.source.clone(),
        ],
    });
    table(out, "  ", &rows, &[false, true, true, false]);
    out.push_str("  (usage = everything charged to the cgroup; rss = program memory not backed by files; cache = file contents kept in memory, split into active and inactive; mapped_file = cache mapped into processes; shmem = shared memory and tmpfs, counted as cache; kernel = the kernel's own memory for the cgroup)\n\n");

    derived_line(out, "working set", &m.working_set);
    if let Some(reported) = &m.reported_working_set {
        let _ = writeln!(
            out,
            "    the source itself reports {} ({})",
            reported
                .bytes
                .map_or_else(|| "-".to_owned(), |b| b.to_string()),
            reported.source
        );
    }
    out.push_str("    This is what `kubectl top` shows. When usage reaches the limit the kernel first reclaims page cache; when it cannot free enough — roughly, when the working set reaches the limit — the OOM killer ends a process. The kubelet's eviction watches the node's working set the same way.\n");
    derived_line(
        out,
        "docker stats (Docker 20.10 and newer)",
        &m.docker_stats.since_20_10,
    );
    derived_line(
        out,
        "docker stats (Docker 17.06 to 19.03)",
        &m.docker_stats.from_17_06_to_19_03,
    );
    if !m.docker_stats.why_they_differ.is_empty() {
        let _ = writeln!(out, "    {}", m.docker_stats.why_they_differ);
    }
    match m.limit.bytes {
        Some(_) => derived_line(out, "headroom before an OOM kill", &m.headroom),
        None => {
            let _ = writeln!(
                out,
                "  headroom before an OOM kill: {}",
                m.headroom.calculation
            );
        }
    }
    out.push('\n');

    let c = &report.cpu;
    let mut rows = vec![vec![
        "CPU".to_owned(),
        "VALUE".to_owned(),
        "FROM".to_owned(),
    ]];
    rows.push(vec![
        "usage".to_owned(),
        match (c.usage.cores, &c.usage.kubectl_top) {
            (Some(cores), Some(cell)) => format!("{cores:.3} cores ({cell})"),
            _ => "-".to_owned(),
        },
        c.usage.source.clone(),
    ]);
    rows.push(vec![
        "limit".to_owned(),
        match (c.quota.cores, c.quota.quota_us, c.quota.period_us) {
            (Some(cores), Some(q), Some(p)) => format!("{cores:.3} cores ({q} µs per {p} µs)"),
            (None, None, None) if c.quota.meaning.starts_with("no CPU limit") => "none".to_owned(),
            _ => "-".to_owned(),
        },
        c.quota.source.clone(),
    ]);
    if let Some(t) = &c.throttling {
        rows.push(vec![
            "throttled".to_owned(),
            format!(
                "{} of {} periods, {:.3} s",
                t.throttled_periods, t.periods, t.throttled_seconds
            ),
            t.source.clone(),
        ]);
    }
    table(out, "  ", &rows, &[false, false, false]);
    let _ = writeln!(out, "    rate: {}", c.usage.calculation);
    let _ = writeln!(out, "    limit: {}", c.quota.meaning);
    if let Some(t) = &c.throttling {
        let _ = writeln!(out, "    throttling: {}", t.meaning);
    }
    out.push('\n');
}

fn overhead_section(out: &mut String, overhead: &OverheadReport) {
    out.push_str("Pod overhead: the pod cgroup versus the sum of its containers\n");
    let bytes = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), |b| b.to_string());
    let signed = |b: Option<i64>| b.map_or_else(|| "-".to_owned(), |b| b.to_string());
    let mut rows = vec![
        vec![
            "WORKING SET".to_owned(),
            "BYTES".to_owned(),
            "MiB".to_owned(),
        ],
        vec![
            "pod cgroup".to_owned(),
            bytes(overhead.pod_working_set),
            overhead.pod_working_set.map_or_else(|| "-".to_owned(), mib),
        ],
        vec![
            "app containers (kubectl top pod)".to_owned(),
            overhead.containers_working_set.to_string(),
            mib(overhead.containers_working_set),
        ],
        vec![
            "pod − containers".to_owned(),
            signed(overhead.overhead_bytes),
            overhead
                .overhead_bytes
                .map_or_else(|| "-".to_owned(), mib_signed),
        ],
    ];
    if let Some(sandboxes) = overhead.sandboxes_working_set {
        rows.push(vec![
            "  of which pause".to_owned(),
            sandboxes.to_string(),
            mib(sandboxes),
        ]);
        rows.push(vec![
            "  of which other".to_owned(),
            signed(overhead.other_bytes),
            overhead
                .other_bytes
                .map_or_else(|| "-".to_owned(), mib_signed),
        ]);
    }
    table(out, "  ", &rows, &[false, true, true]);
    let _ = writeln!(out, "    {}", overhead.calculation);
    let _ = writeln!(out, "    {}\n", overhead.explanation);
}

fn part_rows(rows: &mut Vec<Vec<String>>, parts: &[PartReport]) {
    let cell = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), mib);
    for part in parts {
        rows.push(vec![
            part.name.clone(),
            cell(part.working_set),
            cell(part.usage),
            cell(part.cache),
            part.meaning.clone(),
        ]);
    }
}

fn node_section(out: &mut String, node: &NodeBreakdown) {
    out.push_str("Why the node is not the sum of its pods\n");
    let cell = |b: Option<u64>| b.map_or_else(|| "-".to_owned(), mib);
    let mut rows = vec![
        vec!["".to_owned(), "WORKING SET".to_owned()],
        vec![
            "node (kubectl top node)".to_owned(),
            cell(node.node_working_set),
        ],
        vec![
            format!(
                "{} container(s) in {} workload(s) (kubectl top pod -A --sum)",
                node.container_count, node.pod_count
            ),
            mib(node.containers_working_set),
        ],
        vec![
            "not in any container".to_owned(),
            node.not_in_containers
                .map_or_else(|| "-".to_owned(), mib_signed),
        ],
    ];
    table(out, "  ", &rows, &[false, true]);
    out.push('\n');
    if !node.parts.is_empty() {
        rows = vec![vec![
            "TOP-LEVEL CGROUP".to_owned(),
            "WORKING SET".to_owned(),
            "USAGE".to_owned(),
            "CACHE".to_owned(),
            "WHAT IT HOLDS".to_owned(),
        ]];
        part_rows(&mut rows, &node.parts);
        if let Some(outside) = node.outside_parts {
            rows.push(vec![
                "(in no top-level cgroup)".to_owned(),
                mib_signed(outside),
                "-".to_owned(),
                "-".to_owned(),
                "processes in the root cgroup itself, kernel memory charged to no cgroup"
                    .to_owned(),
            ]);
        }
        table(out, "  ", &rows, &[false, true, true, true, false]);
        out.push('\n');
    }
    if !node.system_containers.is_empty() {
        rows = vec![vec![
            "SYSTEM CONTAINER".to_owned(),
            "WORKING SET".to_owned(),
            "USAGE".to_owned(),
            "CACHE".to_owned(),
            "WHAT IT HOLDS".to_owned(),
        ]];
        part_rows(&mut rows, &node.system_containers);
        table(out, "  ", &rows, &[false, true, true, true, false]);
        out.push_str("    (system containers may lie inside a top-level cgroup above; they are not added to it)\n\n");
    }
    let pc = &node.page_cache;
    rows = vec![
        vec!["PAGE CACHE".to_owned(), "MiB".to_owned(), "FROM".to_owned()],
        vec![
            "node".to_owned(),
            cell(pc.node_cache.bytes),
            pc.node_cache.source.clone(),
        ],
        vec![
            "node, inactive (not in its working set)".to_owned(),
            cell(pc.node_inactive_file.bytes),
            pc.node_inactive_file.source.clone(),
        ],
        vec![
            "pods".to_owned(),
            cell(pc.pods_cache),
            "the pods' cgroup".to_owned(),
        ],
        vec![
            "outside the pods".to_owned(),
            pc.outside_pods.map_or_else(|| "-".to_owned(), mib_signed),
            "node − pods".to_owned(),
        ],
        vec![
            "KERNEL".to_owned(),
            cell(node.kernel.bytes),
            node.kernel.source.clone(),
        ],
    ];
    table(out, "  ", &rows, &[false, true, false]);
    let _ = writeln!(out, "    {}", pc.explanation);
    let _ = writeln!(out, "    {}\n", node.explanation);
}

/// Renders `explanation` as text for people.
pub fn render(explanation: &Explanation) -> String {
    let mut out = String::new();
    match (&explanation.kind, &explanation.pod) {
        (Kind::Pod, Some(pod)) => {
            let _ = writeln!(
                out,
                "{} {}/{} on node {}",
                if pod.kubernetes { "Pod" } else { "Workload" },
                pod.namespace,
                pod.name,
                explanation.node
            );
        }
        _ => {
            let _ = writeln!(out, "Node {}", explanation.node);
        }
    }
    let _ = writeln!(out, "{}\n", explanation.source.description);
    out.push_str("In short:\n");
    for sentence in &explanation.summary {
        let _ = writeln!(out, "  • {sentence}");
    }
    out.push('\n');
    let top = &explanation.kubectl_top;
    let _ = writeln!(
        out,
        "kubectl top: CPU {}, MEMORY {}",
        top.cpu.as_deref().unwrap_or("-"),
        top.memory.as_deref().unwrap_or("-")
    );
    let _ = writeln!(out, "  {}\n", top.explanation);
    for report in &explanation.cgroups {
        cgroup_section(&mut out, report);
    }
    if let Some(overhead) = &explanation.pod_overhead {
        overhead_section(&mut out, overhead);
    }
    if let Some(node) = &explanation.node_breakdown {
        node_section(&mut out, node);
    }
    let inside = &explanation.inside_a_container;
    out.push_str("What `top` and `free` show inside a container\n");
    let host = &inside.host;
    let rows = vec![
        vec![
            "/proc/meminfo".to_owned(),
            "BYTES".to_owned(),
            "MiB".to_owned(),
            "FROM".to_owned(),
        ],
        figure_row("MemTotal", &host.mem_total),
        figure_row("MemFree", &host.mem_free),
        figure_row("MemAvailable", &host.mem_available),
        figure_row("Buffers", &host.buffers),
        figure_row("Cached", &host.cached),
        figure_row("SwapTotal", &host.swap_total),
        figure_row("SwapFree", &host.swap_free),
    ];
    table(&mut out, "  ", &rows, &[false, true, true, false]);
    derived_line(&mut out, "used (free)", &inside.used);
    let _ = writeln!(out, "    {}", inside.explanation);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_numbers_right() {
        let mut out = String::new();
        table(
            &mut out,
            "",
            &[
                vec!["a".to_owned(), "1".to_owned(), "x".to_owned()],
                vec!["long".to_owned(), "100".to_owned(), "y".to_owned()],
            ],
            &[false, true, false],
        );
        assert_eq!(out, "a       1  x\nlong  100  y\n");
    }
}

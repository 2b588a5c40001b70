//! What the processes of a cgroup tell: whether a container is a pause
//! (sandbox) container, and their CPU time when the cgroup has no CPU
//! accounting of its own.
//!
//! Both are fallbacks for what runtime metadata and cpuacct normally tell;
//! see `docs/naming.md`. Everything here tolerates processes exiting between
//! listing and reading: a vanished pid is skipped, never an error.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

/// Nanoseconds per clock tick: `/proc/<pid>/stat` counts in USER_HZ, which
/// Linux fixes at 100 for userspace.
pub const NANOS_PER_TICK: u64 = 10_000_000;

/// The pids listed in a `cgroup.procs` text; malformed lines are skipped.
pub fn parse_pids(text: &str) -> impl Iterator<Item = u32> + '_ {
    text.lines().filter_map(|line| line.trim().parse().ok())
}

/// CPU time of one process from the text of `/proc/<pid>/stat`:
/// `utime + stime` in ticks (all its threads, live and exited).
///
/// Reaped children's time (`cutime`, `cstime`) is left out on purpose: it
/// lands all at once when a child is reaped, so a compiler that ran for a
/// minute would show as a minute of CPU inside a one-second window. The
/// command name (field 2) may contain spaces and parentheses, so fields are
/// counted from the last `)`.
pub fn parse_stat_ticks(text: &str) -> Option<u64> {
    let after_comm = &text[text.rfind(')')? + 1..];
    // Fields after the command: state is field 3, utime field 14, stime 15.
    let mut fields = after_comm.split_ascii_whitespace().skip(11);
    let mut total: u64 = 0;
    for _ in 0..2 {
        let value: i64 = fields.next()?.parse().ok()?;
        total = total.checked_add(u64::try_from(value).unwrap_or(0))?;
    }
    Some(total)
}

/// Reads `/proc/<pid>/comm` (trailing newline removed); `None` if the process is gone.
pub fn comm(proc_root: &Path, pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(proc_root.join(pid.to_string()).join("comm")).ok()?;
    Some(text.trim_end_matches('\n').to_owned())
}

/// Whether a container cgroup's processes are exactly one `pause`.
///
/// The pause binary of every Kubernetes distribution names itself `pause`;
/// an app container whose only process is called `pause` is the one case
/// this misreads, which runtime metadata resolves when present.
pub fn is_pause(proc_root: &Path, procs_text: &str) -> bool {
    let mut pids = parse_pids(procs_text);
    match (pids.next(), pids.next()) {
        (Some(pid), None) => comm(proc_root, pid).is_some_and(|c| c == "pause"),
        _ => false,
    }
}

/// CPU ticks per pid for the pids listed in `procs_text`; pids that vanished
/// are left out.
pub fn cpu_ticks(proc_root: &Path, procs_text: &str) -> BTreeMap<u32, u64> {
    let mut ticks = BTreeMap::new();
    for pid in parse_pids(procs_text) {
        let path = proc_root.join(pid.to_string()).join("stat");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                if let Some(value) = parse_stat_ticks(&text) {
                    ticks.insert(pid, value);
                }
            }
            Err(error) if error.kind() == ErrorKind::NotFound => {}
            Err(error) => {
                tracing::debug!(path = %path.display(), %error, "Skipping unreadable process stat")
            }
        }
    }
    ticks
}

/// CPU nanoseconds used between two per-pid readings, over the pids present
/// in both (a pid whose counter went down was reused: left out too).
pub fn cpu_ns_between(earlier: &BTreeMap<u32, u64>, later: &BTreeMap<u32, u64>) -> u64 {
    later
        .iter()
        .filter_map(|(pid, now)| now.checked_sub(*earlier.get(pid)?))
        .fold(0u64, |sum, ticks| {
            sum.saturating_add(ticks.saturating_mul(NANOS_PER_TICK))
        })
}

/// CPU nanoseconds the processes of one reading have used since they
/// started.
pub fn cpu_ns_total(ticks: &BTreeMap<u32, u64>) -> u64 {
    ticks.values().fold(0u64, |sum, ticks| {
        sum.saturating_add(ticks.saturating_mul(NANOS_PER_TICK))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // A real /proc/<pid>/stat line (kernel 6.18), with a command that has a
    // space and a parenthesis to show why fields count from the last ')'.
    const STAT: &str = "4242 (tmux: s(erver)) S 1 4242 4242 0 -1 4194624 1012 0 0 0 150 37 12 1 20 0 1 0 1234 8892416 1024 18446744073709551615 1 1 0 0 0 0 0 4096 134234626 0 0 0 17 1 0 0 0 0 0\n";

    #[test]
    fn stat_ticks_sum_utime_and_stime_only() {
        // utime 150, stime 37; the reaped children's 12 + 1 are not counted.
        assert_eq!(parse_stat_ticks(STAT), Some(150 + 37));
    }

    #[test]
    fn truncated_or_garbage_stat_gives_none() {
        assert_eq!(parse_stat_ticks(""), None);
        assert_eq!(parse_stat_ticks("1 (x) S 1 2 3"), None);
        assert_eq!(parse_stat_ticks("no parenthesis at all"), None);
    }

    #[test]
    fn negative_time_reads_as_zero() {
        let stat = "1 (x) S 0 0 0 0 0 0 0 0 0 0 -5 5 3 4 20 0 1 0";
        assert_eq!(parse_stat_ticks(stat), Some(5));
    }

    #[test]
    fn pids_skip_malformed_lines() {
        assert_eq!(parse_pids("1\n\nx\n 22 \n").collect::<Vec<_>>(), [1, 22]);
    }

    #[test]
    fn cpu_between_counts_only_pids_present_twice() {
        let earlier = BTreeMap::from([(1, 100), (2, 50), (3, 70)]);
        let later = BTreeMap::from([(1, 110), (2, 40), (4, 999)]);
        // pid 1: +10 ticks; pid 2 went down (reused): out; 3 exited, 4 new: out.
        assert_eq!(cpu_ns_between(&earlier, &later), 10 * NANOS_PER_TICK);
    }

    #[test]
    fn this_process_is_not_pause_and_has_cpu_time() {
        let pid = std::process::id();
        let procs = format!("{pid}\n");
        assert!(!is_pause(Path::new("/proc"), &procs));
        let ticks = cpu_ticks(Path::new("/proc"), &procs);
        assert!(ticks.contains_key(&pid));
        assert!(cpu_ticks(Path::new("/proc"), "999999999\n").is_empty());
    }
}

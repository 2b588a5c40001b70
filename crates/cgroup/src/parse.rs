//! Pure parsers for the kernel's text files, over `&str`.
//!
//! Nothing here does IO, allocates per line, or panics on any input: the
//! reader hands in the bytes it read into its reused buffer, and the
//! parsers borrow from it. Keys the kernel adds in later versions are
//! ignored; a key we use with a malformed value is an error that names the
//! line. Negative numbers (kernel accounting bugs have printed them in
//! `memory.stat`) read as 0, as runc's `ParseUint` does.

use std::borrow::Cow;

use crate::error::{ParseError, ParseErrorKind};

/// Limits above this are "unlimited": cgroup v1 writes LONG_MAX rounded down
/// to a page, and the kubelet, cAdvisor and containerd all treat any value
/// above 2^62 as no limit.
pub const UNLIMITED_ABOVE: u64 = 1 << 62;

/// Parses one decimal number as the kernel prints it. Negative values read
/// as 0 (see the module docs).
pub fn number(s: &str) -> Result<u64, ParseErrorKind> {
    let s = s.trim_ascii();
    if s.is_empty() {
        return Err(ParseErrorKind::Empty);
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::InvalidNumber);
    }
    if negative {
        return Ok(0);
    }
    digits.parse().map_err(|_| ParseErrorKind::OutOfRange)
}

/// A single-value file such as `memory.usage_in_bytes` or `cpuacct.usage`.
pub fn value(text: &str) -> Result<u64, ParseError> {
    number(text).map_err(|kind| ParseError::new(1, kind))
}

/// A signed single-value file (`cpu.cfs_quota_us`, where −1 means no quota).
pub fn signed_value(text: &str) -> Result<i64, ParseError> {
    let s = text.trim_ascii();
    if s.is_empty() {
        return Err(ParseError::new(1, ParseErrorKind::Empty));
    }
    let digits = s.strip_prefix('-').unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseError::new(1, ParseErrorKind::InvalidNumber));
    }
    s.parse()
        .map_err(|_| ParseError::new(1, ParseErrorKind::OutOfRange))
}

/// A limit file (`memory.limit_in_bytes`, `memory.max`, `pids.max`):
/// `None` when unlimited — `max`, or a value above [`UNLIMITED_ABOVE`].
pub fn limit(text: &str) -> Result<Option<u64>, ParseError> {
    if text.trim_ascii() == "max" {
        return Ok(None);
    }
    let v = value(text)?;
    Ok((v <= UNLIMITED_ABOVE).then_some(v))
}

/// One `key value` line of a flat keyed file (`memory.stat`, `cpu.stat`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyedLine<'a> {
    /// 1-based line number.
    pub line: usize,
    /// The key (text before the first space or tab).
    pub key: &'a str,
    /// The rest of the line, trimmed; may be empty.
    pub value: &'a str,
}

impl KeyedLine<'_> {
    /// The value as a number (negative reads as 0).
    pub fn number(&self) -> Result<u64, ParseError> {
        number(self.value).map_err(|kind| ParseError::new(self.line, kind))
    }
}

/// Iterates over the non-empty lines of a flat keyed file without allocating.
pub fn keyed_lines(text: &str) -> impl Iterator<Item = KeyedLine<'_>> {
    text.split('\n').enumerate().filter_map(|(i, raw)| {
        let raw = raw.trim_ascii();
        if raw.is_empty() {
            return None;
        }
        let (key, value) = match raw.split_once([' ', '\t']) {
            Some((k, v)) => (k, v.trim_ascii()),
            None => (raw, ""),
        };
        Some(KeyedLine {
            line: i + 1,
            key,
            value,
        })
    })
}

/// The value of one key of a flat keyed file (`memory.events` `oom`);
/// `None` when the key is absent.
pub fn keyed_value(text: &str, key: &str) -> Result<Option<u64>, ParseError> {
    let mut found = None;
    for l in keyed_lines(text) {
        if l.key == key {
            found = Some(l.number()?);
        }
    }
    Ok(found)
}

/// Fills the slot that `slot_for` picks for each known key; unknown keys are
/// skipped without parsing their values.
fn scan<S>(
    text: &str,
    stat: &mut S,
    slot_for: impl for<'s> Fn(&'s mut S, &str) -> Option<&'s mut Option<u64>>,
) -> Result<(), ParseError> {
    for l in keyed_lines(text) {
        if let Some(slot) = slot_for(stat, l.key) {
            *slot = Some(l.number()?);
        }
    }
    Ok(())
}

/// The keys of a cgroup v1 `memory.stat` that the reader uses. `None` = the
/// key is absent on this kernel.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStatV1 {
    /// `cache`: page cache charged to this cgroup alone.
    pub cache: Option<u64>,
    /// `rss`: anonymous memory (incl. transparent huge pages) of this cgroup alone.
    pub rss: Option<u64>,
    /// `mapped_file`.
    pub mapped_file: Option<u64>,
    /// `swap` (only with swap accounting).
    pub swap: Option<u64>,
    /// `pgfault`: page faults of this cgroup alone (no `total_` in cAdvisor's choice).
    pub pgfault: Option<u64>,
    /// `pgmajfault`.
    pub pgmajfault: Option<u64>,
    /// `active_file`.
    pub active_file: Option<u64>,
    /// `inactive_file`.
    pub inactive_file: Option<u64>,
    /// `total_cache`: hierarchical page cache.
    pub total_cache: Option<u64>,
    /// `total_rss`.
    pub total_rss: Option<u64>,
    /// `total_mapped_file`.
    pub total_mapped_file: Option<u64>,
    /// `total_swap`.
    pub total_swap: Option<u64>,
    /// `total_active_file`.
    pub total_active_file: Option<u64>,
    /// `total_inactive_file`: what the working set subtracts.
    pub total_inactive_file: Option<u64>,
}

impl MemoryStatV1 {
    /// Parses a v1 `memory.stat`.
    pub fn parse(text: &str) -> Result<MemoryStatV1, ParseError> {
        let mut s = MemoryStatV1::default();
        scan(text, &mut s, |s, key| match key {
            "cache" => Some(&mut s.cache),
            "rss" => Some(&mut s.rss),
            "mapped_file" => Some(&mut s.mapped_file),
            "swap" => Some(&mut s.swap),
            "pgfault" => Some(&mut s.pgfault),
            "pgmajfault" => Some(&mut s.pgmajfault),
            "active_file" => Some(&mut s.active_file),
            "inactive_file" => Some(&mut s.inactive_file),
            "total_cache" => Some(&mut s.total_cache),
            "total_rss" => Some(&mut s.total_rss),
            "total_mapped_file" => Some(&mut s.total_mapped_file),
            "total_swap" => Some(&mut s.total_swap),
            "total_active_file" => Some(&mut s.total_active_file),
            "total_inactive_file" => Some(&mut s.total_inactive_file),
            _ => None,
        })?;
        Ok(s)
    }
}

/// The keys of a cgroup v2 `memory.stat` that the reader uses (all
/// hierarchical). `None` = absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemoryStatV2 {
    /// `anon`.
    pub anon: Option<u64>,
    /// `file`: page cache.
    pub file: Option<u64>,
    /// `file_mapped`.
    pub file_mapped: Option<u64>,
    /// `active_file`.
    pub active_file: Option<u64>,
    /// `inactive_file`.
    pub inactive_file: Option<u64>,
    /// `pgfault`.
    pub pgfault: Option<u64>,
    /// `pgmajfault`.
    pub pgmajfault: Option<u64>,
}

impl MemoryStatV2 {
    /// Parses a v2 `memory.stat`.
    pub fn parse(text: &str) -> Result<MemoryStatV2, ParseError> {
        let mut s = MemoryStatV2::default();
        scan(text, &mut s, |s, key| match key {
            "anon" => Some(&mut s.anon),
            "file" => Some(&mut s.file),
            "file_mapped" => Some(&mut s.file_mapped),
            "active_file" => Some(&mut s.active_file),
            "inactive_file" => Some(&mut s.inactive_file),
            "pgfault" => Some(&mut s.pgfault),
            "pgmajfault" => Some(&mut s.pgmajfault),
            _ => None,
        })?;
        Ok(s)
    }
}

/// cgroup v1 `cpuacct.stat`: user and system time in USER_HZ ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuacctStat {
    /// `user` ticks.
    pub user_ticks: u64,
    /// `system` ticks.
    pub system_ticks: u64,
}

impl CpuacctStat {
    /// Parses `cpuacct.stat`; both keys are required.
    pub fn parse(text: &str) -> Result<CpuacctStat, ParseError> {
        let (mut user, mut system) = (None, None);
        for l in keyed_lines(text) {
            match l.key {
                "user" => user = Some(l.number()?),
                "system" => system = Some(l.number()?),
                _ => {}
            }
        }
        Ok(CpuacctStat {
            user_ticks: user.ok_or(missing("user"))?,
            system_ticks: system.ok_or(missing("system"))?,
        })
    }
}

fn missing(key: &'static str) -> ParseError {
    ParseError::new(1, ParseErrorKind::MissingKey(key))
}

/// cgroup v1 `cpu.stat` (CFS bandwidth): `None` = absent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CpuStatV1 {
    /// `nr_periods`.
    pub nr_periods: Option<u64>,
    /// `nr_throttled`.
    pub nr_throttled: Option<u64>,
    /// `throttled_time`, nanoseconds.
    pub throttled_time_ns: Option<u64>,
}

impl CpuStatV1 {
    /// Parses a v1 `cpu.stat`.
    pub fn parse(text: &str) -> Result<CpuStatV1, ParseError> {
        let mut s = CpuStatV1::default();
        scan(text, &mut s, |s, key| match key {
            "nr_periods" => Some(&mut s.nr_periods),
            "nr_throttled" => Some(&mut s.nr_throttled),
            "throttled_time" => Some(&mut s.throttled_time_ns),
            _ => None,
        })?;
        Ok(s)
    }
}

/// cgroup v2 `cpu.stat`. The first three keys come from the cgroup core and
/// exist in every cgroup (also without the cpu controller, as in the hybrid
/// `unified` mount); the bandwidth keys only where the cpu controller is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuStatV2 {
    /// `usage_usec`.
    pub usage_usec: u64,
    /// `user_usec`.
    pub user_usec: u64,
    /// `system_usec`.
    pub system_usec: u64,
    /// `nr_periods`.
    pub nr_periods: Option<u64>,
    /// `nr_throttled`.
    pub nr_throttled: Option<u64>,
    /// `throttled_usec`.
    pub throttled_usec: Option<u64>,
}

impl CpuStatV2 {
    /// Parses a v2 `cpu.stat`; `usage_usec`, `user_usec`, `system_usec` are required.
    pub fn parse(text: &str) -> Result<CpuStatV2, ParseError> {
        let mut slots: [Option<u64>; 6] = [None; 6];
        scan(text, &mut slots, |s, key| {
            let i = match key {
                "usage_usec" => 0,
                "user_usec" => 1,
                "system_usec" => 2,
                "nr_periods" => 3,
                "nr_throttled" => 4,
                "throttled_usec" => 5,
                _ => return None,
            };
            s.get_mut(i)
        })?;
        let [
            usage,
            user,
            system,
            nr_periods,
            nr_throttled,
            throttled_usec,
        ] = slots;
        Ok(CpuStatV2 {
            usage_usec: usage.ok_or(missing("usage_usec"))?,
            user_usec: user.ok_or(missing("user_usec"))?,
            system_usec: system.ok_or(missing("system_usec"))?,
            nr_periods,
            nr_throttled,
            throttled_usec,
        })
    }
}

/// A CFS bandwidth limit: `quota_us` per `period_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuMax {
    /// Microseconds of CPU per period; `None` = no quota (`max`, or −1 on v1).
    pub quota_us: Option<u64>,
    /// The period in microseconds.
    pub period_us: u64,
}

impl CpuMax {
    /// Parses v2 `cpu.max`: `max 100000` or `50000 100000`.
    pub fn parse(text: &str) -> Result<CpuMax, ParseError> {
        let mut words = text.split_ascii_whitespace();
        let quota = words
            .next()
            .ok_or(ParseError::new(1, ParseErrorKind::Empty))?;
        let period = words.next().ok_or(ParseError::new(
            1,
            ParseErrorKind::Malformed("expected `<quota|max> <period>`"),
        ))?;
        if words.next().is_some() {
            return Err(ParseError::new(
                1,
                ParseErrorKind::Malformed("expected `<quota|max> <period>`"),
            ));
        }
        let quota_us = match quota {
            "max" => None,
            q => Some(number(q).map_err(|k| ParseError::new(1, k))?),
        };
        let period_us = number(period).map_err(|k| ParseError::new(1, k))?;
        Ok(CpuMax {
            quota_us,
            period_us,
        })
    }

    /// The limit in millicores (quota ÷ period × 1000, truncated); `None`
    /// without a quota or with a zero period.
    pub fn millicores(&self) -> Option<u64> {
        let quota = self.quota_us?;
        if self.period_us == 0 {
            return None;
        }
        let m = u128::from(quota) * 1000 / u128::from(self.period_us);
        u64::try_from(m).ok()
    }
}

/// The `/proc/meminfo` figures the node view and `explain` use, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meminfo {
    /// `MemTotal`: the node's memory capacity.
    pub mem_total: u64,
    /// `MemFree`.
    pub mem_free: Option<u64>,
    /// `MemAvailable` (kernel ≥ 3.14).
    pub mem_available: Option<u64>,
    /// `Buffers`.
    pub buffers: Option<u64>,
    /// `Cached`.
    pub cached: Option<u64>,
    /// `SwapTotal`.
    pub swap_total: Option<u64>,
    /// `SwapFree`.
    pub swap_free: Option<u64>,
}

impl Meminfo {
    /// Parses `/proc/meminfo`; `MemTotal` is required. Values with a `kB`
    /// unit are converted to bytes.
    pub fn parse(text: &str) -> Result<Meminfo, ParseError> {
        let mut slots: [Option<u64>; 7] = [None; 7];
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let Some((key, rest)) = raw.split_once(':') else {
                continue;
            };
            let slot = match key.trim_ascii() {
                "MemTotal" => 0,
                "MemFree" => 1,
                "MemAvailable" => 2,
                "Buffers" => 3,
                "Cached" => 4,
                "SwapTotal" => 5,
                "SwapFree" => 6,
                _ => continue,
            };
            let rest = rest.trim_ascii();
            let (digits, factor) = match rest.strip_suffix("kB") {
                Some(d) => (d, 1024),
                None => (rest, 1),
            };
            let v = number(digits)
                .map_err(|k| ParseError::new(line, k))?
                .checked_mul(factor)
                .ok_or(ParseError::new(line, ParseErrorKind::OutOfRange))?;
            if let Some(s) = slots.get_mut(slot) {
                *s = Some(v);
            }
        }
        let [
            total,
            free,
            available,
            buffers,
            cached,
            swap_total,
            swap_free,
        ] = slots;
        Ok(Meminfo {
            mem_total: total.ok_or(missing("MemTotal"))?,
            mem_free: free,
            mem_available: available,
            buffers,
            cached,
            swap_total,
            swap_free,
        })
    }
}

/// One line of `/proc/<pid>/mountinfo`. Paths are as the kernel escapes
/// them (`\040` for a space); see [`unescape`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountInfo<'a> {
    /// 1-based line number.
    pub line: usize,
    /// Root of the mount within its filesystem (for cgroup mounts: the
    /// cgroup that is visible at the mount point, usually `/`).
    pub root: &'a str,
    /// Where it is mounted.
    pub mount_point: &'a str,
    /// Filesystem type (`cgroup`, `cgroup2`, `tmpfs`, …).
    pub fs_type: &'a str,
    /// Mount source.
    pub source: &'a str,
    /// Superblock options; for cgroup v1 they name the controllers
    /// (`rw,cpu,cpuacct`, `rw,xattr,name=systemd`).
    pub super_options: &'a str,
}

impl MountInfo<'_> {
    /// True when `option` is one of the comma-separated superblock options.
    pub fn has_super_option(&self, option: &str) -> bool {
        self.super_options.split(',').any(|o| o == option)
    }
}

/// Iterates over the lines of a mountinfo file; a malformed line is an
/// error naming it.
pub fn mountinfo(text: &str) -> impl Iterator<Item = Result<MountInfo<'_>, ParseError>> {
    text.split('\n').enumerate().filter_map(|(i, raw)| {
        if raw.trim_ascii().is_empty() {
            return None;
        }
        Some(mountinfo_line(i + 1, raw))
    })
}

fn mountinfo_line(line: usize, raw: &str) -> Result<MountInfo<'_>, ParseError> {
    let bad = |what| ParseError::new(line, ParseErrorKind::Malformed(what));
    // id parent major:minor root mount-point options [optional…] - type source super-options
    let mut fields = raw.split_ascii_whitespace();
    let mut next = |what| fields.next().ok_or(bad(what));
    let _mount_id = next("missing mount id")?;
    let _parent_id = next("missing parent id")?;
    let _dev = next("missing major:minor")?;
    let root = next("missing root")?;
    let mount_point = next("missing mount point")?;
    let _options = next("missing mount options")?;
    loop {
        if next("missing `-` separator")? == "-" {
            break;
        }
    }
    let fs_type = next("missing filesystem type")?;
    let source = next("missing mount source")?;
    // Some filesystems print no superblock options at all.
    let super_options = fields.next().unwrap_or("");
    Ok(MountInfo {
        line,
        root,
        mount_point,
        fs_type,
        source,
        super_options,
    })
}

/// Undoes mountinfo's octal escapes (`\040` space, `\011` tab, `\012`
/// newline, `\134` backslash). Borrows when there is nothing to undo.
pub fn unescape(s: &str) -> Cow<'_, str> {
    if !s.contains('\\') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'\\'
            && let Some(code) = bytes.get(i + 1..i + 4).and_then(octal)
        {
            out.push(code);
            i += 4;
            continue;
        }
        out.push(b);
        i += 1;
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

fn octal(digits: &[u8]) -> Option<u8> {
    let mut v: u16 = 0;
    for &d in digits {
        if !(b'0'..=b'7').contains(&d) {
            return None;
        }
        v = v * 8 + u16::from(d - b'0');
    }
    u8::try_from(v).ok()
}

/// Counts the CPUs in a kernel CPU list such as `0-1,4` (as in
/// `/sys/devices/system/cpu/online`). An empty list counts 0.
pub fn cpu_list_count(text: &str) -> Result<u32, ParseError> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return Ok(0);
    }
    let mut count: u64 = 0;
    for item in text.split(',') {
        let item = item.trim_ascii();
        let err = |k| ParseError::new(1, k);
        let (first, last) = match item.split_once('-') {
            Some((a, b)) => (number_u32(a).map_err(err)?, number_u32(b).map_err(err)?),
            None => {
                let n = number_u32(item).map_err(err)?;
                (n, n)
            }
        };
        if last < first {
            return Err(err(ParseErrorKind::Malformed(
                "range ends before it starts",
            )));
        }
        count = count.saturating_add(u64::from(last - first) + 1);
    }
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

fn number_u32(s: &str) -> Result<u32, ParseErrorKind> {
    let s = s.trim_ascii();
    if s.is_empty() {
        return Err(ParseErrorKind::Empty);
    }
    if !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ParseErrorKind::InvalidNumber);
    }
    s.parse().map_err(|_| ParseErrorKind::OutOfRange)
}

/// Counts the per-CPU lines (`cpu0`, `cpu1`, …) of `/proc/stat`: the online
/// CPUs, for when sysfs is not available.
pub fn proc_stat_cpu_count(text: &str) -> u32 {
    let n = text
        .split('\n')
        .filter(|l| {
            let Some(rest) = l.strip_prefix("cpu") else {
                return false;
            };
            // `cpu0 …` counts; the aggregate `cpu  …` line (space right
            // after the name) does not.
            let id = rest.split([' ', '\t']).next().unwrap_or("");
            !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())
        })
        .count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn numbers() {
        assert_eq!(number("42\n"), Ok(42));
        assert_eq!(number(" 0 "), Ok(0));
        assert_eq!(number("-4096"), Ok(0));
        assert_eq!(number("18446744073709551615"), Ok(u64::MAX));
        assert_eq!(
            number("18446744073709551616"),
            Err(ParseErrorKind::OutOfRange)
        );
        assert_eq!(number(""), Err(ParseErrorKind::Empty));
        assert_eq!(number("-"), Err(ParseErrorKind::InvalidNumber));
        assert_eq!(number("+5"), Err(ParseErrorKind::InvalidNumber));
        assert_eq!(number("1 2"), Err(ParseErrorKind::InvalidNumber));
        assert_eq!(number("0x10"), Err(ParseErrorKind::InvalidNumber));
    }

    #[test]
    fn limits() {
        assert_eq!(limit("max\n"), Ok(None));
        assert_eq!(limit("9223372036854771712\n"), Ok(None));
        // Exactly 2^62 is still a limit; one above it is not.
        assert_eq!(limit("4611686018427387904"), Ok(Some(1 << 62)));
        assert_eq!(limit("4611686018427387905"), Ok(None));
        assert_eq!(limit("268435456\n"), Ok(Some(268_435_456)));
        assert_eq!(signed_value("-1\n"), Ok(-1));
        assert_eq!(signed_value("50000\n"), Ok(50_000));
        assert!(signed_value("-").is_err());
    }

    #[test]
    fn keyed_lines_skip_blank_and_number_lines() {
        let lines: Vec<_> = keyed_lines("a 1\n\nb\t2\nc\n").collect();
        assert_eq!(lines.len(), 3);
        assert_eq!((lines[0].line, lines[0].key, lines[0].value), (1, "a", "1"));
        assert_eq!((lines[1].line, lines[1].key, lines[1].value), (3, "b", "2"));
        assert_eq!((lines[2].line, lines[2].key, lines[2].value), (4, "c", ""));
        assert_eq!(keyed_value("low 0\noom 3\n", "oom"), Ok(Some(3)));
        assert_eq!(keyed_value("low 0\n", "oom"), Ok(None));
    }

    #[test]
    fn memory_stat_v1_picks_known_keys_and_reports_bad_lines() {
        let s =
            MemoryStatV1::parse("cache 10\nrss 20\nweird_new_key what\ntotal_rss 30\n").unwrap();
        assert_eq!(s.cache, Some(10));
        assert_eq!(s.rss, Some(20));
        assert_eq!(s.total_rss, Some(30));
        assert_eq!(s.total_inactive_file, None);
        let err = MemoryStatV1::parse("cache 10\nrss x\n").unwrap_err();
        assert_eq!(err, ParseError::new(2, ParseErrorKind::InvalidNumber));
    }

    #[test]
    fn cpu_files() {
        assert_eq!(
            CpuacctStat::parse("user 21\nsystem 8\n"),
            Ok(CpuacctStat {
                user_ticks: 21,
                system_ticks: 8
            })
        );
        assert_eq!(
            CpuacctStat::parse("user 21\n"),
            Err(ParseError::new(1, ParseErrorKind::MissingKey("system")))
        );
        let v2 =
            CpuStatV2::parse("usage_usec 3\nuser_usec 2\nsystem_usec 1\nnice_usec 0\n").unwrap();
        assert_eq!((v2.usage_usec, v2.user_usec, v2.system_usec), (3, 2, 1));
        assert_eq!(v2.nr_periods, None);
        assert_eq!(
            CpuMax::parse("max 100000\n"),
            Ok(CpuMax {
                quota_us: None,
                period_us: 100_000
            })
        );
        let half = CpuMax::parse("50000 100000\n").unwrap();
        assert_eq!(half.quota_us, Some(50_000));
        assert_eq!(half.millicores(), Some(500));
        assert!(CpuMax::parse("max").is_err());
        assert!(CpuMax::parse("1 2 3").is_err());
        assert!(CpuMax::parse("").is_err());
    }

    #[test]
    fn meminfo_converts_kb() {
        let m =
            Meminfo::parse("MemTotal:       1000 kB\nMemFree: 10 kB\nHugePages_Total:       0\n")
                .unwrap();
        assert_eq!(m.mem_total, 1_024_000);
        assert_eq!(m.mem_free, Some(10_240));
        assert_eq!(m.mem_available, None);
        assert_eq!(
            Meminfo::parse("MemFree: 1 kB\n"),
            Err(ParseError::new(1, ParseErrorKind::MissingKey("MemTotal")))
        );
        assert_eq!(
            Meminfo::parse("MemTotal: 1 kB\nMemFree: lots\n"),
            Err(ParseError::new(2, ParseErrorKind::InvalidNumber))
        );
    }

    #[test]
    fn mountinfo_lines() {
        let text = "35 24 0:30 / /sys/fs/cgroup rw,nosuid shared:9 master:1 - cgroup2 cgroup2 rw,nsdelegate\n\
                    40 31 0:37 /a\\040b /mnt/with\\040space rw - cgroup cgroup rw,xattr,name=systemd\n";
        let m: Vec<_> = mountinfo(text).collect::<Result<_, _>>().unwrap();
        assert_eq!(m[0].mount_point, "/sys/fs/cgroup");
        assert_eq!(m[0].fs_type, "cgroup2");
        assert_eq!(m[0].super_options, "rw,nsdelegate");
        assert!(m[1].has_super_option("name=systemd"));
        assert!(!m[1].has_super_option("name"));
        assert_eq!(unescape(m[1].mount_point), "/mnt/with space");
        assert_eq!(unescape(m[1].root), "/a b");
        assert_eq!(unescape("a\\134b\\011c\\999"), "a\\b\tc\\999");
        let err = mountinfo("1 2 3:4 / /x rw no-separator\n").next().unwrap();
        assert_eq!(err.unwrap_err().line, 1);
    }

    #[test]
    fn cpu_lists() {
        assert_eq!(cpu_list_count("0-1\n"), Ok(2));
        assert_eq!(cpu_list_count("0-1,4"), Ok(3));
        assert_eq!(cpu_list_count("0,2,4-7\n"), Ok(6));
        assert_eq!(cpu_list_count("\n"), Ok(0));
        assert!(cpu_list_count("3-1").is_err());
        assert!(cpu_list_count("a").is_err());
        assert_eq!(cpu_list_count("0-4294967295"), Ok(u32::MAX));
        assert_eq!(
            proc_stat_cpu_count("cpu  1 2\ncpu0 1\ncpu1 2\ncpufreq x\nintr 5\n"),
            2
        );
    }

    // The parsers read whatever a (possibly broken or hostile) filesystem
    // hands them; they must return errors, never panic.
    proptest! {
        #[test]
        fn number_never_panics(s in "\\PC*") { let _ = number(&s); let _ = signed_value(&s); let _ = limit(&s); }

        #[test]
        fn keyed_never_panics(s in "([a-z_]{0,12}[ \t]{0,2}-?[0-9]{0,22}\n?){0,12}") {
            let _ = MemoryStatV1::parse(&s);
            let _ = MemoryStatV2::parse(&s);
            let _ = CpuStatV1::parse(&s);
            let _ = CpuStatV2::parse(&s);
            let _ = CpuacctStat::parse(&s);
            let _ = keyed_value(&s, "oom");
        }

        #[test]
        fn keyed_never_panics_on_any_text(s in "\\PC*") {
            let _ = MemoryStatV1::parse(&s);
            let _ = MemoryStatV2::parse(&s);
            let _ = CpuStatV2::parse(&s);
            let _ = CpuacctStat::parse(&s);
        }

        #[test]
        fn cpu_max_never_panics(s in "(max|-?[0-9]{0,21})? ?(-?[0-9]{0,21})?( [0-9]*)?\n?") { let _ = CpuMax::parse(&s).map(|m| m.millicores()); }

        #[test]
        fn meminfo_never_panics(s in "([A-Za-z_()]{0,12}:? {0,8}-?[0-9]{0,22}( kB)?\n){0,8}") { let _ = Meminfo::parse(&s); }

        #[test]
        fn meminfo_never_panics_on_any_text(s in "\\PC*") { let _ = Meminfo::parse(&s); }

        #[test]
        fn mountinfo_never_panics(s in "([0-9a-z/:,=\\\\ -]{0,60}\n){0,6}") {
            for m in mountinfo(&s).flatten() {
                let _ = unescape(m.mount_point);
                let _ = m.has_super_option("memory");
            }
        }

        #[test]
        fn unescape_never_panics(s in "(\\\\[0-9]{0,3}|[a-z ]|\\PC){0,20}") { let _ = unescape(&s); }

        #[test]
        fn cpu_list_never_panics(s in "[0-9,\\- \n]{0,40}") { let _ = cpu_list_count(&s); let _ = proc_stat_cpu_count(&s); }

        #[test]
        fn cpu_list_never_panics_on_any_text(s in "\\PC*") { let _ = cpu_list_count(&s); let _ = proc_stat_cpu_count(&s); }
    }
}

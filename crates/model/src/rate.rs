//! CPU rate from two cumulative samples.
//!
//! A cumulative CPU counter only tells a rate when two samples of the *same*
//! counter are compared. Counters restart when a cgroup is re-created or a
//! container restarts, and clocks can step; in those cases there is no rate
//! for the interval, never a negative or wrapped number. This is the rule the
//! kubelet and metrics-server apply, and the one `kubectl top` users rely on.

use std::time::Duration;

/// One reading of a cumulative CPU counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuPoint {
    /// Cumulative CPU time consumed, in nanoseconds.
    pub usage_ns: u64,
    /// When the counter was read, on a clock that only moves forward for the
    /// pair being compared (monotonic, or wall-clock nanoseconds since the epoch).
    pub at: Duration,
}

/// The CPU rate between two points in whole nanocores (1e9 = one core busy).
///
/// Returns `None` when there is no honest rate: the counter went down (the
/// cgroup was re-created) or the interval is not positive. The division
/// truncates, as metrics-server does.
pub fn nanocores(earlier: CpuPoint, later: CpuPoint) -> Option<u64> {
    let interval = later.at.checked_sub(earlier.at)?;
    if interval.is_zero() {
        return None;
    }
    let used = later.usage_ns.checked_sub(earlier.usage_ns)?;
    // u128 keeps `used * 1e9` exact for any u64 counter.
    let rate = u128::from(used) * 1_000_000_000 / interval.as_nanos();
    u64::try_from(rate).ok()
}

/// The CPU rate of a counter that read `earlier_ns`, then `later_ns`
/// `window` later: [`nanocores`] for two readings of one pass-to-pass pair.
pub fn nanocores_over(earlier_ns: u64, later_ns: u64, window: Duration) -> Option<u64> {
    nanocores(
        CpuPoint {
            usage_ns: earlier_ns,
            at: Duration::ZERO,
        },
        CpuPoint {
            usage_ns: later_ns,
            at: window,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(usage_ns: u64, at_ms: u64) -> CpuPoint {
        CpuPoint {
            usage_ns,
            at: Duration::from_millis(at_ms),
        }
    }

    #[test]
    fn one_core_for_one_second_is_1e9_nanocores() {
        assert_eq!(
            nanocores(point(5_000_000_000, 1_000), point(6_000_000_000, 2_000)),
            Some(1_000_000_000)
        );
    }

    #[test]
    fn quarter_core_over_fifteen_seconds() {
        assert_eq!(
            nanocores(point(0, 0), point(3_750_000_000, 15_000)),
            Some(250_000_000)
        );
    }

    #[test]
    fn truncates_to_whole_nanocores() {
        // 1 ns over 3 s = 0.333… nanocores.
        assert_eq!(nanocores(point(0, 0), point(1, 3_000)), Some(0));
        assert_eq!(nanocores(point(0, 0), point(10, 3_000)), Some(3));
    }

    #[test]
    fn counter_that_went_down_has_no_rate() {
        assert_eq!(nanocores(point(9_000, 0), point(8_999, 1_000)), None);
    }

    #[test]
    fn non_positive_interval_has_no_rate() {
        assert_eq!(nanocores(point(0, 1_000), point(10, 1_000)), None);
        assert_eq!(nanocores(point(0, 2_000), point(10, 1_000)), None);
    }

    #[test]
    fn idle_counter_is_zero_not_none() {
        assert_eq!(nanocores(point(42, 0), point(42, 1_000)), Some(0));
    }

    #[test]
    fn huge_counters_do_not_overflow() {
        assert_eq!(
            nanocores(point(0, 0), point(u64::MAX, 1_000)),
            Some(u64::MAX)
        );
    }
}

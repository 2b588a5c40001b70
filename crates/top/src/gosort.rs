//! Go's `sort.Sort`, reproduced step for step so that equal elements end up
//! in the same order as in kubectl.
//!
//! kubectl sorts nodes, pods and containers with `sort.Sort`, which is not
//! stable: with `--sort-by cpu` or `memory`, rows with the same value may
//! come out in any order, and which one Go picks depends on the exact
//! sequence of comparisons and swaps of its pattern-defeating quicksort
//! (Go 1.19 and later). Up to 12 elements it is a plain insertion sort, hence
//! stable; beyond that ties are permuted, deterministically. Reproducing the
//! algorithm's control flow (not just "some unstable sort") is the only way
//! to print tied rows in kubectl's order.
//!
//! One detail changed between Go releases: the xorshift generator that
//! scatters elements when a partition is badly unbalanced used the shifts
//! 13/17/5 up to Go 1.23 and 13/7/17 from Go 1.24 on (golang/go#70144).
//! kubectl 1.27–1.32 are built with Go 1.22–1.23, kubectl 1.33 with Go 1.24,
//! see [`crate::KubectlVersion::go_sort`].

/// Which Go release's `sort.Sort` to reproduce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GoSort {
    /// Go 1.19–1.23: xorshift shifts 13, 17, 5.
    Go119,
    /// Go 1.24 and later: xorshift shifts 13, 7, 17.
    Go124,
}

/// Sorts `data` the way Go's `sort.Sort` does with a `Less` of
/// `less(&data[i], &data[j])` and a `Swap` that swaps two elements.
pub fn sort_by<T, F>(data: &mut [T], variant: GoSort, less: F)
where
    F: FnMut(&T, &T) -> bool,
{
    let n = data.len();
    if n <= 1 {
        return;
    }
    let mut sorter = Sorter {
        data,
        less,
        variant,
    };
    let limit = bit_length(n);
    sorter.pdqsort(0, n, limit);
}

/// Go's `bits.Len`: the number of bits needed to represent `n`.
fn bit_length(n: usize) -> usize {
    (usize::BITS - n.leading_zeros()) as usize
}

/// What `choose_pivot` learnt about the order around the pivot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hint {
    Unknown,
    Increasing,
    Decreasing,
}

struct Sorter<'a, T, F> {
    data: &'a mut [T],
    less: F,
    variant: GoSort,
}

impl<T, F> Sorter<'_, T, F>
where
    F: FnMut(&T, &T) -> bool,
{
    fn less(&mut self, i: usize, j: usize) -> bool {
        (self.less)(&self.data[i], &self.data[j])
    }

    fn swap(&mut self, i: usize, j: usize) {
        self.data.swap(i, j);
    }

    fn insertion_sort(&mut self, a: usize, b: usize) {
        for i in a + 1..b {
            let mut j = i;
            while j > a && self.less(j, j - 1) {
                self.swap(j, j - 1);
                j -= 1;
            }
        }
    }

    fn sift_down(&mut self, lo: usize, hi: usize, first: usize) {
        let mut root = lo;
        loop {
            let mut child = 2 * root + 1;
            if child >= hi {
                return;
            }
            if child + 1 < hi && self.less(first + child, first + child + 1) {
                child += 1;
            }
            if !self.less(first + root, first + child) {
                return;
            }
            self.swap(first + root, first + child);
            root = child;
        }
    }

    fn heap_sort(&mut self, a: usize, b: usize) {
        let first = a;
        let hi = b - a;
        for i in (0..=(hi - 1) / 2).rev() {
            self.sift_down(i, hi, first);
        }
        for i in (0..hi).rev() {
            self.swap(first, first + i);
            self.sift_down(0, i, first);
        }
    }

    /// Sorts `data[a..b]`, allowing `limit` bad pivots before heapsort.
    fn pdqsort(&mut self, mut a: usize, mut b: usize, mut limit: usize) {
        const MAX_INSERTION: usize = 12;
        let mut was_balanced = true;
        let mut was_partitioned = true;
        loop {
            let length = b - a;
            if length <= MAX_INSERTION {
                self.insertion_sort(a, b);
                return;
            }
            if limit == 0 {
                self.heap_sort(a, b);
                return;
            }
            if !was_balanced {
                self.break_patterns(a, b);
                limit -= 1;
            }

            let (mut pivot, mut hint) = self.choose_pivot(a, b);
            if hint == Hint::Decreasing {
                self.reverse_range(a, b);
                pivot = (b - 1) - (pivot - a);
                hint = Hint::Increasing;
            }
            if was_balanced
                && was_partitioned
                && hint == Hint::Increasing
                && self.partial_insertion_sort(a, b)
            {
                return;
            }
            // An element left of the range that is not less than the pivot
            // means the range is full of pivot-equal elements.
            if a > 0 && !self.less(a - 1, pivot) {
                a = self.partition_equal(a, b, pivot);
                continue;
            }

            let (mid, already_partitioned) = self.partition(a, b, pivot);
            was_partitioned = already_partitioned;
            let (left, right) = (mid - a, b - mid);
            let balance_threshold = length / 8;
            if left < right {
                was_balanced = left >= balance_threshold;
                self.pdqsort(a, mid, limit);
                a = mid + 1;
            } else {
                was_balanced = right >= balance_threshold;
                self.pdqsort(mid + 1, b, limit);
                b = mid;
            }
        }
    }

    /// Partitions `data[a..b]` around `data[pivot]`; returns the pivot's new
    /// index and whether nothing had to move.
    fn partition(&mut self, a: usize, b: usize, pivot: usize) -> (usize, bool) {
        self.swap(a, pivot);
        // `i` and `j` bound the unpartitioned part, inclusive; `j` may drop
        // to `a` (never below), so signed arithmetic is not needed.
        let (mut i, mut j) = (a + 1, b - 1);
        while i <= j && self.less(i, a) {
            i += 1;
        }
        while i <= j && !self.less(j, a) {
            j -= 1;
        }
        if i > j {
            self.swap(j, a);
            return (j, true);
        }
        self.swap(i, j);
        i += 1;
        j -= 1;
        loop {
            while i <= j && self.less(i, a) {
                i += 1;
            }
            while i <= j && !self.less(j, a) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
        self.swap(j, a);
        (j, false)
    }

    /// Moves the elements equal to `data[pivot]` to the front of
    /// `data[a..b]` (which holds nothing smaller); returns where the greater
    /// ones start.
    fn partition_equal(&mut self, a: usize, b: usize, pivot: usize) -> usize {
        self.swap(a, pivot);
        let (mut i, mut j) = (a + 1, b - 1);
        loop {
            while i <= j && !self.less(a, i) {
                i += 1;
            }
            while i <= j && self.less(a, j) {
                j -= 1;
            }
            if i > j {
                break;
            }
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
        i
    }

    /// Fixes up to five out-of-order pairs; true when the range ends sorted.
    fn partial_insertion_sort(&mut self, a: usize, b: usize) -> bool {
        const MAX_STEPS: usize = 5;
        const SHORTEST_SHIFTING: usize = 50;
        let mut i = a + 1;
        for _ in 0..MAX_STEPS {
            while i < b && !self.less(i, i - 1) {
                i += 1;
            }
            if i == b {
                return true;
            }
            if b - a < SHORTEST_SHIFTING {
                return false;
            }
            self.swap(i, i - 1);
            // Shift the smaller element left. Go's loop runs down to index 1
            // of the whole slice, not to `a + 1`; kept as is.
            if i - a >= 2 {
                let mut j = i - 1;
                while j >= 1 {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j -= 1;
                }
            }
            // Shift the greater element right.
            if b - i >= 2 {
                let mut j = i + 1;
                while j < b {
                    if !self.less(j, j - 1) {
                        break;
                    }
                    self.swap(j, j - 1);
                    j += 1;
                }
            }
        }
        false
    }

    /// Swaps three elements near the middle with pseudo-random ones.
    fn break_patterns(&mut self, a: usize, b: usize) {
        let length = b - a;
        if length < 8 {
            return;
        }
        let mut random = length as u64;
        let modulus = 1usize << bit_length(length);
        let middle = a + (length / 4) * 2;
        for idx in middle - 1..=middle + 1 {
            random = match self.variant {
                GoSort::Go119 => xorshift(random, 13, 17, 5),
                GoSort::Go124 => xorshift(random, 13, 7, 17),
            };
            // Go converts to `uint` (64 bits on the platforms kubectl ships for).
            let mut other = (random as usize) & (modulus - 1);
            if other >= length {
                other -= length;
            }
            self.swap(idx, a + other);
        }
    }

    /// Picks a pivot index in `data[a..b]` and reports how ordered the
    /// sampled elements were.
    fn choose_pivot(&mut self, a: usize, b: usize) -> (usize, Hint) {
        const SHORTEST_NINTHER: usize = 50;
        const MAX_SWAPS: usize = 4 * 3;
        let l = b - a;
        let mut swaps = 0;
        let mut i = a + l / 4;
        let mut j = a + l / 4 * 2;
        let mut k = a + l / 4 * 3;
        if l >= 8 {
            if l >= SHORTEST_NINTHER {
                i = self.median_adjacent(i, &mut swaps);
                j = self.median_adjacent(j, &mut swaps);
                k = self.median_adjacent(k, &mut swaps);
            }
            j = self.median(i, j, k, &mut swaps);
        }
        let hint = match swaps {
            0 => Hint::Increasing,
            MAX_SWAPS => Hint::Decreasing,
            _ => Hint::Unknown,
        };
        (j, hint)
    }

    /// The two indices ordered by their elements, counting a swap.
    fn order2(&mut self, a: usize, b: usize, swaps: &mut usize) -> (usize, usize) {
        if self.less(b, a) {
            *swaps += 1;
            (b, a)
        } else {
            (a, b)
        }
    }

    fn median(&mut self, a: usize, b: usize, c: usize, swaps: &mut usize) -> usize {
        let (a, b) = self.order2(a, b, swaps);
        let (b, _) = self.order2(b, c, swaps);
        let (_, b) = self.order2(a, b, swaps);
        b
    }

    fn median_adjacent(&mut self, a: usize, swaps: &mut usize) -> usize {
        self.median(a - 1, a, a + 1, swaps)
    }

    fn reverse_range(&mut self, a: usize, b: usize) {
        let (mut i, mut j) = (a, b - 1);
        while i < j {
            self.swap(i, j);
            i += 1;
            j -= 1;
        }
    }
}

/// One step of Go's `xorshift.Next` with the given shifts.
fn xorshift(mut state: u64, left1: u32, right: u32, left2: u32) -> u64 {
    state ^= state << left1;
    state ^= state >> right;
    state ^= state << left2;
    state
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn small_inputs_sort_stably_like_insertion_sort() {
        let mut data = vec![(1, 'a'), (0, 'b'), (1, 'c'), (0, 'd'), (1, 'e')];
        sort_by(&mut data, GoSort::Go124, |x, y| x.0 < y.0);
        assert_eq!(data, vec![(0, 'b'), (0, 'd'), (1, 'a'), (1, 'c'), (1, 'e')]);
    }

    #[test]
    fn descending_sort_with_ties_of_large_inputs_is_deterministic() {
        let make =
            || -> Vec<(u32, usize)> { (0..200).map(|i| ((i * 7919) % 13, i as usize)).collect() };
        let mut first = make();
        let mut second = make();
        sort_by(&mut first, GoSort::Go119, |x, y| x.0 > y.0);
        sort_by(&mut second, GoSort::Go119, |x, y| x.0 > y.0);
        assert_eq!(first, second);
        assert!(first.windows(2).all(|w| w[0].0 >= w[1].0));
    }

    proptest! {
        #[test]
        fn sorts_any_input(keys in proptest::collection::vec(0u8..6, 0..400), go124 in any::<bool>()) {
            let variant = if go124 { GoSort::Go124 } else { GoSort::Go119 };
            let mut data: Vec<(u8, usize)> = keys.iter().copied().zip(0..).collect();
            sort_by(&mut data, variant, |x, y| x.0 < y.0);
            prop_assert!(data.windows(2).all(|w| w[0].0 <= w[1].0));
            let mut ids: Vec<usize> = data.iter().map(|d| d.1).collect();
            ids.sort_unstable();
            prop_assert_eq!(ids, (0..keys.len()).collect::<Vec<_>>());
        }
    }
}

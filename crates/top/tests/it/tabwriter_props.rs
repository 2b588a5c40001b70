//! Properties of the Go-compatible tabwriter on random input.
//!
//! The reference below states the column rule without Go's recursion: a
//! tab-terminated cell at column `j` is padded to the widest cell (plus
//! padding, at least the minimum width) among the maximal run of
//! consecutive lines that all have a tab-terminated cell at column `j`.
//! Such a run always lies inside one run of column `j - 1` (a cell at `j`
//! implies one at `j - 1`), which is why this equals Go's nested column
//! blocks. With `RememberWidths` (kubectl), the runs of a column are
//! formatted top to bottom and each is at least as wide as the widest run
//! above it: a running maximum.

use std::io::Write;

use proptest::prelude::*;
use workingset_top::tabwriter::{Config, TabWriter};

/// A line: tab-terminated cells, then trailing text without a tab.
type Line = (Vec<String>, String);

fn reference(lines: &[Line], config: Config) -> String {
    let width = |text: &str| text.chars().count();
    // Width of the run containing `line` at column `j`.
    let run_width = |line: usize, j: usize| {
        let has = |line: &Line| line.0.len() > j;
        let mut first = line;
        while first > 0 && has(&lines[first - 1]) {
            first -= 1;
        }
        let mut last = line;
        while last + 1 < lines.len() && has(&lines[last + 1]) {
            last += 1;
        }
        let own = lines[first..=last]
            .iter()
            .map(|line| width(&line.0[j]) + config.padding)
            .fold(config.min_width, usize::max);
        (first, own)
    };
    let mut out = String::new();
    for (i, (cells, trailing)) in lines.iter().enumerate() {
        for (j, cell) in cells.iter().enumerate() {
            let (first, own) = run_width(i, j);
            let column = if config.remember_widths {
                // The widest run of this column starting at or above this one.
                (0..first)
                    .filter(|&above| lines[above].0.len() > j)
                    .map(|above| run_width(above, j).1)
                    .fold(own, usize::max)
            } else {
                own
            };
            out.push_str(cell);
            out.push_str(&" ".repeat(column - width(cell)));
        }
        out.push_str(trailing);
        out.push('\n');
    }
    out
}

fn input(lines: &[Line]) -> String {
    let mut text = String::new();
    for (cells, trailing) in lines {
        for cell in cells {
            text.push_str(cell);
            text.push('\t');
        }
        text.push_str(trailing);
        text.push('\n');
    }
    text
}

fn cell() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9é日<>_%()-]{0,14}").unwrap()
}

/// A cell without spaces, so that cells can be found again in the output.
fn word() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-z0-9é日<>_%()-]{1,14}").unwrap()
}

/// Character offsets where a space-separated word starts.
fn word_starts(line: &str) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut previous = ' ';
    for (offset, c) in line.chars().enumerate() {
        if c != ' ' && previous == ' ' {
            starts.push(offset);
        }
        previous = c;
    }
    starts
}

fn lines() -> impl Strategy<Value = Vec<Line>> {
    proptest::collection::vec((proptest::collection::vec(cell(), 0..6), cell()), 0..14)
}

fn format(config: Config, pieces: &[&[u8]]) -> Vec<u8> {
    let mut w = TabWriter::with_config(Vec::new(), config);
    for piece in pieces {
        w.write_all(piece).unwrap();
    }
    w.flush().unwrap();
    w.into_inner()
}

proptest! {
    #[test]
    fn output_follows_the_column_rule(
        lines in lines(),
        min_width in 0usize..8,
        padding in 0usize..4,
        remember_widths in any::<bool>(),
    ) {
        let config = Config { remember_widths, ..Config::go(min_width, 4, padding, b' ') };
        let text = input(&lines);
        let got = String::from_utf8(format(config, &[text.as_bytes()])).unwrap();
        prop_assert_eq!(got, reference(&lines, config));
    }

    #[test]
    fn kubectl_columns_line_up_within_a_block_and_only_widen_downwards(
        lines in proptest::collection::vec(
            (proptest::collection::vec(word(), 0..6), proptest::option::of(word())),
            0..14,
        ),
    ) {
        // With kubectl's parameters, consecutive lines that both have a cell
        // at column j start it at the same character offset, at least 3
        // spaces separate it from the cell before, and no cell starts left
        // of the same column's cell on an earlier line (remembered widths
        // only grow).
        let lines: Vec<Line> = lines
            .into_iter()
            .map(|(cells, trailing)| (cells, trailing.unwrap_or_default()))
            .collect();
        let text = input(&lines);
        let got = String::from_utf8(format(Config::KUBECTL, &[text.as_bytes()])).unwrap();
        let starts: Vec<Vec<usize>> = got.lines().map(word_starts).collect();
        prop_assert_eq!(starts.len(), lines.len());
        for i in 0..lines.len() {
            for j in 0..lines[i].0.len() {
                if j > 0 {
                    let previous_end = starts[i][j - 1] + lines[i].0[j - 1].chars().count();
                    prop_assert!(starts[i][j] >= previous_end + 3);
                }
                if i > 0 && lines[i - 1].0.len() > j {
                    prop_assert_eq!(starts[i - 1][j], starts[i][j], "line {} column {}", i, j);
                }
                for above in 0..i {
                    if lines[above].0.len() > j {
                        prop_assert!(starts[above][j] <= starts[i][j], "line {} column {}", i, j);
                    }
                }
            }
        }
    }

    #[test]
    fn arbitrary_bytes_in_arbitrary_pieces_never_panic_and_split_writes_agree(
        data in proptest::collection::vec(
            prop_oneof![
                Just(b'\t'), Just(b'\n'), Just(0x0b), Just(0x0c), Just(0xff),
                Just(0xe6), Just(0x97), Just(0xa5), any::<u8>(), 0x61u8..0x64,
            ],
            0..200,
        ),
        cuts in proptest::collection::vec(any::<prop::sample::Index>(), 0..8),
        pad_char in prop_oneof![Just(b' '), Just(b'\t'), Just(b'.')],
        tab_width in 0usize..5,
    ) {
        let config = Config { tab_width, pad_char, ..Config::KUBECTL };
        let whole = format(config, &[&data]);
        let mut points: Vec<usize> = cuts.iter().map(|i| i.index(data.len() + 1)).collect();
        points.sort_unstable();
        let mut pieces = Vec::new();
        let mut from = 0;
        for point in points {
            pieces.push(&data[from..point]);
            from = point;
        }
        pieces.push(&data[from..]);
        prop_assert_eq!(format(config, &pieces), whole);
    }
}

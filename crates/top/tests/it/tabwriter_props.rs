//! Properties of the Go-compatible tabwriter on random input.
//!
//! The reference below states Go's column rule without Go's recursion: a
//! tab-terminated cell at column `j` is padded to the widest cell (plus
//! padding, at least the minimum width) among the maximal run of
//! consecutive lines that all have a tab-terminated cell at column `j`.
//! Such a run always lies inside one run of column `j - 1` (a cell at `j`
//! implies one at `j - 1`), which is why this equals Go's nested column
//! blocks.

use std::io::Write;

use proptest::prelude::*;
use workingset_top::tabwriter::{Config, TabWriter};

/// A line: tab-terminated cells, then trailing text without a tab.
type Line = (Vec<String>, String);

fn reference(lines: &[Line], config: Config) -> String {
    let width = |text: &str| text.chars().count();
    let mut out = String::new();
    for (i, (cells, trailing)) in lines.iter().enumerate() {
        for (j, cell) in cells.iter().enumerate() {
            let has = |line: &Line| line.0.len() > j;
            let mut first = i;
            while first > 0 && has(&lines[first - 1]) {
                first -= 1;
            }
            let mut last = i;
            while last + 1 < lines.len() && has(&lines[last + 1]) {
                last += 1;
            }
            let column = lines[first..=last]
                .iter()
                .map(|line| width(&line.0[j]) + config.padding)
                .fold(config.min_width, usize::max);
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
    fn output_follows_gos_column_rule(
        lines in lines(),
        min_width in 0usize..8,
        padding in 0usize..4,
    ) {
        let config = Config { min_width, tab_width: 4, padding, pad_char: b' ' };
        let text = input(&lines);
        let got = String::from_utf8(format(config, &[text.as_bytes()])).unwrap();
        prop_assert_eq!(got, reference(&lines, config));
    }

    #[test]
    fn kubectl_rows_start_columns_alike_within_a_block(lines in lines()) {
        // With kubectl's parameters every line of a block starts column j at
        // the same character offset.
        let text = input(&lines);
        let got = String::from_utf8(format(Config::KUBECTL, &[text.as_bytes()])).unwrap();
        prop_assert_eq!(&got, &reference(&lines, Config::KUBECTL));
        let out_lines: Vec<&str> = got.lines().collect();
        for j in 0..6 {
            for i in 1..lines.len() {
                if lines[i].0.len() > j && lines[i - 1].0.len() > j {
                    let start = |line: &str, cells: &[String]| {
                        // Offset of cell j: sum of the padded widths before it.
                        let mut offset = 0;
                        let mut rest = line;
                        for cell in &cells[..j] {
                            let w = cell.chars().count();
                            let padded = rest.chars().skip(w).take_while(|c| *c == ' ').count();
                            offset += w + padded;
                            rest = &rest[rest.char_indices().nth(w + padded).map_or(rest.len(), |(b, _)| b)..];
                        }
                        offset
                    };
                    prop_assert_eq!(
                        start(out_lines[i - 1], &lines[i - 1].0),
                        start(out_lines[i], &lines[i].0)
                    );
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
        let config = Config { min_width: 6, tab_width, padding: 3, pad_char };
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

//! A reimplementation of the tabwriter behind every table kubectl prints:
//! Go's `text/tabwriter`, as forked by `github.com/liggitt/tabwriter`.
//!
//! kubectl writes each cell followed by `\t` and each row followed by `\n`
//! into the writer that cli-runtime's `printers.GetNewTabWriter` makes, and
//! calls `Flush` once at the end. That writer is **not** the standard
//! library's: it is `github.com/liggitt/tabwriter` (pinned by kubectl 1.27
//! to 1.33 at commit `89fcab3d43de`, a copy of Go's `text/tabwriter` from
//! 2018 plus one feature) with minwidth 6, tabwidth 4, padding 3, padchar
//! `' '` and the flag `RememberWidths` ([`Config::KUBECTL`]). To print the
//! same bytes we need the same rules:
//!
//! - A *cell* is text terminated by `\t` (or `\v`). The text after the last
//!   tab of a line is also kept as a cell, but it is not part of any column:
//!   it never influences widths and is never padded.
//! - A *column block* is a run of consecutive lines that all have a
//!   tab-terminated cell at that column index. Go's width for it is
//!   `max(minwidth, widest cell + padding)`.
//! - With `RememberWidths` (kubectl), the writer also keeps, per column
//!   index, the largest width of the blocks formatted so far (across
//!   flushes too), and a block is never narrower than that. Blocks are
//!   formatted top to bottom, so a column only ever widens going down: a
//!   short line splits a column into blocks, but the block below it is at
//!   least as wide as the one above, while the one above is not widened by
//!   the one below.
//! - Widths count Unicode scalar values (Go runes); every byte that is not
//!   part of valid UTF-8 counts as one.
//! - Text between two `0xff` bytes (Go's `tabwriter.Escape`) is passed
//!   through unchanged, tabs and newlines included, and its width excludes
//!   the two escape bytes. It cannot occur in `&str` text, but the writer
//!   accepts arbitrary bytes, so it behaves like Go's here too.
//! - `\f` ends the line and flushes, so the lines after it start new blocks;
//!   it is written out as `\n`.
//!
//! Only the flags 0 and `RememberWidths` are supported (no `AlignRight`,
//! `FilterHTML`, `DiscardEmptyColumns`, `TabIndent` or `Debug`). A pad
//! character of `\t` works as in Go (cells are padded with tabs up to a
//! multiple of the tab width).
//!
//! Output appears when [`TabWriter::flush`] is called ([`io::Write::flush`]),
//! or early for lines that cannot affect later ones (Go flushes after a line
//! with no tab); nothing is written on drop, exactly as with Go, where a
//! forgotten `Flush` loses the table.

use std::io::{self, Write};

/// The formatting parameters of `tabwriter.Writer.Init`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Minimal width of a column, padding included.
    pub min_width: usize,
    /// Width of a tab character; only used when `pad_char` is `\t`.
    pub tab_width: usize,
    /// Added to the widest cell of a column block to get the column width.
    pub padding: usize,
    /// Byte used for padding; `\t` switches to tab padding.
    pub pad_char: u8,
    /// liggitt/tabwriter's `RememberWidths` flag: a column block is never
    /// narrower than the widest earlier block of the same column. `false`
    /// is Go's `text/tabwriter` with flags 0.
    pub remember_widths: bool,
}

impl Config {
    /// What kubectl's `printers.GetNewTabWriter` uses for every table.
    pub const KUBECTL: Self = Self {
        min_width: 6,
        tab_width: 4,
        padding: 3,
        pad_char: b' ',
        remember_widths: true,
    };

    /// Go's `text/tabwriter` with flags 0.
    pub const fn go(min_width: usize, tab_width: usize, padding: usize, pad_char: u8) -> Self {
        Self {
            min_width,
            tab_width,
            padding,
            pad_char,
            remember_widths: false,
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::KUBECTL
    }
}

/// Go's escape byte: text between two of them is not interpreted.
const ESCAPE: u8 = 0xff;

/// One cell: where its text is in the buffer (implicitly, by order) and how
/// wide it prints.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    /// Bytes of text in the buffer.
    size: usize,
    /// Width in runes, escape bytes excluded.
    width: usize,
}

/// A writer that aligns tab-terminated cells into columns exactly like
/// kubectl's tabwriter (or, configured so, Go's `text/tabwriter`).
///
/// Write cells as `text\t` and lines ending in `\n`, then call
/// [`flush`](io::Write::flush). `write` never fails unless a line that
/// triggers an early flush cannot be written to the inner writer.
#[derive(Debug)]
pub struct TabWriter<W: Write> {
    out: W,
    config: Config,
    /// Text of all cells of all buffered lines, separators removed.
    buf: Vec<u8>,
    /// Position in `buf` up to which `cell.width` has been counted.
    counted: usize,
    /// The cell being written (not yet terminated).
    cell: Cell,
    /// Inside an escaped segment.
    escaped: bool,
    /// Terminated cells of all buffered lines, in order. One flat vector
    /// instead of a vector per line keeps allocations per flush, not per line.
    cells: Vec<Cell>,
    /// Index in `cells` where each buffered line starts; the last entry is
    /// the line being written.
    line_starts: Vec<usize>,
    /// Widths of the enclosing column blocks while formatting.
    widths: Vec<usize>,
    /// With `remember_widths`: the widest block seen so far per column.
    /// Kept across flushes.
    max_widths: Vec<usize>,
}

impl<W: Write> TabWriter<W> {
    /// A writer with kubectl's parameters ([`Config::KUBECTL`]).
    pub fn new(out: W) -> Self {
        Self::with_config(out, Config::KUBECTL)
    }

    /// A writer with other parameters, as Go's `NewWriter(out, minwidth,
    /// tabwidth, padding, padchar, 0)`.
    pub fn with_config(out: W, config: Config) -> Self {
        Self {
            out,
            config,
            buf: Vec::new(),
            counted: 0,
            cell: Cell::default(),
            escaped: false,
            cells: Vec::new(),
            line_starts: vec![0],
            widths: Vec::new(),
            max_widths: Vec::new(),
        }
    }

    /// The remembered per-column widths (liggitt/tabwriter's
    /// `RememberedWidths`); empty unless `remember_widths` is set.
    pub fn remembered_widths(&self) -> &[usize] {
        &self.max_widths
    }

    /// Replaces the remembered per-column widths (`SetRememberedWidths`),
    /// for instance to continue the columns of another writer.
    pub fn set_remembered_widths(&mut self, widths: &[usize]) {
        self.max_widths.clear();
        self.max_widths.extend_from_slice(widths);
    }

    /// The inner writer.
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// Gives back the inner writer. Text written since the last flush is
    /// discarded, as it would be in Go without `Flush`.
    pub fn into_inner(self) -> W {
        self.out
    }

    /// Number of buffered lines, the open one included.
    fn line_count(&self) -> usize {
        self.line_starts.len()
    }

    /// Number of terminated cells in buffered line `line`.
    fn cells_in_line(&self, line: usize) -> usize {
        let start = self.line_starts[line];
        let end = self
            .line_starts
            .get(line + 1)
            .copied()
            .unwrap_or(self.cells.len());
        end - start
    }

    /// Adds `text` to the current cell without counting its width yet (it
    /// may end in the middle of a UTF-8 sequence continued by the next write).
    fn append(&mut self, text: &[u8]) {
        self.buf.extend_from_slice(text);
        self.cell.size += text.len();
    }

    /// Counts the runes appended since the last count into the cell width.
    fn update_width(&mut self) {
        self.cell.width += rune_count(&self.buf[self.counted..]);
        self.counted = self.buf.len();
    }

    fn end_escape(&mut self) {
        self.update_width();
        // The two escape bytes each counted as one (invalid) rune.
        self.cell.width = self.cell.width.saturating_sub(2);
        self.escaped = false;
    }

    /// Ends the current cell; returns how many cells its line now has.
    fn terminate_cell(&mut self) -> usize {
        self.cells.push(std::mem::take(&mut self.cell));
        self.cells_in_line(self.line_count() - 1)
    }

    fn add_line(&mut self) {
        self.line_starts.push(self.cells.len());
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.counted = 0;
        self.cell = Cell::default();
        self.escaped = false;
        self.cells.clear();
        self.line_starts.clear();
        self.line_starts.push(0);
        self.widths.clear();
    }

    /// Formats and writes everything buffered (Go's `Flush` without flushing
    /// the inner writer). The state is reset even when writing fails.
    fn flush_table(&mut self) -> io::Result<()> {
        let result = self.format_all();
        self.reset();
        result
    }

    fn format_all(&mut self) -> io::Result<()> {
        if self.cell.size > 0 {
            if self.escaped {
                // An unterminated escape counts as terminated at the end.
                self.end_escape();
            }
            self.terminate_cell();
        }
        let lines = self.line_count();
        self.format(0, 0, lines).map(|_| ())
    }

    /// Writes lines `line0..line1` whose text starts at `pos` in the buffer,
    /// splitting them into column blocks for column `self.widths.len()` and
    /// recursing into each block for the columns to its right. Returns the
    /// buffer position after the last line.
    fn format(&mut self, mut pos: usize, mut line0: usize, line1: usize) -> io::Result<usize> {
        let column = self.widths.len();
        let mut line = line0;
        while line < line1 {
            // A line has a cell in `column` when it has a terminated cell
            // after it (the last cell of a line belongs to no column).
            if self.cells_in_line(line) <= column + 1 {
                line += 1;
                continue;
            }
            // Lines before the block only use the columns to the left.
            pos = self.write_lines(pos, line0, line)?;
            line0 = line;
            let mut width = self.config.min_width;
            while line < line1 && self.cells_in_line(line) > column + 1 {
                let cell = self.cells[self.line_starts[line] + column];
                width = width.max(cell.width + self.config.padding);
                line += 1;
            }
            if self.config.remember_widths {
                width = self.remember(width);
            }
            self.widths.push(width);
            pos = self.format(pos, line0, line)?;
            self.widths.pop();
            line0 = line;
        }
        self.write_lines(pos, line0, line1)
    }

    /// liggitt/tabwriter's `RememberWidths` step for a block of the current
    /// column: records a wider block, or widens a narrower one.
    fn remember(&mut self, width: usize) -> usize {
        let column = self.widths.len();
        if self.max_widths.len() < column {
            // Only after `set_remembered_widths` with fewer columns: the
            // enclosing columns' widths count as remembered.
            let known = self.max_widths.len();
            self.max_widths.extend_from_slice(&self.widths[known..]);
        }
        match self.max_widths.get_mut(column) {
            None => {
                self.max_widths.push(width);
                width
            }
            Some(max) if *max > width => *max,
            Some(max) => {
                *max = width;
                width
            }
        }
    }

    /// Writes lines `line0..line1` with the column widths known so far.
    fn write_lines(&mut self, mut pos: usize, line0: usize, line1: usize) -> io::Result<usize> {
        for line in line0..line1 {
            let start = self.line_starts[line];
            for (j, cell) in self.cells[start..start + self.cells_in_line(line)]
                .iter()
                .enumerate()
            {
                if cell.size > 0 {
                    self.out.write_all(&self.buf[pos..pos + cell.size])?;
                    pos += cell.size;
                }
                if let Some(&column_width) = self.widths.get(j) {
                    write_padding(&mut self.out, &self.config, cell.width, column_width)?;
                }
            }
            if line + 1 == self.line_count() {
                // The open last line has no newline; its unterminated text
                // (if any was not made a cell) goes out as is.
                self.out.write_all(&self.buf[pos..pos + self.cell.size])?;
                pos += self.cell.size;
            } else {
                self.out.write_all(b"\n")?;
            }
        }
        Ok(pos)
    }
}

/// Pads a cell of `text_width` runes to `cell_width`.
fn write_padding<W: Write>(
    out: &mut W,
    config: &Config,
    text_width: usize,
    cell_width: usize,
) -> io::Result<()> {
    if config.pad_char == b'\t' {
        if config.tab_width == 0 {
            // Tabs of no width cannot pad anything.
            return Ok(());
        }
        let cell_width = cell_width.div_ceil(config.tab_width) * config.tab_width;
        let missing = cell_width.saturating_sub(text_width);
        return write_repeated(out, b'\t', missing.div_ceil(config.tab_width));
    }
    write_repeated(out, config.pad_char, cell_width.saturating_sub(text_width))
}

fn write_repeated<W: Write>(out: &mut W, byte: u8, mut count: usize) -> io::Result<()> {
    const CHUNK: usize = 32;
    let chunk = [byte; CHUNK];
    while count > 0 {
        let n = count.min(CHUNK);
        out.write_all(&chunk[..n])?;
        count -= n;
    }
    Ok(())
}

/// Go's `utf8.RuneCount`: valid UTF-8 sequences count one each, every other
/// byte counts one.
pub fn rune_count(bytes: &[u8]) -> usize {
    bytes
        .utf8_chunks()
        .map(|chunk| chunk.valid().chars().count() + chunk.invalid().len())
        .sum()
}

impl<W: Write> Write for TabWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        // Start of the text not yet appended to the current cell.
        let mut from = 0;
        for (i, &byte) in data.iter().enumerate() {
            if self.escaped {
                if byte == ESCAPE {
                    self.append(&data[from..=i]);
                    from = i + 1;
                    self.end_escape();
                }
                continue;
            }
            match byte {
                b'\t' | b'\x0b' | b'\n' | b'\x0c' => {
                    self.append(&data[from..i]);
                    self.update_width();
                    from = i + 1;
                    let cells = self.terminate_cell();
                    if byte == b'\n' || byte == b'\x0c' {
                        self.add_line();
                        // A line of a single cell cannot widen any column of
                        // the lines after it, so everything so far is final.
                        if byte == b'\x0c' || cells == 1 {
                            self.flush_table()?;
                        }
                    }
                }
                ESCAPE => {
                    self.append(&data[from..i]);
                    self.update_width();
                    // The escape byte itself is kept in the text.
                    from = i;
                    self.escaped = true;
                }
                _ => {}
            }
        }
        self.append(&data[from..]);
        Ok(data.len())
    }

    /// Formats and writes everything buffered, then flushes the inner writer
    /// (Go's `Writer.Flush`).
    fn flush(&mut self) -> io::Result<()> {
        self.flush_table()?;
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(min_width: usize, tab_width: usize, padding: usize, pad_char: u8) -> Config {
        Config::go(min_width, tab_width, padding, pad_char)
    }

    /// Runs `src` through a writer at once, byte by byte and in growing
    /// slices (as Go's own test does) and checks each result.
    fn check(name: &str, config: Config, src: &[u8], expected: &[u8]) {
        let mut splits: Vec<(&str, Vec<&[u8]>)> = vec![("at once", vec![src])];
        splits.push(("byte by byte", src.chunks(1).collect()));
        let mut fib = Vec::new();
        let (mut i, mut d) = (0, 0);
        while i < src.len() {
            fib.push(&src[i..i + d]);
            i += d;
            d += 1;
            if i + d > src.len() {
                d = src.len() - i;
            }
        }
        splits.push(("growing slices", fib));
        for (how, pieces) in splits {
            let mut w = TabWriter::with_config(Vec::new(), config);
            for piece in pieces {
                assert_eq!(w.write(piece).unwrap(), piece.len());
            }
            w.flush().unwrap();
            let got = w.into_inner();
            assert_eq!(
                String::from_utf8_lossy(&got),
                String::from_utf8_lossy(expected),
                "test {name} ({how})"
            );
            assert_eq!(got, expected, "test {name} ({how}), raw bytes");
        }
    }

    /// The flags-0 cases of Go's `text/tabwriter` test table, with Go's
    /// expected output.
    #[test]
    fn go_test_table_flags_zero() {
        let cases: &[(&str, Config, &[u8], &[u8])] = &[
            ("1a", config(8, 0, 1, b'.'), b"", b""),
            ("1b esc", config(8, 0, 1, b'.'), b"\xff\xff", b"\xff\xff"),
            ("1c esc", config(8, 0, 1, b'.'), b"\xff\t\xff", b"\xff\t\xff"),
            (
                "1d esc",
                config(8, 0, 1, b'.'),
                b"\xff\"foo\t\n\tbar\"\xff",
                b"\xff\"foo\t\n\tbar\"\xff",
            ),
            ("1e esc", config(8, 0, 1, b'.'), b"abc\xff\tdef", b"abc\xff\tdef"),
            ("2", config(8, 0, 1, b'.'), b"\n\n\n", b"\n\n\n"),
            ("3", config(8, 0, 1, b'.'), b"a\nb\nc", b"a\nb\nc"),
            ("4a", config(8, 0, 1, b'.'), b"\t", b""),
            ("5", config(8, 0, 1, b'.'), b"*\t*", b"*.......*"),
            ("5b", config(8, 0, 1, b'.'), b"*\t*\n", b"*.......*\n"),
            ("5c", config(8, 0, 1, b'.'), b"*\t*\t", b"*.......*"),
            ("6", config(8, 0, 1, b'.'), b"\t\n", b"........\n"),
            ("7a", config(8, 0, 1, b'.'), b"a) foo", b"a) foo"),
            ("7b", config(8, 0, 1, b' '), b"b) foo\tbar", b"b) foo  bar"),
            ("7c", config(8, 0, 1, b'.'), b"c) foo\tbar\t", b"c) foo..bar"),
            ("7d", config(8, 0, 1, b'.'), b"d) foo\tbar\n", b"d) foo..bar\n"),
            (
                "7e",
                config(8, 0, 1, b'.'),
                b"e) foo\tbar\t\n",
                b"e) foo..bar.....\n",
            ),
            (
                "8",
                config(8, 0, 1, b'*'),
                b"Hello, world!\n",
                b"Hello, world!\n",
            ),
            (
                "9a",
                config(1, 0, 0, b'.'),
                b"1\t2\t3\t4\n11\t222\t3333\t44444\n",
                b"1.2..3...4\n11222333344444\n",
            ),
            (
                "9c",
                config(1, 0, 0, b'.'),
                b"1\t2\t3\t4\x0c11\t222\t3333\t44444\n",
                b"1234\n11222333344444\n",
            ),
            (
                "10a",
                config(5, 0, 0, b'.'),
                b"1\t2\t3\t4\n",
                b"1....2....3....4\n",
            ),
            (
                "10b",
                config(5, 0, 0, b'.'),
                b"1\t2\t3\t4\t\n",
                b"1....2....3....4....\n",
            ),
            (
                "11",
                config(8, 0, 1, b'.'),
                "本\tb\tc\naa\t本本本\tcccc\tddddd\naaa\tbbbb\n".as_bytes(),
                "本.......b.......c\naa......本本本.....cccc....ddddd\naaa.....bbbb\n"
                    .as_bytes(),
            ),
            (
                "12b",
                config(2, 0, 0, b' '),
                b"a\tb\tc\naa\tbbb\tcccc\naaa\tbbbb\n",
                b"a  b  c\naa bbbcccc\naaabbbb\n",
            ),
            (
                "12c",
                config(8, 0, 1, b'_'),
                b"a\tb\tc\naa\tbbb\tcccc\naaa\tbbbb\n",
                b"a_______b_______c\naa______bbb_____cccc\naaa_____bbbb\n",
            ),
            (
                "13a",
                config(4, 0, 1, b'-'),
                "4444\t日本語\t22\t1\t333\n999999999\t22\n7\t22\n\t\t\t88888888\n\n666666\t666666\t666666\t4444\n1\t1\t999999999\t0000000000\n".as_bytes(),
                "4444------日本語-22--1---333\n999999999-22\n7---------22\n------------------88888888\n\n666666-666666-666666----4444\n1------1------999999999-0000000000\n".as_bytes(),
            ),
            (
                "13b",
                config(4, 0, 3, b'.'),
                b"4444\t333\t22\t1\t333\n999999999\t22\n7\t22\n\t\t\t88888888\n\n666666\t666666\t666666\t4444\n1\t1\t999999999\t0000000000\n",
                b"4444........333...22...1...333\n999999999...22\n7...........22\n....................88888888\n\n666666...666666...666666......4444\n1........1........999999999...0000000000\n",
            ),
            ("15a", config(4, 0, 0, b'.'), b"a\t\tb", b"a.......b"),
            (
                "16a",
                config(100, 100, 0, b'\t'),
                b"a\tb\t\td\na\tb\t\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n",
                b"a\tb\t\td\na\tb\t\td\te\na\na\tb\tc\td\na\tb\tc\td\te\n",
            ),
        ];
        for (name, config, src, expected) in cases {
            check(name, *config, src, expected);
        }
    }

    #[test]
    fn kubectl_parameters_pad_every_terminated_cell() {
        let mut w = TabWriter::new(Vec::new());
        w.write_all(b"NAME\tCPU(cores)\t\nnode-a\t251m\t\n")
            .unwrap();
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner()).unwrap(),
            "NAME     CPU(cores)   \nnode-a   251m         \n"
        );
    }

    #[test]
    fn nothing_is_written_before_flush_for_multi_cell_lines() {
        let mut w = TabWriter::new(Vec::new());
        w.write_all(b"a\tb\t\n").unwrap();
        assert!(w.get_ref().is_empty());
        w.flush().unwrap();
        assert_eq!(w.get_ref().as_slice(), b"a     b     \n".as_slice());
    }

    #[test]
    fn single_cell_lines_flush_early_without_changing_output() {
        let mut w = TabWriter::new(Vec::new());
        w.write_all(b"title\n").unwrap();
        assert_eq!(w.get_ref().as_slice(), b"title\n".as_slice());
        w.write_all(b"x\t\n").unwrap();
        w.flush().unwrap();
        assert_eq!(w.get_ref().as_slice(), b"title\nx     \n".as_slice());
    }

    #[test]
    fn a_shorter_line_splits_column_blocks() {
        // Column 1 is a block of lines 1-2 and a separate block of line 4.
        let text = b"a\tlong-cell-text\t\nb\tx\t\nc\t\nd\ty\t\n";
        let mut go = TabWriter::with_config(Vec::new(), config(6, 4, 3, b' '));
        go.write_all(text).unwrap();
        go.flush().unwrap();
        assert_eq!(
            String::from_utf8(go.into_inner()).unwrap(),
            format!(
                "a{0:5}long-cell-text{0:3}\nb{0:5}x{0:16}\nc{0:5}\nd{0:5}y{0:5}\n",
                ""
            )
        );
        // kubectl's writer remembers the first block's width for the second.
        let mut kubectl = TabWriter::new(Vec::new());
        kubectl.write_all(text).unwrap();
        kubectl.flush().unwrap();
        assert_eq!(
            String::from_utf8(kubectl.into_inner()).unwrap(),
            format!(
                "a{0:5}long-cell-text{0:3}\nb{0:5}x{0:16}\nc{0:5}\nd{0:5}y{0:16}\n",
                ""
            )
        );
    }

    #[test]
    fn a_wider_block_below_does_not_widen_the_one_above() {
        let mut w = TabWriter::new(Vec::new());
        w.write_all(b"a\tx\t\nc\t\nd\tlong-cell-text\t\n").unwrap();
        w.flush().unwrap();
        assert_eq!(
            String::from_utf8(w.into_inner()).unwrap(),
            format!("a{0:5}x{0:5}\nc{0:5}\nd{0:5}long-cell-text{0:3}\n", "")
        );
    }

    /// liggitt/tabwriter's own test of `RememberWidths` across flushes.
    #[test]
    fn remembered_widths_across_flushes_like_liggitt_tabwriter() {
        let remember = Config {
            remember_widths: true,
            ..config(6, 4, 3, b' ')
        };
        let mut w = TabWriter::with_config(Vec::new(), remember);
        let mut expected = String::new();
        let mut step = |w: &mut TabWriter<Vec<u8>>, input: &str, output: &str| {
            w.write_all(input.as_bytes()).unwrap();
            w.flush().unwrap();
            expected.push_str(output);
            assert_eq!(
                String::from_utf8_lossy(w.get_ref()),
                expected,
                "after {input:?}"
            );
        };
        step(
            &mut w,
            "First\tMiddle\tLast\na\tbb\tccc\nddd\teeeeeeeeeeeeee\tf\n",
            "First   Middle           Last\na       bb               ccc\nddd     eeeeeeeeeeeeee   f\n",
        );
        step(&mut w, "g\th\ti\n", "g       h                i\n");
        step(&mut w, "j\t\t\n", "j                        \n");
        step(&mut w, "\tk\t\n", "        k                \n");
        step(&mut w, "\t\tl\n", "                         l\n");
        step(
            &mut w,
            "mmmmmmmmmmmmmmm\tnnn\tooo\n",
            "mmmmmmmmmmmmmmm   nnn              ooo\n",
        );
        step(
            &mut w,
            "p\tq\tr\n",
            "p                 q                r\n",
        );
        assert_eq!(w.remembered_widths(), [18, 17]);
        w.set_remembered_widths(&[]);
        step(&mut w, "sssss\tt\tu\n", "sssss   t     u\n");
        assert_eq!(w.remembered_widths(), [8, 6]);
        w.set_remembered_widths(&[10, 5, 5]);
        step(&mut w, "v\tw\tx\n", "v         w     x\n");
    }

    #[test]
    fn rune_count_matches_go() {
        assert_eq!(rune_count(b""), 0);
        assert_eq!(rune_count("日本語".as_bytes()), 3);
        assert_eq!(rune_count(b"\xff\xff"), 2);
        // A truncated 3-byte sequence: Go counts each byte.
        assert_eq!(rune_count(b"a\xe2\x82"), 3);
        // A surrogate encoding is invalid in Go as well.
        assert_eq!(rune_count(b"\xed\xa0\x80"), 3);
    }

    struct FailingWriter;

    impl Write for FailingWriter {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::other("cannot write"))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn write_errors_surface_and_reset_the_state() {
        let mut w = TabWriter::new(FailingWriter);
        w.write_all(b"a\tb\t\n").unwrap();
        assert!(w.flush().is_err());
        // Nothing buffered any more: a second flush has nothing to write.
        assert!(w.flush().is_ok());
        // An early flush (line with a single cell) reports the error from write.
        assert!(w.write_all(b"a\n\n").is_err());
    }
}

//! The parser against textparse.PromParser's grammar: escapes, odd but
//! legal spacing, values, timestamps, and every way a line can be bad.

use std::borrow::Cow;
use std::time::{Duration, Instant};

use workingset_expfmt::{
    Item, ParseError, ParseErrorKind, ParsedSample, ParsedType, parse, parse_items,
};

fn samples(text: &str) -> Vec<ParsedSample<'_>> {
    parse(text)
        .collect::<Result<Vec<_>, _>>()
        .unwrap_or_else(|e| panic!("{text:?}: {e}"))
}

fn one(text: &str) -> ParsedSample<'_> {
    let mut v = samples(text);
    assert_eq!(v.len(), 1, "{text:?}");
    v.remove(0)
}

fn labels(s: &ParsedSample<'_>) -> Vec<(String, String)> {
    s.labels
        .iter()
        .map(|(n, v)| (n.into_owned(), v.into_owned()))
        .collect()
}

fn err(text: &str) -> ParseError {
    let mut it = parse_items(text);
    let e = loop {
        match it.next() {
            Some(Ok(_)) => continue,
            Some(Err(e)) => break e,
            None => panic!("{text:?} parsed without error"),
        }
    };
    // The parser stops at the first error.
    assert!(it.next().is_none());
    e
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn kubelet_lines() {
    let body = "# HELP container_cpu_usage_seconds_total [STABLE] Cumulative cpu time\n\
        # TYPE container_cpu_usage_seconds_total counter\n\
        container_cpu_usage_seconds_total{container=\"coredns\",namespace=\"kube-system\",pod=\"coredns-1\"} 21.911392 1735616288521\n\
        container_start_time_seconds{container=\"coredns\",namespace=\"kube-system\",pod=\"coredns-1\"} 1.7356140034e+09\n\
        resource_scrape_error 0\n";
    let items: Vec<Item<'_>> = parse_items(body).collect::<Result<_, _>>().unwrap();
    assert_eq!(items.len(), 5);
    assert_eq!(
        items[0],
        Item::Help {
            name: Cow::Borrowed("container_cpu_usage_seconds_total"),
            help: Cow::Borrowed("[STABLE] Cumulative cpu time"),
        }
    );
    assert_eq!(
        items[1],
        Item::Type {
            name: Cow::Borrowed("container_cpu_usage_seconds_total"),
            metric_type: ParsedType::Counter,
        }
    );
    let s = samples(body);
    assert_eq!(s[0].name, "container_cpu_usage_seconds_total");
    assert_eq!(
        labels(&s[0]),
        pairs(&[
            ("container", "coredns"),
            ("namespace", "kube-system"),
            ("pod", "coredns-1")
        ])
    );
    assert_eq!(s[0].value, 21.911392);
    assert_eq!(s[0].timestamp_ms, Some(1_735_616_288_521));
    assert_eq!(s[0].line, 3);
    assert_eq!(s[1].value, 1_735_614_003.4);
    assert_eq!(s[1].timestamp_ms, None);
    assert_eq!(s[1].labels.get("pod").as_deref(), Some("coredns-1"));
    assert_eq!(s[1].labels.get("nope"), None);
    assert_eq!(s[2].name, "resource_scrape_error");
    assert!(s[2].labels.is_empty());
    assert_eq!(s[2].labels.len(), 0);
    assert_eq!(s[2].line, 5);
}

#[test]
fn values_borrow_unless_escaped() {
    let s = one(r#"m{a="plain",b="x\"y"} 1"#);
    let l: Vec<_> = s.labels.iter().collect();
    assert!(matches!(l[0].1, Cow::Borrowed("plain")));
    assert!(matches!(&l[1].1, Cow::Owned(v) if v == "x\"y"));
    assert!(matches!(s.name, Cow::Borrowed("m")));
    assert_eq!(s.labels.raw(), r#"a="plain",b="x\"y""#);
}

#[test]
fn escapes_and_special_characters_in_label_values() {
    let cases: &[(&str, &str)] = &[
        (r#"m{a="x\\y"} 1"#, "x\\y"),
        (r#"m{a="x\ny"} 1"#, "x\ny"),
        (r#"m{a="x\"y"} 1"#, "x\"y"),
        (r#"m{a="}"} 1"#, "}"),
        (r#"m{a="a}b{c,d=\"e\"} 2"} 1"#, "a}b{c,d=\"e\"} 2"),
        (r#"m{a="\\\""} 1"#, "\\\""),
        (r#"m{a="\\n"} 1"#, "\\n"),
        // Unknown escapes stay as they are (upstream's strings.Replacer).
        (r#"m{a="\t\x\u00e9"} 1"#, r"\t\x\u00e9"),
        (r#"m{a=""} 1"#, ""),
        (r#"m{a="ünïcødé ✓"} 1"#, "ünïcødé ✓"),
        (r##"m{a="# not a comment"} 1"##, "# not a comment"),
        // A raw newline inside quotes is legal for upstream's lexer.
        ("m{a=\"x\ny\"} 1", "x\ny"),
    ];
    for (text, want) in cases {
        let s = one(text);
        assert_eq!(labels(&s), pairs(&[("a", want)]), "{text}");
        assert_eq!(s.value, 1.0, "{text}");
    }
}

#[test]
fn raw_newline_in_quotes_keeps_line_numbers() {
    let s = samples("a 1\nm{a=\"x\ny\"} 2\nb 3\n");
    assert_eq!(s.iter().map(|s| s.line).collect::<Vec<_>>(), [1, 2, 4]);
}

#[test]
fn spacing_and_commas_textparse_accepts() {
    let want = pairs(&[("a", "1"), ("b", "2")]);
    for text in [
        "m{a=\"1\",b=\"2\"} 5",
        "m{a=\"1\",b=\"2\",} 5",
        "m{a=\"1\" b=\"2\"} 5",
        "m{a=\"1\"b=\"2\"} 5",
        "m { a = \"1\" , b = \"2\" , } 5",
        "  m{a=\"1\",b=\"2\"}5  ",
        "m\t{a=\"1\",b=\"2\"}\t5\t",
        "{\"m\",a=\"1\",b=\"2\"} 5",
        "{a=\"1\",\"m\",b=\"2\"} 5",
        "{\"a\"=\"1\",\"b\"=\"2\",\"m\"} 5",
    ] {
        let s = one(text);
        assert_eq!(s.name, "m", "{text:?}");
        assert_eq!(labels(&s), want, "{text:?}");
        assert_eq!(s.value, 5.0, "{text:?}");
        assert_eq!(s.timestamp_ms, None, "{text:?}");
    }
    let s = one("m{} 1 2");
    assert!(s.labels.is_empty());
    assert_eq!(s.timestamp_ms, Some(2));
    // A quoted UTF-8 metric name, with an escape.
    let s = one(r#"{"my.metric\"x"} 1"#);
    assert_eq!(s.name, "my.metric\"x");
}

#[test]
fn blank_lines_comments_and_no_final_newline() {
    let body = "\n\n   \n# just a comment\n#HELP not meta\n# HELPER not meta\n#\n\t# TYPE m gauge\nm 1\n\n# trailing\nm 2 3";
    let items: Vec<Item<'_>> = parse_items(body).collect::<Result<_, _>>().unwrap();
    assert_eq!(
        items[..4],
        [
            Item::Comment("just a comment"),
            Item::Comment("HELP not meta"),
            Item::Comment("HELPER not meta"),
            Item::Comment(""),
        ]
    );
    let s = samples(body);
    assert_eq!(s.len(), 2);
    assert_eq!(
        (s[1].value, s[1].timestamp_ms, s[1].line),
        (2.0, Some(3), 12)
    );
    assert!(samples("").is_empty());
    assert!(samples("\n\n").is_empty());
}

#[test]
fn help_and_type_text_rules() {
    let help = |text: &str| match parse_items(text).next() {
        Some(Ok(Item::Help { name, help })) => (name.into_owned(), help.into_owned()),
        other => panic!("{text:?}: {other:?}"),
    };
    assert_eq!(help("# HELP m some text"), ("m".into(), "some text".into()));
    assert_eq!(help("# HELP m"), ("m".into(), "".into()));
    assert_eq!(help("# HELP m   "), ("m".into(), "".into()));
    // Only the first blank after the name is a separator.
    assert_eq!(help("# HELP m  two"), ("m".into(), " two".into()));
    assert_eq!(help("# HELP m text  "), ("m".into(), "text  ".into()));
    assert_eq!(help("#\tHELP\tm\ttab"), ("m".into(), "tab".into()));
    assert_eq!(
        help(r"# HELP m a\\b\nc\d"),
        ("m".into(), "a\\b\nc\\d".into())
    );
    assert_eq!(help("# HELP m a\"b\r"), ("m".into(), "a\"b\r".into()));
    assert_eq!(help("# HELP \"m.x\" q"), ("m.x".into(), "q".into()));

    for (word, t) in [
        ("counter", ParsedType::Counter),
        ("gauge", ParsedType::Gauge),
        ("histogram", ParsedType::Histogram),
        ("summary", ParsedType::Summary),
        ("untyped", ParsedType::Untyped),
    ] {
        let text = format!("# TYPE m {word}\n");
        let item = parse_items(&text).next().unwrap().unwrap();
        assert_eq!(
            item,
            Item::Type {
                name: Cow::Borrowed("m"),
                metric_type: t
            }
        );
        assert_eq!(t.as_str(), word);
    }
    for bad in [
        "# TYPE m Counter",
        "# TYPE m counter ",
        "# TYPE m  counter",
        "# TYPE m counter\r",
        "# TYPE m",
        "# TYPE m unknown",
    ] {
        assert!(
            matches!(err(bad).kind, ParseErrorKind::InvalidType(_)),
            "{bad:?}"
        );
    }
    for bad in ["# HELP ", "# HELP  \n", "# TYPE 1m gauge", "# HELP \"m"] {
        assert_eq!(err(bad).kind, ParseErrorKind::MetaMissingName, "{bad:?}");
    }
}

#[test]
fn values() {
    let v = |text: &str| one(text).value;
    assert!(v("m NaN").is_nan());
    assert!(v("m nan").is_nan());
    assert_eq!(v("m +Inf"), f64::INFINITY);
    assert_eq!(v("m -Inf"), f64::NEG_INFINITY);
    assert_eq!(v("m inf"), f64::INFINITY);
    assert_eq!(v("m -infinity"), f64::NEG_INFINITY);
    assert_eq!(v("m 1e+06"), 1e6);
    assert_eq!(v("m 1.7976931348623157e+308"), f64::MAX);
    assert_eq!(v("m -1.7976931348623157e308"), f64::MIN);
    assert_eq!(v("m 1e-400"), 0.0);
    assert_eq!(v("m 5e-324"), 5e-324);
    assert_eq!(v("m 123456789012345678901234567890"), 1.2345678901234568e29);
    assert_eq!(v("m .5"), 0.5);
    assert_eq!(v("m 1."), 1.0);
    assert_eq!(v("m +1"), 1.0);
    assert!(v("m -0").is_sign_negative());
    for bad in [
        "m 1e309",
        "m -1e309",
        "m +NaN",
        "m -nan",
        "m 0x1p3",
        "m 0x10",
        "m 1_000",
        "m 1e",
        "m .",
        "m 1.2.3",
        "m abc",
        "m 1}",
        "m Infinit",
    ] {
        assert!(
            matches!(err(bad).kind, ParseErrorKind::InvalidValue(_)),
            "{bad:?}: {:?}",
            err(bad)
        );
    }
}

/// Every input of Go's ParseFloat table, as a sample value: accepted
/// exactly when Go accepts it and it contains no `p`, `P` or `_`
/// (upstream's pre-check), with Go's bits.
#[test]
fn values_match_go_parse_float() {
    let table = include_str!("../data/go_parse_float.tsv");
    let mut n = 0;
    for line in table.lines() {
        let (quoted, result) = line.rsplit_once('\t').unwrap();
        let input = go_unquote(quoted);
        if input.is_empty() || input.contains([' ', '\t', '\n', '{', '\r']) {
            continue; // not a single value token
        }
        let text = format!("m {input}\n");
        let got = parse(&text).next().unwrap();
        let go_ok = result != "ERR" && !input.contains(['p', 'P', '_']);
        match got {
            Ok(s) if go_ok => {
                if result == "nan" {
                    assert!(s.value.is_nan(), "{input:?}");
                } else {
                    assert_eq!(format!("{:016x}", s.value.to_bits()), result, "{input:?}");
                }
            }
            Err(e) if !go_ok => {
                assert!(
                    matches!(e.kind, ParseErrorKind::InvalidValue(_)),
                    "{input:?}"
                )
            }
            other => panic!("{input:?}: Go says {result}, we say {other:?}"),
        }
        n += 1;
    }
    assert!(n > 80);
}

/// Undoes Go's `%q` for the plain ASCII inputs of the table.
fn go_unquote(q: &str) -> String {
    let inner = &q[1..q.len() - 1];
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('r') => out.push('\r'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn timestamps() {
    assert_eq!(one("m 1 0").timestamp_ms, Some(0));
    assert_eq!(one("m 1 007").timestamp_ms, Some(7));
    assert_eq!(one("m 1 9223372036854775807").timestamp_ms, Some(i64::MAX));
    assert_eq!(one("m 1 5 \t").timestamp_ms, Some(5));
    assert!(matches!(
        err("m 1 9223372036854775808").kind,
        ParseErrorKind::InvalidTimestamp(_)
    ));
    // textparse's timestamp token is digits only.
    for bad in [
        "m 1 -5",
        "m 1 +5",
        "m 1 1.5e3",
        "m 1 abc",
        "m 1 \r",
        "m 1 {",
    ] {
        let e = err(bad);
        assert!(
            matches!(
                e.kind,
                ParseErrorKind::ExpectedTimestampOrEnd | ParseErrorKind::ExpectedEnd
            ),
            "{bad:?}: {e:?}"
        );
    }
    for bad in ["m 1 2 3", "m 1 2x", "m 1 2\r\n"] {
        assert_eq!(err(bad).kind, ParseErrorKind::ExpectedEnd, "{bad:?}");
    }
}

#[test]
fn crlf_is_rejected_like_upstream() {
    let e = err("# TYPE m gauge\r\nm 1\r\n");
    assert!(matches!(e.kind, ParseErrorKind::InvalidType(ref t) if t == "gauge\r"));
    assert_eq!(
        err("m 1\r\n").kind,
        ParseErrorKind::InvalidValue("1\r".into())
    );
    assert_eq!(err("m 1\n\r\n").kind, ParseErrorKind::InvalidStart);
    // In comments and help text a `\r` is just text.
    assert_eq!(samples("# comment\r\nm 1\n").len(), 1);
}

#[test]
fn garbage_lines_with_line_numbers() {
    let cases: &[(&str, usize, ParseErrorKind)] = &[
        ("m 1\n1m 2\n", 2, ParseErrorKind::InvalidStart),
        ("m 1\n\n}\n", 3, ParseErrorKind::InvalidStart),
        ("=1", 1, ParseErrorKind::InvalidStart),
        ("m\n", 1, ParseErrorKind::ExpectedValue),
        ("m", 1, ParseErrorKind::ExpectedValue),
        ("m{a=\"1\"}", 1, ParseErrorKind::ExpectedValue),
        ("m {a=\"1\"} {b=\"2\"} 1", 1, ParseErrorKind::ExpectedValue),
        ("m{a=\"1\"", 1, ParseErrorKind::ExpectedLabelName),
        ("m{a=\"1\"\n} 1", 1, ParseErrorKind::ExpectedLabelName),
        ("m{,a=\"1\"} 1", 1, ParseErrorKind::ExpectedLabelName),
        (
            "m{a=\"1\",,b=\"2\"} 1",
            1,
            ParseErrorKind::ExpectedLabelName,
        ),
        ("m{1a=\"1\"} 1", 1, ParseErrorKind::ExpectedLabelName),
        ("m{a:b=\"1\"} 1", 1, ParseErrorKind::ExpectedEqual),
        ("m{a} 1", 1, ParseErrorKind::ExpectedEqual),
        ("m{a=1} 1", 1, ParseErrorKind::ExpectedLabelValue),
        ("m{a='1'} 1", 1, ParseErrorKind::ExpectedLabelValue),
        ("m{a=\"1} 1\nn 2\n", 1, ParseErrorKind::UnterminatedString),
        ("m{a=\"1\\\n\"} 1", 1, ParseErrorKind::UnterminatedString),
        ("m{\"n\"} 1", 1, ParseErrorKind::NameTwice),
        ("{\"n\",\"o\"} 1", 1, ParseErrorKind::NameTwice),
        ("{a=\"1\"} 1", 1, ParseErrorKind::NoName),
        ("{} 1", 1, ParseErrorKind::NoName),
        ("ok 1\nok 2\nm 1 2 3\nok 4", 3, ParseErrorKind::ExpectedEnd),
    ];
    for (text, line, kind) in cases {
        let e = err(text);
        assert_eq!((&e.kind, e.line), (kind, *line), "{text:?}");
        // The message names the line and quotes it.
        assert!(e.to_string().starts_with(&format!("line {line}: ")), "{e}");
    }
    let e = err("ok 1\nbad line here 1\n");
    assert_eq!(e.text, "bad line here 1");
}

#[test]
fn nul_at_line_start_ends_the_body() {
    // Upstream's lexer returns EOF on a NUL where a line could start.
    assert_eq!(samples("a 1\n\0b 2\n").len(), 1);
    assert!(matches!(
        err("a 1\0").kind,
        ParseErrorKind::ExpectedTimestampOrEnd
    ));
}

#[test]
fn garbage_never_panics() {
    // A sweep of awkward inputs; every prefix of each too.
    let inputs = [
        "m{a=\"\\",
        "m{\"",
        "{\"",
        "# HELP \"",
        "# TYPE m ü",
        "# HELP m\u{e9}x",
        "m{a=\"x\"}\u{e9}",
        "m 1 \u{e9}",
        "\u{feff}m 1",
        "m{a=\"1\"}1 2",
        "m{\"a\"=\"1\"} 1",
    ];
    for input in inputs {
        for end in (0..=input.len()).filter(|&i| input.is_char_boundary(i)) {
            for r in parse_items(&input[..end]) {
                let _ = r;
            }
        }
    }
    // HELP text starting inside a multi-byte character is invalid UTF-8
    // for upstream; the byte after the name is dropped.
    assert_eq!(err("# HELP m\u{e9}x").kind, ParseErrorKind::HelpNotUtf8);
    assert!(matches!(
        err("# TYPE m\u{e9}").kind,
        ParseErrorKind::InvalidType(_)
    ));
}

/// Builds a body of about `bytes` bytes of kubelet-like lines.
fn big_body(bytes: usize) -> String {
    let mut s = String::with_capacity(bytes + 256);
    let mut i = 0u64;
    while s.len() < bytes {
        s.push_str(&format!(
            "container_memory_working_set_bytes{{container=\"c{i}\",namespace=\"ns-{}\",pod=\"pod-\\\"{i}\\\"\"}} {}e+07 1735616288521\n",
            i % 97,
            i % 1000
        ));
        i += 1;
    }
    s
}

fn time_parse(body: &str) -> (Duration, usize) {
    let start = Instant::now();
    let mut n = 0;
    for s in parse(body) {
        let s = s.unwrap();
        n += s.labels.iter().count();
    }
    (start.elapsed(), n)
}

#[test]
fn five_megabytes_parse_in_linear_time() {
    let small = big_body(512 * 1024);
    let large = big_body(5 * 1024 * 1024);
    // Warm up, then take the best of three to shrug off a busy machine.
    let best = |b: &str| (0..3).map(|_| time_parse(b).0).min().unwrap();
    let (t_small, t_large) = (best(&small), best(&large));
    let (_, n) = time_parse(&large);
    assert!(n > 100_000);
    // 10x the input must cost far less than 100x the time.
    assert!(
        t_large < t_small * 40 + Duration::from_millis(50),
        "small {t_small:?}, large {t_large:?}"
    );
    assert!(t_large < Duration::from_secs(20), "{t_large:?}");
}

#[test]
fn pathological_lines_are_linear() {
    // One huge label value full of escapes, one huge label set, one huge
    // comment, megabytes of blank lines.
    let escapes = format!("m{{a=\"{}\"}} 1\n", "\\\"x}".repeat(500_000));
    let s = one(&escapes);
    assert_eq!(s.labels.get("a").unwrap().len(), 1_500_000);
    let mut many = String::from("m{");
    for i in 0..200_000 {
        many.push_str(&format!("l{i}=\"v\","));
    }
    many.push_str("} 1\n");
    assert_eq!(one(&many).labels.len(), 200_000);
    let comment = format!("#{}\nm 1\n", "x".repeat(5_000_000));
    assert_eq!(samples(&comment).len(), 1);
    let blanks = format!("{}m 1\n", "\n".repeat(5_000_000));
    assert_eq!(one(&blanks).line, 5_000_001);
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(5_000))]

    /// Arbitrary text, and text built from the format's own characters,
    /// never panics and always ends (after at most one error).
    #[test]
    fn arbitrary_input_never_panics(
        text in proptest::prop_oneof![
            proptest::prelude::any::<String>(),
            "[ \t\n\r#{}=,\"\\\\a-c0-9.eE+:_-]{0,64}",
            "(# (HELP|TYPE) m[ a-z]{0,8}\n|m\\{[a-z=\",\\\\}]{0,12} [0-9.eEaNIinf+-]{0,6}( [0-9-]{0,4})?\n){0,6}",
        ]
    ) {
        let mut errors = 0;
        for item in parse_items(&text) {
            if item.is_err() {
                errors += 1;
            }
        }
        proptest::prop_assert!(errors <= 1);
        for s in parse(&text).flatten() {
            let _ = s.labels.iter().count();
        }
    }
}

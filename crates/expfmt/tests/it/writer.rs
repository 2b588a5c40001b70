//! The writer's rules, one at a time, as client_golang's Gather plus
//! prometheus/common's text encoder apply them.

use workingset_expfmt::{CONTENT_TYPE, Exposition, Family, MetricType, Sample};

fn render(e: &Exposition) -> String {
    let mut s = String::new();
    e.render(&mut s);
    s
}

#[test]
fn content_type() {
    assert_eq!(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
}

#[test]
fn families_sorted_by_name_and_empty_ones_dropped() {
    let mut e = Exposition::new();
    e.family("b", "B", MetricType::Gauge).push(Sample::new(2.0));
    e.family("empty", "never written", MetricType::Counter);
    e.family("a_total", "A", MetricType::Counter)
        .push(Sample::new(1.0));
    e.family("a", "plain", MetricType::Untyped)
        .push(Sample::new(3.0));
    assert_eq!(
        render(&e),
        "# HELP a plain\n# TYPE a untyped\na 3\n\
         # HELP a_total A\n# TYPE a_total counter\na_total 1\n\
         # HELP b B\n# TYPE b gauge\nb 2\n"
    );
    assert_eq!(render(&Exposition::new()), "");
}

#[test]
fn family_lookup_merges_and_keeps_first_help() {
    let mut e = Exposition::new();
    e.family("x", "first", MetricType::Gauge)
        .push(Sample::new(1.0));
    e.family("x", "second", MetricType::Counter)
        .push(Sample::new(2.0).label("a", "b"));
    let mut f = Family::new("x", "third", MetricType::Untyped);
    f.push(Sample::new(3.0).label("a", "a"));
    e.push_family(f);
    assert_eq!(e.families().len(), 1);
    assert_eq!(
        render(&e),
        "# HELP x first\n# TYPE x gauge\nx 1\nx{a=\"a\"} 3\nx{a=\"b\"} 2\n"
    );
}

#[test]
fn samples_sorted_by_label_values_in_label_name_order() {
    let mut e = Exposition::new();
    let f = e.family("m", "h", MetricType::Gauge);
    // Sorting is by the value of `a` first (its name sorts first), not by
    // the label pushed first.
    f.push(Sample::new(1.0).label("z", "1").label("a", "y"));
    f.push(Sample::new(2.0).label("z", "2").label("a", "x"));
    f.push(Sample::new(3.0).label("a", "x").label("z", "1"));
    // Byte order: upper case before lower case, shorter prefix first.
    f.push(Sample::new(4.0).label("a", "X").label("z", "1"));
    f.push(Sample::new(5.0).label("a", "").label("z", "1"));
    assert_eq!(
        render(&e),
        "# HELP m h\n# TYPE m gauge\n\
         m{a=\"\",z=\"1\"} 5\n\
         m{a=\"X\",z=\"1\"} 4\n\
         m{a=\"x\",z=\"1\"} 3\n\
         m{a=\"x\",z=\"2\"} 2\n\
         m{a=\"y\",z=\"1\"} 1\n"
    );
}

#[test]
fn inconsistent_samples_sort_by_label_count_then_timestamp_none_last() {
    let mut e = Exposition::new();
    let f = e.family("m", "h", MetricType::Gauge);
    f.push(Sample::new(1.0).label("a", "1").label("b", "1"));
    f.push(Sample::new(2.0).label("a", "9"));
    f.push(Sample::new(3.0));
    f.push(Sample::new(4.0).label("a", "5").at_ms(20));
    f.push(Sample::new(5.0).label("a", "5"));
    f.push(Sample::new(6.0).label("a", "5").at_ms(10));
    // Positional comparison: `b` is compared with `a` when names differ.
    f.push(Sample::new(7.0).label("b", "0"));
    assert_eq!(
        render(&e),
        "# HELP m h\n# TYPE m gauge\n\
         m 3\n\
         m{b=\"0\"} 7\n\
         m{a=\"5\"} 6 10\n\
         m{a=\"5\"} 4 20\n\
         m{a=\"5\"} 5\n\
         m{a=\"9\"} 2\n\
         m{a=\"1\",b=\"1\"} 1\n"
    );
}

#[test]
fn escaping() {
    let mut e = Exposition::new();
    e.family("m", "back\\slash\nnew \"quoted\" line", MetricType::Gauge)
        .push(Sample::new(1.0).label("v", "a\\b\nc\"d}e{f,g=h\ti\r"));
    assert_eq!(
        render(&e),
        "# HELP m back\\\\slash\\nnew \"quoted\" line\n# TYPE m gauge\n\
         m{v=\"a\\\\b\\nc\\\"d}e{f,g=h\ti\r\"} 1\n"
    );
}

#[test]
fn empty_help_still_writes_the_help_line() {
    // client_golang always sets Help, so an empty one leaves a trailing blank.
    let mut e = Exposition::new();
    e.family("m", "", MetricType::Gauge).push(Sample::new(1.0));
    assert_eq!(render(&e), "# HELP m \n# TYPE m gauge\nm 1\n");
}

#[test]
fn values_and_timestamps() {
    let mut e = Exposition::new();
    let f = e.family("m", "h", MetricType::Untyped);
    for (i, v) in [
        -0.0,
        1e6,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        0.1,
        1e-7,
    ]
    .into_iter()
    .enumerate()
    {
        f.push(Sample::new(v).label("i", i.to_string()).at_ms(-(i as i64)));
    }
    f.push(Sample::new(1.0).label("i", "8").at_ms(i64::MAX));
    f.push(Sample::new(2.0).label("i", "9").at_ms(i64::MIN));
    assert_eq!(
        render(&e),
        "# HELP m h\n# TYPE m untyped\n\
         m{i=\"0\"} 0 0\n\
         m{i=\"1\"} 1e+06 -1\n\
         m{i=\"2\"} NaN -2\n\
         m{i=\"3\"} +Inf -3\n\
         m{i=\"4\"} -Inf -4\n\
         m{i=\"5\"} -1 -5\n\
         m{i=\"6\"} 0.1 -6\n\
         m{i=\"7\"} 1e-07 -7\n\
         m{i=\"8\"} 1 9223372036854775807\n\
         m{i=\"9\"} 2 -9223372036854775808\n"
    );
}

#[test]
fn invalid_names_are_escaped_with_underscores() {
    // The kubelet's handler negotiates `escaping=underscores` by default.
    let mut e = Exposition::new();
    e.family("my.metric-1", "h", MetricType::Gauge).push(
        Sample::new(1.0)
            .label("0ab.c", "v")
            .label("ok:colon", "w")
            .label("ü", "x"),
    );
    assert_eq!(
        render(&e),
        "# HELP my_metric_1 h\n# TYPE my_metric_1 gauge\n\
         my_metric_1{_ab_c=\"v\",ok:colon=\"w\",_=\"x\"} 1\n"
    );
}

#[test]
fn family_render_alone() {
    let mut f = Family::new("m", "h", MetricType::Counter);
    let mut s = String::new();
    f.render(&mut s);
    assert_eq!(s, "");
    f.push(Sample::new(2.0).label("b", "1"));
    f.push(Sample::new(1.0).label("b", "0"));
    f.render(&mut s);
    assert_eq!(
        s,
        "# HELP m h\n# TYPE m counter\nm{b=\"0\"} 1\nm{b=\"1\"} 2\n"
    );
}

#[test]
fn write_to_large_output_in_chunks() {
    let mut e = Exposition::new();
    let f = e.family("m", "h", MetricType::Gauge);
    for i in 0..20_000 {
        f.push(Sample::new(i as f64).label("i", format!("{i:06}")));
    }
    let mut bytes = Vec::new();
    e.write_to(&mut bytes).unwrap();
    assert_eq!(String::from_utf8(bytes).unwrap(), render(&e));
}

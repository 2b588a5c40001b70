//! Table tests and properties for label and field selectors.
//!
//! Error texts are those the kubectl 1.27–1.33 clients print (apimachinery
//! v0.27–v0.34, before 1.35 reworded some validation texts); they were
//! checked against the real binaries, and `tests/kubectl_selectors.rs`
//! keeps checking them against kubectl 1.33. The expectations here document
//! the cases without needing kubectl.
//!
//! Expectations marked "as apimachinery" come from apimachinery's
//! `pkg/labels/selector_test.go`, `pkg/fields/selector_test.go`, or from
//! following its parser by hand where the tests only check that an error
//! occurs; "seen in the wild" marks texts also quoted from real clusters.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|&(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn label_error(text: &str) -> String {
    match LabelSelector::parse(text) {
        Ok(selector) => panic!("{text:?} parsed as {selector:?}, expected an error"),
        Err(err) => err.to_string(),
    }
}

fn field_error(text: &str) -> String {
    match FieldSelector::parse(text) {
        Ok(selector) => panic!("{text:?} parsed as {selector:?}, expected an error"),
        Err(err) => err.to_string(),
    }
}

const NAME_RULE: &str = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const SUBDOMAIN_RULE: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const VALUE_RULE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

#[test]
fn label_parse_prints_canonical_form() {
    let cases: &[(&str, &str)] = &[
        // as apimachinery, TestSelectorParse: String() is the input without spaces.
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("", ""),
        ("x!=a,y=b", "x!=a,y=b"),
        ("x=", "x="),
        ("x= ", "x="),
        ("x=,z= ", "x=,z="),
        ("x= ,z= ", "x=,z="),
        ("!x", "!x"),
        ("x>1", "x>1"),
        ("x>1,z<5", "x>1,z<5"),
        // as apimachinery, TestSetSelectorParser (valid inputs).
        ("\rx", "x"),
        (
            "this-is-a-dns.domain.com/key-with-dash",
            "this-is-a-dns.domain.com/key-with-dash",
        ),
        (
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
            "this-is-another-dns.domain.com/key-with-dash in (so,what)",
        ),
        (
            "0.1.2.domain/99 notin (10.10.100.1, tick.tack.clock)",
            "0.1.2.domain/99 notin (10.10.100.1,tick.tack.clock)",
        ),
        ("foo  in\t (abc)", "foo in (abc)"),
        ("x notin\n (abc)", "x notin (abc)"),
        ("x  notin\t\t\t(abc,def)", "x notin (abc,def)"),
        ("x in (abc,def)", "x in (abc,def)"),
        ("x in (abc,)", "x in (,abc)"),
        ("x in (abc,abc)", "x in (abc)"),
        ("x in ()", "x in ()"),
        ("x in (a,,)", "x in (,a)"),
        ("x in (a,,,)", "x in (,a)"),
        ("x in (a,,,,,,)", "x in (,a)"),
        ("x in (a,,a,,a,,a,,)", "x in (,a)"),
        (
            "x notin (abc,,def),bar,z in (),w",
            "bar,w,x notin (,abc,def),z in ()",
        ),
        ("x,y in (a)", "x,y in (a)"),
        ("x=a", "x=a"),
        ("x<7", "x<7"),
        ("x=a,y!=b", "x=a,y!=b"),
        ("x=a,y!=b,z in (h,i,j)", "x=a,y!=b,z in (h,i,j)"),
        ("x notin ( )", "x notin ()"),
        ("x notin (, a)", "x notin (,a)"),
        ("a ", "a"),
        ("a in (x,y,notin, z,in)", "a in (in,notin,x,y,z)"),
        // as apimachinery, TestDeterministicParse and TestToString.
        ("x=a,a=x", "a=x,x=a"),
        ("x=abc,y==jkl,z!=a,z", "x=abc,y==jkl,z!=a,z"),
        ("z,y<8,x>2", "x>2,y<8,z"),
        // Keywords are plain words wherever a key or value may stand.
        ("notin=in", "notin=in"),
        ("in in (in)", "in in (in)"),
        ("!in,notin", "!in,notin"),
        // Every operator, with and without spaces.
        (" x  =  a , y ", "x=a,y"),
        ("x == a", "x==a"),
        ("x==", "x=="),
        ("x !=", "x!="),
        ("k in (b,a)", "k in (a,b)"),
        ("k notin (b)", "k notin (b)"),
        ("\t!k\n", "!k"),
        ("n > 10 , m < 007", "m<007,n>10"),
        ("example.com/app=web", "example.com/app=web"),
        // Requirements on the same key keep their written order.
        ("x=a,x!=b", "x=a,x!=b"),
        ("x!=b,x=a", "x!=b,x=a"),
        // Upstream's lexer reads NUL as the end of input: where a token could
        // start it ends the selector, right after a token it is swallowed.
        (" \0garbage ((", ""),
        ("x=\0y", "x=y"),
        ("x\0=y", "x=y"),
    ];
    for &(input, canonical) in cases {
        let selector = LabelSelector::parse(input)
            .unwrap_or_else(|err| panic!("{input:?} failed to parse: {err}"));
        assert_eq!(selector.to_string(), canonical, "for {input:?}");
        assert_eq!(
            selector.is_everything(),
            canonical.is_empty(),
            "for {input:?}"
        );
        let reparsed: LabelSelector = canonical.parse().unwrap();
        assert_eq!(reparsed, selector, "for {input:?}");
    }
}

#[test]
fn label_limits_are_inclusive() {
    let name = "a".repeat(63);
    let prefix = format!("{}.com", "b".repeat(249));
    assert_eq!(prefix.len(), 253);
    let text = format!("{prefix}/{name}={name}");
    let selector = LabelSelector::parse(&text).unwrap();
    assert_eq!(selector.to_string(), text);
}

#[test]
fn label_requirement_accessors() {
    let selector = LabelSelector::parse("b in (y,x),!a,c>3").unwrap();
    let summary: Vec<_> = selector
        .requirements()
        .iter()
        .map(|r| (r.key(), r.operator().as_str(), r.values().to_vec()))
        .collect();
    assert_eq!(
        summary,
        [
            ("a", "!", vec![]),
            ("b", "in", vec!["x".to_owned(), "y".to_owned()]),
            ("c", "gt", vec!["3".to_owned()]),
        ]
    );
    assert!(LabelSelector::everything().is_everything());
    assert_eq!(
        LabelSelector::everything(),
        LabelSelector::parse("").unwrap()
    );
}

#[test]
fn label_matching() {
    let foo_baz = labels(&[("foo", "bar"), ("baz", "blah")]);
    let cases: &[(&str, BTreeMap<String, String>, bool)] = &[
        // as apimachinery, TestSelectorMatches.
        ("", labels(&[("x", "y")]), true),
        ("x=y", labels(&[("x", "y")]), true),
        ("x=y,z=w", labels(&[("x", "y"), ("z", "w")]), true),
        ("x!=y,z!=w", labels(&[("x", "z"), ("z", "a")]), true),
        ("notin=in", labels(&[("notin", "in")]), true),
        ("x", labels(&[("x", "z")]), true),
        ("!x", labels(&[("y", "z")]), true),
        ("x>1", labels(&[("x", "2")]), true),
        ("x<1", labels(&[("x", "0")]), true),
        ("x=z", labels(&[]), false),
        ("x=y", labels(&[("x", "z")]), false),
        ("x=y,z=w", labels(&[("x", "w"), ("z", "w")]), false),
        ("x!=y,z!=w", labels(&[("x", "z"), ("z", "w")]), false),
        ("x", labels(&[("y", "z")]), false),
        ("!x", labels(&[("x", "z")]), false),
        ("x>1", labels(&[("x", "0")]), false),
        ("x<1", labels(&[("x", "2")]), false),
        ("foo=bar", foo_baz.clone(), true),
        ("baz=blah", foo_baz.clone(), true),
        ("foo=bar,baz=blah", foo_baz.clone(), true),
        ("foo=blah", foo_baz.clone(), false),
        ("baz=bar", foo_baz.clone(), false),
        ("foo=bar,foobar=bar,baz=blah", foo_baz, false),
        // as apimachinery, TestRequirementSelectorMatching.
        (
            "x in (foo),y notin (alpha)",
            labels(&[("x", "foo"), ("y", "baz")]),
            true,
        ),
        (
            "x in (foo),y in (alpha)",
            labels(&[("x", "foo"), ("y", "baz")]),
            false,
        ),
        ("x notin (),y", labels(&[("y", "")]), true),
        ("!x,y", labels(&[("y", "")]), true),
        ("x notin (),!y", labels(&[("y", "")]), false),
        ("x in ()", labels(&[("y", "baz")]), false),
        ("z>1", labels(&[("z", "2")]), true),
        ("z>1", labels(&[("z", "v2")]), false),
        // Empty values are values; a missing label is not an empty one.
        ("x in ()", labels(&[("x", "")]), true),
        ("x=", labels(&[("x", "")]), true),
        ("x=", labels(&[]), false),
        ("x!=", labels(&[]), true),
        ("x!=", labels(&[("x", "")]), false),
        ("x==y", labels(&[("x", "y")]), true),
        ("x notin (a)", labels(&[]), true),
        ("x notin (a,b)", labels(&[("x", "b")]), false),
        ("x in (a,b)", labels(&[("x", "b")]), true),
        // Comparisons parse labels as Go's ParseInt(s, 10, 64).
        ("x>1", labels(&[("x", "+5")]), true),
        ("x<10", labels(&[("x", "-3")]), true),
        ("x>1", labels(&[("x", "1_0")]), false),
        ("x>1", labels(&[("x", "99999999999999999999")]), false),
        ("x>1", labels(&[("x", "")]), false),
        ("x<1", labels(&[]), false),
        ("x>1", labels(&[("x", "1")]), false),
    ];
    for (text, set, expected) in cases {
        let selector = LabelSelector::parse(text).unwrap();
        assert_eq!(selector.matches(set), *expected, "{text:?} on {set:?}");
        assert_eq!(
            selector.matches_with(|key| set.get(key).map(String::as_str)),
            *expected,
            "{text:?} on {set:?} through a closure"
        );
    }
}

#[test]
fn label_matching_over_other_lookups() {
    let selector = LabelSelector::parse("app=web,tier notin (db)").unwrap();
    let pairs = [("app", "web"), ("tier", "front")];
    assert!(selector.matches(&pairs));
    assert!(selector.matches(&pairs[..]));
    let hashed: std::collections::HashMap<String, String> = labels(&pairs).into_iter().collect();
    assert!(selector.matches(&hashed));
    let borrowed: BTreeMap<&str, &str> = [("app", "web"), ("tier", "db")].into();
    assert!(!selector.matches(&borrowed));
}

#[test]
fn label_parse_error_texts() {
    let cases: &[(&str, &str)] = &[
        // as apimachinery: the bad inputs of TestSelectorParse and
        // TestSetSelectorParser, with the texts its parser builds.
        // The requirement `x=a||y` is complete, and its value checked,
        // before the parser looks at the second `=`.
        (
            "x=a||y=b",
            "unable to parse requirement: values[0][x]: Invalid value: \"a||y\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')",
        ),
        ("x==a==b", "found '==', expected: ',' or 'end of string'"),
        ("!x=a", "found '=', expected: ',' or 'end of string'"),
        (
            "x<a",
            "unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer",
        ),
        ("x,,y", "found ',', expected: identifier after ','"),
        (
            ",x,y",
            "found ',', expected: !, identifier, or 'end of string'",
        ),
        (
            "x nott in (y)",
            "unable to parse requirement: found 'nott', expected: in, notin, =, ==, !=, gt, lt",
        ),
        ("a in (xyz),", "found '', expected: identifier after ','"),
        (
            "a in (xyz)b notin ()",
            "found 'b', expected: ',' or 'end of string'",
        ),
        (
            "a in (xyz abc)",
            "unable to parse requirement: found 'abc', expected: ',' or ')'",
        ),
        (
            "a notin(",
            "unable to parse requirement: found '', expected: ',', ')' or identifier",
        ),
        (
            "a (",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "(",
            "found '(', expected: !, identifier, or 'end of string'",
        ),
        // as apimachinery, following its parser.
        ("a=b=c", "found '=', expected: ',' or 'end of string'"),
        (
            "a in b",
            "unable to parse requirement: found 'b' expected: '('",
        ),
        (
            "in (x)",
            "unable to parse requirement: found '(', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "=v",
            "found '=', expected: !, identifier, or 'end of string'",
        ),
        (
            "!",
            "unable to parse requirement: found '', expected: identifier",
        ),
        (
            "!!x",
            "unable to parse requirement: found '!', expected: identifier",
        ),
        (
            "x!",
            "unable to parse requirement: found '!', expected: in, notin, =, ==, !=, gt, lt",
        ),
        (
            "x=(",
            "unable to parse requirement: found '(', expected: identifier",
        ),
        (
            "x>=1",
            "unable to parse requirement: found '=', expected: identifier",
        ),
        (
            "a in (x,",
            "unable to parse requirement: found '', expected: ',', or identifier",
        ),
        (
            "a in (x,=)",
            "unable to parse requirement: found '=', expected: ',', or identifier",
        ),
        (
            "a in (=)",
            "unable to parse requirement: found '=', expected: ',', ')' or identifier",
        ),
        ("x=a b", "found 'b', expected: ',' or 'end of string'"),
    ];
    for &(input, expected) in cases {
        assert_eq!(label_error(input), expected, "for {input:?}");
    }
}

#[test]
fn label_key_error_texts() {
    // Seen in the wild (kubectl get pods -l "app:monolith"), as apimachinery.
    assert_eq!(
        label_error("app:monolith"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"app:monolith\": name part {NAME_RULE}"
        )
    );
    // Seen in the wild, as apimachinery.
    assert_eq!(
        label_error("app.kubernetes_io/name=vault"),
        "unable to parse requirement: <nil>: Invalid value: \"app.kubernetes_io/name\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    );
    // As kubectl 1.27–1.33 (apimachinery 1.35+ says "a valid label key").
    assert_eq!(
        label_error("a/b/c=d"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"a/b/c\": a qualified name {NAME_RULE} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        )
    );
    assert_eq!(
        label_error("/a"),
        "unable to parse requirement: <nil>: Invalid value: \"/a\": prefix part must be non-empty"
    );
    assert_eq!(
        label_error("a/"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"a/\": name part must be non-empty; name part {NAME_RULE}"
        )
    );
    let long = "k".repeat(64);
    assert_eq!(
        label_error(&long),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{long}\": name part must be no more than 63 characters"
        )
    );
    let long_prefix = "p".repeat(254);
    assert_eq!(
        label_error(&format!("{long_prefix}/k")),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{long_prefix}/k\": prefix part must be no more than 253 characters"
        )
    );
    // Every broken rule is listed, prefix first, joined by "; ".
    let bad_prefix = "P".repeat(254);
    let bad_name = format!("-{long}");
    assert_eq!(
        label_error(&format!("{bad_prefix}/{bad_name}")),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{bad_prefix}/{bad_name}\": prefix part must be no more than 253 characters; prefix part {SUBDOMAIN_RULE}; name part must be no more than 63 characters; name part {NAME_RULE}"
        )
    );
    assert_eq!(
        label_error(&format!("/{long}")),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"/{long}\": prefix part must be non-empty; name part must be no more than 63 characters"
        )
    );
    // The limits count bytes, whatever the texts say: 32 'é' are 64 bytes.
    let wide = "é".repeat(32);
    assert_eq!(
        label_error(&wide),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"{wide}\": name part must be no more than 63 characters; name part {NAME_RULE}"
        )
    );
    // Keys are quoted as Go's %q does: printable Unicode as is, the rest escaped.
    assert_eq!(
        label_error("é=a"),
        format!("unable to parse requirement: <nil>: Invalid value: \"é\": name part {NAME_RULE}")
    );
    assert_eq!(
        label_error("a\u{0b}\u{a0}\u{1}\"b"),
        format!(
            "unable to parse requirement: <nil>: Invalid value: \"a\\v\\u00a0\\x01\\\"b\": name part {NAME_RULE}"
        )
    );
    assert_eq!(
        label_key_problems("-x"),
        vec![KeyProblem::NameCharacters],
        "as apimachinery IsQualifiedName"
    );
    assert!(label_key_problems("example.com/MyName").is_empty());
}

#[test]
fn label_value_error_texts() {
    // as apimachinery: NewRequirement's field paths values[i][key].
    assert_eq!(
        label_error("x=-a"),
        format!("unable to parse requirement: values[0][x]: Invalid value: \"-a\": {VALUE_RULE}")
    );
    let long = "v".repeat(64);
    assert_eq!(
        label_error(&format!("x={long}")),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"{long}\": must be no more than 63 characters"
        )
    );
    let long_bad = format!("{long}.");
    assert_eq!(
        label_error(&format!("x={long_bad}")),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"{long_bad}\": must be no more than 63 characters; {VALUE_RULE}"
        )
    );
    let wide = "é".repeat(32);
    assert_eq!(
        label_error(&format!("x={wide}")),
        format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"{wide}\": must be no more than 63 characters; {VALUE_RULE}"
        )
    );
    // Several problems print as an aggregate, integer checks first.
    assert_eq!(
        label_error("x>a."),
        format!(
            "unable to parse requirement: [values[0]: Invalid value: \"a.\": for 'Gt', 'Lt' operators, the value must be an integer, values[0][x]: Invalid value: \"a.\": {VALUE_RULE}]"
        )
    );
    // Indexes count in sorted order.
    assert_eq!(
        label_error("x in (ok, b., a.)"),
        format!(
            "unable to parse requirement: [values[0][x]: Invalid value: \"a.\": {VALUE_RULE}, values[1][x]: Invalid value: \"b.\": {VALUE_RULE}]"
        )
    );
    assert_eq!(
        label_error("x<"),
        "unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"
    );
    // A bound must also be a valid label value, so negatives are rejected.
    assert_eq!(
        label_error("x>-1"),
        format!("unable to parse requirement: values[0][x]: Invalid value: \"-1\": {VALUE_RULE}")
    );
    assert_eq!(label_value_problems(""), vec![]);
    assert_eq!(
        label_value_problems("a b"),
        vec![LabelValueProblem::Characters]
    );
}

#[test]
fn field_parse_prints_canonical_form() {
    let cases: &[(&str, &str)] = &[
        // as apimachinery, TestSelectorParse: String() equals the input.
        ("x=a,y=b,z=c", "x=a,y=b,z=c"),
        ("", ""),
        ("x!=a,y=b", "x!=a,y=b"),
        (r"x=a||y\=b", r"x=a||y\=b"),
        (r"x=a\=\=b", r"x=a\=\=b"),
        // as apimachinery: `==` prints as `=`, terms sort as raw text.
        ("x==a", "x=a"),
        ("b=1,a=2", "a=2,b=1"),
        ("a=a,", "a=a"),
        (",a=a", "a=a"),
        // `2` sorts before `=`, so k2's term comes first.
        (r"k=\,,k2=v2", r"k2=v2,k=\,"),
        (r"k=\\,k2=v2", r"k2=v2,k=\\"),
        ("함=수,목=록", "목=록,함=수"),
        // Empty field and value: dropped, as upstream's Transform does.
        ("=", ""),
        ("!=", ""),
        ("=,a=b", "a=b"),
        // An empty field with a value, or a field with an empty value, stays.
        ("=x", "=x"),
        ("x=", "x="),
        // Field names are verbatim, spaces and all.
        (" a = b ", " a = b "),
        ("a!b=c", "a!b=c"),
        (
            "metadata.name=web-0,metadata.namespace!=kube-system",
            "metadata.name=web-0,metadata.namespace!=kube-system",
        ),
    ];
    for &(input, canonical) in cases {
        let selector = FieldSelector::parse(input)
            .unwrap_or_else(|err| panic!("{input:?} failed to parse: {err}"));
        assert_eq!(selector.to_string(), canonical, "for {input:?}");
        assert_eq!(
            selector.is_everything(),
            canonical.is_empty(),
            "for {input:?}"
        );
    }
    let selector: FieldSelector = r"k=\,\=\\".parse().unwrap();
    let term = &selector.terms()[0];
    assert_eq!(
        (term.field(), term.operator(), term.value()),
        ("k", FieldOperator::Equals, r",=\")
    );
}

#[test]
fn field_parse_error_texts() {
    let cases: &[(&str, &str)] = &[
        // as apimachinery, the bad inputs of TestSelectorParse.
        (
            "x=a||y=b",
            "invalid field selector: unescaped character in value: 61",
        ),
        (
            "x==a==b",
            "invalid field selector: unescaped character in value: 61",
        ),
        ("x=a,b", "invalid selector: 'x=a,b'; can't understand 'b'"),
        (
            "x in (a)",
            "invalid selector: 'x in (a)'; can't understand 'x in (a)'",
        ),
        (
            "x in (a,b,c)",
            "invalid selector: 'x in (a,b,c)'; can't understand 'b'",
        ),
        ("x", "invalid selector: 'x'; can't understand 'x'"),
        // as apimachinery, TestEscapeValue's invalid sequences.
        (
            r"k=\",
            r"invalid field selector: invalid escape sequence: \",
        ),
        (
            r"k=\\\",
            r"invalid field selector: invalid escape sequence: \",
        ),
        (
            r"k=\a",
            r"invalid field selector: invalid escape sequence: \a",
        ),
        (
            r"k=\é",
            r"invalid field selector: invalid escape sequence: \é",
        ),
        // Terms are checked in sorted order, so the first error is the
        // smallest term's.
        (
            r"b,a=\x",
            r"invalid field selector: invalid escape sequence: \x",
        ),
        ("a=b,c", "invalid selector: 'a=b,c'; can't understand 'c'"),
    ];
    for &(input, expected) in cases {
        assert_eq!(field_error(input), expected, "for {input:?}");
    }
}

#[test]
fn field_matching() {
    let fieldset = labels(&[("foo", "bar"), ("baz", "blah"), ("complex", r"=value\,\")]);
    let cases: &[(&str, bool)] = &[
        // as apimachinery, TestSelectorMatches.
        ("foo=bar", true),
        ("baz=blah", true),
        ("foo=bar,baz=blah", true),
        (r"foo=bar,baz=blah,complex=\=value\\\,\\", true),
        ("foo=blah", false),
        ("baz=bar", false),
        ("foo=bar,foobar=bar,baz=blah", false),
        ("", true),
        // A missing field reads as "".
        ("missing=", true),
        ("missing!=", false),
        ("missing!=x", true),
        ("foo!=bar", false),
        ("foo==bar", true),
    ];
    for &(text, expected) in cases {
        let selector = FieldSelector::parse(text).unwrap();
        assert_eq!(selector.matches(&fieldset), expected, "for {text:?}");
        assert_eq!(
            selector.matches_with(|k| fieldset.get(k).map(String::as_str)),
            expected,
            "for {text:?} through a closure"
        );
    }
    let pod = [("metadata.name", "web-0"), ("metadata.namespace", "shop")];
    let selector = FieldSelector::parse("metadata.namespace=shop,metadata.name!=web-1").unwrap();
    assert!(selector.matches(&pod));
}

#[test]
fn field_check_and_exact_match() {
    // The text metrics-server's API answers with 400 Bad Request; seen in the
    // wild as `Error from server (BadRequest): …` from kubectl top pod.
    let selector = FieldSelector::parse("spec.nodeName=node-a").unwrap();
    assert_eq!(
        selector
            .check_fields(&METRICS_API_FIELDS)
            .unwrap_err()
            .to_string(),
        r#""spec.nodeName" is not a known field selector: only "metadata.name", "metadata.namespace""#
    );
    // The first unknown field in term order is the one reported.
    let selector = FieldSelector::parse("z=1,metadata.name=a,b=2").unwrap();
    let err = selector.check_fields(&METRICS_API_FIELDS).unwrap_err();
    assert_eq!(err.field, "b");
    let selector = FieldSelector::parse("metadata.name=a,metadata.namespace!=b").unwrap();
    assert_eq!(selector.check_fields(&METRICS_API_FIELDS), Ok(()));
    assert_eq!(FieldSelector::everything().check_fields(&[]), Ok(()));
    assert_eq!(selector.requires_exact_match("metadata.name"), Some("a"));
    assert_eq!(selector.requires_exact_match("metadata.namespace"), None);
    // Field names are quoted like Go's %q.
    let selector = FieldSelector::parse("we\"ird\t=1").unwrap();
    assert_eq!(
        selector.check_fields(&["a"]).unwrap_err().to_string(),
        r#""we\"ird\t" is not a known field selector: only "a""#
    );
}

#[test]
fn field_value_escaping() {
    // as apimachinery, TestEscapeValue.
    let cases: &[(&str, &str)] = &[
        ("", ""),
        ("a", "a"),
        ("=", r"\="),
        (",", r"\,"),
        (r"\", r"\\"),
        (r"\=\,\", r"\\\=\\\,\\"),
    ];
    for &(raw, escaped) in cases {
        assert_eq!(escape_field_value(raw), escaped);
        assert_eq!(unescape_field_value(escaped).unwrap(), raw);
    }
}

/// Text made of selector syntax, so that random inputs reach deep states.
fn selector_soup() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("in"),
            Just("notin"),
            Just("("),
            Just(")"),
            Just(","),
            Just("="),
            Just("=="),
            Just("!="),
            Just("!"),
            Just(">"),
            Just("<"),
            Just(" "),
            Just("\t"),
            Just("\0"),
            Just("\\"),
            Just("a"),
            Just("b.c"),
            Just("x/y"),
            Just("7"),
            Just("-"),
            Just("é"),
        ],
        0..16,
    )
    .prop_map(|parts| parts.concat())
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        "[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?",
        "[a-z0-9]([a-z0-9-]{0,3}[a-z0-9])?(\\.[a-z0-9]{1,4}){0,2}/[A-Za-z0-9]([A-Za-z0-9._-]{0,4}[A-Za-z0-9])?",
        Just("in".to_owned()),
        Just("notin".to_owned()),
    ]
}

fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        "[A-Za-z0-9]([A-Za-z0-9._-]{0,6}[A-Za-z0-9])?",
        Just("in".to_owned()),
    ]
}

fn space() -> impl Strategy<Value = &'static str> {
    prop_oneof![Just(""), Just(" "), Just("\t"), Just(" \n ")]
}

/// Valid requirement text in any of the syntax's forms.
fn requirement_text() -> impl Strategy<Value = String> {
    (
        key(),
        0..9_u8,
        proptest::collection::vec(value(), 1..4),
        space(),
        space(),
        "[0-9]{1,5}",
    )
        .prop_map(|(key, form, values, s1, s2, number)| match form {
            0 => format!("{s1}{key}{s2}"),
            1 => format!("{s1}!{s2}{key}"),
            2 => format!("{key}{s1}={s2}{}", values[0]),
            3 => format!("{key}{s1}=={s2}{}", values[0]),
            4 => format!("{key}{s1}!={s2}{}", values[0]),
            5 => format!("{key} in{s1}({s2}{})", values.join(",")),
            6 => format!("{key}{s1} notin ({}{s2})", values.join(" , ")),
            7 => format!("{key}{s1}>{s2}{number}"),
            _ => format!("{key}<{number}"),
        })
}

proptest! {
    #[test]
    fn label_parse_never_panics(text in any::<String>()) {
        let _ = LabelSelector::parse(&text);
    }

    #[test]
    fn label_parse_never_panics_on_syntax(text in selector_soup()) {
        if let Ok(selector) = LabelSelector::parse(&text) {
            // Whatever parses prints text that parses back to it.
            prop_assert_eq!(LabelSelector::parse(&selector.to_string()), Ok(selector));
        }
    }

    #[test]
    fn label_valid_selectors_round_trip(parts in proptest::collection::vec(requirement_text(), 0..6)) {
        let text = parts.join(",");
        let selector = LabelSelector::parse(&text);
        prop_assert!(selector.is_ok(), "{:?}: {:?}", text, selector);
        let selector = selector.unwrap_or_default();
        prop_assert_eq!(selector.requirements().len(), parts.len());
        prop_assert_eq!(LabelSelector::parse(&selector.to_string()), Ok(selector));
    }

    #[test]
    fn field_parse_never_panics(text in any::<String>()) {
        let _ = FieldSelector::parse(&text);
    }

    #[test]
    fn field_parse_never_panics_on_syntax(text in selector_soup()) {
        if let Ok(selector) = FieldSelector::parse(&text) {
            let again = FieldSelector::parse(&selector.to_string());
            prop_assert!(again.is_ok(), "{:?} printed as {:?}", text, selector.to_string());
        }
    }

    #[test]
    fn field_escaping_round_trips(raw in any::<String>()) {
        let escaped = escape_field_value(&raw);
        prop_assert_eq!(unescape_field_value(&escaped), Ok(raw.as_str().into()));
    }

    #[test]
    fn field_unescape_then_escape_is_identity(escaped in r"([a-z,=\\]|\\[,=\\]){0,12}") {
        if let Ok(raw) = unescape_field_value(&escaped) {
            prop_assert_eq!(escape_field_value(&raw), escaped.as_str());
        }
    }

    #[test]
    fn field_selectors_round_trip(
        terms in proptest::collection::vec(
            ("[a-z][a-z.]{0,8}", prop_oneof![Just("="), Just("=="), Just("!=")], any::<String>()),
            0..5,
        )
    ) {
        let text = terms
            .iter()
            .map(|(field, op, value)| format!("{field}{op}{}", escape_field_value(value)))
            .collect::<Vec<_>>()
            .join(",");
        let selector = FieldSelector::parse(&text);
        prop_assert!(selector.is_ok(), "{:?}: {:?}", text, selector);
        let selector = selector.unwrap_or_default();
        let mut expected: Vec<(String, FieldOperator, String)> = terms
            .iter()
            .map(|(field, op, value)| {
                let op = if *op == "!=" { FieldOperator::NotEquals } else { FieldOperator::Equals };
                (field.clone(), op, value.clone())
            })
            .collect();
        let as_tuples = |s: &FieldSelector| {
            let mut v: Vec<_> = s
                .terms()
                .iter()
                .map(|t| (t.field().to_owned(), t.operator(), t.value().to_owned()))
                .collect();
            v.sort();
            v
        };
        expected.sort();
        prop_assert_eq!(as_tuples(&selector), expected);
        let reparsed = FieldSelector::parse(&selector.to_string());
        prop_assert!(reparsed.is_ok());
        let reparsed = reparsed.unwrap_or_default();
        prop_assert_eq!(as_tuples(&reparsed), as_tuples(&selector));
        // Once `==` is normalised away, printing and parsing is a fixpoint.
        prop_assert_eq!(FieldSelector::parse(&reparsed.to_string()), Ok(reparsed));
    }
}

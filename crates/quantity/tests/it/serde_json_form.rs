//! JSON form, as Go's MarshalJSON / UnmarshalJSON.

use workingset_quantity::{Format, Quantity};

#[derive(Debug, serde::Serialize, serde::Deserialize, PartialEq)]
struct Usage {
    cpu: Quantity,
    memory: Quantity,
}

#[test]
fn serialises_as_the_canonical_string() {
    let usage = Usage {
        cpu: Quantity::from_nanocores(487_558_164),
        memory: Quantity::from_bytes(749_785_088),
    };
    let json = serde_json::to_string(&usage).unwrap();
    assert_eq!(json, r#"{"cpu":"487558164n","memory":"732212Ki"}"#);
    assert_eq!(serde_json::from_str::<Usage>(&json).unwrap(), usage);
}

#[test]
fn deserialises_like_unmarshal_json() {
    // TestJSONWhitespace plus null and fractional numbers.
    let cases = [
        (r#"" 1""#, "1"),
        (r#""1 ""#, "1"),
        ("1", "1"),
        (" 1", "1"),
        ("1 ", "1"),
        ("10", "10"),
        ("-1", "-1"),
        (" -1", "-1"),
        (r#""250m""#, "250m"),
        (r#""1.""#, "1."),
        ("1.5", "1500m"),
        ("18446744073709551615", "18446744073709551615"),
        ("null", "0"),
    ];
    for (json, expected) in cases {
        let quantity: Quantity =
            serde_json::from_str(json).unwrap_or_else(|error| panic!("{json}: {error}"));
        assert_eq!(quantity.to_string(), expected, "{json}");
    }
    let memory: Quantity = serde_json::from_str(r#""8318172Ki""#).unwrap();
    assert_eq!(memory.format(), Format::BinarySI);
}

#[test]
fn reports_the_parse_error() {
    let error = serde_json::from_str::<Quantity>(r#""1.1.1""#).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("quantities must match the regular expression"),
        "{error}"
    );
    assert!(serde_json::from_str::<Quantity>("true").is_err());
}

#[test]
fn optional_fields_and_lists() {
    let parsed: Vec<Option<Quantity>> = serde_json::from_str(r#"["1Gi", null, 3]"#).unwrap();
    assert_eq!(
        parsed,
        vec![
            Some("1Gi".parse().unwrap()),
            None,
            Some(Quantity::new(3, Format::DecimalSI))
        ]
    );
}

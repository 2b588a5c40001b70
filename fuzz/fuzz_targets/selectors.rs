//! Label and field selectors (`-l`, `--field-selector`, `labelSelector=`,
//! `fieldSelector=`): parsed or refused, and a parsed selector's text
//! parses back to the same selector. A label selector prints the same text
//! again. A field selector keeps the same terms, but not always their
//! order: apimachinery sorts the raw term text, so `a==x,a=b` prints as
//! `a=x,a=b`, which sorts the other way.
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_model::selector::{FieldSelector, LabelSelector};

fuzz_target!(|text: &str| {
    if let Ok(selector) = LabelSelector::parse(text) {
        let written = selector.to_string();
        let again = LabelSelector::parse(&written)
            .unwrap_or_else(|error| panic!("{text:?} → {written:?}: {error}"));
        assert_eq!(again.to_string(), written, "{text:?}");
    }
    if let Ok(selector) = FieldSelector::parse(text) {
        let written = selector.to_string();
        let again = FieldSelector::parse(&written)
            .unwrap_or_else(|error| panic!("{text:?} → {written:?}: {error}"));
        let terms = |selector: &FieldSelector| {
            let mut terms: Vec<String> = selector.terms().iter().map(ToString::to_string).collect();
            terms.sort();
            terms
        };
        assert_eq!(terms(&again), terms(&selector), "{text:?}");
    }
});

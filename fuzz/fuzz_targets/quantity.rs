//! `Quantity` from any text: parsing never panics, a parsed quantity
//! always prints, and its canonical form, when it parses back, is a fixed
//! point. (It need not parse back: see docs/reliability.md, "Findings".)
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_quantity::Quantity;

fuzz_target!(|text: &str| {
    if let Ok(quantity) = text.parse::<Quantity>() {
        let canonical = quantity.to_string();
        if let Ok(again) = canonical.parse::<Quantity>() {
            assert_eq!(again.to_string(), canonical, "{text:?}");
        }
    }
});

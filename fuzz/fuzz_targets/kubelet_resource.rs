//! A kubelet's `/metrics/resource` body, decoded as the server decodes a
//! node's scrape: never a panic, and never a negative or NaN figure.
#![no_main]
use libfuzzer_sys::fuzz_target;
use workingset_server::decode::ScrapedSamples;

fuzz_target!(|body: &[u8]| {
    let at = jiff::Timestamp::UNIX_EPOCH;
    if let Ok(scraped) = ScrapedSamples::decode(body.to_vec(), "node", at) {
        let samples = scraped.samples();
        for ((namespace, pod, container), _point) in &samples.containers {
            assert!(!namespace.is_empty() && !pod.is_empty() && !container.is_empty());
        }
        std::hint::black_box(scraped.pod_count());
    }
});

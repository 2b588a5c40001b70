//! The hot paths of a metrics request: formatting thousands of CPU and
//! memory quantities, and parsing them back on the client side.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use workingset_quantity::Quantity;

const SAMPLES: [&str; 8] = [
    "250264852n",
    "8318172Ki",
    "1Gi",
    "100m",
    "1.5",
    "100.035Ki",
    "12E",
    "1e3",
];

fn parse(c: &mut Criterion) {
    c.bench_function("parse/mixed", |b| {
        b.iter(|| {
            for text in SAMPLES {
                black_box(black_box(text).parse::<Quantity>().ok());
            }
        })
    });
    c.bench_function("parse/nanocores", |b| {
        b.iter(|| black_box("250264852n").parse::<Quantity>().ok())
    });
}

fn to_string(c: &mut Criterion) {
    let quantities: Vec<Quantity> = SAMPLES.iter().filter_map(|s| s.parse().ok()).collect();
    c.bench_function("to_string/mixed", |b| {
        b.iter(|| {
            for quantity in &quantities {
                black_box(black_box(quantity).to_string());
            }
        })
    });
    // Writing into a reused buffer, as a JSON encoder does.
    let mut buffer = String::with_capacity(64);
    c.bench_function("display/mixed_into_buffer", |b| {
        b.iter(|| {
            for quantity in &quantities {
                buffer.clear();
                let _ = write!(buffer, "{}", black_box(quantity));
                black_box(&buffer);
            }
        })
    });
}

fn metrics_server(c: &mut Criterion) {
    c.bench_function("from_nanocores+to_string", |b| {
        let mut nanocores = 250_264_852u64;
        b.iter(|| {
            nanocores = nanocores.wrapping_add(7_919);
            black_box(Quantity::from_nanocores(black_box(nanocores)).to_string())
        })
    });
    c.bench_function("from_bytes+to_string", |b| {
        let mut bytes = 8_517_808_128u64;
        b.iter(|| {
            bytes = bytes.wrapping_add(4096);
            black_box(Quantity::from_bytes(black_box(bytes)).to_string())
        })
    });
    c.bench_function("sum_1000_nanocores", |b| {
        let samples: Vec<Quantity> = (0..1000u64)
            .map(|i| Quantity::from_nanocores(i * 1_000_003))
            .collect();
        b.iter(|| black_box(black_box(&samples).iter().sum::<Quantity>()))
    });
}

criterion_group!(benches, parse, to_string, metrics_server);
criterion_main!(benches);

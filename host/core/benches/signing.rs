//! Signing and verification cost per delivery attempt, for each scheme, on a ~1 KB body.
//!
//! `cargo bench -p hookline-core --bench signing`

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use hookline_core::secret::{generate_ed25519, generate_standard};
use hookline_core::signing::{Scheme, SigningKey, VerifyingKey, signature_headers, verify};

const ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";
const TIMESTAMP: i64 = 1_700_000_000;

fn body() -> Vec<u8> {
    let mut body = br#"{"event":"task.completed","timestamp":"2025-01-01T00:00:00.000000000Z","resource":{"id":"task_1","type":"task"},"data":{"prompt":""#.to_vec();
    body.resize(1000, b'x');
    body.extend_from_slice(br#""}}"#);
    body
}

fn bench(c: &mut Criterion) {
    let body = body();
    let (whsk, _) = generate_ed25519();
    let cases = [
        (
            "marionette",
            Scheme::Marionette,
            "4f1c2a9be07d41d8a1f3c6b5e2d7a8f90c1b2d3e4f5a6b7c8d9e0f1a2b3c4d5e".to_owned(),
        ),
        ("standard-v1", Scheme::Standard, generate_standard()),
        ("standard-v1a", Scheme::Standard, whsk),
    ];
    let mut group = c.benchmark_group("signing");
    group.throughput(Throughput::Bytes(body.len() as u64));
    for (name, scheme, secret) in cases {
        let key = SigningKey::parse(scheme, &secret).expect("valid bench secret");
        let verifying = [VerifyingKey::parse(scheme, &secret).expect("valid bench secret")];
        let keys = [key];
        group.bench_function(format!("sign/{name}"), |b| {
            b.iter(|| {
                signature_headers(
                    scheme,
                    black_box(ID),
                    black_box(TIMESTAMP),
                    black_box(&body),
                    &keys,
                )
            })
        });
        let headers = signature_headers(scheme, ID, TIMESTAMP, &body, &keys).expect("signable");
        group.bench_function(format!("verify/{name}"), |b| {
            b.iter(|| {
                verify(
                    scheme,
                    &verifying,
                    headers.as_slice(),
                    black_box(&body),
                    black_box(TIMESTAMP),
                )
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

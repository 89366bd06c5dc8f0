//! Matching one event type against 10,000 subscriptions: [`SubscriptionIndex`] against a naive
//! scan with [`matches_any`].
//!
//! Each subscription has one to three patterns: exact names over the 17 known types and over
//! custom `svcN.evtM` types, `cat.*` and bare `cat` over known and custom categories, and ten
//! subscriptions to `*`. Three event types: a known one with many subscribers, a custom one
//! with a few, and one no pattern names (only `*` matches).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use hookline_core::event::{KNOWN_EVENT_TYPES, category};
use hookline_core::pattern::{Pattern, SubscriptionIndex, matches_any};

const SUBSCRIPTIONS: u32 = 10_000;

/// xorshift64: deterministic, so every run measures the same set.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }

    fn known_type(&mut self) -> &'static str {
        KNOWN_EVENT_TYPES[self.below(17) as usize]
    }

    /// A known category one time in four, else one of 100 custom ones.
    fn category(&mut self) -> String {
        if self.below(4) == 0 {
            category(self.known_type()).to_owned()
        } else {
            format!("svc{}", self.below(100))
        }
    }
}

fn subscriptions() -> Vec<(u32, Vec<Pattern>)> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..SUBSCRIPTIONS)
        .map(|key| {
            if key % 1000 == 0 {
                return (key, vec![Pattern::parse("*").expect("valid")]);
            }
            let count = 1 + rng.below(3);
            let patterns = (0..count)
                .map(|_| {
                    let s = match rng.below(100) {
                        0..40 => rng.known_type().to_owned(),
                        40..80 => format!("svc{}.evt{}", rng.below(100), rng.below(10)),
                        80..90 => format!("{}.*", rng.category()),
                        _ => rng.category(),
                    };
                    Pattern::parse(&s).expect("generated patterns are valid")
                })
                .collect();
            (key, patterns)
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let subs = subscriptions();
    let mut index = SubscriptionIndex::new();
    for (key, patterns) in &subs {
        index.insert(*key, patterns);
    }
    let mut group = c.benchmark_group("match_10k");
    for event_type in ["task.completed", "svc42.evt7", "unknown.event"] {
        let naive = |t: &str| {
            subs.iter()
                .filter(|(_, patterns)| matches_any(patterns, t))
                .fold(0_u64, |sum, (key, _)| sum + u64::from(*key))
        };
        // Summing the keys visits each one, as a dispatcher does (`count` would not).
        let indexed = |t: &str| {
            index
                .matches(t)
                .fold(0_u64, |sum, key| sum + u64::from(*key))
        };
        assert_eq!(
            indexed(event_type),
            naive(event_type),
            "index and scan disagree"
        );
        let hits = index.matches(event_type).count();
        println!("{event_type}: {hits} of {SUBSCRIPTIONS} subscriptions match");
        group.bench_function(format!("index/{event_type}"), |b| {
            b.iter(|| indexed(black_box(event_type)))
        });
        group.bench_function(format!("scan/{event_type}"), |b| {
            b.iter(|| naive(black_box(event_type)))
        });
    }
    group.finish();
}

criterion_group!(benches, matching);
criterion_main!(benches);

//! At-least-once under `kill -9`: every event answered 202 reaches the receiver, however
//! often the daemon dies mid-flight.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookline_e2e::daemon::{Daemon, DaemonConfig, TOKEN};
use hookline_test_support::receiver::{Receiver, Reply};
use hookline_test_support::wait::eventually;
use rand::Rng;
use serde_json::{Value, json};

const KILLS: usize = 4;

#[derive(Debug, Default)]
struct Ledger {
    /// Keys whose request got a 202.
    accepted: BTreeSet<String>,
    /// Requests by outcome (`202`, `503`, `error`), for the report.
    outcomes: BTreeMap<String, u64>,
}

fn event(key: &str) -> Value {
    json!({
        "type": "task.created",
        "resource": {"id": key, "type": "task"},
        "data": {"session_id": "s1", "status": "pending"},
    })
}

/// Ingests until `stop`: single events and small batches, recording the keys of every
/// request answered 202. Connection errors (the daemon is dead) mean "not accepted".
async fn ingest_loop(url: String, lane: u32, stop: Arc<AtomicBool>, ledger: Arc<Mutex<Ledger>>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let mut n = 0u32;
    while !stop.load(Ordering::Relaxed) {
        let size = match n % 3 {
            0 => 1 + (n / 3) % 5,
            _ => 1,
        };
        let keys: Vec<String> = (0..size)
            .map(|i| format!("ev-{lane}{:06}", n + i))
            .collect();
        n += size;
        let request = if size == 1 && n.is_multiple_of(2) {
            http.post(format!("{url}/v1/events")).json(&event(&keys[0]))
        } else {
            let events: Vec<Value> = keys.iter().map(|k| event(k)).collect();
            http.post(format!("{url}/v1/events/batch"))
                .json(&json!({ "events": events }))
        };
        let outcome = request.bearer_auth(TOKEN).send().await;
        let label = match &outcome {
            Ok(r) => r.status().as_u16().to_string(),
            Err(_) => "error".to_owned(),
        };
        let accepted = matches!(&outcome, Ok(r) if r.status().as_u16() == 202);
        {
            let mut ledger = ledger.lock().unwrap();
            *ledger.outcomes.entry(label).or_default() += 1;
            if accepted {
                ledger.accepted.extend(keys);
            }
        }
        if !accepted {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

/// Keys received at `path` with a 2xx answer, and how many requests each took.
fn received(receiver: &Receiver, path: &str) -> (BTreeSet<String>, BTreeMap<String, u32>) {
    let mut ok = BTreeSet::new();
    let mut per_key: BTreeMap<String, u32> = BTreeMap::new();
    for r in receiver.requests_to(path) {
        let key = r.resource_id().expect("resource id");
        if r.replied.is_some_and(|c| (200..300).contains(&c)) {
            ok.insert(key.clone());
        }
        *per_key.entry(key).or_default() += 1;
    }
    (ok, per_key)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accepted_event_is_lost_under_kill_9() {
    let receiver = Receiver::start().await;
    // `flaky` fails every delivery's first attempt: each one also waits in the store for
    // its retry, across the kills.
    receiver.script("/flaky", vec![Reply::FailFirstAttempt(503)]);
    let webhook = |id: &str| {
        format!(
            "id = \"{id}\"\nurl = \"{}\"\nevents = [\"*\"]\nmax_attempts = 50",
            receiver.url(&format!("/{id}"))
        )
    };
    // No circuit breaker: with every first attempt failing it would (rightly) hold `flaky`'s
    // deliveries back for its cool-down, which is not what this test is about. (A threshold
    // of 0 should disable it but does not: see
    // `behaviours::breaker_threshold_zero_disables_the_breaker`.)
    let config = DaemonConfig::new()
        .set("delivery", "breaker_failure_threshold", "1000000")
        .webhook(&webhook("ledger"))
        .webhook(&webhook("flaky"));
    let mut daemon = Daemon::start(config).await;
    let started = Instant::now();

    let stop = Arc::new(AtomicBool::new(false));
    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let lanes: Vec<_> = (1..=2)
        .map(|lane| {
            tokio::spawn(ingest_loop(
                daemon.url(),
                lane,
                stop.clone(),
                ledger.clone(),
            ))
        })
        .collect();
    let accepted_count = || ledger.lock().unwrap().accepted.len();

    // Random kill moments, drawn up front (the thread-local RNG cannot cross an await).
    let pauses: Vec<u64> = {
        let mut rng = rand::rng();
        (0..=KILLS).map(|_| rng.random_range(0..500)).collect()
    };
    for (i, pause) in pauses.iter().enumerate() {
        // Events are flowing (some accepted since the last start), then a random moment.
        let before = accepted_count();
        eventually(
            "events accepted since the last start",
            Duration::from_secs(15),
            || async {
                let now = accepted_count();
                match now >= before + 50 {
                    true => Ok(()),
                    false => Err(format!("{} accepted since the start", now - before)),
                }
            },
        )
        .await;
        tokio::time::sleep(Duration::from_millis(*pause)).await;
        if i < KILLS {
            daemon.kill9();
            daemon.restart().await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for lane in lanes {
        lane.await.expect("ingest lane");
    }

    let (accepted, outcomes) = {
        let ledger = ledger.lock().unwrap();
        (ledger.accepted.clone(), ledger.outcomes.clone())
    };
    assert!(!accepted.is_empty());
    for path in ["/ledger", "/flaky"] {
        eventually(
            &format!("every accepted event delivered to {path}"),
            Duration::from_secs(60),
            || async {
                let (ok, _) = received(&receiver, path);
                let missing: Vec<&String> = accepted.difference(&ok).collect();
                match missing.is_empty() {
                    true => Ok(()),
                    false => Err(format!(
                        "{} of {} accepted events not delivered yet, e.g. {:?}",
                        missing.len(),
                        accepted.len(),
                        &missing[..missing.len().min(5)]
                    )),
                }
            },
        )
        .await;
    }
    for path in ["/ledger", "/flaky"] {
        let (ok, per_key) = received(&receiver, path);
        let requests: u32 = per_key.values().sum();
        let unacknowledged = ok.iter().filter(|k| !accepted.contains(*k)).count();
        // `flaky` needs two requests per delivery; more than that are duplicates.
        let needed = if path == "/flaky" { 2 } else { 1 };
        let duplicates: u32 = per_key.values().map(|n| n.saturating_sub(needed)).sum();
        println!(
            "kill -9 x{KILLS} in {:.1?}, {path}: accepted {}, received {} distinct ({requests} \
             requests), duplicates {duplicates}, received but not acknowledged \
             {unacknowledged}; ingest outcomes {outcomes:?}",
            started.elapsed(),
            accepted.len(),
            ok.len(),
        );
    }

    // Nothing is left behind in the store either: every delivery ends delivered.
    let stats = eventually(
        "no pending delivery left",
        Duration::from_secs(30),
        || async {
            let stats = daemon.get_json("/v1/stats").await.expect(200, "stats");
            let d = &stats["store"]["deliveries"];
            let open = d["pending"].as_u64().unwrap_or(0) + d["in_flight"].as_u64().unwrap_or(0);
            match open {
                0 => Ok(stats),
                _ => Err(format!("{d}")),
            }
        },
    )
    .await;
    let events = stats["store"]["events"].as_u64().unwrap_or(0);
    assert_eq!(
        stats["store"]["deliveries"]["delivered"].as_u64(),
        Some(2 * events),
        "two delivered deliveries per stored event: {stats:#}"
    );
    assert!(
        events >= accepted.len() as u64,
        "every accepted event is stored: {stats:#}"
    );
}

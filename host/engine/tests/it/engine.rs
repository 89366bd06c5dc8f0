//! The library API for embedders: `dispatch` with a result callback, `dispatch_sync`, and a
//! shutdown that never races concurrent dispatches.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_core::event::ResourceInfo;
use hookline_core::model::{DeliveryFilter, DeliveryStatus};
use hookline_core::secret::Sealer;
use hookline_engine::http::{HttpSender, SenderConfig};
use hookline_engine::ssrf::NetworkPolicy;
use hookline_engine::{DeliveryResult, Engine, EngineConfig, EngineError, EventInput, WebhookSpec};
use hookline_test_support::receiver::{Receiver, Reply};
use hookline_test_support::store::TempStore;
use hookline_test_support::{DEFAULT_DEADLINE, eventually};

struct Fixture {
    engine: Engine,
    receiver: Receiver,
    url: String,
    _store: TempStore,
}

impl Fixture {
    /// The requests the webhook's receiver got.
    fn hits(&self) -> usize {
        self.receiver.requests_to("/hook").len()
    }
}

/// An engine over a fresh store, with one webhook `hook` (one attempt) to a receiver
/// answering `status`.
async fn fixture(status: u16) -> Fixture {
    let store = TempStore::open("it-engine");
    let sender = HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback()).unwrap();
    let engine = Engine::start(
        store.dyn_store(),
        sender,
        Sealer::from_bytes(&[7; 32]),
        EngineConfig {
            workers: 8,
            retention: None,
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap();
    let receiver = Receiver::start().await;
    receiver.script("/hook", vec![Reply::Status(status)]);
    let url = receiver.url("/hook");
    engine
        .create_webhook(WebhookSpec {
            id: Some("hook".into()),
            url: url.clone(),
            events: vec!["task.*".into()],
            max_attempts: Some(1),
            ..WebhookSpec::default()
        })
        .await
        .unwrap();
    Fixture {
        engine,
        receiver,
        url,
        _store: store,
    }
}

fn event(key: &str) -> EventInput {
    EventInput {
        event_type: "task.completed".into(),
        id: Some(key.into()),
        resource: ResourceInfo::new(key, "task"),
        data: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_reports_each_result_to_its_callback() {
    let f = fixture(200).await;
    let results: Arc<Mutex<Vec<DeliveryResult>>> = Arc::default();
    let sink = results.clone();
    let receipt = f
        .engine
        .dispatch(event("k1"), Arc::new(move |r| sink.lock().unwrap().push(r)))
        .await
        .unwrap();
    assert_eq!(receipt.deliveries, 1);
    eventually("the callback", DEFAULT_DEADLINE, async || {
        !results.lock().unwrap().is_empty()
    })
    .await;
    let r = results.lock().unwrap()[0].clone();
    assert_eq!(r.event_id, receipt.event_id);
    assert_eq!(r.status, DeliveryStatus::Delivered);
    assert_eq!(r.status_code, Some(200));
    assert_eq!(f.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_sync_delivers_inline_without_storing() {
    let f = fixture(503).await;
    let r = f.engine.dispatch_sync("hook", event("k2")).await.unwrap();
    assert_eq!(r.status, DeliveryStatus::Exhausted);
    assert_eq!(r.status_code, Some(503));
    assert_eq!(f.hits(), 1);
    let stored = f
        .engine
        .list_deliveries(DeliveryFilter::default())
        .await
        .unwrap();
    assert!(stored.items.is_empty(), "dispatch_sync stores nothing");
    let missing = f.engine.dispatch_sync("nope", event("k3")).await;
    assert!(matches!(missing, Err(EngineError::NotFound { .. })));
    assert!(!f.url.is_empty());
}

/// Regression test for the origin's bug: stop could race with dispatch and crash. Here every
/// dispatch either is refused with `ShuttingDown` or was durably accepted, and every
/// accepted one is in the store afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_never_races_concurrent_dispatch() {
    let f = fixture(200).await;
    let mut tasks = Vec::new();
    for t in 0..8 {
        let engine = f.engine.clone();
        tasks.push(tokio::spawn(async move {
            let mut accepted = Vec::new();
            for i in 0..200 {
                match engine.ingest(vec![event(&format!("t{t}-{i}"))]).await {
                    Ok(r) => accepted.push(r[0].event_id.clone()),
                    Err(EngineError::ShuttingDown) => break,
                    Err(e) => panic!("unexpected error: {e}"),
                }
            }
            accepted
        }));
    }
    tokio::time::sleep(Duration::from_millis(30)).await;
    f.engine.shutdown(Duration::from_secs(5)).await;
    let mut accepted = Vec::new();
    for t in tasks {
        accepted.extend(t.await.unwrap());
    }
    assert!(matches!(
        f.engine.ingest(vec![event("late")]).await,
        Err(EngineError::ShuttingDown)
    ));
    for id in accepted {
        let page = f
            .engine
            .list_deliveries(DeliveryFilter {
                event_id: Some(id.clone()),
                ..DeliveryFilter::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), 1, "accepted event {id} has its delivery");
    }
}

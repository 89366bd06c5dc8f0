//! The library API for embedders: `dispatch` with a result callback, `dispatch_sync`, and a
//! shutdown that never races concurrent dispatches.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookline_core::event::ResourceInfo;
use hookline_core::model::{DeliveryFilter, DeliveryStatus};
use hookline_core::secret::Sealer;
use hookline_engine::http::{HttpSender, SenderConfig};
use hookline_engine::ssrf::NetworkPolicy;
use hookline_engine::{
    DeliveryResult, Engine, EngineConfig, EngineError, EventInput, ResultCallback, WebhookSpec,
};
use hookline_test_support::receiver::{Receiver, Reply};
use hookline_test_support::store::TempStore;
use hookline_test_support::{DEFAULT_DEADLINE, eventually};

struct Fixture {
    engine: Engine,
    receiver: Receiver,
    url: String,
    store: TempStore,
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
    let engine = start_engine(&store, true).await;
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
        store,
    }
}

/// An engine over `store`; `exclusive`: the store's only daemon (a second one sharing it
/// must not end the first one's leases).
async fn start_engine(store: &TempStore, exclusive: bool) -> Engine {
    let sender = HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback()).unwrap();
    Engine::start(
        store.dyn_store(),
        sender,
        Sealer::from_bytes(&[7; 32]),
        EngineConfig {
            workers: 8,
            retention: None,
            exclusive_store: exclusive,
            poll_interval: Duration::from_millis(50),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

/// A callback that keeps what it gets.
fn collect() -> (Arc<Mutex<Vec<DeliveryResult>>>, ResultCallback) {
    let results: Arc<Mutex<Vec<DeliveryResult>>> = Arc::default();
    let sink = results.clone();
    (results, Arc::new(move |r| sink.lock().unwrap().push(r)))
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
    assert_eq!(f.engine.waiting_callbacks(), 0);
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

/// `dispatch_sync` used to hold the ingest gate across its whole HTTP attempt: shutdown could
/// not even close the gate (let alone cancel anything) until the receiver answered or the
/// webhook's timeout ended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_does_not_wait_for_a_dispatch_sync_to_a_hanging_receiver() {
    let f = fixture(200).await;
    f.receiver.script("/hang", vec![Reply::Hang]);
    f.engine
        .create_webhook(WebhookSpec {
            id: Some("hang".into()),
            url: f.receiver.url("/hang"),
            events: vec!["task.*".into()],
            timeout_seconds: Some(120),
            ..WebhookSpec::default()
        })
        .await
        .unwrap();
    let engine = f.engine.clone();
    let sync = tokio::spawn(async move { engine.dispatch_sync("hang", event("s1")).await });
    let held = f.receiver.wait_for_requests("/hang", 1).await;
    assert_eq!(held[0].replied, None, "the receiver holds the request");

    // The receiver holds the request for its whole two-minute timeout; shutdown gives it
    // a short grace, then stops it.
    tokio::time::timeout(
        DEFAULT_DEADLINE,
        f.engine.shutdown(Duration::from_millis(200)),
    )
    .await
    .expect("shutdown waited for the hanging dispatch_sync");
    let answer = tokio::time::timeout(DEFAULT_DEADLINE, sync)
        .await
        .expect("the dispatch_sync stopped at the end of the grace")
        .unwrap();
    assert!(
        matches!(answer, Err(EngineError::ShuttingDown)),
        "{answer:?}"
    );
    assert!(matches!(
        f.engine.dispatch_sync("hook", event("s2")).await,
        Err(EngineError::ShuttingDown)
    ));
    assert_eq!(f.receiver.requests_to("/hang").len(), 1);
}

/// A `dispatch_sync` that answers within shutdown's grace finishes: shutdown drains it like
/// a delivery in flight.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_dispatch_sync_finish_within_its_grace() {
    let f = fixture(200).await;
    f.receiver.script(
        "/hook",
        vec![Reply::Delayed(Duration::from_millis(300), 200)],
    );
    // One task polls both, so the order they end in is exact: the flag is set in the poll
    // where the dispatch ends, before shutdown (woken by it) can run again.
    let finished = std::sync::atomic::AtomicBool::new(false);
    let dispatch = async {
        let r = f.engine.dispatch_sync("hook", event("s3")).await;
        finished.store(true, std::sync::atomic::Ordering::SeqCst);
        r
    };
    let stop = async {
        f.receiver.wait_for_requests("/hook", 1).await;
        f.engine.shutdown(Duration::from_secs(60)).await;
        finished.load(std::sync::atomic::Ordering::SeqCst)
    };
    let (r, finished_first) = tokio::join!(dispatch, stop);
    assert!(
        finished_first,
        "shutdown returned before the dispatch_sync in flight"
    );
    assert_eq!(r.unwrap().status, DeliveryStatus::Delivered);
}

/// Deliveries of a deleted webhook are canceled in the store, never attempted: their
/// callbacks used to wait (and their entries stay) forever.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_webhooks_canceled_deliveries_report_to_their_callback() {
    let f = fixture(200).await;
    f.engine.pause_webhook("hook", None).await.unwrap();
    let (results, callback) = collect();
    let receipt = f.engine.dispatch(event("c1"), callback).await.unwrap();
    assert_eq!(receipt.deliveries, 1);
    assert_eq!(f.engine.waiting_callbacks(), 1);
    f.engine.delete_webhook("hook", None).await.unwrap();
    eventually("the callback", DEFAULT_DEADLINE, async || {
        f.engine.waiting_callbacks() == 0 && !results.lock().unwrap().is_empty()
    })
    .await;
    let got = results.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].event_id, receipt.event_id);
    assert_eq!(got[0].status, DeliveryStatus::Canceled);
    assert_eq!(got[0].attempts, 0);
    assert_eq!(f.hits(), 0);
}

/// A delivery another daemon sharing the store finishes reports to the callback of the
/// daemon that dispatched it, and leaves its map.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_finished_by_another_daemon_reports_to_the_dispatchers_callback() {
    let f = fixture(200).await;
    // Paused while this engine dispatches: the delivery waits in the store.
    f.engine.pause_webhook("hook", None).await.unwrap();
    let (results, callback) = collect();
    let receipt = f.engine.dispatch(event("c2"), callback).await.unwrap();
    assert_eq!(f.engine.waiting_callbacks(), 1);

    // The other daemon resumes the webhook and delivers it; this one still thinks the
    // webhook paused (it does not follow another daemon's changes), so it never sends it.
    let other = start_engine(&f.store, false).await;
    other.resume_webhook("hook", None).await.unwrap();
    eventually("the callback", DEFAULT_DEADLINE, async || {
        f.engine.waiting_callbacks() == 0 && !results.lock().unwrap().is_empty()
    })
    .await;
    let got = results.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].event_id, receipt.event_id);
    assert_eq!(got[0].status, DeliveryStatus::Delivered);
    assert_eq!((got[0].attempts, got[0].status_code), (1, Some(200)));
    assert_eq!(f.hits(), 1);
    other.shutdown(Duration::from_secs(2)).await;
    f.engine.shutdown(Duration::from_secs(2)).await;
}

/// Callbacks of deliveries that never finish here (still waiting at shutdown) are dropped.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_drops_the_callbacks_still_waiting() {
    let f = fixture(200).await;
    f.engine.pause_webhook("hook", None).await.unwrap();
    let (results, callback) = collect();
    f.engine.dispatch(event("c3"), callback).await.unwrap();
    assert_eq!(f.engine.waiting_callbacks(), 1);
    f.engine.shutdown(Duration::from_secs(2)).await;
    assert_eq!(f.engine.waiting_callbacks(), 0);
    assert!(results.lock().unwrap().is_empty());
}

/// A store written by an engine without a key (the daemon's `store_secrets_unsealed`
/// opt-out) is sealed on the first start with one: the current and previous secrets are
/// rewritten marked `v1:aesgcm:`, and the webhook keeps receiving deliveries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_unsealed_is_resealed_on_the_first_start_with_a_key() {
    use hookline_core::secret::{PLAIN_MARKER, SEALED_MARKER};
    let store = TempStore::open("it-reseal");
    let receiver = Receiver::start().await;
    receiver.script("/hook", vec![Reply::Status(200)]);
    let config = || EngineConfig {
        workers: 2,
        retention: None,
        poll_interval: Duration::from_millis(50),
        ..EngineConfig::default()
    };
    let sender = || HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback()).unwrap();
    let unsealed = Engine::start(
        store.dyn_store(),
        sender(),
        Sealer::insecure_plaintext(),
        config(),
    )
    .await
    .unwrap();
    let created = unsealed
        .create_webhook(WebhookSpec {
            id: Some("hook".into()),
            url: receiver.url("/hook"),
            events: vec!["task.*".into()],
            ..WebhookSpec::default()
        })
        .await
        .unwrap();
    let rotated = unsealed.rotate_secret("hook", None, None).await.unwrap();
    unsealed.shutdown(Duration::ZERO).await;
    let before = store
        .dyn_store()
        .get_webhook("hook".into())
        .await
        .unwrap()
        .unwrap();
    assert!(before.secret_sealed.starts_with(PLAIN_MARKER));

    let sealer = Sealer::from_bytes(&[9; 32]);
    let engine = Engine::start(store.dyn_store(), sender(), sealer.clone(), config())
        .await
        .unwrap();
    let after = store
        .dyn_store()
        .get_webhook("hook".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.version, before.version + 1);
    assert!(after.secret_sealed.starts_with(SEALED_MARKER));
    assert!(!after.secret_sealed.contains(&rotated.secret));
    assert_eq!(
        *sealer.open_string(&after.secret_sealed).unwrap(),
        rotated.secret
    );
    let (previous, _) = after.previous_secret.as_ref().unwrap();
    assert!(previous.starts_with(SEALED_MARKER));
    assert_eq!(*sealer.open_string(previous).unwrap(), created.secret);

    engine.ingest(vec![event("after-reseal")]).await.unwrap();
    eventually(
        "a delivery after re-sealing",
        DEFAULT_DEADLINE,
        async || !receiver.requests_to("/hook").is_empty(),
    )
    .await;
    engine.shutdown(Duration::ZERO).await;
}

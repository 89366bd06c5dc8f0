//! The library API for embedders: `dispatch` with a result callback, `dispatch_sync`, and a
//! shutdown that never races concurrent dispatches.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::routing::post;
use hookline_core::event::ResourceInfo;
use hookline_core::model::{DeliveryFilter, DeliveryStatus};
use hookline_core::secret::Sealer;
use hookline_engine::http::{HttpSender, SenderConfig};
use hookline_engine::ssrf::NetworkPolicy;
use hookline_engine::{DeliveryResult, Engine, EngineConfig, EngineError, EventInput, WebhookSpec};
use hookline_store::sqlite::{SqliteOptions, SqliteStore};

struct Fixture {
    engine: Engine,
    hits: Arc<AtomicUsize>,
    url: String,
    _dir: TempDir,
}

struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn receiver(status: StatusCode) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), hits)
}

async fn fixture(status: StatusCode) -> Fixture {
    let dir = std::env::temp_dir().join(format!(
        "hookline-it-engine-{}-{}",
        std::process::id(),
        hookline_core::ids::new_id("t")
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let store = SqliteStore::open(&dir.join("hookline.db"), SqliteOptions::default()).unwrap();
    let sender = HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback()).unwrap();
    let engine = Engine::start(
        Arc::new(store),
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
    let (url, hits) = receiver(status).await;
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
        hits,
        url,
        _dir: TempDir(dir),
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

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_reports_each_result_to_its_callback() {
    let f = fixture(StatusCode::OK).await;
    let results: Arc<Mutex<Vec<DeliveryResult>>> = Arc::default();
    let sink = results.clone();
    let receipt = f
        .engine
        .dispatch(event("k1"), Arc::new(move |r| sink.lock().unwrap().push(r)))
        .await
        .unwrap();
    assert_eq!(receipt.deliveries, 1);
    eventually("the callback", async || !results.lock().unwrap().is_empty()).await;
    let r = results.lock().unwrap()[0].clone();
    assert_eq!(r.event_id, receipt.event_id);
    assert_eq!(r.status, DeliveryStatus::Delivered);
    assert_eq!(r.status_code, Some(200));
    assert_eq!(f.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_sync_delivers_inline_without_storing() {
    let f = fixture(StatusCode::SERVICE_UNAVAILABLE).await;
    let r = f.engine.dispatch_sync("hook", event("k2")).await.unwrap();
    assert_eq!(r.status, DeliveryStatus::Exhausted);
    assert_eq!(r.status_code, Some(503));
    assert_eq!(f.hits.load(Ordering::SeqCst), 1);
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
    let f = fixture(StatusCode::OK).await;
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

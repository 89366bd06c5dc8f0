//! The SQLite store through its public interface only: a `dyn Store` the way the daemon holds
//! it, on a real file, across a restart. The store's own unit tests (in
//! `host/store/src/sqlite/tests.rs`) cover each operation's rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use hookline_core::model::{
    AttemptRecord, DeliveryFilter, DeliveryStatus, IngestOutcome, NewDelivery, NewEvent,
    WebhookRecord, WebhookState,
};
use hookline_store::sqlite::{SqliteOptions, SqliteStore, Synchronous};
use hookline_store::{ClaimRequest, Store, StoreError};
use hookline_test_support::TempDir;

const T0: i64 = 1_700_000_000_000;

fn webhook(id: &str) -> WebhookRecord {
    WebhookRecord {
        id: id.to_owned(),
        url: format!("https://example.com/{id}"),
        events: vec!["*".to_owned()],
        scheme: Default::default(),
        secret_sealed: "sealed".to_owned(),
        secret_prefix: "whsec_ab".to_owned(),
        previous_secret: None,
        headers: BTreeMap::new(),
        timeout_ms: None,
        max_attempts: None,
        retry_schedule_secs: None,
        rate_limit_per_sec: None,
        max_concurrency: None,
        plugin: None,
        plugin_config: None,
        description: String::new(),
        state: WebhookState::Active,
        source: Default::default(),
        created_at: T0,
        updated_at: T0,
        version: 1,
    }
}

fn event(n: i64) -> NewEvent {
    NewEvent {
        id: format!("evt_{n:08}"),
        idempotency_key: Some(format!("key-{n}")),
        event_type: "task.created".to_owned(),
        resource_id: format!("task-{n}"),
        resource_type: "task".to_owned(),
        payload: Bytes::from(format!("{{\"n\":{n}}}")),
        received_at: T0 + n,
        deliveries: vec![NewDelivery {
            id: format!("dlv_{n:08}"),
            webhook_id: "a".to_owned(),
            leased: true,
        }],
        lease: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sqlite_store_keeps_its_state_across_a_restart() {
    let dir = TempDir::new("it-store-restart");
    let path = dir.join("nested").join("hookline.db");

    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(&path, SqliteOptions::default()).unwrap());
    match SqliteStore::open(&path, SqliteOptions::default()) {
        Err(StoreError::Backend(m)) => assert!(m.contains("another hookline process"), "{m}"),
        other => panic!("a second open must fail, got {other:?}"),
    }
    store.create_webhook(webhook("a")).await.unwrap();
    let outcomes = store.ingest((0..10).map(event).collect()).await.unwrap();
    assert!(outcomes.iter().all(|o| *o == IngestOutcome::Created));
    let jobs = store
        .claim(ClaimRequest {
            owner: "w1".to_owned(),
            now: T0 + 100,
            lease_until: T0 + 60_000,
            limit: 4,
            shares: Default::default(),
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 4);
    let records = jobs
        .iter()
        .map(|job| AttemptRecord {
            delivery_id: job.id.clone(),
            owner: "w1".to_owned(),
            attempt: 1,
            started_at: T0 + 200,
            duration_ms: 5,
            url: "https://example.com/a".to_owned(),
            status_code: Some(200),
            error_kind: None,
            error_message: None,
            request_headers: Vec::new(),
            request_body: None,
            response_excerpt: None,
            new_status: DeliveryStatus::Delivered,
            next_attempt_at: None,
            counts_as_attempt: true,
        })
        .collect();
    store.complete(records).await.unwrap();
    drop(store);

    // Restarted, with the other durability setting: everything is there.
    let options = SqliteOptions {
        synchronous: Synchronous::Normal,
        ..SqliteOptions::default()
    };
    let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path, options).unwrap());
    let stats = store.stats(T0 + 1_000).await.unwrap();
    assert_eq!(stats.events, 10);
    assert_eq!(stats.deliveries["delivered"], 4);
    assert_eq!(stats.deliveries["in_flight"], 0);
    assert_eq!(stats.deliveries["pending"], 6);
    assert_eq!(
        store.ingest(vec![event(3)]).await.unwrap(),
        vec![IngestOutcome::Duplicate {
            event_id: "evt_00000003".to_owned(),
            deliveries: 1
        }]
    );
    let page = store
        .list_deliveries(
            DeliveryFilter {
                limit: Some(3),
                ..Default::default()
            },
            T0 + 1_000,
        )
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|d| d.id.as_str()).collect::<Vec<_>>(),
        vec!["dlv_00000009", "dlv_00000008", "dlv_00000007"]
    );
    assert_eq!(page.next_cursor.as_deref(), Some("dlv_00000007"));
    let detail = store
        .get_delivery("dlv_00000000".to_owned(), T0 + 1_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Delivered);
    assert_eq!(detail.payload, serde_json::json!({"n": 0}));
    assert_eq!(detail.attempts_detail.len(), 1);
}

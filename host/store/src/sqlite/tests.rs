//! Tests of the SQLite store against real files in a temporary directory.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use rusqlite::{Connection, OpenFlags};

use super::*;
use crate::{ClaimCap, ClaimShares};
use hookline_core::ids::new_id_at;
use hookline_core::model::{DeliveryStatus, ErrorKind, Lease, NewDelivery};
use hookline_core::signing::Scheme;
use hookline_test_support::TempDir;

const T0: Millis = 1_700_000_000_000;
const OWNER: &str = "worker-a";

/// Where the tests keep the database: a directory the store has to create.
fn db(dir: &TempDir) -> PathBuf {
    dir.join("data").join("hookline.db")
}

/// The store under test, opened here rather than by `hookline_test_support::store`: that
/// one is another copy of this crate (see the support crate's docs), whose `SqliteStore`
/// would not be this `SqliteStore`.
fn open(dir: &TempDir) -> SqliteStore {
    SqliteStore::open(&db(dir), SqliteOptions::default()).unwrap()
}

fn webhook(id: &str) -> WebhookRecord {
    WebhookRecord {
        id: id.to_owned(),
        url: format!("https://example.com/{id}"),
        events: vec!["task.*".to_owned()],
        scheme: Scheme::default(),
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

fn event(at: Millis, key: Option<&str>, webhooks: &[&str]) -> NewEvent {
    NewEvent {
        id: new_id_at("evt", at),
        idempotency_key: key.map(str::to_owned),
        event_type: "task.created".to_owned(),
        resource_id: "task-1".to_owned(),
        resource_type: "task".to_owned(),
        payload: Bytes::from_static(br#"{"type":"task.created","data":{"id":1}}"#),
        received_at: at,
        deliveries: webhooks
            .iter()
            .map(|w| NewDelivery {
                id: new_id_at("dlv", at),
                webhook_id: (*w).to_owned(),
                leased: true,
            })
            .collect(),
        lease: None,
    }
}

fn claim_req(now: Millis, limit: u32) -> ClaimRequest {
    ClaimRequest {
        owner: OWNER.to_owned(),
        now,
        lease_until: now + 30_000,
        limit,
        shares: ClaimShares::default(),
    }
}

fn result(
    job: &DeliveryJob,
    status: DeliveryStatus,
    started_at: Millis,
    next: Option<Millis>,
) -> AttemptRecord {
    let ok = status == DeliveryStatus::Delivered;
    AttemptRecord {
        delivery_id: job.id.clone(),
        owner: OWNER.to_owned(),
        attempt: job.attempts + 1,
        started_at,
        duration_ms: 12,
        url: format!("https://example.com/{}", job.webhook_id),
        status_code: Some(if ok { 200 } else { 503 }),
        error_kind: (!ok).then_some(ErrorKind::HttpStatus),
        error_message: (!ok).then(|| "503 Service Unavailable".to_owned()),
        request_headers: vec![("content-type".to_owned(), "application/json".to_owned())],
        request_body: None,
        response_excerpt: Some(if ok { "ok" } else { "busy" }.to_owned()),
        new_status: status,
        next_attempt_at: next,
        counts_as_attempt: true,
    }
}

/// The maintained counters agree with the rows.
fn assert_counters_match(path: &Path) {
    let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let counters: BTreeMap<String, i64> = conn
        .prepare("SELECT name, value FROM counters")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut actual: BTreeMap<String, i64> = writer::COUNTER_NAMES
        .iter()
        .map(|n| ((*n).to_owned(), 0))
        .collect();
    actual.insert(
        "events".to_owned(),
        conn.query_row("SELECT count(*) FROM events", [], |r| r.get(0))
            .unwrap(),
    );
    let mut stmt = conn
        .prepare("SELECT status, count(*) FROM deliveries GROUP BY status")
        .unwrap();
    for row in stmt
        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))
        .unwrap()
    {
        let (status, n) = row.unwrap();
        actual.insert(status, n);
    }
    assert_eq!(counters, actual, "counters table vs rows");
}

async fn setup(name: &str, webhooks: &[&str]) -> (TempDir, SqliteStore) {
    let dir = TempDir::new(&format!("sqlite-{name}"));
    let store = open(&dir);
    for w in webhooks {
        store.create_webhook(webhook(w)).await.unwrap();
    }
    (dir, store)
}

#[tokio::test]
async fn ingest_claim_complete_round_trip() {
    let (dir, store) = setup("round-trip", &["a", "b"]).await;
    let ev = event(T0, None, &["a", "b"]);
    let out = store.ingest(vec![ev.clone()]).await.unwrap();
    assert_eq!(out, vec![IngestOutcome::Created]);
    assert_eq!(store.next_due().await.unwrap(), Some(T0));

    let mut jobs = store.claim(claim_req(T0 + 10, 10)).await.unwrap();
    jobs.sort_by(|a, b| a.webhook_id.cmp(&b.webhook_id));
    assert_eq!(jobs.len(), 2);
    assert_eq!(jobs[0].webhook_id, "a");
    assert_eq!(jobs[0].event_id, ev.id);
    assert_eq!(jobs[0].payload, ev.payload);
    assert_eq!(jobs[0].attempts, 0);
    assert_eq!(jobs[0].received_at, T0);
    assert_eq!(jobs[0].event_type, "task.created");

    let stats = store.stats(T0 + 20).await.unwrap();
    assert_eq!(stats.deliveries["in_flight"], 2);
    assert_eq!(stats.deliveries["pending"], 0);

    // `a` is delivered; `b` fails and is retried later.
    store
        .complete(vec![
            result(&jobs[0], DeliveryStatus::Delivered, T0 + 20, None),
            result(&jobs[1], DeliveryStatus::Pending, T0 + 20, Some(T0 + 5_000)),
        ])
        .await
        .unwrap();
    assert!(
        store
            .claim(claim_req(T0 + 100, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_due().await.unwrap(), Some(T0 + 5_000));
    let stats = store.stats(T0 + 100).await.unwrap();
    assert_eq!(stats.events, 1);
    assert_eq!(stats.deliveries["delivered"], 1);
    assert_eq!(stats.deliveries["pending"], 1);
    assert_eq!(stats.retry_waiting, 1);
    assert_eq!(stats.oldest_pending_at, Some(T0));

    let detail = store
        .get_delivery(jobs[0].id.clone(), T0 + 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Delivered);
    assert_eq!(detail.summary.attempts, 1);
    assert_eq!(detail.summary.last_status_code, Some(200));
    assert_eq!(detail.summary.next_attempt_at, None);
    assert_eq!(detail.summary.updated_at, T0 + 32);
    assert_eq!(
        detail.payload,
        serde_json::json!({"type": "task.created", "data": {"id": 1}})
    );
    assert_eq!(detail.attempts_detail.len(), 1);
    let attempt = &detail.attempts_detail[0];
    assert_eq!(attempt.attempt, 1);
    assert_eq!(attempt.duration_ms, 12);
    assert_eq!(attempt.response_excerpt.as_deref(), Some("ok"));
    assert_eq!(
        attempt.request_headers,
        vec![("content-type".to_owned(), "application/json".to_owned())]
    );

    let retrying = store
        .get_delivery(jobs[1].id.clone(), T0 + 100)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(retrying.summary.status, DeliveryStatus::Pending);
    assert_eq!(retrying.summary.next_attempt_at, Some(T0 + 5_000));
    assert_eq!(
        retrying.summary.last_error_kind,
        Some(ErrorKind::HttpStatus)
    );

    // The retry comes due, is claimed with its attempt count, and exhausts.
    let again = store.claim(claim_req(T0 + 5_000, 10)).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 1);
    store
        .complete(vec![result(
            &again[0],
            DeliveryStatus::Exhausted,
            T0 + 5_001,
            None,
        )])
        .await
        .unwrap();
    let detail = store
        .get_delivery(again[0].id.clone(), T0 + 6_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Exhausted);
    assert_eq!(detail.summary.attempts, 2);
    assert_eq!(
        detail
            .attempts_detail
            .iter()
            .map(|a| a.attempt)
            .collect::<Vec<_>>(),
        vec![1, 2]
    );
    assert_eq!(store.next_due().await.unwrap(), None);
    assert!(
        store
            .get_delivery("dlv_missing".to_owned(), T0)
            .await
            .unwrap()
            .is_none()
    );
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn a_non_json_payload_is_shown_as_a_string_and_a_plugin_body_is_kept() {
    let (_dir, store) = setup("payload", &["a"]).await;
    let mut ev = event(T0, None, &["a"]);
    ev.payload = Bytes::from_static(b"not json \xff");
    store.ingest(vec![ev]).await.unwrap();
    let job = store.claim(claim_req(T0, 1)).await.unwrap().remove(0);
    assert_eq!(&job.payload[..], b"not json \xff");
    let mut rec = result(&job, DeliveryStatus::Delivered, T0, None);
    rec.request_body = Some(Bytes::from_static(b"{\"transformed\":true}"));
    store.complete(vec![rec]).await.unwrap();
    let detail = store.get_delivery(job.id, T0).await.unwrap().unwrap();
    assert_eq!(
        detail.payload,
        serde_json::Value::String("not json \u{fffd}".to_owned())
    );
    assert_eq!(
        detail.attempts_detail[0].request_body.as_deref(),
        Some("{\"transformed\":true}")
    );
}

#[tokio::test]
async fn a_known_idempotency_key_creates_nothing_and_reports_the_first_event() {
    let (dir, store) = setup("idempotency", &["a", "b"]).await;
    let first = event(T0, Some("key-1"), &["a", "b"]);
    assert_eq!(
        store.ingest(vec![first.clone()]).await.unwrap(),
        vec![IngestOutcome::Created]
    );
    let again = event(T0 + 1, Some("key-1"), &["a"]);
    assert_eq!(
        store.ingest(vec![again]).await.unwrap(),
        vec![IngestOutcome::Duplicate {
            event_id: first.id.clone(),
            deliveries: 2
        }]
    );

    // Twice in one batch, between two other events.
    let one = event(T0 + 2, Some("key-2"), &["a"]);
    let batch = vec![
        one.clone(),
        event(T0 + 2, None, &["a"]),
        event(T0 + 3, Some("key-2"), &["a", "b"]),
        event(T0 + 3, None, &[]),
    ];
    assert_eq!(
        store.ingest(batch).await.unwrap(),
        vec![
            IngestOutcome::Created,
            IngestOutcome::Created,
            IngestOutcome::Duplicate {
                event_id: one.id,
                deliveries: 1
            },
            IngestOutcome::Created,
        ]
    );
    let stats = store.stats(T0).await.unwrap();
    assert_eq!(stats.events, 4);
    assert_eq!(stats.deliveries["pending"], 4);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn a_failing_command_fails_alone() {
    let (dir, store) = setup("failing-command", &["a"]).await;
    let existing = event(T0, None, &["a"]);
    store.ingest(vec![existing.clone()]).await.unwrap();
    // Many callers at once, so their commands share batches; one of them reuses an event id.
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = Arc::clone(&store);
        let ev = if i == 25 {
            let mut dup = event(T0 + 1, None, &["a"]);
            dup.id = existing.id.clone();
            dup
        } else {
            event(T0 + 1, None, &["a"])
        };
        tasks.push(tokio::spawn(async move { store.ingest(vec![ev]).await }));
    }
    let mut failed = 0;
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.unwrap() {
            Ok(out) => assert_eq!(out, vec![IngestOutcome::Created]),
            Err(StoreError::Conflict { kind: "event", id }) if i == 25 => {
                assert_eq!(id, existing.id);
                failed += 1;
            }
            Err(e) => panic!("task {i}: {e}"),
        }
    }
    assert_eq!(failed, 1);
    let stats = store.stats(T0).await.unwrap();
    assert_eq!(stats.events, 50);
    assert_eq!(stats.deliveries["pending"], 50);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn a_batch_reusing_an_id_is_refused_whole_and_alone() {
    let (dir, store) = setup("reused-id", &["a"]).await;
    let first = event(T0, None, &["a"]);
    let mut second = event(T0, None, &["a"]);
    second.deliveries[0].id = first.deliveries[0].id.clone();
    let store = Arc::new(store);
    let other = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.ingest(vec![event(T0, None, &["a"])]).await })
    };
    match store.ingest(vec![first, second]).await {
        Err(StoreError::Conflict {
            kind: "delivery", ..
        }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(other.await.unwrap().unwrap(), vec![IngestOutcome::Created]);
    let stats = store.stats(T0).await.unwrap();
    assert_eq!(stats.events, 1, "nothing of the refused batch was stored");
    assert_eq!(stats.deliveries["pending"], 1);
    // The same keyed event twice (ids and all) is a duplicate, not a conflict.
    let keyed = event(T0, Some("k1"), &["a"]);
    let out = store.ingest(vec![keyed.clone(), keyed.clone()]).await;
    assert!(
        matches!(
            out.as_deref(),
            Ok([IngestOutcome::Created, IngestOutcome::Duplicate { .. }])
        ),
        "{out:?}"
    );
    let out = store.ingest(vec![keyed]).await;
    assert!(
        matches!(out.as_deref(), Ok([IngestOutcome::Duplicate { .. }])),
        "{out:?}"
    );
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn a_lease_keeps_others_away_until_it_ends() {
    let (_dir, store) = setup("lease", &["a"]).await;
    store
        .ingest(vec![event(T0, None, &["a"]), event(T0 + 1, None, &["a"])])
        .await
        .unwrap();
    let req = ClaimRequest {
        owner: OWNER.to_owned(),
        now: T0 + 10,
        lease_until: T0 + 1_000,
        limit: 1,
        shares: ClaimShares::default(),
    };
    let first = store.claim(req).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].received_at, T0, "oldest due first");
    let other = ClaimRequest {
        owner: "worker-b".to_owned(),
        now: T0 + 500,
        lease_until: T0 + 9_000,
        limit: 10,
        shares: ClaimShares::default(),
    };
    let second = store.claim(other).await.unwrap();
    assert_eq!(second.len(), 1);
    assert_ne!(second[0].id, first[0].id);
    assert!(
        store
            .claim(claim_req(T0 + 999, 10))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(store.next_due().await.unwrap(), Some(T0 + 1_000));

    // The first claimer "crashed": at its lease end the delivery is claimable again.
    let recovered = store.claim(claim_req(T0 + 1_000, 10)).await.unwrap();
    assert_eq!(recovered.len(), 1);
    assert_eq!(recovered[0].id, first[0].id);

    // The old owner's late result is ignored: the lease is ours now.
    let mut late = result(&first[0], DeliveryStatus::Delivered, T0 + 1_001, None);
    late.owner = "worker-a-before-crash".to_owned();
    store.complete(vec![late]).await.unwrap();
    let detail = store
        .get_delivery(first[0].id.clone(), T0 + 1_002)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::InFlight);
    assert!(detail.attempts_detail.is_empty());
    assert_eq!(detail.summary.attempts, 0);
}

#[tokio::test]
async fn ingest_with_a_lease_is_not_claimable_until_the_lease_ends() {
    let (_dir, store) = setup("ingest-lease", &["a"]).await;
    let mut ev = event(T0, None, &["a"]);
    ev.lease = Some(Lease {
        owner: OWNER.to_owned(),
        until: T0 + 60_000,
    });
    store.ingest(vec![ev.clone()]).await.unwrap();
    assert!(store.claim(claim_req(T0 + 1, 10)).await.unwrap().is_empty());
    assert_eq!(store.next_due().await.unwrap(), Some(T0 + 60_000));
    let stats = store.stats(T0 + 1).await.unwrap();
    assert_eq!(stats.deliveries["in_flight"], 1);
    assert_eq!(stats.deliveries["pending"], 0);
    let page = store
        .list_deliveries(DeliveryFilter::default(), T0 + 1)
        .await
        .unwrap();
    assert_eq!(page.items[0].status, DeliveryStatus::InFlight);

    // The accepting process delivers it from memory, as the lease owner.
    let job = DeliveryJob {
        id: ev.deliveries[0].id.clone(),
        event_id: ev.id.clone(),
        event_type: ev.event_type.clone(),
        webhook_id: "a".to_owned(),
        attempts: 0,
        payload: ev.payload.clone(),
        received_at: T0,
    };
    store
        .complete(vec![result(&job, DeliveryStatus::Delivered, T0 + 5, None)])
        .await
        .unwrap();
    let stats = store.stats(T0 + 10).await.unwrap();
    assert_eq!(stats.deliveries["delivered"], 1);
    assert_eq!(stats.deliveries["in_flight"], 0);
    assert_eq!(store.next_due().await.unwrap(), None);
}

#[tokio::test]
async fn release_gives_deliveries_back_at_once() {
    let (dir, store) = setup("release", &["a"]).await;
    store
        .ingest((0..4).map(|i| event(T0 + i, None, &["a"])).collect())
        .await
        .unwrap();
    let jobs = store.claim(claim_req(T0 + 10, 10)).await.unwrap();
    assert_eq!(jobs.len(), 4);
    // A wrong owner releases nothing.
    store
        .release("someone-else".to_owned(), vec![jobs[0].id.clone()])
        .await
        .unwrap();
    assert!(
        store
            .claim(claim_req(T0 + 11, 10))
            .await
            .unwrap()
            .is_empty()
    );
    store
        .release(
            OWNER.to_owned(),
            vec![jobs[0].id.clone(), jobs[1].id.clone()],
        )
        .await
        .unwrap();
    let back = store.claim(claim_req(T0 + 12, 10)).await.unwrap();
    assert_eq!(back.len(), 2);
    // Start-up: every lease ends.
    assert_eq!(store.release_all().await.unwrap(), 4);
    assert_eq!(store.claim(claim_req(T0 + 13, 10)).await.unwrap().len(), 4);
    let stats = store.stats(T0 + 13).await.unwrap();
    assert_eq!(stats.deliveries["in_flight"], 4);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn paused_and_disabled_webhooks_are_not_claimed() {
    let (dir, store) = setup("webhook-state", &["a", "b"]).await;
    store
        .ingest((0..3).map(|i| event(T0 + i, None, &["a", "b"])).collect())
        .await
        .unwrap();
    assert_eq!(
        store
            .set_webhook_state("a".to_owned(), WebhookState::Paused, T0, None)
            .await
            .unwrap()
            .canceled,
        0
    );
    let jobs = store.claim(claim_req(T0 + 10, 100)).await.unwrap();
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.webhook_id == "b"));
    // While paused, new events for it wait too.
    store
        .ingest(vec![event(T0 + 20, None, &["a"])])
        .await
        .unwrap();
    assert!(
        store
            .claim(claim_req(T0 + 30, 100))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.next_due().await.unwrap(),
        Some(T0 + 30_010),
        "only b's leases"
    );
    assert_eq!(store.stats(T0 + 30).await.unwrap().deliveries["pending"], 4);

    // Resumed: they flow.
    store
        .set_webhook_state("a".to_owned(), WebhookState::Active, T0 + 40, None)
        .await
        .unwrap();
    assert_eq!(store.claim(claim_req(T0 + 50, 100)).await.unwrap().len(), 4);
    assert_eq!(
        store
            .get_webhook("a".to_owned())
            .await
            .unwrap()
            .unwrap()
            .state,
        WebhookState::Active
    );

    // Disabling cancels pending deliveries, in flight ones included.
    store
        .ingest(vec![event(T0 + 60, None, &["b"])])
        .await
        .unwrap();
    let disabled = WebhookState::Disabled {
        reason: "410 Gone".to_owned(),
        at: T0 + 70,
    };
    assert_eq!(
        store
            .set_webhook_state("b".to_owned(), disabled.clone(), T0 + 70, None)
            .await
            .unwrap()
            .canceled,
        4
    );
    assert_eq!(
        store
            .get_webhook("b".to_owned())
            .await
            .unwrap()
            .unwrap()
            .state,
        disabled
    );
    let filter = DeliveryFilter {
        webhook: Some("b".to_owned()),
        ..Default::default()
    };
    let page = store.list_deliveries(filter, T0 + 80).await.unwrap();
    assert_eq!(page.items.len(), 4);
    assert!(
        page.items
            .iter()
            .all(|d| d.status == DeliveryStatus::Canceled)
    );
    assert!(
        page.items
            .iter()
            .all(|d| d.last_error.as_deref() == Some("410 Gone"))
    );
    // A late result for a canceled delivery is ignored.
    store
        .complete(vec![result(
            &jobs[0],
            DeliveryStatus::Delivered,
            T0 + 90,
            None,
        )])
        .await
        .unwrap();
    let detail = store
        .get_delivery(jobs[0].id.clone(), T0 + 90)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Canceled);
    // New events for a disabled webhook are canceled at once.
    store
        .ingest(vec![event(T0 + 100, None, &["b"])])
        .await
        .unwrap();
    assert!(
        store
            .claim(claim_req(T0 + 200, 100))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.stats(T0 + 200).await.unwrap().deliveries["canceled"],
        5
    );

    assert!(matches!(
        store
            .set_webhook_state("nope".to_owned(), WebhookState::Paused, T0, None)
            .await,
        Err(StoreError::NotFound {
            kind: "webhook",
            ..
        })
    ));
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn webhooks_are_stored_whole_and_deleting_one_cancels_its_pending_deliveries() {
    let (dir, store) = setup("webhooks", &[]).await;
    let mut full = webhook("billing");
    full.scheme = Scheme::Standard;
    full.events = vec!["task.*".to_owned(), "invoice.paid".to_owned()];
    full.previous_secret = Some(("old-sealed".to_owned(), T0 + 86_400_000));
    full.headers = BTreeMap::from([("X-Team".to_owned(), "ops".to_owned())]);
    full.timeout_ms = Some(5_000);
    full.max_attempts = Some(7);
    full.retry_schedule_secs = Some(vec![5, 300, 1800]);
    full.rate_limit_per_sec = Some(50);
    full.max_concurrency = Some(4);
    full.plugin = Some("plugins/x.wasm".to_owned());
    full.plugin_config = Some("{\"k\":1}".to_owned());
    full.description = "Billing".to_owned();
    full.source = hookline_core::model::WebhookSource::Config;
    store.create_webhook(full.clone()).await.unwrap();
    store.create_webhook(webhook("audit")).await.unwrap();
    assert_eq!(
        store.get_webhook("billing".to_owned()).await.unwrap(),
        Some(full.clone())
    );
    assert!(matches!(
        store.create_webhook(webhook("billing")).await,
        Err(StoreError::Conflict {
            kind: "webhook",
            ..
        })
    ));
    let mut changed = full.clone();
    changed.url = "https://example.com/new".to_owned();
    changed.version = 2;
    assert_eq!(
        store.update_webhook(changed.clone(), 1).await.unwrap(),
        changed
    );
    let all = store.list_webhooks().await.unwrap();
    assert_eq!(
        all.iter().map(|w| w.id.as_str()).collect::<Vec<_>>(),
        vec!["audit", "billing"]
    );
    assert_eq!(all[1], changed);

    store
        .ingest(vec![event(T0, None, &["billing", "audit"])])
        .await
        .unwrap();
    store
        .delete_webhook("billing".to_owned(), None)
        .await
        .unwrap();
    assert!(
        store
            .get_webhook("billing".to_owned())
            .await
            .unwrap()
            .is_none()
    );
    let jobs = store.claim(claim_req(T0 + 1, 10)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].webhook_id, "audit");
    let filter = DeliveryFilter {
        webhook: Some("billing".to_owned()),
        ..Default::default()
    };
    let kept = store.list_deliveries(filter, T0).await.unwrap();
    assert_eq!(kept.items.len(), 1, "history is kept");
    assert_eq!(kept.items[0].status, DeliveryStatus::Canceled);
    assert_eq!(
        kept.items[0].last_error.as_deref(),
        Some("webhook `billing` was deleted")
    );
    assert!(matches!(
        store.delete_webhook("billing".to_owned(), None).await,
        Err(StoreError::NotFound {
            kind: "webhook",
            ..
        })
    ));
    // An event matched before the deletion but stored after it.
    store
        .ingest(vec![event(T0 + 2, None, &["billing"])])
        .await
        .unwrap();
    assert_eq!(store.stats(T0 + 2).await.unwrap().deliveries["canceled"], 2);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn retry_and_replay_follow_the_rules() {
    let (dir, store) = setup("retry-replay", &["a"]).await;
    store
        .ingest(vec![event(T0, None, &["a"]), event(T0 + 1, None, &["a"])])
        .await
        .unwrap();
    let jobs = store.claim(claim_req(T0 + 10, 10)).await.unwrap();
    let (failing, pending) = (&jobs[0], &jobs[1]);
    store
        .release(OWNER.to_owned(), vec![pending.id.clone()])
        .await
        .unwrap();

    // Only failed, exhausted or canceled deliveries can be retried.
    match store.retry_delivery(pending.id.clone(), T0 + 20).await {
        Err(StoreError::InvalidState(m)) => assert_eq!(
            m,
            format!(
                "delivery `{}` is pending; only failed, exhausted or canceled deliveries can be retried",
                pending.id
            )
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        store.retry_delivery("dlv_nope".to_owned(), T0).await,
        Err(StoreError::NotFound {
            kind: "delivery",
            ..
        })
    ));

    // Two attempts, then exhausted.
    store
        .complete(vec![result(
            failing,
            DeliveryStatus::Pending,
            T0 + 20,
            Some(T0 + 100),
        )])
        .await
        .unwrap();
    let claimed = store.claim(claim_req(T0 + 100, 10)).await.unwrap();
    assert_eq!(claimed.len(), 2, "the released one and the retry");
    let job = claimed.into_iter().find(|j| j.id == failing.id).unwrap();
    store
        .release(OWNER.to_owned(), vec![pending.id.clone()])
        .await
        .unwrap();
    store
        .complete(vec![result(
            &job,
            DeliveryStatus::Exhausted,
            T0 + 110,
            None,
        )])
        .await
        .unwrap();

    // Retried: pending, due now, a fresh budget; attempt numbers continue.
    let summary = store
        .retry_delivery(failing.id.clone(), T0 + 1_000)
        .await
        .unwrap();
    assert_eq!(summary.status, DeliveryStatus::Pending);
    assert_eq!(summary.attempts, 0);
    assert_eq!(summary.next_attempt_at, Some(T0 + 1_000));
    assert_eq!(summary.updated_at, T0 + 1_000);
    let job = store.claim(claim_req(T0 + 1_000, 10)).await.unwrap();
    let job = job.iter().find(|j| j.id == failing.id).unwrap();
    assert_eq!(job.attempts, 0);
    store
        .complete(vec![result(
            job,
            DeliveryStatus::Delivered,
            T0 + 1_001,
            None,
        )])
        .await
        .unwrap();
    let detail = store
        .get_delivery(failing.id.clone(), T0 + 2_000)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Delivered);
    assert_eq!(detail.summary.attempts, 1);
    assert_eq!(
        detail
            .attempts_detail
            .iter()
            .map(|a| a.attempt)
            .collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    assert_eq!(detail.attempts_detail[2].status_code, Some(200));

    // Replay: a new pending delivery of the same event to the same webhook.
    let new_id = new_id_at("dlv", T0 + 3_000);
    let replayed = store
        .replay_delivery(failing.id.clone(), new_id.clone(), T0 + 3_000)
        .await
        .unwrap();
    assert_eq!(replayed.id, new_id);
    assert_eq!(replayed.event_id, failing.event_id);
    assert_eq!(replayed.webhook_id, "a");
    assert_eq!(replayed.status, DeliveryStatus::Pending);
    assert_eq!(replayed.attempts, 0);
    assert_eq!(replayed.created_at, T0 + 3_000);
    assert!(matches!(
        store
            .replay_delivery(failing.id.clone(), new_id.clone(), T0 + 3_000)
            .await,
        Err(StoreError::Conflict {
            kind: "delivery",
            ..
        })
    ));
    assert!(matches!(
        store
            .replay_delivery("dlv_nope".to_owned(), "dlv_x".to_owned(), T0)
            .await,
        Err(StoreError::NotFound {
            kind: "delivery",
            ..
        })
    ));
    let claimed = store.claim(claim_req(T0 + 3_000, 10)).await.unwrap();
    let replay_job = claimed.iter().find(|j| j.id == new_id).unwrap();
    assert_eq!(replay_job.payload, failing.payload);

    // Canceled by disabling: retry needs the webhook enabled again.
    let disabled = WebhookState::Disabled {
        reason: "manual".to_owned(),
        at: T0,
    };
    store
        .set_webhook_state("a".to_owned(), disabled, T0 + 4_000, None)
        .await
        .unwrap();
    assert!(matches!(
        store.retry_delivery(new_id.clone(), T0 + 4_001).await,
        Err(StoreError::InvalidState(m)) if m.contains("is disabled")
    ));
    store
        .set_webhook_state("a".to_owned(), WebhookState::Active, T0 + 4_002, None)
        .await
        .unwrap();
    let summary = store
        .retry_delivery(new_id.clone(), T0 + 4_003)
        .await
        .unwrap();
    assert_eq!(summary.status, DeliveryStatus::Pending);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn listing_filters_and_pages_without_duplicates_or_gaps() {
    let (dir, store) = setup("listing", &["a", "b", "c"]).await;
    let hooks = ["a", "b", "c"];
    let mut events = Vec::new();
    for i in 0..120 {
        let mut ev = event(T0 + i, None, &[hooks[(i % 3) as usize]]);
        if i % 4 == 0 {
            ev.event_type = "invoice.paid".to_owned();
        }
        events.push(ev);
    }
    store.ingest(events.clone()).await.unwrap();
    // Some delivered, some failed, some in flight, the rest pending.
    let jobs = store.claim(claim_req(T0 + 1_000, 60)).await.unwrap();
    let mut records = Vec::new();
    for (i, job) in jobs.iter().enumerate().take(40) {
        let status = if i % 2 == 0 {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::Failed
        };
        records.push(result(job, status, T0 + 1_001, None));
    }
    store.complete(records).await.unwrap();
    let now = T0 + 2_000;

    let all_ids: Vec<String> = {
        let mut ids: Vec<String> = events.iter().map(|e| e.deliveries[0].id.clone()).collect();
        ids.sort();
        ids.reverse();
        ids
    };
    // Every page size walks every delivery exactly once, newest first.
    for limit in [1, 7, 50, 119, 120, 1000] {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let filter = DeliveryFilter {
                cursor,
                limit: Some(limit),
                ..Default::default()
            };
            let page = store.list_deliveries(filter, now).await.unwrap();
            assert!(page.items.len() <= limit as usize);
            seen.extend(page.items.iter().map(|d| d.id.clone()));
            match page.next_cursor {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, all_ids, "limit {limit}");
    }
    let default_page = store
        .list_deliveries(DeliveryFilter::default(), now)
        .await
        .unwrap();
    assert_eq!(default_page.items.len(), 50);

    let count = |filter: DeliveryFilter| {
        let store = &store;
        async move {
            let mut n = 0;
            let mut filter = DeliveryFilter {
                limit: Some(13),
                ..filter
            };
            let mut ids = HashSet::new();
            loop {
                let page = store.list_deliveries(filter.clone(), now).await.unwrap();
                for d in &page.items {
                    assert!(ids.insert(d.id.clone()), "duplicate {}", d.id);
                }
                n += page.items.len();
                match page.next_cursor {
                    Some(c) => filter.cursor = Some(c),
                    None => return (n, ids),
                }
            }
        }
    };
    let by = |f: fn(&mut DeliveryFilter)| {
        let mut filter = DeliveryFilter::default();
        f(&mut filter);
        filter
    };
    assert_eq!(count(by(|f| f.webhook = Some("b".to_owned()))).await.0, 40);
    assert_eq!(
        count(by(|f| f.status = vec![DeliveryStatus::Delivered]))
            .await
            .0,
        20
    );
    assert_eq!(
        count(by(|f| f.status = vec![DeliveryStatus::Failed]))
            .await
            .0,
        20
    );
    assert_eq!(
        count(by(|f| f.status = vec![DeliveryStatus::InFlight]))
            .await
            .0,
        20
    );
    assert_eq!(
        count(by(|f| f.status = vec![DeliveryStatus::Pending]))
            .await
            .0,
        60
    );
    assert_eq!(
        count(by(
            |f| f.status = vec![DeliveryStatus::Pending, DeliveryStatus::InFlight]
        ))
        .await
        .0,
        80
    );
    assert_eq!(
        count(by(
            |f| f.status = vec![DeliveryStatus::Failed, DeliveryStatus::Delivered]
        ))
        .await
        .0,
        40
    );
    assert_eq!(
        count(by(
            |f| f.status = vec![DeliveryStatus::Failed, DeliveryStatus::InFlight]
        ))
        .await
        .0,
        40
    );
    assert_eq!(
        count(by(|f| f.status = vec![DeliveryStatus::Skipped]))
            .await
            .0,
        0
    );
    assert_eq!(
        count(by(|f| f.event_type = Some("invoice.paid".to_owned())))
            .await
            .0,
        30
    );
    let one_event = events[17].id.clone();
    let (n, ids) = count(DeliveryFilter {
        event_id: Some(one_event),
        ..Default::default()
    })
    .await;
    assert_eq!(n, 1);
    assert!(ids.contains(&events[17].deliveries[0].id));
    let window = DeliveryFilter {
        since: Some(T0 + 10),
        until: Some(T0 + 20),
        ..Default::default()
    };
    assert_eq!(count(window).await.0, 10);
    let combined = DeliveryFilter {
        webhook: Some("a".to_owned()),
        event_type: Some("invoice.paid".to_owned()),
        since: Some(T0 + 60),
        ..Default::default()
    };
    // i in 60..120 with i % 3 == 0 and i % 4 == 0: 60, 72, 84, 96, 108.
    assert_eq!(count(combined).await.0, 5);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn stats_count_by_status() {
    let (dir, store) = setup("stats", &["a"]).await;
    store
        .ingest((0..10).map(|i| event(T0 + i, None, &["a"])).collect())
        .await
        .unwrap();
    store.ingest(vec![event(T0 + 20, None, &[])]).await.unwrap();
    let jobs = store.claim(claim_req(T0 + 100, 6)).await.unwrap();
    store
        .complete(vec![
            result(&jobs[0], DeliveryStatus::Delivered, T0 + 101, None),
            result(&jobs[1], DeliveryStatus::Failed, T0 + 101, None),
            result(&jobs[2], DeliveryStatus::Exhausted, T0 + 101, None),
            result(&jobs[3], DeliveryStatus::Skipped, T0 + 101, None),
            result(
                &jobs[4],
                DeliveryStatus::Pending,
                T0 + 101,
                Some(T0 + 10_000),
            ),
        ])
        .await
        .unwrap();
    let stats = store.stats(T0 + 200).await.unwrap();
    assert_eq!(stats.events, 11);
    let expect: BTreeMap<String, u64> = [
        ("pending", 5),
        ("in_flight", 1),
        ("delivered", 1),
        ("failed", 1),
        ("exhausted", 1),
        ("canceled", 0),
        ("skipped", 1),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(stats.deliveries, expect);
    assert_eq!(stats.retry_waiting, 1);
    assert_eq!(stats.oldest_pending_at, Some(T0 + 4));
    // Later, the lease and the retry wait are over.
    let later = store.stats(T0 + 50_000).await.unwrap();
    assert_eq!(later.deliveries["in_flight"], 0);
    assert_eq!(later.deliveries["pending"], 6);
    assert_eq!(later.retry_waiting, 0);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn prune_removes_old_finished_deliveries_and_orphaned_events() {
    let (dir, store) = setup("prune", &["a", "b"]).await;
    // 2500 events (more than one pruning step) with one delivery each, delivered at T0 + 10,
    // one event with two deliveries of which one stays pending, and an event nobody wanted.
    let events: Vec<NewEvent> = (0..2500)
        .map(|i| event(T0 + i / 100, None, &["a"]))
        .collect();
    store.ingest(events).await.unwrap();
    let split = event(T0 + 30, None, &["a", "b"]);
    store
        .ingest(vec![split.clone(), event(T0, None, &[])])
        .await
        .unwrap();
    store
        .set_webhook_state("b".to_owned(), WebhookState::Paused, T0, None)
        .await
        .unwrap();
    let mut done = 0;
    loop {
        let jobs = store.claim(claim_req(T0 + 100, 1000)).await.unwrap();
        if jobs.is_empty() {
            break;
        }
        done += jobs.len();
        let records: Vec<_> = jobs
            .iter()
            .map(|j| result(j, DeliveryStatus::Delivered, T0 + 1_000, None))
            .collect();
        store.complete(records).await.unwrap();
    }
    assert_eq!(done, 2501);
    // Nothing finished before T0 + 1000 (+12 ms duration).
    assert_eq!(store.prune(T0 + 1_000).await.unwrap(), 0);
    assert_eq!(store.prune(T0 + 2_000).await.unwrap(), 2501);
    let stats = store.stats(T0 + 2_000).await.unwrap();
    assert_eq!(
        stats.events, 1,
        "only the event with a pending delivery is left"
    );
    assert_eq!(stats.deliveries["delivered"], 0);
    assert_eq!(stats.deliveries["pending"], 1);
    let left = store
        .list_deliveries(DeliveryFilter::default(), T0)
        .await
        .unwrap();
    assert_eq!(left.items.len(), 1);
    assert_eq!(left.items[0].event_id, split.id);
    let detail = store
        .get_delivery(left.items[0].id.clone(), T0)
        .await
        .unwrap()
        .unwrap();
    assert!(detail.payload.is_object(), "its event is kept");
    drop(store);
    let conn = Connection::open(db(&dir)).unwrap();
    let attempts: i64 = conn
        .query_row("SELECT count(*) FROM attempts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(attempts, 0);
    drop(conn);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn everything_survives_close_and_reopen() {
    let dir = TempDir::new("sqlite-reopen");
    let (delivered, pending_id, ev) = {
        let store = open(&dir);
        store.create_webhook(webhook("a")).await.unwrap();
        let ev = event(T0, Some("k"), &["a"]);
        store
            .ingest(vec![ev.clone(), event(T0 + 1, None, &["a"])])
            .await
            .unwrap();
        let jobs = store.claim(claim_req(T0 + 2, 1)).await.unwrap();
        store
            .complete(vec![result(
                &jobs[0],
                DeliveryStatus::Delivered,
                T0 + 3,
                None,
            )])
            .await
            .unwrap();
        let pending = store.list_deliveries(
            DeliveryFilter {
                status: vec![DeliveryStatus::Pending],
                ..Default::default()
            },
            T0 + 4,
        );
        let pending_id = pending.await.unwrap().items[0].id.clone();
        store.close().await;
        assert!(
            store.stats(T0).await.is_ok(),
            "reads still answer after close"
        );
        assert!(matches!(
            store.ingest(vec![event(T0, None, &[])]).await,
            Err(StoreError::Closed)
        ));
        (jobs[0].id.clone(), pending_id, ev)
    };
    let store = open(&dir);
    assert_eq!(
        store.get_webhook("a".to_owned()).await.unwrap(),
        Some(webhook("a"))
    );
    let detail = store
        .get_delivery(delivered, T0 + 10)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Delivered);
    assert_eq!(detail.attempts_detail.len(), 1);
    assert_eq!(
        store
            .ingest(vec![event(T0 + 5, Some("k"), &["a"])])
            .await
            .unwrap(),
        vec![IngestOutcome::Duplicate {
            event_id: ev.id,
            deliveries: 1
        }]
    );
    let jobs = store.claim(claim_req(T0 + 10, 10)).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].id, pending_id);
    let stats = store.stats(T0 + 10).await.unwrap();
    assert_eq!(stats.events, 2);
    assert_eq!(stats.deliveries["delivered"], 1);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_ingest_is_all_stored_and_counted() {
    let (dir, store) = setup("concurrent", &["a", "b"]).await;
    let store = Arc::new(store);
    let mut tasks = Vec::new();
    for t in 0..64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            for i in 0..20 {
                let ev = event(T0 + t * 100 + i, None, &["a", "b"]);
                let out = store.ingest(vec![ev]).await.unwrap();
                assert_eq!(out, vec![IngestOutcome::Created]);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let stats = store.stats(T0).await.unwrap();
    assert_eq!(stats.events, 64 * 20);
    assert_eq!(stats.deliveries["pending"], 64 * 20 * 2);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn a_second_open_of_the_same_file_is_refused() {
    let dir = TempDir::new("sqlite-lock");
    let store = open(&dir);
    match SqliteStore::open(&db(&dir), SqliteOptions::default()) {
        Err(StoreError::Backend(m)) => {
            assert!(m.starts_with("another hookline process"), "{m}");
            assert!(m.contains(&format!("(pid {})", std::process::id())), "{m}");
            assert!(m.ends_with(&format!("holds {}", db(&dir).display())), "{m}");
        }
        other => panic!("{other:?}"),
    }
    drop(store);
    // Released with the store.
    drop(open(&dir));
}

#[tokio::test]
async fn a_version_1_store_is_migrated_with_its_history() {
    let dir = TempDir::new("sqlite-migrate-v1");
    std::fs::create_dir_all(db(&dir).parent().unwrap()).unwrap();
    {
        let conn = Connection::open(db(&dir)).unwrap();
        conn.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "application_id", 0x486B_4C6E)
            .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO events VALUES ('evt_1', NULL, 'task.created', 't1', 'task', \
               x'7B7D', {T0}, 2); \
             INSERT INTO deliveries VALUES ('dlv_1', 'evt_1', 'a', 'task.created', 'failed', \
               0, 1, 1, {T0}, {T0}, NULL, NULL, 503, 'http_status', 'busy', {T0}, {T0}); \
             INSERT INTO deliveries VALUES ('dlv_2', 'evt_1', 'a', 'task.created', 'pending', \
               0, 0, 0, {T0}, {T0}, NULL, NULL, NULL, NULL, NULL, {T0}, {T0}); \
             INSERT INTO attempts VALUES ('dlv_1', 1, {T0}, 12, 'https://example.com/a', 503, \
               'http_status', 'busy', '[[\"content-type\",\"application/json\"]]', NULL, 'busy');"
        ))
        .unwrap();
    }
    let store = open(&dir);
    let detail = store
        .get_delivery("dlv_1".to_owned(), T0)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::Failed);
    assert_eq!(detail.attempts_detail.len(), 1);
    assert_eq!(detail.attempts_detail[0].status_code, Some(503));
    assert_eq!(
        detail.attempts_detail[0].request_headers,
        vec![("content-type".to_owned(), "application/json".to_owned())]
    );
    let page = store
        .list_deliveries(
            DeliveryFilter {
                status: vec![DeliveryStatus::Failed],
                ..DeliveryFilter::default()
            },
            T0,
        )
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].id, "dlv_1");
    let stats = store.stats(T0).await.unwrap();
    assert_eq!(stats.oldest_pending_at, Some(T0));
    drop(store);
    let conn = Connection::open(db(&dir)).unwrap();
    let version: i64 = conn
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, super::schema::MIGRATIONS.len() as i64);
}

#[tokio::test]
async fn a_newer_schema_or_a_foreign_database_is_refused() {
    let dir = TempDir::new("sqlite-schema");
    drop(open(&dir));
    {
        let conn = Connection::open(db(&dir)).unwrap();
        conn.pragma_update(None, "user_version", 99).unwrap();
    }
    match SqliteStore::open(&db(&dir), SqliteOptions::default()) {
        Err(StoreError::Schema(m)) => assert!(m.contains("schema version 99"), "{m}"),
        other => panic!("{other:?}"),
    }

    let foreign = dir.join("other.db");
    {
        let conn = Connection::open(&foreign).unwrap();
        conn.execute_batch("CREATE TABLE t (x INTEGER)").unwrap();
    }
    match SqliteStore::open(&foreign, SqliteOptions::default()) {
        Err(StoreError::Schema(m)) => assert!(m.contains("not a hookline store"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_full_disk_refuses_writes_and_keeps_serving_reads() {
    let (dir, store) = setup("full", &["a"]).await;
    store
        .ingest((0..20).map(|i| event(T0 + i, None, &["a"])).collect())
        .await
        .unwrap();
    let jobs = store.claim(claim_req(T0 + 100, 20)).await.unwrap();
    assert_eq!(jobs.len(), 20);
    // Cap the file at its current size: the next write needing a page fails with SQLITE_FULL.
    let cap = |ctx: &mut writer::WriteCtx, pages: Option<i64>| -> codec::Outcome<()> {
        let current: i64 = ctx.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let max = pages.unwrap_or(current);
        ctx.conn
            .query_row(&format!("PRAGMA max_page_count = {max}"), [], |_| Ok(()))?;
        Ok(())
    };
    store.write(None, 1, cap).await.unwrap();

    // Ingest (in a savepoint) is refused.
    let mut big = event(T0 + 1, None, &["a"]);
    big.payload = Bytes::from(vec![b'x'; 1 << 20]);
    match store.ingest(vec![big]).await {
        Err(StoreError::Full(_)) => {}
        other => panic!("{other:?}"),
    }
    // So are attempt results (no savepoint): none of them is half applied.
    let records: Vec<_> = jobs
        .iter()
        .map(|j| AttemptRecord {
            response_excerpt: Some("r".repeat(20_000)),
            ..result(j, DeliveryStatus::Delivered, T0 + 200, None)
        })
        .collect();
    match store.complete(records.clone()).await {
        Err(StoreError::Full(_)) => {}
        other => panic!("{other:?}"),
    }
    // Reads go on, and show nothing of the refused writes.
    let stats = store.stats(T0 + 300).await.unwrap();
    assert_eq!(stats.events, 20);
    assert_eq!(stats.deliveries["in_flight"], 20);
    let page = store
        .list_deliveries(DeliveryFilter::default(), T0 + 300)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 20);
    assert!(
        page.items
            .iter()
            .all(|d| d.status == DeliveryStatus::InFlight && d.attempts == 0)
    );

    // Space again: writes work again.
    store.write(Some(1 << 30), 1, cap).await.unwrap();
    store.complete(records).await.unwrap();
    store
        .ingest(vec![event(T0 + 2, None, &["a"])])
        .await
        .unwrap();
    let stats = store.stats(T0 + 300).await.unwrap();
    assert_eq!(stats.events, 21);
    assert_eq!(stats.deliveries["delivered"], 20);
    drop(store);
    assert_counters_match(&db(&dir));
}

#[tokio::test]
async fn an_attempt_record_cannot_move_a_delivery_to_in_flight() {
    let (_dir, store) = setup("in-flight-record", &["a"]).await;
    store.ingest(vec![event(T0, None, &["a"])]).await.unwrap();
    let job = store.claim(claim_req(T0, 1)).await.unwrap().remove(0);
    let record = result(&job, DeliveryStatus::InFlight, T0 + 1, None);
    assert!(matches!(
        store.complete(vec![record]).await,
        Err(StoreError::InvalidState(m)) if m.contains("`in_flight` is not a status")
    ));
    let detail = store.get_delivery(job.id, T0 + 2).await.unwrap().unwrap();
    assert_eq!(detail.summary.status, DeliveryStatus::InFlight);
}

#[tokio::test]
async fn the_hot_queries_use_their_indexes() {
    let (dir, store) = setup("plans", &["a"]).await;
    drop(store);
    let conn = Connection::open(db(&dir)).unwrap();
    let plan = |sql: &str| -> String {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let rows = stmt.query_map([], |r| r.get::<_, String>(3)).unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
    };
    let next_due = plan(
        "SELECT min(due_at) FROM deliveries INDEXED BY deliveries_due \
         WHERE status = 'pending' AND held = 0",
    );
    assert!(next_due.contains("deliveries_due"), "{next_due}");
    let oldest = plan(
        "SELECT created_at FROM deliveries INDEXED BY deliveries_pending \
         WHERE status = 'pending' ORDER BY id LIMIT 1",
    );
    assert!(!oldest.contains("TEMP B-TREE"), "{oldest}");
    let in_flight = plan(
        "SELECT count(*) FROM deliveries INDEXED BY deliveries_due \
         WHERE status = 'pending' AND held = 0 AND due_at > 5 AND lease_until > 5",
    );
    assert!(in_flight.contains("due_at>?"), "{in_flight}");
    let prune = plan(
        "SELECT id FROM deliveries WHERE id < 'dlv_1' AND status <> 'pending' \
         AND updated_at < 5 ORDER BY id LIMIT 1000",
    );
    assert!(prune.contains("PRIMARY KEY (id<?)"), "{prune}");
    assert!(!prune.contains("TEMP B-TREE"), "{prune}");
    let by_webhook = plan(
        "SELECT id FROM deliveries WHERE webhook_id = 'a' AND id < 'dlv_z' ORDER BY id DESC LIMIT 51",
    );
    assert!(by_webhook.contains("deliveries_webhook"), "{by_webhook}");
    assert!(!by_webhook.contains("TEMP B-TREE"), "{by_webhook}");
    // The listing adds the partial index's own condition (see `list_deliveries`).
    let by_status = plan(
        "SELECT id FROM deliveries WHERE status IN ('failed') \
         AND status <> 'pending' AND status <> 'delivered' ORDER BY id DESC LIMIT 51",
    );
    assert!(by_status.contains("deliveries_trouble"), "{by_status}");
    assert!(!by_status.contains("TEMP B-TREE"), "{by_status}");
    let pending = plan(
        "SELECT id FROM deliveries WHERE (status = 'pending' AND lease_until > 5) \
         AND status = 'pending' ORDER BY id DESC LIMIT 51",
    );
    assert!(pending.contains("deliveries_pending"), "{pending}");
    assert!(!pending.contains("TEMP B-TREE"), "{pending}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_starts_over_under_sustained_writes() {
    // 48 MiB through the log with no pause: the log must start over instead of growing for
    // as long as writes last (the checkpointer alone never reaches the last frame).
    let (dir, store) = setup("wal-restart", &["a"]).await;
    let payload = Bytes::from(vec![b'x'; 4096]);
    let wal = db(&dir).with_extension("db-wal");
    let mut largest = 0;
    for batch in 0..120 {
        let events = (0..100)
            .map(|i| {
                let mut ev = event(T0 + batch * 100 + i, None, &["a"]);
                ev.payload = payload.clone();
                ev
            })
            .collect();
        store.ingest(events).await.unwrap();
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |m| m.len()));
    }
    assert!(largest > 0, "no log at {}", wal.display());
    assert!(
        largest < 40 << 20,
        "the log grew to {largest} bytes for 48 MiB written"
    );
    assert_eq!(store.stats(T0).await.unwrap().events, 12_000);
}

/// Not a benchmark with assertions: prints the throughput of the store alone. Run with
/// `cargo test -p hookline-store --release --lib sqlite::tests -- --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput() {
    let total: u64 = if cfg!(debug_assertions) {
        10_000
    } else {
        100_000
    };
    let (_dir, store) = setup("throughput", &["a"]).await;
    let store = Arc::new(store);
    let payload = Bytes::from(
        serde_json::json!({
            "type": "task.created",
            "timestamp": "2024-01-01T00:00:00Z",
            "data": {"id": "task_123", "title": "Write the store", "assignee": "ops", "tags": ["a", "b"]}
        })
        .to_string(),
    );
    let tasks = 8;
    let per_task = total / tasks;
    let started = Instant::now();
    let mut handles = Vec::new();
    for t in 0..tasks {
        let store = Arc::clone(&store);
        let payload = payload.clone();
        handles.push(tokio::spawn(async move {
            let mut sent = 0;
            while sent < per_task {
                let n = (per_task - sent).min(256);
                let batch = (0..n)
                    .map(|i| {
                        let mut ev =
                            event(T0 + (t * per_task + sent + i) as i64 / 100, None, &["a"]);
                        ev.payload = payload.clone();
                        ev
                    })
                    .collect();
                store.ingest(batch).await.unwrap();
                sent += n;
            }
        }));
    }
    for h in handles {
        h.await.unwrap();
    }
    let ingest_secs = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let workers = 4;
    let mut handles = Vec::new();
    for w in 0..workers {
        let store = Arc::clone(&store);
        handles.push(tokio::spawn(async move {
            let owner = format!("worker-{w}");
            let mut done = 0u64;
            loop {
                let req = ClaimRequest {
                    owner: owner.clone(),
                    now: T0 + 10_000_000,
                    lease_until: T0 + 10_030_000,
                    limit: 512,
                    shares: ClaimShares::default(),
                };
                let jobs = store.claim(req).await.unwrap();
                if jobs.is_empty() {
                    return done;
                }
                let records = jobs
                    .iter()
                    .map(|j| AttemptRecord {
                        owner: owner.clone(),
                        ..result(j, DeliveryStatus::Delivered, T0 + 10_000_001, None)
                    })
                    .collect();
                store.complete(records).await.unwrap();
                done += jobs.len() as u64;
            }
        }));
    }
    let mut delivered = 0;
    for h in handles {
        delivered += h.await.unwrap();
    }
    let deliver_secs = started.elapsed().as_secs_f64();
    assert_eq!(delivered, total);

    let started = Instant::now();
    let stats = store.stats(T0 + 10_000_002).await.unwrap();
    let stats_ms = started.elapsed().as_secs_f64() * 1000.0;
    assert_eq!(stats.deliveries["delivered"], total);
    println!(
        "sqlite store throughput ({} build): ingest {total} events (1 delivery each, batches of \
         256, {tasks} tasks) in {ingest_secs:.2}s = {:.0} events/s; claim+complete {total} \
         deliveries ({workers} workers, 512 per claim) in {deliver_secs:.2}s = {:.0} \
         deliveries/s; stats {stats_ms:.2} ms",
        if cfg!(debug_assertions) {
            "debug"
        } else {
            "release"
        },
        total as f64 / ingest_secs,
        total as f64 / deliver_secs,
    );
}

#[tokio::test]
async fn webhook_writes_compare_and_set_on_the_version() {
    let (_dir, store) = setup("cas", &["a"]).await;
    let read = store.get_webhook("a".to_owned()).await.unwrap().unwrap();
    assert_eq!(read.version, 1);

    // Two writers read version 1; the first one's write wins, the second is refused and
    // changes nothing (the old `INSERT OR REPLACE` silently undid the first).
    let mut rotated = read.clone();
    rotated.secret_sealed = "rotated".to_owned();
    let stored = store.update_webhook(rotated, 1).await.unwrap();
    assert_eq!(stored.version, 2);
    let mut patched = read.clone();
    patched.url = "https://example.com/patched".to_owned();
    match store.update_webhook(patched, 1).await {
        Err(StoreError::VersionMismatch {
            id,
            expected: 1,
            actual: 2,
        }) => assert_eq!(id, "a"),
        other => panic!("{other:?}"),
    }
    let now = store.get_webhook("a".to_owned()).await.unwrap().unwrap();
    assert_eq!(now, stored);
    assert_eq!(now.secret_sealed, "rotated");
    assert_eq!(now.url, "https://example.com/a");

    // A state change touches the state columns only and bumps the version; with an
    // expected version it is a compare-and-set too.
    let paused = store
        .set_webhook_state("a".to_owned(), WebhookState::Paused, T0 + 5, None)
        .await
        .unwrap();
    assert_eq!(paused.webhook.version, 3);
    assert_eq!(paused.webhook.state, WebhookState::Paused);
    assert_eq!(paused.webhook.secret_sealed, "rotated");
    assert!(matches!(
        store
            .set_webhook_state("a".to_owned(), WebhookState::Active, T0 + 6, Some(2))
            .await,
        Err(StoreError::VersionMismatch {
            expected: 2,
            actual: 3,
            ..
        })
    ));
    assert!(matches!(
        store.delete_webhook("a".to_owned(), Some(2)).await,
        Err(StoreError::VersionMismatch { actual: 3, .. })
    ));
    store.delete_webhook("a".to_owned(), Some(3)).await.unwrap();

    // Gone: a write of what was read before the deletion never re-creates it.
    assert!(matches!(
        store.update_webhook(now, 2).await,
        Err(StoreError::NotFound {
            kind: "webhook",
            ..
        })
    ));
    assert!(matches!(
        store
            .set_webhook_state("a".to_owned(), WebhookState::Active, T0 + 7, None)
            .await,
        Err(StoreError::NotFound {
            kind: "webhook",
            ..
        })
    ));
    assert!(store.get_webhook("a".to_owned()).await.unwrap().is_none());
    // Creation ignores the version given and starts at 1.
    let mut again = webhook("a");
    again.version = 9;
    assert_eq!(store.create_webhook(again).await.unwrap().version, 1);
}

#[tokio::test]
async fn a_version_2_store_gives_its_webhooks_version_1() {
    let dir = TempDir::new("sqlite-migrate-v2");
    std::fs::create_dir_all(db(&dir).parent().unwrap()).unwrap();
    {
        let conn = Connection::open(db(&dir)).unwrap();
        conn.execute_batch(super::schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(super::schema::MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "application_id", 0x486B_4C6E)
            .unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
        conn.execute_batch(&format!(
            "INSERT INTO webhooks VALUES ('a', 'https://example.com/a', '[\"task.*\"]', \
               'marionette', 'sealed', 'ab12', NULL, NULL, '{{}}', NULL, NULL, NULL, NULL, \
               NULL, NULL, NULL, '', 'active', NULL, NULL, 'api', {T0}, {T0});"
        ))
        .unwrap();
    }
    let store = open(&dir);
    let read = store.get_webhook("a".to_owned()).await.unwrap().unwrap();
    assert_eq!(read.version, 1);
    assert_eq!(store.update_webhook(read, 1).await.unwrap().version, 2);
}

/// A divided claim: skipped webhooks give nothing, capped ones at most their cap (and their
/// retries at most the retry cap), the rest oldest due first; `next_due_except` leaves the
/// skipped ones out.
#[tokio::test]
async fn divided_claims_skip_and_cap_webhooks() {
    let (_dir, store) = setup("shares", &["a", "b", "c"]).await;
    // Ten events for `a`, then two for each of `b` and `c`: an open claim of four would
    // take `a`'s oldest four.
    let mut events: Vec<NewEvent> = (0..10).map(|i| event(T0 + i, None, &["a"])).collect();
    events.extend((10..12).map(|i| event(T0 + i, None, &["b", "c"])));
    store.ingest(events).await.unwrap();
    let cap = |id: &str, limit, retries| ClaimCap {
        webhook_id: id.to_owned(),
        limit,
        retries,
    };
    let mut req = claim_req(T0 + 100, 4);
    req.shares = ClaimShares {
        skip: vec!["b".to_owned()],
        caps: vec![cap("a", 1, 1)],
    };
    let got = store.claim(req).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|j| j.webhook_id.as_str()).collect();
    assert_eq!(ids, ["a", "c", "c"], "a capped at one, b skipped");

    assert_eq!(
        store
            .next_due_except(vec!["a".to_owned(), "b".to_owned()])
            .await
            .unwrap(),
        Some(T0 + 100 + 30_000),
        "only c's, leased"
    );
    assert_eq!(
        store.next_due_except(vec!["a".to_owned()]).await.unwrap(),
        Some(T0 + 10)
    );

    // Retries have a lane of their own: fail a's claimed one so it is due again as a retry.
    let failed = result(&got[0], DeliveryStatus::Pending, T0 + 100, Some(T0 + 150));
    store.complete(vec![failed]).await.unwrap();
    let mut req = claim_req(T0 + 200, 100);
    req.shares = ClaimShares {
        skip: Vec::new(),
        caps: vec![cap("a", 3, 0)],
    };
    let got = store.claim(req).await.unwrap();
    let a: Vec<u32> = got
        .iter()
        .filter(|j| j.webhook_id == "a")
        .map(|j| j.attempts)
        .collect();
    assert_eq!(a, [0, 0, 0], "no retry of a: its retry cap is 0");
    assert_eq!(got.iter().filter(|j| j.webhook_id == "b").count(), 2);
}

fn token(id: &str, scope: hookline_core::token::TokenScope) -> hookline_core::token::TokenRecord {
    hookline_core::token::TokenRecord {
        id: id.to_owned(),
        name: format!("{id} name"),
        scope,
        digest: hookline_core::token::TokenDigest::of(&format!("secret of {id}")),
        created_at: T0,
        last_used_at: None,
    }
}

#[tokio::test]
async fn tokens_are_found_by_digest_revoked_and_the_last_admin_kept() {
    use hookline_core::token::{BOOTSTRAP_TOKEN_ID, TokenDigest, TokenScope};
    let dir = TempDir::new("sqlite-tokens");
    let store = open(&dir);
    let boot = token("ignored", TokenScope::Read);
    assert_eq!(
        store.install_bootstrap_token(boot.clone()).await.unwrap(),
        crate::BootstrapToken::Created
    );
    let found = store.find_token(boot.digest).await.unwrap().unwrap();
    assert_eq!(found.id, BOOTSTRAP_TOKEN_ID);
    assert_eq!(
        found.scope,
        TokenScope::Admin,
        "the bootstrap token is admin"
    );
    assert_eq!(
        store.install_bootstrap_token(boot.clone()).await.unwrap(),
        crate::BootstrapToken::Kept
    );

    let read = store
        .create_token(token("tok_read", TokenScope::Read))
        .await
        .unwrap();
    assert!(matches!(
        store.create_token(read.clone()).await,
        Err(StoreError::Conflict { kind: "token", .. })
    ));
    assert_eq!(store.list_tokens().await.unwrap().len(), 2);
    assert!(
        store
            .find_token(TokenDigest::of("nope"))
            .await
            .unwrap()
            .is_none()
    );

    // The last admin stays; another admin lets it go.
    let refused = store
        .revoke_token(BOOTSTRAP_TOKEN_ID.to_owned(), T0)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("last admin token"),
        "{refused}"
    );
    store
        .create_token(token("tok_admin", TokenScope::Admin))
        .await
        .unwrap();
    store
        .revoke_token(BOOTSTRAP_TOKEN_ID.to_owned(), T0 + 1)
        .await
        .unwrap();
    assert!(store.find_token(boot.digest).await.unwrap().is_none());
    assert!(matches!(
        store.revoke_token(BOOTSTRAP_TOKEN_ID.to_owned(), T0).await,
        Err(StoreError::NotFound { kind: "token", .. })
    ));
    // Installed again (a restart with the same token): it stays revoked.
    assert_eq!(
        store.install_bootstrap_token(boot.clone()).await.unwrap(),
        crate::BootstrapToken::Revoked
    );
    assert!(store.find_token(boot.digest).await.unwrap().is_none());
    // Another configured token replaces it, live again.
    let other = token("other", TokenScope::Admin);
    assert_eq!(
        store.install_bootstrap_token(other.clone()).await.unwrap(),
        crate::BootstrapToken::Replaced
    );
    assert_eq!(
        store.find_token(other.digest).await.unwrap().unwrap().id,
        BOOTSTRAP_TOKEN_ID
    );

    // Last use: only ever later.
    store
        .touch_tokens(vec![
            ("tok_read".into(), T0 + 50),
            ("tok_read".into(), T0 + 10),
        ])
        .await
        .unwrap();
    let read = store.find_token(read.digest).await.unwrap().unwrap();
    assert_eq!(read.last_used_at, Some(T0 + 50));

    // Reopened: all there (schema v5).
    drop(store);
    let store = open(&dir);
    let ids: Vec<String> = store
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.id)
        .collect();
    assert_eq!(ids, ["tok_admin", "tok_bootstrap", "tok_read"]);
}

/// Holds the writer until `held` gets a message (or its sender is dropped).
fn hold_the_writer(
    _: &mut super::writer::WriteCtx,
    held: std::sync::mpsc::Receiver<()>,
) -> super::codec::Outcome<()> {
    let _ = held.recv();
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_writer_queue_refuses_ingest_and_loses_nothing_accepted() {
    use hookline_test_support::{DEFAULT_DEADLINE, eventually};
    let dir = TempDir::new("sqlite-busy");
    let opts = SqliteOptions {
        max_queued_rows: 20,
        ..SqliteOptions::default()
    };
    let store = Arc::new(SqliteStore::open(&db(&dir), opts).unwrap());
    store.create_webhook(webhook("a")).await.unwrap();
    let (release, held) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.write(held, 1, hold_the_writer).await })
    };
    // Nine events of two rows each fit beside the held command (1 + 9 × 2 = 19 ≤ 20).
    let mut accepted = Vec::new();
    for i in 0..9 {
        let sender = Arc::clone(&store);
        accepted.push(tokio::spawn(async move {
            sender.ingest(vec![event(T0 + i, None, &["a"])]).await
        }));
        let want = 1 + 2 * (i as usize + 1);
        eventually("the ingest queued", DEFAULT_DEADLINE, || async {
            let queued = store_queued(&store);
            match queued == want {
                true => Ok(()),
                false => Err(format!("{queued} rows queued, not {want}")),
            }
        })
        .await;
    }
    let refused = store
        .ingest(vec![event(T0 + 100, None, &["a"])])
        .await
        .unwrap_err();
    assert!(
        matches!(
            refused,
            StoreError::Busy {
                queued: 19,
                limit: 20
            }
        ),
        "{refused:?}"
    );
    assert!(refused.to_string().contains("try again"), "{refused}");
    // The engine's own writes are never refused: they queue.
    let own = {
        let store = Arc::clone(&store);
        tokio::spawn(async move { store.release_all().await })
    };
    eventually("the release queued", DEFAULT_DEADLINE, || async {
        (store_queued(&store) == 20).then_some(())
    })
    .await;

    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    own.await.unwrap().unwrap();
    for task in accepted {
        task.await.unwrap().unwrap();
    }
    assert_eq!(store.stats(T0).await.unwrap().events, 9);
    assert_eq!(store.queued_rows(), 0);
    // Room again.
    store
        .ingest(vec![event(T0 + 200, None, &["a"])])
        .await
        .unwrap();
}

fn store_queued(store: &SqliteStore) -> usize {
    store.queued_rows()
}

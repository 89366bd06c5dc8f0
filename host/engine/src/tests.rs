//! The engine under a clock only the test moves: retry scheduling and the claim loop, over a
//! real SQLite store and a real loopback receiver, with no real sleeps.
//!
//! The runtime starts paused and [`ManualTime`] keeps Tokio from auto-advancing it, so the
//! engine's time ([`Clock::tokio`]: due times, attempt times, the claimer's sleeps) moves
//! only by `tokio::time::advance`. A retry due in an hour happens the moment the test
//! advances an hour, and not a millisecond before.

use std::time::Duration;

use hookline_core::event::ResourceInfo;
use hookline_core::model::{DeliveryDetail, DeliveryFilter, DeliveryStatus, Millis};
use hookline_core::retry::RetryPolicy;
use hookline_core::secret::Sealer;
use hookline_test_support::receiver::{Receiver, Reply};
use hookline_test_support::store::TempStore;

use crate::http::{HttpSender, SenderConfig};
use crate::ssrf::NetworkPolicy;
use crate::{Clock, Engine, EngineConfig, EventInput, WebhookSpec};

/// Where the engine's clock starts: 2023-11-14T22:13:20Z.
const T0: Millis = 1_700_000_000_000;

/// While held, paused Tokio time does not auto-advance when the runtime is idle: a running
/// blocking task inhibits it. Waiting for the store's threads would otherwise let time jump
/// to the next timer (a request's timeout, say) while nothing happened.
struct ManualTime {
    /// Dropping it ends the blocking task.
    _hold: std::sync::mpsc::Sender<()>,
}

fn manual_time() -> ManualTime {
    let (hold, released) = std::sync::mpsc::channel::<()>();
    tokio::task::spawn_blocking(move || {
        let _ = released.recv();
    });
    ManualTime { _hold: hold }
}

struct Fixture {
    engine: Engine,
    receiver: Receiver,
    _time: ManualTime,
    _store: TempStore,
}

/// An engine on a manual clock whose webhook `hook` has this retry schedule, and whose
/// receiver gives these replies (the last one repeating).
async fn fixture(replies: Vec<Reply>, schedule: Vec<u64>) -> Fixture {
    let receiver = Receiver::start().await;
    receiver.script("/hook", replies);
    let url = receiver.url("/hook");
    let spec = WebhookSpec {
        max_attempts: Some(schedule.len() as u32 + 1),
        retry_schedule_seconds: Some(schedule),
        ..WebhookSpec::default()
    };
    start(EngineConfig::default(), spec, &url, receiver).await
}

/// Starts an engine on a manual clock (`cfg` with no jitter, no retention and the test's
/// clock) and creates webhook `hook` from `spec`, sending to `url` for `task.*`.
async fn start(cfg: EngineConfig, spec: WebhookSpec, url: &str, receiver: Receiver) -> Fixture {
    let time = manual_time();
    let store = TempStore::open("engine-clock");
    let sender = HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback()).unwrap();
    let engine = Engine::start(
        store.dyn_store(),
        sender,
        Sealer::from_bytes(&[7; 32]),
        EngineConfig {
            retry: RetryPolicy {
                jitter: 0.0,
                ..cfg.retry.clone()
            },
            retention: None,
            clock: Clock::tokio(T0),
            ..cfg
        },
    )
    .await
    .unwrap();
    engine
        .create_webhook(WebhookSpec {
            id: Some("hook".into()),
            url: url.to_owned(),
            events: vec!["task.*".into()],
            ..spec
        })
        .await
        .unwrap();
    Fixture {
        engine,
        receiver,
        _time: time,
        _store: store,
    }
}

impl Fixture {
    fn hits(&self) -> usize {
        self.receiver.requests_to("/hook").len()
    }

    async fn emit(&self) -> String {
        let results = self.emit_many(1).await;
        let deliveries = self
            .engine
            .list_deliveries(DeliveryFilter::default())
            .await
            .unwrap();
        assert_eq!(results.len(), 1);
        deliveries.items[0].id.clone()
    }

    /// Ingests `n` events in one batch: one delivery each.
    async fn emit_many(&self, n: usize) -> Vec<crate::IngestResult> {
        let events = (0..n)
            .map(|i| EventInput {
                event_type: "task.completed".into(),
                id: None,
                resource: ResourceInfo::new(format!("t{i}"), "task"),
                data: None,
            })
            .collect();
        self.engine.ingest(events).await.unwrap()
    }

    async fn detail(&self, id: &str) -> DeliveryDetail {
        self.engine.get_delivery(id).await.unwrap()
    }

    /// Waits, without moving time, until the delivery has made `attempts` attempts.
    async fn attempts(&self, id: &str, attempts: u32) -> DeliveryDetail {
        // A real-time bound on a wait in frozen virtual time: the engine's clock does not
        // move here, so a hang must still end the test.
        #[allow(clippy::disallowed_methods)]
        let give_up = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let d = self.detail(id).await;
            // Settled: stored, and its task done with it (a delivery still held in memory
            // is skipped by the claimer).
            let settled = d.summary.status != DeliveryStatus::InFlight
                && self.engine.inner.in_memory_ids().is_empty();
            if d.summary.attempts >= attempts && settled {
                return d;
            }
            #[allow(clippy::disallowed_methods)]
            let late = std::time::Instant::now() > give_up;
            assert!(!late, "attempt {attempts} never came: {d:#?}");
            tokio::task::yield_now().await;
        }
    }

    /// Lets every task run to where it waits, without moving time: the claimer is asleep
    /// again (its sleep measured from now) before the test moves the clock.
    async fn settle(&self) {
        for _ in 0..50 {
            let _ = self.engine.list_deliveries(DeliveryFilter::default()).await;
            tokio::task::yield_now().await;
        }
    }
}

#[tokio::test(start_paused = true)]
async fn retries_wait_for_their_due_time_and_not_a_moment_less() {
    let replies = vec![Reply::Status(503), Reply::Status(503), Reply::Status(200)];
    let f = fixture(replies, vec![60, 3600]).await;
    let id = f.emit().await;

    let first = f.attempts(&id, 1).await;
    assert_eq!(first.summary.status, DeliveryStatus::Pending);
    let tried = first.attempts_detail[0].started_at;
    assert_eq!(tried, T0, "no time passed: the clock is the test's");
    assert_eq!(first.summary.next_attempt_at, Some(tried + 60_000));

    // A second short of the first delay: the claimer holds it.
    tokio::time::advance(Duration::from_secs(59)).await;
    f.settle().await;
    assert_eq!(f.hits(), 1);
    assert_eq!(f.detail(&id).await.summary.attempts, 1);

    // Due: the claimer wakes for it and tries again, exactly on time.
    f.settle().await;
    tokio::time::advance(Duration::from_secs(1)).await;
    let second = f.attempts(&id, 2).await;
    assert_eq!(second.attempts_detail[1].started_at, T0 + 60_000);
    assert_eq!(
        second.summary.next_attempt_at,
        Some(T0 + 60_000 + 3_600_000)
    );

    // The last delay of the schedule, an hour, passes in no real time.
    tokio::time::advance(Duration::from_secs(3599)).await;
    f.settle().await;
    assert_eq!(f.hits(), 2);
    tokio::time::advance(Duration::from_secs(1)).await;
    let third = f.attempts(&id, 3).await;
    assert_eq!(third.summary.status, DeliveryStatus::Delivered);
    assert_eq!(third.attempts_detail[2].started_at, T0 + 3_660_000);
    assert_eq!(f.hits(), 3);
    f.engine.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_delivery_out_of_attempts_is_exhausted_after_the_whole_schedule() {
    let f = fixture(vec![Reply::Status(503)], vec![5, 5]).await;
    let id = f.emit().await;
    for n in 1..=2 {
        f.attempts(&id, n).await;
        f.settle().await;
        tokio::time::advance(Duration::from_secs(5)).await;
    }
    let last = f.attempts(&id, 3).await;
    assert_eq!(last.summary.status, DeliveryStatus::Exhausted);
    let times: Vec<Millis> = last.attempts_detail.iter().map(|a| a.started_at).collect();
    assert_eq!(times, [T0, T0 + 5_000, T0 + 10_000]);
    assert_eq!(last.summary.next_attempt_at, None);
    f.engine.shutdown(Duration::from_secs(1)).await;
}

/// A receiver that holds every request until the test lets it answer (200), counting the
/// requests in its hands. Requests arriving while `phase` is 0 wait on `first`, the others on
/// `later`, so a test can tell the requests in flight at some moment from those after it.
struct Holder {
    phase: std::sync::atomic::AtomicU32,
    first: tokio::sync::Semaphore,
    later: tokio::sync::Semaphore,
    /// Requests held now, per phase.
    holding: [std::sync::atomic::AtomicU32; 2],
    /// The most held at once, per phase.
    most: [std::sync::atomic::AtomicU32; 2],
    answered: std::sync::atomic::AtomicU32,
}

impl Default for Holder {
    fn default() -> Holder {
        Holder {
            phase: Default::default(),
            first: tokio::sync::Semaphore::new(0),
            later: tokio::sync::Semaphore::new(0),
            holding: Default::default(),
            most: Default::default(),
            answered: Default::default(),
        }
    }
}

impl Holder {
    /// Listens on loopback; returns the URL to send to.
    async fn start(self: &std::sync::Arc<Self>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let holder = self.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let holder = holder.clone();
                tokio::spawn(async move { holder.serve(conn).await });
            }
        });
        url
    }

    /// One request per connection: read it, wait for leave, answer 200 and close.
    async fn serve(&self, mut conn: tokio::net::TcpStream) {
        use std::sync::atomic::Ordering::SeqCst;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let body_len = loop {
            let Ok(n) = conn.read(&mut chunk).await else {
                return;
            };
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                break end + 4 + len;
            }
        };
        while buf.len() < body_len {
            match conn.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let phase = self.phase.load(SeqCst).min(1) as usize;
        let now = self.holding[phase].fetch_add(1, SeqCst) + 1;
        self.most[phase].fetch_max(now, SeqCst);
        let gate = if phase == 0 { &self.first } else { &self.later };
        gate.acquire().await.unwrap().forget();
        self.holding[phase].fetch_sub(1, SeqCst);
        let _ = conn
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            .await;
        let _ = conn.shutdown().await;
        self.answered.fetch_add(1, SeqCst);
    }

    fn holding(&self, phase: usize) -> u32 {
        self.holding[phase].load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Waits, without moving time, until `done` holds (a real-time bound ends a hang).
async fn until(what: &str, mut done: impl FnMut() -> bool) {
    #[allow(clippy::disallowed_methods)]
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    while !done() {
        #[allow(clippy::disallowed_methods)]
        let late = std::time::Instant::now() > give_up;
        assert!(!late, "never happened: {what}");
        tokio::task::yield_now().await;
    }
}

/// Regression: lowering `max_concurrency` while requests were in flight forgot only the
/// permits available then; the in-flight ones came back on release and the old limit held.
#[tokio::test(start_paused = true)]
async fn lowering_max_concurrency_under_load_holds_once_in_flight_requests_end() {
    use std::sync::atomic::Ordering::SeqCst;
    let holder = std::sync::Arc::new(Holder::default());
    let url = holder.start().await;
    let cfg = EngineConfig {
        workers: 16,
        ..EngineConfig::default()
    };
    let spec = WebhookSpec {
        max_concurrency: Some(8),
        ..WebhookSpec::default()
    };
    let f = start(cfg, spec, &url, Receiver::start().await).await;
    const N: u32 = 30;
    f.emit_many(N as usize).await;
    until("8 requests in flight", || holder.holding(0) == 8).await;
    f.settle().await;
    assert_eq!(holder.holding(0), 8, "the limit is 8");

    f.engine
        .update_webhook(
            "hook",
            crate::WebhookPatch {
                max_concurrency: Some(2),
                ..crate::WebhookPatch::default()
            },
            None,
        )
        .await
        .unwrap();
    holder.phase.store(1, SeqCst);
    holder.first.add_permits(8);

    // Let the rest through one at a time, each time after everything that could start has.
    while holder.answered.load(SeqCst) < N {
        f.settle().await;
        until("a request held or all answered", || {
            holder.holding(1) > 0 || holder.answered.load(SeqCst) == N
        })
        .await;
        holder.later.add_permits(1);
    }
    assert_eq!(
        holder.most[1].load(SeqCst),
        2,
        "at most the new limit at once after the in-flight requests ended"
    );
    f.engine.shutdown(Duration::from_secs(1)).await;
}

/// While a webhook's circuit is open its backlog stays in the store untouched: no attempt
/// row per held delivery, no re-postponing while the probe is out. Over three cool-downs
/// the store sees the probes and the claimer's few looks, not the backlog.
#[tokio::test(start_paused = true)]
async fn an_open_breaker_holds_its_backlog_without_store_writes() {
    let receiver = Receiver::start().await;
    receiver.script("/hook", vec![Reply::Status(500)]);
    let url = receiver.url("/hook");
    let cfg = EngineConfig {
        breaker_threshold: 3,
        breaker_cooldown: Duration::from_secs(30),
        ..EngineConfig::default()
    };
    let spec = WebhookSpec {
        max_concurrency: Some(1),
        max_attempts: Some(5),
        retry_schedule_seconds: Some(vec![3600]),
        ..WebhookSpec::default()
    };
    let f = start(cfg, spec, &url, receiver).await;
    const N: usize = 50;
    f.emit_many(N).await;
    // Three failures open the circuit; the rest go back to the store as they reach it.
    until("the circuit open and the backlog back in the store", || {
        f.hits() == 3 && f.engine.inner.in_memory_ids().is_empty()
    })
    .await;
    f.settle().await;
    let store = f._store.store();
    let (commands_before, _) = store.write_counts();

    // Three cool-downs, the clock moved a second at a time.
    for _ in 0..95 {
        tokio::time::advance(Duration::from_secs(1)).await;
        f.settle().await;
    }
    let (commands_after, rows_after) = store.write_counts();
    let during = commands_after - commands_before;
    assert_eq!(f.hits(), 3 + 3, "one probe per cool-down");
    // Per cool-down: the probe's claim and its result, and the claims its result and the
    // half-opening wake — whatever the backlog (before, each of the 47 held deliveries was
    // written back once per cool-down, and again every second while a probe was out).
    assert!(
        during <= 3 * 4,
        "{during} store writes during three cool-downs ({rows_after} rows in all)"
    );
    let pending = f
        .engine
        .list_deliveries(DeliveryFilter {
            status: vec![DeliveryStatus::Pending],
            ..DeliveryFilter::default()
        })
        .await
        .unwrap();
    assert!(
        pending.items.iter().all(|d| d.attempts <= 1),
        "held deliveries keep their attempt count"
    );
    f.engine.shutdown(Duration::from_secs(1)).await;
}

/// The stored `last_used_at` of token `id`, read from the store itself (not the engine's
/// in-memory view), once it is `want`.
async fn stored_last_use(f: &Fixture, id: &str, want: Option<Millis>) {
    use hookline_store::Store as _;
    #[allow(clippy::disallowed_methods)]
    let give_up = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let tokens = f._store.store().list_tokens().await.unwrap();
        let stored = tokens
            .iter()
            .find(|t| t.id == id)
            .and_then(|t| t.last_used_at);
        if stored == want {
            return;
        }
        #[allow(clippy::disallowed_methods)]
        let late = std::time::Instant::now() > give_up;
        assert!(!late, "token {id} last used {stored:?}, expected {want:?}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(start_paused = true)]
async fn a_token_s_last_use_is_written_at_most_once_a_minute() {
    use hookline_core::token::TokenScope;
    let f = fixture(vec![Reply::Status(200)], vec![60]).await;
    let created = f
        .engine
        .create_token("console", TokenScope::Read)
        .await
        .unwrap();
    let id = created.token.id.clone();
    let t0 = f.engine.inner.now_ms();
    assert!(
        f.engine
            .authenticate("not a token")
            .await
            .unwrap()
            .is_none()
    );
    for _ in 0..20 {
        let who = f
            .engine
            .authenticate(&created.secret)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (who.id.as_str(), who.scope),
            (id.as_str(), TokenScope::Read)
        );
    }
    stored_last_use(&f, &id, Some(t0)).await;

    // Used again 30 s later: shown, but not written yet.
    tokio::time::advance(Duration::from_secs(30)).await;
    f.engine
        .authenticate(&created.secret)
        .await
        .unwrap()
        .unwrap();
    f.settle().await;
    stored_last_use(&f, &id, Some(t0)).await;
    let listed = f.engine.list_tokens().await.unwrap();
    let shown = listed.iter().find(|t| t.id == id).unwrap();
    assert_eq!(shown.last_used_at, Some(t0 + 30_000));

    // A minute after the last write: written.
    tokio::time::advance(Duration::from_secs(31)).await;
    f.engine
        .authenticate(&created.secret)
        .await
        .unwrap()
        .unwrap();
    stored_last_use(&f, &id, Some(t0 + 61_000)).await;

    // Revoked: refused at once (the cache forgets it).
    f.engine
        .create_token("ops", TokenScope::Admin)
        .await
        .unwrap();
    f.engine.revoke_token(&id).await.unwrap();
    assert!(
        f.engine
            .authenticate(&created.secret)
            .await
            .unwrap()
            .is_none()
    );
}

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
                ..RetryPolicy::default()
            },
            retention: None,
            clock: Clock::tokio(T0),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap();
    let receiver = Receiver::start().await;
    receiver.script("/hook", replies);
    engine
        .create_webhook(WebhookSpec {
            id: Some("hook".into()),
            url: receiver.url("/hook"),
            events: vec!["task.*".into()],
            max_attempts: Some(schedule.len() as u32 + 1),
            retry_schedule_seconds: Some(schedule),
            ..WebhookSpec::default()
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
        let results = self
            .engine
            .ingest(vec![EventInput {
                event_type: "task.completed".into(),
                id: None,
                resource: ResourceInfo::new("t1", "task"),
                data: None,
            }])
            .await
            .unwrap();
        let deliveries = self
            .engine
            .list_deliveries(DeliveryFilter::default())
            .await
            .unwrap();
        assert_eq!(results.len(), 1);
        deliveries.items[0].id.clone()
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

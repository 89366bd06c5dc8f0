//! Tests of the API: a real engine over a real SQLite store, served on 127.0.0.1:0 and
//! called with a real HTTP client, delivering to a real receiver on 127.0.0.1:0.

use std::time::Duration;

use axum::http::header::{ETAG, IF_MATCH};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::extract::parse_json;
use super::{ApiLimits, EventBatch, StreamSnapshot, router};
use hookline_core::secret::Sealer;
use hookline_engine::http::{HttpSender, SenderConfig};
use hookline_engine::ssrf::NetworkPolicy;
use hookline_engine::{Engine, EngineConfig, EngineEvent, EventInput, WebhookSpec};
use hookline_store::Store as _;
use hookline_test_support::receiver::{Receiver, Reply};
use hookline_test_support::store::TempStore;
use hookline_test_support::{DEFAULT_DEADLINE, eventually};

const TOKEN: &str = "test-token-0123456789";
const MAX_REQUEST_BYTES: usize = 8 * 1024;
const MAX_BATCH: usize = 5;

/// A running engine and API, and a client for it.
struct Harness {
    base: String,
    http: reqwest::Client,
    engine: Engine,
    receiver: Receiver,
    stop: CancellationToken,
    store: TempStore,
}

/// What an API call answered.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    json: Value,
}

impl Answer {
    /// Asserts an error answer and returns its `error` object.
    fn error(&self, status: StatusCode, code: &str) -> &Value {
        assert_eq!(self.status, status, "{:#}", self.json);
        assert_eq!(self.json["error"]["code"], code, "{:#}", self.json);
        assert!(self.json["error"]["message"].is_string(), "{:#}", self.json);
        &self.json["error"]
    }
}

/// An engine over `store` and the API serving it on `127.0.0.1:0`; returns its base URL.
/// `exclusive`: whether it is the store's only daemon (a second one must not end the first
/// one's leases).
async fn serve(store: &TempStore, exclusive: bool) -> (Engine, String, CancellationToken) {
    let limits = ApiLimits {
        max_request_bytes: MAX_REQUEST_BYTES,
        max_admin_request_bytes: MAX_REQUEST_BYTES,
        max_batch: MAX_BATCH,
        ..ApiLimits::default()
    };
    serve_with(store, exclusive, limits).await
}

/// [`serve`] with other limits.
async fn serve_with(
    store: &TempStore,
    exclusive: bool,
    limits: ApiLimits,
) -> (Engine, String, CancellationToken) {
    let sender = HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback()).unwrap();
    let cfg = EngineConfig {
        poll_interval: Duration::from_millis(50),
        retention: None,
        exclusive_store: exclusive,
        ..EngineConfig::default()
    };
    let engine = Engine::start(store.dyn_store(), sender, Sealer::from_bytes(&[7; 32]), cfg)
        .await
        .unwrap();
    engine
        .install_bootstrap_token(TOKEN, "test operator")
        .await
        .unwrap();
    let app = router(engine.clone(), limits);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let stopped = stop.clone();
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stopped.cancelled().await })
            .await
    });
    (engine, format!("http://{addr}"), stop)
}

/// A second daemon sharing a [`Harness`]'s store, as two daemons share one database.
struct SecondDaemon {
    base: String,
    engine: Engine,
    stop: CancellationToken,
}

impl SecondDaemon {
    async fn stop(self) {
        self.engine.shutdown(Duration::from_secs(2)).await;
        self.stop.cancel();
    }
}

impl Harness {
    async fn start() -> Harness {
        let store = TempStore::open("api");
        let (engine, base, stop) = serve(&store, true).await;
        Harness::over(store, engine, base, stop).await
    }

    /// A harness whose API has `limits`.
    async fn start_with(limits: ApiLimits) -> Harness {
        let store = TempStore::open("api");
        let (engine, base, stop) = serve_with(&store, true, limits).await;
        Harness::over(store, engine, base, stop).await
    }

    async fn over(
        store: TempStore,
        engine: Engine,
        base: String,
        stop: CancellationToken,
    ) -> Harness {
        Harness {
            base,
            http: reqwest::Client::new(),
            engine,
            receiver: Receiver::start().await,
            stop,
            store,
        }
    }

    /// Another engine and API over this harness's store.
    async fn second_daemon(&self) -> SecondDaemon {
        let (engine, base, stop) = serve(&self.store, false).await;
        SecondDaemon { base, engine, stop }
    }

    async fn stop(self) {
        self.engine.shutdown(Duration::from_secs(2)).await;
        self.stop.cancel();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Answer {
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.unwrap();
        let json = match body.is_empty() {
            true => Value::Null,
            false => serde_json::from_slice(&body)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body))),
        };
        Answer {
            status,
            headers,
            json,
        }
    }

    async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(self.url(path)).bearer_auth(TOKEN))
            .await
    }

    async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(self.http.post(self.url(path)).bearer_auth(TOKEN).json(body))
            .await
    }

    async fn post_empty(&self, path: &str) -> Answer {
        self.send(self.http.post(self.url(path)).bearer_auth(TOKEN))
            .await
    }

    async fn post_raw(
        &self,
        path: &str,
        content_type: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> Answer {
        let mut request = self.http.post(self.url(path)).bearer_auth(TOKEN).body(body);
        if let Some(ct) = content_type {
            request = request.header(CONTENT_TYPE, ct);
        }
        self.send(request).await
    }

    /// Creates a webhook `id` to the receiver's `/{id}`, subscribed to `task.*`.
    async fn webhook(&self, id: &str) -> Value {
        let a = self
            .post(
                "/v1/webhooks",
                &json!({"id": id, "url": self.receiver.url(&format!("/{id}")), "events": ["task.*"]}),
            )
            .await;
        assert_eq!(a.status, StatusCode::CREATED, "{:#}", a.json);
        a.json
    }

    async fn emit(&self, event: Value) -> Answer {
        self.post("/v1/events", &event).await
    }

    /// The deliveries of `event_id`.
    async fn deliveries_of(&self, event_id: &str) -> Vec<Value> {
        let a = self
            .get(&format!("/v1/deliveries?event_id={event_id}"))
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
        a.json["items"].as_array().unwrap().clone()
    }

    /// Waits until the one delivery of `event_id` has `status`; returns it.
    async fn wait_status(&self, event_id: &str, status: &str) -> Value {
        eventually(
            &format!("a delivery of {event_id} {status}"),
            DEFAULT_DEADLINE,
            || async {
                let items = self.deliveries_of(event_id).await;
                items.into_iter().find(|d| d["status"] == status)
            },
        )
        .await
    }
}

fn task_event(id: Option<&str>) -> Value {
    json!({
        "type": "task.created",
        "id": id,
        "resource": {"id": "t-1", "type": "task", "labels": {"team": "core"}},
        "data": {"title": "write the API", "n": 1}
    })
}

#[tokio::test]
async fn every_route_but_the_probes_needs_a_token() {
    let h = Harness::start().await;

    let a = h.send(h.http.get(h.url("/v1/stats"))).await;
    let e = a.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(e["message"], "missing bearer token");
    assert_eq!(a.headers["www-authenticate"], "Bearer");

    let a = h
        .send(h.http.get(h.url("/v1/stats")).bearer_auth("wrong-token"))
        .await;
    let e = a.error(StatusCode::UNAUTHORIZED, "unauthorized");
    assert_eq!(e["message"], "invalid token");
    assert_eq!(a.headers["www-authenticate"], "Bearer");
    // The token never echoes back.
    assert!(!a.json.to_string().contains("wrong-token"));

    for path in [
        "/v1/webhooks",
        "/v1/deliveries",
        "/metrics",
        "/v1/stream",
        "/v1/tokens",
        "/v1/whoami",
    ] {
        let a = h.send(h.http.get(h.url(path))).await;
        a.error(StatusCode::UNAUTHORIZED, "unauthorized");
    }
    let a = h
        .send(h.http.post(h.url("/v1/events")).json(&task_event(None)))
        .await;
    a.error(StatusCode::UNAUTHORIZED, "unauthorized");

    let a = h.get("/v1/stats").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.json["live"]["uptime_seconds"].is_u64(), "{:#}", a.json);

    let a = h.send(h.http.get(h.url("/healthz"))).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.json, json!({"status": "ok"}));

    // An orchestrator's probe holds no token.
    let a = h.send(h.http.get(h.url("/readyz"))).await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);

    let response = h
        .http
        .get(h.url("/metrics"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text = response.text().await.unwrap();
    assert!(text.contains("hookline_deliveries_pending"), "{text}");
    h.stop().await;
}

#[tokio::test]
async fn readyz_fails_once_shutdown_starts() {
    let h = Harness::start().await;
    h.engine.shutdown(Duration::from_secs(1)).await;
    let a = h.get("/readyz").await;
    a.error(StatusCode::SERVICE_UNAVAILABLE, "shutting_down");
    let a = h.emit(task_event(None)).await;
    a.error(StatusCode::SERVICE_UNAVAILABLE, "shutting_down");
    h.stop.cancel();
}

#[tokio::test]
async fn request_errors_are_json_with_the_right_status() {
    let h = Harness::start().await;

    // Malformed JSON: serde's message with the line and column.
    let a = h
        .post_raw("/v1/events", Some("application/json"), "{\"type\": }")
        .await;
    let e = a.error(StatusCode::BAD_REQUEST, "malformed_json");
    assert!(
        e["message"].as_str().unwrap().contains("line 1 column"),
        "{e}"
    );

    // An unknown field, named.
    let a = h
        .post_raw(
            "/v1/events",
            Some("application/json"),
            r#"{"tyep": "task.created", "resource": {"id": "1", "type": "task"}}"#,
        )
        .await;
    let e = a.error(StatusCode::BAD_REQUEST, "invalid_input");
    assert_eq!(e["field"], "tyep");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `tyep`, expected one of"),
        "{e}"
    );

    // A wrong type, named, also nested.
    let a = h
        .post_raw(
            "/v1/events",
            Some("application/json"),
            r#"{"type": 5, "resource": {"id": "1", "type": "task"}}"#,
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "type"
    );
    let a = h
        .post_raw(
            "/v1/events",
            Some("application/json"),
            r#"{"type": "task.created", "resource": {"id": 1, "type": "task"}}"#,
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "resource.id"
    );

    // An engine validation error on the single-event route names the field as sent.
    let a = h
        .emit(json!({"type": "task..created", "resource": {"id": "1", "type": "task"}}))
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "type"
    );

    // Content type: missing, or not JSON.
    let a = h
        .post_raw("/v1/events", None, task_event(None).to_string())
        .await;
    a.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let a = h
        .post_raw(
            "/v1/events",
            Some("text/plain"),
            task_event(None).to_string(),
        )
        .await;
    a.error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    let a = h
        .post_raw(
            "/v1/events",
            Some("application/json; charset=utf-8"),
            task_event(None).to_string(),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:#}", a.json);

    // Over the body limit, with and without a declared length.
    let big = json!({"type": "task.created", "resource": {"id": "1", "type": "task"},
        "data": {"blob": "x".repeat(MAX_REQUEST_BYTES)}})
    .to_string();
    let a = h
        .post_raw("/v1/events", Some("application/json"), big.clone())
        .await;
    a.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let chunks = big
        .as_bytes()
        .chunks(1024)
        .map(Bytes::copy_from_slice)
        .collect();
    let streamed = reqwest::Body::wrap(Chunked(chunks));
    let a = h
        .post_raw("/v1/events", Some("application/json"), streamed)
        .await;
    a.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    // Routing.
    let a = h.get("/v1/nothing-here").await;
    a.error(StatusCode::NOT_FOUND, "not_found");
    let a = h
        .send(h.http.delete(h.url("/v1/events")).bearer_auth(TOKEN))
        .await;
    a.error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    assert!(
        a.headers["allow"].to_str().unwrap().contains("POST"),
        "{:?}",
        a.headers
    );

    // Webhook validation.
    let a = h
        .post(
            "/v1/webhooks",
            &json!({"url": h.receiver.url("/x"), "events": ["task*"]}),
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "events[0]"
    );
    let a = h
        .post(
            "/v1/webhooks",
            &json!({"url": "http://169.254.169.254/", "events": ["*"]}),
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "ssrf_blocked")["field"],
        "url"
    );
    h.webhook("billing").await;
    let a = h
        .post(
            "/v1/webhooks",
            &json!({"id": "billing", "url": h.receiver.url("/other"), "events": ["*"]}),
        )
        .await;
    a.error(StatusCode::CONFLICT, "conflict");
    let a = h
        .send(
            h.http
                .patch(h.url("/v1/webhooks/billing"))
                .bearer_auth(TOKEN)
                .json(&json!({"max_attempts": "three"})),
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "max_attempts"
    );

    // Unknown records.
    h.get("/v1/webhooks/nope")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    h.get("/v1/deliveries/dlv_nope")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    h.post_empty("/v1/deliveries/dlv_nope/retry")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");

    // Query parameters.
    let a = h.get("/v1/deliveries?status=failed,bogus").await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "status"
    );
    let a = h.get("/v1/deliveries?limit=0").await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "limit"
    );
    let a = h.get("/v1/deliveries?webhok=billing").await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "webhok"
    );
    h.stop().await;
}

/// A body sent in chunks without a declared length (`Transfer-Encoding: chunked`).
struct Chunked(std::collections::VecDeque<Bytes>);

impl hyper::body::Body for Chunked {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        std::task::Poll::Ready(
            self.get_mut()
                .0
                .pop_front()
                .map(|b| Ok(hyper::body::Frame::data(b))),
        )
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        hyper::body::SizeHint::default()
    }
}

#[tokio::test]
async fn an_event_is_delivered_and_its_delivery_shows_the_attempt() {
    let h = Harness::start().await;
    h.webhook("billing").await;

    let a = h.emit(task_event(None)).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:#}", a.json);
    assert_eq!(a.json["deliveries"], 1);
    assert!(a.headers.get("idempotent-replayed").is_none());
    let event_id = a.json["event_id"].as_str().unwrap().to_owned();

    let hit = eventually(
        "the receiver to get the event",
        DEFAULT_DEADLINE,
        || async { h.receiver.requests_to("/billing").into_iter().next() },
    )
    .await;
    let payload: Value = serde_json::from_slice(&hit.body).unwrap();
    assert_eq!(payload["event"], "task.created", "{payload:#}");

    let summary = h.wait_status(&event_id, "delivered").await;
    assert_eq!(summary["webhook_id"], "billing");
    assert_eq!(summary["attempts"], 1);
    assert_eq!(summary["last_status_code"], 200);

    let id = summary["id"].as_str().unwrap();
    let detail = h.get(&format!("/v1/deliveries/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK);
    assert_eq!(detail.json["status"], "delivered");
    let attempts = detail.json["attempts_detail"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{:#}", detail.json);
    assert_eq!(attempts[0]["status_code"], 200);
    assert_eq!(detail.json["payload"]["event"], "task.created");

    let listed = h
        .get("/v1/deliveries?webhook=billing&status=delivered,failed&event_type=task.created&limit=10")
        .await;
    assert_eq!(listed.status, StatusCode::OK);
    assert_eq!(listed.json["items"][0]["id"], id, "{:#}", listed.json);
    assert!(listed.json["next_cursor"].is_null() || listed.json["next_cursor"].is_string());
    let none = h.get("/v1/deliveries?status=failed").await;
    assert_eq!(none.json["items"], json!([]));
    h.stop().await;
}

#[tokio::test]
async fn a_repeated_idempotency_key_returns_the_first_result() {
    let h = Harness::start().await;
    h.webhook("billing").await;

    let first = h.emit(task_event(Some("order-42"))).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert!(first.headers.get("idempotent-replayed").is_none());
    let second = h.emit(task_event(Some("order-42"))).await;
    assert_eq!(second.status, StatusCode::ACCEPTED);
    assert_eq!(second.headers["idempotent-replayed"], "true");
    assert_eq!(first.json, second.json);

    let event_id = first.json["event_id"].as_str().unwrap();
    h.wait_status(event_id, "delivered").await;
    assert_eq!(h.deliveries_of(event_id).await.len(), 1);
    let all = h.get("/v1/deliveries").await;
    assert_eq!(all.json["items"].as_array().unwrap().len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_batch_is_all_or_nothing_and_errors_name_the_index() {
    let h = Harness::start().await;
    h.webhook("billing").await;

    let good = task_event(None);
    let a = h
        .post(
            "/v1/events/batch",
            &json!({"events": [good, good, {"type": "task created", "resource": {"id": "1", "type": "task"}}]}),
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "events[2].type"
    );
    let a = h
        .post(
            "/v1/events/batch",
            &json!({"events": [good, {"tyep": "task.created", "resource": {"id": "1", "type": "task"}}]}),
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "events[1].tyep"
    );
    let a = h.post("/v1/events/batch", &json!({"events": []})).await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "events"
    );
    let a = h
        .post(
            "/v1/events/batch",
            &json!({"events": vec![good.clone(); MAX_BATCH + 1]}),
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "events"
    );

    // Nothing of the refused batches was stored.
    let stats = h.get("/v1/stats").await;
    assert_eq!(stats.json["store"]["events"], 0, "{:#}", stats.json);
    assert_eq!(h.get("/v1/deliveries").await.json["items"], json!([]));

    let a = h
        .post("/v1/events/batch", &json!({"events": [good, good, good]}))
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:#}", a.json);
    let results = a.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for r in results {
        assert_eq!(r["deliveries"], 1);
        h.wait_status(r["event_id"].as_str().unwrap(), "delivered")
            .await;
    }
    assert_eq!(h.receiver.requests_to("/billing").len(), 3);
    h.stop().await;
}

#[tokio::test]
async fn a_paused_webhook_holds_its_deliveries_until_resumed() {
    let h = Harness::start().await;
    h.webhook("billing").await;
    h.webhook("audit").await;

    let a = h.post_empty("/v1/webhooks/billing/pause").await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(a.json["state"], "paused");
    assert_eq!(h.get("/v1/webhooks/billing").await.json["state"], "paused");

    let a = h.emit(task_event(None)).await;
    assert_eq!(a.json["deliveries"], 2);
    let event_id = a.json["event_id"].as_str().unwrap().to_owned();

    // The active webhook got the event: the paused one would have by now, had it not been
    // paused.
    eventually(
        "the active webhook's delivery",
        DEFAULT_DEADLINE,
        || async {
            let items = h.deliveries_of(&event_id).await;
            items
                .iter()
                .any(|d| d["webhook_id"] == "audit" && d["status"] == "delivered")
                .then_some(())
        },
    )
    .await;
    assert!(h.receiver.requests_to("/billing").is_empty());
    let held = h.deliveries_of(&event_id).await;
    let held = held.iter().find(|d| d["webhook_id"] == "billing").unwrap();
    assert_eq!(held["status"], "pending", "{held:#}");
    assert_eq!(held["attempts"], 0);

    let a = h.post_empty("/v1/webhooks/billing/resume").await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(a.json["state"], "active");
    eventually(
        "the resumed webhook's delivery",
        DEFAULT_DEADLINE,
        || async {
            let items = h.deliveries_of(&event_id).await;
            items
                .iter()
                .any(|d| d["webhook_id"] == "billing" && d["status"] == "delivered")
                .then_some(())
        },
    )
    .await;
    assert_eq!(h.receiver.requests_to("/billing").len(), 1);
    h.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_can_be_retried_and_replayed() {
    let h = Harness::start().await;
    h.webhook("billing").await;
    h.receiver.script("/billing", vec![Reply::Status(400)]);

    let a = h.emit(task_event(None)).await;
    let event_id = a.json["event_id"].as_str().unwrap().to_owned();
    let failed = h.wait_status(&event_id, "failed").await;
    assert_eq!(failed["last_status_code"], 400);
    assert_eq!(failed["last_error_kind"], "http_status");
    let id = failed["id"].as_str().unwrap().to_owned();

    // A delivered delivery cannot be retried; a failed one can.
    h.receiver.script("/billing", vec![Reply::Status(200)]);
    let a = h.post_empty(&format!("/v1/deliveries/{id}/retry")).await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(a.json["id"], id);
    let delivered = h.wait_status(&event_id, "delivered").await;
    assert_eq!(delivered["id"], id);
    let detail = h.get(&format!("/v1/deliveries/{id}")).await;
    assert_eq!(detail.json["attempts_detail"].as_array().unwrap().len(), 2);
    let a = h.post_empty(&format!("/v1/deliveries/{id}/retry")).await;
    a.error(StatusCode::CONFLICT, "invalid_state");

    let a = h.post_empty(&format!("/v1/deliveries/{id}/replay")).await;
    assert_eq!(a.status, StatusCode::CREATED, "{:#}", a.json);
    let replay_id = a.json["id"].as_str().unwrap().to_owned();
    assert_ne!(replay_id, id);
    assert_eq!(a.json["event_id"], event_id.as_str());
    eventually("the replay to be delivered", DEFAULT_DEADLINE, || async {
        let d = h.get(&format!("/v1/deliveries/{replay_id}")).await;
        (d.json["status"] == "delivered").then_some(())
    })
    .await;
    assert_eq!(h.receiver.requests_to("/billing").len(), 3);
    h.stop().await;
}

#[tokio::test]
async fn webhooks_crud_and_secret_rotation() {
    let h = Harness::start().await;
    let created = h.webhook("billing").await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let prefix = created["webhook"]["secret_prefix"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(!created.to_string().contains("secret_sealed"));

    let list = h.get("/v1/webhooks").await;
    assert_eq!(list.status, StatusCode::OK);
    assert_eq!(list.json["items"][0]["id"], "billing");
    assert!(
        !list.json.to_string().contains(&secret),
        "the secret leaked"
    );

    let a = h
        .send(
            h.http
                .patch(h.url("/v1/webhooks/billing"))
                .bearer_auth(TOKEN)
                .json(&json!({"description": "billing team", "max_attempts": 3})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(a.json["description"], "billing team");
    assert_eq!(a.json["max_attempts"], 3);

    // Rotation without a body generates a new secret.
    let a = h.post_empty("/v1/webhooks/billing/rotate-secret").await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    let rotated = a.json["secret"].as_str().unwrap();
    assert_ne!(rotated, secret);
    let new_prefix = a.json["webhook"]["secret_prefix"].as_str().unwrap();
    assert_ne!(new_prefix, prefix);
    let shown = h.get("/v1/webhooks/billing").await;
    assert_eq!(shown.json["secret_prefix"], new_prefix);
    assert!(shown.json["previous_secret_expires_at"].is_i64());
    assert!(!shown.json.to_string().contains(rotated));

    // With a body: that secret.
    let a = h
        .post(
            "/v1/webhooks/billing/rotate-secret",
            &json!({"secret": "a-secret-chosen-by-the-operator"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(a.json["secret"], "a-secret-chosen-by-the-operator");
    let a = h
        .post(
            "/v1/webhooks/billing/rotate-secret",
            &json!({"secert": "x"}),
        )
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "secert"
    );

    let a = h
        .send(
            h.http
                .delete(h.url("/v1/webhooks/billing"))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    h.get("/v1/webhooks/billing")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    h.send(
        h.http
            .delete(h.url("/v1/webhooks/billing"))
            .bearer_auth(TOKEN),
    )
    .await
    .error(StatusCode::NOT_FOUND, "not_found");
    h.stop().await;
}

/// Reads server-sent events from a response.
struct SseReader {
    response: reqwest::Response,
    buf: String,
}

impl SseReader {
    /// The next event's name and data (comments skipped).
    async fn next(&mut self) -> (String, String) {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut name = String::new();
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push_str(v);
                    }
                }
                if !name.is_empty() {
                    return (name, data);
                }
                continue;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(10), self.response.chunk())
                .await
                .expect("an event within 10 s")
                .unwrap()
                .expect("the stream to stay open");
            self.buf.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event named `name`, skipping others.
    async fn next_named(&mut self, name: &str) -> String {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let (n, data) = self.next().await;
            if n == name {
                return data;
            }
            assert!(tokio::time::Instant::now() < deadline, "no `{name}` event");
        }
    }
}

#[tokio::test]
async fn the_stream_sends_a_snapshot_then_changes() {
    let h = Harness::start().await;
    h.webhook("billing").await;

    let response = h
        .http
        .get(h.url("/v1/stream"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "text/event-stream");
    let mut sse = SseReader {
        response,
        buf: String::new(),
    };
    let (name, data) = sse.next().await;
    assert_eq!(name, "snapshot");
    let snapshot: StreamSnapshot = serde_json::from_str(&data).unwrap();
    assert_eq!(snapshot.webhooks.len(), 1);
    assert_eq!(snapshot.webhooks[0].id, "billing");
    assert!(snapshot.deliveries.is_empty());

    let a = h.emit(task_event(None)).await;
    let event_id = a.json["event_id"].as_str().unwrap().to_owned();
    let mut statuses = Vec::new();
    while !statuses.iter().any(|s| s == "delivered") {
        let data = sse.next_named("delivery").await;
        match serde_json::from_str::<EngineEvent>(&data).unwrap() {
            EngineEvent::Delivery(change) => {
                assert_eq!(change.event_id, event_id);
                assert_eq!(change.webhook_id, "billing");
                statuses.push(change.status.to_string());
            }
            other => panic!("a `delivery` event carried {other:?}"),
        }
    }

    // Webhook changes and the periodic stats come through too.
    h.post_empty("/v1/webhooks/billing/pause").await;
    let data = sse.next_named("webhook").await;
    let change: EngineEvent = serde_json::from_str(&data).unwrap();
    assert!(
        matches!(&change, EngineEvent::Webhook { id, state, .. } if id == "billing" && state == "paused"),
        "{change:?}"
    );
    let stats: hookline_engine::Stats =
        serde_json::from_str(&sse.next_named("stats").await).unwrap();
    assert_eq!(stats.store.events, 1);
    h.stop().await;
}

// --- JSON error mapping, without a server ---------------------------------------------

fn field_of<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    body: &str,
) -> (String, Option<String>) {
    let api = parse_json::<T>(body.as_bytes()).unwrap_err();
    (api.code().to_owned(), api.field().map(str::to_owned))
}

#[test]
fn serde_errors_name_the_field() {
    let cases: [(&str, &str); 7] = [
        (
            r#"{"type": 5, "resource": {"id": "1", "type": "t"}}"#,
            "type",
        ),
        (
            r#"{"type": "a", "resource": {"id": 1, "type": "t"}}"#,
            "resource.id",
        ),
        (r#"{"type": "a"}"#, "resource"),
        (r#"{"type": "a", "resource": {"id": "x"}}"#, "resource.type"),
        (
            r#"{"resource": {"id": "x\"}]", "type": "t"}, "tyep": 1}"#,
            "tyep",
        ),
        (
            "{\n  \"type\": \"a\",\n  \"resource\": {\"id\": \"1\", \"type\": \"t\",\n \"labels\": {\"k\": 7}}\n}",
            "resource.labels.k",
        ),
        (
            r#"{"type": "a", "resource": {"id": "1", "type": "t"}, "data": 1, "extra": {}}"#,
            "extra",
        ),
    ];
    for (body, field) in cases {
        let (code, got) = field_of::<EventInput>(body);
        assert_eq!(code, "invalid_input", "{body}");
        assert_eq!(got.as_deref(), Some(field), "{body}");
    }
    let batch: [(&str, &str); 3] = [
        (
            r#"{"events": [{"type": "a", "resource": {"id": "1", "type": "t"}}, {"tyep": "a"}]}"#,
            "events[1].tyep",
        ),
        (
            r#"{"events": [{"type": "a", "resource": {"id": "1", "type": "t"}, "data": [1, {"a": 2}]}, {"type": "b", "resource": {"id": "1", "type": "t"}}, {"type": ["x"], "resource": {"id": "1", "type": "t"}}]}"#,
            "events[2].type",
        ),
        (r#"{"events": [{"type": "a"}]}"#, "events[0].resource"),
    ];
    for (body, field) in batch {
        let (code, got) = field_of::<EventBatch>(body);
        assert_eq!(code, "invalid_input", "{body}");
        assert_eq!(got.as_deref(), Some(field), "{body}");
    }
    let (_, got) =
        field_of::<WebhookSpec>(r#"{"url": "http://x", "events": ["*"], "timeout_seconds": -1}"#);
    assert_eq!(got.as_deref(), Some("timeout_seconds"));
    // The whole body of the wrong type: no field.
    for body in ["\"text\"", "5", "null"] {
        let (code, got) = field_of::<EventInput>(body);
        assert_eq!((code.as_str(), got), ("invalid_input", None), "{body}");
    }
}

#[test]
fn syntax_errors_are_malformed_json() {
    for body in [
        "",
        "{",
        "{\"type\": }",
        r#"{"type": "a", "resource": {"id": "1", "type": "t"}} trailing"#,
        "nul",
    ] {
        let api = parse_json::<EventInput>(body.as_bytes()).unwrap_err();
        assert_eq!(api.code(), "malformed_json", "{body:?}");
        assert_eq!(api.status(), StatusCode::BAD_REQUEST);
        assert_eq!(api.field(), None);
    }
}

/// Regressions: the API accepted webhook fields the config file refused (a URL fragment, a
/// timeout at or past the 300 s lease, out-of-range schedules, rate limits and concurrency).
/// Both now call `hookline_core::rules`, so the API refuses the same values, naming the
/// field, with the words the config loader uses.
#[tokio::test]
async fn webhook_fields_follow_the_same_rules_as_the_config_file() {
    use hookline_core::rules;

    let h = Harness::start().await;
    let url = h.receiver.url("/x");
    let cases: Vec<(Value, &str, String)> = vec![
        (
            json!({"url": format!("{url}#frag"), "events": ["*"]}),
            "url",
            rules::check_webhook_url(&format!("{url}#frag"))
                .map(drop)
                .unwrap_err(),
        ),
        (
            json!({"url": url, "events": ["*"], "timeout_seconds": 300}),
            "timeout_seconds",
            rules::check_timeout(300, 300).unwrap_err(),
        ),
        (
            json!({"url": url, "events": ["*"], "timeout_seconds": 3600}),
            "timeout_seconds",
            rules::check_timeout(3600, 300).unwrap_err(),
        ),
        (
            json!({"url": url, "events": ["*"], "retry_schedule_seconds": []}),
            "retry_schedule_seconds",
            rules::check_schedule(&[]).unwrap_err().1,
        ),
        (
            json!({"url": url, "events": ["*"], "retry_schedule_seconds": vec![1; 101]}),
            "retry_schedule_seconds",
            rules::check_schedule(&[1; 101]).unwrap_err().1,
        ),
        (
            json!({"url": url, "events": ["*"], "retry_schedule_seconds": [5, 90000]}),
            "retry_schedule_seconds[1]",
            rules::check_schedule(&[5, 90000]).unwrap_err().1,
        ),
        (
            json!({"url": url, "events": ["*"], "rate_limit_per_second": 0}),
            "rate_limit_per_second",
            "must be between 1 and 1000000, got 0".to_owned(),
        ),
        (
            json!({"url": url, "events": ["*"], "max_concurrency": 5000}),
            "max_concurrency",
            "must be between 1 and 4096, got 5000".to_owned(),
        ),
        (
            json!({"url": url, "events": ["*"], "headers": {"Expect": "100-continue"}}),
            "headers.Expect",
            rules::validate_custom_header("Expect", "100-continue").unwrap_err(),
        ),
        (
            json!({"id": "a b", "url": url, "events": ["*"]}),
            "id",
            rules::check_webhook_id("a b").unwrap_err(),
        ),
    ];
    for (body, field, message) in &cases {
        let a = h.post("/v1/webhooks", body).await;
        let error = a.error(StatusCode::BAD_REQUEST, "invalid_input");
        assert_eq!(error["field"], *field, "{body}");
        assert_eq!(error["message"], *message, "{body}");
    }

    // An update is held to the same rules; 0 still clears a rate or concurrency limit.
    h.webhook("billing").await;
    let patch = |body: Value| {
        h.http
            .patch(h.url("/v1/webhooks/billing"))
            .bearer_auth(TOKEN)
            .json(&body)
    };
    let a = h.send(patch(json!({"timeout_seconds": 301}))).await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "timeout_seconds"
    );
    let a = h
        .send(patch(json!({"rate_limit_per_second": 2_000_000})))
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "rate_limit_per_second"
    );
    let a = h
        .send(patch(
            json!({"rate_limit_per_second": 0, "max_concurrency": 0}),
        ))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    h.stop().await;
}

/// The `ETag` an answer carries.
fn etag(a: &Answer) -> &str {
    a.headers
        .get(ETAG)
        .unwrap_or_else(|| panic!("no ETag: {a:?}"))
        .to_str()
        .unwrap()
}

#[tokio::test]
async fn if_match_guards_every_admin_change_and_each_change_gets_a_new_etag() {
    let h = Harness::start().await;
    let url = h.url("/v1/webhooks/billing");
    let a = h
        .post(
            "/v1/webhooks",
            &json!({"id": "billing", "url": h.receiver.url("/billing"), "events": ["task.*"]}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:#}", a.json);
    assert_eq!(etag(&a), "\"1\"");
    assert_eq!(a.json["webhook"]["version"], 1);
    let a = h.get("/v1/webhooks/billing").await;
    assert_eq!(etag(&a), "\"1\"");
    assert_eq!(a.json["version"], 1);

    let patch = |tag: &str, body: Value| {
        h.http
            .patch(&url)
            .bearer_auth(TOKEN)
            .header(IF_MATCH, tag)
            .json(&body)
    };
    let post = |action: &str, tag: &str| {
        h.http
            .post(format!("{url}/{action}"))
            .bearer_auth(TOKEN)
            .header(IF_MATCH, tag)
    };
    let delete = |tag: &str| h.http.delete(&url).bearer_auth(TOKEN).header(IF_MATCH, tag);
    let stale = |a: Answer, current: u64| {
        let e = a.error(StatusCode::PRECONDITION_FAILED, "precondition_failed");
        let message = e["message"].as_str().unwrap();
        assert!(
            message.contains(&format!("at version {current} (ETag \"{current}\")")),
            "{message}"
        );
    };

    // The version matches: the change applies and the answer has the new ETag.
    let a = h
        .send(patch("\"1\"", json!({"description": "first"})))
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(etag(&a), "\"2\"");
    assert_eq!(a.json["version"], 2);
    assert_eq!(a.json["description"], "first");

    // A stale version: 412 naming the current one, and nothing changes.
    stale(
        h.send(patch("\"1\"", json!({"description": "stale"})))
            .await,
        2,
    );
    let shown = h.get("/v1/webhooks/billing").await;
    assert_eq!(shown.json["description"], "first");
    assert_eq!(etag(&shown), "\"2\"");
    let prefix = shown.json["secret_prefix"].clone();

    stale(h.send(post("rotate-secret", "\"1\"")).await, 2);
    assert_eq!(
        h.get("/v1/webhooks/billing").await.json["secret_prefix"],
        prefix
    );
    let a = h.send(post("rotate-secret", "\"2\"")).await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(etag(&a), "\"3\"");
    assert_eq!(a.json["webhook"]["version"], 3);
    assert_ne!(a.json["webhook"]["secret_prefix"], prefix);

    stale(h.send(post("pause", "\"2\"")).await, 3);
    assert_eq!(h.get("/v1/webhooks/billing").await.json["state"], "active");
    let a = h.send(post("pause", "\"3\"")).await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!((etag(&a), &a.json["state"]), ("\"4\"", &json!("paused")));
    stale(h.send(post("resume", "\"3\"")).await, 4);
    assert_eq!(h.get("/v1/webhooks/billing").await.json["state"], "paused");
    // `*` matches any version.
    let a = h.send(post("resume", "*")).await;
    assert_eq!((etag(&a), &a.json["state"]), ("\"5\"", &json!("active")));
    // Resuming an active webhook changes nothing, so the version stays.
    let a = h.post_empty("/v1/webhooks/billing/resume").await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    assert_eq!(etag(&a), "\"5\"");

    // A tag that can never be a version (weak, unquoted) is a 400 naming the header.
    for tag in ["W/\"5\"", "5", "\"five\""] {
        let a = h.send(patch(tag, json!({"description": "x"}))).await;
        assert_eq!(
            a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
            "If-Match",
            "{tag}"
        );
    }
    assert_eq!(etag(&h.get("/v1/webhooks/billing").await), "\"5\"");

    stale(h.send(delete("\"4\"")).await, 5);
    assert_eq!(h.get("/v1/webhooks/billing").await.status, StatusCode::OK);
    let a = h.send(delete("\"5\"")).await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{:#}", a.json);

    // Gone: every change is a 404, with or without If-Match, and none brings it back.
    h.get("/v1/webhooks/billing")
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    h.send(patch("\"5\"", json!({"description": "back?"})))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    h.send(patch("*", json!({"description": "back?"})))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    for action in ["rotate-secret", "pause", "resume"] {
        h.send(post(action, "\"5\""))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
        h.post_empty(&format!("/v1/webhooks/billing/{action}"))
            .await
            .error(StatusCode::NOT_FOUND, "not_found");
    }
    h.send(delete("\"5\""))
        .await
        .error(StatusCode::NOT_FOUND, "not_found");
    assert!(
        h.store
            .store()
            .get_webhook("billing".into())
            .await
            .unwrap()
            .is_none()
    );
    h.stop().await;
}

/// What one change answered: its version, and the secret shown or the description set.
#[derive(Debug)]
enum Change {
    Rotated(String),
    Patched(String),
}

/// Many callers on two daemons sharing one store PATCH and rotate the same webhook with no
/// If-Match. The old whole-row `INSERT OR REPLACE` let a PATCH that read before a rotation
/// write the old secret back after the rotation had shown the new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_patches_and_rotations_never_lose_a_rotated_secret() {
    const TASKS: usize = 8;
    const ROUNDS: usize = 6;
    let h = Harness::start().await;
    let second = h.second_daemon().await;
    h.webhook("billing").await;
    let bases = [h.base.clone(), second.base.clone()];
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let http = h.http.clone();
        let url = format!("{}/v1/webhooks/billing", bases[t % 2]);
        tasks.spawn(async move {
            let mut changes = Vec::new();
            for r in 0..ROUNDS {
                let rotate = (t + r) % 2 == 0;
                let request = match rotate {
                    true => http.post(format!("{url}/rotate-secret")),
                    false => http
                        .patch(&url)
                        .json(&json!({"description": format!("task {t} round {r}")})),
                };
                let response = request.bearer_auth(TOKEN).send().await.unwrap();
                let status = response.status();
                let body: Value = response.json().await.unwrap();
                assert_eq!(status, StatusCode::OK, "{body:#}");
                changes.push(match rotate {
                    true => (
                        body["webhook"]["version"].as_u64().unwrap(),
                        Change::Rotated(body["secret"].as_str().unwrap().to_owned()),
                    ),
                    false => (
                        body["version"].as_u64().unwrap(),
                        Change::Patched(body["description"].as_str().unwrap().to_owned()),
                    ),
                });
            }
            changes
        });
    }
    let mut changes = Vec::new();
    while let Some(done) = tasks.join_next().await {
        changes.extend(done.unwrap());
    }
    changes.sort_by_key(|(version, _)| *version);

    // Every change was applied once, on top of all the ones before it.
    let n = (TASKS * ROUNDS) as u64;
    assert_eq!(
        changes.iter().map(|(v, _)| *v).collect::<Vec<_>>(),
        (2..=n + 1).collect::<Vec<_>>()
    );
    let rotated: Vec<&str> = changes
        .iter()
        .filter_map(|(_, c)| match c {
            Change::Rotated(secret) => Some(secret.as_str()),
            Change::Patched(_) => None,
        })
        .collect();
    let described = changes.iter().rev().find_map(|(_, c)| match c {
        Change::Patched(d) => Some(d.as_str()),
        Change::Rotated(_) => None,
    });
    let stored = h
        .store
        .store()
        .get_webhook("billing".into())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(stored.version, n + 1);
    let sealer = Sealer::from_bytes(&[7; 32]);
    // The secret stored is the one the last rotation showed, and the one still signing in
    // the grace window is the one the rotation before it showed.
    assert_eq!(
        sealer.open_string(&stored.secret_sealed).unwrap().as_str(),
        rotated[rotated.len() - 1]
    );
    let (previous, _) = stored.previous_secret.as_ref().unwrap();
    assert_eq!(
        sealer.open_string(previous).unwrap().as_str(),
        rotated[rotated.len() - 2]
    );
    assert_eq!(Some(stored.description.as_str()), described);
    second.stop().await;
    h.stop().await;
}

/// Many callers PATCH a webhook on two daemons sharing one store while one DELETEs it: the
/// old whole-row `INSERT OR REPLACE` of a PATCH that read before the DELETE re-created it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_patch_racing_a_delete_never_brings_the_webhook_back() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

    const TASKS: usize = 8;
    let h = Harness::start().await;
    let second = h.second_daemon().await;
    h.webhook("billing").await;
    let patched = Arc::new(AtomicUsize::new(0));
    let deleted = Arc::new(AtomicBool::new(false));
    let bases = [h.base.clone(), second.base.clone()];
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..TASKS {
        let http = h.http.clone();
        let url = format!("{}/v1/webhooks/billing", bases[t % 2]);
        let (patched, deleted) = (patched.clone(), deleted.clone());
        tasks.spawn(async move {
            let mut not_found = 0;
            for r in 0.. {
                let after_delete = deleted.load(SeqCst);
                let response = http
                    .patch(&url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"description": format!("task {t} round {r}")}))
                    .send()
                    .await
                    .unwrap();
                match response.status() {
                    StatusCode::OK => {
                        assert!(
                            !after_delete,
                            "a PATCH sent after the DELETE answered changed the webhook"
                        );
                        assert_eq!(not_found, 0, "the webhook came back after a 404");
                        patched.fetch_add(1, SeqCst);
                    }
                    StatusCode::NOT_FOUND => {
                        // Keep patching a while: each must stay a 404.
                        not_found += 1;
                        if not_found == 5 {
                            return r;
                        }
                    }
                    other => panic!("{other}: {}", response.text().await.unwrap()),
                }
            }
            unreachable!()
        });
    }
    eventually("patches under way", DEFAULT_DEADLINE, || async {
        patched.load(SeqCst) >= 2 * TASKS
    })
    .await;
    let a = h
        .send(
            h.http
                .delete(h.url("/v1/webhooks/billing"))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "{:#}", a.json);
    deleted.store(true, SeqCst);
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }

    assert!(
        h.store
            .store()
            .get_webhook("billing".into())
            .await
            .unwrap()
            .is_none(),
        "the webhook was re-created in the store"
    );
    // Neither daemon shows it: the second learned of the deletion from its PATCHes' 404s.
    for base in &bases {
        let a = h
            .send(
                h.http
                    .get(format!("{base}/v1/webhooks/billing"))
                    .bearer_auth(TOKEN),
            )
            .await;
        a.error(StatusCode::NOT_FOUND, "not_found");
        let list = h
            .send(h.http.get(format!("{base}/v1/webhooks")).bearer_auth(TOKEN))
            .await;
        assert_eq!(list.json["items"], json!([]), "{base}");
    }
    second.stop().await;
    h.stop().await;
}

/// `GET /v1/openapi.json` serves the generated document without a token, and every
/// operation it documents is a route the router serves (with `{id}` some unknown id: a 404
/// of the handler, never the router's `no route` or 405).
#[tokio::test]
async fn the_openapi_document_is_served_and_every_operation_in_it_is_routed() {
    let h = Harness::start().await;
    let response = h.http.get(h.url("/v1/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_TYPE], "application/json");
    let served = response.text().await.unwrap();
    assert_eq!(served, super::openapi_json());

    let doc: Value = serde_json::from_str(&served).unwrap();
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let concrete = path.replace("{id}", "nope");
        for method in item.as_object().unwrap().keys() {
            operations += 1;
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let mut request = h
                .http
                .request(method.clone(), h.url(&concrete))
                .bearer_auth(TOKEN);
            if matches!(method, reqwest::Method::POST | reqwest::Method::PATCH) {
                request = request.json(&json!({}));
            }
            // Headers only: `/v1/stream` never ends.
            let response = request.send().await.unwrap();
            let status = response.status();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            if status == StatusCode::NOT_FOUND {
                let body: Value = response.json().await.unwrap();
                let message = body["error"]["message"].as_str().unwrap_or_default();
                assert!(!message.starts_with("no route"), "{method} {path}: {body}");
            }
        }
    }
    assert!(operations >= 20, "{operations} operations documented");
    h.stop().await;
}

/// URL credentials and sensitive header values are sealed in the store, redacted in every
/// answer, and still sent as they are.
#[tokio::test]
async fn url_credentials_and_sensitive_headers_are_sealed_at_rest_and_redacted_in_views() {
    let h = Harness::start().await;
    let url = h
        .receiver
        .url("/creds")
        .replacen("http://", "http://hook-user:url-pass-7731@", 1);
    let a = h
        .post(
            "/v1/webhooks",
            &json!({"id": "creds", "url": url, "events": ["task.*"], "headers": {
                "Authorization": "Bearer header-token-5521", "X-Team": "billing"}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:#}", a.json);
    for shown in [&a.json["webhook"], &h.get("/v1/webhooks/creds").await.json] {
        assert_eq!(shown["headers"]["Authorization"], "[redacted]", "{shown:#}");
        assert_eq!(shown["headers"]["X-Team"], "billing", "{shown:#}");
        let shown_url = shown["url"].as_str().unwrap();
        assert!(shown_url.contains("hook-user:[redacted]@"), "{shown_url}");
    }
    let listed = h.get("/v1/webhooks").await.json.to_string();
    for secret in ["url-pass-7731", "header-token-5521"] {
        assert!(!listed.contains(secret), "{secret} in {listed}");
    }
    // At rest: sealed values, neither credential readable.
    let stored = h
        .store
        .dyn_store()
        .get_webhook("creds".into())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.url.starts_with("v1:aesgcm:"), "{}", stored.url);
    assert!(stored.headers["Authorization"].starts_with("v1:aesgcm:"));
    assert_eq!(stored.headers["X-Team"], "billing");
    // Sent as given: the receiver sees the real header (and the request arrives).
    h.emit(task_event(None)).await;
    let got = h.receiver.wait_for_requests("/creds", 1).await;
    assert_eq!(
        got[0].header("authorization"),
        Some("Bearer header-token-5521")
    );
    // A change keeps them sealed.
    let a = h
        .send(
            h.http
                .patch(h.url("/v1/webhooks/creds"))
                .bearer_auth(TOKEN)
                .json(&json!({"description": "changed"})),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    let stored = h
        .store
        .dyn_store()
        .get_webhook("creds".into())
        .await
        .unwrap()
        .unwrap();
    assert!(stored.url.starts_with("v1:aesgcm:"), "{}", stored.url);
    assert!(stored.headers["Authorization"].starts_with("v1:aesgcm:"));
    h.stop().await;
}

/// A token of `scope` created through the engine; returns its secret.
async fn token_of(h: &Harness, scope: hookline_engine::TokenScope) -> String {
    h.engine
        .create_token(&format!("{scope} test"), scope)
        .await
        .unwrap()
        .secret
}

/// The status of `verb path` with `token` (a JSON `{}` body on writes); the body is not read
/// (the stream never ends).
async fn status_of(h: &Harness, route: &super::Route, token: Option<&str>) -> (StatusCode, Value) {
    let path = route.path.replace("{id}", "no-such-id");
    let mut request = h.http.request(route.verb.method(), h.url(&path));
    if route.verb != super::Verb::Get {
        request = request.json(&json!({}));
    }
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let json = match status {
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => response.json().await.unwrap(),
        _ => Value::Null,
    };
    (status, json)
}

/// The scope matrix, route by route from the route table itself: every route refuses a
/// request without a token (but the probes), and answers each scope's token either past
/// the gate (any status but 401 and 403) or 403 `insufficient_scope` naming both scopes.
#[tokio::test]
async fn every_route_checks_its_scope() {
    use super::auth::{Access, permits};
    use hookline_engine::TokenScope;
    let h = Harness::start().await;
    let tokens = [
        (TokenScope::Ingest, token_of(&h, TokenScope::Ingest).await),
        (TokenScope::Read, token_of(&h, TokenScope::Read).await),
        (TokenScope::Admin, token_of(&h, TokenScope::Admin).await),
    ];
    let mut checked = 0;
    for route in super::routes() {
        let name = format!("{:?} {}", route.verb, route.path);
        let (status, json) = status_of(&h, &route, None).await;
        match route.access {
            Access::Public => assert_eq!(status, StatusCode::OK, "{name}"),
            _ => assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}: {json:#}"),
        }
        let (status, _) = status_of(&h, &route, Some("hl_read_not-a-token")).await;
        if route.access != Access::Public {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{name}");
        }
        for (scope, secret) in &tokens {
            let (status, json) = status_of(&h, &route, Some(secret)).await;
            if permits(route.access, *scope) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{name} with a {scope} token: {status}"
                );
            } else {
                assert_eq!(status, StatusCode::FORBIDDEN, "{name} with a {scope} token");
                assert_eq!(json["error"]["code"], "insufficient_scope", "{json:#}");
                let message = json["error"]["message"].as_str().unwrap();
                let Access::Scope(needed) = route.access else {
                    panic!("{name}: only a scoped route refuses a valid token")
                };
                assert!(
                    message.contains(&format!("the `{needed}` scope")),
                    "{message}"
                );
                assert!(
                    message.contains(&format!("has the `{scope}` scope")),
                    "{message}"
                );
                assert!(!message.contains(secret.as_str()), "{message}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 60, "{checked}");
    // The disjoint pair, spelled out.
    let read = &tokens[1].1;
    let a = h
        .send(
            h.http
                .post(h.url("/v1/events"))
                .bearer_auth(read)
                .json(&task_event(None)),
        )
        .await;
    let e = a.error(StatusCode::FORBIDDEN, "insufficient_scope");
    assert!(e["message"].as_str().unwrap().contains("`ingest`"), "{e:#}");
    assert_eq!(
        a.headers["www-authenticate"],
        "Bearer error=\"insufficient_scope\", scope=\"ingest\""
    );
    let ingest = &tokens[0].1;
    let a = h
        .send(
            h.http
                .post(h.url("/v1/events"))
                .bearer_auth(ingest)
                .json(&task_event(None)),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:#}", a.json);
    h.stop().await;
}

#[tokio::test]
async fn tokens_are_created_listed_revoked_and_stored_hashed() {
    let h = Harness::start().await;
    let a = h
        .post("/v1/tokens", &json!({"name": "console", "scope": "read"}))
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:#}", a.json);
    let secret = a.json["secret"].as_str().unwrap().to_owned();
    let id = a.json["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("hl_read_"), "{secret}");
    assert_eq!(a.json["scope"], "read");

    let who = h
        .send(h.http.get(h.url("/v1/whoami")).bearer_auth(&secret))
        .await;
    assert_eq!(
        who.json,
        json!({"id": id, "name": "console", "scope": "read"})
    );
    let me = h.get("/v1/whoami").await;
    assert_eq!(me.json["id"], "tok_bootstrap");
    assert_eq!(me.json["scope"], "admin");

    let list = h.get("/v1/tokens").await;
    let items = list.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{:#}", list.json);
    assert!(!list.json.to_string().contains(&secret));
    assert!(!list.json.to_string().contains(TOKEN));
    let console = items.iter().find(|t| t["id"] == id.as_str()).unwrap();
    assert!(console["last_used_at"].is_i64(), "{console:#}");
    assert!(console.get("secret").is_none());

    // Bad requests name the field.
    let a = h
        .post("/v1/tokens", &json!({"name": "", "scope": "read"}))
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "name"
    );
    let a = h
        .post("/v1/tokens", &json!({"name": "x", "scope": "root"}))
        .await;
    assert_eq!(
        a.error(StatusCode::BAD_REQUEST, "invalid_input")["field"],
        "scope"
    );

    // The store holds the digest only.
    let db = std::fs::read(h.store.db_path()).unwrap_or_default();
    let mut wal = h.store.db_path().into_os_string();
    wal.push("-wal");
    let wal = std::fs::read(wal).unwrap_or_default();
    for bytes in [&db, &wal] {
        let text = String::from_utf8_lossy(bytes);
        assert!(!text.contains(&secret), "the secret is in the store");
        assert!(!text.contains(TOKEN), "the bootstrap token is in the store");
    }
    let digest = hookline_core::token::TokenDigest::of(&secret);
    assert!(
        db.windows(32).any(|w| w == digest.as_bytes())
            || wal.windows(32).any(|w| w == digest.as_bytes()),
        "the digest is stored"
    );

    // Revoked: refused from the next request on.
    let a = h
        .send(
            h.http
                .delete(h.url(&format!("/v1/tokens/{id}")))
                .bearer_auth(TOKEN),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    let a = h
        .send(h.http.get(h.url("/v1/stats")).bearer_auth(&secret))
        .await;
    a.error(StatusCode::UNAUTHORIZED, "unauthorized");
    let a = h
        .send(
            h.http
                .delete(h.url(&format!("/v1/tokens/{id}")))
                .bearer_auth(TOKEN),
        )
        .await;
    a.error(StatusCode::NOT_FOUND, "not_found");
    h.stop().await;
}

#[tokio::test]
async fn the_last_admin_token_cannot_be_revoked() {
    let h = Harness::start().await;
    let a = h
        .send(
            h.http
                .delete(h.url("/v1/tokens/tok_bootstrap"))
                .bearer_auth(TOKEN),
        )
        .await;
    let e = a.error(StatusCode::CONFLICT, "invalid_state");
    assert!(
        e["message"].as_str().unwrap().contains("last admin token"),
        "{e:#}"
    );
    // With a second admin, the first can go; then the second is the last.
    let second = h
        .post("/v1/tokens", &json!({"name": "ops", "scope": "admin"}))
        .await;
    let secret = second.json["secret"].as_str().unwrap().to_owned();
    let id = second.json["id"].as_str().unwrap().to_owned();
    let a = h
        .send(
            h.http
                .delete(h.url("/v1/tokens/tok_bootstrap"))
                .bearer_auth(&secret),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    h.get("/v1/stats")
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    let a = h
        .send(
            h.http
                .delete(h.url(&format!("/v1/tokens/{id}")))
                .bearer_auth(&secret),
        )
        .await;
    a.error(StatusCode::CONFLICT, "invalid_state");
    // A restart with the same bootstrap token keeps it revoked.
    let outcome = h
        .engine
        .install_bootstrap_token(TOKEN, "test operator")
        .await
        .unwrap();
    assert_eq!(outcome, hookline_engine::BootstrapToken::Revoked);
    h.get("/v1/stats")
        .await
        .error(StatusCode::UNAUTHORIZED, "unauthorized");
    h.stop().await;
}

/// Whether the answer carries a request id the daemon made (`req_…`).
fn has_generated_id(a: &Answer) -> bool {
    a.headers["x-request-id"]
        .to_str()
        .is_ok_and(|id| id.starts_with("req_"))
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let h = Harness::start().await;
    let a = h.get("/v1/stats").await;
    let id = a.headers["x-request-id"].to_str().unwrap().to_owned();
    assert!(id.starts_with("req_") && id.len() > 10, "{id}");
    let b = h.get("/v1/stats").await;
    assert_ne!(
        b.headers["x-request-id"],
        id.as_str(),
        "a new id per request"
    );
    // Errors too: refused by the gate, or by the router.
    let a = h.send(h.http.get(h.url("/v1/stats"))).await;
    assert!(has_generated_id(&a), "{:?}", a.headers);
    let a = h.get("/v1/nowhere").await;
    assert!(has_generated_id(&a), "{:?}", a.headers);
    // A client's own id comes back; an unusable one is replaced.
    let a = h
        .send(
            h.http
                .get(h.url("/healthz"))
                .header("x-request-id", "trace-42/abc"),
        )
        .await;
    assert_eq!(a.headers["x-request-id"], "trace-42/abc");
    let long = "x".repeat(129);
    let a = h
        .send(h.http.get(h.url("/healthz")).header("x-request-id", &long))
        .await;
    assert!(has_generated_id(&a), "{:?}", a.headers);
    let a = h
        .send(
            h.http
                .get(h.url("/healthz"))
                .header("x-request-id", "two words"),
        )
        .await;
    assert!(has_generated_id(&a), "{:?}", a.headers);
    h.stop().await;
}

/// A request body that never ends until the returned writer writes and drops: the handler
/// waits on it while holding its place.
fn endless_body() -> (reqwest::Body, tokio::io::DuplexStream) {
    let (reader, writer) = tokio::io::duplex(64);
    let stream = tokio_util::io::ReaderStream::new(reader);
    (reqwest::Body::wrap_stream(stream), writer)
}

/// Each route has its body limit: the event routes `max_request_bytes`, the others
/// `max_admin_request_bytes`; the 413 names the route and the setting.
#[tokio::test]
async fn body_limits_are_per_route_and_named_in_the_error() {
    let h = Harness::start_with(ApiLimits {
        max_request_bytes: 64 * 1024,
        max_admin_request_bytes: 2 * 1024,
        ..ApiLimits::default()
    })
    .await;
    let pad = "x".repeat(4 * 1024);
    // 4 KiB is fine for an event, over the admin limit for a webhook.
    let a = h
        .post(
            "/v1/events",
            &json!({"type": "task.created", "resource": {"id": "t", "type": "task"}, "data": {"pad": pad}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:#}", a.json);
    let a = h
        .post(
            "/v1/webhooks",
            &json!({"url": h.receiver.url("/x"), "events": ["task.*"], "description": pad}),
        )
        .await;
    let e = a.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let message = e["message"].as_str().unwrap();
    assert!(
        message.contains("2048 byte limit of POST /v1/webhooks (server.max_admin_request_bytes)"),
        "{message}"
    );
    let big = "x".repeat(70 * 1024);
    let a = h
        .post(
            "/v1/events",
            &json!({"type": "task.created", "resource": {"id": "t", "type": "task"}, "data": {"pad": big}}),
        )
        .await;
    let e = a.error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("of POST /v1/events (server.max_request_bytes)"),
        "{e}"
    );
    h.stop().await;
}

/// Past `max_concurrent_requests` in flight a request is shed at once with 503 `overloaded`
/// and `Retry-After`; the probes still answer; once the slot frees, requests pass again.
#[tokio::test]
async fn requests_past_the_concurrency_limit_are_shed_with_retry_after() {
    let h = Harness::start_with(ApiLimits {
        max_concurrent_requests: 1,
        ..ApiLimits::default()
    })
    .await;
    let (body, feed) = endless_body();
    let held = tokio::spawn(
        h.http
            .post(h.url("/v1/webhooks"))
            .bearer_auth(TOKEN)
            .header(CONTENT_TYPE, "application/json")
            .body(body)
            .send(),
    );
    // Wait until the held request has its slot: then another one is shed.
    let shed = eventually("a request shed", DEFAULT_DEADLINE, || async {
        let a = h.get("/v1/stats").await;
        (a.status == StatusCode::SERVICE_UNAVAILABLE).then_some(a)
    })
    .await;
    let e = shed.error(StatusCode::SERVICE_UNAVAILABLE, "overloaded");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("server.max_concurrent_requests"),
        "{e}"
    );
    assert_eq!(shed.headers["retry-after"], "1");
    let probe = h.send(h.http.get(h.url("/readyz"))).await;
    assert_eq!(probe.status, StatusCode::OK, "{:#}", probe.json);
    // The held request ends (its body ends, malformed): the slot is free again.
    let mut feed = feed;
    tokio::io::AsyncWriteExt::write_all(&mut feed, b"{")
        .await
        .unwrap();
    drop(feed);
    let answer = held.await.unwrap().unwrap();
    assert_eq!(answer.status(), StatusCode::BAD_REQUEST);
    let a = h.get("/v1/stats").await;
    assert_eq!(a.status, StatusCode::OK, "{:#}", a.json);
    h.stop().await;
}

/// A request that takes longer than `request_timeout` is answered 503 `timeout`.
#[tokio::test]
async fn a_request_over_the_timeout_is_answered_503_timeout() {
    let h = Harness::start_with(ApiLimits {
        request_timeout: Duration::from_millis(300),
        ..ApiLimits::default()
    })
    .await;
    let (body, _feed) = endless_body();
    let a = h
        .send(
            h.http
                .post(h.url("/v1/webhooks"))
                .bearer_auth(TOKEN)
                .header(CONTENT_TYPE, "application/json")
                .body(body),
        )
        .await;
    let e = a.error(StatusCode::SERVICE_UNAVAILABLE, "timeout");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("server.request_timeout_seconds"),
        "{e}"
    );
    // The stream is not cut by the timeout: its answer starts and stays open.
    let response = h
        .http
        .get(h.url("/v1/stream"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    h.stop().await;
}

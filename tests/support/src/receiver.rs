//! A programmable webhook receiver: an axum server on `127.0.0.1:0`, in the test's own
//! tokio runtime, that answers each path with a scripted sequence of replies and records
//! every request (headers, body, arrival time) for assertions.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use hookline_test_support::receiver::{Receiver, Reply};
//! let receiver = Receiver::start().await;
//! receiver.script("/hook", vec![Reply::Status(503), Reply::Status(200)]);
//! let url = receiver.url("/hook"); // give this to a webhook
//! assert!(url.starts_with("http://127.0.0.1:"));
//! assert!(receiver.requests_to("/hook").is_empty());
//! # }
//! ```

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use bytes::Bytes;
use serde_json::Value;
use tokio::task::JoinHandle;

use crate::wait::{DEFAULT_DEADLINE, eventually};

/// One scripted answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// Answer this status at once (empty body).
    Status(u16),
    /// Wait, then answer this status.
    Delayed(Duration, u16),
    /// `302 Found` with this `Location` (an absolute URL or a path).
    Redirect(String),
    /// Never answer; the request hangs until the client gives up.
    Hang,
    /// Answer this status, with these headers and body.
    Body(u16, Vec<(String, String)>, Bytes),
    /// Answer 200 with the client's address (`ip:port`) as the body, which tells
    /// connections apart.
    Peer,
    /// Answer this status to the first request of each delivery (told apart by its
    /// `X-Webhook-ID` / `webhook-id` header), 200 to the ones after: a flaky receiver that
    /// makes every delivery go through one retry.
    FailFirstAttempt(u16),
}

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// The request path.
    pub path: String,
    /// The method.
    pub method: String,
    /// Every header, names lower case, in arrival order.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Bytes,
    /// When it arrived.
    pub at: Instant,
    /// What the receiver answered (`None` for [`Reply::Hang`]).
    pub replied: Option<u16>,
}

impl Recorded {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The value of header `name`, failing the test when it is missing.
    pub fn expect_header(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| {
            panic!(
                "request to {} has no `{name}` header; headers: {:?}",
                self.path, self.headers
            )
        })
    }

    /// The body parsed as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "request body to {} is not JSON ({e}): {}",
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// `resource.id` of the origin-format body, if any.
    pub fn resource_id(&self) -> Option<String> {
        serde_json::from_slice::<Value>(&self.body)
            .ok()?
            .pointer("/resource/id")?
            .as_str()
            .map(str::to_owned)
    }
}

#[derive(Debug, Default)]
struct Script {
    replies: Vec<Reply>,
    next: usize,
}

impl Script {
    /// The next reply; past the end, the last one repeats; no script answers 200.
    fn next(&mut self) -> Reply {
        let reply = match self.replies.get(self.next) {
            Some(r) => r.clone(),
            None => self.replies.last().cloned().unwrap_or(Reply::Status(200)),
        };
        self.next += 1;
        reply
    }
}

#[derive(Debug, Default)]
struct Shared {
    scripts: HashMap<String, Script>,
    requests: Vec<Recorded>,
    /// Delivery ids seen, for [`Reply::FailFirstAttempt`].
    seen_ids: HashSet<String>,
}

/// The receiver. Dropping it stops the server.
#[derive(Debug)]
pub struct Receiver {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    server: JoinHandle<()>,
}

fn lock(shared: &Mutex<Shared>) -> MutexGuard<'_, Shared> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl Receiver {
    /// Starts a receiver on `127.0.0.1:0`. Every path answers 200 until scripted.
    pub async fn start() -> Receiver {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the receiver");
        let addr = listener.local_addr().expect("receiver address");
        let shared = Arc::new(Mutex::new(Shared::default()));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let server = tokio::spawn(async move {
            let app = app.into_make_service_with_connect_info::<SocketAddr>();
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            addr,
            shared,
            server,
        }
    }

    /// Scripts `path`: the replies in order, the last one repeating.
    pub fn script(&self, path: &str, replies: Vec<Reply>) {
        assert!(!replies.is_empty(), "a script needs at least one reply");
        lock(&self.shared)
            .scripts
            .insert(path.to_owned(), Script { replies, next: 0 });
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The address it listens on (`127.0.0.1:<port>`).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Every request so far, in arrival order.
    pub fn requests(&self) -> Vec<Recorded> {
        lock(&self.shared).requests.clone()
    }

    /// The requests to `path` so far.
    pub fn requests_to(&self, path: &str) -> Vec<Recorded> {
        lock(&self.shared)
            .requests
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` got at least `n` requests, and returns them.
    pub async fn wait_for_requests(&self, path: &str, n: usize) -> Vec<Recorded> {
        eventually(
            &format!("{n} request(s) to {path}"),
            DEFAULT_DEADLINE,
            async || {
                let got = self.requests_to(path);
                match got.len() >= n {
                    true => Ok(got),
                    false => Err(format!("{} request(s)", got.len())),
                }
            },
        )
        .await
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(shared): State<Arc<Mutex<Shared>>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let at = Instant::now();
    let path = uri.path().to_owned();
    let reply = {
        let mut s = lock(&shared);
        let mut reply = s.scripts.entry(path.clone()).or_default().next();
        if let Reply::FailFirstAttempt(code) = reply {
            let id = headers
                .get("x-webhook-id")
                .or_else(|| headers.get("webhook-id"))
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
                .unwrap_or_default();
            let first = s.seen_ids.insert(id);
            reply = Reply::Status(if first { code } else { 200 });
        }
        let replied = match &reply {
            Reply::Status(code)
            | Reply::Delayed(_, code)
            | Reply::FailFirstAttempt(code)
            | Reply::Body(code, _, _) => Some(*code),
            Reply::Redirect(_) => Some(302),
            Reply::Peer => Some(200),
            Reply::Hang => None,
        };
        s.requests.push(Recorded {
            path,
            method: method.to_string(),
            headers: headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_owned(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body,
            at,
            replied,
        });
        reply
    };
    let status = |code: u16| StatusCode::from_u16(code).expect("a valid scripted status");
    match reply {
        Reply::Status(code) | Reply::FailFirstAttempt(code) => empty(status(code)),
        Reply::Delayed(delay, code) => {
            tokio::time::sleep(delay).await;
            empty(status(code))
        }
        Reply::Redirect(location) => Response::builder()
            .status(StatusCode::FOUND)
            .header("location", location)
            .body(Body::empty())
            .expect("a redirect response"),
        Reply::Body(code, headers, body) => {
            let mut response = Response::builder().status(status(code));
            for (name, value) in headers {
                response = response.header(name, value);
            }
            response
                .body(Body::from(body))
                .expect("a scripted response")
        }
        Reply::Peer => Response::new(Body::from(peer.to_string())),
        Reply::Hang => std::future::pending().await,
    }
}

fn empty(status: StatusCode) -> Response {
    Response::builder()
        .status(status)
        .body(Body::empty())
        .expect("an empty response")
}

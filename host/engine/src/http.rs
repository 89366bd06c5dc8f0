//! The outbound HTTP sender: one delivery attempt, start to finish.
//!
//! - [`HttpSender`] owns the one shared HTTP client (rustls, HTTP/1.1, a large keep-alive
//!   pool, no redirects, no proxy, the SSRF [`GuardedResolver`]) and turns one
//!   [`OutboundRequest`] into one [`AttemptOutcome`]. It never fails and never panics: every
//!   failure is an outcome with an [`ErrorKind`] and a [`Verdict`].
//! - [`PreparedHeaders`] / [`build_headers`] assemble the request headers: content type,
//!   user agent, the signature headers from [`hookline_core::signing::signature_headers`], and the
//!   webhook's custom headers, which can never replace the headers Hookline sets
//!   ([`validate_custom_header`] rejects them early, with a reason).
//! - [`redact_headers`] turns the sent headers into what the store keeps: signatures and
//!   credentials replaced by [`REDACTED`].
//!
//! What an attempt can end as:
//!
//! | Outcome | Kind | Verdict |
//! |---|---|---|
//! | 2xx | none | `Success` |
//! | 3xx (never followed) | `Redirect` | `Permanent` |
//! | other status | `HttpStatus` | [`classify_status`]: `Retryable` (≥ 500, 408, 429), `Gone` (410), else `Permanent` |
//! | no answer within the timeout | `Timeout` | `Retryable` |
//! | refused, reset, DNS or TLS failure before the request went out | `Connect` | `Retryable` |
//! | the connection broke during the exchange | `Transport` | `Retryable` |
//! | destination refused by the SSRF guard | `SsrfBlocked` | `Permanent` |
//! | not an http/https URL | `InvalidUrl` | `Permanent` |
//! | body over the payload limit (nothing sent) | `PayloadTooLarge` | `Permanent` |
//!
//! ```
//! use std::collections::BTreeMap;
//! use hookline_engine::http::build_headers;
//!
//! let signature = vec![
//!     ("X-Webhook-ID", "dlv_1".to_owned()),
//!     ("X-Webhook-Timestamp", "1700000000".to_owned()),
//!     ("X-Webhook-Signature", "sha256=abc".to_owned()),
//! ];
//! let mut custom = BTreeMap::new();
//! custom.insert("X-Team".to_owned(), "billing".to_owned());
//! custom.insert("x-webhook-signature".to_owned(), "forged".to_owned()); // dropped
//! let headers = build_headers(signature, &custom, Some("Hookline/1"));
//! assert_eq!(headers["x-webhook-signature"], "sha256=abc");
//! assert_eq!(headers["x-team"], "billing");
//! assert_eq!(headers["content-type"], "application/json");
//! ```

use std::collections::BTreeMap;
use std::error::Error as StdError;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{self, HeaderMap, HeaderName, HeaderValue};
use tokio::time::Instant;

use crate::ssrf::{GuardedResolver, NetworkPolicy, ResolveError, SsrfError};
use hookline_core::model::ErrorKind;
use hookline_core::retry::{Verdict, classify_status, parse_retry_after};
pub use hookline_core::rules::validate_custom_header;
use hookline_core::rules::{
    SIGNATURE_HEADERS, SIGNATURE_VALUE_HEADERS, is_sensitive, parse_custom_header,
};

/// The `User-Agent` sent unless configured otherwise.
pub const DEFAULT_USER_AGENT: &str = concat!("Hookline/", env!("CARGO_PKG_VERSION"));
pub use hookline_core::rules::DEFAULT_MAX_PAYLOAD_BYTES;
/// At most this much of a response is read (the origin's 1 MiB); the rest is discarded.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
/// The response excerpt kept with an attempt: 20 KiB.
pub const EXCERPT_BYTES: usize = 20 * 1024;
/// What a redacted header value is replaced with.
pub const REDACTED: &str = "[redacted]";

/// The default `Content-Type` of a delivery.
fn application_json() -> HeaderValue {
    HeaderValue::from_static("application/json")
}

/// How the sender behaves; one per process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SenderConfig {
    /// `User-Agent` of every request (a webhook's custom headers may replace it).
    pub user_agent: String,
    /// Bodies larger than this are refused without sending.
    pub max_payload_bytes: usize,
    /// At most this many bytes of a response are read (the SEED's 1 MiB).
    pub max_response_bytes: usize,
    /// The first this-many bytes of a response are kept as its excerpt.
    pub excerpt_bytes: usize,
    /// Idle keep-alive connections kept per host.
    pub pool_idle_per_host: usize,
    /// How long an idle connection is kept.
    pub pool_idle_timeout: Duration,
    /// Bound on establishing a connection (TCP and TLS); the attempt's own timeout bounds it
    /// too.
    pub connect_timeout: Duration,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            user_agent: DEFAULT_USER_AGENT.to_owned(),
            max_payload_bytes: DEFAULT_MAX_PAYLOAD_BYTES,
            max_response_bytes: MAX_RESPONSE_BYTES,
            excerpt_bytes: EXCERPT_BYTES,
            // Deliveries go to few hosts at high rates: keep plenty of warm connections.
            pool_idle_per_host: 1024,
            // Below the common 60 s server-side keep-alive limits, so a pooled connection is
            // rarely closed by the receiver just as we reuse it.
            pool_idle_timeout: Duration::from_secs(50),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// The sender could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// The configured user agent is not a valid header value.
    #[error("user agent `{0}` is not a valid HTTP header value")]
    UserAgent(String),
    /// The HTTP client could not be built (TLS setup).
    #[error("could not build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

/// A destination the SSRF guard has accepted (scheme, host, literal address), parsed once:
/// made only by [`HttpSender::check_url`], for a URL that many requests go to. Names are
/// still resolved and vetted on every new connection.
#[derive(Debug, Clone)]
pub struct CheckedUrl(reqwest::Url);

/// One request to send. Built per attempt; nothing in it is copied on the way out.
#[derive(Debug)]
pub struct OutboundRequest<'a> {
    /// Destination; checked by the SSRF guard before anything is sent.
    pub url: &'a str,
    /// `url` already checked (and parsed) by [`HttpSender::check_url`]: spares the parse.
    pub checked: Option<&'a CheckedUrl>,
    /// The exact bytes to send (and that were signed).
    pub body: Bytes,
    /// Every header to send, from [`PreparedHeaders::build`] or [`build_headers`].
    pub headers: HeaderMap,
    /// Bound on the whole attempt: connecting, sending, and reading the answer.
    pub timeout: Duration,
    /// Wall time of the attempt (the engine's clock): a `Retry-After` date is read against it.
    pub sent_at: SystemTime,
}

/// What one attempt came to. Every failure is here; [`HttpSender::send`] has no error path.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptOutcome {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    /// What the outcome means for the delivery.
    pub verdict: Verdict,
    /// The receiver's `Retry-After`, on a non-2xx answer that carried one.
    pub retry_after: Option<Duration>,
    /// Why it failed, when it did: a stable kind and a sentence for people.
    pub error: Option<(ErrorKind, String)>,
    /// The start of the response body (at most [`SenderConfig::excerpt_bytes`]), decoded
    /// lossily; `None` when the body was empty or there was no answer.
    pub response_excerpt: Option<String>,
    /// From the call to [`HttpSender::send`] until the outcome was known.
    pub duration: Duration,
}

impl AttemptOutcome {
    /// A failure decided before or instead of sending (an unreadable secret, a plugin
    /// error…): no status, verdict [`Verdict::Permanent`], zero duration.
    pub fn local_failure(kind: ErrorKind, message: String) -> AttemptOutcome {
        AttemptOutcome::failed(kind, Verdict::Permanent, message)
    }

    fn failed(kind: ErrorKind, verdict: Verdict, message: String) -> AttemptOutcome {
        AttemptOutcome {
            status: None,
            verdict,
            retry_after: None,
            error: Some((kind, message)),
            response_excerpt: None,
            duration: Duration::ZERO,
        }
    }

    /// The error kind, if the attempt failed.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        self.error.as_ref().map(|(kind, _)| *kind)
    }

    /// The error message, if the attempt failed.
    pub fn error_message(&self) -> Option<&str> {
        self.error.as_ref().map(|(_, message)| message.as_str())
    }

    /// Whether the receiver accepted the delivery.
    pub fn is_success(&self) -> bool {
        self.verdict == Verdict::Success
    }
}

/// Sends delivery attempts. Cheap to clone: clones share one client and its connection pool.
#[derive(Debug, Clone)]
pub struct HttpSender {
    client: reqwest::Client,
    policy: Arc<NetworkPolicy>,
    config: Arc<SenderConfig>,
    user_agent: HeaderValue,
}

impl HttpSender {
    /// Builds the shared client: rustls, HTTP/1.1 only, keep-alive pool, `TCP_NODELAY`,
    /// redirects never followed, no proxy (not even from the environment: a proxy would
    /// connect on our behalf and bypass the SSRF guard), no client-side retries (one attempt
    /// is one request), and DNS through [`GuardedResolver`] enforcing `policy`.
    pub fn new(config: SenderConfig, policy: NetworkPolicy) -> Result<HttpSender, SenderError> {
        let user_agent = HeaderValue::from_str(&config.user_agent)
            .map_err(|_| SenderError::UserAgent(config.user_agent.clone()))?;
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .tls_backend_rustls()
            .http1_only()
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .no_proxy()
            .dns_resolver(GuardedResolver::new(Arc::clone(&policy)))
            // Requests whose headers carry no `User-Agent` get the configured one.
            .user_agent(user_agent.clone())
            .tcp_nodelay(true)
            .tcp_keepalive(Duration::from_secs(60))
            .pool_max_idle_per_host(config.pool_idle_per_host)
            .pool_idle_timeout(config.pool_idle_timeout)
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(SenderError::Client)?;
        Ok(HttpSender {
            client,
            policy,
            config: Arc::new(config),
            user_agent,
        })
    }

    /// Checks a destination once for many requests (see [`CheckedUrl`]).
    pub fn check_url(&self, url: &str) -> Result<CheckedUrl, SsrfError> {
        self.policy.check_url(url).map(CheckedUrl)
    }

    /// The SSRF policy in force.
    pub fn policy(&self) -> &NetworkPolicy {
        &self.policy
    }

    /// The configuration in force.
    pub fn config(&self) -> &SenderConfig {
        &self.config
    }

    /// Prepares a webhook's custom headers with this sender's user agent, once per webhook
    /// (not per attempt).
    pub fn prepare_headers(&self, custom: &BTreeMap<String, String>) -> PreparedHeaders {
        PreparedHeaders::with_user_agent(custom, Some(self.user_agent.clone()))
    }

    /// Makes one attempt. Never panics, never fails: see the module table for outcomes.
    pub async fn send(&self, req: OutboundRequest<'_>) -> AttemptOutcome {
        let started = Instant::now();
        let mut outcome = self.attempt(req, started).await;
        outcome.duration = started.elapsed();
        outcome
    }

    async fn attempt(&self, req: OutboundRequest<'_>, started: Instant) -> AttemptOutcome {
        let sent_at = req.sent_at;
        let limit = self.config.max_payload_bytes;
        if req.body.len() > limit {
            return AttemptOutcome::failed(
                ErrorKind::PayloadTooLarge,
                Verdict::Permanent,
                format!(
                    "payload is {} bytes, over the {} limit; nothing was sent",
                    req.body.len(),
                    human_bytes(limit)
                ),
            );
        }
        let checked = match req.checked {
            Some(checked) => Ok(checked.0.clone()),
            None => self.policy.check_url(req.url),
        };
        let url = match checked {
            Ok(url) => url,
            Err(e) => {
                return AttemptOutcome::failed(e.error_kind(), Verdict::Permanent, e.to_string());
            }
        };
        // The builder moves credentials in the URL (`user:pass@`) into basic authentication.
        let mut request = match self.client.post(url).body(req.body).build() {
            Ok(request) => request,
            Err(e) => {
                return AttemptOutcome::failed(
                    ErrorKind::InvalidUrl,
                    Verdict::Permanent,
                    format!("invalid URL: {}", root_cause(&e)),
                );
            }
        };
        let from_url = request.headers_mut().remove(header::AUTHORIZATION);
        *request.headers_mut() = req.headers;
        if let Some(basic) = from_url {
            // An explicit `Authorization` custom header wins over URL credentials.
            request
                .headers_mut()
                .entry(header::AUTHORIZATION)
                .or_insert(basic);
        }

        let deadline = started.checked_add(req.timeout);
        let mut response = match within(deadline, self.client.execute(request)).await {
            None => {
                return AttemptOutcome::failed(
                    ErrorKind::Timeout,
                    Verdict::Retryable,
                    format!("timed out after {}", human_duration(req.timeout)),
                );
            }
            Some(Err(e)) => return self.request_failure(&e),
            Some(Ok(response)) => response,
        };

        let status = response.status();
        let code = status.as_u16();
        let verdict = classify_status(code);
        let retry_after = (verdict != Verdict::Success)
            .then(|| response.headers().get(header::RETRY_AFTER))
            .flatten()
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, sent_at));
        let error = match verdict {
            Verdict::Success => None,
            _ if status.is_redirection() => {
                Some((ErrorKind::Redirect, redirect_message(&response)))
            }
            _ => Some((
                ErrorKind::HttpStatus,
                format!("receiver answered {}", status_line(status)),
            )),
        };

        // The answer is in: a body that breaks or stalls afterwards does not change it, so
        // the excerpt is best-effort within what is left of the timeout.
        let mut body = BodyRead::new(self.config.excerpt_bytes);
        let max = self.config.max_response_bytes;
        match within(deadline, body.read(&mut response, max)).await {
            Some(Ok(())) => {}
            Some(Err(e)) => tracing::debug!(error = %root_cause(&e), "response body broke off"),
            None => tracing::debug!("response body still incomplete at the timeout"),
        }
        // Dropping an unfinished response closes its connection: the rest is never read.
        drop(response);

        AttemptOutcome {
            status: Some(code),
            verdict,
            retry_after,
            error,
            response_excerpt: body.into_excerpt(),
            duration: Duration::ZERO,
        }
    }

    /// Classifies a failure before any answer: SSRF refusal from the resolver, connect
    /// failure, or a broken exchange.
    fn request_failure(&self, err: &reqwest::Error) -> AttemptOutcome {
        if let Some(ssrf) = SsrfError::find_in(err) {
            return AttemptOutcome::failed(ssrf.error_kind(), Verdict::Permanent, ssrf.to_string());
        }
        let target = err
            .url()
            .map(target_of)
            .unwrap_or_else(|| "the receiver".to_owned());
        let (kind, message) = if err.is_connect() {
            let message = if err.is_timeout() {
                format!(
                    "could not connect to {target}: timed out after {}",
                    human_duration(self.config.connect_timeout)
                )
            } else if let Some(resolve) = find_source::<ResolveError>(err) {
                resolve.to_string()
            } else if find_source::<std::io::Error>(err)
                .is_some_and(|io| io.kind() == std::io::ErrorKind::ConnectionRefused)
            {
                format!("connection refused to {target}")
            } else {
                format!("could not connect to {target}: {}", root_cause(err))
            };
            (ErrorKind::Connect, message)
        } else if err.is_timeout() {
            (
                ErrorKind::Timeout,
                format!("timed out talking to {target}: {}", root_cause(err)),
            )
        } else {
            (
                ErrorKind::Transport,
                format!("connection to {target} failed: {}", root_cause(err)),
            )
        };
        AttemptOutcome::failed(kind, Verdict::Retryable, message)
    }
}

/// Awaits `fut` until `deadline` (`None`: no deadline); `None` when the deadline passed.
async fn within<F: Future>(deadline: Option<Instant>, fut: F) -> Option<F::Output> {
    match deadline {
        Some(deadline) => tokio::time::timeout_at(deadline, fut).await.ok(),
        None => Some(fut.await),
    }
}

/// The part of a response body that is read: at most `max` bytes, of which the first
/// `excerpt_cap` are kept.
#[derive(Debug)]
struct BodyRead {
    excerpt: Vec<u8>,
    excerpt_cap: usize,
    /// Bytes consumed from the body (at most the `max` given to `read`).
    consumed: usize,
    /// Whether the body ended within the bound.
    complete: bool,
}

impl BodyRead {
    fn new(excerpt_cap: usize) -> BodyRead {
        BodyRead {
            excerpt: Vec::new(),
            excerpt_cap,
            consumed: 0,
            complete: false,
        }
    }

    /// Reads chunks until the body ends or `max` bytes were consumed. Reading a body that
    /// fits to its end lets its connection go back to the pool; a larger one is abandoned.
    /// State lives in `self`, so what was read survives a timeout cancelling this future.
    async fn read(
        &mut self,
        response: &mut reqwest::Response,
        max: usize,
    ) -> Result<(), reqwest::Error> {
        while self.consumed < max {
            let Some(chunk) = response.chunk().await? else {
                self.complete = true;
                return Ok(());
            };
            let room = self.excerpt_cap.saturating_sub(self.excerpt.len());
            if room > 0 {
                self.excerpt
                    .extend_from_slice(&chunk[..room.min(chunk.len())]);
            }
            self.consumed += chunk.len().min(max - self.consumed);
        }
        Ok(())
    }

    fn into_excerpt(self) -> Option<String> {
        let cut = !self.complete || self.consumed > self.excerpt.len();
        excerpt_text(&self.excerpt, cut)
    }
}

/// Lossy UTF-8, except that a character cut in half at the end of a truncated excerpt is
/// dropped rather than shown as U+FFFD.
fn excerpt_text(bytes: &[u8], cut: bool) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let mut text = String::with_capacity(bytes.len());
    let mut chunks = bytes.utf8_chunks().peekable();
    while let Some(chunk) = chunks.next() {
        text.push_str(chunk.valid());
        let cut_here = cut && chunks.peek().is_none();
        if !chunk.invalid().is_empty() && !cut_here {
            text.push(char::REPLACEMENT_CHARACTER);
        }
    }
    Some(text)
}

fn redirect_message(response: &reqwest::Response) -> String {
    let status = status_line(response.status());
    let location = response
        .headers()
        .get(header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    match location {
        Some(location) => {
            let target = response
                .url()
                .join(&location)
                .map(String::from)
                .unwrap_or(location);
            format!(
                "receiver answered {status} redirecting to {target}; redirects are not followed"
            )
        }
        None => {
            format!("receiver answered {status} without a Location; redirects are not followed")
        }
    }
}

/// `503 Service Unavailable`, or just `599` for a code without a reason phrase.
fn status_line(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// `host:port` of a URL, for messages (no path or query: they may hold tokens).
fn target_of(url: &reqwest::Url) -> String {
    let host = url.host_str().unwrap_or("?");
    match url.port_or_known_default() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

/// The first error of type `T` in `err`'s chain of sources.
fn find_source<'e, T: StdError + 'static>(err: &'e (dyn StdError + 'static)) -> Option<&'e T> {
    let mut current = Some(err);
    while let Some(e) = current {
        if let Some(found) = e.downcast_ref::<T>() {
            return Some(found);
        }
        current = e.source();
    }
    None
}

/// The innermost error's message: the one that says what happened ("connection reset by
/// peer"), not which layer noticed.
fn root_cause(err: &(dyn StdError + 'static)) -> String {
    let mut current = err;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// `5s`, `300ms`, `1.5s`, `2m`, `2m30s`.
fn human_duration(d: Duration) -> String {
    let millis = d.as_millis();
    if millis < 1000 {
        return format!("{millis}ms");
    }
    let secs = d.as_secs();
    let sub = d.subsec_millis();
    if sub != 0 {
        let mut s = format!("{secs}.{sub:03}");
        while s.ends_with('0') {
            s.pop();
        }
        s.push('s');
        return s;
    }
    match (secs / 60, secs % 60) {
        (0, s) => format!("{s}s"),
        (m, 0) => format!("{m}m"),
        (m, s) => format!("{m}m{s}s"),
    }
}

/// `10 MiB`, `512 KiB`, `100 bytes`.
fn human_bytes(n: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * KIB;
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= KIB && n.is_multiple_of(KIB) {
        format!("{} KiB", n / KIB)
    } else {
        format!("{n} bytes")
    }
}

// --- Headers ---------------------------------------------------------------------------

/// A webhook's headers, validated and converted once, ready to be combined with each
/// attempt's signature headers. Build it when the webhook is loaded, not per attempt.
#[derive(Debug, Clone)]
pub struct PreparedHeaders {
    user_agent: Option<HeaderValue>,
    custom: Vec<(HeaderName, HeaderValue)>,
}

impl PreparedHeaders {
    /// Prepares `custom` (dropping, with a warning, any that [`validate_custom_header`]
    /// refuses) with `user_agent`. With `None`, no `User-Agent` is set here and
    /// [`HttpSender`] sends its configured one; an invalid one is replaced by
    /// [`DEFAULT_USER_AGENT`].
    pub fn new(custom: &BTreeMap<String, String>, user_agent: Option<&str>) -> PreparedHeaders {
        let user_agent = user_agent.map(|ua| {
            HeaderValue::from_str(ua).unwrap_or_else(|_| {
                tracing::warn!(
                    user_agent = ua,
                    "invalid user agent replaced by the default"
                );
                HeaderValue::from_static(DEFAULT_USER_AGENT)
            })
        });
        PreparedHeaders::with_user_agent(custom, user_agent)
    }

    fn with_user_agent(
        custom: &BTreeMap<String, String>,
        user_agent: Option<HeaderValue>,
    ) -> PreparedHeaders {
        let custom = custom
            .iter()
            .filter_map(|(name, value)| match parse_custom_header(name, value) {
                Ok(pair) => Some(pair),
                Err(reason) => {
                    tracing::warn!(%reason, "custom header dropped");
                    None
                }
            })
            .collect();
        PreparedHeaders { user_agent, custom }
    }

    /// The headers of one attempt, in this order: `Content-Type` (`content_type`, or
    /// `application/json` when `None` or invalid), `User-Agent` (if prepared with one), the signature headers
    /// exactly as [`hookline_core::signing::signature_headers`] returned them, then the custom
    /// headers, then `extra` (a plugin's headers, filtered like custom ones). Custom and
    /// extra headers replace earlier values of the same name (so they may set
    /// `User-Agent` or `Authorization`) but never a signature, content-type or transport
    /// header.
    pub fn build(
        &self,
        sig_headers: Vec<(&'static str, String)>,
        content_type: Option<&str>,
        extra: &[(String, String)],
    ) -> HeaderMap {
        let mut map =
            HeaderMap::with_capacity(2 + sig_headers.len() + self.custom.len() + extra.len());
        let content_type = content_type
            .and_then(|ct| HeaderValue::from_str(ct).ok())
            .unwrap_or_else(application_json);
        map.insert(header::CONTENT_TYPE, content_type);
        if let Some(user_agent) = &self.user_agent {
            map.insert(header::USER_AGENT, user_agent.clone());
        }
        for (name, value) in sig_headers {
            let Some(name) = signature_header_name(name) else {
                tracing::warn!(header = name, "invalid signature header name skipped");
                continue;
            };
            match HeaderValue::try_from(value) {
                Ok(mut value) => {
                    value.set_sensitive(SIGNATURE_VALUE_HEADERS.contains(&name.as_str()));
                    map.append(name, value);
                }
                Err(_) => tracing::warn!(header = %name, "invalid signature header value skipped"),
            }
        }
        for (name, value) in &self.custom {
            map.insert(name.clone(), value.clone());
        }
        for (name, value) in extra {
            match parse_custom_header(name, value) {
                Ok((name, value)) => {
                    map.insert(name, value);
                }
                Err(reason) => tracing::warn!(%reason, "plugin header dropped"),
            }
        }
        map
    }
}

fn signature_header_name(name: &'static str) -> Option<HeaderName> {
    match SIGNATURE_HEADERS
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
    {
        Some(known) => Some(HeaderName::from_static(known)),
        None => HeaderName::from_bytes(name.as_bytes()).ok(),
    }
}

/// The headers of one attempt (see [`PreparedHeaders::build`]) with `application/json` and
/// no plugin headers. `user_agent: None` leaves the `User-Agent` to [`HttpSender`], which
/// sends its configured one. On the hot path, prepare a webhook's headers once with
/// [`PreparedHeaders::new`] or [`HttpSender::prepare_headers`] instead.
pub fn build_headers(
    sig_headers: Vec<(&'static str, String)>,
    custom: &BTreeMap<String, String>,
    user_agent: Option<&str>,
) -> HeaderMap {
    PreparedHeaders::new(custom, user_agent).build(sig_headers, None, &[])
}

/// The headers of an attempt as the store keeps them: names lowercase, in sending order,
/// values of signature headers, `Authorization`, `Cookie` and any header whose name
/// contains `secret`, `token`, `key`, `auth`, `signature`, `password`, `credential` or
/// `session` replaced by [`REDACTED`].
pub fn redact_headers(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(name, value)| {
            let name = name.as_str();
            let value = if is_sensitive(name) {
                REDACTED.to_owned()
            } else {
                String::from_utf8_lossy(value.as_bytes()).into_owned()
            };
            (name.to_owned(), value)
        })
        .collect()
}

/// A URL as it may be shown or stored: a password in it, or a user name standing alone (a
/// token), replaced by [`REDACTED`]. Unparseable input comes back unchanged. The rule of
/// every view: [`hookline_core::at_rest::redact_url`].
pub fn redact_url(url: &str) -> String {
    hookline_core::at_rest::redact_url(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;

    use hookline_core::signing::{self, Scheme, SigningKey, VerifyingKey};
    use hookline_test_support::receiver::{Receiver, Reply};

    // --- A real receiver on 127.0.0.1:0 --------------------------------------------------

    /// The loopback receiver, scripted with the answers these tests expect: `/ok`, `/busy`
    /// (429 with `Retry-After`), `/hang`, `/redirect` (to `/target`), `/huge` (5 MiB) and
    /// `/peer` (the client's address). `/status/{code}` is scripted by its test.
    async fn receiver() -> (SocketAddr, Receiver) {
        let receiver = Receiver::start().await;
        let body = |code: u16, headers: &[(&str, &str)], body: Bytes| {
            let headers = headers
                .iter()
                .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
                .collect();
            vec![Reply::Body(code, headers, body)]
        };
        receiver.script("/ok", body(200, &[], Bytes::from_static(b"thanks")));
        receiver.script(
            "/busy",
            body(
                429,
                &[("retry-after", "7")],
                Bytes::from_static(b"slow down"),
            ),
        );
        receiver.script("/hang", vec![Reply::Hang]);
        receiver.script("/redirect", vec![Reply::Redirect("/target".to_owned())]);
        receiver.script("/huge", body(200, &[], vec![b'x'; 5 * 1024 * 1024].into()));
        receiver.script("/peer", vec![Reply::Peer]);
        (receiver.addr(), receiver)
    }

    /// The headers and body of the last request the receiver got.
    fn last(receiver: &Receiver) -> (HeaderMap, Bytes) {
        let request = receiver.requests().pop().expect("a request");
        let mut headers = HeaderMap::new();
        for (name, value) in &request.headers {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        (headers, request.body)
    }

    fn sender(policy: NetworkPolicy) -> HttpSender {
        HttpSender::new(SenderConfig::default(), policy).unwrap()
    }

    fn loopback() -> HttpSender {
        sender(NetworkPolicy::new(vec!["127.0.0.0/8".parse().unwrap()]))
    }

    const BODY: &[u8] = br#"{"event":"task.created","data":null}"#;

    fn request(url: &str) -> OutboundRequest<'_> {
        request_with(url, Duration::from_secs(10))
    }

    fn request_with(url: &str, timeout: Duration) -> OutboundRequest<'_> {
        OutboundRequest {
            url,
            checked: None,
            body: Bytes::from_static(BODY),
            headers: build_headers(
                vec![("X-Webhook-ID", "dlv_1".into())],
                &BTreeMap::new(),
                None,
            ),
            timeout,
            sent_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
        }
    }

    fn assert_failed(outcome: &AttemptOutcome, kind: ErrorKind, verdict: Verdict) {
        assert_eq!(outcome.error_kind(), Some(kind), "{outcome:?}");
        assert_eq!(outcome.verdict, verdict, "{outcome:?}");
    }

    #[tokio::test]
    async fn a_2xx_answer_is_delivered() {
        let (addr, receiver) = receiver().await;
        let outcome = loopback().send(request(&format!("http://{addr}/ok"))).await;
        assert_eq!(outcome.status, Some(200));
        assert_eq!(outcome.verdict, Verdict::Success);
        assert!(outcome.is_success());
        assert_eq!(outcome.error, None);
        assert_eq!(outcome.response_excerpt.as_deref(), Some("thanks"));
        assert!(outcome.duration > Duration::ZERO);
        let (headers, body) = last(&receiver);
        assert_eq!(body, BODY);
        assert_eq!(headers["content-type"], "application/json");
        assert_eq!(headers["user-agent"], DEFAULT_USER_AGENT);
        assert_eq!(headers["x-webhook-id"], "dlv_1");
        assert_eq!(headers["content-length"], BODY.len().to_string().as_str());
    }

    #[tokio::test]
    async fn statuses_are_classified() {
        let (addr, receiver) = receiver().await;
        let sender = loopback();
        for (code, verdict, message) in [
            (
                500,
                Verdict::Retryable,
                "receiver answered 500 Internal Server Error",
            ),
            (
                503,
                Verdict::Retryable,
                "receiver answered 503 Service Unavailable",
            ),
            (
                408,
                Verdict::Retryable,
                "receiver answered 408 Request Timeout",
            ),
            (400, Verdict::Permanent, "receiver answered 400 Bad Request"),
            (404, Verdict::Permanent, "receiver answered 404 Not Found"),
            (410, Verdict::Gone, "receiver answered 410 Gone"),
            (204, Verdict::Success, ""),
            (599, Verdict::Retryable, "receiver answered 599"),
        ] {
            let path = format!("/status/{code}");
            let answer = Bytes::from(format!("status {code}"));
            receiver.script(&path, vec![Reply::Body(code, vec![], answer)]);
            let outcome = sender.send(request(&format!("http://{addr}{path}"))).await;
            assert_eq!(outcome.status, Some(code));
            assert_eq!(outcome.verdict, verdict, "{code}");
            if verdict == Verdict::Success {
                assert_eq!(outcome.error, None);
                assert_eq!(outcome.response_excerpt, None, "204 has no body");
            } else {
                assert_eq!(
                    outcome.error,
                    Some((ErrorKind::HttpStatus, message.to_owned()))
                );
                assert_eq!(outcome.response_excerpt, Some(format!("status {code}")));
            }
        }
        assert_eq!(receiver.requests().len(), 8);
    }

    #[tokio::test]
    async fn retry_after_is_parsed() {
        let (addr, _receiver) = receiver().await;
        let outcome = loopback()
            .send(request(&format!("http://{addr}/busy")))
            .await;
        assert_eq!(outcome.status, Some(429));
        assert_failed(&outcome, ErrorKind::HttpStatus, Verdict::Retryable);
        assert_eq!(outcome.retry_after, Some(Duration::from_secs(7)));
        assert_eq!(outcome.response_excerpt.as_deref(), Some("slow down"));
    }

    #[tokio::test]
    async fn a_hanging_receiver_times_out() {
        let (addr, receiver) = receiver().await;
        let url = format!("http://{addr}/hang");
        let outcome = loopback()
            .send(request_with(&url, Duration::from_millis(300)))
            .await;
        assert_failed(&outcome, ErrorKind::Timeout, Verdict::Retryable);
        assert_eq!(outcome.error_message(), Some("timed out after 300ms"));
        assert_eq!(outcome.status, None);
        assert!(
            outcome.duration >= Duration::from_millis(300),
            "{outcome:?}"
        );
        assert!(outcome.duration < Duration::from_secs(5), "{outcome:?}");
        assert_eq!(receiver.requests().len(), 1);
    }

    #[tokio::test]
    async fn redirects_are_not_followed() {
        let (addr, receiver) = receiver().await;
        let outcome = loopback()
            .send(request(&format!("http://{addr}/redirect")))
            .await;
        assert_eq!(outcome.status, Some(302));
        assert_failed(&outcome, ErrorKind::Redirect, Verdict::Permanent);
        assert_eq!(
            outcome.error_message().unwrap(),
            format!(
                "receiver answered 302 Found redirecting to http://{addr}/target; redirects are not followed"
            )
        );
        assert_eq!(receiver.requests().len(), 1);
        assert!(receiver.requests_to("/target").is_empty());
    }

    #[tokio::test]
    async fn a_huge_answer_is_read_only_up_to_the_limit() {
        let (addr, _receiver) = receiver().await;
        let sender = loopback();
        let url = format!("http://{addr}/huge");
        let outcome = sender.send(request(&url)).await;
        assert_eq!(outcome.status, Some(200));
        assert_eq!(outcome.verdict, Verdict::Success);
        let excerpt = outcome.response_excerpt.unwrap();
        assert_eq!(excerpt.len(), EXCERPT_BYTES);
        assert!(excerpt.bytes().all(|b| b == b'x'));

        // The reader itself stops at the bound.
        let mut response = sender.client.post(&url).body(BODY).send().await.unwrap();
        let mut body = BodyRead::new(EXCERPT_BYTES);
        body.read(&mut response, MAX_RESPONSE_BYTES).await.unwrap();
        assert_eq!(body.consumed, MAX_RESPONSE_BYTES);
        assert!(!body.complete);
        assert_eq!(body.excerpt.len(), EXCERPT_BYTES);
    }

    #[tokio::test]
    async fn an_oversized_payload_is_not_sent() {
        let (addr, receiver) = receiver().await;
        let config = SenderConfig {
            max_payload_bytes: 16,
            ..SenderConfig::default()
        };
        let sender = HttpSender::new(config, NetworkPolicy::loopback()).unwrap();
        let url = format!("http://{addr}/ok");
        let outcome = sender.send(request(&url)).await;
        assert_failed(&outcome, ErrorKind::PayloadTooLarge, Verdict::Permanent);
        assert_eq!(
            outcome.error_message().unwrap(),
            format!(
                "payload is {} bytes, over the 16 bytes limit; nothing was sent",
                BODY.len()
            )
        );
        let fits = OutboundRequest {
            body: Bytes::from_static(b"0123456789abcdef"),
            ..request(&url)
        };
        assert!(sender.send(fits).await.is_success());
        assert_eq!(
            receiver.requests().len(),
            1,
            "only the payload within the limit was sent"
        );
    }

    #[tokio::test]
    async fn refused_destinations_are_blocked_before_sending() {
        let (addr, receiver) = receiver().await;
        let default = sender(NetworkPolicy::default());
        let literal = default.send(request(&format!("http://{addr}/ok"))).await;
        assert_failed(&literal, ErrorKind::SsrfBlocked, Verdict::Permanent);
        assert!(
            literal
                .error_message()
                .unwrap()
                .starts_with("address 127.0.0.1 is loopback (127.0.0.0/8)"),
            "{literal:?}"
        );

        // A host name goes through the guarded resolver; its refusal comes back through
        // the client's error chain and is still recognised.
        let named = default
            .send(request(&format!("http://localhost:{}/ok", addr.port())))
            .await;
        assert_failed(&named, ErrorKind::SsrfBlocked, Verdict::Permanent);
        assert!(
            named
                .error_message()
                .unwrap()
                .starts_with("host `localhost` resolves only to refused addresses"),
            "{named:?}"
        );
        assert_eq!(receiver.requests().len(), 0);

        let allowed = sender(NetworkPolicy::loopback())
            .send(request(&format!("http://localhost:{}/ok", addr.port())))
            .await;
        assert!(allowed.is_success(), "{allowed:?}");
        assert_eq!(receiver.requests().len(), 1);
    }

    #[tokio::test]
    async fn invalid_urls_are_permanent() {
        let sender = loopback();
        for url in ["ftp://127.0.0.1/x", "not a url", "http://"] {
            let outcome = sender.send(request(url)).await;
            assert_failed(&outcome, ErrorKind::InvalidUrl, Verdict::Permanent);
        }
        let ftp = sender.send(request("ftp://127.0.0.1/x")).await;
        assert!(ftp.error_message().unwrap().contains("`ftp`"), "{ftp:?}");
    }

    #[tokio::test]
    async fn a_refused_connection_is_a_connect_error() {
        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let outcome = loopback()
            .send(request(&format!("http://127.0.0.1:{port}/ok")))
            .await;
        assert_failed(&outcome, ErrorKind::Connect, Verdict::Retryable);
        assert_eq!(
            outcome.error_message().unwrap(),
            format!("connection refused to 127.0.0.1:{port}")
        );
    }

    #[tokio::test]
    async fn an_unknown_host_is_a_connect_error() {
        let outcome = sender(NetworkPolicy::default())
            .send(request("http://does-not-exist.invalid/hook"))
            .await;
        assert_failed(&outcome, ErrorKind::Connect, Verdict::Retryable);
        assert!(
            outcome
                .error_message()
                .unwrap()
                .starts_with("could not resolve `does-not-exist.invalid`"),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn custom_headers_cannot_replace_the_signature() {
        let (addr, receiver) = receiver().await;
        let key = SigningKey::parse(Scheme::Marionette, "s3cret").unwrap();
        let now = 1_700_000_000;
        let sig =
            signing::signature_headers(Scheme::Marionette, "dlv_7", now, BODY, &[key]).unwrap();
        let ours = sig[2].1.clone();
        let mut custom = BTreeMap::new();
        custom.insert("X-Webhook-Signature".to_owned(), "sha256=forged".to_owned());
        custom.insert("x-webhook-id".to_owned(), "dlv_forged".to_owned());
        custom.insert("Content-Type".to_owned(), "text/plain".to_owned());
        custom.insert("X-Team".to_owned(), "billing".to_owned());
        let sender = loopback();
        let url = format!("http://{addr}/ok");
        let outcome = sender
            .send(OutboundRequest {
                url: &url,
                checked: None,
                body: Bytes::from_static(BODY),
                headers: sender.prepare_headers(&custom).build(sig, None, &[]),
                timeout: Duration::from_secs(10),
                sent_at: SystemTime::UNIX_EPOCH + Duration::from_secs(now as u64),
            })
            .await;
        assert!(outcome.is_success(), "{outcome:?}");
        let (headers, body) = last(&receiver);
        let all = |name: &str| -> Vec<_> { headers.get_all(name).iter().cloned().collect() };
        assert_eq!(
            all("x-webhook-signature"),
            vec![HeaderValue::from_str(&ours).unwrap()]
        );
        assert_eq!(all("x-webhook-id"), vec![HeaderValue::from_static("dlv_7")]);
        assert_eq!(all("content-type"), vec![application_json()]);
        assert_eq!(headers["x-team"], "billing");
        // The receiver verifies what it got.
        let verifier = VerifyingKey::parse(Scheme::Marionette, "s3cret").unwrap();
        signing::verify(Scheme::Marionette, &[verifier], &headers, &body, now).unwrap();
    }

    #[tokio::test]
    async fn connections_are_reused() {
        let (addr, _receiver) = receiver().await;
        let sender = loopback();
        let url = format!("http://{addr}/peer");
        let first = sender.send(request(&url)).await.response_excerpt;
        let second = sender.send(request(&url)).await.response_excerpt;
        assert!(first.is_some());
        assert_eq!(first, second, "the second attempt used the same connection");
    }

    #[tokio::test]
    async fn url_credentials_become_basic_auth() {
        let (addr, receiver) = receiver().await;
        let outcome = loopback()
            .send(request(&format!("http://user:pa55@{addr}/ok")))
            .await;
        assert!(outcome.is_success(), "{outcome:?}");
        let (headers, _) = last(&receiver);
        assert_eq!(headers["authorization"], "Basic dXNlcjpwYTU1");
    }

    // --- Pure helpers ------------------------------------------------------------------

    fn sig() -> Vec<(&'static str, String)> {
        vec![
            ("X-Webhook-ID", "dlv_1".to_owned()),
            ("X-Webhook-Timestamp", "1700000000".to_owned()),
            ("X-Webhook-Signature", "sha256=abc".to_owned()),
        ]
    }

    fn names(map: &HeaderMap) -> Vec<&str> {
        map.keys().map(HeaderName::as_str).collect()
    }

    #[test]
    fn headers_are_assembled_in_order() {
        let mut custom = BTreeMap::new();
        custom.insert("X-Team".to_owned(), "billing".to_owned());
        let map = build_headers(sig(), &custom, Some("Hookline/test"));
        assert_eq!(
            names(&map),
            [
                "content-type",
                "user-agent",
                "x-webhook-id",
                "x-webhook-timestamp",
                "x-webhook-signature",
                "x-team"
            ]
        );
        assert_eq!(map["content-type"], "application/json");
        assert_eq!(map["user-agent"], "Hookline/test");
        assert!(map["x-webhook-signature"].is_sensitive());
        assert!(!map["x-webhook-id"].is_sensitive());
    }

    #[test]
    fn protected_headers_are_never_overridden() {
        let mut custom = BTreeMap::new();
        for name in [
            "X-Webhook-ID",
            "x-webhook-timestamp",
            "X-WEBHOOK-SIGNATURE",
            "X-Webhook-Signature-Previous",
            "webhook-id",
            "Webhook-Timestamp",
            "webhook-signature",
            "Content-Type",
            "content-length",
            "Host",
            "Transfer-Encoding",
            "Connection",
        ] {
            custom.insert(name.to_owned(), "forged".to_owned());
        }
        custom.insert("User-Agent".to_owned(), "Custom/1".to_owned());
        custom.insert("Authorization".to_owned(), "Bearer t0k".to_owned());
        let standard = vec![
            ("webhook-id", "msg_1".to_owned()),
            ("webhook-timestamp", "1700000000".to_owned()),
            ("webhook-signature", "v1,abc v1,def".to_owned()),
        ];
        for sig_headers in [sig(), standard] {
            let expected: Vec<_> = sig_headers.iter().map(|(_, v)| v.clone()).collect();
            let map = PreparedHeaders::new(&custom, Some(DEFAULT_USER_AGENT)).build(
                sig_headers,
                Some("application/cloudevents+json"),
                &[
                    ("webhook-signature".to_owned(), "forged".to_owned()),
                    ("X-Plugin".to_owned(), "yes".to_owned()),
                ],
            );
            let values: Vec<_> = map
                .iter()
                .filter(|(n, _)| n.as_str().contains("webhook-"))
                .map(|(_, v)| v.to_str().unwrap().to_owned())
                .collect();
            assert_eq!(values, expected);
            assert!(map.iter().all(|(_, v)| v != "forged"), "{map:?}");
            assert_eq!(map["content-type"], "application/cloudevents+json");
            assert_eq!(map["user-agent"], "Custom/1");
            assert_eq!(map["authorization"], "Bearer t0k");
            assert_eq!(map["x-plugin"], "yes");
            assert!(!map.contains_key("host"));
            assert!(!map.contains_key("content-length"));
        }
        // An invalid content type falls back to JSON.
        let map =
            PreparedHeaders::new(&BTreeMap::new(), None).build(sig(), Some("bad\nvalue"), &[]);
        assert_eq!(map["content-type"], "application/json");
    }

    #[test]
    fn signature_header_lists_match_the_signing_module() {
        for scheme in [Scheme::Marionette, Scheme::Standard] {
            for name in scheme.reserved_headers() {
                let lower = name.to_ascii_lowercase();
                assert!(SIGNATURE_HEADERS.contains(&lower.as_str()), "{name}");
                assert!(validate_custom_header(name, "x").is_err(), "{name}");
            }
            assert!(is_sensitive(
                &scheme.signature_header().to_ascii_lowercase()
            ));
        }
        for known in SIGNATURE_HEADERS {
            // `from_static` panics on an invalid or uppercase name.
            assert_eq!(HeaderName::from_static(known).as_str(), *known);
        }
    }

    #[test]
    fn custom_header_validation_explains_itself() {
        assert_eq!(validate_custom_header("X-Team", "billing"), Ok(()));
        assert_eq!(validate_custom_header("Authorization", "Bearer x"), Ok(()));
        assert_eq!(validate_custom_header("User-Agent", "Mine/1"), Ok(()));
        assert_eq!(
            validate_custom_header("X-Webhook-Signature", "x"),
            Err("header `X-Webhook-Signature` is set by Hookline on every delivery and cannot be overridden".to_owned())
        );
        assert_eq!(
            validate_custom_header("content-type", "text/plain"),
            Err("header `content-type` is set by Hookline on every delivery and cannot be overridden".to_owned())
        );
        assert_eq!(
            validate_custom_header("Host", "evil.example"),
            Err("header `Host` is managed by the HTTP client and cannot be set".to_owned())
        );
        assert_eq!(
            validate_custom_header("Transfer-Encoding", "chunked"),
            Err(
                "header `Transfer-Encoding` is managed by the HTTP client and cannot be set"
                    .to_owned()
            )
        );
        assert_eq!(
            validate_custom_header("", "x"),
            Err("a header name is empty".to_owned())
        );
        assert_eq!(
            validate_custom_header("Bad Name", "x"),
            Err("header `Bad Name`: not a valid HTTP header name".to_owned())
        );
        let err = validate_custom_header("X-Token", "line\r\nInjected: yes").unwrap_err();
        assert!(err.contains("line break"), "{err}");
        assert!(
            !err.contains("Injected"),
            "the value is never echoed: {err}"
        );
    }

    #[test]
    fn stored_headers_hide_signatures_and_credentials() {
        let mut custom = BTreeMap::new();
        for (name, value) in [
            ("Authorization", "Bearer abc"),
            ("Cookie", "sid=1"),
            ("X-Api-Key", "k"),
            ("X-Auth-User", "u"),
            ("X-Access-Token", "t"),
            ("X-Client-Secret", "s"),
            ("X-Team", "billing"),
        ] {
            custom.insert(name.to_owned(), value.to_owned());
        }
        let mut sig = sig();
        sig.push(("X-Webhook-Signature-Previous", "sha256=old".to_owned()));
        let stored = redact_headers(&build_headers(sig, &custom, Some("Hookline/test")));
        let get = |n: &str| {
            stored
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, v)| v.as_str())
                .unwrap()
        };
        assert_eq!(get("x-webhook-signature"), REDACTED);
        assert_eq!(get("x-webhook-signature-previous"), REDACTED);
        assert_eq!(get("x-webhook-id"), "dlv_1");
        assert_eq!(get("x-webhook-timestamp"), "1700000000");
        assert_eq!(get("content-type"), "application/json");
        assert_eq!(get("user-agent"), "Hookline/test");
        assert_eq!(get("x-team"), "billing");
        for secret in [
            "authorization",
            "cookie",
            "x-api-key",
            "x-auth-user",
            "x-access-token",
            "x-client-secret",
        ] {
            assert_eq!(get(secret), REDACTED, "{secret}");
        }
        let standard = redact_headers(&build_headers(
            vec![("webhook-signature", "v1,abc".to_owned())],
            &BTreeMap::new(),
            Some("x"),
        ));
        assert_eq!(
            standard[2],
            ("webhook-signature".to_owned(), REDACTED.to_owned())
        );
    }

    #[test]
    fn urls_are_redacted_for_display() {
        assert_eq!(
            redact_url("https://user:pa55@example.com/hook?x=1"),
            "https://user:[redacted]@example.com/hook?x=1"
        );
        assert_eq!(
            redact_url("https://example.com/hook"),
            "https://example.com/hook"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }

    #[test]
    fn excerpts_do_not_end_in_half_a_character() {
        assert_eq!(excerpt_text(b"", false), None);
        assert_eq!(excerpt_text(b"ok", false).as_deref(), Some("ok"));
        // "é" is C3 A9: cut after C3.
        assert_eq!(excerpt_text(b"caf\xC3", true).as_deref(), Some("caf"));
        assert_eq!(
            excerpt_text(b"caf\xC3", false).as_deref(),
            Some("caf\u{FFFD}")
        );
        assert_eq!(
            excerpt_text(b"a\xFFb", false).as_deref(),
            Some("a\u{FFFD}b")
        );
        let mut body = BodyRead::new(4);
        body.excerpt = "aé".as_bytes()[..2].to_vec();
        body.consumed = 3;
        body.complete = true;
        assert_eq!(body.into_excerpt().as_deref(), Some("a"));
    }

    #[test]
    fn durations_and_sizes_read_well() {
        assert_eq!(human_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(human_duration(Duration::from_secs(5)), "5s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(human_duration(Duration::from_millis(2250)), "2.25s");
        assert_eq!(human_duration(Duration::from_secs(120)), "2m");
        assert_eq!(human_duration(Duration::from_secs(150)), "2m30s");
        assert_eq!(human_bytes(10 * 1024 * 1024), "10 MiB");
        assert_eq!(human_bytes(20 * 1024), "20 KiB");
        assert_eq!(human_bytes(100), "100 bytes");
    }

    #[test]
    fn status_lines() {
        assert_eq!(
            status_line(reqwest::StatusCode::SERVICE_UNAVAILABLE),
            "503 Service Unavailable"
        );
        assert_eq!(
            status_line(reqwest::StatusCode::from_u16(599).unwrap()),
            "599"
        );
    }

    #[tokio::test]
    async fn a_huge_timeout_means_no_deadline() {
        let (addr, _receiver) = receiver().await;
        let url = format!("http://{addr}/ok");
        let outcome = loopback().send(request_with(&url, Duration::MAX)).await;
        assert!(outcome.is_success(), "{outcome:?}");
    }

    #[test]
    fn a_bad_user_agent_is_refused() {
        let config = SenderConfig {
            user_agent: "bad\nagent".to_owned(),
            ..SenderConfig::default()
        };
        let err = HttpSender::new(config, NetworkPolicy::default()).unwrap_err();
        assert!(matches!(err, SenderError::UserAgent(_)), "{err}");
    }
}

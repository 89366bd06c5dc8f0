//! What a plugin returns: an [`Outcome`], which is a [`Request`] to send, a skip or a failure.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The request a plugin asks the host to send in place of the default one.
///
/// The host signs exactly these body bytes and adds its own id, timestamp and signature
/// headers; extra [`headers`](Request::headers) can never replace those or the content type.
///
/// ```
/// use hookline_guest::{Outcome, Request};
/// use serde_json::json;
///
/// let out = Outcome::send(
///     Request::json(&json!({"text": "hello"}))
///         .header("X-Team", "core")
///         .url("https://hooks.example.com/other"),
/// );
/// let req = out.request().unwrap();
/// assert_eq!(req.body, br#"{"text":"hello"}"#);
/// assert_eq!(req.content_type, None); // the host sends `application/json`
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// The body, sent as is and signed by the host.
    pub body: Vec<u8>,
    /// The body's content type; `None` means `application/json`.
    pub content_type: Option<String>,
    /// Extra headers, in order.
    pub headers: Vec<(String, String)>,
    /// Another URL to send to instead of the webhook's; it must pass the host's SSRF policy.
    pub url: Option<String>,
    /// Set by [`Request::json`] when the value could not be encoded; [`Outcome::send`] turns
    /// it into [`Outcome::Fail`].
    encode_error: Option<String>,
}

impl Request {
    /// A request with this body and nothing else (content type `application/json`).
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Self {
            body: body.into(),
            ..Self::default()
        }
    }

    /// A request whose body is `value` encoded as compact JSON (content type
    /// `application/json`).
    ///
    /// Encoding fails only for values JSON cannot express (a map with non-string keys, a
    /// `Serialize` impl that errors). Then [`Outcome::send`] of this request is an
    /// [`Outcome::Fail`] that says why, so the delivery fails cleanly instead of sending an
    /// empty body. Use [`Request::try_json`] to handle the error yourself.
    pub fn json<T: Serialize + ?Sized>(value: &T) -> Self {
        match Self::try_json(value) {
            Ok(request) => request,
            Err(e) => Self {
                encode_error: Some(format!("the request body cannot be encoded as JSON: {e}")),
                ..Self::default()
            },
        }
    }

    /// A request whose body is `value` encoded as compact JSON.
    ///
    /// # Errors
    /// When `value` cannot be encoded as JSON.
    pub fn try_json<T: Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_vec(value).map(Self::new)
    }

    /// Sets the body's content type, e.g. `application/cloudevents+json`.
    #[must_use]
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = Some(content_type.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sends to this URL instead of the webhook's.
    #[must_use]
    pub fn url(mut self, url: impl Into<String>) -> Self {
        self.url = Some(url.into());
        self
    }

    /// The body as text, if it is UTF-8 (for tests and logs).
    pub fn body_text(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body decoded from JSON (for tests).
    ///
    /// # Errors
    /// When the body is not JSON matching `T`.
    pub fn body_json<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(&self.body)
    }

    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A plugin's decision for one event and one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Send this request (signed by the host).
    Send(Request),
    /// Do not deliver this event to this webhook; the delivery is recorded as `skipped` with
    /// this reason.
    Skip(String),
    /// The plugin cannot handle this event: the delivery fails with this message.
    Fail(String),
}

impl Outcome {
    /// Send `request`; an [`Outcome::Fail`] instead when `request` came from a
    /// [`Request::json`] that could not encode its value.
    pub fn send(request: Request) -> Self {
        match request.encode_error {
            Some(message) => Self::Fail(message),
            None => Self::Send(request),
        }
    }

    /// Skip this delivery, for this reason.
    pub fn skip(reason: impl fmt::Display) -> Self {
        Self::Skip(reason.to_string())
    }

    /// Fail this delivery with this message; any error type will do:
    /// `Err(e) => return Outcome::fail(e)`.
    pub fn fail(message: impl fmt::Display) -> Self {
        Self::Fail(message.to_string())
    }

    /// The request to send, if this is [`Outcome::Send`].
    pub fn request(&self) -> Option<&Request> {
        match self {
            Self::Send(request) => Some(request),
            Self::Skip(_) | Self::Fail(_) => None,
        }
    }

    /// The reason, if this is [`Outcome::Skip`].
    pub fn skip_reason(&self) -> Option<&str> {
        match self {
            Self::Skip(reason) => Some(reason),
            Self::Send(_) | Self::Fail(_) => None,
        }
    }

    /// The message, if this is [`Outcome::Fail`].
    pub fn fail_message(&self) -> Option<&str> {
        match self {
            Self::Fail(message) => Some(message),
            Self::Send(_) | Self::Skip(_) => None,
        }
    }

    /// Folds a request that failed to encode into [`Outcome::Fail`], whichever way the
    /// outcome was built (`Outcome::Send(…)` directly skips the check in [`Outcome::send`]).
    #[cfg_attr(
        not(target_arch = "wasm32"),
        allow(dead_code, reason = "only the wasm32 glue hands outcomes to the host")
    )]
    pub(crate) fn checked(self) -> Self {
        match self {
            Self::Send(request) => Self::send(request),
            other => other,
        }
    }
}

impl<E: fmt::Display> From<Result<Self, E>> for Outcome {
    /// `Ok(outcome)` as is, `Err(e)` as [`Outcome::Fail`]: lets a transform written as a
    /// `Result`-returning helper use `?` and still return an `Outcome`.
    fn from(result: Result<Self, E>) -> Self {
        result.unwrap_or_else(Self::fail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn builder_sets_every_field() {
        let r = Request::new("hi")
            .content_type("text/plain")
            .header("X-A", "1")
            .header("X-B", "2")
            .url("https://example.com/x");
        assert_eq!(r.body, b"hi");
        assert_eq!(r.body_text(), Some("hi"));
        assert_eq!(r.content_type.as_deref(), Some("text/plain"));
        assert_eq!(
            r.headers,
            vec![("X-A".into(), "1".into()), ("X-B".into(), "2".into())]
        );
        assert_eq!(r.header_value("x-b"), Some("2"));
        assert_eq!(r.header_value("x-c"), None);
        assert_eq!(r.url.as_deref(), Some("https://example.com/x"));
    }

    #[test]
    fn json_request_that_cannot_encode_becomes_a_failure() {
        let ok = Outcome::send(Request::json(&serde_json::json!({"a": 1})));
        assert_eq!(ok.request().unwrap().body_text(), Some(r#"{"a":1}"#));
        assert_eq!(
            ok.request()
                .unwrap()
                .body_json::<serde_json::Value>()
                .unwrap()["a"],
            1
        );

        let bad: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into();
        let out = Outcome::send(Request::json(&bad));
        assert_eq!(
            out.fail_message(),
            Some("the request body cannot be encoded as JSON: key must be a string")
        );
        assert!(Request::try_json(&bad).is_err());
        // Built directly, the check happens when the outcome is handed to the host.
        let direct = Outcome::Send(Request::json(&bad));
        assert!(direct.request().is_some());
        assert!(direct.checked().fail_message().is_some());
    }

    #[test]
    fn skip_and_fail_take_any_display() {
        assert_eq!(
            Outcome::skip("not for us").skip_reason(),
            Some("not for us")
        );
        let err = serde_json::from_str::<u8>("x").unwrap_err();
        let out = Outcome::fail(&err);
        assert_eq!(out.fail_message(), Some(err.to_string().as_str()));
        assert_eq!(out.skip_reason(), None);
        assert_eq!(out.request(), None);
    }

    #[test]
    fn results_convert_into_outcomes() {
        let ok: Result<Outcome, String> = Ok(Outcome::skip("x"));
        assert_eq!(Outcome::from(ok), Outcome::Skip("x".into()));
        let err: Result<Outcome, &str> = Err("boom");
        assert_eq!(Outcome::from(err), Outcome::Fail("boom".into()));
    }
}

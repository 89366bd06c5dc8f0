//! The daemon's HTTP API, as the console uses it: reads, actions, and the event stream's
//! connection (parsed in [`crate::stream`]).

use std::error::Error as StdError;
use std::time::Duration;

use serde::de::DeserializeOwned;

use hookline_contract::{
    DeliveryDetail, DeliverySummary, ErrorBody, Page, WebhookList, WebhookView, WhoAmI,
};

/// Time allowed for one ordinary request (the stream has none).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 401: the token is wrong or missing.
    #[error("the daemon refused the API token (401): {0}")]
    Unauthorized(String),
    /// Another error answer.
    #[error("HTTP {status} {code}: {message}")]
    Http {
        /// Status.
        status: u16,
        /// The error's code.
        code: String,
        /// Its message.
        message: String,
    },
    /// No answer.
    #[error("{0}")]
    Transport(String),
    /// An answer that does not parse.
    #[error("unexpected answer: {0}")]
    Decode(String),
}

/// A client of one daemon.
#[derive(Debug, Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

/// An error with its causes, `a: b: c` (reqwest's own message alone is vague).
pub fn error_chain(e: &dyn StdError) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

impl Api {
    /// A client of the daemon at `base` (`http://127.0.0.1:8420`), with `token`.
    pub fn new(base: &str, token: Option<String>) -> Result<Api, ApiError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("hookline-console/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ApiError::Transport(error_chain(&e.without_url())))?;
        Ok(Api {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// The daemon's URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(t) => req.bearer_auth(t),
            None => req,
        }
    }

    /// Sends `req`; an error answer becomes [`ApiError`].
    async fn send(req: reqwest::RequestBuilder) -> Result<reqwest::Response, ApiError> {
        let resp = req
            .send()
            .await
            .map_err(|e| ApiError::Transport(error_chain(&e.without_url())))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let body: ErrorBody = serde_json::from_str(&text).unwrap_or_default();
        let message = if body.error.message.is_empty() {
            text.chars().take(200).collect()
        } else {
            body.error.message
        };
        if status == reqwest::StatusCode::UNAUTHORIZED {
            return Err(ApiError::Unauthorized(if message.is_empty() {
                "no or wrong token".to_owned()
            } else {
                message
            }));
        }
        Err(ApiError::Http {
            status: status.as_u16(),
            code: body.error.code,
            message,
        })
    }

    async fn json<T: DeserializeOwned>(req: reqwest::RequestBuilder) -> Result<T, ApiError> {
        let resp = Self::send(req.timeout(REQUEST_TIMEOUT)).await?;
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ApiError::Transport(error_chain(&e.without_url())))?;
        serde_json::from_slice(&bytes).map_err(|e| ApiError::Decode(e.to_string()))
    }

    /// `GET /v1/whoami`: the token's id, name and scope.
    pub async fn whoami(&self) -> Result<WhoAmI, ApiError> {
        Self::json(self.request(reqwest::Method::GET, "/v1/whoami")).await
    }

    /// `GET /v1/webhooks`.
    pub async fn webhooks(&self) -> Result<Vec<WebhookView>, ApiError> {
        let list: WebhookList =
            Self::json(self.request(reqwest::Method::GET, "/v1/webhooks")).await?;
        Ok(list.items)
    }

    /// `GET /v1/deliveries?{query}`.
    pub async fn deliveries(&self, query: &str) -> Result<Page<DeliverySummary>, ApiError> {
        Self::json(self.request(reqwest::Method::GET, &format!("/v1/deliveries?{query}"))).await
    }

    /// `GET /v1/deliveries/{id}`.
    pub async fn delivery(&self, id: &str) -> Result<DeliveryDetail, ApiError> {
        Self::json(self.request(
            reqwest::Method::GET,
            &format!("/v1/deliveries/{}", path_segment(id)),
        ))
        .await
    }

    /// `POST /v1/deliveries/{id}/retry`.
    pub async fn retry(&self, id: &str) -> Result<DeliverySummary, ApiError> {
        Self::json(self.request(
            reqwest::Method::POST,
            &format!("/v1/deliveries/{}/retry", path_segment(id)),
        ))
        .await
    }

    /// `POST /v1/deliveries/{id}/replay`.
    pub async fn replay(&self, id: &str) -> Result<DeliverySummary, ApiError> {
        Self::json(self.request(
            reqwest::Method::POST,
            &format!("/v1/deliveries/{}/replay", path_segment(id)),
        ))
        .await
    }

    /// `POST /v1/webhooks/{id}/pause`.
    pub async fn pause(&self, id: &str) -> Result<WebhookView, ApiError> {
        Self::json(self.request(
            reqwest::Method::POST,
            &format!("/v1/webhooks/{}/pause", path_segment(id)),
        ))
        .await
    }

    /// `POST /v1/webhooks/{id}/resume`.
    pub async fn resume(&self, id: &str) -> Result<WebhookView, ApiError> {
        Self::json(self.request(
            reqwest::Method::POST,
            &format!("/v1/webhooks/{}/resume", path_segment(id)),
        ))
        .await
    }

    /// Opens `GET /v1/stream`; the answer's body is the event stream.
    pub async fn open_stream(&self) -> Result<reqwest::Response, ApiError> {
        Self::send(
            self.request(reqwest::Method::GET, "/v1/stream")
                .header(reqwest::header::ACCEPT, "text/event-stream"),
        )
        .await
    }
}

/// Percent-encodes what may not appear raw in a path segment. Ids are `[A-Za-z0-9_.-]`
/// in practice; anything else is encoded rather than trusted.
fn path_segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_encoded_in_paths() {
        assert_eq!(path_segment("dlv_01J.x-y"), "dlv_01J.x-y");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
    }
}

//! What of a webhook is sealed at rest besides its signing secrets, and how it is shown.
//!
//! Two more parts of a [`WebhookRecord`] are credentials: the user-info of its URL
//! (`https://user:pass@host/…`, or a token as the user name) and the values of its
//! sensitive custom headers ([`rules::is_sensitive`]: `Authorization`, `Cookie`, anything
//! named like a token, key, secret or password). In the store they are sealed with the same
//! [`Sealer`] as the secrets: a URL with user-info is stored whole as a sealed value, a
//! sensitive header's value likewise; everything else stays readable. In memory the engine
//! holds the opened form ([`open`] after every read, [`seal`] before every write), and every
//! view shows them redacted ([`redact_url`], [`redact_headers`]).
//!
//! A value written before this existed (plain, no marker) is read as it is and sealed at
//! the next write ([`needs_seal`] tells the engine to rewrite it on start).
//!
//! ```
//! use hookline_core::at_rest;
//!
//! let url = "https://alice:s3cret@example.com/hook";
//! assert!(at_rest::has_credentials(url));
//! assert_eq!(at_rest::redact_url(url), "https://alice:[redacted]@example.com/hook");
//! assert!(at_rest::is_sensitive_header("X-Api-Key"));
//! ```

use std::collections::BTreeMap;

use crate::model::WebhookRecord;
use crate::rules;
use crate::secret::{PLAIN_MARKER, SEALED_MARKER, SealError, Sealer};

/// What a redacted value is shown as.
pub const REDACTED: &str = "[redacted]";

/// Whether `value` is in a sealed form (either mode's marker).
fn is_sealed(value: &str) -> bool {
    value.starts_with(SEALED_MARKER) || value.starts_with(PLAIN_MARKER)
}

/// Whether `url` carries user-info (a user name, a password or both).
pub fn has_credentials(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| !u.username().is_empty() || u.password().is_some())
}

/// Whether header `name`'s value is sealed at rest and redacted in views.
pub fn is_sensitive_header(name: &str) -> bool {
    rules::is_sensitive(&name.to_ascii_lowercase())
}

/// The record as it is stored: URL with user-info and sensitive header values sealed.
/// `record` is the opened form (what [`open`] returns).
pub fn seal(sealer: &Sealer, mut record: WebhookRecord) -> WebhookRecord {
    if has_credentials(&record.url) {
        record.url = sealer.seal(record.url.as_bytes());
    }
    for (name, value) in &mut record.headers {
        if is_sensitive_header(name) {
            *value = sealer.seal(value.as_bytes());
        }
    }
    record
}

/// The record as the engine uses it: every sealed part opened. Values stored before
/// sealing existed (no marker) are kept as they are.
pub fn open(sealer: &Sealer, mut record: WebhookRecord) -> Result<WebhookRecord, OpenError> {
    if is_sealed(&record.url) {
        record.url = sealer
            .open_string(&record.url)
            .map_err(|source| OpenError::Url { source })?
            .to_string();
    }
    for (name, value) in &mut record.headers {
        if is_sealed(value) {
            *value = sealer
                .open_string(value)
                .map_err(|source| OpenError::Header {
                    name: name.clone(),
                    source,
                })?
                .to_string();
        }
    }
    Ok(record)
}

/// Whether the stored `record` has a credential that is not encrypted while `sealer`
/// encrypts: written before sealing existed, or under the unsealed opt-out and now read
/// with a key. (Under the opt-out nothing asks to be rewritten: it cannot get safer.)
pub fn needs_seal(sealer: &Sealer, stored: &WebhookRecord) -> bool {
    if !sealer.is_secure() {
        return false;
    }
    let weak = |value: &str| !value.starts_with(SEALED_MARKER);
    let url = (has_credentials(&stored.url) || is_sealed(&stored.url)) && weak(&stored.url);
    url || stored
        .headers
        .iter()
        .any(|(name, value)| is_sensitive_header(name) && weak(value))
}

/// A URL as shown: the password, or a user name standing alone (a token), replaced by
/// [`REDACTED`]. A URL that does not parse is shown as it is (it was refused when stored).
pub fn redact_url(url: &str) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_owned();
    };
    let changed = if parsed.password().is_some() {
        parsed.set_password(Some(REDACTED)).is_ok()
    } else if !parsed.username().is_empty() {
        parsed.set_username(REDACTED).is_ok()
    } else {
        false
    };
    if !changed {
        return url.to_owned();
    }
    // `[` and `]` are percent-encoded in the user-info; show the marker plainly.
    parsed.as_str().replacen("%5Bredacted%5D", REDACTED, 1)
}

/// Headers as shown: sensitive values replaced by [`REDACTED`].
pub fn redact_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(name, value)| {
            let shown = if is_sensitive_header(name) {
                REDACTED.to_owned()
            } else {
                value.clone()
            };
            (name.clone(), shown)
        })
        .collect()
}

/// A sealed part of a webhook that does not open (another key, or damaged).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// Its URL.
    #[error("its URL (sealed: it has credentials) does not open: {source}")]
    Url {
        /// Why.
        source: SealError,
    },
    /// A header's value.
    #[error("the value of its header `{name}` (sealed) does not open: {source}")]
    Header {
        /// The header.
        name: String,
        /// Why.
        source: SealError,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{WebhookSource, WebhookState};
    use crate::signing::Scheme;

    fn record() -> WebhookRecord {
        WebhookRecord {
            id: "billing".into(),
            url: "https://example.com/hook".into(),
            events: vec!["task.*".into()],
            scheme: Scheme::Marionette,
            secret_sealed: "v1:aesgcm:AAAA".into(),
            secret_prefix: "abcd".into(),
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
            source: WebhookSource::Api,
            created_at: 1,
            updated_at: 1,
            version: 1,
        }
    }

    fn sealer() -> Sealer {
        Sealer::from_bytes(&[9; 32])
    }

    fn with_credentials() -> WebhookRecord {
        let mut r = record();
        r.url = "https://user:p%40ss@example.com/hook?x=1".into();
        r.headers
            .insert("Authorization".into(), "Bearer t0ken".into());
        r.headers.insert("X-Api-Key".into(), "k3y".into());
        r.headers.insert("X-Team".into(), "billing".into());
        r
    }

    #[test]
    fn credentials_are_sealed_at_rest_and_open_to_the_same_record() {
        let r = with_credentials();
        let stored = seal(&sealer(), r.clone());
        assert!(stored.url.starts_with(SEALED_MARKER), "{}", stored.url);
        assert!(stored.headers["Authorization"].starts_with(SEALED_MARKER));
        assert!(stored.headers["X-Api-Key"].starts_with(SEALED_MARKER));
        assert_eq!(stored.headers["X-Team"], "billing", "not a credential");
        let text = format!("{stored:?}");
        for secret in ["p%40ss", "t0ken", "k3y"] {
            assert!(!text.contains(secret), "{secret} readable at rest: {text}");
        }
        assert!(!needs_seal(&sealer(), &stored));
        assert_eq!(open(&sealer(), stored).unwrap(), r);
    }

    #[test]
    fn a_url_without_credentials_stays_readable() {
        let r = record();
        let stored = seal(&sealer(), r.clone());
        assert_eq!(stored.url, r.url);
        assert!(!needs_seal(&sealer(), &stored));
    }

    #[test]
    fn values_stored_before_sealing_open_as_they_are_and_need_sealing() {
        let legacy = with_credentials();
        assert!(needs_seal(&sealer(), &legacy));
        assert_eq!(open(&sealer(), legacy.clone()).unwrap(), legacy);
    }

    #[test]
    fn values_sealed_under_the_opt_out_are_resealed_with_a_key() {
        let stored = seal(&Sealer::insecure_plaintext(), with_credentials());
        assert!(stored.url.starts_with(PLAIN_MARKER));
        assert!(needs_seal(&sealer(), &stored));
        assert!(!needs_seal(&Sealer::insecure_plaintext(), &stored));
        assert_eq!(open(&sealer(), stored).unwrap(), with_credentials());
    }

    #[test]
    fn a_value_sealed_under_another_key_names_what_does_not_open() {
        let stored = seal(&Sealer::from_bytes(&[1; 32]), with_credentials());
        let e = open(&sealer(), stored).unwrap_err();
        assert!(e.to_string().contains("URL"), "{e}");
        let mut r = record();
        r.headers.insert("Cookie".into(), "a=b".into());
        let stored = seal(&Sealer::from_bytes(&[1; 32]), r);
        let e = open(&sealer(), stored).unwrap_err();
        assert!(e.to_string().contains("`Cookie`"), "{e}");
    }

    #[test]
    fn views_redact_passwords_lone_user_names_and_sensitive_headers() {
        assert_eq!(
            redact_url("https://user:pass@example.com/a"),
            "https://user:[redacted]@example.com/a"
        );
        assert_eq!(
            redact_url("https://tok3n@example.com/a"),
            "https://[redacted]@example.com/a"
        );
        assert_eq!(
            redact_url("https://example.com/a?b=c"),
            "https://example.com/a?b=c"
        );
        let shown = redact_headers(&with_credentials().headers);
        assert_eq!(shown["Authorization"], REDACTED);
        assert_eq!(shown["X-Api-Key"], REDACTED);
        assert_eq!(shown["X-Team"], "billing");
    }
}

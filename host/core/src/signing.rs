//! Signature schemes: signing every delivery attempt and verifying captured requests.
//!
//! Two [`Scheme`]s, chosen per webhook:
//!
//! - [`Scheme::Marionette`], the origin's: `X-Webhook-Signature: sha256=<hex>` where the hex is
//!   `HMAC-SHA256(key = the secret's UTF-8 bytes, "<unix seconds>.<body>")`. Receivers
//!   written for the origin verify it unchanged.
//! - [`Scheme::Standard`], the [Standard Webhooks] specification: `webhook-signature` holds
//!   space-separated `v1,<base64 HMAC-SHA256>` (`whsec_` secrets) and/or
//!   `v1a,<base64 ed25519>` (`whsk_` secret keys, verified with `whpk_` public keys)
//!   signatures over `"<id>.<unix seconds>.<body>"`.
//!
//! **Rotation.** [`signature_headers`] takes the current key first, then the keys still valid
//! during a rotation grace window. Under `standard` every signature goes in
//! `webhook-signature` (`v1,<new> v1,<old>`), which the official libraries accept when any
//! one matches. Under `marionette` the origin's receivers compare the whole
//! `X-Webhook-Signature` value against the one signature they compute, so it carries the
//! current key's signature only, and the previous keys' signatures travel in
//! [`MARIONETTE_PREVIOUS_SIGNATURE_HEADER`] (space-separated, same `sha256=` form), which
//! [`verify`] also accepts. Consequence: an origin receiver that still holds the old secret
//! fails verification from the moment of rotation until it is given the new secret (the
//! retry schedule absorbs a short gap); a receiver checking both headers, such as
//! `hookline verify`, keeps working through the whole window.
//!
//! ```
//! use hookline_core::signing::{Scheme, SigningKey, VerifyingKey, signature_headers, verify};
//!
//! let key = SigningKey::parse(Scheme::Marionette, "my-secret").unwrap();
//! let headers = signature_headers(Scheme::Marionette, "evt_1", 1_700_000_000, b"{}", &[key]).unwrap();
//! assert_eq!(headers[2].0, "X-Webhook-Signature");
//!
//! let receiver = VerifyingKey::parse(Scheme::Marionette, "my-secret").unwrap();
//! assert!(verify(Scheme::Marionette, &[receiver], headers.as_slice(), b"{}", 1_700_000_030).is_ok());
//! ```
//!
//! [Standard Webhooks]: https://www.standardwebhooks.com/

use std::fmt;

use base64::Engine as _;
use ed25519_dalek::ed25519::signature::{MultipartSigner, MultipartVerifier};
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::secret::{BASE64, WHPK_PREFIX, WHSEC_PREFIX, WHSK_PREFIX};

/// How far a timestamp may be from the verifier's clock, in either direction, in seconds.
/// A timestamp exactly this far off still passes.
pub const TOLERANCE_SECS: i64 = 300;

// The schemes and their header names are part of the API, declared in `hookline-contract`.
pub use hookline_contract::scheme::{
    MARIONETTE_ID_HEADER, MARIONETTE_PREVIOUS_SIGNATURE_HEADER, MARIONETTE_SIGNATURE_HEADER,
    MARIONETTE_TIMESTAMP_HEADER, ParseSchemeError, STANDARD_ID_HEADER, STANDARD_SIGNATURE_HEADER,
    STANDARD_TIMESTAMP_HEADER, Scheme,
};

/// Why a secret string is not a usable key. Messages never include the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The secret (or the part after its prefix) is empty.
    #[error("secret is empty")]
    Empty,
    /// The part after the prefix is not base64.
    #[error("`{kind}` key is not valid base64 (the `{kind}` prefix itself is optional)")]
    BadBase64 {
        /// The key's kind: `whsec_`, `whsk_` or `whpk_`.
        kind: &'static str,
    },
    /// The key decodes to the wrong number of bytes.
    #[error("`{kind}` key must decode to {expected} bytes, got {actual}")]
    WrongLength {
        /// The key's kind: `whsk_` or `whpk_`.
        kind: &'static str,
        /// The accepted lengths.
        expected: &'static str,
        /// The decoded length.
        actual: usize,
    },
    /// A 64-byte `whsk_` key whose second half is not the first half's public key.
    #[error("`whsk_` key holds a seed and a public key that do not belong together")]
    MismatchedKeypair,
    /// A `whpk_` key that is not a point on the curve.
    #[error("`whpk_` key is not a valid ed25519 public key")]
    InvalidPublicKey,
    /// A `whpk_` public key given where a signing key is needed.
    #[error("a `whpk_` public key can verify signatures but not make them; give the `whsk_` key")]
    PublicKeyCannotSign,
}

/// An HMAC-SHA256 key, pre-shaped into one 64-byte SHA-256 block exactly as HMAC itself
/// does (RFC 2104: a longer key is hashed first, a shorter one zero-padded), so building a
/// MAC per signature is infallible and allocation-free. Wiped on drop.
#[derive(Clone)]
struct HmacKey(Zeroizing<[u8; 64]>);

impl HmacKey {
    fn new(key: &[u8]) -> Self {
        let mut block = Zeroizing::new([0u8; 64]);
        if key.len() > block.len() {
            block[..32].copy_from_slice(&Sha256::digest(key));
        } else {
            block[..key.len()].copy_from_slice(key);
        }
        Self(block)
    }

    /// `HMAC(key, "[<id>.]<ts>.<body>")`, fed piecewise so the body is never copied.
    fn tag(&self, id: Option<&[u8]>, ts: &[u8], body: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new((&*self.0).into());
        if let Some(id) = id {
            mac.update(id);
            mac.update(b".");
        }
        mac.update(ts);
        mac.update(b".");
        mac.update(body);
        mac.finalize().into_bytes().into()
    }
}

#[derive(Clone)]
enum Signer {
    Hmac(HmacKey),
    Ed25519(Box<ed25519_dalek::SigningKey>),
}

/// Key material that makes signatures: an HMAC secret (marionette, `whsec_`) or an
/// ed25519 secret key (`whsk_`). Wiped on drop; `Debug` shows only its kind.
#[derive(Clone)]
pub struct SigningKey(Signer);

#[derive(Clone)]
enum Verifier {
    Hmac(HmacKey),
    Ed25519(Box<ed25519_dalek::VerifyingKey>),
}

/// Key material that checks signatures: an HMAC secret, or an ed25519 public key (from
/// `whpk_`, or derived from `whsk_`). `Debug` shows only its kind.
#[derive(Clone)]
pub struct VerifyingKey(Verifier);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Signer::Hmac(_) => "hmac-sha256",
            Signer::Ed25519(_) => "ed25519",
        };
        f.debug_struct("SigningKey")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.0 {
            Verifier::Hmac(_) => "hmac-sha256",
            Verifier::Ed25519(_) => "ed25519",
        };
        f.debug_struct("VerifyingKey")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

enum Parsed {
    Hmac(HmacKey),
    Secret(ed25519_dalek::SigningKey),
    Public(ed25519_dalek::VerifyingKey),
}

/// Reads a secret string the way `scheme` defines it.
///
/// - marionette: any non-empty string; the HMAC key is its UTF-8 bytes.
/// - standard: `whsk_<base64>` is an ed25519 secret key, either the 32-byte seed or the
///   64-byte `seed ‖ public key` (whose halves must match); `whpk_<base64>` a 32-byte
///   public key; `whsec_<base64>` or bare base64 (as the official libraries accept) an
///   HMAC key.
fn parse(scheme: Scheme, secret: &str) -> Result<Parsed, KeyError> {
    if scheme == Scheme::Marionette {
        if secret.is_empty() {
            return Err(KeyError::Empty);
        }
        return Ok(Parsed::Hmac(HmacKey::new(secret.as_bytes())));
    }
    if let Some(encoded) = secret.strip_prefix(WHSK_PREFIX) {
        let bytes = decode_key(WHSK_PREFIX, encoded)?;
        return match <&[u8; 32]>::try_from(&bytes[..]) {
            Ok(seed) => Ok(Parsed::Secret(ed25519_dalek::SigningKey::from_bytes(seed))),
            Err(_) => {
                let pair =
                    <&[u8; 64]>::try_from(&bytes[..]).map_err(|_| KeyError::WrongLength {
                        kind: WHSK_PREFIX,
                        expected: "32 (seed) or 64 (seed and public key)",
                        actual: bytes.len(),
                    })?;
                ed25519_dalek::SigningKey::from_keypair_bytes(pair)
                    .map(Parsed::Secret)
                    .map_err(|_| KeyError::MismatchedKeypair)
            }
        };
    }
    if let Some(encoded) = secret.strip_prefix(WHPK_PREFIX) {
        let bytes = decode_key(WHPK_PREFIX, encoded)?;
        let public = <&[u8; 32]>::try_from(&bytes[..]).map_err(|_| KeyError::WrongLength {
            kind: WHPK_PREFIX,
            expected: "32",
            actual: bytes.len(),
        })?;
        return ed25519_dalek::VerifyingKey::from_bytes(public)
            .map(Parsed::Public)
            .map_err(|_| KeyError::InvalidPublicKey);
    }
    let encoded = secret.strip_prefix(WHSEC_PREFIX).unwrap_or(secret);
    Ok(Parsed::Hmac(HmacKey::new(&decode_key(
        WHSEC_PREFIX,
        encoded,
    )?)))
}

fn decode_key(kind: &'static str, encoded: &str) -> Result<Zeroizing<Vec<u8>>, KeyError> {
    if encoded.is_empty() {
        return Err(KeyError::Empty);
    }
    let bytes = Zeroizing::new(
        BASE64
            .decode(encoded)
            .map_err(|_| KeyError::BadBase64 { kind })?,
    );
    if bytes.is_empty() {
        return Err(KeyError::Empty);
    }
    Ok(bytes)
}

impl SigningKey {
    /// Parses a secret string under `scheme`: any non-empty string for marionette;
    /// `whsec_…` (or bare base64) or `whsk_…` for standard.
    pub fn parse(scheme: Scheme, secret: &str) -> Result<Self, KeyError> {
        match parse(scheme, secret)? {
            Parsed::Hmac(key) => Ok(Self(Signer::Hmac(key))),
            Parsed::Secret(key) => Ok(Self(Signer::Ed25519(Box::new(key)))),
            Parsed::Public(_) => Err(KeyError::PublicKeyCannotSign),
        }
    }

    /// The key that verifies this key's signatures: the same secret for HMAC, the public
    /// key for ed25519.
    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(match &self.0 {
            Signer::Hmac(key) => Verifier::Hmac(key.clone()),
            Signer::Ed25519(key) => Verifier::Ed25519(Box::new(key.verifying_key())),
        })
    }
}

impl VerifyingKey {
    /// Parses a secret string under `scheme`: any non-empty string for marionette;
    /// `whsec_…` (or bare base64), `whpk_…`, or `whsk_…` (its public key is derived) for
    /// standard.
    pub fn parse(scheme: Scheme, secret: &str) -> Result<Self, KeyError> {
        Ok(Self(match parse(scheme, secret)? {
            Parsed::Hmac(key) => Verifier::Hmac(key),
            Parsed::Secret(key) => Verifier::Ed25519(Box::new(key.verifying_key())),
            Parsed::Public(key) => Verifier::Ed25519(Box::new(key)),
        }))
    }
}

/// Why signatures could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// [`signature_headers`] got an empty key list.
    #[error("no signing key given")]
    NoKeys,
    /// An ed25519 key used with the marionette scheme, which is HMAC only.
    #[error("ed25519 (`whsk_`) keys sign only under the `standard` scheme")]
    Ed25519UnderMarionette,
}

/// One signature in its header form: `sha256=<hex>` (marionette), `v1,<base64>` or
/// `v1a,<base64>` (standard). Marionette does not sign the `id`.
pub fn sign(
    scheme: Scheme,
    key: &SigningKey,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> Result<String, SignError> {
    let mut digits = [0u8; 20];
    let mut out = String::with_capacity(92);
    append_signature(
        scheme,
        key,
        id,
        decimal(timestamp, &mut digits),
        body,
        &mut out,
    )?;
    Ok(out)
}

/// The headers that authenticate one delivery attempt, with their exact names, in the
/// order id, timestamp, signature(s). `keys[0]` is the current key; any further keys are
/// still valid during a rotation grace window and are signed with too (see the module
/// documentation for how each scheme carries them).
///
/// Runs once per attempt: the body is fed to the MAC in place, never copied.
pub fn signature_headers(
    scheme: Scheme,
    id: &str,
    timestamp: i64,
    body: &[u8],
    keys: &[SigningKey],
) -> Result<Vec<(&'static str, String)>, SignError> {
    let (current, previous) = keys.split_first().ok_or(SignError::NoKeys)?;
    let mut digits = [0u8; 20];
    let ts = decimal(timestamp, &mut digits);
    let mut headers = Vec::with_capacity(4);
    headers.push((scheme.id_header(), id.to_owned()));
    headers.push((scheme.timestamp_header(), timestamp.to_string()));
    let mut signature = String::with_capacity(92 * keys.len());
    append_signature(scheme, current, id, ts, body, &mut signature)?;
    match scheme {
        Scheme::Standard => {
            for key in previous {
                signature.push(' ');
                append_signature(scheme, key, id, ts, body, &mut signature)?;
            }
            headers.push((STANDARD_SIGNATURE_HEADER, signature));
        }
        Scheme::Marionette => {
            headers.push((MARIONETTE_SIGNATURE_HEADER, signature));
            if !previous.is_empty() {
                let mut older = String::with_capacity(72 * previous.len());
                for (i, key) in previous.iter().enumerate() {
                    if i > 0 {
                        older.push(' ');
                    }
                    append_signature(scheme, key, id, ts, body, &mut older)?;
                }
                headers.push((MARIONETTE_PREVIOUS_SIGNATURE_HEADER, older));
            }
        }
    }
    Ok(headers)
}

fn append_signature(
    scheme: Scheme,
    key: &SigningKey,
    id: &str,
    ts: &[u8],
    body: &[u8],
    out: &mut String,
) -> Result<(), SignError> {
    match (scheme, &key.0) {
        (Scheme::Marionette, Signer::Hmac(key)) => {
            out.push_str("sha256=");
            push_lower_hex(&key.tag(None, ts, body), out);
        }
        (Scheme::Marionette, Signer::Ed25519(_)) => return Err(SignError::Ed25519UnderMarionette),
        (Scheme::Standard, Signer::Hmac(key)) => {
            out.push_str("v1,");
            BASE64.encode_string(key.tag(Some(id.as_bytes()), ts, body), out);
        }
        (Scheme::Standard, Signer::Ed25519(key)) => {
            let signature = key.multipart_sign(&[id.as_bytes(), b".", ts, b".", body]);
            out.push_str("v1a,");
            BASE64.encode_string(signature.to_bytes(), out);
        }
    }
    Ok(())
}

fn push_lower_hex(bytes: &[u8], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
}

/// `n` in decimal ASCII, written into `buf` without allocating (20 bytes fit `i64::MIN`).
fn decimal(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
}

/// Read access to a request's headers, by name, case-insensitively.
///
/// Implemented for lists of `(name, value)` pairs and for `http`'s `HeaderMap`.
pub trait HeaderLookup {
    /// The value of the first header named `name` (any case), or `None`.
    fn header(&self, name: &str) -> Option<&str>;
}

impl<N: AsRef<str>, V: AsRef<str>> HeaderLookup for [(N, V)] {
    fn header(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(n, _)| n.as_ref().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

impl<N: AsRef<str>, V: AsRef<str>> HeaderLookup for Vec<(N, V)> {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

impl<N: AsRef<str>, V: AsRef<str>, const LEN: usize> HeaderLookup for [(N, V); LEN] {
    fn header(&self, name: &str) -> Option<&str> {
        self.as_slice().header(name)
    }
}

/// A header whose value is not visible ASCII reads as absent.
impl HeaderLookup for http::HeaderMap {
    fn header(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|value| value.to_str().ok())
    }
}

/// Why a request failed verification.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A required header is absent or empty.
    #[error("missing header `{0}`")]
    MissingHeader(&'static str),
    /// A header is present but malformed.
    #[error("header `{header}`: {reason}")]
    BadFormat {
        /// The header's name.
        header: &'static str,
        /// What is wrong with its value.
        reason: String,
    },
    /// The timestamp is more than [`TOLERANCE_SECS`] in the past.
    #[error(
        "timestamp is {age_secs} s old, more than the {TOLERANCE_SECS} s tolerance: a replayed or long-delayed request, or a skewed clock"
    )]
    StaleTimestamp {
        /// How far in the past, in seconds.
        age_secs: i64,
    },
    /// The timestamp is more than [`TOLERANCE_SECS`] in the future.
    #[error(
        "timestamp is {ahead_secs} s in the future, more than the {TOLERANCE_SECS} s tolerance: the sender's or this clock is skewed"
    )]
    FutureTimestamp {
        /// How far in the future, in seconds.
        ahead_secs: i64,
    },
    /// Well-formed signatures, none made by any of the keys over this request.
    #[error(
        "no signature matches: the body, id or timestamp was altered, or the secret is not the one that signed"
    )]
    NoMatchingSignature,
}

/// Verifies a received request under `scheme` against any of `keys`, with the clock at
/// `now_unix` (Unix seconds).
///
/// Checks, in order: the required headers are present (id, timestamp and signature for
/// standard; timestamp and signature for marionette, whose id is not signed; an empty value
/// counts as missing), the timestamp is an integer within [`TOLERANCE_SECS`] of `now_unix`,
/// then the signatures. A header may hold several space-separated signatures: any one
/// matching passes, unknown versions (`v2,…`) are ignored, and the comparison is constant
/// time. When none matches, the failure is [`VerifyError::NoMatchingSignature`] if at least
/// one signature was well-formed, else the first malformation found.
pub fn verify<H: HeaderLookup + ?Sized>(
    scheme: Scheme,
    keys: &[VerifyingKey],
    headers: &H,
    body: &[u8],
    now_unix: i64,
) -> Result<(), VerifyError> {
    let required = |name: &'static str| {
        headers
            .header(name)
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .ok_or(VerifyError::MissingHeader(name))
    };
    let id = match scheme {
        Scheme::Standard => Some(required(STANDARD_ID_HEADER)?),
        Scheme::Marionette => None,
    };
    let ts_header = scheme.timestamp_header();
    let ts_value = required(ts_header)?;
    let signatures = required(scheme.signature_header())?;
    let timestamp: i64 = ts_value.parse().map_err(|_| VerifyError::BadFormat {
        header: ts_header,
        reason: format!(
            "`{}` is not a Unix time in whole seconds",
            shorten(ts_value)
        ),
    })?;
    let age = now_unix.saturating_sub(timestamp);
    if age > TOLERANCE_SECS {
        return Err(VerifyError::StaleTimestamp { age_secs: age });
    }
    if age < -TOLERANCE_SECS {
        return Err(VerifyError::FutureTimestamp {
            ahead_secs: timestamp.saturating_sub(now_unix),
        });
    }

    let mut digits = [0u8; 20];
    let ts = decimal(timestamp, &mut digits);
    let id = id.map(str::as_bytes);
    let tags: Vec<[u8; 32]> = keys
        .iter()
        .filter_map(|key| match &key.0 {
            Verifier::Hmac(key) => Some(key.tag(id, ts, body)),
            Verifier::Ed25519(_) => None,
        })
        .collect();
    let hmac_matches =
        |signature: &[u8; 32]| tags.iter().any(|tag| bool::from(tag.ct_eq(signature)));
    let mut outcome = Outcome::default();

    match scheme {
        Scheme::Marionette => {
            let previous = headers.header(MARIONETTE_PREVIOUS_SIGNATURE_HEADER);
            for (header, value) in [
                (MARIONETTE_SIGNATURE_HEADER, Some(signatures)),
                (MARIONETTE_PREVIOUS_SIGNATURE_HEADER, previous),
            ] {
                for candidate in value.into_iter().flat_map(str::split_ascii_whitespace) {
                    match parse_marionette(candidate) {
                        Ok(signature) if hmac_matches(&signature) => return Ok(()),
                        Ok(_) => outcome.well_formed = true,
                        Err(reason) => outcome.malformed(header, reason),
                    }
                }
            }
        }
        Scheme::Standard => {
            let id = id.unwrap_or_default();
            let message: [&[u8]; 5] = [id, b".", ts, b".", body];
            let header = STANDARD_SIGNATURE_HEADER;
            for entry in signatures.split_ascii_whitespace() {
                let Some((version, encoded)) = entry.split_once(',') else {
                    outcome.malformed(
                        header,
                        format!(
                            "`{}` has no `,` between version and signature",
                            shorten(entry)
                        ),
                    );
                    continue;
                };
                let matched = match version {
                    "v1" => decode_signature::<32>(version, encoded).map(|sig| hmac_matches(&sig)),
                    "v1a" => decode_signature::<64>(version, encoded).map(|sig| {
                        let sig = ed25519_dalek::Signature::from_bytes(&sig);
                        keys.iter().any(|key| match &key.0 {
                            Verifier::Ed25519(key) => key.multipart_verify(&message, &sig).is_ok(),
                            Verifier::Hmac(_) => false,
                        })
                    }),
                    // Unknown versions are for future schemes: skip, as the spec requires.
                    _ => continue,
                };
                match matched {
                    Ok(true) => return Ok(()),
                    Ok(false) => outcome.well_formed = true,
                    Err(reason) => outcome.malformed(header, reason),
                }
            }
        }
    }
    Err(outcome.into_error())
}

/// What the signatures of a failed verification looked like.
#[derive(Default)]
struct Outcome {
    well_formed: bool,
    first_malformed: Option<(&'static str, String)>,
}

impl Outcome {
    fn malformed(&mut self, header: &'static str, reason: String) {
        self.first_malformed.get_or_insert((header, reason));
    }

    fn into_error(self) -> VerifyError {
        match self.first_malformed {
            Some((header, reason)) if !self.well_formed => {
                VerifyError::BadFormat { header, reason }
            }
            _ => VerifyError::NoMatchingSignature,
        }
    }
}

fn parse_marionette(candidate: &str) -> Result<[u8; 32], String> {
    let Some(hex_digits) = candidate.strip_prefix("sha256=") else {
        return Err(format!(
            "`{}` does not start with `sha256=`",
            shorten(candidate)
        ));
    };
    if hex_digits.len() != 64 {
        return Err(format!(
            "`sha256=` must be followed by 64 hex characters, got {}",
            hex_digits.chars().count()
        ));
    }
    let mut signature = [0u8; 32];
    hex::decode_to_slice(hex_digits, &mut signature)
        .map_err(|_| "the part after `sha256=` is not hex".to_owned())?;
    Ok(signature)
}

fn decode_signature<const N: usize>(version: &str, encoded: &str) -> Result<[u8; N], String> {
    if encoded.is_empty() {
        return Err(format!("`{version}` signature is empty"));
    }
    // Room for one byte more than expected, so an over-long signature is told apart.
    let mut buf = [0u8; 65];
    let len = BASE64
        .decode_slice(encoded, &mut buf[..=N])
        .map_err(|err| match err {
            base64::DecodeSliceError::OutputSliceTooSmall => {
                format!("`{version}` signature is longer than {N} bytes")
            }
            base64::DecodeSliceError::DecodeError(_) => {
                format!(
                    "`{version}` signature `{}` is not valid base64",
                    shorten(encoded)
                )
            }
        })?;
    buf[..len]
        .try_into()
        .map_err(|_| format!("`{version}` signature is {len} bytes, expected {N}"))
}

/// `text` cut to at most 40 characters for error messages.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const BODY: &[u8] = br#"{"event":"task.completed"}"#;

    fn marionette(secret: &str) -> (SigningKey, VerifyingKey) {
        let key = SigningKey::parse(Scheme::Marionette, secret).unwrap();
        let verifying = key.verifying_key();
        (key, verifying)
    }

    #[test]
    fn scheme_names_round_trip() {
        for scheme in [Scheme::Marionette, Scheme::Standard] {
            assert_eq!(scheme.to_string().parse::<Scheme>(), Ok(scheme));
            let json = serde_json::to_string(&scheme).unwrap();
            assert_eq!(json, format!("\"{scheme}\""));
            assert_eq!(serde_json::from_str::<Scheme>(&json).unwrap(), scheme);
        }
        assert_eq!(Scheme::default(), Scheme::Marionette);
        assert_eq!(
            "Standard".parse::<Scheme>().unwrap_err().to_string(),
            "unknown signature scheme `Standard`: expected `marionette` or `standard`"
        );
    }

    /// `python3 -c 'import hmac,hashlib; print(hmac.new(b"s3cret", b"1700000000.{\"event\":\"task.completed\"}", hashlib.sha256).hexdigest())'`
    #[test]
    fn marionette_signature_matches_the_origin_format() {
        let (key, _) = marionette("s3cret");
        let signature = sign(Scheme::Marionette, &key, "ignored", 1_700_000_000, BODY).unwrap();
        assert_eq!(signature.len(), 71);
        assert_eq!(
            signature,
            "sha256=11d0389e59975c06b9115ebbd1a634b8d713506a4342f37759160fe6f0266e0c"
        );
    }

    #[test]
    fn hmac_keys_longer_than_a_block_are_hashed_like_hmac_does() {
        let long = "k".repeat(100);
        let (key, _) = marionette(&long);
        let mut mac = Hmac::<Sha256>::new_from_slice(long.as_bytes()).unwrap();
        mac.update(b"7.");
        mac.update(BODY);
        let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(
            sign(Scheme::Marionette, &key, "", 7, BODY).unwrap(),
            expected
        );
    }

    #[test]
    fn decimal_formats_every_i64() {
        let mut buf = [0u8; 20];
        for n in [0, 7, -7, 1_700_000_000, i64::MAX, i64::MIN] {
            assert_eq!(decimal(n, &mut buf), n.to_string().as_bytes());
        }
    }

    #[test]
    fn marionette_rotation_keeps_the_new_signature_in_the_main_header() {
        let (new, new_verifying) = marionette("new-secret");
        let (old, old_verifying) = marionette("old-secret");
        let headers = signature_headers(
            Scheme::Marionette,
            "evt_1",
            1_700_000_000,
            BODY,
            &[new.clone(), old.clone()],
        )
        .unwrap();
        let names: Vec<_> = headers.iter().map(|(name, _)| *name).collect();
        assert_eq!(
            names,
            [
                "X-Webhook-ID",
                "X-Webhook-Timestamp",
                "X-Webhook-Signature",
                "X-Webhook-Signature-Previous"
            ]
        );
        assert_eq!(headers[0].1, "evt_1");
        assert_eq!(headers[1].1, "1700000000");
        assert_eq!(
            headers[2].1,
            sign(Scheme::Marionette, &new, "", 1_700_000_000, BODY).unwrap()
        );
        assert_eq!(
            headers[3].1,
            sign(Scheme::Marionette, &old, "", 1_700_000_000, BODY).unwrap()
        );
        for key in [new_verifying, old_verifying] {
            assert_eq!(
                verify(
                    Scheme::Marionette,
                    &[key],
                    headers.as_slice(),
                    BODY,
                    1_700_000_000
                ),
                Ok(())
            );
        }
        let single = signature_headers(Scheme::Marionette, "evt_1", 1, BODY, &[new]).unwrap();
        assert_eq!(single.len(), 3);
    }

    #[test]
    fn standard_rotation_puts_every_signature_in_one_header() {
        let new =
            SigningKey::parse(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let (whsk, _) = crate::secret::generate_ed25519();
        let old = SigningKey::parse(Scheme::Standard, &whsk).unwrap();
        let headers = signature_headers(
            Scheme::Standard,
            "msg_1",
            1_614_265_330,
            BODY,
            &[new.clone(), old.clone()],
        )
        .unwrap();
        assert_eq!(headers[0], ("webhook-id", "msg_1".to_owned()));
        assert_eq!(headers[1], ("webhook-timestamp", "1614265330".to_owned()));
        let (name, value) = &headers[2];
        assert_eq!(*name, "webhook-signature");
        let parts: Vec<_> = value.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts[0].starts_with("v1,") && parts[0].len() == 47);
        assert!(parts[1].starts_with("v1a,") && parts[1].len() == 92);
        for key in [new.verifying_key(), old.verifying_key()] {
            assert_eq!(
                verify(
                    Scheme::Standard,
                    &[key],
                    headers.as_slice(),
                    BODY,
                    1_614_265_330
                ),
                Ok(())
            );
        }
    }

    #[test]
    fn signing_needs_a_key_of_the_right_kind() {
        assert_eq!(
            signature_headers(Scheme::Marionette, "a", 1, BODY, &[]),
            Err(SignError::NoKeys)
        );
        let (whsk, _) = crate::secret::generate_ed25519();
        let ed = SigningKey::parse(Scheme::Standard, &whsk).unwrap();
        assert_eq!(
            sign(Scheme::Marionette, &ed, "a", 1, BODY),
            Err(SignError::Ed25519UnderMarionette)
        );
    }

    #[test]
    fn key_parsing_errors_are_precise() {
        use KeyError::*;
        let standard = |s: &str| SigningKey::parse(Scheme::Standard, s).map(|_| ());
        assert_eq!(
            SigningKey::parse(Scheme::Marionette, "").map(|_| ()),
            Err(Empty)
        );
        assert_eq!(standard("whsec_"), Err(Empty));
        assert_eq!(
            standard("whsec_not base64!"),
            Err(BadBase64 { kind: "whsec_" })
        );
        assert_eq!(
            standard("whsk_AAAA"),
            Err(WrongLength {
                kind: "whsk_",
                expected: "32 (seed) or 64 (seed and public key)",
                actual: 3
            })
        );
        assert_eq!(
            standard(&format!("whsk_{}", BASE64.encode([1u8; 64]))),
            Err(MismatchedKeypair)
        );
        let (_, whpk) = crate::secret::generate_ed25519();
        assert_eq!(standard(&whpk), Err(PublicKeyCannotSign));
        assert!(VerifyingKey::parse(Scheme::Standard, &whpk).is_ok());
        assert_eq!(
            VerifyingKey::parse(Scheme::Standard, "whpk_AAAA").map(|_| ()),
            Err(WrongLength {
                kind: "whpk_",
                expected: "32",
                actual: 3
            })
        );
        assert_eq!(
            WrongLength {
                kind: "whpk_",
                expected: "32",
                actual: 3
            }
            .to_string(),
            "`whpk_` key must decode to 32 bytes, got 3"
        );
    }

    #[test]
    fn debug_output_hides_key_material() {
        let (key, verifying) = marionette("hunter2");
        assert_eq!(
            format!("{key:?}"),
            r#"SigningKey { kind: "hmac-sha256", .. }"#
        );
        assert_eq!(
            format!("{verifying:?}"),
            r#"VerifyingKey { kind: "hmac-sha256", .. }"#
        );
    }

    #[test]
    fn verify_explains_each_failure() {
        let (key, verifying) = marionette("s3cret");
        let signature = sign(Scheme::Marionette, &key, "", 1000, BODY).unwrap();
        let check = |headers: &[(&str, &str)]| {
            verify(
                Scheme::Marionette,
                std::slice::from_ref(&verifying),
                headers,
                BODY,
                1000,
            )
        };
        assert_eq!(
            check(&[("x-webhook-signature", &signature)]),
            Err(VerifyError::MissingHeader("X-Webhook-Timestamp"))
        );
        assert_eq!(
            check(&[("x-webhook-timestamp", "1000"), ("X-WEBHOOK-SIGNATURE", "")]),
            Err(VerifyError::MissingHeader("X-Webhook-Signature"))
        );
        let err = check(&[
            ("x-webhook-timestamp", "soon"),
            ("x-webhook-signature", &signature),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "header `X-Webhook-Timestamp`: `soon` is not a Unix time in whole seconds"
        );
        let err = check(&[
            ("x-webhook-timestamp", "1000"),
            ("x-webhook-signature", "md5=abc"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "header `X-Webhook-Signature`: `md5=abc` does not start with `sha256=`"
        );
        let err = check(&[
            ("x-webhook-timestamp", "1000"),
            ("x-webhook-signature", "sha256=abc"),
        ])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "header `X-Webhook-Signature`: `sha256=` must be followed by 64 hex characters, got 3"
        );
        let wrong = format!("sha256={}", "0".repeat(64));
        assert_eq!(
            check(&[
                ("x-webhook-timestamp", "1000"),
                ("x-webhook-signature", &wrong)
            ]),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            check(&[
                ("x-webhook-timestamp", "699"),
                ("x-webhook-signature", &signature)
            ]),
            Err(VerifyError::StaleTimestamp { age_secs: 301 })
        );
        assert_eq!(
            check(&[
                ("x-webhook-timestamp", "1301"),
                ("x-webhook-signature", &signature)
            ]),
            Err(VerifyError::FutureTimestamp { ahead_secs: 301 })
        );
        assert_eq!(
            VerifyError::StaleTimestamp { age_secs: 301 }.to_string(),
            "timestamp is 301 s old, more than the 300 s tolerance: a replayed or long-delayed request, or a skewed clock"
        );
    }

    #[test]
    fn tolerance_is_inclusive_and_overflow_safe() {
        let (key, verifying) = marionette("s3cret");
        for (ts, now, ok) in [
            (700, 1000, true),
            (1300, 1000, true),
            (i64::MIN, i64::MAX, false),
            (i64::MAX, i64::MIN, false),
        ] {
            let signature = sign(Scheme::Marionette, &key, "", ts, BODY).unwrap();
            let ts = ts.to_string();
            let headers = [
                ("X-Webhook-Timestamp", ts.as_str()),
                ("X-Webhook-Signature", signature.as_str()),
            ];
            assert_eq!(
                verify(
                    Scheme::Marionette,
                    std::slice::from_ref(&verifying),
                    &headers,
                    BODY,
                    now
                )
                .is_ok(),
                ok
            );
        }
    }

    #[test]
    fn standard_reports_malformed_signatures_only_when_nothing_else_was_there() {
        let key = VerifyingKey::parse(Scheme::Standard, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            .unwrap();
        let check = |signature: &str| {
            let headers = [
                ("webhook-id", "msg"),
                ("webhook-timestamp", "10"),
                ("webhook-signature", signature),
            ];
            verify(
                Scheme::Standard,
                std::slice::from_ref(&key),
                &headers,
                BODY,
                10,
            )
        };
        let bad = |reason: &str| {
            Err(VerifyError::BadFormat {
                header: "webhook-signature",
                reason: reason.to_owned(),
            })
        };
        assert_eq!(check("v1,"), bad("`v1` signature is empty"));
        assert_eq!(
            check("nocomma"),
            bad("`nocomma` has no `,` between version and signature")
        );
        assert_eq!(
            check("v1,!!!!"),
            bad("`v1` signature `!!!!` is not valid base64")
        );
        assert_eq!(
            check("v1,AAAA"),
            bad("`v1` signature is 3 bytes, expected 32")
        );
        assert_eq!(
            check(&format!("v1,{}", BASE64.encode([0u8; 40]))),
            bad("`v1` signature is longer than 32 bytes")
        );
        let well_formed = format!("v1,{}", BASE64.encode([0u8; 32]));
        assert_eq!(
            check(&format!("v1, {well_formed}")),
            Err(VerifyError::NoMatchingSignature)
        );
        assert_eq!(
            check(&format!("v2,{}", BASE64.encode([0u8; 32]))),
            Err(VerifyError::NoMatchingSignature)
        );
    }

    #[test]
    fn header_map_lookup_is_case_insensitive() {
        let mut map = http::HeaderMap::new();
        map.insert("webhook-id", "msg_1".parse().unwrap());
        assert_eq!(map.header("Webhook-ID"), Some("msg_1"));
        assert_eq!(map.header("webhook-timestamp"), None);
    }

    fn standard_keys(ed25519: bool, seed: [u8; 32]) -> (SigningKey, VerifyingKey) {
        let secret = if ed25519 {
            format!("whsk_{}", BASE64.encode(seed))
        } else {
            format!("whsec_{}", BASE64.encode(seed))
        };
        let key = SigningKey::parse(Scheme::Standard, &secret).unwrap();
        let verifying = key.verifying_key();
        (key, verifying)
    }

    fn keys_for(scheme: Scheme, ed25519: bool, seed: [u8; 32]) -> (SigningKey, VerifyingKey) {
        match scheme {
            Scheme::Marionette => marionette(&hex::encode(seed)),
            Scheme::Standard => standard_keys(ed25519, seed),
        }
    }

    fn scheme() -> impl Strategy<Value = Scheme> {
        prop_oneof![Just(Scheme::Marionette), Just(Scheme::Standard)]
    }

    proptest! {
        #[test]
        fn sign_then_verify_round_trips(
            scheme in scheme(), ed25519 in any::<bool>(), seed in any::<[u8; 32]>(),
            id in "[A-Za-z0-9_]{1,32}", ts in 0i64..4_000_000_000, skew in -TOLERANCE_SECS..=TOLERANCE_SECS,
            body in proptest::collection::vec(any::<u8>(), 0..512),
        ) {
            let (key, verifying) = keys_for(scheme, ed25519, seed);
            let headers = signature_headers(scheme, &id, ts, &body, &[key]).unwrap();
            prop_assert_eq!(verify(scheme, &[verifying], headers.as_slice(), &body, ts + skew), Ok(()));
        }

        #[test]
        fn tampered_body_fails(
            scheme in scheme(), ed25519 in any::<bool>(), seed in any::<[u8; 32]>(),
            body in proptest::collection::vec(any::<u8>(), 1..512), index in any::<prop::sample::Index>(), flip in 1u8..=255,
        ) {
            let (key, verifying) = keys_for(scheme, ed25519, seed);
            let headers = signature_headers(scheme, "msg_1", 1_000, &body, &[key]).unwrap();
            let mut tampered = body.clone();
            tampered[index.index(body.len())] ^= flip;
            prop_assert_eq!(
                verify(scheme, &[verifying], headers.as_slice(), &tampered, 1_000),
                Err(VerifyError::NoMatchingSignature)
            );
        }

        #[test]
        fn timestamps_outside_tolerance_fail_with_their_distance(
            scheme in scheme(), seed in any::<[u8; 32]>(), ts in 0i64..4_000_000_000,
            beyond in TOLERANCE_SECS + 1..10_000_000, future in any::<bool>(),
        ) {
            let (key, verifying) = keys_for(scheme, false, seed);
            let headers = signature_headers(scheme, "msg_1", ts, BODY, &[key]).unwrap();
            let (now, expected) = if future {
                (ts - beyond, VerifyError::FutureTimestamp { ahead_secs: beyond })
            } else {
                (ts + beyond, VerifyError::StaleTimestamp { age_secs: beyond })
            };
            prop_assert_eq!(verify(scheme, &[verifying], headers.as_slice(), BODY, now), Err(expected));
        }
    }
}

//! Signing secrets: generation for both signature schemes, and sealing at rest.
//!
//! - [`generate_marionette`] makes the origin's secrets (64 lowercase hex characters, stored
//!   as their SHA-256 [`hash_secret`] and shown by their 8-character [`secret_prefix`]).
//! - [`generate_standard`] and [`generate_ed25519`] make Standard Webhooks keys
//!   (`whsec_…`, `whsk_…`/`whpk_…`).
//! - [`Sealer`] encrypts secrets at rest with AES-256-GCM, stored as
//!   `v1:aesgcm:base64(nonce ‖ ciphertext ‖ tag)`, or (only under the daemon's explicit
//!   `store_secrets_unsealed` opt-out) as `v0:plain:base64(secret)`. The mode marker says
//!   how to open a value; values written before it existed (the origin's unmarked AES-GCM
//!   and unmarked base64) still open, and [`Sealer::reseal`] rewrites them marked.
//!
//! ```
//! use hookline_core::secret::{Sealer, generate_marionette, hash_secret};
//!
//! let generated = generate_marionette();
//! assert_eq!(generated.hash, hash_secret(&generated.secret));
//!
//! let sealer = Sealer::from_bytes(&[7; 32]);
//! let sealed = sealer.seal(generated.secret.as_bytes());
//! assert_eq!(&*sealer.open_string(&sealed).unwrap(), &generated.secret);
//! ```

use std::fmt;

use aes_gcm::aead::AeadInPlace;
use aes_gcm::{Aes256Gcm, KeyInit, Nonce, Tag};
use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use rand::RngCore;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Standard base64 (the alphabet the origin and Standard Webhooks use): padded on output,
/// padding optional on input.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Number of characters of a marionette secret shown to identify it ([`secret_prefix`]).
pub const PREFIX_LEN: usize = 8;

/// Random bytes in a generated Standard Webhooks `whsec_` secret.
///
/// The specification asks for 24 to 64 bytes and Svix generates 24; Hookline uses 32, the
/// output size of HMAC-SHA256, so the key is never the weaker part of the signature.
pub const STANDARD_SECRET_BYTES: usize = 32;

/// Prefix of Standard Webhooks symmetric (HMAC) secrets.
pub const WHSEC_PREFIX: &str = "whsec_";
/// Prefix of Standard Webhooks ed25519 secret keys.
pub const WHSK_PREFIX: &str = "whsk_";
/// Prefix of Standard Webhooks ed25519 public keys.
pub const WHPK_PREFIX: &str = "whpk_";

/// A freshly generated marionette secret, as the origin's `GenerateSecret` returned it.
///
/// `Debug` redacts [`secret`](Self::secret); the plaintext is shown to the user once (at
/// creation or rotation) and otherwise only kept [sealed](Sealer).
#[derive(Clone, PartialEq, Eq)]
pub struct MarionetteSecret {
    /// The secret itself: 32 random bytes as 64 lowercase hex characters. Its UTF-8 bytes
    /// are the HMAC key.
    pub secret: String,
    /// Lowercase hex SHA-256 of the secret's characters ([`hash_secret`]).
    pub hash: String,
    /// The secret's first [`PREFIX_LEN`] characters ([`secret_prefix`]).
    pub prefix: String,
}

impl fmt::Debug for MarionetteSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MarionetteSecret")
            .field("secret", &"<redacted>")
            .field("hash", &self.hash)
            .field("prefix", &self.prefix)
            .finish()
    }
}

/// Generates a marionette secret: 32 random bytes as 64 lowercase hex characters, with its
/// hash and prefix.
pub fn generate_marionette() -> MarionetteSecret {
    let bytes = random_bytes::<32>();
    let secret = hex::encode(*bytes);
    MarionetteSecret {
        hash: hash_secret(&secret),
        prefix: secret_prefix(&secret).to_owned(),
        secret,
    }
}

/// Lowercase hex SHA-256 of `secret`'s UTF-8 bytes (the hex string itself, not the bytes it
/// encodes), as the origin's `HashSecret`.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The first [`PREFIX_LEN`] characters of `secret` (all of it when shorter), shown in API
/// output and the console to identify a secret without revealing it.
///
/// SEED.md says "prefix = its first 8 characters, shown to identify the secret". We read
/// "its" as the secret's, not the hash's: the origin's `GenerateSecret` returns the prefix
/// next to the secret "for display to user", and a person holding a secret can recognise it
/// by its first characters but not by its hash's. Eight hex characters reveal 32 of the 256
/// bits, leaving 224 unknown.
pub fn secret_prefix(secret: &str) -> &str {
    match secret.char_indices().nth(PREFIX_LEN) {
        Some((end, _)) => &secret[..end],
        None => secret,
    }
}

/// Generates a Standard Webhooks symmetric secret: `whsec_` and the base64 of
/// [`STANDARD_SECRET_BYTES`] random bytes.
pub fn generate_standard() -> String {
    let bytes = random_bytes::<STANDARD_SECRET_BYTES>();
    let mut secret = String::with_capacity(WHSEC_PREFIX.len() + 44);
    secret.push_str(WHSEC_PREFIX);
    BASE64.encode_string(bytes.as_slice(), &mut secret);
    secret
}

/// Generates a Standard Webhooks ed25519 key pair: `(secret, public)` where `secret` is
/// `whsk_` + base64 of the 64-byte `seed ‖ public key` form (the one `ed25519` libraries
/// such as Go's `crypto/ed25519` and libsodium call the private key) and `public` is `whpk_`
/// + base64 of the 32-byte public key.
///
/// [`crate::signing::SigningKey::parse`] also accepts the 32-byte seed form that the
/// official Go library's tests use.
pub fn generate_ed25519() -> (String, String) {
    let seed = random_bytes::<32>();
    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let keypair = Zeroizing::new(key.to_keypair_bytes());
    let mut secret = String::with_capacity(WHSK_PREFIX.len() + 88);
    secret.push_str(WHSK_PREFIX);
    BASE64.encode_string(keypair.as_slice(), &mut secret);
    let mut public = String::with_capacity(WHPK_PREFIX.len() + 44);
    public.push_str(WHPK_PREFIX);
    BASE64.encode_string(key.verifying_key().as_bytes(), &mut public);
    (secret, public)
}

/// `N` bytes from the thread-local CSPRNG (ChaCha, seeded from the OS), wiped on drop.
fn random_bytes<const N: usize>() -> Zeroizing<[u8; N]> {
    let mut bytes = Zeroizing::new([0u8; N]);
    rand::rng().fill_bytes(&mut *bytes);
    bytes
}

/// Length of the AES-256-GCM key a [`Sealer`] needs.
pub const SEAL_KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// Marker of a value sealed with AES-256-GCM: `v1:aesgcm:` then
/// `base64(nonce ‖ ciphertext ‖ tag)` (the origin's layout).
pub const SEALED_MARKER: &str = "v1:aesgcm:";
/// Marker of a value stored unsealed (the `store_secrets_unsealed` opt-out): `v0:plain:`
/// then the secret's base64.
pub const PLAIN_MARKER: &str = "v0:plain:";

/// Seals secrets at rest: AES-256-GCM under a 32-byte key, stored as
/// [`SEALED_MARKER`]`base64(nonce ‖ ciphertext ‖ tag)` with a random 12-byte nonce per
/// seal; or, in the [insecure](Self::insecure_plaintext) mode the daemon uses only under
/// its explicit opt-out, [`PLAIN_MARKER`]`base64(secret)`.
///
/// [`open`](Self::open) reads the marker, so a store written unsealed still opens once a
/// key is configured. Unmarked values were written before the marker existed: the origin's
/// AES-GCM layout, or its base64 fallback. Both open; a legacy value that does not
/// authenticate under the key is taken as the fallback only if it decodes to printable
/// ASCII, the shape of every secret Hookline and the origin make (a wrong key's garbage
/// passes that test with a chance below 10⁻¹²).
///
/// The key is wiped from memory on drop and never printed by `Debug`. The AES key schedule
/// is rebuilt for each call rather than kept: `aes-gcm` is built without its `zeroize`
/// feature, so a long-lived cipher would leave round keys in memory after drop.
#[derive(Clone)]
pub struct Sealer {
    key: Option<Zeroizing<[u8; SEAL_KEY_LEN]>>,
    /// During a key rotation: the key being replaced, tried when a value does not open
    /// under `key` ([`Sealer::with_previous`]). Never used to seal.
    previous: Option<Zeroizing<[u8; SEAL_KEY_LEN]>>,
}

impl fmt::Debug for Sealer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = if self.is_secure() {
            "aes-256-gcm"
        } else {
            "insecure-plaintext"
        };
        f.debug_struct("Sealer")
            .field("mode", &mode)
            .field("key", &self.key.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Why a sealing key was rejected. The messages never include the key's characters.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealKeyError {
    /// The hex key does not have 64 characters.
    #[error(
        "encryption key must be {} hex characters ({SEAL_KEY_LEN} bytes), got {len} characters",
        SEAL_KEY_LEN * 2
    )]
    WrongLength {
        /// Number of characters given (after trimming whitespace).
        len: usize,
    },
    /// The hex key has a character outside `0-9a-fA-F`.
    #[error("encryption key is not hex: invalid character at position {position}")]
    NotHex {
        /// Zero-based position of the first offending character.
        position: usize,
    },
}

/// Why a sealed secret could not be opened. A wrong key or altered data is always an
/// error, never garbage plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// The stored value is not base64.
    #[error("sealed secret is not valid base64")]
    BadBase64,
    /// The decoded value cannot even hold a nonce and a tag.
    #[error(
        "sealed secret is {len} bytes, shorter than the {} bytes of nonce and tag",
        NONCE_LEN + TAG_LEN
    )]
    TooShort {
        /// Decoded length in bytes.
        len: usize,
    },
    /// AES-GCM authentication failed.
    #[error("sealed secret failed authentication: wrong encryption key or altered data")]
    Authentication,
    /// The value is sealed (`v1:aesgcm:`, or an unmarked value that is not the origin's
    /// base64 fallback) and this sealer has no key.
    #[error(
        "sealed secret is encrypted but no encryption key is configured; configure the key it was sealed with"
    )]
    KeyNeeded,
    /// [`Sealer::open_string`] opened bytes that are not UTF-8.
    #[error("sealed secret is not UTF-8 text")]
    NotUtf8,
}

impl Sealer {
    /// A sealer encrypting under `key`.
    pub fn from_bytes(key: &[u8; SEAL_KEY_LEN]) -> Self {
        Self {
            key: Some(Zeroizing::new(*key)),
            previous: None,
        }
    }

    /// This sealer, also opening values sealed under `previous`'s key: what a daemon uses
    /// while it re-seals everything under a new key, so nothing stops opening meanwhile.
    /// It still seals under its own key only.
    pub fn with_previous(mut self, previous: &Sealer) -> Self {
        self.previous = previous.key.clone();
        self
    }

    /// A sealer encrypting under a key written as 64 hex characters (either case;
    /// surrounding whitespace, such as a key file's final newline, is ignored).
    pub fn from_hex(hex_key: &str) -> Result<Self, SealKeyError> {
        let hex_key = hex_key.trim();
        if hex_key.len() != SEAL_KEY_LEN * 2 {
            return Err(SealKeyError::WrongLength {
                len: hex_key.chars().count(),
            });
        }
        let mut key = Zeroizing::new([0u8; SEAL_KEY_LEN]);
        hex::decode_to_slice(hex_key, &mut *key).map_err(|err| match err {
            hex::FromHexError::InvalidHexCharacter { index, .. } => {
                SealKeyError::NotHex { position: index }
            }
            // The length was checked above, so only a bad character is possible.
            hex::FromHexError::OddLength | hex::FromHexError::InvalidStringLength => {
                SealKeyError::WrongLength { len: hex_key.len() }
            }
        })?;
        Ok(Self {
            key: Some(key),
            previous: None,
        })
    }

    /// The origin's fallback when no key is configured: secrets are stored only
    /// base64-encoded, readable by anyone who can read the store. Not for production.
    pub fn insecure_plaintext() -> Self {
        Self {
            key: None,
            previous: None,
        }
    }

    /// Whether this sealer encrypts (`false` for [`insecure_plaintext`](Self::insecure_plaintext)).
    pub fn is_secure(&self) -> bool {
        self.key.is_some()
    }

    /// Whether `sealed` is in another form than this sealer writes: unsealed, or written
    /// before the mode marker existed, while this sealer encrypts. (An insecure sealer
    /// never asks to rewrite: it cannot make anything safer.)
    pub fn needs_reseal(&self, sealed: &str) -> bool {
        self.is_secure() && !sealed.starts_with(SEALED_MARKER)
    }

    /// Opens `sealed` and seals it again in this sealer's form, if it
    /// [needs it](Self::needs_reseal); `Ok(None)` when it is already in that form.
    pub fn reseal(&self, sealed: &str) -> Result<Option<String>, SealError> {
        if !self.needs_reseal(sealed) {
            return Ok(None);
        }
        let plaintext = self.open(sealed)?;
        Ok(Some(self.seal(&plaintext)))
    }

    /// Seals `plaintext`: base64 of `nonce ‖ ciphertext ‖ tag` under a fresh random nonce
    /// (or plain base64 in insecure mode).
    ///
    /// # Panics
    ///
    /// If `plaintext` exceeds AES-GCM's limit of 64 GiB.
    pub fn seal(&self, plaintext: &[u8]) -> String {
        let Some(key) = &self.key else {
            let mut out = PLAIN_MARKER.to_owned();
            BASE64.encode_string(plaintext, &mut out);
            return out;
        };
        let mut buf = Zeroizing::new(Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN));
        buf.resize(NONCE_LEN, 0);
        rand::rng().fill_bytes(&mut buf[..NONCE_LEN]);
        buf.extend_from_slice(plaintext);
        let (nonce, body) = buf.split_at_mut(NONCE_LEN);
        let tag = cipher(key)
            .encrypt_in_place_detached(Nonce::from_slice(nonce), &[], body)
            .expect("AES-GCM seals up to 64 GiB; secrets are far smaller");
        buf.extend_from_slice(&tag);
        let mut out = SEALED_MARKER.to_owned();
        BASE64.encode_string(&*buf, &mut out);
        out
    }

    /// Opens a value made by [`seal`](Self::seal) (with the same key, if sealed), or one
    /// written before the mode marker existed. The plaintext is wiped when dropped.
    pub fn open(&self, sealed: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let sealed = sealed.trim();
        let decode = |text: &str| {
            BASE64
                .decode(text)
                .map(Zeroizing::new)
                .map_err(|_| SealError::BadBase64)
        };
        if let Some(body) = sealed.strip_prefix(SEALED_MARKER) {
            let key = self.key.as_ref().ok_or(SealError::KeyNeeded)?;
            let buf = decode(body)?;
            return match (open_aes_gcm(key, buf.clone()), &self.previous) {
                (Err(SealError::Authentication), Some(previous)) => open_aes_gcm(previous, buf),
                (result, _) => result,
            };
        }
        if let Some(body) = sealed.strip_prefix(PLAIN_MARKER) {
            return decode(body);
        }
        // Unmarked: written before the marker existed.
        let buf = decode(sealed)?;
        let Some(key) = &self.key else {
            return if looks_like_text_secret(&buf) {
                Ok(buf)
            } else {
                Err(SealError::KeyNeeded)
            };
        };
        let fallback = looks_like_text_secret(&buf).then(|| buf.clone());
        match open_aes_gcm(key, buf) {
            Ok(plaintext) => Ok(plaintext),
            Err(e) => fallback.ok_or(e),
        }
    }

    /// [`open`](Self::open), for secrets that are text (all of Hookline's are).
    pub fn open_string(&self, sealed: &str) -> Result<Zeroizing<String>, SealError> {
        let mut bytes = self.open(sealed)?;
        let text = String::from_utf8(std::mem::take(&mut *bytes)).map_err(|err| {
            // Wipe the rejected bytes too.
            drop(Zeroizing::new(err.into_bytes()));
            SealError::NotUtf8
        })?;
        Ok(Zeroizing::new(text))
    }
}

/// Opens `nonce ‖ ciphertext ‖ tag` in place.
fn open_aes_gcm(
    key: &[u8; SEAL_KEY_LEN],
    mut buf: Zeroizing<Vec<u8>>,
) -> Result<Zeroizing<Vec<u8>>, SealError> {
    let len = buf.len();
    if len < NONCE_LEN + TAG_LEN {
        return Err(SealError::TooShort { len });
    }
    let (nonce, rest) = buf.split_at_mut(NONCE_LEN);
    let (body, tag) = rest.split_at_mut(len - NONCE_LEN - TAG_LEN);
    cipher(key)
        .decrypt_in_place_detached(Nonce::from_slice(nonce), &[], body, Tag::from_slice(tag))
        .map_err(|_| SealError::Authentication)?;
    buf.truncate(len - TAG_LEN);
    buf.drain(..NONCE_LEN);
    Ok(buf)
}

/// Whether legacy unmarked bytes can be the origin's base64 fallback: non-empty printable
/// ASCII, as every generated secret (hex, `whsec_`/`whsk_` + base64) is.
fn looks_like_text_secret(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|b| (0x20..=0x7e).contains(b))
}

fn cipher(key: &[u8; SEAL_KEY_LEN]) -> Aes256Gcm {
    Aes256Gcm::new(key.into())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn marionette_secret_has_the_origin_shape() {
        let generated = generate_marionette();
        assert_eq!(generated.secret.len(), 64);
        assert!(
            generated
                .secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        );
        assert_eq!(generated.hash, hash_secret(&generated.secret));
        assert_eq!(generated.prefix, generated.secret[..8]);
        assert!(!format!("{generated:?}").contains(&generated.secret));
        assert_ne!(generate_marionette().secret, generated.secret);
    }

    #[test]
    fn hash_is_sha256_of_the_hex_text() {
        // printf abc | sha256sum
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn prefix_cuts_on_character_boundaries() {
        assert_eq!(secret_prefix("0123456789"), "01234567");
        assert_eq!(secret_prefix("short"), "short");
        assert_eq!(secret_prefix("ééééééééé"), "éééééééé");
    }

    #[test]
    fn standard_secrets_decode_to_32_bytes() {
        let secret = generate_standard();
        let body = secret.strip_prefix(WHSEC_PREFIX).unwrap();
        assert_eq!(BASE64.decode(body).unwrap().len(), STANDARD_SECRET_BYTES);
    }

    #[test]
    fn ed25519_pair_holds_seed_and_matching_public_key() {
        let (secret, public) = generate_ed25519();
        let keypair = BASE64
            .decode(secret.strip_prefix(WHSK_PREFIX).unwrap())
            .unwrap();
        let public = BASE64
            .decode(public.strip_prefix(WHPK_PREFIX).unwrap())
            .unwrap();
        assert_eq!(keypair.len(), 64);
        assert_eq!(keypair[32..], public[..]);
        let key = ed25519_dalek::SigningKey::from_keypair_bytes(&keypair.try_into().unwrap());
        assert!(key.is_ok());
    }

    #[test]
    fn hex_keys_are_checked() {
        let good = "00".repeat(32);
        assert!(Sealer::from_hex(&format!("{good}\n")).unwrap().is_secure());
        assert_eq!(
            Sealer::from_hex("abcd").unwrap_err(),
            SealKeyError::WrongLength { len: 4 }
        );
        let bad = format!("{}zz", "00".repeat(31));
        let err = Sealer::from_hex(&bad).unwrap_err();
        assert_eq!(err, SealKeyError::NotHex { position: 62 });
        assert_eq!(
            err.to_string(),
            "encryption key is not hex: invalid character at position 62"
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let sealer = Sealer::from_hex(&"ab".repeat(32)).unwrap();
        let shown = format!("{sealer:?}");
        assert!(!shown.contains("ab") && !shown.contains("171"), "{shown}");
        assert_eq!(
            format!("{:?}", Sealer::insecure_plaintext()),
            r#"Sealer { mode: "insecure-plaintext", key: None }"#
        );
    }

    #[test]
    fn sealed_values_use_fresh_nonces() {
        let sealer = Sealer::from_bytes(&[1; 32]);
        assert_ne!(sealer.seal(b"same"), sealer.seal(b"same"));
    }

    #[test]
    fn open_rejects_bad_input_precisely() {
        let sealer = Sealer::from_bytes(&[1; 32]);
        assert_eq!(sealer.open("not base64!"), Err(SealError::BadBase64));
        assert_eq!(
            sealer.open(&BASE64.encode([0u8; 27])),
            Err(SealError::TooShort { len: 27 })
        );
        assert_eq!(
            sealer.open(&BASE64.encode([0u8; 28])),
            Err(SealError::Authentication)
        );
        let not_text = sealer.seal(&[0xff, 0xfe]);
        assert_eq!(sealer.open_string(&not_text), Err(SealError::NotUtf8));
    }

    #[test]
    fn insecure_mode_is_marked_base64() {
        let sealer = Sealer::insecure_plaintext();
        assert!(!sealer.is_secure());
        assert_eq!(sealer.seal(b"secret"), "v0:plain:c2VjcmV0");
        assert_eq!(&*sealer.open_string("v0:plain:c2VjcmV0").unwrap(), "secret");
        // An insecure sealer never rewrites: it has nothing safer to offer.
        assert!(!sealer.needs_reseal("c2VjcmV0"));
    }

    #[test]
    fn sealed_values_carry_the_marker_and_hide_the_secret() {
        let sealer = Sealer::from_bytes(&[3; 32]);
        let secret = generate_marionette().secret;
        let sealed = sealer.seal(secret.as_bytes());
        let body = sealed.strip_prefix(SEALED_MARKER).expect("marker");
        assert!(!sealed.contains(&secret));
        assert!(!sealed.contains(&BASE64.encode(&secret)));
        assert_eq!(BASE64.decode(body).unwrap().len(), 12 + secret.len() + 16);
        assert!(!sealer.needs_reseal(&sealed));
        assert_eq!(sealer.reseal(&sealed), Ok(None));
    }

    #[test]
    fn legacy_unmarked_base64_opens_with_or_without_a_key() {
        let legacy = BASE64.encode("whsec_c2VjcmV0");
        for sealer in [Sealer::insecure_plaintext(), Sealer::from_bytes(&[5; 32])] {
            assert_eq!(&*sealer.open_string(&legacy).unwrap(), "whsec_c2VjcmV0");
        }
    }

    #[test]
    fn legacy_unmarked_aes_gcm_opens_and_is_resealed_marked() {
        let sealer = Sealer::from_bytes(&[5; 32]);
        let marked = sealer.seal(b"hookline");
        let legacy = marked.strip_prefix(SEALED_MARKER).unwrap();
        assert_eq!(&*sealer.open_string(legacy).unwrap(), "hookline");
        assert!(sealer.needs_reseal(legacy));
        let resealed = sealer.reseal(legacy).unwrap().unwrap();
        assert!(resealed.starts_with(SEALED_MARKER));
        assert_eq!(&*sealer.open_string(&resealed).unwrap(), "hookline");
        // Without the key it is not mistaken for the base64 fallback.
        assert_eq!(
            Sealer::insecure_plaintext().open(legacy),
            Err(SealError::KeyNeeded)
        );
    }

    #[test]
    fn unsealed_values_are_resealed_under_a_key() {
        let plain = Sealer::insecure_plaintext().seal(b"whsec_abc");
        let sealer = Sealer::from_bytes(&[8; 32]);
        assert!(sealer.needs_reseal(&plain));
        let resealed = sealer.reseal(&plain).unwrap().unwrap();
        assert!(resealed.starts_with(SEALED_MARKER), "{resealed}");
        assert_eq!(&*sealer.open_string(&resealed).unwrap(), "whsec_abc");
    }

    #[test]
    fn a_marked_sealed_value_needs_the_key() {
        let sealed = Sealer::from_bytes(&[8; 32]).seal(b"whsec_abc");
        let err = Sealer::insecure_plaintext().open(&sealed).unwrap_err();
        assert_eq!(err, SealError::KeyNeeded);
        assert!(err.to_string().contains("no encryption key is configured"));
    }

    /// Go's `gcm.Seal(nonce, nonce, plaintext, nil)` layout, checked against a value
    /// computed with Python's `cryptography` package:
    /// `AESGCM(bytes(range(32))).encrypt(bytes(12), b"hookline", None)`.
    #[test]
    fn opens_the_origin_layout() {
        let key: [u8; 32] = std::array::from_fn(|i| i as u8);
        let sealer = Sealer::from_bytes(&key);
        let mut blob = vec![0u8; 12];
        blob.extend_from_slice(
            &hex::decode("66d3dab5d945edd85e21ebf1bfb8b6256601905921be0048").unwrap(),
        );
        assert_eq!(
            &*sealer.open_string(&BASE64.encode(&blob)).unwrap(),
            "hookline"
        );
    }

    proptest! {
        #[test]
        fn seal_then_open_round_trips(key in any::<[u8; 32]>(), plaintext in proptest::collection::vec(any::<u8>(), 0..256)) {
            let sealer = Sealer::from_bytes(&key);
            let sealed = sealer.seal(&plaintext);
            prop_assert_eq!(&*sealer.open(&sealed).unwrap(), &plaintext);
        }

        #[test]
        fn another_key_cannot_open(key in any::<[u8; 32]>(), other in any::<[u8; 32]>(), plaintext in proptest::collection::vec(any::<u8>(), 0..64)) {
            prop_assume!(key != other);
            let sealed = Sealer::from_bytes(&key).seal(&plaintext);
            prop_assert_eq!(Sealer::from_bytes(&other).open(&sealed), Err(SealError::Authentication));
        }

        #[test]
        fn flipping_any_byte_is_detected(plaintext in proptest::collection::vec(any::<u8>(), 0..64), index in any::<prop::sample::Index>(), flip in 1u8..=255) {
            let sealer = Sealer::from_bytes(&[9; 32]);
            let sealed = sealer.seal(&plaintext);
            let mut raw = BASE64.decode(sealed.strip_prefix(SEALED_MARKER).unwrap()).unwrap();
            let at = index.index(raw.len());
            raw[at] ^= flip;
            let altered = format!("{SEALED_MARKER}{}", BASE64.encode(&raw));
            prop_assert_eq!(sealer.open(&altered), Err(SealError::Authentication));
        }
    }
}

#[cfg(test)]
mod rotation_tests {
    use super::*;

    #[test]
    fn a_sealer_with_a_previous_key_opens_both_and_seals_under_its_own() {
        let old = Sealer::from_bytes(&[1; SEAL_KEY_LEN]);
        let new = Sealer::from_bytes(&[2; SEAL_KEY_LEN]);
        let under_old = old.seal(b"whsec_old");
        assert_eq!(new.open(&under_old), Err(SealError::Authentication));
        let rotating = new.clone().with_previous(&old);
        assert_eq!(&*rotating.open_string(&under_old).unwrap(), "whsec_old");
        let resealed = rotating.seal(b"whsec_old");
        assert_eq!(&*new.open_string(&resealed).unwrap(), "whsec_old");
        assert_eq!(old.open(&resealed), Err(SealError::Authentication));
        // A value under neither key is still refused.
        let other = Sealer::from_bytes(&[3; SEAL_KEY_LEN]).seal(b"x");
        assert_eq!(rotating.open(&other), Err(SealError::Authentication));
        assert!(!format!("{rotating:?}").contains("[2"), "{rotating:?}");
    }
}

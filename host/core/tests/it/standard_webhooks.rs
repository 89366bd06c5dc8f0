//! Conformance with the Standard Webhooks specification, on the official libraries' own
//! test vectors (repository `standard-webhooks/standard-webhooks`):
//!
//! - `libraries/go/webhook_test.go`, `libraries/javascript/src/webhook.test.ts` and
//!   `libraries/python/tests/test_webhooks.py`: the `v1` secret, message, payload, signing
//!   vector and the negative cases (missing headers, invalid/partial signatures, old/new
//!   timestamps, multiple signatures with one valid, unknown `v2` version).
//! - `libraries/rust/src/lib.rs` (tests module): a second `v1` signing vector and its
//!   multiple-signature cases.
//! - `libraries/go/webhook_asymmetric_test.go`: the `v1a` (ed25519) signing vector and
//!   its negative cases. The spec itself publishes no `v1a` vector.
//!
//! Where those tests take "now" from the real clock, these pin it: the message timestamp
//! is the vector's, and `now` is passed explicitly.

use hookline_core::signing::{Scheme, SigningKey, VerifyError, VerifyingKey, sign, verify};

/// Go, JavaScript and Python libraries' defaults.
const SECRET: &str = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const MSG_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const PAYLOAD: &[u8] = br#"{"test": 2432232314}"#;
const TIMESTAMP: i64 = 1_614_265_330;
const V1_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";
/// A signature over something else, used by several libraries' negative cases.
const FOREIGN_SIGNATURE: &str = "Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=";

/// Go `TestAsymmetricWebhookSign`: a 32-byte ed25519 seed, given bare in Go.
const ED25519_SEED: &str = "VEVTVFNJR05JTkdLRVlET05PVFVTRVRISVNGT1JBTlk=";
const V1A_SIGNATURE: &str =
    "v1a,tQ9V2XOqn7jL/DQenEFpqIugdBVtiMmER5mhSkXBNwM0mkATuDe6KYYUuxqtaiHeYGb7KaaBRdM5WqyeFiL8Ag==";
/// Go `defaultAsymmetricPrivate`, used for its verification cases.
const ED25519_DEFAULT_SEED: &str = "V0VCSE9PS0FTWU1NRVRSSUNURVNUUFJJVkFURUtFWTE=";

fn signing_key(secret: &str) -> SigningKey {
    SigningKey::parse(Scheme::Standard, secret).unwrap()
}

fn verifying_key(secret: &str) -> VerifyingKey {
    VerifyingKey::parse(Scheme::Standard, secret).unwrap()
}

fn headers(id: &str, timestamp: i64, signature: &str) -> Vec<(String, String)> {
    vec![
        ("webhook-id".to_owned(), id.to_owned()),
        ("webhook-signature".to_owned(), signature.to_owned()),
        ("webhook-timestamp".to_owned(), timestamp.to_string()),
    ]
}

fn with_signature(headers: &mut [(String, String)], signature: &str) {
    for (name, value) in headers {
        if name == "webhook-signature" {
            *value = signature.to_owned();
        }
    }
}

fn without(headers: &[(String, String)], name: &str) -> Vec<(String, String)> {
    headers.iter().filter(|(n, _)| n != name).cloned().collect()
}

fn check(key: &VerifyingKey, headers: &[(String, String)], now: i64) -> Result<(), VerifyError> {
    verify(
        Scheme::Standard,
        std::slice::from_ref(key),
        headers,
        PAYLOAD,
        now,
    )
}

fn is_bad_format(result: Result<(), VerifyError>) -> bool {
    matches!(
        result,
        Err(VerifyError::BadFormat {
            header: "webhook-signature",
            ..
        })
    )
}

#[test]
fn v1_sign_function_vector() {
    for secret in [format!("whsec_{SECRET}"), SECRET.to_owned()] {
        let signature = sign(
            Scheme::Standard,
            &signing_key(&secret),
            MSG_ID,
            TIMESTAMP,
            PAYLOAD,
        )
        .unwrap();
        assert_eq!(signature, V1_SIGNATURE, "secret {secret}");
    }
}

#[test]
fn v1_rust_library_sign_vector() {
    let key = signing_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    let signature = sign(
        Scheme::Standard,
        &key,
        "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        1_649_367_553,
        br#"{"email":"test@example.com","username":"test_user"}"#,
    )
    .unwrap();
    assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
}

#[test]
fn v1_valid_signature_verifies_with_and_without_prefix() {
    let headers = headers(MSG_ID, TIMESTAMP, V1_SIGNATURE);
    for secret in [SECRET.to_owned(), format!("whsec_{SECRET}")] {
        assert_eq!(check(&verifying_key(&secret), &headers, TIMESTAMP), Ok(()));
    }
    // Header names are case-insensitive ("unbranded" headers as any HTTP stack delivers them).
    let shouting: Vec<_> = headers
        .iter()
        .map(|(n, v)| (n.to_uppercase(), v.clone()))
        .collect();
    assert_eq!(check(&verifying_key(SECRET), &shouting, TIMESTAMP), Ok(()));
}

#[test]
fn v1_missing_headers_fail() {
    let key = verifying_key(SECRET);
    let headers = headers(MSG_ID, TIMESTAMP, V1_SIGNATURE);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert_eq!(
            check(&key, &without(&headers, name), TIMESTAMP),
            Err(VerifyError::MissingHeader(name))
        );
    }
}

#[test]
fn v1_invalid_timestamp_fails() {
    let mut headers = headers(MSG_ID, TIMESTAMP, V1_SIGNATURE);
    headers[2].1 = "hello".to_owned();
    assert_eq!(
        check(&verifying_key(SECRET), &headers, TIMESTAMP),
        Err(VerifyError::BadFormat {
            header: "webhook-timestamp",
            reason: "`hello` is not a Unix time in whole seconds".to_owned(),
        })
    );
}

#[test]
fn v1_invalid_signatures_fail() {
    let key = verifying_key(SECRET);
    let mut headers = headers(MSG_ID, TIMESTAMP, V1_SIGNATURE);
    // Go: another message's signature; Python: the valid one with its last bit changed;
    // Rust: an unrelated signature.
    for signature in [
        format!("v1,{FOREIGN_SIGNATURE}"),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OA=".to_owned(),
        "v1,R3PTzyfHASBKHH98a7yexTwaJ4yNIcGhFQc1yuN+BPU=".to_owned(),
    ] {
        with_signature(&mut headers, &signature);
        assert_eq!(
            check(&key, &headers, TIMESTAMP),
            Err(VerifyError::NoMatchingSignature),
            "{signature}"
        );
    }
    // JavaScript: not even a 32-byte signature; partial signatures ("v1,g0hM9" is the
    // valid header cut to 8 characters, "v1," is empty).
    for signature in ["v1,dawfeoifkpqwoekfpqoekf", &V1_SIGNATURE[..8], "v1,"] {
        with_signature(&mut headers, signature);
        assert!(
            is_bad_format(check(&key, &headers, TIMESTAMP)),
            "{signature}"
        );
    }
}

#[test]
fn v1_old_and_new_timestamps_fail() {
    let key = verifying_key(SECRET);
    let headers = headers(MSG_ID, TIMESTAMP, V1_SIGNATURE);
    // JavaScript and Python: five minutes and one second either way. (Go's "old timestamp"
    // case sits exactly at the tolerance and fails only because its clock moves on
    // between signing and verifying; the tolerance itself is inclusive, as in the Rust
    // library.)
    assert_eq!(
        check(&key, &headers, TIMESTAMP + 301),
        Err(VerifyError::StaleTimestamp { age_secs: 301 })
    );
    assert_eq!(
        check(&key, &headers, TIMESTAMP - 301),
        Err(VerifyError::FutureTimestamp { ahead_secs: 301 })
    );
    assert_eq!(check(&key, &headers, TIMESTAMP + 300), Ok(()));
    assert_eq!(check(&key, &headers, TIMESTAMP - 300), Ok(()));
    // Go: "invalid timestamp fails when ignoring tolerance", a timestamp of 2000-01-01.
    let mut old = headers.clone();
    old[2].1 = "946684800".to_owned();
    assert!(check(&key, &old, TIMESTAMP).is_err());
}

#[test]
fn v1_multiple_signatures_with_one_valid_pass() {
    let key = verifying_key(SECRET);
    let mut headers = headers(MSG_ID, TIMESTAMP, V1_SIGNATURE);
    // Go, JavaScript and Python: foreign v1, unknown v2, the valid one, foreign v1.
    let mixed = format!(
        "v1,{FOREIGN_SIGNATURE} v2,{FOREIGN_SIGNATURE} {V1_SIGNATURE} v1,{FOREIGN_SIGNATURE}"
    );
    with_signature(&mut headers, &mixed);
    assert_eq!(check(&key, &headers, TIMESTAMP), Ok(()));
    // An unknown version alone never passes, even carrying the right bytes.
    with_signature(&mut headers, &V1_SIGNATURE.replacen("v1,", "v2,", 1));
    assert_eq!(
        check(&key, &headers, TIMESTAMP),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn v1_rust_library_multiple_signature_cases() {
    let key = verifying_key("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD");
    let id = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    let payload = br#"{"email":"test@example.com","username":"test_user"}"#;
    let valid = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
    let others = [
        "v1,tFtCZ5RDCPxzWQRWXWPgrCgE2frDBe9gjpbWQxnVfsQ=",
        "v1,Mm7xgUVICxZfQ3bgf0h0Dof65L/IFx+PnZvnDWPCX6Q=",
        "v1,9DfC1c3eeOrXB6w/5dIDydLNQaEyww5KalE5jLBZucE=",
    ];
    let check = |signature: &str| {
        let headers = headers(id, 1_649_367_553, signature);
        verify(
            Scheme::Standard,
            std::slice::from_ref(&key),
            &headers,
            payload,
            1_649_367_553,
        )
    };
    assert_eq!(
        check(&format!(
            "{} {} {valid} {}",
            others[0], others[1], others[2]
        )),
        Ok(())
    );
    assert_eq!(
        check(&others.join(" ")),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn v1a_sign_function_vector() {
    let key = signing_key(&format!("whsk_{ED25519_SEED}"));
    assert_eq!(
        sign(Scheme::Standard, &key, MSG_ID, TIMESTAMP, PAYLOAD).unwrap(),
        V1A_SIGNATURE
    );
}

#[test]
fn v1a_vector_verifies_with_the_secret_or_derived_public_key() {
    let headers = headers(MSG_ID, TIMESTAMP, V1A_SIGNATURE);
    let from_secret = verifying_key(&format!("whsk_{ED25519_SEED}"));
    assert_eq!(check(&from_secret, &headers, TIMESTAMP), Ok(()));
    // A whsec_ key reads the same bytes as an HMAC key: it must not accept a v1a signature.
    assert_eq!(
        check(&verifying_key(ED25519_SEED), &headers, TIMESTAMP),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn v1a_go_library_cases() {
    let secret = format!("whsk_{ED25519_DEFAULT_SEED}");
    let key = verifying_key(&secret);
    let valid = sign(
        Scheme::Standard,
        &signing_key(&secret),
        MSG_ID,
        TIMESTAMP,
        PAYLOAD,
    )
    .unwrap();
    let headers = headers(MSG_ID, TIMESTAMP, &valid);

    assert_eq!(check(&key, &headers, TIMESTAMP), Ok(()));
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert_eq!(
            check(&key, &without(&headers, name), TIMESTAMP),
            Err(VerifyError::MissingHeader(name))
        );
    }
    let mut invalid = headers.clone();
    // "invalid signature is invalid": 32 bytes where ed25519 needs 64.
    with_signature(&mut invalid, &format!("v1a,{FOREIGN_SIGNATURE}"));
    assert!(is_bad_format(check(&key, &invalid, TIMESTAMP)));
    // "partial signature is invalid".
    with_signature(&mut invalid, "v1a,");
    assert!(is_bad_format(check(&key, &invalid, TIMESTAMP)));
    // A well-formed ed25519 signature by another key.
    with_signature(&mut invalid, V1A_SIGNATURE);
    assert_eq!(
        check(&key, &invalid, TIMESTAMP),
        Err(VerifyError::NoMatchingSignature)
    );

    assert_eq!(
        check(&key, &headers, TIMESTAMP + 301),
        Err(VerifyError::StaleTimestamp { age_secs: 301 })
    );
    assert_eq!(
        check(&key, &headers, TIMESTAMP - 301),
        Err(VerifyError::FutureTimestamp { ahead_secs: 301 })
    );

    // "valid multi sig is valid".
    let mut multi = headers.clone();
    with_signature(
        &mut multi,
        &format!("v1,{FOREIGN_SIGNATURE} v2,{FOREIGN_SIGNATURE} {valid} v1,{FOREIGN_SIGNATURE}"),
    );
    assert_eq!(check(&key, &multi, TIMESTAMP), Ok(()));
}

/// RFC 8032 section 7.1, TEST 1: the public key our `whsk_` parsing derives from the seed
/// is the RFC's, in both the 32-byte seed and 64-byte seed ‖ public forms.
#[test]
fn v1a_keys_follow_rfc_8032() {
    use base64::Engine as _;
    let b64 = |hex_text: &str| {
        base64::engine::general_purpose::STANDARD.encode(hex::decode(hex_text).unwrap())
    };
    let seed = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
    let public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
    let whpk = verifying_key(&format!("whpk_{}", b64(public)));
    let seed_only = signing_key(&format!("whsk_{}", b64(seed)));
    let keypair = signing_key(&format!("whsk_{}", b64(&format!("{seed}{public}"))));

    let signature = sign(Scheme::Standard, &seed_only, MSG_ID, TIMESTAMP, PAYLOAD).unwrap();
    // ed25519 is deterministic: both forms are the same key.
    assert_eq!(
        sign(Scheme::Standard, &keypair, MSG_ID, TIMESTAMP, PAYLOAD).unwrap(),
        signature
    );
    assert_eq!(
        check(&whpk, &headers(MSG_ID, TIMESTAMP, &signature), TIMESTAMP),
        Ok(())
    );

    // TEST 2's public key with TEST 1's seed is not a key pair.
    let other_public = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
    assert!(
        SigningKey::parse(
            Scheme::Standard,
            &format!("whsk_{}", b64(&format!("{seed}{other_public}")))
        )
        .is_err()
    );
    let other = verifying_key(&format!("whpk_{}", b64(other_public)));
    assert_eq!(
        check(&other, &headers(MSG_ID, TIMESTAMP, &signature), TIMESTAMP),
        Err(VerifyError::NoMatchingSignature)
    );
}

#[test]
fn generated_keys_work_end_to_end() {
    let (whsk, whpk) = hookline_core::secret::generate_ed25519();
    let whsec = hookline_core::secret::generate_standard();
    for (signer, verifier) in [(&whsk, &whpk), (&whsk, &whsk), (&whsec, &whsec)] {
        let signature = sign(
            Scheme::Standard,
            &signing_key(signer),
            MSG_ID,
            TIMESTAMP,
            PAYLOAD,
        )
        .unwrap();
        let headers = headers(MSG_ID, TIMESTAMP, &signature);
        assert_eq!(check(&verifying_key(verifier), &headers, TIMESTAMP), Ok(()));
    }
}

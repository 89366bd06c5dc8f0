//! Target 1: signature headers and verification, both schemes.

use hookline_core::signing::{
    MARIONETTE_PREVIOUS_SIGNATURE_HEADER, Scheme, SigningKey, VerifyError, VerifyingKey, sign,
    signature_headers, verify,
};

use crate::fields;

/// A fixed clock; the fuzzer picks timestamps around it from the first byte.
const NOW: i64 = 1_700_000_000;

/// Input: `flags ‖ secret \0 id \0 headers \0 body`. Bit 0 of `flags` picks the scheme,
/// the other bits the timestamp's offset from [`NOW`] (so some are outside the tolerance).
/// `headers` is `name: value` lines, verified as received; it is also placed as the value
/// of the scheme's signature header next to a valid id and timestamp, to get past the
/// header checks into signature parsing.
///
/// Asserts: verification never panics; what [`signature_headers`] makes for a key verifies
/// with that key (and with the key parsed from the same secret, and during a rotation with
/// either key); a flipped byte in the body or in a signature makes verification fail.
pub fn signature(data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let scheme = if flags & 1 == 0 {
        Scheme::Marionette
    } else {
        Scheme::Standard
    };
    // -64 ..= +63 around NOW, times 8: up to ±512 s, beyond the ±300 s tolerance.
    let ts = NOW + (i64::from(flags >> 1) - 64) * 8;
    let [secret, id, raw_headers, _] = <[String; 4]>::try_from(fields(rest, 4)).unwrap_or_default();
    let body = rest.splitn(4, |b| *b == 0).nth(3).unwrap_or_default();

    let keys: Vec<VerifyingKey> = VerifyingKey::parse(scheme, &secret).into_iter().collect();

    // Arbitrary headers, as received.
    let received: Vec<(String, String)> = raw_headers
        .lines()
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let _ = verify(scheme, &keys, received.as_slice(), body, NOW);

    // Arbitrary signatures behind a valid id and timestamp.
    let crafted = [
        (scheme.id_header(), "msg_fuzz".to_owned()),
        (scheme.timestamp_header(), ts.to_string()),
        (scheme.signature_header(), raw_headers.clone()),
        (MARIONETTE_PREVIOUS_SIGNATURE_HEADER, id.clone()),
    ];
    if let Err(err) = verify(scheme, &keys, crafted.as_slice(), body, NOW) {
        let _ = err.to_string();
    }

    // Sign → verify round trip.
    let Ok(key) = SigningKey::parse(scheme, &secret) else {
        return;
    };
    // The id travels in an HTTP header: receivers see it without surrounding whitespace, and
    // an empty one is missing. Hookline's ids are never either.
    let id = if id.trim().is_empty() || id.trim() != id || id.contains(['\r', '\n']) {
        "msg_fuzz".to_owned()
    } else {
        id
    };
    let in_tolerance = (ts - NOW).abs() <= hookline_core::signing::TOLERANCE_SECS;
    let headers = match signature_headers(scheme, &id, ts, body, std::slice::from_ref(&key)) {
        Ok(headers) => headers,
        Err(_) => {
            // Only an ed25519 key under marionette cannot sign; `sign` agrees.
            assert!(sign(scheme, &key, &id, ts, body).is_err());
            return;
        }
    };
    let own = [key.verifying_key()];
    let outcome = verify(scheme, &own, headers.as_slice(), body, NOW);
    assert_eq!(
        outcome.is_ok(),
        in_tolerance,
        "{scheme} round trip at ts {ts}: {outcome:?}"
    );
    if !in_tolerance {
        assert!(matches!(
            outcome,
            Err(VerifyError::StaleTimestamp { .. } | VerifyError::FutureTimestamp { .. })
        ));
        return;
    }
    // The receiver's key parsed from the same secret string verifies too.
    assert!(
        verify(scheme, &keys, headers.as_slice(), body, NOW).is_ok(),
        "{scheme}: the key parsed from the secret does not verify its own signature"
    );
    // `sign` makes the same signature the header holds (the current key's comes first).
    let single = sign(scheme, &key, &id, ts, body).expect("signature_headers signed with it");
    let header = &headers[2].1;
    assert!(header.starts_with(&single), "{header} vs {single}");

    // A flipped body byte fails.
    if !body.is_empty() {
        let mut tampered = body.to_vec();
        let at = usize::from(flags) % tampered.len();
        tampered[at] ^= 0x01;
        assert_eq!(
            verify(scheme, &own, headers.as_slice(), &tampered, NOW),
            Err(VerifyError::NoMatchingSignature),
            "{scheme}: a flipped body byte at {at} still verifies"
        );
    }
    // A flipped signature byte (ASCII stays ASCII) fails, whatever the error.
    let mut bad = headers.clone();
    let value = bad[2].1.as_bytes();
    let at = value.len() - 1 - usize::from(flags) % value.len().min(44);
    let mut bytes = value.to_vec();
    bytes[at] ^= 0x01;
    if let Ok(text) = String::from_utf8(bytes) {
        bad[2].1 = text;
        assert!(
            verify(scheme, &own, bad.as_slice(), body, NOW).is_err(),
            "{scheme}: a flipped signature byte at {at} still verifies: {}",
            bad[2].1
        );
    }

    // Rotation: signed with a new and an old key, either one alone verifies.
    let other_secret = match scheme {
        Scheme::Marionette => "another-secret",
        Scheme::Standard => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    };
    let other = SigningKey::parse(scheme, other_secret).expect("a valid fixed secret");
    let rotated = signature_headers(scheme, &id, ts, body, &[other.clone(), key.clone()])
        .expect("both keys sign under this scheme");
    for verifier in [other.verifying_key(), key.verifying_key()] {
        assert!(
            verify(scheme, &[verifier], rotated.as_slice(), body, NOW).is_ok(),
            "{scheme}: a rotated signature does not verify with one of its keys"
        );
    }
}

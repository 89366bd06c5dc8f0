//! `hookline secret generate`, `sign` and `verify`, run as a receiver's script would.

use hookline_e2e::run_hookline;
use hookline_test_support::TempDir;
use serde_json::Value;

const BODY: &[u8] = br#"{"event":"task.completed","data":null}"#;

/// Exit code, stdout and stderr of one run.
fn run(args: &[&str], stdin: &[u8]) -> (Option<i32>, String, String) {
    let output = run_hookline(args, stdin);
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn generate(scheme: Option<&str>) -> (String, Value) {
    let mut args = vec!["secret", "generate"];
    args.extend(scheme.map(|s| ["--scheme", s]).into_iter().flatten());
    let (code, stdout, stderr) = run(&args, b"");
    assert_eq!(code, Some(0), "{stderr}");
    let json = serde_json::from_str(stdout.trim()).expect("JSON output");
    (stdout.trim().to_owned(), json)
}

fn sign(args: &[&str], body: &[u8]) -> String {
    let (code, stdout, stderr) = run(&[&["sign"], args].concat(), body);
    assert_eq!(code, Some(0), "{stderr}");
    stdout.trim().to_owned()
}

fn verify(
    scheme: &str,
    secret: &str,
    headers: &[String],
    now: i64,
    body: &[u8],
) -> (Option<i32>, String) {
    let now = now.to_string();
    let mut args = vec![
        "verify", "--scheme", scheme, "--secret", secret, "--now", &now,
    ];
    for header in headers {
        args.extend(["--header", header]);
    }
    let (code, stdout, _) = run(&args, body);
    (code, stdout.trim().to_owned())
}

fn marionette_headers(timestamp: i64, signature: &str) -> Vec<String> {
    vec![
        "X-Webhook-ID: evt_1".to_owned(),
        format!("X-Webhook-Timestamp: {timestamp}"),
        format!("X-Webhook-Signature: {signature}"),
    ]
}

#[test]
fn secret_generate_defaults_to_marionette() {
    let (raw, json) = generate(None);
    assert!(
        raw.starts_with(r#"{"scheme":"marionette","secret":""#),
        "{raw}"
    );
    let secret = json["secret"].as_str().unwrap();
    assert_eq!(secret.len(), 64);
    assert!(
        secret
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    );
    assert_eq!(json["hash"], hookline_core::secret::hash_secret(secret));
    assert_eq!(json["prefix"], secret[..8]);
    assert_eq!(json.as_object().unwrap().len(), 4);
    assert_eq!(generate(Some("marionette")).1["scheme"], "marionette");
}

#[test]
fn secret_generate_standard_shapes() {
    let (_, json) = generate(Some("standard"));
    assert_eq!(json["scheme"], "standard");
    assert!(json["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(json.as_object().unwrap().len(), 2);

    let (raw, json) = generate(Some("standard-ed25519"));
    assert!(
        raw.starts_with(r#"{"scheme":"standard-ed25519","secret":"whsk_"#),
        "{raw}"
    );
    assert!(json["public_key"].as_str().unwrap().starts_with("whpk_"));
    assert_eq!(json.as_object().unwrap().len(), 3);
}

/// Independent of Hookline's code:
/// `python3 -c 'import hmac,hashlib; print("sha256="+hmac.new(b"hookline-e2e-golden", b"1700000000." + b"{\"event\":\"task.completed\",\"data\":null}", hashlib.sha256).hexdigest())'`
#[test]
fn marionette_signature_matches_a_golden_value() {
    let signature = sign(
        &[
            "--secret",
            "hookline-e2e-golden",
            "--timestamp",
            "1700000000",
        ],
        BODY,
    );
    assert_eq!(
        signature,
        "sha256=5c825d44fd16dd7d873b983b46211f10a6428b030de31b3a41bb5d16ebb85844"
    );
}

/// The Standard Webhooks libraries' own signing vector, through the CLI.
#[test]
fn standard_signature_matches_the_specification_vector() {
    let args = [
        "--scheme",
        "standard",
        "--secret",
        "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        "--id",
        "msg_p5jXN8AQM9LWM0D4loKWxJek",
        "--timestamp",
        "1614265330",
    ];
    assert_eq!(
        sign(&args, br#"{"test": 2432232314}"#),
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    );
}

#[test]
fn marionette_sign_then_verify() {
    let (_, json) = generate(None);
    let secret = json["secret"].as_str().unwrap();
    let signature = sign(
        &[
            "--scheme",
            "marionette",
            "--secret",
            secret,
            "--timestamp",
            "1700000000",
        ],
        BODY,
    );
    let headers = marionette_headers(1_700_000_000, &signature);
    assert_eq!(
        verify("marionette", secret, &headers, 1_700_000_010, BODY),
        (Some(0), "valid".to_owned())
    );
}

#[test]
fn standard_sign_then_verify_v1_and_v1a() {
    let (_, hmac) = generate(Some("standard"));
    let (_, ed25519) = generate(Some("standard-ed25519"));
    let whsec = hmac["secret"].as_str().unwrap();
    let whsk = ed25519["secret"].as_str().unwrap();
    let whpk = ed25519["public_key"].as_str().unwrap();
    for (signer, verifier, version) in [
        (whsec, whsec, "v1,"),
        (whsk, whpk, "v1a,"),
        (whsk, whsk, "v1a,"),
    ] {
        let signature = sign(
            &[
                "--scheme",
                "standard",
                "--secret",
                signer,
                "--id",
                "msg_1",
                "--timestamp",
                "1700000000",
            ],
            BODY,
        );
        assert!(signature.starts_with(version), "{signature}");
        let headers = [
            "webhook-id: msg_1".to_owned(),
            "webhook-timestamp: 1700000000".to_owned(),
            format!("webhook-signature: {signature}"),
        ];
        assert_eq!(
            verify("standard", verifier, &headers, 1_700_000_000, BODY),
            (Some(0), "valid".to_owned())
        );
    }
}

#[test]
fn verify_reports_why_it_fails() {
    let secret = "hookline-e2e-golden";
    let signature = sign(&["--secret", secret, "--timestamp", "1700000000"], BODY);
    let headers = marionette_headers(1_700_000_000, &signature);

    let tampered = br#"{"event":"task.completed","data":1}"#;
    assert_eq!(
        verify("marionette", secret, &headers, 1_700_000_000, tampered),
        (
            Some(1),
            "invalid: no signature matches: the body, id or timestamp was altered, or the secret is not the one that signed".to_owned()
        )
    );
    assert_eq!(
        verify("marionette", secret, &headers, 1_700_000_400, BODY),
        (
            Some(1),
            "invalid: timestamp is 400 s old, more than the 300 s tolerance: a replayed or long-delayed request, or a skewed clock"
                .to_owned()
        )
    );
    assert_eq!(
        verify("marionette", secret, &headers[..2], 1_700_000_000, BODY),
        (
            Some(1),
            "invalid: missing header `X-Webhook-Signature`".to_owned()
        )
    );
    assert_eq!(
        verify(
            "marionette",
            "another-secret",
            &headers,
            1_700_000_000,
            BODY
        )
        .0,
        Some(1)
    );
}

#[test]
fn body_file_is_read_instead_of_stdin() {
    let dir = TempDir::new("e2e-body");
    let path = dir.join("body.json");
    std::fs::write(&path, BODY).unwrap();
    let file = path.to_str().unwrap();
    let from_file = sign(
        &[
            "--secret",
            "hookline-e2e-golden",
            "--timestamp",
            "1700000000",
            "--body-file",
            file,
        ],
        b"ignored",
    );
    assert_eq!(
        from_file,
        "sha256=5c825d44fd16dd7d873b983b46211f10a6428b030de31b3a41bb5d16ebb85844"
    );
}

#[test]
fn usage_errors_exit_2_with_a_reason() {
    let (code, _, stderr) = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            "whsec_AAAA",
            "--timestamp",
            "1",
        ],
        BODY,
    );
    assert_eq!(code, Some(2));
    assert!(stderr.contains("--id is required"), "{stderr}");

    let (code, _, stderr) = run(
        &[
            "sign",
            "--scheme",
            "standard",
            "--secret",
            "whpk_AAAA",
            "--id",
            "m",
            "--timestamp",
            "1",
        ],
        BODY,
    );
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("`whpk_` key must decode to 32 bytes, got 3"),
        "{stderr}"
    );

    let (code, _, stderr) = run(&["verify", "--secret", "s", "--header", "no colon"], BODY);
    assert_eq!(code, Some(2));
    assert!(stderr.contains("expected `Name: value`"), "{stderr}");
}

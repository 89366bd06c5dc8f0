//! Secrets sealed at rest by default: the key a daemon generates when none is configured,
//! the `store_secrets_unsealed` opt-out, and the re-sealing of a store written unsealed (or
//! before sealed values carried a mode marker) on the next start with a key.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use hookline_e2e::daemon::{Daemon, DaemonConfig};
use hookline_e2e::run_hookline;
use hookline_e2e::signatures::marionette_signature;
use hookline_test_support::eventually;
use hookline_test_support::receiver::Receiver;

const SEALED: &str = "v1:aesgcm:";
const PLAIN: &str = "v0:plain:";

/// `(secret_sealed, previous_secret_sealed)` of webhook `id`, read from the SQLite file
/// itself (the daemon stopped).
fn stored_secret(db: &Path, id: &str) -> (String, Option<String>) {
    let conn = rusqlite::Connection::open(db).expect("open the daemon's SQLite file");
    conn.query_row(
        "SELECT secret_sealed, previous_secret_sealed FROM webhooks WHERE id = ?1",
        [id],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )
    .expect("the webhook's row")
}

/// Every byte the store holds on disk (database, WAL), for grepping.
fn store_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for name in ["hookline.db", "hookline.db-wal"] {
        all.extend(std::fs::read(dir.join(name)).unwrap_or_default());
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle.as_bytes())
}

async fn create(daemon: &Daemon, id: &str, url: &str) -> String {
    let created = daemon
        .create_webhook(json!({"id": id, "url": url, "events": ["task.*"]}))
        .await;
    created["secret"]
        .as_str()
        .expect("the secret, shown at creation")
        .to_owned()
}

/// Emits one event and waits until `path` has received `n` requests; checks every one is
/// signed with `secret` over the bytes received.
async fn deliver_and_verify(
    daemon: &Daemon,
    receiver: &Receiver,
    paths: &[(&str, &str)],
    n: usize,
) {
    daemon
        .emit(json!({
            "type": "task.completed",
            "resource": {"id": format!("t{n}"), "type": "task"},
        }))
        .await;
    for (path, secret) in paths {
        let got = eventually(
            &format!("{n} request(s) to {path}"),
            Duration::from_secs(30),
            || async {
                let got = receiver.requests_to(path);
                if got.len() >= n {
                    Ok(got)
                } else {
                    Err(format!("{} so far", got.len()))
                }
            },
        )
        .await;
        for req in got {
            let ts = req.expect_header("x-webhook-timestamp");
            assert_eq!(
                req.expect_header("x-webhook-signature"),
                marionette_signature(secret, ts, &req.body),
                "delivery to {path} verifies with the secret shown at creation"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_with_no_key_generates_one_and_stores_secrets_sealed() {
    let receiver = Receiver::start().await;
    let mut daemon = Daemon::start(DaemonConfig::new()).await;
    let key_file = daemon.dir().join("data").join("encryption-key");
    let stdout = daemon.stdout(1);
    assert!(
        stdout.contains(&format!(
            "generated an encryption key into {}",
            key_file.display()
        )),
        "{stdout}"
    );
    let key = std::fs::read_to_string(&key_file).expect("the generated key file");
    assert_eq!(key.trim().len(), 64);
    assert!(key.trim().bytes().all(|b| b.is_ascii_hexdigit()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }
    assert!(!daemon.log().contains("base64-encoded"), "{}", daemon.log());

    let secret = create(&daemon, "hook", &receiver.url("/hook")).await;
    deliver_and_verify(&daemon, &receiver, &[("/hook", &secret)], 1).await;
    daemon.terminate().await;

    let (sealed, _) = stored_secret(&daemon.dir().join("hookline.db"), "hook");
    assert!(sealed.starts_with(SEALED), "stored as {sealed}");
    let bytes = store_bytes(daemon.dir());
    assert!(!contains(&bytes, &secret), "plaintext secret in the store");
    assert!(
        !contains(&bytes, &BASE64.encode(&secret)),
        "base64 secret in the store"
    );

    // The next start uses the same key: the webhook still signs.
    daemon.restart().await;
    assert!(
        daemon
            .stdout(2)
            .contains(&format!("encryption key in {}", key_file.display())),
        "{}",
        daemon.stdout(2)
    );
    deliver_and_verify(&daemon, &receiver, &[("/hook", &secret)], 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_written_unsealed_is_resealed_on_the_next_start_and_deliveries_verify() {
    let receiver = Receiver::start().await;
    let unsealed = DaemonConfig::new().set("security", "store_secrets_unsealed", "true");
    let mut daemon = Daemon::start(unsealed).await;
    let key_file = daemon.dir().join("data").join("encryption-key");
    assert!(
        daemon.stdout(1).contains("stored UNSEALED"),
        "{}",
        daemon.stdout(1)
    );
    assert!(daemon.log().contains("NOT encrypted"), "{}", daemon.log());
    assert!(!key_file.exists());

    let plain = create(&daemon, "plain", &receiver.url("/plain")).await;
    let legacy = create(&daemon, "legacy", &receiver.url("/legacy")).await;
    let both = [("/plain", plain.as_str()), ("/legacy", legacy.as_str())];
    deliver_and_verify(&daemon, &receiver, &both, 1).await;
    daemon.terminate().await;

    let db = daemon.dir().join("hookline.db");
    let (stored, _) = stored_secret(&db, "plain");
    assert_eq!(stored, format!("{PLAIN}{}", BASE64.encode(&plain)));
    // `legacy` as a store written before the mode marker existed: bare base64.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute(
        "UPDATE webhooks SET secret_sealed = ?1 WHERE id = 'legacy'",
        [BASE64.encode(&legacy)],
    )
    .unwrap();
    drop(conn);

    // The opt-out removed: a key is generated and every stored secret sealed under it.
    daemon.set_config(DaemonConfig::new());
    daemon.restart().await;
    assert!(
        daemon.stdout(2).contains("generated an encryption key"),
        "{}",
        daemon.stdout(2)
    );
    deliver_and_verify(&daemon, &receiver, &both, 2).await;
    let views: Vec<Value> = vec![
        daemon.webhook("plain").await,
        daemon.webhook("legacy").await,
    ];
    for view in &views {
        assert_eq!(view["state"], "active", "{view}");
    }
    daemon.terminate().await;

    let bytes = store_bytes(daemon.dir());
    for (id, secret) in [("plain", &plain), ("legacy", &legacy)] {
        let (stored, _) = stored_secret(&db, id);
        assert!(stored.starts_with(SEALED), "{id} stored as {stored}");
        assert!(!contains(&bytes, secret), "{id}: plaintext in the store");
    }
    assert!(daemon.log().contains("re-sealed"), "{}", daemon.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_rotate_reseals_every_secret_under_a_new_key() {
    let receiver = Receiver::start().await;
    let mut daemon = Daemon::start(DaemonConfig::new()).await;
    let config = daemon.dir().join("hookline.toml");
    let config = config.to_str().unwrap();
    let key_file = daemon.dir().join("data").join("encryption-key");
    let first = create(&daemon, "hook", &receiver.url("/hook")).await;
    // A rotated signing secret leaves a previous one: both are re-sealed.
    let rotated = daemon
        .post_json("/v1/webhooks/hook/rotate-secret", &json!({}))
        .await
        .expect(200, "rotate the signing secret");
    let secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(secret, first);
    // A sensitive header's value is sealed at rest too, and re-sealed with the secrets.
    let patched = daemon
        .request_raw(
            reqwest::Method::PATCH,
            "/v1/webhooks/hook",
            Some(daemon.token()),
            Some(br#"{"headers": {"X-Api-Key": "rotated-header-key-991"}}"#.to_vec()),
        )
        .await;
    assert_eq!(patched.status, 200, "{}", patched.text);

    deliver_and_verify(&daemon, &receiver, &[("/hook", &secret)], 1).await;

    // Online: the running daemon re-seals everything under the new key, no restart.
    let first_key = std::fs::read_to_string(&key_file).unwrap();
    let online = run_hookline(&["keys", "rotate", "--config", config], b"");
    let stdout = String::from_utf8_lossy(&online.stdout);
    assert_eq!(
        online.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&online.stderr)
    );
    assert!(stdout.contains("the running daemon re-sealed"), "{stdout}");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(old_key, first_key);
    assert!(
        !daemon
            .dir()
            .join("data")
            .join("encryption-key.next")
            .exists()
    );
    // Still delivering, signed with the same secret, the header opened under the new key.
    deliver_and_verify(&daemon, &receiver, &[("/hook", &secret)], 2).await;
    assert_eq!(
        receiver.requests_to("/hook")[1].expect_header("x-api-key"),
        "rotated-header-key-991"
    );
    let sealer = hookline_core::secret::Sealer::from_hex(&old_key).unwrap();
    let (online_sealed, _) = stored_secret(&daemon.dir().join("hookline.db"), "hook");
    assert_eq!(*sealer.open_string(&online_sealed).unwrap(), secret);
    assert!(
        hookline_core::secret::Sealer::from_hex(&first_key)
            .unwrap()
            .open(&online_sealed)
            .is_err(),
        "still sealed under the replaced key"
    );

    // Offline: with the daemon stopped, the command re-seals the store itself.
    daemon.terminate().await;
    let db = daemon.dir().join("hookline.db");
    let (before, previous_before) = stored_secret(&db, "hook");

    let out = run_hookline(&["keys", "rotate", "--config", config], b"");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("of 1 webhook(s) under a new key"),
        "{stdout}"
    );
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key, old_key);
    assert!(
        !daemon
            .dir()
            .join("data")
            .join("encryption-key.next")
            .exists()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "key file mode {mode:o}");
    }
    let (after, previous_after) = stored_secret(&db, "hook");
    assert!(after.starts_with(SEALED) && after != before, "{after}");
    let previous_after = previous_after.expect("the previous secret stays");
    assert!(previous_after.starts_with(SEALED));
    let sealer = hookline_core::secret::Sealer::from_hex(&new_key).unwrap();
    assert_eq!(*sealer.open_string(&after).unwrap(), secret);
    assert_eq!(*sealer.open_string(&previous_after).unwrap(), first);
    assert_ne!(Some(previous_after), previous_before);

    // The webhook signs with the secret shown at rotation, under the new key.
    daemon.restart().await;
    deliver_and_verify(&daemon, &receiver, &[("/hook", &secret)], 3).await;
    let req = &receiver.requests_to("/hook")[2];
    assert_eq!(req.expect_header("x-api-key"), "rotated-header-key-991");
    let db_bytes = std::fs::read(&db).unwrap();
    assert!(
        !db_bytes
            .windows(b"rotated-header-key-991".len())
            .any(|w| w == b"rotated-header-key-991"),
        "the header's value is readable in the database"
    );
    let ts = req.expect_header("x-webhook-timestamp");
    assert!(
        req.expect_header("x-webhook-signature-previous")
            .contains(&marionette_signature(&first, ts, &req.body)),
        "the previous secret still signs during the grace window: {:?}",
        req.headers
    );
}

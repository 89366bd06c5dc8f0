//! Bad input gets a clear 4xx (or, for the config, a refusal to start naming the line and
//! key), and nothing accepted before it is lost.

use hookline_e2e::daemon::{Daemon, DaemonConfig, TOKEN, serve_expecting_failure};
use hookline_test_support::receiver::Receiver;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const GOOD_EVENT: &str = r#"{"type":"task.created","id":"good-1","resource":{"id":"good-1","type":"task"},"data":{"session_id":"s1","status":"pending"}}"#;

/// One bad request and what the answer must say.
struct Case {
    /// Send it on a connection of its own (see
    /// `an_early_413_says_it_closes_the_connection`).
    alone: bool,
    what: &'static str,
    method: Method,
    path: &'static str,
    token: Option<&'static str>,
    body: Option<String>,
    status: u16,
    code: &'static str,
    /// Must appear in the error's field or message.
    names: &'static str,
}

fn case(
    what: &'static str,
    path: &'static str,
    body: &str,
    status: u16,
    code: &'static str,
    names: &'static str,
) -> Case {
    Case {
        alone: false,
        what,
        method: Method::POST,
        path,
        token: Some(TOKEN),
        body: Some(body.to_owned()),
        status,
        code,
        names,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_clear_errors_and_lose_nothing() {
    let receiver = Receiver::start().await;
    let daemon = Daemon::start(
        DaemonConfig::new()
            .set("delivery", "max_payload_bytes", "4096")
            .set("server", "max_request_bytes", "65536"),
    )
    .await;
    daemon
        .create_webhook(json!({"id": "good", "url": receiver.url("/good"), "events": ["*"]}))
        .await;
    let first = daemon
        .request_raw(
            Method::POST,
            "/v1/events",
            Some(TOKEN),
            Some(GOOD_EVENT.into()),
        )
        .await
        .expect(202, "the good event");

    let big = "x".repeat(5000);
    let huge = "x".repeat(70_000);
    let cases = vec![
        case(
            "malformed JSON",
            "/v1/events",
            r#"{"type": "task.created", "resource": "#,
            400,
            "malformed_json",
            "",
        ),
        case(
            "unknown field",
            "/v1/events",
            r#"{"type":"task.created","resource":{"id":"x","type":"task"},"colour":"red"}"#,
            400,
            "invalid_input",
            "colour",
        ),
        case(
            "wrong field type",
            "/v1/events",
            r#"{"type":"task.created","resource":{"id":5,"type":"task"}}"#,
            400,
            "invalid_input",
            "resource.id",
        ),
        case(
            "missing field",
            "/v1/events",
            r#"{"type":"task.created"}"#,
            400,
            "invalid_input",
            "resource",
        ),
        case(
            "invalid event type",
            "/v1/events",
            r#"{"type":"task..created","resource":{"id":"x","type":"task"}}"#,
            400,
            "invalid_input",
            "type",
        ),
        case(
            "a bad event in a batch fails the whole batch",
            "/v1/events/batch",
            r#"{"events":[{"type":"task.created","resource":{"id":"batch-ok","type":"task"}},{"type":"task created","resource":{"id":"batch-bad","type":"task"}}]}"#,
            400,
            "invalid_input",
            "events[1].type",
        ),
        case(
            "payload over delivery.max_payload_bytes",
            "/v1/events",
            &format!(
                r#"{{"type":"task.created","resource":{{"id":"big","type":"task"}},"data":{{"blob":"{big}"}}}}"#
            ),
            413,
            "payload_too_large",
            "",
        ),
        Case {
            alone: true,
            ..case(
                "request over server.max_request_bytes",
                "/v1/events",
                &format!(
                    r#"{{"type":"task.created","resource":{{"id":"huge","type":"task"}},"data":{{"blob":"{huge}"}}}}"#
                ),
                413,
                "payload_too_large",
                "65536",
            )
        },
        case(
            "invalid pattern",
            "/v1/webhooks",
            &json!({"url": receiver.url("/x"), "events": ["task.created", "task*"]}).to_string(),
            400,
            "invalid_input",
            "task*",
        ),
        case(
            "duplicate webhook id",
            "/v1/webhooks",
            &json!({"id": "good", "url": receiver.url("/x"), "events": ["*"]}).to_string(),
            409,
            "conflict",
            "good",
        ),
        Case {
            token: None,
            ..case(
                "missing token",
                "/v1/events",
                GOOD_EVENT,
                401,
                "unauthorized",
                "",
            )
        },
        Case {
            token: Some("wrong-token-0123456789"),
            ..case(
                "wrong token",
                "/v1/events",
                GOOD_EVENT,
                401,
                "unauthorized",
                "",
            )
        },
        Case {
            method: Method::GET,
            body: None,
            ..case(
                "unknown delivery",
                "/v1/deliveries/dlv_nope",
                "",
                404,
                "not_found",
                "dlv_nope",
            )
        },
        Case {
            method: Method::GET,
            body: None,
            ..case(
                "unknown filter",
                "/v1/deliveries?stauts=failed",
                "",
                400,
                "invalid_input",
                "stauts",
            )
        },
    ];
    for c in cases {
        let body = c.body.map(String::into_bytes);
        let answer = match c.alone {
            true => {
                daemon
                    .request_raw_alone(c.method, c.path, c.token, body)
                    .await
            }
            false => daemon.request_raw(c.method, c.path, c.token, body).await,
        };
        assert_eq!(answer.status, c.status, "{}: {}", c.what, answer.text);
        assert_eq!(answer.error_code(), c.code, "{}: {}", c.what, answer.text);
        assert!(
            !answer.error_message().is_empty(),
            "{}: {}",
            c.what,
            answer.text
        );
        assert!(
            answer.error_field().contains(c.names) || answer.error_message().contains(c.names),
            "{}: the error should name `{}`: {}",
            c.what,
            c.names,
            answer.text
        );
        if c.status == 401 {
            assert_eq!(
                answer
                    .headers
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok()),
                Some("Bearer"),
                "{}",
                c.what
            );
        }
    }

    // The event accepted first is delivered; nothing from the bad requests was stored.
    let detail = daemon.wait_settled("good", 1).await.remove(0);
    assert_eq!(detail["status"], "delivered", "{detail:#}");
    assert_eq!(detail["event_id"], first["event_id"]);
    let got: Vec<_> = receiver
        .requests()
        .iter()
        .filter_map(|r| r.resource_id())
        .collect();
    assert_eq!(got, ["good-1"]);
    let stats = daemon.get_json("/v1/stats").await.expect(200, "stats");
    assert_eq!(stats["store"]["events"], 1, "{stats:#}");
    let webhooks = daemon
        .get_json("/v1/webhooks")
        .await
        .expect(200, "webhooks");
    assert_eq!(
        webhooks["items"].as_array().map(Vec::len),
        Some(1),
        "{webhooks:#}"
    );
}

/// Reads one HTTP/1.1 response (status, headers; the body is skipped by its length), or
/// says why there is none.
async fn read_response(conn: &mut TcpStream) -> Result<(u16, Vec<(String, String)>), String> {
    let read = async {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 8192];
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            match conn.read(&mut chunk).await {
                Ok(0) => return Err(format!("connection closed ({} bytes read)", buf.len())),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|c| c.parse::<u16>().ok())
            .ok_or_else(|| format!("not an HTTP response: {head}"))?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match conn.read(&mut chunk).await {
                Ok(0) => return Err("connection closed inside the body".to_owned()),
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
                Err(e) => return Err(format!("read failed: {e}")),
            }
        }
        Ok((status, headers))
    };
    tokio::time::timeout(Duration::from_secs(5), read)
        .await
        .unwrap_or_else(|_| Err("no answer within 5 s".to_owned()))
}

/// A request declaring a body over `server.max_request_bytes` is answered 413 before its
/// body is read, and the daemon then closes the connection. HTTP/1.1 connections are
/// persistent unless the server says otherwise, so the answer must carry
/// `Connection: close`; without it a keep-alive client (reqwest, the platform's SDK) reuses
/// the dead connection and its next request fails with a transport error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_413_says_it_closes_the_connection() {
    let daemon =
        Daemon::start(DaemonConfig::new().set("server", "max_request_bytes", "65536")).await;
    let addr = daemon.url().trim_start_matches("http://").to_owned();
    let mut conn = TcpStream::connect(&addr)
        .await
        .expect("connect to the daemon");
    let body = format!(
        r#"{{"type":"task.created","resource":{{"id":"huge","type":"task"}},"data":"{}"}}"#,
        "x".repeat(70_000)
    );
    let head = format!(
        "POST /v1/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    conn.write_all(head.as_bytes())
        .await
        .expect("send the head");
    // The daemon may answer (and stop reading) before the body is all sent.
    let _ = conn.write_all(body.as_bytes()).await;
    let (status, headers) = read_response(&mut conn).await.expect("an answer");
    assert_eq!(status, 413);
    let says_close = headers
        .iter()
        .any(|(n, v)| n == "connection" && v.eq_ignore_ascii_case("close"));
    if !says_close {
        let next = async {
            conn.write_all(format!("GET /healthz HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
                .await
                .map_err(|e| format!("write failed: {e}"))?;
            read_response(&mut conn).await
        }
        .await;
        assert!(
            matches!(next, Ok((200, _))),
            "the 413 answer did not say `Connection: close` (headers {headers:?}), so the \
             connection should still serve requests, but the next request on it got: {next:?}"
        );
    }
}

/// A valid tail for configs, so a config wrongly accepted would still start cleanly.
const SERVER: &str = "\n[server]\nlisten = \"127.0.0.1:0\"\ntoken = \"test-token-0123456789\"\n";

/// A config `hookline serve` must refuse, and what its error must say.
struct BadConfig {
    what: &'static str,
    text: String,
    env: Vec<(&'static str, &'static str)>,
    expected: Vec<&'static str>,
}

fn bad(what: &'static str, text: &str, expected: Vec<&'static str>) -> BadConfig {
    BadConfig {
        what,
        text: text.to_owned(),
        env: Vec::new(),
        expected,
    }
}

#[test]
fn bad_configs_refuse_to_start_naming_the_line_and_key() {
    let webhook = |id: &str, events: &str| {
        format!("[[webhooks]]\nid = \"{id}\"\nurl = \"https://example.com/h\"\nevents = {events}\n")
    };
    let cases = vec![
        bad(
            "TOML syntax error",
            "[delivery]\nworkers = = 3\n",
            vec!["bad.toml:2:", "invalid TOML"],
        ),
        bad(
            "unknown key",
            "[delivery]\nwrokers = 8\n",
            vec!["bad.toml:2:1: unknown key `delivery.wrokers`"],
        ),
        bad(
            "value out of range",
            "[delivery]\nworkers = 0\n",
            vec!["bad.toml:2:", "`delivery.workers`"],
        ),
        bad(
            "wrong type",
            "[delivery]\ntimeout_seconds = \"soon\"\n",
            vec!["bad.toml:2:", "delivery.timeout_seconds"],
        ),
        bad(
            "invalid pattern",
            &webhook("p", "[\"task*\"]"),
            vec!["bad.toml:4:", "webhooks[0].events", "task*"],
        ),
        bad(
            "duplicate webhook id",
            &format!(
                "{}\n{}",
                webhook("dup", "[\"*\"]"),
                webhook("dup", "[\"*\"]")
            ),
            vec![
                "bad.toml:7:",
                "`webhooks[1].id`",
                "duplicate webhook id `dup`",
            ],
        ),
        BadConfig {
            env: vec![("HOOKLINE_DELIVERY_WORKERS", "0")],
            ..bad(
                "bad environment override",
                "",
                vec!["HOOKLINE_DELIVERY_WORKERS", "delivery.workers"],
            )
        },
    ];
    for BadConfig {
        what,
        text,
        env,
        expected,
    } in cases
    {
        let output = serve_expecting_failure(&format!("{text}{SERVER}"), &env);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{what}: hookline serve should refuse to start; stderr:\n{stderr}"
        );
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "{what}: stderr should contain {needle:?}:\n{stderr}"
            );
        }
    }
}

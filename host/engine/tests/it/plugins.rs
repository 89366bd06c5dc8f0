//! WebAssembly plugins through the real runtime, with the real plugins of `plugins/`: the
//! examples, the hostile fixtures, isolation between calls, hot reload, the disk cache,
//! and deliveries end to end (transformed, signed over the bytes sent, skipped, failed).
//!
//! The plugins are built once per test binary, on first use, by
//! `hookline_test_support::plugins` (into `<target>/wasm-plugins`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use hookline_core::event::ResourceInfo;
use hookline_core::model::{DeliveryFilter, DeliveryStatus, ErrorKind};
use hookline_core::secret::Sealer;
use hookline_core::signing::{Scheme, VerifyingKey, verify};
use hookline_engine::http::{HttpSender, SenderConfig};
use hookline_engine::ssrf::NetworkPolicy;
use hookline_engine::{Engine, EngineConfig, EventInput, WebhookSpec};
use hookline_plugin::{
    ConfigCheckError, ConfigUser, PluginError, PluginLimits, PluginRuntime, PluginRuntimeConfig,
    TransformInput, TransformOutput,
};
use hookline_test_support::TempDir;
use hookline_test_support::eventually;
use hookline_test_support::plugins::{plugin, shared_cache_dir};
use hookline_test_support::receiver::Receiver;
use hookline_test_support::store::TempStore;

// ---------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------

fn config_with_cache(cache_dir: PathBuf) -> PluginRuntimeConfig {
    PluginRuntimeConfig {
        max_concurrent_calls: 8,
        cache_dir: Some(cache_dir),
        ..PluginRuntimeConfig::default()
    }
}

/// One runtime for the tests that need nothing special.
fn runtime() -> &'static Arc<PluginRuntime> {
    static RUNTIME: OnceLock<Arc<PluginRuntime>> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Arc::new(PluginRuntime::new(config_with_cache(shared_cache_dir())).expect("runtime"))
    })
}

/// About 1 KB: a `task.completed` event with labels, a prompt and nested data.
const PAYLOAD: &str = r#"{"event":"task.completed","timestamp":"2024-05-06T07:08:09.123Z","resource":{"id":"task_42","type":"task","labels":{"email":"ada@example.com","team":"billing"},"annotations":{"runbook":"https://wiki.example.com/tasks"}},"data":{"session_id":"sess_7","prompt":"Summarise the quarterly numbers for the board and include the customer list","status":"completed","duration_seconds":42,"exit_code":0,"tokens_input":1234,"tokens_output":567,"items":[{"name":"a","token":"tok_a"},{"name":"b","token":"tok_b"}],"notes":"the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog","metrics":{"p50_ms":12.5,"p99_ms":97.25,"samples":[1,2,3,5,8,13,21,34,55,89,144,233,377,610]}}}"#;

fn input(config: &str) -> TransformInput {
    TransformInput::from_payload(
        "evt_01",
        PAYLOAD.as_bytes(),
        "hook",
        "https://receiver.example.com/hook",
        config,
    )
    .unwrap()
}

fn transform(name: &str, config: &str) -> Result<TransformOutput, PluginError> {
    let rt = runtime();
    let plugin = rt.load(&plugin(name)).unwrap();
    rt.transform(&plugin, input(config), rt.default_limits())
}

struct Sent {
    body: Vec<u8>,
    content_type: Option<String>,
    headers: Vec<(String, String)>,
    url: Option<String>,
}

fn sent(output: TransformOutput) -> Sent {
    match output {
        TransformOutput::Send {
            body,
            content_type,
            headers,
            url,
            fuel_used,
            ..
        } => {
            assert!(fuel_used > 0, "a call burns fuel");
            Sent {
                body: body.to_vec(),
                content_type,
                headers,
                url,
            }
        }
        other => panic!("expected a request to send, got {other:?}"),
    }
}

fn json_of(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or_else(|e| {
        panic!("not JSON ({e}): {}", String::from_utf8_lossy(body));
    })
}

// ---------------------------------------------------------------------------------------
// The example plugins
// ---------------------------------------------------------------------------------------

#[test]
fn redact_removes_and_masks_the_configured_fields() {
    let config =
        r#"{"remove":["data.prompt","data.items.*.token"],"mask":["resource.labels.email"]}"#;
    let out = sent(transform("redact", config).unwrap());
    assert_eq!(out.content_type, None);
    assert!(out.url.is_none());
    let body = json_of(&out.body);
    let original: Value = serde_json::from_str(PAYLOAD).unwrap();
    assert!(body["data"].get("prompt").is_none(), "{body}");
    assert_eq!(body["data"]["items"], json!([{"name": "a"}, {"name": "b"}]));
    assert_eq!(body["resource"]["labels"]["email"], "***");
    assert_eq!(body["resource"]["labels"]["team"], "billing");
    assert_eq!(body["event"], original["event"]);
    assert_eq!(body["timestamp"], original["timestamp"]);
    assert_eq!(body["data"]["metrics"], original["data"]["metrics"]);

    // No paths: the default body, byte for byte.
    let out = sent(transform("redact", "{}").unwrap());
    assert_eq!(String::from_utf8(out.body).unwrap(), PAYLOAD);
}

#[test]
fn filter_delivers_matching_events_and_skips_the_rest() {
    let allow = r#"{"mode":"allow","rules":[{"name":"billing","field":"resource.labels.team","equals":"billing"}]}"#;
    let out = sent(transform("filter", allow).unwrap());
    assert_eq!(String::from_utf8(out.body).unwrap(), PAYLOAD);

    let deny = r#"{"mode":"deny","rules":[{"name":"billing","field":"resource.labels.team","equals":"billing"}]}"#;
    match transform("filter", deny).unwrap() {
        TransformOutput::Skip { reason, .. } => {
            assert!(reason.contains("billing"), "{reason}")
        }
        other => panic!("expected a skip, got {other:?}"),
    }

    // A configuration the plugin refuses fails the delivery with its message.
    let err = transform("filter", r#"{"mode":"sometimes"}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginOutput, "{err}");
}

#[test]
fn cloudevents_wraps_the_event_in_a_structured_cloudevent() {
    let out = sent(transform("cloudevents", r#"{"source":"https://hookline.test"}"#).unwrap());
    assert_eq!(
        out.content_type.as_deref(),
        Some("application/cloudevents+json; charset=UTF-8")
    );
    let body = json_of(&out.body);
    let original: Value = serde_json::from_str(PAYLOAD).unwrap();
    assert_eq!(body["specversion"], "1.0");
    assert_eq!(body["id"], "evt_01");
    assert_eq!(body["source"], "https://hookline.test");
    assert_eq!(body["type"], "task.completed");
    assert_eq!(body["time"], "2024-05-06T07:08:09.123Z");
    assert_eq!(body["subject"], "task/task_42");
    assert_eq!(body["data"], original["data"]);
}

#[test]
fn slack_turns_the_event_into_a_message() {
    let out = sent(transform("slack", r##"{"channel":"#ops"}"##).unwrap());
    let body = json_of(&out.body);
    let text = body["text"].as_str().expect("a fallback text");
    assert!(text.contains("task.completed"), "{text}");
    assert!(
        body["blocks"].as_array().is_some_and(|b| !b.is_empty()),
        "{body}"
    );
    assert_eq!(body["channel"], "#ops");
    assert!(
        out.headers
            .iter()
            .all(|(n, _)| !n.eq_ignore_ascii_case("content-type"))
    );
}

// ---------------------------------------------------------------------------------------
// Hostile plugins: each fails its call with its own error kind; the host carries on
// ---------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------
// World versions and check-config
// ---------------------------------------------------------------------------------------

/// The mistake of issue 15: `redact`'s key is `remove`, not `paths`.
const BAD_REDACT_CONFIG: &str = r#"{"paths":["data.prompt"]}"#;

fn user(webhook: &str) -> ConfigUser {
    ConfigUser {
        webhook_id: webhook.into(),
        origin: "webhooks[0].plugin_config (hookline.toml:7:17)".into(),
    }
}

#[test]
fn a_plugin_built_against_world_0_1_0_keeps_loading() {
    let rt = runtime();
    let old = rt.load(&plugin("fixture-v0-1-0")).unwrap();
    assert!(!old.info().checks_config, "{:?}", old.info());
    assert!(
        old.info()
            .imports
            .iter()
            .any(|i| i == "hookline:plugin/types@0.1.0"),
        "{:?}",
        old.info().imports
    );
    let body = json_of(
        &sent(
            rt.transform(&old, input(r#"{"any":1}"#), rt.default_limits())
                .unwrap(),
        )
        .body,
    );
    assert_eq!(
        body,
        json!({"world": "0.1.0", "event": "evt_01", "config": {"any": 1}})
    );
    // No check-config: every configuration is accepted (and read at the first delivery).
    assert_eq!(rt.check_config(&old, BAD_REDACT_CONFIG), Ok(()));

    let new = rt.load(&plugin("redact")).unwrap();
    assert!(new.info().checks_config);
    assert!(
        new.info()
            .imports
            .iter()
            .any(|i| i == "hookline:plugin/types@0.2.0")
    );
}

#[test]
fn check_config_refuses_a_bad_plugin_config_with_the_plugins_words() {
    let rt = runtime();
    let redact = rt.load(&plugin("redact")).unwrap();
    assert_eq!(
        rt.check_config(&redact, r#"{"remove":["data.prompt"]}"#),
        Ok(())
    );
    assert_eq!(rt.check_config(&redact, "{}"), Ok(()));
    match rt.check_config(&redact, BAD_REDACT_CONFIG) {
        Err(ConfigCheckError::Refused(message)) => {
            assert!(message.contains("unknown field `paths`"), "{message}");
            assert!(message.contains("`remove`"), "{message}");
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    match rt.check_config(&redact, r#"{"remove":["prompt"]}"#) {
        Err(ConfigCheckError::Refused(message)) => {
            assert!(
                message.starts_with("plugin_config: remove[0]: path `prompt`"),
                "{message}"
            )
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
    let good_filter = r#"{"rules":[{"field":"data.status","equals":"completed"}]}"#;
    for (name, good, bad) in [
        ("cloudevents", "{}", r#"{"source":""}"#),
        ("slack", "{}", r#"{"chanel":"ops"}"#),
        ("filter", good_filter, r#"{"mode":"sometimes","rules":[]}"#),
    ] {
        let p = rt.load(&plugin(name)).unwrap();
        assert!(
            matches!(rt.check_config(&p, bad), Err(ConfigCheckError::Refused(_))),
            "{name} accepted {bad}"
        );
        assert_eq!(rt.check_config(&p, good), Ok(()), "{name}");
    }
}

#[test]
fn a_new_plugin_version_that_refuses_a_config_in_use_is_not_used() {
    let dir = TempDir::new("it-plugins-reload-check");
    let path = dir.join("plugin.wasm");
    std::fs::copy(plugin("fixture-v0-1-0"), &path).unwrap();
    let rt = PluginRuntime::new(PluginRuntimeConfig {
        reload_check_interval: Duration::ZERO,
        ..config_with_cache(shared_cache_dir())
    })
    .unwrap();
    // Accepted by the first version (it has no check), and remembered.
    rt.check_config_for(&path, user("analytics"), BAD_REDACT_CONFIG)
        .unwrap();
    let first = rt.load(&path).unwrap();

    // Replaced by redact, which refuses `paths`: the old version stays in use.
    let tmp = dir.join("plugin.wasm.tmp");
    std::fs::copy(plugin("redact"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let still = rt.load(&path).unwrap();
    assert!(
        Arc::ptr_eq(&first, &still),
        "the refusing version must not be used"
    );
    let out = json_of(
        &sent(
            rt.transform(&still, input(BAD_REDACT_CONFIG), rt.default_limits())
                .unwrap(),
        )
        .body,
    );
    assert_eq!(out["world"], "0.1.0");

    // With a configuration it accepts in use, the new version is used.
    let fresh = PluginRuntime::new(PluginRuntimeConfig {
        reload_check_interval: Duration::ZERO,
        ..config_with_cache(shared_cache_dir())
    })
    .unwrap();
    std::fs::copy(plugin("fixture-v0-1-0"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    fresh
        .check_config_for(&path, user("analytics"), r#"{"remove":["data.prompt"]}"#)
        .unwrap();
    std::fs::copy(plugin("redact"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let redact = fresh.load(&path).unwrap();
    assert!(
        redact.info().checks_config,
        "a new version accepting every config in use is used"
    );
}

// ---------------------------------------------------------------------------------------
// What WASI answers
// ---------------------------------------------------------------------------------------

#[test]
fn clocks_read_the_attempt_time_frozen_and_random_bytes_follow_the_delivery() {
    let rt = runtime();
    let probe = rt.load(&plugin("fixture-wasi-probe")).unwrap();
    let call = |delivery: &str, at_ms: i64| {
        let input = input("{}").for_attempt(delivery, at_ms);
        json_of(&sent(rt.transform(&probe, input, rt.default_limits()).unwrap()).body)
    };
    let first = call("dlv_1", 1_714_979_289_123);
    assert_eq!(first["wall"], json!([1_714_979_289_u64, 123_000_000]));
    assert_eq!(first["wall_again"], first["wall"], "frozen for the call");
    assert_eq!(
        first["slept_ns"], 0,
        "a sleep returns at once: time does not move"
    );

    // A later attempt of the same delivery: its own time, the same random bytes.
    let retry = call("dlv_1", 1_714_979_300_000);
    assert_eq!(retry["wall"], json!([1_714_979_300_u64, 0]));
    for key in ["random", "random_u64", "insecure"] {
        assert_eq!(retry[key], first[key], "{key}");
    }
    assert_eq!(first["random"].as_str().unwrap().len(), 32, "16 bytes, hex");
    assert_ne!(first["random"], first["insecure"], "one stream, read on");

    // Another delivery of the same event to the same webhook: other bytes.
    let other = call("dlv_2", 1_714_979_289_123);
    assert_ne!(other["random"], first["random"]);
    assert_ne!(other["random_u64"], first["random_u64"]);
}

#[test]
fn an_endless_loop_is_stopped_by_fuel_or_deadline() {
    let rt = runtime();
    let plugin = rt.load(&plugin("hostile-loop")).unwrap();

    let started = Instant::now();
    let err = rt
        .transform(&plugin, input("{}"), rt.default_limits())
        .unwrap_err();
    assert!(
        matches!(err, PluginError::Fuel { .. } | PluginError::Deadline { .. }),
        "{err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Fuel is deterministic: a small budget always stops it by fuel.
    let small = PluginLimits {
        fuel: 1_000_000,
        deadline: Duration::from_secs(10),
        ..PluginLimits::default()
    };
    let err = rt.transform(&plugin, input("{}"), &small).unwrap_err();
    assert_eq!(err, PluginError::Fuel { budget: 1_000_000 });
    assert_eq!(err.kind(), ErrorKind::PluginFuel);

    // With fuel to spare, the wall clock stops it.
    let short = PluginLimits {
        fuel: u64::MAX / 2,
        deadline: Duration::from_millis(50),
        ..PluginLimits::default()
    };
    let started = Instant::now();
    let err = rt.transform(&plugin, input("{}"), &short).unwrap_err();
    let took = started.elapsed();
    assert_eq!(
        err,
        PluginError::Deadline {
            limit: Duration::from_millis(50)
        }
    );
    assert!(err.is_transient());
    assert!(
        took >= Duration::from_millis(50) && took < Duration::from_secs(1),
        "{took:?}"
    );
}

#[test]
fn a_gigabyte_allocation_hits_the_memory_cap() {
    let err = transform("hostile-alloc", "{}").unwrap_err();
    match &err {
        PluginError::Memory {
            limit_bytes,
            requested_bytes,
        } => {
            assert_eq!(*limit_bytes, PluginLimits::default().memory_bytes);
            assert!(*requested_bytes >= 1 << 30, "{requested_bytes}");
        }
        other => panic!("expected a memory error, got {other:?}"),
    }
    assert_eq!(err.kind(), ErrorKind::PluginMemory);
}

#[test]
fn a_panic_is_a_trap_that_says_why() {
    let err = transform("hostile-trap", "{}").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginTrap);
    let message = err.to_string();
    assert!(message.contains("unreachable"), "{message}");
    assert!(
        message.contains("hostile fixture: deliberate panic"),
        "{message}"
    );
}

#[test]
fn an_oversized_body_is_refused() {
    // Building 16 MiB takes a while in a debug build on a busy machine: generous limits, so
    // that the size check is what stops it.
    let rt = runtime();
    let plugin = rt.load(&plugin("hostile-oversized")).unwrap();
    let generous = PluginLimits {
        fuel: 50_000_000_000,
        deadline: Duration::from_secs(30),
        ..PluginLimits::default()
    };
    let err = rt.transform(&plugin, input("{}"), &generous).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginOutput, "{err}");
    assert!(err.to_string().contains("payload limit"), "{err}");
}

#[test]
fn a_component_of_another_world_does_not_load() {
    let err = runtime().load(&plugin("hostile-wrong-world")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginLoad);
    assert!(err.to_string().contains("not a hookline plugin"), "{err}");

    // Neither does a file that is not a component.
    let dir = TempDir::new("it-plugins-notwasm");
    let path = dir.join("x.wasm");
    std::fs::write(&path, b"\0asm\x01\0\0\0").unwrap();
    let err = runtime().load(&path).unwrap_err();
    assert!(err.to_string().contains("core WebAssembly module"), "{err}");
    let err = runtime().load(&dir.join("missing.wasm")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PluginLoad);
}

#[test]
fn hostile_calls_leave_the_runtime_working() {
    // Interleave failures and successes on the same runtime, from several threads.
    let config = r#"{"remove":["data.prompt"]}"#;
    let expected = sent(transform("redact", config).unwrap()).body;
    std::thread::scope(|s| {
        for name in [
            "hostile-trap",
            "hostile-alloc",
            "redact",
            "hostile-loop",
            "redact",
        ] {
            let expected = &expected;
            s.spawn(move || match transform(name, config) {
                Ok(out) => assert_eq!(&sent(out).body, expected),
                Err(e) => assert!(name.starts_with("hostile"), "{name}: {e}"),
            });
        }
    });
}

/// Hostile plugins through `transform_async`, as the engine calls them: the same errors,
/// and a long call yields to the other tasks of its thread instead of stalling them.
#[tokio::test(flavor = "current_thread")]
async fn async_calls_keep_every_limit_and_yield_while_they_run() {
    let rt = runtime();
    let call = async |name: &str, limits: &PluginLimits| {
        let plugin = rt.load(&plugin(name)).unwrap();
        rt.transform_async(&plugin, input("{}"), limits).await
    };
    let limits = rt.default_limits();
    assert_eq!(
        call("hostile-alloc", limits).await.unwrap_err().kind(),
        ErrorKind::PluginMemory
    );
    let trap = call("hostile-trap", limits).await.unwrap_err();
    assert!(trap.to_string().contains("deliberate panic"), "{trap}");
    let small = PluginLimits {
        fuel: 1_000_000,
        deadline: Duration::from_secs(10),
        ..PluginLimits::default()
    };
    assert_eq!(
        call("hostile-loop", &small).await.unwrap_err(),
        PluginError::Fuel { budget: 1_000_000 }
    );
    let redact = call("redact", limits).await.unwrap();
    assert_eq!(
        sent(redact).body,
        sent(transform("redact", "{}").unwrap()).body
    );

    // With fuel to spare, the wall clock stops the loop; meanwhile a task on the same
    // (single) thread keeps running, because the call yields at every epoch tick.
    let short = PluginLimits {
        fuel: u64::MAX / 2,
        deadline: Duration::from_millis(200),
        ..PluginLimits::default()
    };
    let ticks = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let counter = tokio::spawn({
        let ticks = ticks.clone();
        async move {
            loop {
                ticks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::task::yield_now().await;
            }
        }
    });
    tokio::task::yield_now().await;
    let before = ticks.load(std::sync::atomic::Ordering::Relaxed);
    let started = Instant::now();
    let err = call("hostile-loop", &short).await.unwrap_err();
    let took = started.elapsed();
    let during = ticks.load(std::sync::atomic::Ordering::Relaxed) - before;
    counter.abort();
    assert_eq!(
        err,
        PluginError::Deadline {
            limit: Duration::from_millis(200)
        }
    );
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(
        during >= 5,
        "the other task ran {during} times during the call"
    );
}

/// More async calls than slots: the extra ones wait for a slot, then run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_calls_wait_for_a_free_slot() {
    let rt = Arc::new(
        PluginRuntime::new(PluginRuntimeConfig {
            max_concurrent_calls: 1,
            ..config_with_cache(shared_cache_dir())
        })
        .unwrap(),
    );
    let plugin = rt.load(&plugin("redact")).unwrap();
    let calls: Vec<_> = (0..8)
        .map(|_| {
            let (rt, plugin) = (rt.clone(), plugin.clone());
            tokio::spawn(async move {
                rt.transform_async(&plugin, input("{}"), rt.default_limits())
                    .await
            })
        })
        .collect();
    // A blocking call competes for the same slot.
    let blocking = {
        let (rt, plugin) = (rt.clone(), plugin.clone());
        tokio::task::spawn_blocking(move || rt.transform(&plugin, input("{}"), rt.default_limits()))
    };
    for call in calls {
        assert!(call.await.unwrap().is_ok());
    }
    assert!(blocking.await.unwrap().is_ok());
}

// ---------------------------------------------------------------------------------------
// Isolation, reload, cache
// ---------------------------------------------------------------------------------------

#[test]
fn every_call_gets_a_fresh_instance() {
    let config = r#"{"remove":["data.prompt"],"mask":["data.items.*.token"]}"#;
    let first = sent(transform("redact", config).unwrap()).body;
    // Another plugin and another input in between change nothing for the next call.
    let _ = transform("cloudevents", "{}").unwrap();
    let _ = transform("hostile-trap", "{}").unwrap_err();
    for _ in 0..5 {
        assert_eq!(sent(transform("redact", config).unwrap()).body, first);
    }
}

#[test]
fn a_changed_file_is_reloaded_without_a_restart() {
    let dir = TempDir::new("it-plugins-reload");
    let path = dir.join("plugin.wasm");
    std::fs::copy(plugin("redact"), &path).unwrap();
    let rt = PluginRuntime::new(PluginRuntimeConfig {
        reload_check_interval: Duration::ZERO,
        ..config_with_cache(shared_cache_dir())
    })
    .unwrap();

    let first = rt.load(&path).unwrap();
    let out = sent(
        rt.transform(&first, input("{}"), rt.default_limits())
            .unwrap(),
    );
    assert_eq!(String::from_utf8(out.body).unwrap(), PAYLOAD);

    // Replace it the recommended way (a new file renamed over the old one).
    let tmp = dir.join("plugin.wasm.tmp");
    std::fs::copy(plugin("cloudevents"), &tmp).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    let second = rt.load(&path).unwrap();
    assert_ne!(first.sha256_hex(), second.sha256_hex());
    let out = sent(
        rt.transform(&second, input("{}"), rt.default_limits())
            .unwrap(),
    );
    assert_eq!(json_of(&out.body)["specversion"], "1.0");

    // Unchanged: the same compiled plugin.
    assert!(Arc::ptr_eq(&second, &rt.load(&path).unwrap()));

    // A broken replacement does not take down the working version.
    std::fs::write(&path, b"not wasm at all").unwrap();
    let still = rt.load(&path).unwrap();
    assert!(Arc::ptr_eq(&second, &still));

    // The counters span versions of the same path.
    let stats = rt.stats();
    assert_eq!(stats.len(), 1);
    assert_eq!((stats[0].calls, stats[0].sent), (2, 2), "{stats:?}");
    assert_eq!(stats[0].sha256.as_deref(), Some(&*second.sha256_hex()));

    // A fresh runtime, which never had a working version, reports the broken file.
    let fresh = PluginRuntime::new(config_with_cache(shared_cache_dir())).unwrap();
    assert_eq!(fresh.load(&path).unwrap_err().kind(), ErrorKind::PluginLoad);
    assert_eq!(fresh.stats()[0].errors.load, 1);
}

#[test]
fn compiled_plugins_are_cached_on_disk() {
    let dir = TempDir::new("it-plugins-cache");
    let cache = dir.join("cache");
    let wasm = plugin("cloudevents");

    let first = PluginRuntime::new(config_with_cache(cache.clone())).unwrap();
    assert!(first.has_disk_cache());
    let compiled = first.load(&wasm).unwrap();
    assert!(!compiled.from_disk_cache());
    let files: Vec<_> = std::fs::read_dir(&cache).unwrap().flatten().collect();
    assert_eq!(files.len(), 1, "{files:?}");

    // A new runtime (a restart) reads it back instead of compiling.
    let second = PluginRuntime::new(config_with_cache(cache.clone())).unwrap();
    let cached = second.load(&wasm).unwrap();
    assert!(cached.from_disk_cache());
    assert!(
        cached.compile_time() < compiled.compile_time(),
        "cached {:?} vs compiled {:?}",
        cached.compile_time(),
        compiled.compile_time()
    );
    let a = sent(
        first
            .transform(&compiled, input("{}"), first.default_limits())
            .unwrap(),
    );
    let b = sent(
        second
            .transform(&cached, input("{}"), second.default_limits())
            .unwrap(),
    );
    assert_eq!(a.body, b.body);

    // A damaged cache file is detected and replaced, not executed.
    let file = files[0].path();
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let third = PluginRuntime::new(config_with_cache(cache)).unwrap();
    let recompiled = third.load(&wasm).unwrap();
    assert!(!recompiled.from_disk_cache());
}

// ---------------------------------------------------------------------------------------
// Deliveries through the engine
// ---------------------------------------------------------------------------------------

/// A receiver answering 200 on `/hook`, and that URL.
async fn receiver() -> (String, Receiver) {
    let receiver = Receiver::start().await;
    (receiver.url("/hook"), receiver)
}

async fn engine(store: &TempStore) -> Engine {
    let sender = HttpSender::new(SenderConfig::default(), NetworkPolicy::loopback()).unwrap();
    Engine::start(
        store.dyn_store(),
        sender,
        Sealer::from_bytes(&[7; 32]),
        EngineConfig {
            workers: 4,
            retention: None,
            poll_interval: Duration::from_millis(50),
            plugins: Some(runtime().clone()),
            ..EngineConfig::default()
        },
    )
    .await
    .unwrap()
}

fn event(key: &str, labels: &[(&str, &str)]) -> EventInput {
    let mut resource = ResourceInfo::new(key, "task");
    resource.labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect::<BTreeMap<_, _>>();
    EventInput {
        event_type: "task.completed".into(),
        id: Some(key.into()),
        resource,
        data: Some(
            serde_json::value::to_raw_value(
                &json!({"prompt": "secret plans", "status": "completed"}),
            )
            .unwrap(),
        ),
    }
}

/// How long a test waits for a delivery: compiling a plugin in a debug build on a busy
/// machine takes a while.
const DELIVERY_DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redacted_delivery_is_signed_over_the_bytes_sent() {
    let redact = plugin("redact");
    let store = TempStore::open("it-plugins-engine");
    let engine = engine(&store).await;
    let (url, got) = receiver().await;
    let created = engine
        .create_webhook(WebhookSpec {
            id: Some("redacted".into()),
            url,
            events: vec!["task.*".into()],
            scheme: Some(Scheme::Standard),
            max_attempts: Some(1),
            plugin: Some(redact.display().to_string()),
            plugin_config: Some(
                json!({"remove": ["data.prompt"], "mask": ["resource.labels.email"]}),
            ),
            ..WebhookSpec::default()
        })
        .await
        .unwrap();

    engine
        .ingest(vec![event("t1", &[("email", "ada@example.com")])])
        .await
        .unwrap();
    let received = eventually("the delivery", DELIVERY_DEADLINE, async || {
        got.requests_to("/hook").first().cloned()
    })
    .await;

    let body = json_of(&received.body);
    assert!(body["data"].get("prompt").is_none(), "{body}");
    assert_eq!(body["data"]["status"], "completed");
    assert_eq!(body["resource"]["labels"]["email"], "***");

    // The signature covers exactly the bytes received.
    let key = VerifyingKey::parse(Scheme::Standard, &created.secret).unwrap();
    let now = chrono::Utc::now().timestamp();
    verify(
        Scheme::Standard,
        std::slice::from_ref(&key),
        &received.headers,
        &received.body,
        now,
    )
    .expect("the signature verifies over the transformed body");
    let mut tampered = received.body.to_vec();
    tampered.extend_from_slice(b" ");
    assert!(verify(Scheme::Standard, &[key], &received.headers, &tampered, now).is_err());

    // The stored attempt keeps the transformed body next to the original payload.
    let id = eventually("the delivered status", DELIVERY_DEADLINE, async || {
        let page = engine
            .list_deliveries(DeliveryFilter::default())
            .await
            .unwrap();
        page.items
            .into_iter()
            .find(|d| d.status == DeliveryStatus::Delivered)
            .map(|d| d.id)
    })
    .await;
    let detail = engine.get_delivery(&id).await.unwrap();
    assert_eq!(detail.payload["data"]["prompt"], "secret plans");
    let attempt = &detail.attempts_detail[0];
    assert_eq!(
        attempt.request_body.as_deref().map(str::as_bytes),
        Some(&received.body[..])
    );
    engine.shutdown(Duration::from_secs(5)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plugins_skip_and_fail_deliveries_with_their_reasons() {
    let (filter, trap, looping) = (
        plugin("filter"),
        plugin("hostile-trap"),
        plugin("hostile-loop"),
    );
    let store = TempStore::open("it-plugins-engine-skip");
    let engine = engine(&store).await;
    let (url, got) = receiver().await;
    let webhook = |id: &str, path: &Path, config: Value| WebhookSpec {
        id: Some(id.into()),
        url: url.clone(),
        events: vec!["task.*".into()],
        max_attempts: Some(1),
        plugin: Some(path.display().to_string()),
        plugin_config: Some(config),
        ..WebhookSpec::default()
    };
    let only_billing = json!({"rules": [{"name": "billing", "field": "resource.labels.team", "equals": "billing"}]});
    engine
        .create_webhook(webhook("filtered", &filter, only_billing))
        .await
        .unwrap();
    engine
        .create_webhook(webhook("trapping", &trap, json!({})))
        .await
        .unwrap();
    engine
        .create_webhook(webhook("looping", &looping, json!({})))
        .await
        .unwrap();

    engine
        .ingest(vec![event("t2", &[("team", "support")])])
        .await
        .unwrap();

    let settled = eventually("three settled deliveries", DELIVERY_DEADLINE, async || {
        let page = engine
            .list_deliveries(DeliveryFilter::default())
            .await
            .unwrap();
        let settled: Vec<_> = page
            .items
            .into_iter()
            .filter(|d| d.status != DeliveryStatus::Pending && d.status != DeliveryStatus::InFlight)
            .collect();
        (settled.len() == 3).then_some(settled)
    })
    .await;
    let by_webhook = |id: &str| settled.iter().find(|d| d.webhook_id == id).unwrap().clone();

    let skipped = by_webhook("filtered");
    assert_eq!(skipped.status, DeliveryStatus::Skipped);
    assert_eq!(skipped.attempts, 1);
    assert_eq!(skipped.last_error_kind, None);
    assert!(
        skipped
            .last_error
            .as_deref()
            .is_some_and(|r| r.contains("no rule matched")),
        "{skipped:?}"
    );

    // A trap is deterministic: failed (a retryable error would end `exhausted`).
    let trapped = by_webhook("trapping");
    assert_eq!(trapped.status, DeliveryStatus::Failed);
    assert_eq!(trapped.attempts, 1);
    assert_eq!(trapped.last_error_kind, Some(ErrorKind::PluginTrap));
    assert!(
        trapped
            .last_error
            .as_deref()
            .is_some_and(|m| m.contains("deliberate panic")),
        "{trapped:?}"
    );

    // The loop runs out of fuel (failed: deterministic) or, on a busy machine, misses its
    // deadline (retryable: with one attempt allowed, exhausted).
    let looped = by_webhook("looping");
    match looped.last_error_kind {
        Some(ErrorKind::PluginFuel) => assert_eq!(looped.status, DeliveryStatus::Failed),
        Some(ErrorKind::PluginDeadline) => assert_eq!(looped.status, DeliveryStatus::Exhausted),
        other => panic!("{other:?}: {looped:?}"),
    }

    assert!(got.requests().is_empty(), "nothing reaches the receiver");
    engine.shutdown(Duration::from_secs(5)).await;
}

/// Every example plugin behind a real engine: the receiver gets each plugin's request, with
/// its content type, signed over the exact bytes sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cloudevents_and_slack_deliveries_are_signed_over_what_they_send() {
    let store = TempStore::open("it-plugins-engine-examples");
    let engine = engine(&store).await;
    let (url, got) = receiver().await;
    let mut secrets = Vec::new();
    for (id, config) in [
        (
            "cloudevents",
            json!({"source": "https://platform.example/tests"}),
        ),
        ("slack", json!({})),
    ] {
        let created = engine
            .create_webhook(WebhookSpec {
                id: Some(id.into()),
                url: url.clone(),
                events: vec!["task.*".into()],
                max_attempts: Some(1),
                plugin: Some(plugin(id).display().to_string()),
                plugin_config: Some(config),
                ..WebhookSpec::default()
            })
            .await
            .unwrap();
        secrets.push((id, created.secret));
    }
    engine.ingest(vec![event("t2", &[])]).await.unwrap();
    let received = eventually("both deliveries", DELIVERY_DEADLINE, async || {
        let got = got.requests_to("/hook");
        (got.len() >= 2).then_some(got)
    })
    .await;

    let now = chrono::Utc::now().timestamp();
    for r in &received {
        let body = json_of(&r.body);
        let content_type = r
            .headers
            .iter()
            .find(|(n, _)| n == "content-type")
            .map(|(_, v)| v.as_str());
        let which = if body.get("specversion").is_some() {
            assert!(
                content_type.is_some_and(|c| c.starts_with("application/cloudevents+json")),
                "{content_type:?}"
            );
            assert_eq!(body["specversion"], "1.0");
            assert_eq!(body["type"], "task.completed");
            assert_eq!(body["source"], "https://platform.example/tests");
            "cloudevents"
        } else {
            assert!(body.get("blocks").is_some(), "a Block Kit message: {body}");
            assert!(body["text"].as_str().is_some_and(|t| !t.is_empty()));
            "slack"
        };
        let secret = &secrets.iter().find(|(id, _)| *id == which).unwrap().1;
        let key = VerifyingKey::parse(Scheme::Marionette, secret).unwrap();
        verify(Scheme::Marionette, &[key], &r.headers, &r.body, now)
            .unwrap_or_else(|e| panic!("{which}: the signature must verify: {e}"));
    }
    let kinds: std::collections::BTreeSet<bool> = received
        .iter()
        .map(|r| json_of(&r.body).get("specversion").is_some())
        .collect();
    assert_eq!(kinds.len(), 2, "one request from each plugin");
    engine.shutdown(Duration::from_secs(5)).await;
}

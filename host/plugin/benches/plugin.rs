//! A plugin call against the same transform in native Rust, measured in the same run.
//!
//! `wasm`: one delivery's worth of plugin work through `redact` (`plugins/redact`): read the
//! stored payload into the plugin's input, a fresh `Store` and instance from the pooling
//! allocator, the call under fuel and epoch deadline, the output checks. `native`: the same
//! edit in plain Rust with `serde_json` (parse, remove `data.prompt` and every
//! `data.items.*.token`, mask `resource.labels.email`, serialise). The event is about 1 KB.
//! `wasm_async`: the `wasm` call as the engine makes it, `transform_async` on a Tokio task.
//! `javascript_inline`: the same edit as an inline script of `builtin:javascript` (QuickJS
//! started, the script compiled and run, in a fresh instance per call).
//!
//! ```text
//! cargo bench -p hookline-plugin --bench plugin
//! ```
//!
//! The plugins are built first if needed, by `hookline_test_support::plugins` (`cargo build
//! --release --target wasm32-wasip2 --manifest-path plugins/Cargo.toml`, into
//! `<target>/wasm-plugins`). After Criterion's
//! report, a summary line gives both medians and their ratio.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group};
use serde_json::Value;

use hookline_test_support::plugins::plugin;

use hookline_plugin::{
    LoadedPlugin, PluginError, PluginRuntime, PluginRuntimeConfig, TransformInput, TransformOutput,
};

const PAYLOAD: &str = r#"{"event":"task.completed","timestamp":"2024-05-06T07:08:09.123Z","resource":{"id":"task_42","type":"task","labels":{"email":"ada@example.com","team":"billing"},"annotations":{"runbook":"https://wiki.example.com/tasks"}},"data":{"session_id":"sess_7","prompt":"Summarise the quarterly numbers for the board and include the customer list","status":"completed","duration_seconds":42,"exit_code":0,"tokens_input":1234,"tokens_output":567,"items":[{"name":"a","token":"tok_a"},{"name":"b","token":"tok_b"}],"notes":"the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog, the quick brown fox jumps over the lazy dog","error":null,"history":[{"at":"2024-05-06T07:00:00Z","status":"queued"},{"at":"2024-05-06T07:01:00Z","status":"running"},{"at":"2024-05-06T07:08:09Z","status":"completed"}],"workspace":{"id":"ws_3","name":"finance-reporting","region":"eu-west-1"},"metrics":{"p50_ms":12.5,"p99_ms":97.25,"samples":[1,2,3,5,8,13,21,34,55,89,144,233,377,610]}}}"#;

const CONFIG: &str =
    r#"{"remove":["data.prompt","data.items.*.token"],"mask":["resource.labels.email"]}"#;
const MASK: &str = "***";

/// The same edit as an inline script of the built-in `builtin:javascript` plugin.
const JS_REDACT: &str = "export default (event) => {\n  delete event.data.prompt;\n  for (const item of event.data.items ?? []) delete item.token;\n  if (event.resource.labels?.email !== undefined) event.resource.labels.email = '***';\n  return event;\n}";

fn js_config() -> String {
    serde_json::json!({ "script": JS_REDACT }).to_string()
}

/// The native equivalent of `redact` with [`CONFIG`].
fn native(payload: &[u8]) -> Vec<u8> {
    let mut body: Value = serde_json::from_slice(payload).expect("JSON");
    if let Some(data) = body.get_mut("data").and_then(Value::as_object_mut) {
        data.remove("prompt");
        if let Some(items) = data.get_mut("items").and_then(Value::as_array_mut) {
            for item in items {
                if let Some(item) = item.as_object_mut() {
                    item.remove("token");
                }
            }
        }
    }
    if let Some(email) = body.pointer_mut("/resource/labels/email") {
        *email = Value::String(MASK.to_owned());
    }
    serde_json::to_vec(&body).expect("serialises")
}

/// One delivery's plugin work, as the engine does it.
fn wasm(runtime: &PluginRuntime, plugin: &LoadedPlugin, payload: &[u8]) -> Vec<u8> {
    wasm_with(runtime, plugin, payload, CONFIG)
}

fn wasm_with(
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    payload: &[u8],
    config: &str,
) -> Vec<u8> {
    sent(runtime.transform(plugin, input(payload, config), runtime.default_limits()))
}

/// One delivery's input, as the engine builds it.
fn input(payload: &[u8], config: &str) -> TransformInput {
    TransformInput::from_payload(
        "evt_01",
        payload,
        "hook",
        "https://receiver.example.com/hook",
        config,
    )
    .expect("input")
}

/// The body the plugin sent.
fn sent(out: Result<TransformOutput, PluginError>) -> Vec<u8> {
    match out {
        Ok(TransformOutput::Send { body, .. }) => body.to_vec(),
        other => panic!("redact did not send: {other:?}"),
    }
}

/// [`wasm`] as the engine runs it: `transform_async` on a Tokio task.
fn wasm_async(
    rt: &tokio::runtime::Runtime,
    runtime: &PluginRuntime,
    plugin: &LoadedPlugin,
    payload: &[u8],
) -> Vec<u8> {
    let input = input(payload, CONFIG);
    sent(rt.block_on(runtime.transform_async(plugin, input, runtime.default_limits())))
}

/// The inline JavaScript plugin with [`JS_REDACT`], checked against [`native`].
fn setup_js(runtime: &PluginRuntime) -> std::sync::Arc<LoadedPlugin> {
    let plugin = runtime
        .load(std::path::Path::new(hookline_plugin::builtin::JAVASCRIPT))
        .expect("builtin:javascript loads");
    let a: Value = serde_json::from_slice(&native(PAYLOAD.as_bytes())).expect("JSON");
    let b: Value = serde_json::from_slice(&wasm_with(
        runtime,
        &plugin,
        PAYLOAD.as_bytes(),
        &js_config(),
    ))
    .expect("JSON");
    assert_eq!(a, b, "native and the inline script disagree");
    plugin
}

fn setup() -> (PluginRuntime, std::sync::Arc<LoadedPlugin>) {
    let runtime = PluginRuntime::new(PluginRuntimeConfig {
        max_concurrent_calls: 4,
        ..PluginRuntimeConfig::default()
    })
    .expect("runtime");
    let plugin = runtime.load(&plugin("redact")).expect("redact loads");
    // Both sides must produce the same document.
    let a: Value = serde_json::from_slice(&native(PAYLOAD.as_bytes())).expect("JSON");
    let b: Value =
        serde_json::from_slice(&wasm(&runtime, &plugin, PAYLOAD.as_bytes())).expect("JSON");
    assert_eq!(a, b, "native and wasm disagree");
    (runtime, plugin)
}

fn bench(c: &mut Criterion) {
    let (runtime, plugin) = setup();
    let payload = PAYLOAD.as_bytes();
    let mut group = c.benchmark_group("redact_1kb");
    group.throughput(criterion::Throughput::Bytes(payload.len() as u64));
    group.bench_function("native", |b| b.iter(|| native(black_box(payload))));
    group.bench_function("wasm_fresh_instance", |b| {
        b.iter(|| wasm(&runtime, &plugin, black_box(payload)))
    });
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a Tokio runtime");
    group.bench_function("wasm_fresh_instance_async", |b| {
        b.iter(|| wasm_async(&rt, &runtime, &plugin, black_box(payload)))
    });
    // The floor: the same call with nothing to redact (the plugin copies the body).
    group.bench_function("wasm_fresh_instance_no_paths", |b| {
        b.iter(|| wasm_with(&runtime, &plugin, black_box(payload), "{}"))
    });
    let js = setup_js(&runtime);
    let js_config = js_config();
    group.bench_function("javascript_inline_fresh_instance", |b| {
        b.iter(|| wasm_with(&runtime, &js, black_box(payload), &js_config))
    });
    group.finish();
}

/// Medians of both, measured alternately in the same run, and their ratio.
fn summary() {
    let (runtime, plugin) = setup();
    let payload = PAYLOAD.as_bytes();
    const BATCH: u32 = 200;
    const ROUNDS: usize = 25;
    let time = |f: &dyn Fn() -> Vec<u8>| {
        let started = Instant::now();
        for _ in 0..BATCH {
            black_box(f());
        }
        started.elapsed() / BATCH
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a Tokio runtime");
    let (mut n, mut w, mut a, mut f): (Vec<Duration>, Vec<Duration>, Vec<Duration>, Vec<Duration>) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        n.push(time(&|| native(black_box(payload))));
        w.push(time(&|| wasm(&runtime, &plugin, black_box(payload))));
        a.push(time(&|| {
            wasm_async(&rt, &runtime, &plugin, black_box(payload))
        }));
        f.push(time(&|| {
            wasm_with(&runtime, &plugin, black_box(payload), "{}")
        }));
    }
    let js = setup_js(&runtime);
    let js_config = js_config();
    let mut j: Vec<Duration> = (0..5)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..10 {
                black_box(wasm_with(&runtime, &js, black_box(payload), &js_config));
            }
            started.elapsed() / 10
        })
        .collect();
    j.sort();
    n.sort();
    w.sort();
    a.sort();
    f.sort();
    let (native, wasm, wasm_async, floor) =
        (n[ROUNDS / 2], w[ROUNDS / 2], a[ROUNDS / 2], f[ROUNDS / 2]);
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "summary: redact on a {} byte event: native {:.2} µs, wasm (fresh instance) {:.2} µs, \
         ratio {:.2}x (async, as the engine calls it: {:.2} µs, {:.2}x); of which the per-call \
         floor (same call, nothing to redact) {:.2} µs",
        payload.len(),
        us(native),
        us(wasm),
        wasm.as_secs_f64() / native.as_secs_f64(),
        us(wasm_async),
        wasm_async.as_secs_f64() / native.as_secs_f64(),
        us(floor)
    );
    println!(
        "summary: the same edit as an inline script (builtin:javascript, a fresh QuickJS per \
         call): {:.0} µs, {:.0}x native",
        us(j[j.len() / 2]),
        j[j.len() / 2].as_secs_f64() / native.as_secs_f64()
    );
}

criterion_group!(benches, bench);

fn main() {
    benches();
    Criterion::default().configure_from_args().final_summary();
    // `cargo test --benches` runs this binary in test mode: skip the summary there.
    if !std::env::args().any(|a| a == "--test" || a == "--list") {
        summary();
    }
}

//! `hookline bench` smoke run: every scenario with tiny N. It checks the ledger, never speed.

use hookline_e2e::run_hookline_async;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_smoke_run_balances_every_ledger() {
    let args = [
        "bench",
        "--scenario",
        "plain",
        "--scenario",
        "fanout",
        "--scenario",
        "flaky",
        "--scenario",
        "backlog",
        "--scenario",
        "isolation",
        "--events",
        "150",
        "--webhooks",
        "5",
        "--concurrency",
        "4",
        "--batch",
        "20",
        "--output",
        "json",
    ];
    let (code, stdout, stderr) =
        run_hookline_async(args.iter().map(|s| s.to_string()).collect()).await;
    assert_eq!(code, Some(0), "bench failed:\n{stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("bench --output json printed invalid JSON ({e}):\n{stdout}"));
    assert!(report["baseline_per_sec"].as_f64().unwrap_or(0.0) > 0.0);
    let scenarios = report["scenarios"].as_array().expect("scenarios");
    let names: Vec<&str> = scenarios
        .iter()
        .map(|s| s["scenario"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(names, ["plain", "fanout", "flaky", "backlog", "isolation"]);
    // A baseline round before the first scenario and after each, every one with its CPU.
    let rounds = report["baseline_rounds"]
        .as_array()
        .expect("baseline_rounds");
    assert_eq!(rounds.len(), scenarios.len() + 1, "{rounds:?}");
    for r in rounds {
        assert!(r["requests_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
        assert!(r["cpu_us_per_request"].as_f64().unwrap_or(0.0) > 0.0, "{r}");
        let share = r["other_cpu_share"].as_f64().expect("other_cpu_share");
        assert!((0.0..=1.0).contains(&share), "{r}");
    }
    for s in scenarios.iter().filter(|s| s["scenario"] != "isolation") {
        // Every process of the run spent CPU on the deliveries, the daemon among them.
        assert!(
            s["run_cpu_us_per_delivery"].as_f64().unwrap_or(0.0) > 0.0,
            "{s}"
        );
        assert!(
            s["cpu_ratio_to_baseline"].as_f64().unwrap_or(0.0) > 0.0,
            "{s}"
        );
        assert!(s["baseline_per_sec"].as_f64().unwrap_or(0.0) > 0.0, "{s}");
        let share = s["other_cpu_share"].as_f64().expect("other_cpu_share");
        assert_eq!(
            s["noisy"],
            share > report["noise_threshold"].as_f64().unwrap(),
            "{s}"
        );
    }
    for s in scenarios {
        let ledger = &s["ledger"];
        assert_eq!(
            ledger["balanced"], true,
            "ledger of {}: {ledger}",
            s["scenario"]
        );
        let published = ledger["published"].as_u64().unwrap();
        let accounted = ["delivered", "failed", "skipped", "pending"]
            .iter()
            .map(|k| ledger[*k].as_u64().unwrap())
            .sum::<u64>();
        assert_eq!(published, accounted);
        assert_eq!(
            ledger["received_complete"].as_u64().unwrap(),
            s["events"].as_u64().unwrap(),
            "every event reached the receiver in {}",
            s["scenario"]
        );
    }
}

/// The plugin scenario with another plugin than `redact` (its own `--plugin-config`): the
/// report carries the plugin's figures from the daemon.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_plugin_scenario_reports_the_plugins_figures() {
    let cloudevents = hookline_test_support::plugins::plugin("cloudevents");
    let args = vec![
        "bench".to_owned(),
        "--scenario".to_owned(),
        "plugin".to_owned(),
        "--plugin".to_owned(),
        cloudevents.display().to_string(),
        "--plugin-config".to_owned(),
        r#"{"source": "https://bench.example"}"#.to_owned(),
        "--events".to_owned(),
        "100".to_owned(),
        "--concurrency".to_owned(),
        "4".to_owned(),
        "--output".to_owned(),
        "json".to_owned(),
    ];
    let (code, stdout, stderr) = run_hookline_async(args).await;
    assert_eq!(code, Some(0), "bench failed:\n{stderr}\n{stdout}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("JSON report");
    let s = &report["scenarios"][0];
    assert_eq!(s["scenario"], "plugin");
    assert_eq!(s["ledger"]["balanced"], true, "{s}");
    let f = &s["plugin"];
    assert_eq!(
        f["plugin"].as_str(),
        Some(
            &*std::path::absolute(&cloudevents)
                .unwrap()
                .display()
                .to_string()
        ),
        "{f}"
    );
    // Every delivery went through the plugin at least once (the plain scenario's events
    // are published in three phases).
    let events = s["events"].as_u64().unwrap();
    assert!(f["calls"].as_u64().unwrap() >= events, "{f}");
    assert_eq!(f["sent"], f["calls"], "{f}");
    assert!(f["call_p99_us"].as_u64().is_some_and(|us| us > 0), "{f}");
}

/// A `--plugin-config` that is not JSON is refused before anything runs, naming the flag.
#[test]
fn bench_refuses_a_plugin_config_that_is_not_json() {
    let out = hookline_e2e::run_hookline(
        &[
            "bench",
            "--scenario",
            "plugin",
            "--plugin",
            "x.wasm",
            "--plugin-config",
            "{source:",
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr.contains("--plugin-config is not JSON"), "{stderr}");
}

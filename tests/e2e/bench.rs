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

//! The front door: how `hookline` and `hookline-console` find the daemon, which exit code
//! each kind of failure gets (0 done, 1 failed while running, 2 usage or configuration), and
//! the daemon's text logs staying free of ANSI escapes when they go to a file.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use hookline_e2e::bin_path;
use hookline_e2e::daemon::{clean_env, serve_expecting_failure};
use hookline_test_support::TempDir;
use hookline_test_support::wait::{DEFAULT_DEADLINE, eventually};

const USAGE: Option<i32> = Some(2);
const RUNTIME: Option<i32> = Some(1);

/// Runs `binary` with `args` and extra `env` in `dir`, without a terminal.
fn run(binary: &str, args: &[&str], env: &[(&str, &str)], dir: &Path) -> Output {
    let mut cmd = Command::new(bin_path(binary));
    cmd.args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    clean_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output()
        .unwrap_or_else(|e| panic!("run {binary} {args:?}: {e}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local address").port()
}

#[test]
fn usage_and_config_errors_exit_2_runtime_failures_exit_1() {
    let dir = TempDir::new("e2e-front-door");
    let here = dir.path();
    let missing = here.join("no-such-token");
    let missing_arg = missing.to_str().expect("a UTF-8 path");
    let nobody = format!("http://127.0.0.1:{}", closed_port());

    struct Case<'a> {
        what: &'a str,
        binary: &'a str,
        args: Vec<&'a str>,
        env: Vec<(&'a str, &'a str)>,
        code: Option<i32>,
        says: &'a str,
    }
    let case = |what, binary, args: &[&'static str], code, says| Case {
        what,
        binary,
        args: args.to_vec(),
        env: vec![],
        code,
        says,
    };
    let cases = vec![
        case(
            "an unknown flag",
            "hookline",
            &["webhooks", "list", "--bogus"],
            USAGE,
            "--bogus",
        ),
        case(
            "the daemon's address without a scheme",
            "hookline",
            &["deliveries", "list", "--daemon", "localhost:8420"],
            USAGE,
            "--daemon `localhost:8420`: no scheme",
        ),
        Case {
            env: vec![("HOOKLINE_URL", "ftp://example.com")],
            ..case(
                "HOOKLINE_URL not http",
                "hookline",
                &["webhooks", "list"],
                USAGE,
                "HOOKLINE_URL `ftp://example.com`: not an http or https URL",
            )
        },
        Case {
            args: vec!["emit", "task.created", "--token-file", missing_arg],
            ..case(
                "a missing token file",
                "hookline",
                &[],
                USAGE,
                "--token-file",
            )
        },
        case(
            "both --token and --token-file",
            "hookline",
            &["webhooks", "list", "--token", "t", "--token-file", "f"],
            USAGE,
            "--token and --token-file both given",
        ),
        case(
            "an empty update",
            "hookline",
            &["webhooks", "update", "billing"],
            USAGE,
            "nothing to update",
        ),
        Case {
            args: vec!["webhooks", "list", "--daemon", &nobody, "--token", "t"],
            ..case(
                "an unreachable daemon",
                "hookline",
                &[],
                RUNTIME,
                "unreachable",
            )
        },
        Case {
            args: vec![
                "webhooks",
                "add",
                "--url",
                "https://example.com/hook",
                "--events",
                "*",
                "--daemon",
                &nobody,
            ],
            // `--url` is the webhook's, `--daemon` the API's, in any order.
            ..case(
                "add to an unreachable daemon",
                "hookline",
                &[],
                RUNTIME,
                "is unreachable",
            )
        },
        case(
            "a missing config file",
            "hookline",
            &["serve", "--config", "no-such-config.toml"],
            USAGE,
            "no-such-config.toml",
        ),
        case(
            "the console: an unknown flag",
            "hookline-console",
            &["--bogus"],
            USAGE,
            "--bogus",
        ),
        case(
            "the console: the daemon's address without a scheme",
            "hookline-console",
            &["--daemon", "localhost:8420"],
            USAGE,
            "--daemon `localhost:8420`: no scheme",
        ),
        Case {
            env: vec![("HOOKLINE_URL", "ftp://example.com")],
            ..case(
                "the console: HOOKLINE_URL not http",
                "hookline-console",
                &[],
                USAGE,
                "HOOKLINE_URL `ftp://example.com`: not an http or https URL",
            )
        },
        Case {
            args: vec!["--token-file", missing_arg],
            ..case(
                "the console: a missing token file",
                "hookline-console",
                &[],
                USAGE,
                "--token-file",
            )
        },
    ];
    for c in cases {
        let output = run(c.binary, &c.args, &c.env, here);
        let err = stderr(&output);
        assert_eq!(
            output.status.code(),
            c.code,
            "{}: {} {:?}\n{err}",
            c.what,
            c.binary,
            c.args
        );
        assert!(
            err.contains(c.says),
            "{}: should say `{}`:\n{err}",
            c.what,
            c.says
        );
    }
}

#[test]
fn the_cli_and_the_console_say_the_same_about_the_same_endpoint() {
    let dir = TempDir::new("e2e-front-door-same");
    let here = dir.path();
    std::fs::write(here.join("empty-token"), "\n").expect("write the token file");
    // The default token file, empty: both binaries refuse it alike.
    std::fs::create_dir_all(here.join("hookline-data")).expect("create the data dir");
    std::fs::write(here.join("hookline-data/api-token"), "").expect("write the token file");
    for (args, env) in [
        (vec!["--token-file", "empty-token"], vec![]),
        (vec!["--daemon", "http://"], vec![]),
        (vec![], vec![("HOOKLINE_URL", "127.0.0.1:8420")]),
        (vec![], vec![]),
    ] {
        let cli_args: Vec<&str> = ["deliveries", "list"]
            .into_iter()
            .chain(args.clone())
            .collect();
        let cli = run("hookline", &cli_args, &env, here);
        let console = run("hookline-console", &args, &env, here);
        let (cli_err, console_err) = (stderr(&cli), stderr(&console));
        assert_eq!(cli.status.code(), USAGE, "{args:?} {env:?}: {cli_err}");
        assert_eq!(
            console.status.code(),
            USAGE,
            "{args:?} {env:?}: {console_err}"
        );
        let message = cli_err
            .strip_prefix("error: ")
            .unwrap_or_else(|| panic!("hookline's error: {cli_err}"));
        assert_eq!(
            console_err.strip_prefix("hookline-console: "),
            Some(message),
            "{args:?} {env:?}"
        );
    }
}

#[test]
fn bad_config_exits_2_and_a_busy_port_exits_1() {
    let bad = serve_expecting_failure("[delivery]\nwrokers = 4\n", &[]);
    assert_eq!(bad.status.code(), USAGE, "{}", stderr(&bad));
    assert!(stderr(&bad).contains("wrokers"), "{}", stderr(&bad));

    let bad_env = serve_expecting_failure("", &[("HOOKLINE_DELIVERY_WORKERS", "many")]);
    assert_eq!(bad_env.status.code(), USAGE, "{}", stderr(&bad_env));

    let busy = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let addr = busy.local_addr().expect("local address").to_string();
    let output = serve_expecting_failure("", &[("HOOKLINE_SERVER_LISTEN", &addr)]);
    assert_eq!(output.status.code(), RUNTIME, "{}", stderr(&output));
    drop(busy);
}

/// Regression: `hookline serve 2>daemon.log` filled the file with colour escapes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_to_a_file_without_ansi_escapes() {
    let dir = TempDir::new("e2e-front-door-logs");
    let stdout_path = dir.path().join("serve.stdout");
    let stderr_path = dir.path().join("serve.stderr");
    let mut cmd = Command::new(bin_path("hookline"));
    cmd.arg("serve")
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    clean_env(&mut cmd);
    // No NO_COLOR: the file alone must be enough to turn colours off.
    cmd.env_remove("NO_COLOR")
        .env("HOOKLINE_SERVER_LISTEN", "127.0.0.1:0")
        .env("HOOKLINE_LOG_LEVEL", "debug");
    let mut child = cmd.spawn().expect("spawn hookline serve");
    let seen = eventually(
        "hookline serve to start and log",
        DEFAULT_DEADLINE,
        async || {
            if let Ok(Some(status)) = child.try_wait() {
                return Ok(Err(format!(
                    "exited {status}: {}",
                    std::fs::read_to_string(&stderr_path).unwrap_or_default()
                )));
            }
            let out = std::fs::read_to_string(&stdout_path).unwrap_or_default();
            let log = std::fs::read_to_string(&stderr_path).unwrap_or_default();
            match out.contains("listening on") && log.lines().count() >= 2 {
                true => Ok(Ok(log)),
                false => Err(format!("stdout:\n{out}\nstderr:\n{log}")),
            }
        },
    )
    .await;
    let _ = child.kill();
    let _ = child.wait();
    let log = seen.unwrap_or_else(|e| panic!("{e}"));
    assert!(
        !log.contains("\x1b["),
        "the log file has ANSI escapes:\n{}",
        log.escape_debug()
    );
    assert!(log.contains("INFO") || log.contains("DEBUG"), "{log}");
}

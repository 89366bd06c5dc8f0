//! A real `hookline serve` process, owned by one test: its own directory, config, port and
//! store. Killed when dropped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::Value;

use hookline_test_support::TempDir;
use hookline_test_support::wait::{DEFAULT_DEADLINE, POLL_INTERVAL, eventually};

/// The API token every test daemon uses.
pub const TOKEN: &str = "test-token-0123456789";

/// The contents of a test daemon's config file, built key by key. Values are TOML text
/// (`"5"`, `"[1, 1]"`, `"\"info\""`).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    sections: BTreeMap<String, BTreeMap<String, String>>,
    webhooks: Vec<String>,
    start_deadline: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig::new()
    }
}

impl DaemonConfig {
    /// The defaults of every test daemon: the test token, loopback allowed, a short retry
    /// schedule without jitter, short timeouts.
    pub fn new() -> DaemonConfig {
        DaemonConfig {
            sections: BTreeMap::new(),
            webhooks: Vec::new(),
            start_deadline: DEFAULT_DEADLINE,
        }
        .set("server", "token", &format!("\"{TOKEN}\""))
        .set(
            "security",
            "allowed_networks",
            r#"["127.0.0.0/8", "::1/128"]"#,
        )
        .set("delivery", "workers", "8")
        .set("delivery", "timeout_seconds", "5")
        .set("delivery", "max_attempts", "3")
        .set("delivery", "retry_schedule_seconds", "[1, 1]")
        .set("delivery", "retry_jitter", "0.0")
        .set("log", "level", "\"info\"")
    }

    /// Sets `[section] key = value` (`value` is TOML text).
    pub fn set(mut self, section: &str, key: &str, value: &str) -> DaemonConfig {
        self.sections
            .entry(section.to_owned())
            .or_default()
            .insert(key.to_owned(), value.to_owned());
        self
    }

    /// Leaves `[section]` at the daemon's defaults (drops the test defaults set there).
    pub fn section_defaults(mut self, section: &str) -> DaemonConfig {
        self.sections.remove(section);
        self
    }

    /// No SSRF allow-list: loopback and private addresses are refused, as in production.
    pub fn without_allowed_networks(self) -> DaemonConfig {
        self.set("security", "allowed_networks", "[]")
    }

    /// How long the daemon may take to start listening (default [`DEFAULT_DEADLINE`]): more
    /// for one that compiles large plugins at start (it checks their configs before serving).
    pub fn start_within(mut self, deadline: Duration) -> DaemonConfig {
        self.start_deadline = deadline;
        self
    }

    /// Adds a `[[webhooks]]` entry; `body` is its keys, one per line.
    pub fn webhook(mut self, body: &str) -> DaemonConfig {
        self.webhooks.push(body.to_owned());
        self
    }

    /// The file's text, with the directory and listen address filled in.
    pub fn render(&self, dir: &Path, listen: &str) -> String {
        let mut sections = self.sections.clone();
        let server = sections.entry("server".to_owned()).or_default();
        server.insert("listen".to_owned(), format!("\"{listen}\""));
        server.insert("data_dir".to_owned(), toml_path(&dir.join("data")));
        sections
            .entry("store".to_owned())
            .or_default()
            .insert("path".to_owned(), toml_path(&dir.join("hookline.db")));
        let mut out = String::new();
        for (section, keys) in &sections {
            let _ = writeln!(out, "[{section}]");
            for (key, value) in keys {
                let _ = writeln!(out, "{key} = {value}");
            }
            out.push('\n');
        }
        for webhook in &self.webhooks {
            let _ = writeln!(out, "[[webhooks]]\n{}\n", webhook.trim());
        }
        out
    }
}

fn toml_path(path: &Path) -> String {
    Value::String(path.display().to_string()).to_string()
}

/// An answer of the daemon's API.
#[derive(Debug, Clone)]
pub struct ApiResponse {
    /// The HTTP status.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as text.
    pub text: String,
    /// The body as JSON (`Null` when it is not JSON).
    pub json: Value,
}

impl ApiResponse {
    /// Fails the test unless the status is `status`; returns the JSON body.
    pub fn expect(self, status: u16, what: &str) -> Value {
        assert_eq!(
            self.status, status,
            "{what}: expected HTTP {status}, got {}: {}",
            self.status, self.text
        );
        self.json
    }

    /// `error.code` of an error answer.
    pub fn error_code(&self) -> &str {
        self.json
            .pointer("/error/code")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `error.field` of an error answer.
    pub fn error_field(&self) -> &str {
        self.json
            .pointer("/error/field")
            .and_then(Value::as_str)
            .unwrap_or("")
    }

    /// `error.message` of an error answer.
    pub fn error_message(&self) -> &str {
        self.json
            .pointer("/error/message")
            .and_then(Value::as_str)
            .unwrap_or("")
    }
}

/// A running `hookline serve`. Dropping it kills the process (and keeps its directory and
/// prints its log when the test failed).
#[derive(Debug)]
pub struct Daemon {
    dir: TempDir,
    config: DaemonConfig,
    config_path: PathBuf,
    child: Option<Child>,
    port: u16,
    starts: u32,
    http: reqwest::Client,
}

impl Daemon {
    /// Writes `config` into a fresh directory, starts `hookline serve --config` on a free
    /// port and waits until `/healthz` answers.
    pub async fn start(config: DaemonConfig) -> Daemon {
        let dir = TempDir::new("e2e-daemon");
        let config_path = dir.path().join("hookline.toml");
        let mut daemon = Daemon {
            dir,
            config,
            config_path,
            child: None,
            port: 0,
            starts: 0,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
        };
        daemon.launch().await;
        daemon
    }

    /// Starts the process: on the first start on port 0 (the port it reports is kept), then
    /// on that same port, waiting for it to be free again.
    async fn launch(&mut self) {
        let started = Instant::now();
        loop {
            let listen = format!("127.0.0.1:{}", self.port);
            std::fs::write(
                &self.config_path,
                self.config.render(self.dir.path(), &listen),
            )
            .expect("write the config file");
            self.starts += 1;
            let n = self.starts;
            let stdout = std::fs::File::create(self.log_path(n, "stdout")).expect("stdout file");
            let stderr = std::fs::File::create(self.log_path(n, "stderr")).expect("stderr file");
            let mut cmd = crate::hookline();
            cmd.arg("serve")
                .arg("--config")
                .arg(&self.config_path)
                .current_dir(self.dir.path())
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr);
            clean_env(&mut cmd);
            self.child = Some(cmd.spawn().expect("spawn hookline serve"));
            match self.wait_listening(n).await {
                Ok(port) => {
                    self.port = port;
                    break;
                }
                Err(stderr) if stderr.contains("cannot listen") && self.port != 0 => {
                    // The previous process's port is not free yet.
                    assert!(
                        started.elapsed() < DEFAULT_DEADLINE,
                        "port {} stayed busy: {stderr}",
                        self.port
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(stderr) => panic!("hookline serve exited at start:\n{stderr}"),
            }
        }
        self.wait_healthy().await;
    }

    /// Waits until the process `n` prints its address; `Err(stderr)` if it exits first.
    async fn wait_listening(&mut self, n: u32) -> Result<u16, String> {
        let stdout_path = self.log_path(n, "stdout");
        let stderr_path = self.log_path(n, "stderr");
        let deadline = self.config.start_deadline;
        let child = self.child.as_mut().expect("a child process");
        eventually(
            "hookline serve to report its address",
            deadline,
            async || {
                let text = std::fs::read_to_string(&stdout_path).unwrap_or_default();
                let stderr = || std::fs::read_to_string(&stderr_path).unwrap_or_default();
                if let Some(port) = text
                    .lines()
                    .find_map(|l| l.strip_prefix("hookline: listening on http://"))
                    .and_then(|addr| addr.trim().rsplit(':').next())
                    .and_then(|p| p.parse::<u16>().ok())
                {
                    return Ok(Ok(port));
                }
                if let Some(status) = child.try_wait().expect("poll the daemon") {
                    return Ok(Err(format!("exit {status}; stderr:\n{}", stderr())));
                }
                Err(format!("stdout:\n{text}\nstderr:\n{}", stderr()))
            },
        )
        .await
    }

    async fn wait_healthy(&mut self) {
        let url = format!("{}/healthz", self.url());
        let http = self.http.clone();
        let stderr = self.log_path(self.starts, "stderr");
        eventually("the daemon's /healthz", DEFAULT_DEADLINE, || {
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            let (http, url, stderr) = (http.clone(), url.clone(), stderr.clone());
            async move {
                if let Some(status) = exited {
                    panic!(
                        "hookline serve exited ({status}) before it was healthy; stderr:\n{}",
                        std::fs::read_to_string(&stderr).unwrap_or_default()
                    );
                }
                match http.get(&url).send().await {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("HTTP {}", r.status())),
                    Err(e) => Err(e.to_string()),
                }
            }
        })
        .await;
    }

    fn log_path(&self, n: u32, stream: &str) -> PathBuf {
        self.dir.path().join(format!("daemon-{n}.{stream}"))
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The API token.
    pub fn token(&self) -> &str {
        TOKEN
    }

    /// The test's directory (config, store, logs).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the daemon is running").id()
    }

    /// Everything the daemon wrote to stderr (its logs), over every start.
    pub fn log(&self) -> String {
        let mut out = String::new();
        for n in 1..=self.starts {
            let text = std::fs::read_to_string(self.log_path(n, "stderr")).unwrap_or_default();
            let _ = writeln!(out, "--- start {n} ---\n{text}");
        }
        out
    }

    /// `kill -9`: no chance to clean up.
    pub fn kill9(&mut self) {
        let mut child = self.child.take().expect("the daemon is running");
        child.kill().expect("SIGKILL the daemon");
        child.wait().expect("reap the daemon");
    }

    /// Sends SIGTERM (without waiting).
    pub fn send_sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits for the process to exit (at most `deadline`) and returns its status.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        let status = {
            let child = self.child.as_mut().expect("the daemon is running");
            eventually("the daemon to exit", deadline, || {
                let polled = child.try_wait();
                async move {
                    match polled {
                        Ok(Some(status)) => Ok(status),
                        Ok(None) => Err("still running".to_owned()),
                        Err(e) => Err(e.to_string()),
                    }
                }
            })
            .await
        };
        self.child = None;
        status
    }

    /// SIGTERM, then waits (at most 20 s) for the process to exit.
    pub async fn terminate(&mut self) -> ExitStatus {
        self.send_sigterm();
        self.wait_exit(Duration::from_secs(20)).await
    }

    /// Replaces the config the next [`restart`](Self::restart) writes.
    pub fn set_config(&mut self, config: DaemonConfig) {
        self.config = config;
    }

    /// What start `n` (1-based) printed on stdout.
    pub fn stdout(&self, n: u32) -> String {
        std::fs::read_to_string(self.log_path(n, "stdout")).unwrap_or_default()
    }

    /// Starts the daemon again, same directory, config and port; kills it first if running.
    pub async fn restart(&mut self) {
        if self.child.is_some() {
            self.kill9();
        }
        self.launch().await;
    }

    /// One API request. `token: None` sends no `Authorization`; `body` is sent as is with
    /// `Content-Type: application/json`.
    pub async fn request_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> ApiResponse {
        self.send_with(&self.http, method, path, token, body).await
    }

    /// [`Daemon::request_raw`] on a connection of its own, never reused afterwards.
    pub async fn request_raw_alone(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> ApiResponse {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client");
        self.send_with(&http, method, path, token, body).await
    }

    async fn send_with(
        &self,
        http: &reqwest::Client,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> ApiResponse {
        let mut req = http.request(method, format!("{}{path}", self.url()));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req
            .send()
            .await
            .unwrap_or_else(|e| panic!("{path}: the daemon did not answer: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        ApiResponse {
            status,
            headers,
            text,
            json,
        }
    }

    /// `POST path` with a JSON body and the token.
    pub async fn post_json(&self, path: &str, body: &Value) -> ApiResponse {
        self.request_raw(
            Method::POST,
            path,
            Some(TOKEN),
            Some(serde_json::to_vec(body).expect("serialise")),
        )
        .await
    }

    /// `GET path` with the token.
    pub async fn get_json(&self, path: &str) -> ApiResponse {
        self.request_raw(Method::GET, path, Some(TOKEN), None).await
    }

    /// Creates a webhook through the API (201) and returns `{webhook, secret}`.
    pub async fn create_webhook(&self, spec: Value) -> Value {
        self.post_json("/v1/webhooks", &spec)
            .await
            .expect(201, "create webhook")
    }

    /// Ingests one event (202) and returns `{event_id, deliveries}`.
    pub async fn emit(&self, event: Value) -> Value {
        self.post_json("/v1/events", &event)
            .await
            .expect(202, "ingest an event")
    }

    /// Every delivery matching `query` (`webhook=x&status=y`), following cursors.
    pub async fn deliveries(&self, query: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = format!("limit=1000&{query}");
            if let Some(c) = &cursor {
                q.push_str("&cursor=");
                q.push_str(c);
            }
            let page = self
                .get_json(&format!("/v1/deliveries?{q}"))
                .await
                .expect(200, "list deliveries");
            out.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => return out,
            }
        }
    }

    /// One delivery with its attempts.
    pub async fn delivery(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/deliveries/{id}"))
            .await
            .expect(200, "show a delivery")
    }

    /// One webhook.
    pub async fn webhook(&self, id: &str) -> Value {
        self.get_json(&format!("/v1/webhooks/{id}"))
            .await
            .expect(200, "show a webhook")
    }

    /// Waits until webhook `webhook` has exactly `n` deliveries, all in a terminal status,
    /// and returns them with their details (attempts included), oldest first.
    pub async fn wait_settled(&self, webhook: &str, n: usize) -> Vec<Value> {
        let summaries = eventually(
            &format!("{n} settled deliveries of webhook `{webhook}`"),
            DEFAULT_DEADLINE,
            || async {
                let items = self.deliveries(&format!("webhook={webhook}")).await;
                let settled = items
                    .iter()
                    .filter(|d| !matches!(d["status"].as_str(), Some("pending" | "in_flight")))
                    .count();
                match items.len() == n && settled == n {
                    true => Ok(items),
                    false => Err(format!(
                        "{} deliveries, {settled} settled: {items:?}",
                        items.len()
                    )),
                }
            },
        )
        .await;
        let mut details = Vec::new();
        for summary in summaries.iter().rev() {
            details.push(
                self.delivery(summary["id"].as_str().expect("delivery id"))
                    .await,
            );
        }
        details
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if std::thread::panicking() {
            let log = self.log();
            let tail: String = {
                let lines: Vec<&str> = log.lines().collect();
                lines[lines.len().saturating_sub(80)..].join("\n")
            };
            eprintln!("--- daemon log (last 80 lines) ---\n{tail}");
        }
    }
}

/// Removes inherited `HOOKLINE_*` variables so the developer's environment cannot change a
/// test daemon's configuration, and asks for logs without colours.
pub fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("HOOKLINE_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("NO_COLOR", "1");
}

/// Runs `hookline serve --config <file with text>` expecting it to refuse to start: returns
/// its output once it exits (failing the test if it is still running after 15 s).
pub fn serve_expecting_failure(config_text: &str, env: &[(&str, &str)]) -> Output {
    let dir = TempDir::new("e2e-badconfig");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, config_text).expect("write the config file");
    let mut cmd = crate::hookline();
    cmd.arg("serve")
        .arg("--config")
        .arg(&path)
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    clean_env(&mut cmd);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn hookline serve");
    let start = Instant::now();
    while child.try_wait().expect("poll hookline serve").is_none() {
        if start.elapsed() > DEFAULT_DEADLINE {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect the output");
            panic!(
                "hookline serve accepted a bad config and kept running; stderr:\n{}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(POLL_INTERVAL);
    }
    child.wait_with_output().expect("collect the output")
}

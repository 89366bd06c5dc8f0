//! Receivers written in Python with third-party libraries (`tests/receivers/`), run as child
//! processes.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hookline_test_support::TempDir;
use hookline_test_support::wait::{DEFAULT_DEADLINE, POLL_INTERVAL};

/// The Python interpreter: `HOOKLINE_E2E_PYTHON`, else `python3`.
pub fn python() -> String {
    std::env::var("HOOKLINE_E2E_PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

/// `tests/receivers/<name>`.
pub fn receiver_script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("receivers")
        .join(name)
}

/// `standard_webhooks_receiver.py`: verifies every request with the official Standard
/// Webhooks Python library (`standardwebhooks`), answering 204 when valid and 400 when not.
#[derive(Debug)]
pub struct StandardWebhooksReceiver {
    child: Child,
    port: u16,
    dir: TempDir,
    lines: Arc<Mutex<Vec<String>>>,
}

impl StandardWebhooksReceiver {
    /// Starts the receiver and waits until it listens.
    pub fn start() -> StandardWebhooksReceiver {
        let dir = TempDir::new("e2e-pyreceiver");
        let secrets = dir.path().join("secrets.json");
        std::fs::write(&secrets, "{}").expect("write the secrets file");
        let script = receiver_script("standard_webhooks_receiver.py");
        let mut child = Command::new(python())
            .arg(&script)
            .arg(&secrets)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} {}: {e} (install Python 3 and `pip install -r tests/receivers/requirements.txt`)",
                    python(),
                    script.display()
                )
            });
        let stdout = child.stdout.take().expect("piped stdout");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        let start = Instant::now();
        let port = loop {
            let first = lines
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .first()
                .cloned();
            if let Some(port) = first.as_deref().and_then(|l| l.strip_prefix("PORT ")) {
                break port.trim().parse::<u16>().expect("a port number");
            }
            let exited = child.try_wait().ok().flatten();
            if first.is_some() || exited.is_some() || start.elapsed() > DEFAULT_DEADLINE {
                let _ = child.kill();
                let status = child.wait().ok();
                panic!(
                    "the Python receiver did not start (first line {first:?}, exit {status:?}); \
                     is `standardwebhooks` installed? `pip install -r tests/receivers/requirements.txt`"
                );
            }
            std::thread::sleep(POLL_INTERVAL);
        };
        StandardWebhooksReceiver {
            child,
            port,
            dir,
            lines,
        }
    }

    /// `http://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sets the secret each path verifies with (read on every request).
    pub fn set_secrets(&self, secrets: &BTreeMap<String, String>) {
        let path = self.dir.path().join("secrets.json");
        let tmp = self.dir.path().join("secrets.json.tmp");
        std::fs::write(&tmp, serde_json::to_vec(secrets).expect("serialise"))
            .expect("write the secrets file");
        std::fs::rename(&tmp, &path).expect("replace the secrets file");
    }

    /// The verdict lines printed so far (`VALID /path`, `INVALID /path reason`).
    pub fn verdicts(&self) -> Vec<String> {
        let lines = self.lines.lock().unwrap_or_else(|e| e.into_inner());
        lines.iter().skip(1).cloned().collect()
    }
}

impl Drop for StandardWebhooksReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

//! A throwaway `redis-server` on a free port, killed on drop; it can be stopped and started
//! again on the same port to inject a Redis outage.

use crate::process::{ServiceProcess, exchange, free_port};
use std::process::Command;
use std::time::Duration;

const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RedisServer {
    port: u16,
    process: Option<ServiceProcess>,
    /// Extra flags, given again on a restart (persistence).
    extra: Vec<String>,
}

impl RedisServer {
    /// Starts `redis-server` on a free 127.0.0.1 port and waits until it answers PING.
    pub fn start() -> RedisServer {
        let port = free_port();
        RedisServer {
            port,
            process: Some(spawn(port, &[])),
            extra: Vec::new(),
        }
    }

    /// Like [`Self::start`], persisting as production should (docs/configuration.md): AOF
    /// with an fsync per write, in a fresh directory; a restart reloads it.
    pub fn start_persistent() -> RedisServer {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("redis-aof-{port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the AOF directory");
        let extra: Vec<String> = [
            "--appendonly",
            "yes",
            "--appendfsync",
            "always",
            "--dir",
            dir.to_str().expect("a UTF-8 temp dir"),
        ]
        .map(String::from)
        .into();
        let args: Vec<&str> = extra.iter().map(String::as_str).collect();
        RedisServer {
            port,
            process: Some(spawn(port, &args)),
            extra,
        }
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and waits for it to exit. The port stays reserved for
    /// [`Self::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill();
        }
    }

    /// Starts the server again on the same port (stopping the old one if running): empty,
    /// or with what it persisted when started with [`Self::start_persistent`].
    pub fn start_again(&mut self) {
        self.stop();
        let args: Vec<&str> = self.extra.iter().map(String::as_str).collect();
        self.process = Some(spawn(self.port, &args));
    }

    /// Runs `redis-cli -p PORT args...` and returns its stdout, trimmed.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .unwrap_or_else(|e| {
                panic!("redis-cli not runnable ({e}): run scripts/test, which installs it")
            });
        assert!(
            output.status.success(),
            "redis-cli -p {} {args:?} failed: {}{}",
            self.port,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

/// Starts `redis-server` on `port` with `extra` arguments and waits until it answers PING.
pub(crate) fn spawn(port: u16, extra: &[&str]) -> ServiceProcess {
    let mut cmd = Command::new("redis-server");
    cmd.args(["--port", &port.to_string()])
        .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
        .args(["--protected-mode", "no", "--loglevel", "warning"])
        .args(extra);
    let missing = "redis-server not found: run scripts/test, which installs it";
    let mut process = ServiceProcess::spawn("redis-server", port, cmd, missing);
    process.wait_ready(READY_TIMEOUT, answers_ping);
    process
}

/// True if a Redis on `port` answers an inline PING with +PONG.
fn answers_ping(port: u16) -> bool {
    exchange(port, b"PING\r\n", 5).as_deref() == Some(b"+PONG")
}

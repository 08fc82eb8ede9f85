//! A throwaway `redis-server` on a free port, killed on drop; it can be stopped and started
//! again on the same port to inject a Redis outage.

use crate::process::{ServiceProcess, exchange, free_port};
use std::process::Command;
use std::time::Duration;

const READY_TIMEOUT: Duration = Duration::from_secs(10);

pub struct RedisServer {
    port: u16,
    process: Option<ServiceProcess>,
}

impl RedisServer {
    /// Starts `redis-server` on a free 127.0.0.1 port and waits until it answers PING.
    pub fn start() -> RedisServer {
        let port = free_port();
        RedisServer {
            port,
            process: Some(spawn(port, &[])),
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

    /// Starts a fresh, empty server on the same port (stopping the old one if running).
    pub fn start_again(&mut self) {
        self.stop();
        self.process = Some(spawn(self.port, &[]));
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

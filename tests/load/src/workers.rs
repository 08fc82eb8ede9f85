//! Several load generator processes for one run. A process holds at most about 19,000
//! sockets here (20,000 open files), so `--workers K` starts K copies of this program against
//! the parent's cluster: each opens every K-th socket, reports to the parent as JSON lines on
//! its stdout, and stops when the parent writes a line to its stdin (or closes it).

use crate::harness::Harness;
use anyhow::{Context, bail};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::process::Stdio;
use std::str::FromStr;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// This process's share of the sockets: those whose index % `count` == `index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WorkerId {
    pub index: usize,
    pub count: usize,
}

impl FromStr for WorkerId {
    type Err = String;

    /// `I/K`
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (index, count) = s.split_once('/').ok_or("expected I/K")?;
        let id = WorkerId {
            index: index.parse().map_err(|_| "I is not a number")?,
            count: count.parse().map_err(|_| "K is not a number")?,
        };
        if id.index >= id.count {
            return Err("I must be below K".into());
        }
        Ok(id)
    }
}

impl WorkerId {
    /// True if socket `i` is this worker's.
    pub fn owns(&self, i: usize) -> bool {
        i % self.count == self.index
    }
}

struct Handle {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

pub struct Workers {
    handles: Vec<Handle>,
}

impl Workers {
    /// Starts `count` workers running `scenario` (its name and arguments) against `h`'s cluster.
    pub fn spawn(h: &Harness, count: usize, scenario: &[String]) -> anyhow::Result<Workers> {
        let exe = std::env::current_exe().context("this program's path")?;
        let cluster = &h.cluster;
        let gateways: Vec<String> = cluster
            .nodes
            .iter()
            .map(|n| format!("ws://{}/api/ws", n.addr))
            .collect();
        let handles = (0..count)
            .map(|index| {
                let mut child = Command::new(&exe)
                    .args(["--dispatcher", &cluster.dispatcher_url])
                    .args(["--gateways", &gateways.join(",")])
                    .args(["--redis", &format!("redis://{}", cluster.redis)])
                    .args(["--jwt-secret", &cluster.jwt_secret])
                    .args(["--service-token", &cluster.service_token])
                    .args(["--sources", &h.client.sources.to_string()])
                    .args([
                        "--connect-concurrency",
                        &h.client.connect_concurrency.to_string(),
                    ])
                    .args(["--run-id", &h.run_id])
                    .args(["--worker", &format!("{index}/{count}")])
                    .args(scenario)
                    .stdin(Stdio::piped())
                    .stdout(Stdio::piped())
                    .kill_on_drop(true)
                    .spawn()
                    .context("start a worker")?;
                let stdout = child.stdout.take().expect("piped");
                Ok(Handle {
                    stdin: child.stdin.take(),
                    lines: BufReader::new(stdout).lines(),
                    child,
                })
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Workers { handles })
    }

    /// The workers' process ids.
    pub fn pids(&self) -> Vec<u32> {
        self.handles.iter().filter_map(|h| h.child.id()).collect()
    }

    /// The next report of every worker, in worker order.
    pub async fn collect<T: DeserializeOwned>(&mut self) -> anyhow::Result<Vec<T>> {
        let mut reports = Vec::with_capacity(self.handles.len());
        for (i, handle) in self.handles.iter_mut().enumerate() {
            let Some(line) = handle.lines.next_line().await? else {
                bail!("worker {i} exited without reporting");
            };
            reports
                .push(serde_json::from_str(&line).with_context(|| format!("worker {i}: {line}"))?);
        }
        Ok(reports)
    }

    /// Tells every worker to stop, collects their last report and waits for them to exit.
    pub async fn stop<T: DeserializeOwned>(mut self) -> anyhow::Result<Vec<T>> {
        for handle in &mut self.handles {
            if let Some(mut stdin) = handle.stdin.take() {
                let _ = stdin.write_all(b"stop\n").await;
            }
        }
        let reports = self.collect().await?;
        for handle in &mut self.handles {
            handle.child.wait().await?;
        }
        Ok(reports)
    }
}

/// In a worker: one report to the parent.
pub fn tell_parent(report: &impl Serialize) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, report)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// In a worker: waits until the parent says stop.
pub async fn wait_for_parent() {
    let mut line = String::new();
    let _ = BufReader::new(tokio::io::stdin())
        .read_line(&mut line)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_ids_parse() {
        let id: WorkerId = "1/3".parse().unwrap();
        assert!(id.owns(4) && !id.owns(3));
        assert!("3/3".parse::<WorkerId>().is_err());
        assert!("x".parse::<WorkerId>().is_err());
    }
}

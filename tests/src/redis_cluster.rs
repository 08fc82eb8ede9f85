//! A throwaway 3-master Redis Cluster on free ports (no replicas), torn down on drop: the
//! scale-out path, where the broker uses sharded pub/sub.

use crate::process::{ServiceProcess, free_port};
use crate::redis::spawn;
use crate::wait::poll_blocking;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

pub struct RedisCluster {
    ports: Vec<u16>,
    _nodes: Vec<ServiceProcess>,
    dir: PathBuf,
}

impl RedisCluster {
    /// Starts three cluster-enabled servers, joins them with `redis-cli --cluster create`, and
    /// waits until every node reports `cluster_state:ok`.
    pub fn start() -> RedisCluster {
        let ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
        let dir =
            std::env::temp_dir().join(format!("redis-cluster-{}-{}", std::process::id(), ports[0]));
        std::fs::create_dir_all(&dir).expect("create the cluster's directory");
        let nodes = ports
            .iter()
            .map(|port| {
                let conf = dir.join(format!("nodes-{port}.conf"));
                let args = [
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    conf.to_str().unwrap(),
                ];
                spawn(
                    *port,
                    &[&args[..], &["--dir", dir.to_str().unwrap()]].concat(),
                )
            })
            .collect();
        let addresses: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
        let output = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli runs (scripts/test installs it)");
        assert!(
            output.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        let cluster = RedisCluster {
            ports,
            _nodes: nodes,
            dir,
        };
        let ok = poll_blocking(Duration::from_secs(20), || {
            cluster.ports.iter().all(|p| {
                cluster
                    .cli(*p, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            })
        });
        assert!(ok, "the cluster did not reach cluster_state:ok");
        cluster
    }

    /// `redis-cluster://127.0.0.1:P1?node=127.0.0.1:P2&node=127.0.0.1:P3`
    pub fn url(&self) -> String {
        let others: Vec<String> = self.ports[1..]
            .iter()
            .map(|p| format!("node=127.0.0.1:{p}"))
            .collect();
        format!(
            "redis-cluster://127.0.0.1:{}?{}",
            self.ports[0],
            others.join("&")
        )
    }

    pub fn ports(&self) -> &[u16] {
        &self.ports
    }

    /// Runs `redis-cli -c -p PORT args...` (following redirections) and returns its stdout.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-c", "-p", &port.to_string()])
            .args(args)
            .output()
            .expect("redis-cli runs");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        // The servers are killed by their ServiceProcess; their files go with the directory.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

//! A `redis-server` as operators run it in production: clients connect over TLS only, with a
//! server certificate from a private CA and a client certificate required; the default user is
//! off; the system logs in as the ACL user of `deploy/redis/chat-user.acl`, whose password it
//! reads from a file. A plain port, for the `admin` user only, lets tests look inside. One
//! server, or a 3-master Redis Cluster whose nodes also talk TLS among themselves.
//! Certificates come from the `openssl` command (scripts/test installs it when missing).

use crate::process::{ServiceProcess, exchange, free_port};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The key prefix the ACL user is confined to.
pub const KEY_PREFIX: &str = "chat:";
const USER: &str = "chat";
const PASSWORD: &str = "chat-password-from-a-secret";
const ADMIN_PASSWORD: &str = "admin-password";

pub struct SecureRedis {
    dir: PathBuf,
    /// Per server: its TLS port (clients) and its plain port (admin).
    ports: Vec<(u16, u16)>,
    cluster: bool,
    _processes: Vec<ServiceProcess>,
}

impl SecureRedis {
    /// One server.
    pub fn start() -> SecureRedis {
        Self::start_servers(1)
    }

    /// A 3-master Redis Cluster (no replicas), TLS between the nodes too.
    pub fn start_cluster() -> SecureRedis {
        let redis = Self::start_servers(3);
        let addresses: Vec<String> = redis
            .ports
            .iter()
            .map(|(_, admin)| format!("127.0.0.1:{admin}"))
            .collect();
        let mut args = vec!["--cluster", "create"];
        args.extend(addresses.iter().map(String::as_str));
        args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
        redis.admin_on(redis.ports[0].1, &args);
        let ok = crate::wait::poll_blocking(Duration::from_secs(20), || {
            redis.ports.iter().all(|(_, admin)| {
                redis
                    .admin_on(*admin, &["CLUSTER", "INFO"])
                    .contains("cluster_state:ok")
            })
        });
        assert!(ok, "the TLS cluster did not reach cluster_state:ok");
        redis
    }

    fn start_servers(count: usize) -> SecureRedis {
        let ports: Vec<(u16, u16)> = (0..count).map(|_| (free_port(), free_port())).collect();
        let tls_port = ports[0].0;
        let dir = std::env::temp_dir().join(format!("redis-tls-{tls_port}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the certificate directory");
        make_certificates(&dir);
        let rules = std::fs::read_to_string(repo_file("deploy/redis/chat-user.acl"))
            .expect("read deploy/redis/chat-user.acl");
        let rules = rules
            .lines()
            .find(|line| !line.starts_with('#') && !line.trim().is_empty())
            .expect("a rules line");
        let acl = format!(
            "user default off\nuser admin on >{ADMIN_PASSWORD} ~* &* +@all\nuser {USER} on >{PASSWORD} {rules}\n"
        );
        std::fs::write(dir.join("users.acl"), acl).expect("write the ACL file");
        std::fs::write(dir.join("password"), format!("{PASSWORD}\n")).expect("write the secret");
        let path = |name: &str| dir.join(name).to_str().expect("UTF-8").to_owned();
        let cluster = count > 1;
        let processes = ports
            .iter()
            .map(|&(tls_port, admin_port)| {
                let mut cmd = Command::new("redis-server");
                cmd.args(["--port", &admin_port.to_string()])
                    .args(["--tls-port", &tls_port.to_string()])
                    .args(["--tls-cert-file", &path("server.crt")])
                    .args(["--tls-key-file", &path("server.key")])
                    .args(["--tls-ca-cert-file", &path("ca.crt")])
                    .args(["--tls-auth-clients", "yes"])
                    .args(["--aclfile", &path("users.acl")])
                    .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                    .args(["--dir", &path(""), "--loglevel", "warning"]);
                if cluster {
                    let conf = path(&format!("nodes-{admin_port}.conf"));
                    cmd.args(["--cluster-enabled", "yes", "--cluster-config-file", &conf])
                        .args(["--tls-cluster", "yes"]);
                }
                let missing = "redis-server not found: run scripts/test, which installs it";
                let mut process =
                    ServiceProcess::spawn("redis-server (TLS)", admin_port, cmd, missing);
                // Any answer (NOAUTH, with the default user off) means it is up.
                process.wait_ready(Duration::from_secs(10), |port| {
                    exchange(port, b"PING\r\n", 1).is_some()
                });
                process
            })
            .collect();
        SecureRedis {
            dir,
            ports,
            cluster,
            _processes: processes,
        }
    }

    /// The flags that point a gateway or a dispatcher at this server: a `rediss://` URL with
    /// the user but no password, the password file, the CA, the client certificate, the
    /// key prefix.
    pub fn client_args(&self) -> Vec<String> {
        let path = |name: &str| self.dir.join(name).to_str().expect("UTF-8").to_owned();
        vec![
            "--redis-password-file".into(),
            path("password"),
            "--redis-tls-ca-file".into(),
            path("ca.crt"),
            "--redis-tls-cert-file".into(),
            path("client.crt"),
            "--redis-tls-key-file".into(),
            path("client.key"),
            "--redis-key-prefix".into(),
            KEY_PREFIX.into(),
        ]
    }

    /// `rediss://chat@127.0.0.1:PORT`, or `rediss-cluster://chat@…?node=…&node=…`.
    pub fn url(&self) -> String {
        let tls: Vec<u16> = self.ports.iter().map(|(tls, _)| *tls).collect();
        if !self.cluster {
            return format!("rediss://{USER}@127.0.0.1:{}", tls[0]);
        }
        let others: Vec<String> = tls[1..]
            .iter()
            .map(|p| format!("node=127.0.0.1:{p}"))
            .collect();
        format!(
            "rediss-cluster://{USER}@127.0.0.1:{}?{}",
            tls[0],
            others.join("&")
        )
    }

    /// The password the system logs in with (to check it never shows up in its output).
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// Runs `redis-cli` as `admin` on every server's plain port; returns their stdout,
    /// trimmed, one line per line of output.
    pub fn admin(&self, args: &[&str]) -> String {
        let outputs: Vec<String> = self
            .ports
            .iter()
            .map(|(_, admin)| self.admin_on(*admin, args))
            .filter(|out| !out.is_empty())
            .collect();
        outputs.join("\n")
    }

    fn admin_on(&self, port: u16, args: &[&str]) -> String {
        let output = Command::new("redis-cli")
            .args(["-p", &port.to_string()])
            .args([
                "--user",
                "admin",
                "--pass",
                ADMIN_PASSWORD,
                "--no-auth-warning",
            ])
            .args(args)
            .output()
            .expect("redis-cli runs");
        assert!(output.status.success(), "redis-cli {args:?}: {output:?}");
        String::from_utf8_lossy(&output.stdout).trim().to_owned()
    }
}

impl Drop for SecureRedis {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A file of the repository, from the tests crate's directory.
fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A private CA, a server certificate for 127.0.0.1 and a client certificate, in `dir`.
fn make_certificates(dir: &Path) {
    let openssl = |args: &[&str]| crate::openssl::openssl(dir, args);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.crt",
        "-days",
        "2",
        "-subj",
        "/CN=test private CA",
    ]);
    // X.509 v3 certificates (rustls refuses v1 ones, which `openssl x509 -req` makes without
    // extensions).
    let extensions = [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n",
        ),
        ("client", "extendedKeyUsage=clientAuth\n"),
    ];
    for (name, ext) in extensions {
        std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write an extension file");
    }
    for name in ["server", "client"] {
        let (key, csr, crt) = (
            format!("{name}.key"),
            format!("{name}.csr"),
            format!("{name}.crt"),
        );
        openssl(&[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ]);
        let ext = format!("{name}.ext");
        openssl(&[
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            &crt,
            "-days",
            "2",
            "-extfile",
            &ext,
        ]);
    }
}

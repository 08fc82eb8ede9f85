//! Child processes under test: the real `gateway` and `dispatcher` binaries (and Redis),
//! started on free ports, waited for until ready, and killed on drop.

use crate::auth::{SECRET, SERVICE_TOKEN};
use crate::wait::poll_blocking;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::{Deref, DerefMut, Range};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::LazyLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Where [`free_port`] looks: below the kernel's range for the local ports of outgoing
/// connections (32768-60999 by default), so that none of the tests' thousands of client
/// sockets can take a server's port between the check and the server's bind, or while a
/// stopped server is started again on it; and low enough that a Redis Cluster node's bus
/// port (its port + 10000) is below that range too.
const PORTS: Range<u16> = 20_000..22_760;
const PORT_COUNT: u32 = (PORTS.end - PORTS.start) as u32;

/// A port that was free a moment ago on 127.0.0.1, and that no other call of this test
/// process is handed until all of [`PORTS`] has been.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Test processes that run at once (nextest starts one per test, with neighbouring pids)
    // start far apart: neighbouring pids map to starts about 360 ports apart.
    static START: LazyLock<u32> =
        LazyLock::new(|| std::process::id() % PORT_COUNT * 7919 % PORT_COUNT);
    for _ in 0..PORT_COUNT {
        let offset = (*START + NEXT.fetch_add(1, Ordering::Relaxed)) % PORT_COUNT;
        let port = PORTS.start + offset as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on 127.0.0.1 in {PORTS:?}");
}

/// A child process listening on `port`. Killed (SIGKILL) and reaped on drop.
pub struct ServiceProcess {
    name: String,
    port: u16,
    child: Child,
}

impl ServiceProcess {
    /// Spawns `cmd` with its stdout and stderr sent to the test's stderr. Panics with
    /// `missing_hint` if the program does not exist.
    pub(crate) fn spawn(name: &str, port: u16, cmd: Command, missing_hint: &str) -> Self {
        Self::spawn_logged(name, port, cmd, None, missing_hint)
    }

    /// Like [`Self::spawn`], with stdout and stderr sent to `log_file` (created or truncated)
    /// instead when it is given.
    pub(crate) fn spawn_logged(
        name: &str,
        port: u16,
        mut cmd: Command,
        log_file: Option<&Path>,
        missing_hint: &str,
    ) -> Self {
        cmd.stdin(Stdio::null());
        match log_file {
            Some(path) => {
                let file = File::create(path)
                    .unwrap_or_else(|e| panic!("create log file {}: {e}", path.display()));
                let copy = file.try_clone().expect("clone the log file handle");
                cmd.stdout(Stdio::from(file)).stderr(Stdio::from(copy));
            }
            None => {
                cmd.stdout(Stdio::from(std::io::stderr()))
                    .stderr(Stdio::inherit());
            }
        }
        let child = match cmd.spawn() {
            Ok(child) => child,
            Err(e) if e.kind() == ErrorKind::NotFound => panic!("{missing_hint}"),
            Err(e) => panic!("could not start {name}: {e}"),
        };
        ServiceProcess {
            name: name.to_owned(),
            port,
            child,
        }
    }

    /// Polls `ready` for up to `timeout`; panics if the process exits or never gets ready.
    pub(crate) fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut(u16) -> bool) {
        let (name, port) = (self.name.clone(), self.port);
        let ok = poll_blocking(timeout, || {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("{name} on port {port} exited during start-up: {status}");
            }
            ready(port)
        });
        assert!(ok, "{name} on port {port} not ready after {timeout:?}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The operating-system process id (for reading `/proc/<pid>`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `http://127.0.0.1:PORT`
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends SIGKILL and reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM (a graceful shutdown) and returns at once; see [`Self::wait_exit`].
    pub fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return; // already reaped: its pid may belong to someone else now
        }
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill -TERM");
        assert!(status.success(), "kill -TERM {} failed", self.name);
    }

    /// The exit status, if the process exits within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let mut status = None;
        poll_blocking(timeout, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        status
    }
}

impl Drop for ServiceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// How a service binary is launched, beyond its flags: which build runs and where its output
/// goes. The default runs the debug build with output on the test's stderr.
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// Directory holding the `gateway` and `dispatcher` binaries (e.g. `target/release` for
    /// measurements). None: `$CARGO_TARGET_DIR` or `<workspace>/target`, then `debug/`.
    pub bin_dir: Option<PathBuf>,
    /// File receiving the process's stdout and stderr (e.g. to scan it for panics afterwards).
    /// None: the test's stderr.
    pub log_file: Option<PathBuf>,
}

impl Launch {
    /// Where binary `name` is.
    fn binary(&self, name: &str) -> PathBuf {
        let dir = self.bin_dir.clone().unwrap_or_else(|| {
            let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
            let target = match std::env::var_os("CARGO_TARGET_DIR") {
                Some(dir) => workspace.join(dir), // an absolute dir replaces the workspace prefix
                None => workspace.join("target"),
            };
            target.join("debug")
        });
        dir.join(name)
    }
}

/// glibc's settings in deploy/Dockerfile (`ENV GLIBC_TUNABLES`), for every process started
/// here unless the environment sets its own.
pub const GLIBC_TUNABLES: &str = "glibc.malloc.tcache_count=2";

/// Starts binary `name` with `args` and waits until `GET /healthz` on `port` answers 200.
fn start_service(name: &str, port: u16, args: Vec<String>, launch: &Launch) -> ServiceProcess {
    let path = launch.binary(name);
    let missing = format!(
        "{} not found: build the binaries first: cargo build --bins (scripts/test does)",
        path.display()
    );
    let mut cmd = Command::new(path);
    cmd.args(args);
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "info");
    }
    if std::env::var_os("GLIBC_TUNABLES").is_none() {
        // As deploy/Dockerfile runs both binaries, so that measurements describe the image.
        cmd.env("GLIBC_TUNABLES", GLIBC_TUNABLES);
    }
    let log_file = launch.log_file.as_deref();
    let mut process = ServiceProcess::spawn_logged(name, port, cmd, log_file, &missing);
    process.wait_ready(READY_TIMEOUT, healthz_ok);
    process
}

/// True if `GET http://127.0.0.1:PORT/healthz` answers 200.
fn healthz_ok(port: u16) -> bool {
    let request =
        format!("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    // "HTTP/1.1 200"
    exchange(port, request.as_bytes(), 12).is_some_and(|head| head.ends_with(b" 200"))
}

/// Connects to 127.0.0.1:`port`, writes `request` and reads the first `reply_len` bytes of
/// the reply (1 s read timeout). None if any step fails.
pub(crate) fn exchange(port: u16, request: &[u8], reply_len: usize) -> Option<Vec<u8>> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(1))).ok()?;
    stream.write_all(request).ok()?;
    let mut reply = vec![0; reply_len];
    stream.read_exact(&mut reply).ok()?;
    Some(reply)
}

/// How to start a gateway.
#[derive(Clone, Debug)]
pub struct GatewayOpts {
    pub redis_url: String,
    pub node_id: String,
    /// `--enforce-assignment`: off by default so a test can put a client on any node;
    /// the assignment tests turn it on.
    pub enforce_assignment: bool,
    /// The limits per client address (`--max-sockets-per-ip`,
    /// `--new-sockets-per-ip-per-second`): off by default, since every test client connects
    /// from 127.0.0.1; the tests of those limits turn them on.
    pub per_ip_limits: bool,
    /// `--jwt-public-key-file` (RS256) instead of the standard `--jwt-secret`.
    pub jwt_public_key_file: Option<String>,
    /// Appended after the standard flags.
    pub extra_args: Vec<String>,
    pub launch: Launch,
}

impl GatewayOpts {
    pub fn new(redis_url: impl Into<String>, node_id: impl Into<String>) -> Self {
        GatewayOpts {
            redis_url: redis_url.into(),
            node_id: node_id.into(),
            enforce_assignment: false,
            per_ip_limits: false,
            jwt_public_key_file: None,
            extra_args: Vec::new(),
            launch: Launch::default(),
        }
    }

    /// Keep the node's limits per client address (set them with [`Self::arg`]).
    pub fn per_ip_limits(mut self) -> Self {
        self.per_ip_limits = true;
        self
    }

    /// Redirect clients that connect to a node other than their assigned one.
    pub fn enforce_assignment(mut self) -> Self {
        self.enforce_assignment = true;
        self
    }

    /// Appends one command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Which build runs and where its output goes.
    pub fn launch(mut self, launch: Launch) -> Self {
        self.launch = launch;
        self
    }
}

/// A running `gateway` binary. Derefs to [`ServiceProcess`] for `port`, `kill`,
/// `terminate` and `wait_exit`.
pub struct Gateway {
    process: ServiceProcess,
}

impl Gateway {
    pub fn start(opts: GatewayOpts) -> Gateway {
        let port = free_port();
        let mut args: Vec<String> = [
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--node-id",
            &opts.node_id,
            "--public-url",
            &format!("ws://127.0.0.1:{port}/api/ws"),
            "--redis-url",
            &opts.redis_url,
            "--enforce-assignment",
            if opts.enforce_assignment {
                "true"
            } else {
                "false"
            },
        ]
        .map(String::from)
        .into();
        args.extend(jwt_args(opts.jwt_public_key_file));
        if !opts.per_ip_limits {
            args.extend(
                [
                    "--max-sockets-per-ip",
                    "0",
                    "--new-sockets-per-ip-per-second",
                    "0",
                ]
                .map(String::from),
            );
        }
        args.extend(opts.extra_args);
        Gateway {
            process: start_service("gateway", port, args, &opts.launch),
        }
    }

    /// `ws://127.0.0.1:PORT{path_and_query}`
    pub fn ws_url(&self, path_and_query: &str) -> String {
        format!("ws://127.0.0.1:{}{path_and_query}", self.port())
    }
}

/// The flags that say how user tokens are checked: the test secret (HS256), or an RS256
/// public key file.
fn jwt_args(public_key_file: Option<String>) -> [String; 2] {
    match public_key_file {
        Some(path) => ["--jwt-public-key-file".into(), path],
        None => ["--jwt-secret".into(), SECRET.into()],
    }
}

/// How to start a dispatcher.
#[derive(Clone, Debug)]
pub struct DispatcherOpts {
    pub redis_url: String,
    /// `--user-rate-per-second`: 0 (no limit) unless a test sets one, so that tests may post
    /// as fast as they like as one user.
    pub user_rate_per_second: u32,
    /// `--gateway-url` (a fixed answer for `GET /api/gateway`); None, the default, lets the
    /// dispatcher assign nodes from the registry.
    pub gateway_url: Option<String>,
    /// `--jwt-public-key-file` (RS256) instead of the standard `--jwt-secret`.
    pub jwt_public_key_file: Option<String>,
    /// Appended after the standard flags.
    pub extra_args: Vec<String>,
    pub launch: Launch,
}

impl DispatcherOpts {
    pub fn new(redis_url: impl Into<String>) -> Self {
        DispatcherOpts {
            redis_url: redis_url.into(),
            user_rate_per_second: 0,
            gateway_url: None,
            jwt_public_key_file: None,
            extra_args: Vec::new(),
            launch: Launch::default(),
        }
    }

    pub fn gateway_url(mut self, url: impl Into<String>) -> Self {
        self.gateway_url = Some(url.into());
        self
    }

    /// Appends one command-line argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.extra_args.push(arg.into());
        self
    }

    /// Which build runs and where its output goes.
    pub fn launch(mut self, launch: Launch) -> Self {
        self.launch = launch;
        self
    }
}

/// A running `dispatcher` binary. Derefs to [`ServiceProcess`] for `port`, `kill`,
/// `terminate` and `wait_exit`.
pub struct Dispatcher {
    process: ServiceProcess,
}

impl Dispatcher {
    pub fn start(opts: DispatcherOpts) -> Dispatcher {
        let port = free_port();
        let mut args: Vec<String> = [
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--redis-url",
            &opts.redis_url,
            "--service-tokens",
            SERVICE_TOKEN,
            "--user-rate-per-second",
            &opts.user_rate_per_second.to_string(),
        ]
        .map(String::from)
        .into();
        args.extend(jwt_args(opts.jwt_public_key_file));
        if let Some(url) = opts.gateway_url {
            args.extend(["--gateway-url".to_owned(), url]);
        }
        args.extend(opts.extra_args);
        Dispatcher {
            process: start_service("dispatcher", port, args, &opts.launch),
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.http_url()
    }
}

macro_rules! deref_to_process {
    ($($service:ty),*) => {$(
        impl Deref for $service {
            type Target = ServiceProcess;
            fn deref(&self) -> &ServiceProcess {
                &self.process
            }
        }
        impl DerefMut for $service {
            fn deref_mut(&mut self) -> &mut ServiceProcess {
                &mut self.process
            }
        }
    )*};
}
deref_to_process!(Gateway, Dispatcher);

//! A TCP proxy the test controls, to cut a link for real (after crates.io's
//! `src/tests/util/chaosproxy.rs`): it forwards connections on its own port to a backend and,
//! when cut, drops every connection through it and refuses new ones until restored. It runs
//! on its own thread, so a test blocked in a synchronous call does not stall the link.

use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct ChaosProxy {
    port: u16,
    cut: Arc<watch::Sender<bool>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ChaosProxy {
    /// Proxies a free 127.0.0.1 port to `127.0.0.1:backend_port`.
    pub fn start(backend_port: u16) -> ChaosProxy {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        std_listener.set_nonblocking(true).expect("non-blocking");
        let port = std_listener.local_addr().expect("local_addr").port();
        let backend: SocketAddr = ([127, 0, 0, 1], backend_port).into();
        let (cut, _) = watch::channel(false);
        let cut = Arc::new(cut);
        let (stop, stopped) = tokio::sync::oneshot::channel();
        let cut_for_thread = cut.clone();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("proxy runtime");
            runtime.block_on(async move {
                let listener = TcpListener::from_std(std_listener).expect("tokio listener");
                tokio::select! {
                    _ = stopped => {}
                    _ = serve(listener, backend, cut_for_thread) => {}
                }
            });
        });
        ChaosProxy {
            port,
            cut,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT`, for a backend that is Redis.
    pub fn redis_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Drops every open connection and refuses new ones.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Lets connections through again.
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }
}

impl Drop for ChaosProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(listener: TcpListener, backend: SocketAddr, cut: Arc<watch::Sender<bool>>) {
    loop {
        let Ok((mut client, _)) = listener.accept().await else {
            continue;
        };
        if *cut.borrow() {
            drop(client); // refused while cut
            continue;
        }
        let mut cut_rx = cut.subscribe();
        tokio::spawn(async move {
            let Ok(mut server) = TcpStream::connect(backend).await else {
                return;
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            tokio::select! {
                _ = copy_bidirectional(&mut client, &mut server) => {}
                _ = cut_rx.wait_for(|cut| *cut) => {} // both sockets dropped: the link is gone
            }
        });
    }
}

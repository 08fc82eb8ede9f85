//! `flood`: one address (127.0.0.250) starts WebSocket handshakes far faster than
//! `GATEWAY_NEW_SOCKETS_PER_IP_PER_SECOND` allows, while clients on other addresses open real
//! sockets at an ordinary rate. Reports how the flood was answered (HTTP statuses), the
//! node's CPU per refused handshake, and whether the other clients kept connecting. Run it
//! against gateways that keep their limits per address (`--per-ip-limits`).

use crate::client::raw;
use crate::harness::Harness;
use crate::latency::{self, Latency};
use crate::procstat::Resources;
use crate::publish::Pacer;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The flooding client's address: apart from the load generator's usual sources.
const FLOODER: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 250);

#[derive(clap::Args, Clone, Debug)]
pub struct FloodArgs {
    /// Handshakes per second from the flooding address.
    #[arg(long, default_value_t = 5000.0)]
    pub rate: f64,
    /// Seconds the flood lasts.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Real sockets per second opened meanwhile from the other addresses.
    #[arg(long, default_value_t = 20.0)]
    pub others_rate: f64,
    /// Flood handshakes in flight at once.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
}

#[derive(Debug, Default, Serialize)]
pub struct FloodResult {
    pub flood_attempted: u64,
    /// From the first handshake to the last answer.
    pub flood_seconds: f64,
    pub flood_per_second: f64,
    /// Answers by HTTP status (101: upgraded).
    pub flood_statuses: BTreeMap<u16, u64>,
    /// Handshakes that got no answer (connect or read failed).
    pub flood_errors: u64,
    pub others_attempted: u64,
    pub others_opened: u64,
    pub others_failed: u64,
    pub others_first_error: Option<String>,
    /// Connect to READY, for the other addresses' sockets.
    pub others_latency: Latency,
    pub resources: Resources,
    /// Gateway CPU over the run per refused (429) handshake.
    pub gateway_us_per_refusal: Option<f64>,
}

pub async fn run(h: &Harness, args: &FloodArgs) -> anyhow::Result<FloodResult> {
    let node = h.cluster.nodes[0].addr;
    let watch = &h.cluster.watch;
    let before = watch.sample();
    let until = Instant::now() + Duration::from_secs(args.duration);

    let statuses = Arc::new(Mutex::new(BTreeMap::<u16, u64>::new()));
    let errors = Arc::new(Mutex::new(0u64));
    let flood = {
        let (statuses, errors) = (statuses.clone(), errors.clone());
        let token = h.token(&h.id("flooder", 0));
        let (rate, concurrency) = (args.rate, args.concurrency);
        tokio::spawn(async move {
            let permits = Arc::new(Semaphore::new(concurrency));
            let mut tasks = JoinSet::new();
            let mut pacer = Pacer::new(rate);
            let started = Instant::now();
            let mut attempted = 0u64;
            while pacer.tick(until).await.is_some() {
                attempted += 1;
                let permit = permits
                    .clone()
                    .acquire_owned()
                    .await
                    .expect("open semaphore");
                let (statuses, errors, token) = (statuses.clone(), errors.clone(), token.clone());
                tasks.spawn(async move {
                    let answer = async {
                        let mut stream = raw::upgrade(node, IpAddr::V4(FLOODER), &token).await?;
                        raw::status(&mut stream).await
                    };
                    match answer.await {
                        Ok(status) => *statuses.lock().unwrap().entry(status).or_default() += 1,
                        Err(_) => *errors.lock().unwrap() += 1,
                    }
                    drop(permit);
                });
                while tasks.try_join_next().is_some() {}
            }
            while tasks.join_next().await.is_some() {}
            (attempted, started.elapsed().as_secs_f64())
        })
    };

    let mut result = FloodResult::default();
    let mut histogram = latency::histogram();
    let mut pacer = Pacer::new(args.others_rate);
    let mut n = 0;
    while pacer.tick(until).await.is_some() {
        n += 1;
        result.others_attempted += 1;
        let started = Instant::now();
        match h.connector.open(node, &h.token(&h.id("other", n))).await {
            Ok(_) => {
                result.others_opened += 1;
                latency::record(&mut histogram, started.elapsed().as_nanos() as u64);
            }
            Err(e) => {
                result.others_failed += 1;
                result
                    .others_first_error
                    .get_or_insert_with(|| format!("{e:#}"));
            }
        }
    }
    (result.flood_attempted, result.flood_seconds) = flood.await?;
    let after = watch.sample();
    result.flood_per_second = result.flood_attempted as f64 / result.flood_seconds;
    result.flood_statuses = statuses.lock().unwrap().clone();
    result.flood_errors = *errors.lock().unwrap();
    result.others_latency = Latency::of(&histogram);
    result.resources = watch.delta(&before, &after);
    let refused = result.flood_statuses.get(&429).copied().unwrap_or(0);
    result.gateway_us_per_refusal = result.resources.gateway_us_per(refused);
    Ok(result)
}

impl fmt::Display for FloodResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "flood: {} handshakes from {FLOODER} in {:.1} s ({:.0}/s): answers {:?}, {} without an answer",
            self.flood_attempted,
            self.flood_seconds,
            self.flood_per_second,
            self.flood_statuses,
            self.flood_errors
        )?;
        writeln!(
            f,
            "  meanwhile other addresses: {} of {} sockets opened ({} failed{}); connect to READY {}",
            self.others_opened,
            self.others_attempted,
            self.others_failed,
            self.others_first_error
                .as_deref()
                .map_or(String::new(), |e| format!(", first: {e}")),
            self.others_latency
        )?;
        let cpu = self.resources.gateway_cpu_seconds.unwrap_or(f64::NAN);
        write!(
            f,
            "  gateway CPU {cpu:.2} s over the run: {} per refused handshake",
            self.gateway_us_per_refusal
                .map_or("?".to_owned(), |us| format!("{us:.1} µs"))
        )
    }
}

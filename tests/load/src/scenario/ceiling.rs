//! `ceiling`: how many messages per second one dispatcher accepts, against what Redis itself
//! allows. `--concurrency` clients post back to back (`POST /api/v1/channels/{id}/messages`,
//! as `--as` says: the service token naming the author, or the author's own token) for
//! `--duration` seconds; then `redis-benchmark`
//! replays the dispatcher's own history script call (captured with `MONITOR` from one post) at
//! the same concurrency: the Redis-side limit of a post. Reports both rates, the share
//! reached, the posts' latency, the CPU of each process per post and Redis commands per post.
//! `--driver wrk` posts with `wrk` instead of this tool's HTTP client ([`super::ceiling_wrk`]).

use crate::harness::Harness;
use crate::latency::{self, Latency};
use crate::procstat::Resources;
use crate::provision::{ChannelPlan, provision};
use crate::redis::{RedisCounters, RespConn, read_reply};
use anyhow::{Context, bail};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use tokio::time::Instant;

#[derive(clap::Args, Clone, Debug)]
pub struct CeilingArgs {
    /// Posts in flight at once (and `redis-benchmark -c`).
    #[arg(long, default_value_t = 64)]
    pub concurrency: usize,
    /// Seconds of posting (after a 2 s warm-up that is not counted).
    #[arg(long, default_value_t = 15)]
    pub duration: u64,
    /// Channels posted to, in turn.
    #[arg(long, default_value_t = 64)]
    pub channels: usize,
    /// Bytes of message content.
    #[arg(long, default_value_t = 100)]
    pub payload: usize,
    /// Calls `redis-benchmark` makes of the captured script (0: skip the comparison).
    #[arg(long, default_value_t = 300_000)]
    pub benchmark_calls: u64,
    /// Who posts during the measured window: this tool's own HTTP client, or `wrk` (a C
    /// client costing a fraction of the CPU, as `redis-benchmark` does on the Redis side;
    /// `apt-get install wrk`).
    #[arg(long, value_enum, default_value_t = Driver::Builtin)]
    pub driver: Driver,
    /// Who posts: `service` (the service token, naming the author in `author_id`: the
    /// dispatcher reads the author's name, and trusts them), or `user` (the author's own
    /// token, with a `name` claim: the commit checks that they are an unbanned member).
    #[arg(long = "as", value_enum, default_value_t = Poster::Service)]
    pub poster: Poster,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Poster {
    #[default]
    Service,
    User,
}

/// One post as sent: its `Authorization` header and JSON body.
pub(crate) struct Post {
    pub authorization: String,
    pub body: String,
}

impl Post {
    /// `content` by `author`, posted by `poster` holding `token`; with the message id `id`, or
    /// one the dispatcher makes.
    pub fn new(poster: Poster, token: &str, author: &str, content: &str, id: Option<&str>) -> Post {
        let mut body = serde_json::json!({"content": content});
        if poster == Poster::Service {
            body["author_id"] = author.into();
        }
        if let Some(id) = id {
            body["id"] = id.into();
        }
        Post {
            authorization: format!("Bearer {token}"),
            body: body.to_string(),
        }
    }
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    #[default]
    Builtin,
    Wrk,
}

#[derive(Debug, Default, Serialize)]
pub struct CeilingResult {
    pub driver: Driver,
    pub poster: Poster,
    pub concurrency: usize,
    pub seconds: f64,
    pub accepted: u64,
    pub accepted_per_second: f64,
    /// Answers other than 201, by status (0: no answer).
    pub refused: BTreeMap<u16, u64>,
    pub latency: Latency,
    pub resources: Resources,
    pub dispatcher_us_per_post: Option<f64>,
    pub redis_us_per_post: Option<f64>,
    pub loadgen_us_per_post: f64,
    /// Redis calls per accepted post, by command.
    pub redis_calls_per_post: BTreeMap<String, f64>,
    /// `redis-benchmark` running the captured script call at the same concurrency.
    pub redis_limit_per_second: Option<f64>,
    /// accepted_per_second / redis_limit_per_second.
    pub share_of_redis_limit: Option<f64>,
}

pub async fn run(h: &Harness, args: &CeilingArgs) -> anyhow::Result<CeilingResult> {
    anyhow::ensure!(
        h.cluster.redis_nodes.len() == 1,
        "ceiling compares with redis-benchmark on one Redis: run it without --redis-cluster"
    );
    let author = h.id("author", 0);
    let channels: Vec<String> = (0..args.channels.max(1))
        .map(|i| h.id("ceiling", i))
        .collect();
    let plans: Vec<ChannelPlan> = channels
        .iter()
        .map(|id| ChannelPlan {
            id: id.clone(),
            owner: author.clone(),
            members: Vec::new(),
        })
        .collect();
    provision(&h.api, &plans, h.client.http_concurrency).await?;
    let content = "x".repeat(args.payload.max(1));
    let token = match args.poster {
        Poster::Service => h.api.service_token().to_owned(),
        Poster::User => h.named_token(&author, "ceiling author"),
    };
    let post = Arc::new(Post::new(args.poster, &token, &author, &content, None));
    let channels = Arc::new(channels);

    eprintln!("ceiling: warming up for 2 s");
    post_for(h, args, &channels, &post, Duration::from_secs(2)).await;
    let mut counters = RedisCounters::connect(&h.cluster.redis_nodes).await?;
    let calls_before = counters.commands().await?;
    let before = h.cluster.watch.sample();
    eprintln!(
        "ceiling: {} posts in flight for {} s",
        args.concurrency, args.duration
    );
    let length = Duration::from_secs(args.duration);
    let run = match args.driver {
        Driver::Builtin => post_for(h, args, &channels, &post, length).await,
        Driver::Wrk => {
            let (api, channels, post) = (h.api.clone(), channels.clone(), post.clone());
            let concurrency = args.concurrency;
            tokio::task::spawn_blocking(move || {
                super::ceiling_wrk::post_for(api.base_url(), &post, concurrency, &channels, length)
            })
            .await??
        }
    };
    let after = h.cluster.watch.sample();
    let calls = calls_before.delta(&counters.commands().await?);

    let resources = h.cluster.watch.delta(&before, &after);
    let per_post = |seconds: f64| seconds * 1e6 / run.accepted.max(1) as f64;
    let mut result = CeilingResult {
        driver: args.driver,
        poster: args.poster,
        concurrency: args.concurrency,
        seconds: run.seconds,
        accepted: run.accepted,
        accepted_per_second: run.accepted as f64 / run.seconds,
        refused: run.refused,
        latency: run.latency,
        dispatcher_us_per_post: resources.dispatcher_cpu_seconds.map(per_post),
        redis_us_per_post: resources.redis_cpu_seconds.map(per_post),
        loadgen_us_per_post: per_post(resources.loadgen_cpu_seconds),
        redis_calls_per_post: calls
            .into_iter()
            .map(|(command, n)| (command, n as f64 / run.accepted.max(1) as f64))
            .filter(|(_, per)| *per >= 0.01)
            .collect(),
        resources,
        ..CeilingResult::default()
    };
    if args.benchmark_calls > 0 {
        eprintln!("ceiling: capturing one post's script call");
        let id = h.id("captured", 0);
        let captured = Arc::new(Post::new(args.poster, &token, &author, &content, Some(&id)));
        let call = capture_script_call(h, &channels[0], &captured).await?;
        let call = distinct_messages(&call, id.as_bytes());
        replays_as_a_post(h.cluster.redis, &call).await?;
        eprintln!(
            "ceiling: redis-benchmark replays it {} times, {} at once",
            args.benchmark_calls, args.concurrency
        );
        let limit = redis_benchmark(h.cluster.redis, args, &call).await?;
        result.redis_limit_per_second = Some(limit);
        result.share_of_redis_limit = Some(result.accepted_per_second / limit);
    }
    Ok(result)
}

/// What the posting window saw.
pub(super) struct Posting {
    pub seconds: f64,
    pub accepted: u64,
    pub refused: BTreeMap<u16, u64>,
    pub latency: Latency,
}

/// `concurrency` loops posting back to back for `length`.
async fn post_for(
    h: &Harness,
    args: &CeilingArgs,
    channels: &Arc<Vec<String>>,
    post: &Arc<Post>,
    length: Duration,
) -> Posting {
    let started = Instant::now();
    let until = started + length;
    let shared = Arc::new(Mutex::new((
        latency::histogram(),
        0u64,
        BTreeMap::<u16, u64>::new(),
    )));
    let mut loops = JoinSet::new();
    for i in 0..args.concurrency {
        let (api, channels, shared) = (h.api.clone(), channels.clone(), shared.clone());
        let post = post.clone();
        loops.spawn(async move {
            let (mut histogram, mut accepted) = (latency::histogram(), 0u64);
            let mut refused = BTreeMap::<u16, u64>::new();
            let mut n = i;
            while Instant::now() < until {
                let channel = &channels[n % channels.len()];
                n += 1;
                let sent = Instant::now();
                match api
                    .post_status(channel, &post.authorization, &post.body)
                    .await
                {
                    201 => {
                        accepted += 1;
                        latency::record(&mut histogram, sent.elapsed().as_nanos() as u64);
                    }
                    status => *refused.entry(status).or_default() += 1,
                }
            }
            let mut all = shared.lock().unwrap();
            all.0.add(&histogram).expect("same bounds");
            all.1 += accepted;
            for (status, n) in refused {
                *all.2.entry(status).or_default() += n;
            }
        });
    }
    while loops.join_next().await.is_some() {}
    let seconds = started.elapsed().as_secs_f64();
    let all = shared.lock().unwrap();
    Posting {
        seconds,
        accepted: all.1,
        refused: all.2.clone(),
        latency: Latency::of(&all.0),
    }
}

/// The arguments of the first `EVALSHA` Redis sees while one message is posted.
async fn capture_script_call(
    h: &Harness,
    channel: &str,
    post: &Arc<Post>,
) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut monitor = RespConn::connect(h.cluster.redis).await?;
    monitor.command(&[b"MONITOR"]).await?;
    let post = {
        let (api, channel, post) = (h.api.clone(), channel.to_owned(), post.clone());
        tokio::spawn(async move {
            api.post_status(&channel, &post.authorization, &post.body)
                .await
        })
    };
    let call = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let crate::redis::Reply::Simple(line) = read_reply(&mut monitor.reader).await? else {
                bail!("MONITOR sent something other than a line");
            };
            let args = monitor_args(&line)?;
            if args
                .first()
                .is_some_and(|c| c.eq_ignore_ascii_case(b"evalsha"))
            {
                return Ok(args);
            }
        }
    })
    .await
    .context("no EVALSHA seen while posting a message")??;
    let status = post.await?;
    anyhow::ensure!(status == 201, "the captured post was answered {status}");
    let _ = monitor.writer.shutdown().await;
    Ok(call)
}

/// The arguments of a `MONITOR` line: `<time> [<db> <client>] "arg" "arg" …`, each quoted
/// with C-style escapes (`\"`, `\\`, `\n`, `\r`, `\t`, `\a`, `\b`, `\xHH`).
fn monitor_args(line: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    let rest = line
        .split_once("] ")
        .map(|(_, rest)| rest)
        .context("not a MONITOR line")?;
    let mut args = Vec::new();
    let mut bytes = rest.bytes().peekable();
    while let Some(b) = bytes.next() {
        match b {
            b' ' => continue,
            b'"' => {}
            _ => bail!("unquoted argument in a MONITOR line"),
        }
        let mut arg = Vec::new();
        loop {
            match bytes.next().context("unterminated argument")? {
                b'"' => break,
                b'\\' => match bytes.next().context("dangling escape")? {
                    b'n' => arg.push(b'\n'),
                    b'r' => arg.push(b'\r'),
                    b't' => arg.push(b'\t'),
                    b'a' => arg.push(7),
                    b'b' => arg.push(8),
                    b'x' => {
                        let hex = [
                            bytes.next().context("short \\x")?,
                            bytes.next().context("short \\x")?,
                        ];
                        let hex = std::str::from_utf8(&hex)?;
                        arg.push(u8::from_str_radix(hex, 16)?);
                    }
                    other => arg.push(other),
                },
                other => arg.push(other),
            }
        }
        args.push(arg);
    }
    Ok(args)
}

/// Requests per second `redis-benchmark` reaches replaying `call`.
async fn redis_benchmark(
    redis: SocketAddr,
    args: &CeilingArgs,
    call: &[Vec<u8>],
) -> anyhow::Result<f64> {
    let mut command = tokio::process::Command::new("redis-benchmark");
    command.args([
        "-h",
        &redis.ip().to_string(),
        "-p",
        &redis.port().to_string(),
        "-c",
        &args.concurrency.to_string(),
        "-n",
        &args.benchmark_calls.to_string(),
        "--csv",
        "-r",
        "1000000000",
    ]);
    use std::os::unix::ffi::OsStrExt;
    command.args(call.iter().map(|a| std::ffi::OsStr::from_bytes(a)));
    let output = command.output().await.context("run redis-benchmark")?;
    anyhow::ensure!(
        output.status.success(),
        "redis-benchmark failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    // "test","rps","avg_latency_ms",… (6 more): the test's name holds the whole command, so
    // the rate is counted from the end of the row.
    let csv = String::from_utf8_lossy(&output.stdout);
    csv.lines()
        .skip(1)
        .filter_map(|l| l.rsplit(',').nth(6))
        .find_map(|rps| rps.trim_matches('"').parse::<f64>().ok())
        .with_context(|| format!("no rate in redis-benchmark's output: {csv}"))
}

/// The call with the captured post's message id `id` (the field a condition says must be
/// absent, and the field the script then writes) made `__rand_int__`, which redis-benchmark
/// replaces with a random number in every call: replaying the same id would stop at the
/// condition every time after the first, a cheaper path than a post takes.
fn distinct_messages(call: &[Vec<u8>], id: &[u8]) -> Vec<Vec<u8>> {
    call.iter()
        .map(|a| match a == id {
            true => b"__rand_int__".to_vec(),
            false => a.clone(),
        })
        .collect()
}

/// Runs `call` once with a fresh message id and checks that the script recorded a post (it
/// answers the publication's position) rather than refusing it at a condition: the limit
/// `redis-benchmark` reports is only a post's if every replay takes a post's path.
async fn replays_as_a_post(redis: SocketAddr, call: &[Vec<u8>]) -> anyhow::Result<()> {
    // Not a number: no id redis-benchmark's replays make can be this one.
    let once: Vec<&[u8]> = call
        .iter()
        .map(|a| match a.as_slice() {
            b"__rand_int__" => b"replay-check",
            other => other,
        })
        .collect();
    let mut conn = RespConn::connect(redis).await?;
    match conn.command(&once).await? {
        crate::redis::Reply::Array(_) => Ok(()),
        other => bail!("the captured script call, replayed, does not record a post: {other:?}"),
    }
}

impl fmt::Display for CeilingResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "ceiling: {} posts in flight ({:?} client) for {:.1} s: {} accepted ({:.0}/s), refused {:?}",
            self.concurrency,
            self.driver,
            self.seconds,
            self.accepted,
            self.accepted_per_second,
            self.refused
        )?;
        let whose = match self.driver {
            Driver::Builtin => "an accepted post",
            Driver::Wrk => "a post (wrk: every answer)",
        };
        writeln!(f, "  latency of {whose}: {}", self.latency)?;
        let us = |v: Option<f64>| v.map_or("?".to_owned(), |v| format!("{v:.1} µs"));
        writeln!(
            f,
            "  CPU per post: dispatcher {}, Redis {}, load generator {:.1} µs",
            us(self.dispatcher_us_per_post),
            us(self.redis_us_per_post),
            self.loadgen_us_per_post
        )?;
        let calls: Vec<String> = self
            .redis_calls_per_post
            .iter()
            .map(|(c, n)| format!("{c} {n:.2}"))
            .collect();
        writeln!(f, "  Redis calls per post: {}", calls.join(", "))?;
        match (self.redis_limit_per_second, self.share_of_redis_limit) {
            (Some(limit), Some(share)) => write!(
                f,
                "  redis-benchmark, the same script call at the same concurrency: {limit:.0}/s; \
                 the dispatcher reached {:.0} % of it",
                share * 100.0
            ),
            _ => write!(f, "  (no redis-benchmark comparison)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::monitor_args;

    #[test]
    fn monitor_lines_are_unescaped() {
        let line = r#"1733470000.123456 [0 127.0.0.1:5342] "evalsha" "ab" "1" "{channel:x}" "{\"a\":\"b c\"}" "\x01\\n""#;
        let args = monitor_args(line).unwrap();
        assert_eq!(
            args,
            vec![
                b"evalsha".to_vec(),
                b"ab".to_vec(),
                b"1".to_vec(),
                b"{channel:x}".to_vec(),
                br#"{"a":"b c"}"#.to_vec(),
                vec![1, b'\\', b'n'],
            ]
        );
    }
}

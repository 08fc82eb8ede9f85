//! `ceiling --driver wrk`: the posts come from `wrk` (C, one thread) instead of this tool's
//! own HTTP client, a cross-check that the load generator's share of a machine the dispatcher
//! shares with it is not what limits the figure (as `redis-benchmark`, also C, is on the
//! Redis side). A Lua script posts to the channels in turn and reports the
//! counts, the statuses and the latency percentiles as one JSON line.

use super::ceiling::{Post, Posting};
use crate::latency::Latency;
use anyhow::{Context, bail};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::Duration;

const SCRIPT: &str = r#"
local channels = __CHANNELS__
local body = __BODY__
local headers = {["Content-Type"] = "application/json", ["Authorization"] = __AUTHORIZATION__}
local threads = {}

function setup(thread) table.insert(threads, thread) end

function init(args)
  n = 0
  statuses = {}
end

function request()
  n = n + 1
  local path = "/api/v1/channels/" .. channels[(n % #channels) + 1] .. "/messages"
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local sums = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      sums[status] = (sums[status] or 0) + count
    end
  end
  local counts = {}
  for status, count in pairs(sums) do
    counts[#counts + 1] = string.format('"%d":%d', status, count)
  end
  local ms = function(us) return us / 1000.0 end
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"socket_errors":%d,"count":%d,"p50_ms":%f,"p90_ms":%f,"p99_ms":%f,"p999_ms":%f,"max_ms":%f,"statuses":{%s}}\n',
    summary.requests, summary.duration,
    summary.errors.connect + summary.errors.read + summary.errors.write,
    summary.requests, ms(latency:percentile(50)), ms(latency:percentile(90)),
    ms(latency:percentile(99)), ms(latency:percentile(99.9)), ms(latency.max),
    table.concat(counts, ",")))
end
"#;

/// Runs `wrk` against the dispatcher for `length` with `concurrency` connections; returns
/// what it saw. Its CPU counts as this process's once it is reaped (`getrusage` of the
/// children, see [`crate::procstat::own_cpu_seconds`]).
pub fn post_for(
    base_url: &str,
    post: &Post,
    concurrency: usize,
    channels: &[String],
    length: Duration,
) -> anyhow::Result<Posting> {
    let script = script(post, channels);
    let path = std::env::temp_dir().join(format!("loadgen-ceiling-{}.lua", std::process::id()));
    std::fs::write(&path, script).context("writing the wrk script")?;
    let child = Command::new("wrk")
        .args(["-t1", &format!("-c{concurrency}")])
        .arg(format!("-d{}s", length.as_secs().max(1)))
        .arg("-s")
        .arg(&path)
        .arg(base_url)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn();
    let child = match child {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("wrk not found: install it (apt-get install wrk) or use --driver builtin")
        }
        Err(e) => return Err(e).context("starting wrk"),
    };
    let output = child.wait_with_output().context("waiting for wrk")?;
    let _ = std::fs::remove_file(&path);
    anyhow::ensure!(output.status.success(), "wrk failed: {}", output.status);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .with_context(|| format!("no summary line in wrk's output:\n{stdout}"))?;
    summary(line)
}

/// The wrk script: makes `post` to `channels` in turn.
fn script(post: &Post, channels: &[String]) -> String {
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serializes");
    let channels: Vec<String> = channels.iter().map(|c| quoted(c)).collect();
    // Generated ids first and the content last, so that nothing inserted is replaced again.
    SCRIPT
        .replace("__CHANNELS__", &format!("{{{}}}", channels.join(",")))
        .replace("__AUTHORIZATION__", &quoted(&post.authorization))
        .replace("__BODY__", &quoted(&post.body))
}

/// The posting window as the script's `done` reports it: 201s are accepted, other statuses
/// and socket errors (as status 0) refused. (wrk's timeouts are not counted: it reports a
/// late request as one, and still counts its answer when it comes.)
fn summary(line: &str) -> anyhow::Result<Posting> {
    let summary: serde_json::Value =
        serde_json::from_str(line).with_context(|| format!("wrk's summary: {line}"))?;
    let number = |key: &str| summary[key].as_f64().unwrap_or(0.0);
    let mut accepted = 0;
    let mut refused = BTreeMap::new();
    if let Some(statuses) = summary["statuses"].as_object() {
        for (status, count) in statuses {
            let count = count.as_u64().unwrap_or(0);
            match status.parse::<u16>() {
                Ok(201) => accepted += count,
                Ok(other) => *refused.entry(other).or_default() += count,
                Err(_) => *refused.entry(0).or_default() += count,
            }
        }
    }
    let socket_errors = number("socket_errors") as u64;
    if socket_errors > 0 {
        *refused.entry(0).or_default() += socket_errors;
    }
    Ok(Posting {
        seconds: number("duration_us") / 1e6,
        accepted,
        refused,
        latency: Latency {
            count: number("count") as u64,
            p50_ms: number("p50_ms"),
            p90_ms: number("p90_ms"),
            p99_ms: number("p99_ms"),
            p999_ms: number("p999_ms"),
            max_ms: number("max_ms"),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::ceiling::Poster;
    use super::*;

    #[test]
    fn the_script_lists_the_channels_as_one_lua_table_of_strings() {
        let channels = ["c1".to_owned(), "c2".to_owned()];
        let post = Post::new(Poster::Service, "tok", "u1", "hi \"there\"", None);
        let script = script(&post, &channels);
        assert!(
            script.contains("local channels = {\"c1\",\"c2\"}\n"),
            "{script}"
        );
        assert!(
            script.contains(
                r#"local body = "{\"author_id\":\"u1\",\"content\":\"hi \\\"there\\\"\"}""#
            ),
            "{script}"
        );
        assert!(
            script.contains(r#"["Authorization"] = "Bearer tok""#),
            "{script}"
        );
    }

    #[test]
    fn the_summary_line_counts_201s_as_accepted_and_the_rest_as_refused() {
        let line = r#"{"requests":1003,"duration_us":2000000,"socket_errors":2,"count":1003,"p50_ms":1.5,"p90_ms":2.0,"p99_ms":3.25,"p999_ms":4.0,"max_ms":9.0,"statuses":{"201":1000,"429":3}}"#;
        let posting = summary(line).unwrap();
        assert_eq!(posting.accepted, 1000);
        assert_eq!(posting.refused, BTreeMap::from([(0, 2), (429, 3)]));
        assert_eq!(posting.seconds, 2.0);
        assert_eq!(posting.latency.p99_ms, 3.25);
        assert_eq!(posting.latency.count, 1003);
    }
}

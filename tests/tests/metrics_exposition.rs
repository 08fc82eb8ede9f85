//! Both processes expose Prometheus text that `promtool check metrics` accepts, with the
//! documented metric names, after real traffic has created their labelled series.

use integration_tests::{NativeClient, Stack, metric};
use std::io::Write;
use std::process::{Command, Stdio};

fn promtool_check(exposition: &str) -> String {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool not found: scripts/test installs it (apt-get install prometheus)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        output.status.success(),
        "promtool check metrics failed:\n{report}\n---\n{exposition}"
    );
    report
}

async fn scrape(base_url: &str) -> String {
    reqwest::get(format!("{base_url}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test]
async fn gateway_and_dispatcher_metrics_pass_promtool() {
    let stack = Stack::start();
    let gateway = stack.gateway("gw-metrics", &[]);
    stack.chat.channel("1", "1", &["2"]).await;
    let mut client = NativeClient::connect(&gateway, "2").await;
    client.subscribe("channel:1").await;
    client.send_text("not json").await;
    stack.chat.post("1", "1", "hello").await;
    client.recv_type("MESSAGE_CREATE").await;

    let gateway_text = scrape(&gateway.http_url()).await;
    promtool_check(&gateway_text);
    for name in [
        "gateway_connections_open",
        "gateway_connections_opened_total",
        "gateway_frames_in_total",
        "gateway_events_delivered_total",
        "gateway_events_written_through_total",
        "gateway_fanout_seconds_bucket",
        "gateway_fanout_latency_seconds_bucket",
        "gateway_live_lease_lapses_total",
        "gateway_live_sweeps_total",
        "gateway_redis_subscriptions",
        "gateway_slow_consumer_closes_total",
        "gateway_redis_errors_total",
        "gateway_redis_reconnects_total",
    ] {
        assert!(
            gateway_text.contains(name),
            "{name} missing from the gateway's /metrics"
        );
    }
    assert!(
        metric(&gateway.http_url(), "gateway_events_delivered_total")
            .await
            .unwrap()
            >= 1.0
    );

    let dispatcher_text = scrape(&stack.dispatcher.base_url()).await;
    promtool_check(&dispatcher_text);
    for name in [
        "dispatcher_requests_total",
        "dispatcher_publish_seconds_bucket",
    ] {
        assert!(
            dispatcher_text.contains(name),
            "{name} missing from the dispatcher's /metrics"
        );
    }
}

//! Every metric the gateway exports, declared in one place (`gateway_` prefix, labels that
//! cannot explode: never a user, room or socket id).

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    pub connections_open: IntGaugeVec,
    pub connections_opened: IntCounterVec,
    pub connections_closed: IntCounterVec,
    pub frames_in: IntCounterVec,
    pub events_received: IntCounter,
    pub events_unroutable: IntCounter,
    pub events_delivered: IntCounter,
    pub events_written_through: IntCounter,
    pub fanout_seconds: Histogram,
    pub fanout_latency_seconds: Histogram,
    pub live_lease_lapses: IntCounter,
    pub live_sweeps: IntCounter,
    pub slow_consumer_closes: IntCounter,
    pub subscriptions: IntGauge,
    pub broker_lagged: IntCounter,
    pub broker_errors: IntCounter,
    pub broker_reconnects: IntCounter,
    pub upgrades_refused: IntCounterVec,
    pub heap_trims: IntCounter,
    /// The allocator's account, sampled by the trim loop ([`Metrics::set_heap`]).
    heap: IntGaugeVec,
    pub events_repeated: IntCounter,
    pub events_refilled: IntCounter,
    pub stream_gaps: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let m = Metrics {
            connections_open: IntGaugeVec::new(
                Opts::new("gateway_connections_open", "WebSocket connections currently open, by dialect."),
                &["dialect"],
            )
            .unwrap(),
            connections_opened: IntCounterVec::new(
                Opts::new("gateway_connections_opened_total", "WebSocket connections accepted, by dialect."),
                &["dialect"],
            )
            .unwrap(),
            connections_closed: IntCounterVec::new(
                Opts::new("gateway_connections_closed_total", "WebSocket connections closed, by reason."),
                &["reason"],
            )
            .unwrap(),
            frames_in: IntCounterVec::new(
                Opts::new("gateway_frames_in_total", "Client frames received, by op (`invalid` when unparsable)."),
                &["op"],
            )
            .unwrap(),
            events_received: IntCounter::new(
                "gateway_events_received_total",
                "Pub/sub messages received from the broker.",
            )
            .unwrap(),
            events_unroutable: IntCounter::new(
                "gateway_events_unroutable_total",
                "Pub/sub messages dropped because no local socket is in the room or the payload is not an event.",
            )
            .unwrap(),
            events_delivered: IntCounter::new(
                "gateway_events_delivered_total",
                "Event frames handed to client sockets (queued, or written straight in).",
            )
            .unwrap(),
            events_written_through: IntCounter::new(
                "gateway_events_written_through_total",
                "Of the delivered event frames, those the fan-out wrote straight into an idle socket (no queue, no wake-up of the socket's task).",
            )
            .unwrap(),
            fanout_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "gateway_fanout_seconds",
                    "Time to hand one broker message to every local subscriber (written straight in, which includes the socket writes, or queued).",
                )
                .buckets(vec![0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1]),
            )
            .unwrap(),
            fanout_latency_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "gateway_fanout_latency_seconds",
                    "Time from an event's publication timestamp to its frames being handed to the \
                     local subscribers (millisecond resolution; includes clock skew between hosts).",
                )
                .buckets(vec![0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0]),
            )
            .unwrap(),
            live_lease_lapses: IntCounter::new(
                "gateway_live_lease_lapses_total",
                "Times this node found its live-state lease lapsed and claimed by a sweep (it \
                 stalled longer than GATEWAY_LIVE_TTL_MS): it took a new incarnation and asked \
                 its clients to reconnect.",
            )
            .unwrap(),
            live_sweeps: IntCounter::new(
                "gateway_live_sweeps_total",
                "Lapsed node incarnations whose presence and voice entries this node removed.",
            )
            .unwrap(),
            slow_consumer_closes: IntCounter::new(
                "gateway_slow_consumer_closes_total",
                "Sockets closed because their outbound queue was full.",
            )
            .unwrap(),
            subscriptions: IntGauge::new(
                "gateway_redis_subscriptions",
                "Broker channels this node is subscribed to.",
            )
            .unwrap(),
            broker_lagged: IntCounter::new(
                "gateway_broker_lagged_messages_total",
                "Broker messages lost because the fan-out task fell behind.",
            )
            .unwrap(),
            broker_errors: IntCounter::new(
                "gateway_redis_errors_total",
                "Failed broker commands (subscribe, unsubscribe, access checks).",
            )
            .unwrap(),
            heap_trims: IntCounter::new(
                "gateway_heap_trims_total",
                "Times the node gave freed heap back to the system after its sessions fell (malloc_trim).",
            )
            .unwrap(),
            heap: IntGaugeVec::new(
                Opts::new("gateway_heap_bytes", "The allocator's heap (sampled every 5 s), by kind: in_use (allocated and not freed), held_free (free chunks in the allocator's arenas, including those a trim gave back)."),
                &["kind"],
            )
            .unwrap(),
            upgrades_refused: IntCounterVec::new(
                Opts::new("gateway_upgrades_refused_total", "WebSocket upgrades refused before a session, by reason (origin, sockets_per_user, sockets_per_ip, ip_rate)."),
                &["reason"],
            )
            .unwrap(),
            events_repeated: IntCounter::new(
                "gateway_events_repeated_total",
                "Broker messages dropped because the node had already delivered their offset (a history refill overlapping live traffic).",
            )
            .unwrap(),
            events_refilled: IntCounter::new(
                "gateway_events_refilled_total",
                "Events the node delivered from history because pub/sub had not brought them (link loss, lag).",
            )
            .unwrap(),
            stream_gaps: IntCounterVec::new(
                Opts::new("gateway_stream_gaps_total", "Gaps in a room's offsets seen by the node, by outcome: filled from history, or lost (sockets told their copy is stale)."),
                &["outcome"],
            )
            .unwrap(),
            broker_reconnects: IntCounter::new(
                "gateway_redis_reconnects_total",
                "Times the subscriber connection came back and re-subscribed.",
            )
            .unwrap(),
            registry,
        };
        m.register_all();
        m
    }

    fn register_all(&self) {
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(self.connections_open.clone()),
            Box::new(self.connections_opened.clone()),
            Box::new(self.connections_closed.clone()),
            Box::new(self.frames_in.clone()),
            Box::new(self.events_received.clone()),
            Box::new(self.events_unroutable.clone()),
            Box::new(self.events_delivered.clone()),
            Box::new(self.events_written_through.clone()),
            Box::new(self.fanout_seconds.clone()),
            Box::new(self.fanout_latency_seconds.clone()),
            Box::new(self.live_lease_lapses.clone()),
            Box::new(self.live_sweeps.clone()),
            Box::new(self.slow_consumer_closes.clone()),
            Box::new(self.subscriptions.clone()),
            Box::new(self.broker_lagged.clone()),
            Box::new(self.broker_errors.clone()),
            Box::new(self.broker_reconnects.clone()),
            Box::new(self.upgrades_refused.clone()),
            Box::new(self.heap_trims.clone()),
            Box::new(self.heap.clone()),
            Box::new(self.events_repeated.clone()),
            Box::new(self.events_refilled.clone()),
            Box::new(self.stream_gaps.clone()),
        ];
        for c in collectors {
            self.registry.register(c).expect("metric names are unique");
        }
    }

    /// Records the allocator's account (see [`crate::trim::heap`]).
    pub fn set_heap(&self, heap: &crate::trim::Heap) {
        let set = |kind: &str, bytes: u64| {
            let bytes = i64::try_from(bytes).unwrap_or(i64::MAX);
            self.heap.with_label_values(&[kind]).set(bytes);
        };
        set("in_use", heap.in_use);
        set("held_free", heap.held_free);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

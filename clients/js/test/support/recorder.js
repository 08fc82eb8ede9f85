// Everything a client emits, by name, in order: what the tests assert on.

const LIFECYCLE = ["ready", "resumed", "state", "gap", "room_lost", "disconnected", "event"];
const FRAMES = ["READY", "RESUMED", "INVALID_SESSION", "RECONNECT", "SUBSCRIBED", "ERROR", "HEARTBEAT_ACK"];

export function record(client) {
  const log = new Map();
  const timeline = [];
  for (const name of [...LIFECYCLE, ...FRAMES]) {
    log.set(name, []);
    client.on(name, (payload) => {
      log.get(name).push(payload);
      timeline.push({ name, payload });
    });
  }
  return {
    of: (name) => log.get(name),
    /** Every event recorded, in order, as `{name, payload}`. */
    timeline,
    /** The ids of the `channel_message` events of `channelId` delivered, in order. */
    messages(channelId) {
      return log
        .get("event")
        .filter((e) => e.type === "channel_message" && e.room === `channel:${channelId}`)
        .map((e) => e.data.message_id);
    },
  };
}

/** Fails unless `received` is exactly `acked`: each once, in the same order. */
export function assertExactlyOnceInOrder(assert, received, acked) {
  const seen = new Set();
  const repeated = received.filter((id) => seen.has(id) || !seen.add(id));
  const missing = acked.filter((id) => !seen.has(id));
  const extra = received.filter((id) => !acked.includes(id));
  assert.deepEqual(
    { repeated, missing, extra },
    { repeated: [], missing: [], extra: [] },
    `received ${received.length} for ${acked.length} acknowledged`,
  );
  assert.deepEqual(received, acked, "the order of the acknowledged messages");
}

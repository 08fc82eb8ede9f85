// Two gateway nodes; the client's node is killed (SIGKILL) while messages are posted through
// the dispatcher. The node's session records die with it, so RESUME on the other node is
// answered INVALID_SESSION; the client starts a new session there and rejoins every room with
// `SUBSCRIBE {since}` from the last event it delivered. At the end it has every message the
// dispatcher acknowledged (2xx), once each, in order, and the events of its automatic rooms
// published while it was away (a channel created: `channel_created` on `global`).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatClient } from "chat-gateway-client";
import * as chat from "../support/chat.js";
import { assertExactlyOnceInOrder, record } from "../support/recorder.js";
import { dispatcherUrl, gatewayOf, gateways, signalGateway } from "../support/stack.js";
import { userToken } from "../support/tokens.js";
import { eventually, settled } from "../support/wait.js";

test("a killed node: INVALID_SESSION, `since` on the other node, nothing lost", { timeout: 120_000 }, async (t) => {
  const channel = await chat.channel("601", ["602"]);
  const client = new ChatClient({
    dispatcherUrl,
    token: userToken("601"),
    rooms: [`channel:${channel}`],
    backoff: { baseMs: 100, capMs: 1000 },
  });
  t.after(() => client.close());
  const log = record(client);
  await client.connect();
  await eventually("the rooms joined", () => log.of("SUBSCRIBED").length >= 3);
  const killed = gatewayOf(client.nodeUrl);
  const other = gateways.find((g) => g !== killed);

  const poster = chat.poster(channel, "602");
  t.after(() => poster.stop());
  await eventually("messages flowing", () => log.messages(channel).length >= 20);
  signalGateway(killed, "SIGKILL");
  await eventually("the socket lost", () => log.of("disconnected").length >= 1);
  const lostAt = poster.acked.length;
  // Published while the client has no socket: a new channel, announced on `global`.
  const created = await chat.channel("602");
  await eventually("a new session on the other node", () => log.of("ready").length === 2, {
    timeoutMs: 60_000,
  });
  assert.equal(gatewayOf(client.nodeUrl), other);
  const at = poster.acked.length;
  await eventually("more messages", () => poster.acked.length >= at + 20);
  await poster.stop();
  await settled(() => log.messages(channel).length >= poster.acked.length);
  t.diagnostic(
    `${poster.acked.length} messages, ${at - lostAt} acknowledged while the client had no ` +
      `socket; ${log.of("disconnected").length} failed attempts before the other node took it`,
  );
  assert.ok(at - lostAt > 0, "messages were posted while the client was away");

  assertExactlyOnceInOrder(assert, log.messages(channel), poster.acked);
  assert.deepEqual(poster.refused, []);
  // The session could not be resumed: its record died with the node.
  assert.equal(log.of("INVALID_SESSION").length, 1);
  assert.deepEqual(log.of("resumed"), []);
  assert.deepEqual(log.of("gap"), [], "history covered the outage");
  const announced = log.of("event").filter(
    (e) => e.type === "channel_created" && e.data.channel_id === created,
  );
  assert.equal(announced.length, 1, "the channel created meanwhile, once");
  assert.equal(announced[0].room, "global");
});

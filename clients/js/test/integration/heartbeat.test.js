// Against a gateway node started with a short heartbeat interval (300 ms; a socket silent for
// 450 ms is closed with 4009): the client's heartbeats keep its socket, and a link that stops
// carrying anything is noticed by the missing ACK, given up, and the session resumed.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatClient } from "chat-gateway-client";
import * as chat from "../support/chat.js";
import { startProxy, throughProxy } from "../support/proxy.js";
import { assertExactlyOnceInOrder, record } from "../support/recorder.js";
import { dispatcherUrl, gateways } from "../support/stack.js";
import { userToken } from "../support/tokens.js";
import { eventually, settled } from "../support/wait.js";

const backoff = { baseMs: 50, capMs: 500 };

test("heartbeats at the announced interval keep the socket open", { timeout: 60_000 }, async (t) => {
  const client = new ChatClient({ dispatcherUrl, token: userToken("301"), backoff });
  t.after(() => client.close());
  const log = record(client);
  const ready = await client.connect();
  assert.equal(ready.heartbeat_interval, 300, "the stack's short interval");
  // Ten acknowledged heartbeats span 3 s: six times the 450 ms a silent socket is allowed.
  await eventually("ten heartbeats acknowledged", () => log.of("HEARTBEAT_ACK").length >= 10);
  assert.deepEqual(log.of("disconnected"), [], "the node never closed the socket");
  assert.equal(log.of("READY").length, 1);
  assert.equal(client.sessionId, ready.session_id);
  assert.equal(client.state, "open");
});

test("a missing heartbeat ACK gives the socket up; the session resumes", { timeout: 60_000 }, async (t) => {
  const proxy = await startProxy(gateways[0].url);
  t.after(() => proxy.close());
  const channel = await chat.channel("302", ["303"]);
  const client = new ChatClient({
    dispatcherUrl,
    token: userToken("302"),
    backoff,
    WebSocket: throughProxy(proxy),
  });
  t.after(() => client.close());
  const log = record(client);
  await client.connect();
  await client.subscribe(`channel:${channel}`);
  const poster = chat.poster(channel, "303");
  t.after(() => poster.stop());
  await eventually("messages flowing", () => log.messages(channel).length >= 10);

  // The link goes silent: nothing in either direction, and no close.
  proxy.freeze();
  const frozenAt = poster.acked.length;
  await eventually("the dead socket noticed", () => log.of("disconnected").length >= 1);
  assert.equal(log.of("disconnected")[0].reason, "heartbeat not acknowledged");
  assert.equal(log.of("disconnected")[0].code, undefined, "no close frame came");
  await eventually("the session resumed", () => log.of("resumed").length === 1);
  const resumedAt = poster.acked.length;
  await eventually("more messages after the resume", () => poster.acked.length >= resumedAt + 10);
  await poster.stop();
  await settled(() => log.messages(channel).length >= poster.acked.length);
  t.diagnostic(`${poster.acked.length} messages, ${resumedAt - frozenAt} from the freeze to the resume`);
  assert.ok(resumedAt - frozenAt > 0, "messages were posted while the link was dead");
  assertExactlyOnceInOrder(assert, log.messages(channel), poster.acked);
  assert.deepEqual(poster.refused, []);
  assert.deepEqual(log.of("INVALID_SESSION"), []);
  assert.deepEqual(log.of("gap"), []);
});

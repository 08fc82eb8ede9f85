// Against one gateway node behind a TCP proxy: the node becomes unreachable while messages are
// posted (every connection dropped, new ones refused), three times. The client retries with
// capped, jittered backoff, resumes its session (RESUME) once the node is back, and has every
// message the dispatcher acknowledged, once each, in order; its presence status and the
// presence it follows are set up again on the new socket.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatClient } from "chat-gateway-client";
import * as chat from "../support/chat.js";
import { startProxy, throughProxy } from "../support/proxy.js";
import { assertExactlyOnceInOrder, record } from "../support/recorder.js";
import { dispatcherUrl, gateways } from "../support/stack.js";
import { userToken } from "../support/tokens.js";
import { eventually, settled } from "../support/wait.js";

const backoff = { baseMs: 20, capMs: 200 };

test("a dropped socket: backoff, RESUME, every message once and in order", { timeout: 90_000 }, async (t) => {
  const proxy = await startProxy(gateways[0].url);
  t.after(() => proxy.close());
  const channel = await chat.channel("401", ["402"]);
  const client = new ChatClient({
    dispatcherUrl,
    token: userToken("401"),
    rooms: [`channel:${channel}`],
    backoff,
    WebSocket: throughProxy(proxy),
  });
  t.after(() => client.close());
  const log = record(client);
  const ready = await client.connect();
  await eventually("the room joined", () =>
    log.of("SUBSCRIBED").some((f) => f.room === `channel:${channel}`),
  );
  // 403 watches 401's presence, straight to the node; 401 follows 403's and is idle.
  const watcher = new ChatClient({ dispatcherUrl, token: userToken("403"), backoff });
  t.after(() => watcher.close());
  const watched = record(watcher);
  await watcher.connect();
  await watcher.followPresence({ userIds: ["401"] });
  await client.followPresence({ userIds: ["403"] });
  client.setPresence({ status: "idle" });
  const poster = chat.poster(channel, "402");
  t.after(() => poster.stop());
  await eventually("messages flowing", () => log.messages(channel).length >= 20);

  const outages = [];
  for (let drop = 1; drop <= 3; drop++) {
    const failures = log.of("disconnected").length;
    proxy.down();
    const from = poster.acked.length;
    // Unreachable long enough for several failed attempts and messages the client must catch up on.
    // Six failures in a row: the fifth's ceiling is already the cap.
    await eventually("attempts failing", () => log.of("disconnected").length >= failures + 6);
    await eventually("messages posted meanwhile", () => poster.acked.length >= from + 10);
    proxy.up();
    await eventually(`resumed after drop ${drop}`, () => log.of("resumed").length === drop);
    outages.push(poster.acked.length - from);
  }
  const at = poster.acked.length;
  await eventually("more messages", () => poster.acked.length >= at + 20);
  await poster.stop();

  // Presence survived the new sockets: the status set before, and the follow.
  const latest401 = () => watched.of("event").filter((e) => e.type === "PRESENCE_UPDATE").at(-1);
  await eventually("401 idle again for its watcher", () => latest401()?.data.status === "idle");
  watcher.setPresence({ status: "dnd" });
  await eventually("403's change reaches 401", () =>
    log.of("event").some(
      (e) => e.type === "PRESENCE_UPDATE" && e.data.user_id === "403" && e.data.status === "dnd",
    ),
  );
  await settled(() => log.messages(channel).length >= poster.acked.length);
  t.diagnostic(`${poster.acked.length} messages; acknowledged while unreachable: ${outages.join(", ")}`);

  assertExactlyOnceInOrder(assert, log.messages(channel), poster.acked);
  assert.deepEqual(poster.refused, []);
  // Resumed each time, never started over.
  assert.equal(log.of("READY").length, 1);
  assert.deepEqual(log.of("INVALID_SESSION"), []);
  assert.deepEqual(log.of("gap"), []);
  const resumed = log.of("resumed");
  assert.equal(resumed[0].resumed, ready.session_id);
  assert.equal(resumed[1].resumed, resumed[0].session_id);
  assert.equal(resumed[2].resumed, resumed[1].session_id);
  assert.equal(client.sessionId, resumed[2].session_id);
  assert.deepEqual(log.of("state").slice(0, 4), ["connecting", "open", "reconnecting", "open"]);

  // Each failed attempt waited a delay under its ceiling, min(cap, base * 2^n) for the n-th
  // failure in a row, the ceilings grew to the cap, and an open session started over at n = 0.
  let n = 0;
  let sawCap = false;
  for (const { name, payload } of log.timeline) {
    if (name === "ready" || name === "resumed") n = 0;
    if (name !== "disconnected") continue;
    const ceiling = Math.min(backoff.capMs, backoff.baseMs * 2 ** n);
    assert.ok(
      payload.reconnectInMs >= 0 && payload.reconnectInMs <= ceiling,
      `failure ${n} in a row waited ${payload.reconnectInMs} ms, over ${ceiling} ms`,
    );
    sawCap ||= ceiling === backoff.capMs;
    n += 1;
  }
  assert.ok(sawCap, "the ceilings reached the cap");
});

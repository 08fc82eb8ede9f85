// Two gateway nodes; the client's node drains (SIGTERM, a rolling restart) while messages are
// posted: it sends RECONNECT with the other node's URL and closes 4021; the client goes there
// at once, resumes the session, and has every acknowledged message once, in order.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatClient } from "chat-gateway-client";
import * as chat from "../support/chat.js";
import { assertExactlyOnceInOrder, record } from "../support/recorder.js";
import { dispatcherUrl, gatewayOf, gateways, signalGateway } from "../support/stack.js";
import { userToken } from "../support/tokens.js";
import { eventually, settled } from "../support/wait.js";

test("a draining node: RECONNECT, RESUME on the other node, nothing lost", { timeout: 90_000 }, async (t) => {
  const channel = await chat.channel("501", ["502"]);
  let discoveries = 0;
  const client = new ChatClient({
    dispatcherUrl,
    token: userToken("501"),
    fetch: (url, init) => {
      discoveries += 1;
      return fetch(url, init);
    },
    rooms: [`channel:${channel}`],
    backoff: { baseMs: 100, capMs: 1000 },
  });
  t.after(() => client.close());
  const log = record(client);
  await client.connect();
  await eventually("the room joined", () =>
    log.of("SUBSCRIBED").some((f) => f.room === `channel:${channel}`),
  );
  const draining = gatewayOf(client.nodeUrl);
  const other = gateways.find((g) => g !== draining);

  const poster = chat.poster(channel, "502");
  t.after(() => poster.stop());
  await eventually("messages flowing", () => log.messages(channel).length >= 20);
  const drainAt = poster.acked.length;
  signalGateway(draining, "SIGTERM");
  await eventually("the session resumed on the other node", () => log.of("resumed").length === 1);
  assert.equal(gatewayOf(client.nodeUrl), other);
  const at = poster.acked.length;
  await eventually("more messages", () => poster.acked.length >= at + 20);
  await poster.stop();
  await settled(() => log.messages(channel).length >= poster.acked.length);
  t.diagnostic(`${poster.acked.length} messages, ${at - drainAt} from the drain to the resume`);
  assert.ok(at - drainAt > 0, "messages were posted during the move");

  assertExactlyOnceInOrder(assert, log.messages(channel), poster.acked);
  assert.deepEqual(poster.refused, []);
  assert.deepEqual(log.of("RECONNECT").map((f) => f.data.url), [other.url]);
  const [drop] = log.of("disconnected");
  assert.equal(drop.code, 4021);
  assert.equal(drop.reconnectInMs, 0, "a node's RECONNECT is followed at once");
  assert.equal(discoveries, 1, "to the URL it names, without asking the dispatcher again");
  assert.equal(log.of("READY").length, 1);
  assert.deepEqual(log.of("INVALID_SESSION"), []);
  assert.deepEqual(log.of("gap"), []);
});

// Against a real stack (one gateway node): discovery, IDENTIFY, READY, the events a web chat
// uses, presence, and a token the server refuses. Run by tests/tests/client_js.rs.
import assert from "node:assert/strict";
import { test } from "node:test";
import WebSocket from "ws";
import { ChatClient } from "chat-gateway-client";
import * as chat from "../support/chat.js";
import { record } from "../support/recorder.js";
import { dispatcherUrl, gateways } from "../support/stack.js";
import { userToken } from "../support/tokens.js";
import { eventually, next } from "../support/wait.js";

const backoff = { baseMs: 50, capMs: 500 };

/** The `ws` WebSocket, keeping every URL opened and frame sent. */
function spyingWebSocket() {
  const spy = { urls: [], sent: [] };
  spy.WebSocket = class extends WebSocket {
    constructor(url, ...rest) {
      super(url, ...rest);
      spy.urls.push(url);
    }
    send(data, ...rest) {
      spy.sent.push(JSON.parse(data));
      return super.send(data, ...rest);
    }
  };
  return spy;
}

test("discovery, IDENTIFY (no token in the URL) and READY", { timeout: 60_000 }, async (t) => {
  const channel = await chat.channel("101", ["102"]);
  const spy = spyingWebSocket();
  const token = userToken("101");
  const client = new ChatClient({
    dispatcherUrl,
    token: async () => token,
    rooms: [`channel:${channel}`],
    backoff,
    WebSocket: spy.WebSocket,
  });
  t.after(() => client.close());
  const log = record(client);
  assert.equal(client.state, "closed");

  const ready = await client.connect();
  assert.equal(String(ready.user_id), "101");
  assert.ok(ready.heartbeat_interval > 0);
  assert.deepEqual([...ready.rooms].sort(), ["global", "user:101"]);
  assert.equal(client.userId, "101");
  assert.equal(client.sessionId, ready.session_id);
  assert.equal(client.state, "open");
  assert.deepEqual(log.of("state"), ["connecting", "open"]);

  // The node the dispatcher named, in the pass-through format, and the token only in a frame.
  assert.equal(spy.urls.length, 1);
  const opened = new URL(spy.urls[0]);
  assert.equal(`${opened.origin}${opened.pathname}`, gateways[0].url);
  assert.equal(opened.searchParams.get("format"), "events");
  assert.ok(!spy.urls[0].includes(token), "the token is not in the URL");
  assert.deepEqual(spy.sent[0], { op: "IDENTIFY", data: { token } });

  // The room given in the options is joined, and the automatic ones are asked for their position.
  await eventually("SUBSCRIBED for the rooms", () => log.of("SUBSCRIBED").length >= 3);
  assert.deepEqual(
    log.of("SUBSCRIBED").map((f) => f.room).sort(),
    [`channel:${channel}`, "global", "user:101"],
  );

  const arrives = next(client, "channel_message");
  const posted = await chat.post(channel, "102", "hello");
  const event = await arrives;
  assert.equal(event.type, "channel_message");
  assert.equal(event.room, `channel:${channel}`);
  assert.equal(event.data.message_id, posted.id);
  assert.equal(event.data.content, "hello");
  assert.equal(event.data.user_id, "102");
  assert.equal(typeof event.offset, "number");
  assert.equal(typeof event.epoch, "string");

  client.close();
  assert.equal(client.state, "closed");
  assert.deepEqual(log.of("state"), ["connecting", "open", "closed"]);
});

test("the chat events a web chat handles, typed per name", { timeout: 60_000 }, async (t) => {
  // 201 listens; 202 writes, owns the channel and moderates.
  const channel = await chat.channel("202", ["201"]);
  const other = await chat.channel("202", ["201"]);
  const client = new ChatClient({ dispatcherUrl, token: userToken("201"), backoff });
  t.after(() => client.close());
  const log = record(client);
  await client.connect();

  const subscribed = await client.subscribe(`channel:${channel}`);
  assert.equal(typeof subscribed.offset, "number");
  assert.equal(typeof subscribed.epoch, "string");
  await client.subscribe(`channel:${other}`);
  await assert.rejects(client.subscribe("channel:nobody-here"), { message: "forbidden room" });

  const first = next(client, "channel_message");
  const message = await chat.post(channel, "202", "first");
  assert.equal((await first).data.message_id, message.id);

  const replied = next(client, "message_reply");
  await chat.post(channel, "202", "a reply", { parent_message_id: message.id });
  const reply = await replied;
  assert.equal(reply.data.parent_message_id, message.id);
  assert.equal(reply.data.content, "a reply");

  const thread = await chat.dm(["201", "202"]);
  await client.subscribe(`dm:${thread.id}`);
  const directed = next(client, "DIRECT_MESSAGE_CREATE");
  await chat.postDm(thread.id, "202", "psst");
  const direct = await directed;
  assert.equal(direct.room, `dm:${thread.id}`);
  assert.equal(direct.data.content, "psst");
  assert.equal(direct.data.direct_thread_id, String(thread.id));

  // Presence: follow 202, who then comes online and sets a status and a game.
  const initial = await client.followPresence({ userIds: ["202"] });
  assert.equal(initial["202"].status, "offline");
  const writer = new ChatClient({ dispatcherUrl, token: userToken("202"), backoff });
  t.after(() => writer.close());
  await writer.connect();
  await writer.subscribe(`channel:${channel}`);
  writer.setPresence({ status: "dnd", game: { name: "chess" } });
  await eventually("202 shown dnd playing chess", () =>
    log.of("event").some(
      (e) =>
        e.type === "PRESENCE_UPDATE" &&
        e.data.user_id === "202" &&
        e.data.status === "dnd" &&
        e.data.game?.name === "chess",
    ),
  );

  const typed = next(client, "user_typing");
  assert.equal(writer.typing(`channel:${channel}`), true);
  const typing = await typed;
  assert.equal(typing.data.user_id, "202");
  assert.equal(typing.data.is_typing, true);
  assert.equal(typing.offset, undefined, "typing is live only");

  // Unsubscribing forgets the room; being kicked out of one is reported.
  await client.unsubscribe(`channel:${other}`);
  const kicked = next(client, "room_lost");
  await chat.kick(channel, "201");
  const lost = await kicked;
  assert.deepEqual(lost, { room: `channel:${channel}`, reason: "unsubscribed" });
  // The kick itself, on the user's own room (which is not ordered with the channel's).
  await eventually("user_kicked on user:201", () =>
    log.of("event").some((e) => e.type === "user_kicked" && e.room === "user:201"),
  );
  assert.deepEqual(log.of("gap"), []);
  assert.deepEqual(log.of("disconnected"), []);
});

test("a token the dispatcher refuses stops the client", { timeout: 60_000 }, async () => {
  const client = new ChatClient({
    dispatcherUrl,
    token: userToken("103", { secret: "not-the-secret" }),
    backoff,
  });
  const log = record(client);
  await assert.rejects(client.connect(), /401/);
  assert.equal(client.state, "closed");
  assert.equal(log.of("disconnected").length, 1);
  assert.equal(log.of("disconnected")[0].reconnectInMs, undefined, "no reconnect");
});

test("a token the gateway refuses (4004) stops the client after one socket", { timeout: 60_000 }, async () => {
  const spy = spyingWebSocket();
  // Discovery answered without asking the dispatcher, so the bad token reaches the gateway.
  const fetchGateway = async () => ({ status: 200, json: async () => ({ url: gateways[0].url }) });
  const client = new ChatClient({
    dispatcherUrl,
    token: userToken("104", { secret: "not-the-secret" }),
    backoff,
    WebSocket: spy.WebSocket,
    fetch: fetchGateway,
  });
  const log = record(client);
  await assert.rejects(client.connect(), /authentication failed/);
  assert.equal(client.state, "closed");
  assert.equal(log.of("disconnected")[0].code, 4004);
  assert.equal(log.of("disconnected")[0].reconnectInMs, undefined);
  assert.equal(spy.urls.length, 1, "no second socket");
});

test("the browser build works over a global WebSocket", { timeout: 60_000 }, async (t) => {
  const channel = await chat.channel("105", ["106"]);
  const platform = globalThis.WebSocket;
  globalThis.WebSocket = WebSocket; // what a browser has
  t.after(() => {
    globalThis.WebSocket = platform;
  });
  const { ChatClient: BrowserClient } = await import("../../dist/chat-gateway.js");
  const client = new BrowserClient({ dispatcherUrl, token: userToken("105"), backoff });
  t.after(() => client.close());
  await client.connect();
  await client.subscribe(`channel:${channel}`);
  const arrives = next(client, "channel_message");
  const posted = await chat.post(channel, "106", "from the page");
  assert.equal((await arrives).data.message_id, posted.id);
});

// The client's connection logic against a scripted WebSocket and dispatcher: when it
// reconnects and when it must not, where it goes after RECONNECT, what it resumes with.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ChatClient } from "../../dist/index.js";

/** A WebSocket whose server side the test plays; each client gets its own class (`sockets`). */
class FakeSocket {
  readyState = 0;
  sent = [];
  closedWith = undefined;
  onopen = null;
  onmessage = null;
  onclose = null;
  onerror = null;

  constructor(url) {
    this.url = url;
    this.constructor.opened.push(this);
  }
  send(data) {
    this.sent.push(JSON.parse(data));
  }
  close(code) {
    this.closedWith = code;
    this.readyState = 3;
  }
  // ---- the server's side ----
  accept() {
    this.readyState = 1;
    this.onopen?.({});
  }
  deliver(frame) {
    this.onmessage?.({ data: JSON.stringify(frame) });
  }
  hangUp(code, reason = "") {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

const READY = (seq = 1) => ({
  type: "READY",
  data: { session_id: "s-1", user_id: 7, heartbeat_interval: 60_000, rooms: [] },
  seq,
});

/**
 * A client over its own FakeSocket class, whose discovery answers `ws://node-a/api/ws` and
 * counts calls; closed when the test ends.
 */
function scripted(t, options = {}) {
  const Socket = class extends FakeSocket {
    static opened = [];
  };
  const discovery = { calls: 0 };
  const client = new ChatClient({
    dispatcherUrl: "http://dispatcher",
    token: "jwt",
    backoff: { baseMs: 1, capMs: 5 },
    WebSocket: Socket,
    fetch: async (url, init) => {
      discovery.calls += 1;
      assert.equal(url, "http://dispatcher/api/gateway");
      assert.equal(init.headers.authorization, "Bearer jwt");
      return { status: 200, json: async () => ({ url: "ws://node-a/api/ws" }) };
    },
    ...options,
  });
  const log = { disconnected: [], state: [] };
  client.on("disconnected", (d) => log.disconnected.push(d));
  client.on("state", (s) => log.state.push(s));
  t.after(() => client.close());
  /** The `count`-th socket the client opened, once it has. */
  const socket = async (count) => {
    for (let i = 0; i < 200 && Socket.opened.length < count; i++) await tick(1);
    assert.equal(Socket.opened.length, count, `socket ${count} opened`);
    return Socket.opened[count - 1];
  };
  /** Connects, with the first socket answering READY. */
  const open = async () => {
    const connected = client.connect();
    const first = await socket(1);
    first.accept();
    first.deliver(READY());
    await connected;
    return first;
  };
  return { client, discovery, log, socket, open, sockets: Socket.opened };
}

const tick = (ms = 0) => new Promise((resolve) => setTimeout(resolve, ms));

test("IDENTIFY on a new socket, in the pass-through format, token only in the frame", async (t) => {
  const { client, open } = scripted(t);
  const socket = await open();
  assert.equal(socket.url, "ws://node-a/api/ws?format=events");
  assert.deepEqual(socket.sent[0], { op: "IDENTIFY", data: { token: "jwt" } });
  assert.equal(client.userId, "7");
  client.close();
  assert.equal(socket.closedWith, 1000);
});

test("RECONNECT with a url: there at once, no discovery, RESUME with the last seq", async (t) => {
  const { client, discovery, log, open, socket } = scripted(t);
  const first = await open();
  first.deliver({ type: "channel_created", room: "global", data: {}, offset: 1, epoch: "g", seq: 2 });
  first.deliver({ type: "RECONNECT", data: { url: "ws://node-b/api/ws" } });
  first.hangUp(4021, "reconnect");
  const second = await socket(2);
  assert.equal(second.url, "ws://node-b/api/ws?format=events");
  assert.equal(discovery.calls, 1);
  assert.equal(log.disconnected[0].reconnectInMs, 0);
  second.accept();
  assert.deepEqual(second.sent[0], { op: "RESUME", token: "jwt", session_id: "s-1", seq: 2 });
});

test("RECONNECT without a url asks the dispatcher again", async (t) => {
  const { discovery, open, socket } = scripted(t);
  const first = await open();
  first.deliver({ type: "RECONNECT", data: { url: null } });
  first.hangUp(4021, "reconnect");
  const second = await socket(2);
  assert.equal(second.url, "ws://node-a/api/ws?format=events");
  assert.equal(discovery.calls, 2);
});

for (const code of [4002, 4004, 4022]) {
  test(`close ${code} ends the client: no other socket`, async (t) => {
    const { client, log, open, sockets } = scripted(t);
    const socket = await open();
    socket.hangUp(code, "final");
    await tick(20); // several backoff ceilings
    assert.equal(sockets.length, 1);
    assert.equal(client.state, "closed");
    assert.deepEqual(log.disconnected, [{ code, reason: "final" }]);
  });
}

test("other closes reconnect; close() during the wait stops it for good", async (t) => {
  const { client, log, open, sockets } = scripted(t, { backoff: { baseMs: 30, capMs: 30 } });
  const socket = await open();
  const pending = client.subscribe("channel:1");
  socket.hangUp(1006);
  await tick();
  assert.equal(client.state, "reconnecting");
  assert.ok(log.disconnected[0].reconnectInMs <= 30);
  client.close();
  await assert.rejects(pending, /closed/);
  await tick(60);
  assert.equal(sockets.length, 1, "no socket after close()");
  assert.deepEqual(log.state, ["connecting", "open", "reconnecting", "closed"]);
});

test("a gateway that does not know RESUME gets IDENTIFY instead", async (t) => {
  const { open, socket } = scripted(t);
  const first = await open();
  first.hangUp(1006);
  const second = await socket(2);
  second.accept();
  assert.equal(second.sent[0].op, "RESUME");
  second.deliver({ type: "ERROR", data: "unknown op" });
  assert.deepEqual(second.sent[1], { op: "IDENTIFY", data: { token: "jwt" } });
});

test("a heartbeat still unanswered when the next is due gives the socket up", async (t) => {
  const { client, log, socket: opened } = scripted(t);
  const connected = client.connect();
  const socket = await opened(1);
  socket.accept();
  socket.deliver({ ...READY(), data: { ...READY().data, heartbeat_interval: 5 } });
  await connected;
  for (let i = 0; i < 200 && log.disconnected.length === 0; i++) await tick(1);
  assert.equal(log.disconnected[0]?.reason, "heartbeat not acknowledged");
  assert.deepEqual(socket.sent.filter((f) => f.op === "HEARTBEAT"), [{ op: "HEARTBEAT" }]);
  assert.equal(socket.closedWith, 4000, "the browser socket is asked to close");
  await opened(2);
});

test("acknowledged heartbeats keep the socket", async (t) => {
  const { client, log, socket: opened } = scripted(t);
  const connected = client.connect();
  const socket = await opened(1);
  socket.accept();
  socket.deliver({ ...READY(), data: { ...READY().data, heartbeat_interval: 5 } });
  await connected;
  const acknowledge = setInterval(() => {
    if (socket.sent.at(-1)?.op === "HEARTBEAT") socket.deliver({ type: "HEARTBEAT_ACK" });
  }, 1);
  for (let i = 0; i < 200 && socket.sent.filter((f) => f.op === "HEARTBEAT").length < 5; i++) {
    await tick(1);
  }
  clearInterval(acknowledge);
  assert.ok(socket.sent.filter((f) => f.op === "HEARTBEAT").length >= 5);
  assert.deepEqual(log.disconnected, []);
});

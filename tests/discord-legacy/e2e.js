#!/usr/bin/env node
// End-to-end check: an unmodified discord.js 6.1.0 (Discord gateway v3, early 2016)
// logs in against this system, gets READY, and receives a MESSAGE_CREATE.
//
//   DISPATCHER_URL   dispatcher base URL               (default http://127.0.0.1:8081)
//   SERVICE_TOKEN    a DISPATCHER_SERVICE_TOKENS entry (default dev-service-token)
//   JWT_SECRET       HS256 secret the stack verifies    (default dev-secret)
//   TIMEOUT_MS       give up after this long            (default 20000)
//   LIB_OPTIONS      JSON options for new Discord.Client(...) (default {})
//   KEEP_MS          after the checks, stay connected this long (heartbeat check; default 0)
//   LIB_DEBUG=1      print the library's debug/warn events and every raw gateway packet
//   (tests/tests/dialect_discord_legacy.rs runs it with LIB_OPTIONS='{"forceFetchUsers":true}',
//   which makes the library send op 8 after READY and wait for the member chunks.)
//
// The script makes its own channel and users with the service token, so it needs no
// seeded data: a listener user (who logs in with discord.js) owns a new channel, an
// author user is added to it, the script posts as the author through the dispatcher,
// and the library must emit "message" with that content, channel and author.
"use strict";

const crypto = require("crypto");
const http = require("http");
const https = require("https");
const { URL } = require("url");

const DISPATCHER_URL = (process.env.DISPATCHER_URL || "http://127.0.0.1:8081").replace(/\/+$/, "");
const SERVICE_TOKEN = process.env.SERVICE_TOKEN || "dev-service-token";
const JWT_SECRET = process.env.JWT_SECRET || "dev-secret";
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 20000);
const DEBUG = !!process.env.LIB_DEBUG;

// ---- The only adaptation: where the library's REST calls go. ---------------------------
// discord.js 6.1.0 has no option for its API base: lib/Constants.js builds every endpoint
// from the module constant API = "https://discordapp.com/api" when it loads, and superagent
// 1.x ignores HTTP(S)_PROXY. loginWithToken() makes exactly one REST call before it opens
// the socket, GET Endpoints.GATEWAY (with the raw token in `authorization`), so we rewrite
// the exported endpoint strings at run time (no file of the library is changed). The
// gateway URL itself comes from our dispatcher's answer.
const Constants = require("discord.js/lib/Constants");
const API = DISPATCHER_URL + "/api";
for (const key of Object.keys(Constants.Endpoints)) {
  const v = Constants.Endpoints[key];
  if (typeof v === "string") Constants.Endpoints[key] = v.replace(Constants.API, API);
}
const Discord = require("discord.js");

function b64url(buf) {
  return Buffer.from(buf).toString("base64").replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
}
function mintJwt(sub, name) {
  const header = b64url(JSON.stringify({ typ: "JWT", alg: "HS256" }));
  const payload = b64url(JSON.stringify({ sub, name, exp: Math.floor(Date.now() / 1000) + 3600 }));
  const sig = b64url(crypto.createHmac("sha256", JWT_SECRET).update(header + "." + payload).digest());
  return header + "." + payload + "." + sig;
}

function api(method, path, body) {
  const url = new URL(DISPATCHER_URL + path);
  const data = body === undefined ? null : Buffer.from(JSON.stringify(body));
  const headers = { Authorization: "Bearer " + SERVICE_TOKEN };
  if (data) {
    headers["Content-Type"] = "application/json";
    headers["Content-Length"] = data.length;
  }
  return new Promise((resolve, reject) => {
    const req = (url.protocol === "https:" ? https : http).request(url, { method, headers }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        if (res.statusCode >= 300) {
          return reject(new Error(`${method} ${path}: HTTP ${res.statusCode} ${text}`));
        }
        resolve(text ? JSON.parse(text) : null);
      });
    });
    req.on("error", reject);
    if (data) req.write(data);
    req.end();
  });
}

function withTimeout(p, ms, what) {
  return Promise.race([p, new Promise((_, rej) => setTimeout(() => rej(new Error("no " + what + " within " + ms + " ms")), ms))]);
}

function fail(msg) {
  console.error("FAIL: " + msg);
  process.exit(1);
}

async function main() {
  // Numeric ids, like Discord's snowflakes.
  const base = String(Date.now());
  const listener = { id: base + "1", name: "legacy-listener" };
  const author = { id: base + "2", name: "legacy-author" };
  const channelId = base + "0";

  await api("POST", "/api/v1/channels", { name: "legacy-" + base, id: channelId, user_id: listener.id });
  await api("PUT", `/api/v1/channels/${channelId}/members/${author.id}`, { username: author.name });
  console.log(`setup: channel ${channelId}, listener ${listener.id}, author ${author.id}`);

  const token = mintJwt(listener.id, listener.name);
  // Client options as JSON, e.g. LIB_OPTIONS='{"forceFetchUsers":true}' (defaults:
  // compress: true, largeThreshold: 250, revive: false, forceFetchUsers: false).
  const options = JSON.parse(process.env.LIB_OPTIONS || "{}");
  // With forceFetchUsers the library asks (op 8) for the members of every large guild that
  // READY did not list in full, and emits "ready" only once their chunks came: one guild of
  // 260 members (READY lists at most 250) exercises it.
  const bigId = base + "9";
  const bigSize = 260;
  if (options.forceFetchUsers) {
    await api("POST", "/api/v1/channels", { name: "big-" + base, id: bigId, user_id: listener.id });
    for (let i = 0; i < bigSize - 1; i++) {
      await api("PUT", `/api/v1/channels/${bigId}/members/${base}m${i}`, {});
    }
    console.log(`setup: guild ${bigId} with ${bigSize} members`);
  }
  const client = new Discord.Client(options);
  const seen = [];
  client.on("raw", (p) => {
    seen.push(p.t || "op" + p.op);
    if (DEBUG) console.log("raw <-", JSON.stringify(p).slice(0, 400));
  });
  if (DEBUG) {
    client.on("debug", (m) => console.log("debug:", m));
    client.on("warn", (m) => console.log("warn:", m));
  }
  client.on("error", (e) => console.error("library error:", e && (e.stack || e)));
  client.on("disconnected", () => console.log("library: disconnected"));

  const timer = setTimeout(() => fail(`timed out after ${TIMEOUT_MS} ms; packets seen: ${seen.join(", ")}`), TIMEOUT_MS);

  const ready = new Promise((resolve) => client.once("ready", resolve));
  await client.loginWithToken(token);
  console.log("login: GET /api/gateway ok, socket opening");
  await ready;

  const me = client.user;
  const server = client.servers.get("id", channelId);
  const channel = client.channels.get("id", channelId);
  console.log(`ready: user ${me.id} (${me.username}#${me.discriminator}), ${client.servers.length} server(s), ` +
    `${client.channels.length} channel(s), ${client.users.length} user(s)`);
  if (me.id !== listener.id) fail(`READY user id ${me.id}, expected ${listener.id}`);
  if (!server) fail(`guild ${channelId} missing from READY`);
  if (!channel) fail(`channel ${channelId} missing from READY`);
  if (server.owner && server.owner.id !== listener.id) fail(`server owner ${server.owner.id}`);
  console.log(`ready: server "${server.name}" owner ${server.ownerID}, members [${server.members.map((u) => u.id + ":" + u.username).join(", ")}], ` +
    `roles [${server.roles.map((r) => r.name).join(", ")}], channel #${channel.name} (${channel.type})`);

  if (options.forceFetchUsers) {
    const big = client.servers.get("id", bigId);
    if (!big) fail(`guild ${bigId} missing from READY`);
    if (big.members.length !== bigSize) fail(`guild ${bigId} has ${big.members.length} members after op 8, expected ${bigSize}`);
    console.log(`ok   op 8: guild ${bigId} has all ${bigSize} members after GUILD_MEMBERS_CHUNK`);
  }

  const content = "hello from the v3 era " + base;
  const gotMessage = new Promise((resolve) => {
    client.on("message", (msg) => {
      if (msg.content === content) resolve(msg);
    });
  });
  const posted = await api("POST", `/api/v1/channels/${channelId}/messages`, { content, author_id: author.id });
  console.log(`posted: message ${posted.id} via the dispatcher`);
  const msg = await gotMessage;
  clearTimeout(timer);

  const checks = [
    ["content", msg.content, content],
    ["id", msg.id, posted.id],
    ["channel.id", msg.channel && msg.channel.id, channelId],
    ["channel is the cached TextChannel", msg.channel === channel, true],
    ["server.id", msg.channel && msg.channel.server && msg.channel.server.id, channelId],
    ["author.id", msg.author && msg.author.id, author.id],
    ["author.username", msg.author && msg.author.username, author.name],
    ["timestamp parsed", Number.isFinite(msg.timestamp), true],
  ];
  let ok = true;
  for (const [name, got, want] of checks) {
    const pass = got === want;
    ok = ok && pass;
    console.log(`${pass ? "ok  " : "BAD "} ${name}: ${JSON.stringify(got)}${pass ? "" : " (expected " + JSON.stringify(want) + ")"}`);
  }
  if (!ok) fail("message event did not match");

  // DM: opening a DM must reach the library as CHANNEL_CREATE (a PMChannel) and a DM
  // message as MESSAGE_CREATE on that PMChannel.
  const dmCreated = new Promise((resolve) => client.on("channelCreated", (c) => c.isPrivate && resolve(c)));
  const dm = await api("POST", "/api/v1/dms", { participants: [listener.id, author.id] });
  const pm = await withTimeout(dmCreated, 5000, "channelCreated for DM " + dm.id);
  const dmContent = "a private hello " + base;
  const gotDm = new Promise((resolve) => client.on("message", (m) => m.content === dmContent && resolve(m)));
  await api("POST", `/api/v1/dms/${dm.id}/messages`, { content: dmContent, author_id: author.id });
  const dmMsg = await withTimeout(gotDm, 5000, "DM message event");
  const dmChecks = [
    ["dm channel id", pm.id, dm.id],
    ["dm recipient id", pm.recipient && pm.recipient.id, author.id],
    ["dm message channel is the PMChannel", dmMsg.channel === pm, true],
    ["dm message author.id", dmMsg.author.id, author.id],
  ];
  for (const [name, got, want] of dmChecks) {
    const pass = got === want;
    ok = ok && pass;
    console.log(`${pass ? "ok  " : "BAD "} ${name}: ${JSON.stringify(got)}${pass ? "" : " (expected " + JSON.stringify(want) + ")"}`);
  }
  console.log(`note: DM message author.username is ${JSON.stringify(dmMsg.author.username)} (the cached User from READY/CHANNEL_CREATE is reused by id)`);
  if (!ok) fail("DM events did not match");

  // Optionally stay connected past a few heartbeat intervals (discord.js sends op 1 every
  // heartbeat_interval ms from READY): the node must not close the socket.
  const keepMs = Number(process.env.KEEP_MS || 0);
  if (keepMs > 0) {
    let closed = false;
    client.on("disconnected", () => (closed = true));
    let beats = 0;
    const ws = client.internal.websocket;
    const send = ws.send.bind(ws);
    ws.send = (d, ...rest) => { if (String(d).startsWith('{"op":1')) beats++; return send(d, ...rest); };
    console.log(`keep: staying connected ${keepMs} ms`);
    await new Promise((r) => setTimeout(r, keepMs));
    console.log(`keep: ${beats} keepalive(s) sent, socket ${closed ? "CLOSED" : "still open"}`);
    if (closed) fail("the node closed the socket while the library was heartbeating");
  }

  // Op 3 status updates as this library sends them (InternalClient.setStatus always sends
  // game: {name: this.game}): with a game set, {idle_since, game: {name: "..."}}; with no
  // game, {name: undefined} serializes to game: {} and a cleared game to game: {name: null}
  // (which the node first closed with 4002; now it reads them as no game).
  {
    const ws = client.internal.websocket;
    let closeCode = null;
    ws.on("close", (code, reason) => (closeCode = code + " " + reason));
    const step = async (label, fn) => {
      if (closeCode) return;
      await fn();
      await new Promise((r) => setTimeout(r, 700));
      console.log(`${closeCode ? "BAD " : "ok  "} op 3 ${label}: ${closeCode ? "node closed the socket " + closeCode : "accepted"}`);
    };
    await step('setPlayingGame("legacy test") -> game {name:"legacy test"}, idle_since null', () => client.setPlayingGame("legacy test"));
    await step('setStatus("idle") -> idle_since <ms>, game {name:"legacy test"}', () => client.setStatus("idle"));
    await step('setStatus("online", null) -> idle_since null, game {name:null}', () => client.setStatus("online", null));
    if (closeCode) fail("op 3 status update refused");
  }

  // What the library's own REST calls get from us (informational; the REST surface is not
  // Discord's: messages are POST /api/v1/channels/{id}/messages).
  try {
    await client.sendMessage(channel, "sent through discord.js");
    console.log("note: client.sendMessage() succeeded");
  } catch (e) {
    console.log(`note: client.sendMessage() -> POST /api/channels/${channelId}/messages failed: ${e.status || e.message}`);
  }
  try {
    await client.logout();
    console.log("note: client.logout() succeeded");
  } catch (e) {
    console.log("note: client.logout() -> POST /api/auth/logout failed: " + (e.status || e.message));
  }
  console.log("packets seen: " + seen.join(", "));
  console.log("PASS");
  process.exit(0);
}

main().catch((e) => fail(e && (e.stack || e.message || e)));

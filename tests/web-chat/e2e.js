// Drives the devstack web chat in headless Chromium (Debian's /usr/bin/chromium through
// playwright-core): alice and bob, each in their own browser context and assigned to a
// different gateway node, create and join a channel, talk, edit and delete, see each other
// typing and online, open a DM, and alice kicks bob. bob, and carol (who never opens the
// page), also open DMs with alice through the HTTP API: alice's page finds them and names
// them. Every step asserts what each user sees; any console error or page error in either
// page fails the run. A screenshot of each page is written to ARTIFACTS_DIR
// (web-chat-<user>.png), also when a step fails.
//
// Environment: WEB_URL (the web chat, e.g. http://127.0.0.1:8088), ARTIFACTS_DIR,
// CHROMIUM (default /usr/bin/chromium), TIMEOUT_MS (per wait, default 15000).

"use strict";

const { chromium } = require("playwright-core");
const fs = require("node:fs");
const path = require("node:path");

const WEB_URL = process.env.WEB_URL || "http://127.0.0.1:8088";
const ARTIFACTS_DIR = process.env.ARTIFACTS_DIR || path.join(__dirname, "artifacts");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const TIMEOUT_MS = Number(process.env.TIMEOUT_MS || 15000);
const CHANNEL = "launch-plans";

const problems = []; // console errors and page errors, from either page

function check(condition, message) {
  if (!condition) throw new Error(`assertion failed: ${message}`);
}

function step(text) {
  console.log(`step: ${text}`);
}

async function openUser(browser, name) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT_MS);
  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`${name}: console error: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`${name}: page error: ${error.message}`));
  await page.goto(WEB_URL);
  await page.locator("#signin-name").fill(name);
  await page.keyboard.press("Enter");
  await page.locator("#node", { hasText: /^dev-gateway-\d+$/ }).waitFor();
  return page;
}

/** Waits (bounded) until the message box has the keyboard focus. */
const messageBoxFocused = (page, when) =>
  page
    .waitForFunction(() => document.activeElement?.id === "message-input", null, { timeout: TIMEOUT_MS })
    .catch(() => check(false, `the message box has the focus ${when}`));
const message = (page, text) => page.locator("#messages .message", { hasText: text });
const member = (page, name) => page.locator(`#member-list .member[data-user="${name}"]`);

/** A JSON request from Node, outside the pages; fails the run on an answer other than 2xx. */
async function http(method, url, token, body) {
  const headers = { "Content-Type": "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, { method, headers, body: body && JSON.stringify(body) });
  const text = await response.text();
  check(response.ok, `${method} ${url} answers 2xx, not ${response.status} ${text}`);
  return JSON.parse(text);
}

/** `name` opens a DM with alice and writes in it through the dispatcher's API (not a page). */
async function dmThroughTheApi(name, content) {
  const { dispatcher_url: api } = await http("GET", `${WEB_URL}/config.json`);
  const signIn = (who) => http("POST", `${WEB_URL}/dev/token`, null, { name: who });
  const [alice, user] = [await signIn("alice"), await signIn(name)];
  const dm = await http("POST", `${api}/api/v1/dms`, user.token, { participants: [alice.user_id] });
  await http("POST", `${api}/api/v1/dms/${encodeURIComponent(dm.id)}/messages`, user.token, { content });
  return `dm:${dm.id}`;
}

async function run(browser, pages) {
  step("alice and bob sign in, each on their own gateway node");
  const alice = (pages.alice = await openUser(browser, "alice"));
  const bob = (pages.bob = await openUser(browser, "bob"));
  const nodes = { alice: await alice.textContent("#node"), bob: await bob.textContent("#node") };
  console.log(`nodes: alice on ${nodes.alice}, bob on ${nodes.bob}`);
  check(nodes.alice !== nodes.bob, `alice and bob are on different nodes (${nodes.alice}, ${nodes.bob})`);
  await messageBoxFocused(alice, "after sign-in");

  step("each sees the other online");
  await alice.locator('#online-list [data-user="bob"] .dot.online').waitFor();
  await bob.locator('#online-list [data-user="alice"] .dot.online').waitFor();

  step(`alice creates the public channel #${CHANNEL}`);
  await alice.getByRole("button", { name: "Create a channel" }).click();
  await alice.locator("#new-channel-name").fill(CHANNEL);
  await alice.keyboard.press("Enter");
  await alice.locator("#room-title", { hasText: `# ${CHANNEL}` }).waitFor();
  await alice.locator("#room-meta", { hasText: "you are owner" }).waitFor();
  await messageBoxFocused(alice, "in the new channel");

  step("bob sees it live among the public channels and joins it");
  const joinable = bob.locator("#public-channels li", { hasText: CHANNEL });
  await joinable.getByRole("button", { name: `Join #${CHANNEL}` }).click();
  await bob.locator("#room-title", { hasText: `# ${CHANNEL}` }).waitFor();
  await bob.locator("#my-channels", { hasText: CHANNEL }).waitFor();
  await alice.locator("#messages .system", { hasText: "bob joined the channel" }).waitFor();
  await member(alice, "bob").waitFor();

  step("both send; each sees the other's message live");
  await alice.keyboard.type("Hello bob, welcome aboard");
  await alice.keyboard.press("Enter");
  await message(bob, "Hello bob, welcome aboard").locator(".author", { hasText: "alice" }).waitFor();
  await bob.locator("#message-input").focus();
  await bob.keyboard.type("Hi alice, glad to be here");
  step("alice sees bob typing");
  await alice.locator("#typing", { hasText: "bob is typing…" }).waitFor();
  await bob.keyboard.press("Enter");
  await message(alice, "Hi alice, glad to be here").waitFor();
  await alice.locator("#typing", { hasText: /^$/ }).waitFor();

  step("Shift+Enter writes a second line");
  await alice.keyboard.type("first line");
  await alice.keyboard.press("Shift+Enter");
  await alice.keyboard.type("second line");
  await alice.keyboard.press("Enter");
  await message(alice, "first line").waitFor();
  const twoLines = message(bob, "first line");
  await twoLines.waitFor();
  check(
    (await twoLines.locator(".content").innerText()).includes("first line\nsecond line"),
    "the message keeps its line break",
  );

  step("alice presses Up to edit her last message, Escape cancels");
  await alice.keyboard.press("ArrowUp");
  await alice.locator("#edit-bar").waitFor();
  check((await alice.inputValue("#message-input")) === "first line\nsecond line", "Up loads the last message");
  await alice.keyboard.press("Escape");
  await alice.locator("#edit-bar").waitFor({ state: "hidden" });
  check((await alice.inputValue("#message-input")) === "", "Escape empties the box");

  step("alice edits it; bob sees the new text and the edited marker live");
  await alice.keyboard.press("ArrowUp");
  await alice.keyboard.press("ControlOrMeta+A");
  await alice.keyboard.type("plans are final: Friday, 10:00");
  await alice.keyboard.press("Enter");
  const edited = message(bob, "plans are final");
  await edited.locator(".edited").waitFor();
  check((await message(bob, "second line").count()) === 0, "bob no longer sees the old text");

  step("alice deletes her first message; it disappears for bob");
  const first = message(alice, "Hello bob, welcome aboard");
  await first.hover();
  await first.getByRole("button", { name: "Delete message" }).click();
  await message(bob, "Hello bob, welcome aboard").waitFor({ state: "detached" });
  await message(alice, "Hello bob, welcome aboard").waitFor({ state: "detached" });
  check((await message(bob, "Hi alice, glad to be here").count()) === 1, "bob's message stays");

  step("alice opens a DM with bob from the online list");
  await alice.locator('#online-list [data-user="bob"]').click();
  await alice.locator("#room-title", { hasText: "@ bob" }).waitFor();
  await messageBoxFocused(alice, "in the DM");
  await alice.keyboard.type("psst: the launch is on Friday");
  await alice.keyboard.press("Enter");
  await message(alice, "the launch is on Friday").waitFor();

  step("bob gets the DM, unread, and answers");
  const dm = bob.locator("#dm-list button.room", { hasText: "alice" });
  await dm.locator(".badge").waitFor();
  await dm.click();
  await message(bob, "the launch is on Friday").locator(".author", { hasText: "alice" }).waitFor();
  await bob.keyboard.type("my lips are sealed");
  await bob.keyboard.press("Enter");
  await message(alice, "my lips are sealed").waitFor();

  step("bob opens another DM with alice through the API; alice's page finds it, named bob");
  const apiDm = await dmThroughTheApi("bob", "a word in private, from a script");
  const found = alice.locator(`#dm-list button.room[data-room="${apiDm}"]`);
  await found.locator(".label", { hasText: /^bob$/ }).waitFor();
  await found.locator(".badge").waitFor();
  await found.click();
  await alice.locator("#room-title", { hasText: /^@ bob$/ }).waitFor();
  await message(alice, "from a script").locator(".author", { hasText: /^bob$/ }).waitFor();

  step("carol, whom alice's page never met, does the same; alice's page looks up her name");
  const carolDm = await dmThroughTheApi("carol", "hello alice, carol here");
  const carol = alice.locator(`#dm-list button.room[data-room="${carolDm}"]`);
  await carol.locator(".label", { hasText: /^carol$/ }).waitFor();
  await carol.click();
  await message(alice, "carol here").locator(".author", { hasText: /^carol$/ }).waitFor();
  await member(alice, "carol").waitFor();

  step("bob goes back to the channel; alice (owner) kicks him");
  await bob.locator("#my-channels button.room", { hasText: CHANNEL }).click();
  await message(bob, "plans are final").waitFor();
  await alice.locator("#my-channels button.room", { hasText: CHANNEL }).click();
  await member(alice, "bob").getByRole("button", { name: "Kick bob" }).click();

  step("bob sees the kick live; alice sees him gone");
  await bob.locator("#banner", { hasText: `You were kicked from #${CHANNEL}.` }).waitFor();
  await bob.locator("#gate-text", { hasText: `You were kicked from #${CHANNEL}.` }).waitFor();
  check(await bob.locator("#message-input").isDisabled(), "bob's message box is disabled after the kick");
  await bob.locator("#public-channels li", { hasText: CHANNEL }).locator(".tag", { hasText: "kicked" }).waitFor();
  check((await bob.locator("#my-channels", { hasText: CHANNEL }).count()) === 0, "the channel left bob's list");
  await alice.locator("#messages .system", { hasText: "bob was kicked" }).waitFor();
  await member(alice, "bob").waitFor({ state: "detached" });
  await bob.locator("#my-channels", { hasText: "general" }).waitFor();

  step("nothing went to either console");
  check(problems.length === 0, "no console errors");
}

async function main() {
  fs.mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  console.log(`chromium ${browser.version()} at ${CHROMIUM}, web chat at ${WEB_URL}`);
  const pages = {};
  let failure = null;
  try {
    await run(browser, pages);
  } catch (error) {
    failure = error;
  }
  for (const [name, page] of Object.entries(pages)) {
    const file = path.join(ARTIFACTS_DIR, `web-chat-${name}.png`);
    await page.screenshot({ path: file }).catch((e) => console.log(`screenshot of ${name} failed: ${e.message}`));
    console.log(`screenshot: ${file}`);
  }
  await browser.close();
  for (const problem of problems) console.log(problem);
  if (failure || problems.length) {
    console.log(`\nFAIL: ${failure ? failure.stack : `${problems.length} console or page error(s)`}`);
    process.exit(1);
  }
  console.log("\nPASS");
}

main().catch((error) => {
  console.log(`\nFAIL: ${error.stack}`);
  process.exit(1);
});

// Rendering: the sidebar lists, the open room (header, messages, typing line, composer
// state) and the member list, rebuilt from the app's state after every change. User text
// only ever goes through textContent.

import { rank, typingText } from "./store.js";

const $ = (id) => document.getElementById(id);

/** `h("li", {class: "x", onclick}, child, "text")` */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// A stable colour per user, spread round the wheel by the golden angle.
function hue(id) {
  let n = 0;
  for (const c of String(id)) n = (n * 31 + c.charCodeAt(0)) % 100_003;
  return Math.round((n * 137.508) % 360);
}

export function avatar(id, name, size = "") {
  return h(
    "span",
    { class: `avatar ${size}`, style: `--hue: ${hue(id)}`, "aria-hidden": "true" },
    (name || "?").slice(0, 1).toUpperCase(),
  );
}

const dot = (status) =>
  h("span", { class: `dot ${status ?? "offline"}`, title: status ?? "offline" });

// A DM is named after the others in it; its dot is online when one of them is.
const dmName = (app, dm) => app.others(dm).map((id) => app.name(id)).join(", ");
const dmStatus = (app, dm) => app.others(dm).map((id) => app.status(id)).find((s) => s !== "offline") ?? "offline";

function roomButton(app, key, label, extra = {}) {
  const room = app.rooms.get(key);
  const unread = room?.unread ?? 0;
  return h(
    "li",
    {},
    h(
      "button",
      {
        class: `room${app.current === key ? " active" : ""}${unread ? " unread" : ""}`,
        "aria-current": app.current === key ? "page" : null,
        dataset: { room: key },
        onclick: () => app.open(key),
      },
      extra.icon ?? h("span", { class: "hash", "aria-hidden": "true" }, "#"),
      h("span", { class: "label" }, label),
      extra.tag ? h("span", { class: "tag" }, extra.tag) : null,
      unread ? h("span", { class: "badge", "aria-label": `${unread} unread` }, unread) : null,
    ),
  );
}

export function renderSidebar(app) {
  const channels = [...app.channels.values()].sort((a, b) => a.name.localeCompare(b.name));
  const mine = channels.filter((c) => c.role != null);
  const others = channels.filter((c) => c.role == null && (c.public || c.lost));
  $("my-channels").replaceChildren(
    ...(mine.length
      ? mine.map((c) => roomButton(app, `channel:${c.id}`, c.name))
      : [h("li", { class: "empty" }, "No channels yet: create or join one.")]),
  );
  $("public-channels").replaceChildren(
    ...(others.length
      ? others.map((c) =>
          h(
            "li",
            { class: "joinable" },
            roomButton(app, `channel:${c.id}`, c.name, { tag: c.lost }).firstChild,
            c.banned
              ? null
              : h(
                  "button",
                  { class: "join small", onclick: () => app.join(c.id), "aria-label": `Join #${c.name}` },
                  "Join",
                ),
          ),
        )
      : [h("li", { class: "empty" }, "Nothing else to join.")]),
  );
  const dms = [...app.dms.values()].sort((a, b) => dmName(app, a).localeCompare(dmName(app, b)));
  $("dm-list").replaceChildren(
    ...(dms.length
      ? dms.map((d) => roomButton(app, `dm:${d.id}`, dmName(app, d), { icon: dot(dmStatus(app, d)) }))
      : [h("li", { class: "empty" }, "Click someone online to message them.")]),
  );
  const online = [...app.users.values()]
    .filter((u) => u.status && u.status !== "offline")
    .map((u) => ({ ...u, name: app.name(u.id) }))
    .sort((a, b) => a.name.localeCompare(b.name));
  $("online-count").textContent = String(online.length);
  $("online-list").replaceChildren(
    ...online.map((u) =>
      h(
        "li",
        {},
        h(
          "button",
          {
            class: "user",
            disabled: u.id === app.me.id,
            title: u.id === app.me.id ? "You" : `Message ${u.name}`,
            onclick: () => app.openDm(u.id),
            dataset: { user: u.name },
          },
          dot(u.status),
          h("span", { class: "label" }, u.name),
          u.id === app.me.id ? h("span", { class: "tag" }, "you") : null,
        ),
      ),
    ),
  );
}

function formatTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  const time = date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  const today = new Date().toDateString() === date.toDateString();
  return today ? time : `${date.toLocaleDateString([], { month: "short", day: "numeric" })} ${time}`;
}

/** HH:MM on 24 hours, for the narrow column beside a grouped message. */
function shortTime(iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

// A message by the same author within 5 minutes of the previous one joins its group.
function continues(previous, message) {
  return (
    previous?.kind === "message" &&
    previous.authorId === message.authorId &&
    new Date(message.createdAt) - new Date(previous.createdAt) < 5 * 60_000
  );
}

function messageItem(app, room, message, previous) {
  if (message.kind === "system") {
    return h("li", { class: "system", "data-testid": "system-line" }, message.text);
  }
  const mine = message.authorId === app.me.id;
  const canDelete = mine || (room.kind === "channel" && rank(app.channel(room.id)?.role) >= 1);
  const grouped = continues(previous, message);
  const name = app.name(message.authorId, message.username);
  const editing = app.composer.editing?.id === message.id;
  return h(
    "li",
    {
      class: `message${grouped ? " grouped" : ""}${mine ? " mine" : ""}${editing ? " editing" : ""}`,
      dataset: { id: message.id, author: name },
      "data-testid": "message",
    },
    grouped ? h("span", { class: "gutter" }, shortTime(message.createdAt)) : avatar(message.authorId, name),
    h(
      "div",
      { class: "body" },
      grouped
        ? null
        : h(
            "div",
            { class: "meta" },
            h("span", { class: "author" }, name),
            h("time", { datetime: message.createdAt, title: new Date(message.createdAt).toLocaleString() }, formatTime(message.createdAt)),
          ),
      h(
        "div",
        { class: "content" },
        message.content,
        message.edited ? h("span", { class: "edited", title: "edited" }, " (edited)") : null,
      ),
    ),
    mine || canDelete
      ? h(
          "div",
          { class: "actions" },
          mine && room.kind === "channel"
            ? h("button", { class: "small", onclick: () => app.composer.startEdit(message), "aria-label": "Edit message" }, "Edit")
            : null,
          canDelete && room.kind === "channel"
            ? h("button", { class: "small danger", onclick: () => app.deleteMessage(room, message), "aria-label": "Delete message" }, "Delete")
            : null,
        )
      : null,
  );
}

export function renderRoom(app) {
  const room = app.current ? app.rooms.get(app.current) : null;
  const list = $("messages");
  const scroller = $("messages-scroll");
  const atBottom = scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 60;
  const title = $("room-title");
  const meta = $("room-meta");
  const leave = $("leave");
  const gate = $("gate");
  leave.hidden = true;
  gate.hidden = true;
  if (!room) {
    title.textContent = "Welcome";
    meta.textContent = "";
    list.replaceChildren(h("li", { class: "system" }, "Pick a channel on the left, or create one."));
    app.composer.setEnabled(false, "Pick a channel first");
    $("typing").textContent = "";
    return;
  }
  if (room.kind === "channel") {
    const channel = app.channel(room.id);
    title.textContent = `# ${channel?.name ?? room.id}`;
    const members = app.members.get(room.id);
    meta.textContent = [
      channel?.public ? "public" : "private",
      channel?.role ? `you are ${channel.role}` : null,
      members ? `${members.length} member${members.length === 1 ? "" : "s"}` : null,
    ]
      .filter(Boolean)
      .join(" · ");
    const member = channel?.role != null;
    leave.hidden = !member || channel.role === "owner";
    if (!member) {
      gate.hidden = false;
      const why = channel?.lost
        ? `You were ${channel.lost} from #${channel.name}.`
        : `You are not a member of #${channel?.name ?? room.id}.`;
      $("gate-text").textContent = why;
      $("gate-join").hidden = Boolean(channel?.banned) || !channel?.public;
      $("gate-join").textContent = channel?.lost ? "Join again" : `Join #${channel?.name ?? ""}`;
    }
    app.composer.setEnabled(member, member ? `Message #${channel.name}` : "Join the channel to write");
  } else {
    const dm = app.dms.get(room.id);
    title.textContent = `@ ${dmName(app, dm)}`;
    meta.textContent = `direct message · ${dmStatus(app, dm)}`;
    app.composer.setEnabled(true, `Message @${dmName(app, dm)}`);
  }
  const items = room.sorted();
  const rows = [];
  items.forEach((item, i) => rows.push(messageItem(app, room, item, items[i - 1])));
  if (!rows.length) {
    const member = room.kind === "dm" || app.channel(room.id)?.role != null;
    if (member) rows.push(h("li", { class: "system" }, room.loaded ? "No messages yet. Say hi!" : "Loading…"));
  }
  list.replaceChildren(...rows);
  if (app.focusPending) {
    app.focusPending = false;
    app.composer.focus();
  }
  if (atBottom || app.stickToBottom) scroller.scrollTop = scroller.scrollHeight;
  app.stickToBottom = false;
  $("typing").textContent = typingText(room.typists());
}

export function renderMembers(app) {
  const room = app.current ? app.rooms.get(app.current) : null;
  const heading = $("members-heading");
  const list = $("member-list");
  if (!room) {
    heading.textContent = "Members";
    list.replaceChildren();
    return;
  }
  let members;
  if (room.kind === "dm") {
    const dm = app.dms.get(room.id);
    members = (dm?.participants ?? []).map((id) => ({ user_id: id, role: null }));
  } else {
    members = app.members.get(room.id) ?? [];
  }
  const myRank = room.kind === "channel" ? rank(app.channel(room.id)?.role) : -1;
  if (room.kind === "channel" && myRank < 0) {
    heading.textContent = "Members";
    list.replaceChildren(h("li", { class: "muted small" }, "Members of a channel see who is in it."));
    return;
  }
  heading.textContent = `Members — ${members.length}`;
  const sorted = [...members].sort((a, b) => rank(b.role) - rank(a.role) || app.name(a.user_id).localeCompare(app.name(b.user_id)));
  list.replaceChildren(
    ...sorted.map((m) => {
      const id = String(m.user_id);
      const name = app.name(id, m.username);
      const me = id === app.me.id;
      const canKick = myRank >= 1 && rank(m.role) < myRank && !me;
      return h(
        "li",
        { class: "member", dataset: { user: name } },
        dot(app.status(id)),
        h(
          "button",
          { class: "link", disabled: me, title: me ? "You" : `Message ${name}`, onclick: () => app.openDm(id) },
          name,
        ),
        m.role && m.role !== "member" ? h("span", { class: `role ${m.role}` }, m.role) : null,
        canKick
          ? h("button", { class: "small danger kick", onclick: () => app.kick(room.id, id), "aria-label": `Kick ${name}` }, "Kick")
          : null,
      );
    }),
  );
}

/** A short message at the top of the conversation (`kind`: info, warn, error). */
export function flash(text, kind = "info") {
  const banner = $("banner");
  banner.className = `banner ${kind}`;
  $("banner-text").textContent = text;
  banner.hidden = false;
}

export function hideFlash() {
  $("banner").hidden = true;
}

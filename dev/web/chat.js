// The chat session of a signed-in user: connects with the client library (which finds the
// user's gateway node itself), loads channels, history and members from the dispatcher
// (api.js), keeps the state (store.js) in step with the events (events.js), and carries out
// the user's actions. Rendering is in view.js, the message box in composer.js.

import { ChatClient } from "/lib/chat-gateway.js";
import { Api } from "./api.js";
import { Composer } from "./composer.js";
import { HANDLERS } from "./events.js";
import { Room, messageFrom, systemLine } from "./store.js";
import * as view from "./view.js";

const $ = (id) => document.getElementById(id);

/** How often to list our DMs, for the ones others open with us (see `loadDms`). */
const DM_LIST_MS = 3000;
/** The most user ids one `GET /users` names. */
const NAMES_PER_REQUEST = 100;
/** The least time between two typing signals of ours in one channel. */
const TYPING_EVERY_MS = 5000;

export class App {
  constructor(config, session) {
    this.config = config;
    this.me = { id: String(session.user_id), name: session.name };
    this.api = new Api(config.dispatcher_url, session.token);
    this.token = session.token;
    this.channels = new Map(); // id -> {id, name, kind, public, role, lost?, banned?}
    this.members = new Map(); // channel id -> [{user_id, username, role}]
    this.dms = new Map(); // dm id -> {id, participants: [user id], followed: promise}
    this.users = new Map([[this.me.id, { id: this.me.id, name: this.me.name, status: "online" }]]);
    this.askedNames = new Set(); // user ids looked up (or queued) with GET /users
    this.nameQueue = [];
    this.rooms = new Map(); // room key -> Room
    this.current = null;
    this.lastTyping = new Map();
    this.composer = new Composer(this);
    this.renderQueued = false;
  }

  async start() {
    this.client = new ChatClient({
      dispatcherUrl: this.config.dispatcher_url,
      token: () => this.token,
      rooms: [],
    });
    this.client.on("event", (event) => this.onEvent(event));
    this.client.on("state", (state) => this.showState(state));
    this.client.on("gap", ({ room }) => this.reload(room));
    this.client.on("room_lost", ({ room }) => this.onRoomLost(room));
    await this.client.connect();
    this.showState(this.client.state);
    await this.loadChannels();
    await this.attempt("follow who is online", async () => {
      const presence = await this.client.followPresence({ all: true });
      for (const p of Object.values(presence ?? {})) this.setPresence(p);
    });
    // Open the first of our channels, or else show the first public one with its Join button.
    const byName = [...this.channels.values()].sort((a, b) => a.name.localeCompare(b.name));
    const first = byName.find((c) => c.role != null) ?? byName.find((c) => c.public);
    if (first) await this.open(`channel:${first.id}`);
    this.render();
    const listDms = () => this.attempt("list your conversations", () => this.loadDms());
    listDms();
    setInterval(listDms, DM_LIST_MS);
  }

  // ---- state helpers ----

  channel(id) {
    return this.channels.get(String(id));
  }

  room(kind, id) {
    const key = `${kind}:${id}`;
    if (!this.rooms.has(key)) this.rooms.set(key, new Room(kind, id));
    return this.rooms.get(key);
  }

  /** A user's name; one we have none for is looked up (`lookUpNames`), `user <id>` meanwhile. */
  name(userId, fallback) {
    const id = String(userId ?? "");
    const name = this.users.get(id)?.name ?? fallback;
    if (name) return name;
    if (id && !this.askedNames.has(id)) {
      this.askedNames.add(id);
      if (this.nameQueue.push(id) === 1) setTimeout(() => this.lookUpNames());
    }
    return `user ${id}`;
  }

  /** Asks the dispatcher for the names `name` queued since the last time, in few requests. */
  async lookUpNames() {
    const ids = this.nameQueue.splice(0);
    for (let i = 0; i < ids.length; i += NAMES_PER_REQUEST) {
      // A failed look-up is not repeated: those users stay `user <id>` until a reload.
      await this.attempt("look up names", async () => {
        const { users } = await this.api.users(ids.slice(i, i + NAMES_PER_REQUEST));
        for (const u of users) this.learn(u.id, u.username);
      });
    }
    this.render();
  }

  status(userId) {
    return this.users.get(String(userId))?.status ?? "offline";
  }

  learn(userId, name) {
    if (userId == null || !name) return;
    const id = String(userId);
    const user = this.users.get(id);
    if (user) user.name = name;
    else this.users.set(id, { id, name, status: "offline" });
  }

  setPresence(p) {
    const id = String(p.user_id);
    const user = this.users.get(id) ?? { id, name: null };
    user.status = id === this.me.id && p.status === "offline" ? "online" : p.status;
    if (p.username) user.name = p.username;
    this.users.set(id, user);
  }

  lastOwnMessage() {
    const room = this.current ? this.rooms.get(this.current) : null;
    return room?.kind === "channel" ? room.lastMessageOf(this.me.id) : null;
  }

  showState(state) {
    const node = this.config.gateways.find((g) => sameSocket(g.url, this.client.nodeUrl));
    $("conn-state").className = `dot state-${state}`;
    $("conn-state").title = state;
    $("node").textContent = state === "open" ? (node?.id ?? this.client.nodeUrl ?? "") : `${state}…`;
    $("node").title = this.client.nodeUrl ?? "";
  }

  render() {
    if (this.renderQueued) return;
    this.renderQueued = true;
    queueMicrotask(() => {
      this.renderQueued = false;
      view.renderSidebar(this);
      view.renderRoom(this);
      view.renderMembers(this);
      this.typingTimer();
      const unread = [...this.rooms.values()].reduce((n, room) => n + room.unread, 0);
      document.title = `${unread ? `(${unread}) ` : ""}${this.me.name} · chat-gateway`;
    });
  }

  /** Runs an HTTP call; a failure is shown in the banner. True when it succeeded. */
  async attempt(what, call) {
    try {
      await call();
      return true;
    } catch (error) {
      view.flash(`Could not ${what}: ${error.message}`, "error");
      return false;
    }
  }

  // ---- loading ----

  async loadChannels() {
    const { channels } = await this.api.channels();
    for (const c of channels) {
      this.channels.set(String(c.id), { ...c, id: String(c.id), lost: null });
    }
    const joined = [...this.channels.values()].filter((c) => c.role != null);
    await Promise.all(
      joined.map((c) =>
        this.client.subscribe(`channel:${c.id}`).catch((error) => {
          view.flash(`Could not follow #${c.name}: ${error.message}`, "error");
        }),
      ),
    );
  }

  async loadHistory(room) {
    const page = room.kind === "channel" ? await this.api.history(room.id) : await this.api.dmHistory(room.id);
    for (const m of page.messages) {
      const message = messageFrom(m);
      this.learn(message.authorId, message.username);
      room.upsert(message);
    }
    room.loaded = true;
    return page.messages;
  }

  /** Follows the DMs we take part in. The native events do not announce one that someone else
   * opens with us, so this runs every few seconds. */
  async loadDms() {
    const { dms } = await this.api.dms();
    await Promise.all(dms.map((dm) => this.attempt("follow a conversation", () => this.followDm(dm))));
  }

  /** Subscribes to a DM (once) and loads its messages. Unless it is the open room, the messages
   * of others count as unread (there are no read markers). */
  followDm(dm) {
    const id = String(dm.id);
    if (!this.dms.has(id)) {
      const room = this.room("dm", id);
      const followed = this.client.subscribe(room.key).then(async () => {
        await this.loadHistory(room);
        if (this.current !== room.key) {
          room.unread = room.sorted().filter((m) => m.kind === "message" && m.authorId !== this.me.id).length;
        }
        this.render();
      });
      followed.catch(() => this.dms.delete(id)); // tried again at the next listing
      this.dms.set(id, { id, participants: dm.participants.map(String), followed });
      this.render();
    }
    return this.dms.get(id).followed;
  }

  /** The other people in a DM. */
  others(dm) {
    return dm?.participants.filter((id) => id !== this.me.id) ?? [];
  }

  /** Our DM with `userId` alone, if we have one. */
  dmWith(userId) {
    return [...this.dms.values()].find((dm) => dm.participants.length === 2 && dm.participants.includes(userId));
  }

  async loadMembers(channelId) {
    const { members } = await this.api.members(channelId);
    for (const m of members) this.learn(m.user_id, m.username);
    this.members.set(String(channelId), members.map((m) => ({ ...m, user_id: String(m.user_id) })));
    this.render();
  }

  /** The room may have missed events (the client said so): read it again. */
  async reload(key) {
    const room = this.rooms.get(key);
    if (!room?.loaded || (room.kind === "channel" && this.channel(room.id)?.role == null)) return;
    await this.attempt("reload the conversation", () => this.loadHistory(room));
    this.render();
  }

  // ---- navigation ----

  async open(key) {
    const [kind, id] = key.split(/:(.*)/s);
    const room = this.room(kind, id);
    this.current = key;
    room.unread = 0;
    this.composer.cancelEdit();
    this.stickToBottom = true;
    this.focusPending = true; // the message box takes the focus as soon as the room shows
    this.render();
    const member = kind === "dm" || this.channel(id)?.role != null;
    if (member) {
      if (!room.loaded) await this.attempt("load the messages", () => this.loadHistory(room));
      if (kind === "channel") await this.attempt("load the members", () => this.loadMembers(id));
    }
    this.stickToBottom = true;
    this.render();
  }

  // ---- actions ----

  async send(text) {
    const room = this.rooms.get(this.current);
    if (!room) return false;
    return this.attempt("send", async () => {
      const sent =
        room.kind === "channel" ? await this.api.send(room.id, text) : await this.api.sendDm(room.id, text);
      room.upsert({ ...messageFrom(sent), username: this.me.name });
      this.lastTyping.delete(room.id);
      this.stickToBottom = true;
    });
  }

  async saveEdit(message, text) {
    const room = this.rooms.get(this.current);
    if (text === message.content) return true;
    return this.attempt("edit", async () => {
      await this.api.edit(room.id, message.id, text);
      room.update(message.id, { content: text, edited: true });
    });
  }

  async deleteMessage(room, message) {
    if (this.composer.editing?.id === message.id) this.composer.cancelEdit();
    const ok = await this.attempt("delete", () => this.api.remove(room.id, message.id));
    if (ok) room.items.delete(message.id);
    this.render();
  }

  typing() {
    const room = this.rooms.get(this.current);
    if (room?.kind !== "channel" || this.channel(room.id)?.role == null) return;
    const last = this.lastTyping.get(room.id) ?? 0;
    if (Date.now() - last < TYPING_EVERY_MS) return;
    this.lastTyping.set(room.id, Date.now());
    this.client.typing(room.key, true);
  }

  async createChannel(name, isPublic) {
    let created;
    const ok = await this.attempt("create the channel", async () => {
      created = await this.api.createChannel(name, isPublic);
    });
    if (!ok) return false;
    const id = String(created.id);
    this.channels.set(id, { ...created, id, role: "owner", lost: null });
    await this.client.subscribe(`channel:${id}`);
    await this.open(`channel:${id}`);
    return true;
  }

  async join(channelId) {
    const channel = this.channel(channelId);
    const ok = await this.attempt(`join #${channel?.name}`, () => this.api.join(channelId, this.me.id));
    if (!ok) return;
    channel.role = "member";
    channel.lost = null;
    await this.client.subscribe(`channel:${channel.id}`);
    const room = this.room("channel", channel.id);
    room.loaded = false; // what happened while out of it comes with the history
    view.hideFlash();
    await this.open(room.key);
  }

  async leave() {
    const room = this.rooms.get(this.current);
    if (room?.kind !== "channel") return;
    const channel = this.channel(room.id);
    channel.leaving = true; // the room_lost that follows is ours
    if (await this.attempt(`leave #${channel.name}`, () => this.api.leave(room.id, this.me.id))) {
      this.lostMembership(room.id, null);
    }
    channel.leaving = false;
  }

  async kick(channelId, userId) {
    await this.attempt(`kick ${this.name(userId)}`, () => this.api.kick(channelId, userId));
  }

  async openDm(userId) {
    const other = String(userId);
    if (other === this.me.id) return;
    const ok = await this.attempt(`open a conversation with ${this.name(other)}`, async () => {
      if (!this.dmWith(other)) await this.loadDms(); // they may have opened one since the last listing
      await this.followDm(this.dmWith(other) ?? (await this.api.openDm([this.me.id, other])));
    });
    if (ok) await this.open(`dm:${this.dmWith(other).id}`);
  }

  // ---- events ----

  onEvent(event) {
    const data = event.data ?? {};
    const handler = HANDLERS[event.type];
    if (handler) handler.call(this, data, event);
    this.render();
  }

  addMessage(room, message) {
    const known = room.items.has(message.id);
    this.learn(message.authorId, message.username);
    room.typing.delete(message.authorId);
    room.upsert(message);
    if (!known && message.authorId !== this.me.id && (this.current !== room.key || document.hidden)) room.unread++;
  }

  line(channelId, text, event) {
    this.room("channel", channelId).upsert(systemLine(text, event));
  }

  refreshMembers(channelId) {
    if (this.channel(channelId)?.role == null) return;
    if (this.current === `channel:${channelId}`) {
      this.attempt("load the members", () => this.loadMembers(channelId));
    } else {
      this.members.delete(String(channelId));
    }
  }

  /** We are out of a channel: `how` is "kicked", "banned", or null (we left). */
  lostMembership(channelId, how) {
    const channel = this.channel(channelId);
    if (!channel) return;
    // Both copies of a kick arrive (the channel's and our own room's), and the client's
    // room_lost too, in any order: the first one acts, a more precise one only renames it.
    if (channel.role == null) {
      if (channel.lost === "removed" && how && how !== "removed") {
        channel.lost = how;
        channel.banned = how === "banned";
        view.flash(`You were ${how} from #${channel.name}.`, "warn");
        this.render();
      }
      return;
    }
    channel.role = null;
    channel.lost = how;
    channel.banned = how === "banned";
    this.members.delete(channel.id);
    this.room("channel", channel.id).typing.clear();
    this.client.unsubscribe(`channel:${channel.id}`).catch(() => {});
    if (how) view.flash(`You were ${how} from #${channel.name}.`, "warn");
    if (!channel.public && !how && this.current === `channel:${channel.id}`) this.current = null;
    this.render();
  }

  // The client left a room without being asked: for a channel, a kick, ban or deletion (whose
  // events say which), or our own leave.
  onRoomLost(room) {
    const [kind, id] = room.split(/:(.*)/s);
    const channel = kind === "channel" ? this.channel(id) : null;
    if (channel?.role != null) this.lostMembership(id, channel.leaving ? null : "removed");
  }

  typingTimer() {
    clearTimeout(this.typingTimeout);
    const room = this.rooms.get(this.current);
    const next = room ? Math.min(...[...room.typing.values()].map((t) => t.until)) : Infinity;
    if (next !== Infinity) this.typingTimeout = setTimeout(() => this.render(), next - Date.now() + 50);
  }
}

/** Whether two WebSocket URLs reach the same endpoint (the client adds a query). */
function sameSocket(a, b) {
  try {
    const [x, y] = [new URL(a), new URL(b)];
    return x.host === y.host && x.pathname === y.pathname;
  } catch {
    return false;
  }
}

// What the page knows: channels, DMs, users, and per room its messages, system lines and who
// is typing. Ids are always strings (the gateway sends all-digit ids as numbers in places).

export const ROLE_RANK = { member: 0, moderator: 1, admin: 2, owner: 3 };

/** -1 for "not a member". */
export const rank = (role) => (role == null ? -1 : (ROLE_RANK[role] ?? 0));

/** How long a typing indicator stays without a refresh (docs/protocol.md: 10 s). */
export const TYPING_TTL_MS = 10_000;

let sequence = 0;

export class Room {
  constructor(kind, id) {
    this.kind = kind; // "channel" | "dm"
    this.id = String(id);
    this.key = `${kind}:${this.id}`;
    this.items = new Map(); // id -> message or system line
    this.loaded = false; // history fetched
    this.unread = 0;
    this.typing = new Map(); // user id -> {name, until}
  }

  upsert(item) {
    const old = this.items.get(item.id);
    this.items.set(item.id, old ? { ...old, ...item, seq: old.seq } : { ...item, seq: sequence++ });
  }

  update(id, changes) {
    const old = this.items.get(id);
    if (old) this.items.set(id, { ...old, ...changes });
  }

  sorted() {
    return [...this.items.values()].sort(byPosition);
  }

  /** The newest message of `userId` (for the Up-arrow edit). */
  lastMessageOf(userId) {
    const mine = this.sorted().filter((m) => m.kind === "message" && m.authorId === userId);
    return mine[mine.length - 1] ?? null;
  }

  typists(now = Date.now()) {
    for (const [id, t] of this.typing) if (t.until <= now) this.typing.delete(id);
    return [...this.typing.values()].map((t) => t.name);
  }
}

// Room order: the history offset when both have one, else creation time, else arrival.
function byPosition(a, b) {
  if (a.offset != null && b.offset != null && a.offset !== b.offset) return a.offset - b.offset;
  if (a.createdAt && b.createdAt && a.createdAt !== b.createdAt) {
    return a.createdAt < b.createdAt ? -1 : 1;
  }
  return a.seq - b.seq;
}

/** A channel or DM message from an event's `data` or a history entry. */
export function messageFrom(data, offset) {
  return {
    kind: "message",
    id: String(data.id ?? data.message_id),
    authorId: String(data.author_id ?? data.user_id),
    username: data.username ?? null,
    content: data.content,
    createdAt: data.created_at ?? new Date().toISOString(),
    edited: Boolean(data.edited),
    offset: offset ?? data.offset ?? null,
  };
}

/** A system line ("bob joined") placed in the room's order. */
export function systemLine(text, event) {
  return {
    kind: "system",
    id: `sys-${event.offset ?? ""}-${sequence}`,
    text,
    createdAt: event.timestamp ?? new Date().toISOString(),
    offset: event.offset ?? null,
  };
}

export function typingText(names) {
  if (names.length === 0) return "";
  if (names.length === 1) return `${names[0]} is typing…`;
  if (names.length === 2) return `${names[0]} and ${names[1]} are typing…`;
  return "Several people are typing…";
}

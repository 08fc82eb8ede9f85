/**
 * `ChatClient`: one logical connection to the chat gateway that outlives its sockets. It finds
 * the user's node, authenticates with a frame, and when a socket ends it reconnects (backoff,
 * or at once to a RECONNECT's `url`), resumes the session or rejoins each room from the last
 * event it delivered, and restores presence follows and status. The WebSocket constructor is
 * handed in; see index.ts (browsers) and node.ts (the `ws` package).
 */

import { Backoff, type BackoffOptions } from "./backoff.js";
import { AuthError, discoverNode, socketUrl, type FetchLike } from "./discovery.js";
import { Emitter, type Handler } from "./emitter.js";
import {
  PROTOCOL_FRAME_TYPES,
  type AnyEventFrame,
  type ClientEvents,
  type ConnectionState,
  type EventFrame,
  type Position,
  type ProtocolFrames,
  type ReadyData,
  type SubscribedData,
} from "./events.js";
import { PresenceFollows, type FollowTarget, type PresenceMap } from "./presence.js";
import { RoomLedger, type Settlement } from "./recovery.js";
import { Transport, type SocketEnd, type WebSocketConstructor } from "./transport.js";

export interface ChatClientOptions {
  /** The dispatcher's base URL, e.g. `http://127.0.0.1:8081`. */
  dispatcherUrl: string;
  /** The user's JWT, or a function returning it (asked again at every connect). */
  token: string | (() => string | Promise<string>);
  /** Rooms to subscribe at connect and after every reconnect. */
  rooms?: string[];
  backoff?: BackoffOptions;
  /** The WebSocket constructor (default: the global `WebSocket`). */
  WebSocket?: WebSocketConstructor;
  /** The fetch function for `GET /api/gateway` (default: the global `fetch`). */
  fetch?: FetchLike;
}

/** What `setPresence` sends (`PRESENCE_UPDATE`). */
export interface PresenceUpdate {
  status: "online" | "idle" | "dnd" | "invisible";
  game?: { name: string; [field: string]: unknown } | null;
  idle_since?: number | null;
}

/**
 * Close codes after which the protocol says not to reconnect (docs/protocol.md, "Close
 * codes"): 4002 too many invalid frames (a client bug), 4004 authentication failed (the token
 * is bad), 4022 the session was resumed by another socket (which now has it).
 */
const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([4002, 4004, 4022]);
const RECONNECT_CODE = 4021;
/** RECONNECTs followed at once in a row; more (nodes sending the client back and forth) back off. */
const IMMEDIATE_REDIRECTS = 3;
/** `ERROR` texts answering a SUBSCRIBE that retrying will not change. */
const FINAL_SUBSCRIBE_ERRORS = new Set(["forbidden room", "too many rooms"]);
const RETRY_SUBSCRIBE_ERROR = "room unavailable, try again";
/** `ERROR` texts a gateway without RESUME gives it before authentication: IDENTIFY instead. */
const RESUME_UNSUPPORTED = new Set(["unknown op", "invalid payload", "not authenticated"]);

interface Waiter<T> {
  resolve(value: T): void;
  reject(error: Error): void;
}

/** How one attempt (discovery and one socket) ended. */
interface Ending extends SocketEnd {
  final?: boolean;
}

export class ChatClient {
  readonly #options: ChatClientOptions;
  readonly #WebSocket: WebSocketConstructor;
  readonly #fetch: FetchLike;
  readonly #emitter = new Emitter<ClientEvents>();
  readonly #backoff: Backoff;
  readonly #ledger = new RoomLedger();
  readonly #follows = new PresenceFollows();

  #state: ConnectionState = "closed";
  #started = false;
  #stopped = false;
  #firstReady?: Promise<ReadyData>;
  #settleFirstReady?: Waiter<ReadyData>;
  #everOpen = false;

  #transport?: Transport;
  /** The current attempt's end, for `close()` to cut it short. */
  #endAttempt?: (ending: Ending) => void;
  #wakeUp?: () => void;
  /** The token of the current attempt (IDENTIFY after a refused RESUME needs it). */
  #token = "";
  /** READY or RESUMED arrived on the current socket. */
  #live = false;
  #resuming = false;
  #redirectUrl?: string;
  #redirectsInARow = 0;

  #userId?: string;
  #sessionId?: string;
  /** The `seq` of the last frame of the current session processed. */
  #seq = 0;

  /** Rooms the application asked for. */
  readonly #wanted: Set<string>;
  /** Rooms every session joins by itself (READY's `rooms`). */
  #automatic = new Set<string>();
  /** Rooms with an UNSUBSCRIBE in flight. */
  readonly #leaving = new Set<string>();
  readonly #subscribeWaiters = new Map<string, Waiter<SubscribedData>[]>();
  readonly #unsubscribeWaiters = new Map<string, Waiter<void>[]>();
  #presence?: PresenceUpdate;

  constructor(options: ChatClientOptions) {
    this.#options = options;
    const Ctor = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!Ctor) {
      throw new TypeError(
        "no WebSocket: pass options.WebSocket (under Node, import from chat-gateway-client/node)",
      );
    }
    this.#WebSocket = Ctor;
    const fetchImpl = options.fetch ?? (globalThis as { fetch?: FetchLike }).fetch;
    if (!fetchImpl) throw new TypeError("no fetch: pass options.fetch");
    // A bare global fetch must be called with globalThis as `this`.
    this.#fetch = options.fetch ?? ((url, init) => fetchImpl.call(globalThis, url, init));
    this.#backoff = new Backoff(options.backoff);
    this.#wanted = new Set(options.rooms ?? []);
  }

  // ---- the public API ----

  get state(): ConnectionState {
    return this.#state;
  }

  /** The user's id (a string), from READY. */
  get userId(): string | undefined {
    return this.#userId;
  }

  /** The current session's id, from READY or RESUMED. */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /** The URL of the socket now open or opening. */
  get nodeUrl(): string | undefined {
    return this.#transport?.url;
  }

  on<K extends keyof ClientEvents>(name: K, handler: Handler<ClientEvents[K]>): this;
  on(name: string, handler: Handler<EventFrame>): this;
  on(name: string, handler: Handler<never>): this {
    this.#emitter.on(name, handler);
    return this;
  }

  off<K extends keyof ClientEvents>(name: K, handler: Handler<ClientEvents[K]>): this;
  off(name: string, handler: Handler<EventFrame>): this;
  off(name: string, handler: Handler<never>): this {
    this.#emitter.off(name, handler);
    return this;
  }

  /** Starts connecting (once); resolves at the first READY. */
  connect(): Promise<ReadyData> {
    if (!this.#firstReady) {
      this.#firstReady = new Promise<ReadyData>((resolve, reject) => {
        this.#settleFirstReady = { resolve, reject };
      });
      // The caller may not await it; a rejection must not count as unhandled.
      this.#firstReady.catch(() => {});
    }
    if (this.#stopped) return Promise.reject(new Error("the client is closed"));
    if (!this.#started) {
      this.#started = true;
      this.#setState("connecting");
      void this.#run();
    }
    return this.#firstReady;
  }

  /** Joins `room` (now, or once connected); remembered for reconnects. */
  subscribe(room: string): Promise<SubscribedData> {
    if (this.#stopped) return Promise.reject(new Error("the client is closed"));
    this.#wanted.add(room);
    const answer = this.#wait(this.#subscribeWaiters, room);
    if (this.#live) {
      // A room still being left is joined afresh: its old position ends with the UNSUBSCRIBE.
      this.#sendSubscribe(room, this.#leaving.has(room) ? undefined : this.#ledger.position(room));
    }
    return answer;
  }

  /** Leaves `room` and forgets it. */
  unsubscribe(room: string): Promise<void> {
    this.#wanted.delete(room);
    this.#automatic.delete(room);
    this.#fail(this.#subscribeWaiters, room, new Error("unsubscribed"));
    if (!this.#live) {
      this.#ledger.forget(room);
      return Promise.resolve();
    }
    this.#leaving.add(room);
    const answer = this.#wait(this.#unsubscribeWaiters, room);
    this.#transport?.send({ op: "UNSUBSCRIBE", room });
    return answer;
  }

  /** Follows users' presence; resolves with the `INIT_STATE` data (user id → presence). */
  followPresence(target: FollowTarget): Promise<PresenceMap> {
    if (this.#stopped) return Promise.reject(new Error("the client is closed"));
    const answer = this.#follows.request(target);
    if (this.#live) this.#sendFollows();
    return answer;
  }

  /** Sets this session's presence (and again on every new socket). */
  setPresence(update: PresenceUpdate): void {
    this.#presence = { ...update };
    if (this.#live) this.#transport?.send({ op: "PRESENCE_UPDATE", ...this.#presence });
  }

  /** Tells the channel's other members the user is typing (live only: false when not connected). */
  typing(room: string, isTyping = true): boolean {
    return this.send({ op: "TYPING", room, is_typing: isTyping });
  }

  /** Sends any op as it is (`VOICE_STATE`, `VOICE_SIGNAL`, ...); false when not connected. */
  send(frame: { op: string; [field: string]: unknown }): boolean {
    return this.#live && (this.#transport?.send(frame) ?? false);
  }

  /** Closes the socket; the client does not reconnect afterwards. */
  close(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const transport = this.#transport;
    this.#transport = undefined;
    this.#live = false;
    transport?.close();
    this.#finish({ code: 1000, reason: "closed by the application" }, false);
    this.#endAttempt?.({ reason: "closed", final: true });
    this.#wakeUp?.();
  }

  // ---- connecting and reconnecting ----

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const ending = await this.#attempt();
      if (this.#stopped) return;
      if (ending.final) {
        this.#stopped = true;
        this.#finish(ending, true);
        return;
      }
      const delay = this.#delayAfter(ending);
      this.#emitter.emit("disconnected", { ...ending, reconnectInMs: delay });
      this.#setState(this.#everOpen ? "reconnecting" : "connecting");
      await this.#sleep(delay);
    }
  }

  /** One attempt: a token, the node (RECONNECT's or discovered), one socket's whole life. */
  async #attempt(): Promise<Ending> {
    try {
      const token = this.#options.token;
      this.#token = typeof token === "function" ? await token() : token;
    } catch (error) {
      return { reason: `the token function failed: ${message(error)}` };
    }
    let nodeUrl = this.#redirectUrl;
    this.#redirectUrl = undefined;
    if (!nodeUrl) {
      try {
        nodeUrl = await discoverNode(this.#fetch, this.#options.dispatcherUrl, this.#token);
      } catch (error) {
        return { reason: message(error), final: error instanceof AuthError };
      }
    }
    if (this.#stopped) return { reason: "closed", final: true };
    return new Promise<Ending>((resolve) => {
      this.#endAttempt = resolve;
      try {
        const transport: Transport = new Transport(this.#WebSocket, socketUrl(nodeUrl), {
          onOpen: () => this.#greet(transport),
          onFrame: (frame) => {
            if (transport === this.#transport) this.#onFrame(transport, frame);
          },
          onEnd: (end) => {
            if (transport !== this.#transport) return;
            this.#socketGone();
            const final = end.code !== undefined && FINAL_CLOSE_CODES.has(end.code);
            resolve({ ...end, final });
          },
        });
        this.#transport = transport;
        this.#ledger.socketChanged();
      } catch (error) {
        resolve({ reason: `could not open ${nodeUrl}: ${message(error)}` });
      }
    });
  }

  /** How long to wait before the next attempt. */
  #delayAfter(ending: Ending): number {
    if (ending.code === RECONNECT_CODE && this.#redirectsInARow < IMMEDIATE_REDIRECTS) {
      this.#redirectsInARow += 1;
      return 0; // the node asked: go at once
    }
    return this.#backoff.next();
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.#wakeUp = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The socket is open: resume the session when there is one, else identify. */
  #greet(transport: Transport): void {
    if (this.#sessionId !== undefined) {
      this.#resuming = true;
      transport.send({
        op: "RESUME",
        token: this.#token,
        session_id: this.#sessionId,
        seq: this.#seq,
      });
    } else {
      this.#resuming = false;
      transport.send({ op: "IDENTIFY", data: { token: this.#token } });
    }
  }

  /** The current socket ended: what was asked on it will not be answered. */
  #socketGone(): void {
    this.#transport = undefined;
    this.#live = false;
    this.#resuming = false;
    this.#ledger.socketChanged();
    // Rooms being left are not wanted: no later session rejoins them (a resumed one that
    // restores one is told to leave it again).
    this.#leaving.clear();
    for (const waiters of this.#unsubscribeWaiters.values()) for (const w of waiters) w.resolve();
    this.#unsubscribeWaiters.clear();
  }

  /** The client stops for good: settles everything still waiting. */
  #finish(ending: Ending, report: boolean): void {
    const error = new Error(`the client is closed: ${ending.reason}`);
    this.#settleFirstReady?.reject(error);
    for (const room of [...this.#subscribeWaiters.keys()]) {
      this.#fail(this.#subscribeWaiters, room, error);
    }
    for (const waiters of this.#unsubscribeWaiters.values()) for (const w of waiters) w.resolve();
    this.#unsubscribeWaiters.clear();
    this.#follows.failAll(error);
    if (report) this.#emitter.emit("disconnected", { code: ending.code, reason: ending.reason });
    this.#setState("closed");
  }

  #setState(state: ConnectionState): void {
    if (state === this.#state) return;
    this.#state = state;
    this.#emitter.emit("state", state);
  }

  // ---- server frames ----

  #onFrame(transport: Transport, frame: Record<string, unknown>): void {
    const type = typeof frame.type === "string" ? frame.type : undefined;
    if (type === undefined) return;
    if (!PROTOCOL_FRAME_TYPES.has(type)) {
      this.#onEvent(frame as unknown as EventFrame);
    } else {
      this.#onProtocolFrame(transport, frame as unknown as ProtocolFrames[keyof ProtocolFrames]);
      this.#emitter.emit(type, frame);
    }
    // RESUME names the last frame processed; frames before the session opens belong to it
    // only once READY or RESUMED says which session that is.
    if (this.#live && typeof frame.seq === "number") this.#seq = frame.seq;
  }

  #onProtocolFrame(transport: Transport, frame: ProtocolFrames[keyof ProtocolFrames]): void {
    switch (frame.type) {
      case "READY":
        return this.#onReady(transport, frame);
      case "RESUMED":
        return this.#onResumed(transport, frame);
      case "INVALID_SESSION":
        // READY follows: a new session, whose rooms are recovered with `since`.
        this.#sessionId = undefined;
        return;
      case "RECONNECT":
        this.#redirectUrl = frame.data.url ?? undefined;
        return;
      case "HEARTBEAT_ACK":
        return transport.acknowledged();
      case "SUBSCRIBED":
        return this.#onSubscribed(frame.room, frame.data);
      case "UNSUBSCRIBED":
        return this.#onUnsubscribed(frame.room);
      case "ERROR":
        return this.#onError(transport, frame.data, frame.room);
      case "INIT_STATE":
        return this.#follows.answered(frame.data as PresenceMap);
    }
  }

  #onReady(transport: Transport, frame: ProtocolFrames["READY"]): void {
    const ready = frame.data;
    this.#opened(transport, ready.session_id, ready.user_id, ready.heartbeat_interval, frame.seq);
    this.#automatic = new Set(ready.rooms);
    // A new session is in the automatic rooms only: join every room again, from the last
    // event delivered where there is one. The automatic rooms are asked for too, for their
    // position (and what they missed).
    for (const room of new Set([...this.#automatic, ...this.#wanted])) this.#rejoin(room);
    this.#restoreLiveState();
    this.#setState("open");
    this.#emitter.emit("ready", ready);
    this.#settleFirstReady?.resolve(ready);
  }

  #onResumed(transport: Transport, frame: ProtocolFrames["RESUMED"]): void {
    const resumed = frame.data;
    this.#opened(transport, resumed.session_id, resumed.user_id, resumed.heartbeat_interval, frame.seq);
    const restored = new Set<string>();
    for (const [room, outcome] of Object.entries(resumed.rooms)) {
      // Followed presence is listed too (as `forbidden room`: RESUME does not restore it);
      // it is followed again below.
      if (room.startsWith("presence:")) continue;
      const stillWanted = this.#wanted.has(room) || this.#automatic.has(room);
      if ("error" in outcome) {
        // A broker that was slow is asked again below; a refusal is final.
        if (outcome.error === RETRY_SUBSCRIBE_ERROR) continue;
        restored.add(room);
        if (stillWanted) this.#lose(room, outcome.error);
        continue;
      }
      restored.add(room);
      if (!stillWanted) {
        this.#leaving.add(room); // left while disconnected
        transport.send({ op: "UNSUBSCRIBE", room });
        continue;
      }
      this.#apply(room, this.#ledger.resumed(room, outcome));
      this.#settle(this.#subscribeWaiters, room, outcome);
    }
    // Rooms the old session was not in yet (a SUBSCRIBE in flight when the socket died).
    for (const room of new Set([...this.#automatic, ...this.#wanted])) {
      if (!restored.has(room)) this.#rejoin(room);
    }
    this.#restoreLiveState();
    this.#setState("open");
    this.#emitter.emit("resumed", resumed);
  }

  /** READY or RESUMED: the socket carries a session now. */
  #opened(
    transport: Transport,
    sessionId: string,
    userId: number | string,
    heartbeatMs: number,
    seq: number | undefined,
  ): void {
    this.#live = true;
    this.#resuming = false;
    this.#everOpen = true;
    this.#sessionId = sessionId;
    this.#userId = String(userId);
    this.#seq = seq ?? 0;
    this.#backoff.reset();
    this.#redirectsInARow = 0;
    transport.startHeartbeats(heartbeatMs);
  }

  /** Presence follows and status do not survive a socket: ask again. */
  #restoreLiveState(): void {
    this.#follows.restore();
    this.#sendFollows();
    if (this.#presence) this.#transport?.send({ op: "PRESENCE_UPDATE", ...this.#presence });
  }

  #sendFollows(): void {
    for (const frame of this.#follows.takeUnsent()) this.#transport?.send(frame);
  }

  /** SUBSCRIBE `room` again, from the last event delivered when there is one. */
  #rejoin(room: string): void {
    this.#sendSubscribe(room, this.#ledger.position(room));
  }

  /** SUBSCRIBE `room`, with `since` when given. */
  #sendSubscribe(room: string, since: Position | undefined): void {
    this.#ledger.subscribing(room, since);
    this.#transport?.send(since ? { op: "SUBSCRIBE", room, since } : { op: "SUBSCRIBE", room });
  }

  #onSubscribed(room: string, data: SubscribedData): void {
    this.#apply(room, this.#ledger.subscribed(room, data));
    this.#settle(this.#subscribeWaiters, room, data);
  }

  #onUnsubscribed(room: string): void {
    if (this.#leaving.delete(room)) {
      this.#ledger.forget(room);
      this.#settle(this.#unsubscribeWaiters, room, undefined);
    } else if (this.#wanted.has(room) || this.#automatic.has(room)) {
      this.#lose(room, "unsubscribed"); // kicked, banned, left, or the channel deleted
    }
  }

  #onError(transport: Transport, text: string, room: string | undefined): void {
    if (!this.#live) {
      if (this.#resuming && RESUME_UNSUPPORTED.has(text)) {
        // A gateway without RESUME: start a new session and recover the rooms with `since`.
        this.#resuming = false;
        this.#sessionId = undefined;
        transport.send({ op: "IDENTIFY", data: { token: this.#token } });
      }
      return;
    }
    if (room === undefined) {
      this.#follows.refused(text);
      return;
    }
    if (!this.#ledger.isAwaiting(room)) return; // about another op on that room (typing, voice)
    if (FINAL_SUBSCRIBE_ERRORS.has(text)) {
      this.#lose(room, text);
    } else if (text === RETRY_SUBSCRIBE_ERROR) {
      this.#fail(this.#subscribeWaiters, room, new Error(text));
      this.#ledger.refused(room);
      // The broker was slow: the room stays wanted, and is asked for again shortly.
      setTimeout(() => {
        if (transport === this.#transport && this.#live && this.#wanted.has(room)) {
          this.#rejoin(room);
        }
      }, this.#backoff.ceiling(1));
    }
  }

  /**
   * The client is out of `room` without having asked (or was refused it): forget it, fail
   * whoever waits for it, and tell the application when it had been in the room.
   */
  #lose(room: string, reason: string): void {
    const wasIn = this.#ledger.position(room) !== undefined;
    this.#wanted.delete(room);
    this.#automatic.delete(room);
    this.#ledger.forget(room);
    this.#fail(this.#subscribeWaiters, room, new Error(reason));
    if (wasIn) this.#emitter.emit("room_lost", { room, reason });
  }

  /** Carries out what the ledger decided: ask for missing events, or report a gap. */
  #apply(room: string, settlement: Settlement): void {
    if (settlement.gap) this.#emitter.emit("gap", settlement.gap);
    if (settlement.resyncFrom) this.#sendSubscribe(room, settlement.resyncFrom);
  }

  #onEvent(frame: EventFrame): void {
    const room = typeof frame.room === "string" ? frame.room : undefined;
    if (room !== undefined && this.#leaving.has(room)) return;
    if (room !== undefined && typeof frame.offset === "number" && typeof frame.epoch === "string") {
      const admission = this.#ledger.admit(room, frame.offset, frame.epoch);
      this.#apply(room, admission);
      if (!admission.deliver) return;
    }
    this.#emitter.emit(frame.type, frame);
    this.#emitter.emit("event", frame as AnyEventFrame);
  }

  // ---- waiting for answers ----

  #wait<T>(waiters: Map<string, Waiter<T>[]>, room: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const list = waiters.get(room) ?? [];
      list.push({ resolve, reject });
      waiters.set(room, list);
    });
  }

  #settle<T>(waiters: Map<string, Waiter<T>[]>, room: string, value: T): void {
    const list = waiters.get(room);
    waiters.delete(room);
    for (const waiter of list ?? []) waiter.resolve(value);
  }

  #fail<T>(waiters: Map<string, Waiter<T>[]>, room: string, error: Error): void {
    const list = waiters.get(room);
    waiters.delete(room);
    for (const waiter of list ?? []) waiter.reject(error);
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * `ChatClient`: one logical connection to the chat gateway that outlives its sockets. It finds
 * the user's node, authenticates with a frame, and when a socket ends it reconnects (backoff,
 * or at once to a RECONNECT's `url`), resumes the session or rejoins each room from the last
 * event it delivered, and restores presence follows and status. The WebSocket constructor is
 * handed in; see index.ts (browsers) and node.ts (the `ws` package).
 */
import { Backoff } from "./backoff.js";
import { AuthError, discoverNode, socketUrl } from "./discovery.js";
import { Emitter } from "./emitter.js";
import { PROTOCOL_FRAME_TYPES, } from "./events.js";
import { PresenceFollows } from "./presence.js";
import { RoomLedger } from "./recovery.js";
import { Transport } from "./transport.js";
/**
 * Close codes after which the protocol says not to reconnect (docs/protocol.md, "Close
 * codes"): 4002 too many invalid frames (a client bug), 4004 authentication failed (the token
 * is bad), 4022 the session was resumed by another socket (which now has it).
 */
const FINAL_CLOSE_CODES = new Set([4002, 4004, 4022]);
const RECONNECT_CODE = 4021;
/** RECONNECTs followed at once in a row; more (nodes sending the client back and forth) back off. */
const IMMEDIATE_REDIRECTS = 3;
/** `ERROR` texts answering a SUBSCRIBE that retrying will not change. */
const FINAL_SUBSCRIBE_ERRORS = new Set(["forbidden room", "too many rooms"]);
const RETRY_SUBSCRIBE_ERROR = "room unavailable, try again";
/** `ERROR` texts a gateway without RESUME gives it before authentication: IDENTIFY instead. */
const RESUME_UNSUPPORTED = new Set(["unknown op", "invalid payload", "not authenticated"]);
export class ChatClient {
    #options;
    #WebSocket;
    #fetch;
    #emitter = new Emitter();
    #backoff;
    #ledger = new RoomLedger();
    #follows = new PresenceFollows();
    #state = "closed";
    #started = false;
    #stopped = false;
    #firstReady;
    #settleFirstReady;
    #everOpen = false;
    #transport;
    /** The current attempt's end, for `close()` to cut it short. */
    #endAttempt;
    #wakeUp;
    /** The token of the current attempt (IDENTIFY after a refused RESUME needs it). */
    #token = "";
    /** READY or RESUMED arrived on the current socket. */
    #live = false;
    #resuming = false;
    #redirectUrl;
    #redirectsInARow = 0;
    #userId;
    #sessionId;
    /** The `seq` of the last frame of the current session processed. */
    #seq = 0;
    /** Rooms the application asked for. */
    #wanted;
    /** Rooms every session joins by itself (READY's `rooms`). */
    #automatic = new Set();
    /** Rooms with an UNSUBSCRIBE in flight. */
    #leaving = new Set();
    #subscribeWaiters = new Map();
    #unsubscribeWaiters = new Map();
    #presence;
    constructor(options) {
        this.#options = options;
        const Ctor = options.WebSocket ?? globalThis.WebSocket;
        if (!Ctor) {
            throw new TypeError("no WebSocket: pass options.WebSocket (under Node, import from chat-gateway-client/node)");
        }
        this.#WebSocket = Ctor;
        const fetchImpl = options.fetch ?? globalThis.fetch;
        if (!fetchImpl)
            throw new TypeError("no fetch: pass options.fetch");
        // A bare global fetch must be called with globalThis as `this`.
        this.#fetch = options.fetch ?? ((url, init) => fetchImpl.call(globalThis, url, init));
        this.#backoff = new Backoff(options.backoff);
        this.#wanted = new Set(options.rooms ?? []);
    }
    // ---- the public API ----
    get state() {
        return this.#state;
    }
    /** The user's id (a string), from READY. */
    get userId() {
        return this.#userId;
    }
    /** The current session's id, from READY or RESUMED. */
    get sessionId() {
        return this.#sessionId;
    }
    /** The URL of the socket now open or opening. */
    get nodeUrl() {
        return this.#transport?.url;
    }
    on(name, handler) {
        this.#emitter.on(name, handler);
        return this;
    }
    off(name, handler) {
        this.#emitter.off(name, handler);
        return this;
    }
    /** Starts connecting (once); resolves at the first READY. */
    connect() {
        if (!this.#firstReady) {
            this.#firstReady = new Promise((resolve, reject) => {
                this.#settleFirstReady = { resolve, reject };
            });
            // The caller may not await it; a rejection must not count as unhandled.
            this.#firstReady.catch(() => { });
        }
        if (this.#stopped)
            return Promise.reject(new Error("the client is closed"));
        if (!this.#started) {
            this.#started = true;
            this.#setState("connecting");
            void this.#run();
        }
        return this.#firstReady;
    }
    /** Joins `room` (now, or once connected); remembered for reconnects. */
    subscribe(room) {
        if (this.#stopped)
            return Promise.reject(new Error("the client is closed"));
        this.#wanted.add(room);
        const answer = this.#wait(this.#subscribeWaiters, room);
        if (this.#live) {
            // A room still being left is joined afresh: its old position ends with the UNSUBSCRIBE.
            this.#sendSubscribe(room, this.#leaving.has(room) ? undefined : this.#ledger.position(room));
        }
        return answer;
    }
    /** Leaves `room` and forgets it. */
    unsubscribe(room) {
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
    followPresence(target) {
        if (this.#stopped)
            return Promise.reject(new Error("the client is closed"));
        const answer = this.#follows.request(target);
        if (this.#live)
            this.#sendFollows();
        return answer;
    }
    /** Sets this session's presence (and again on every new socket). */
    setPresence(update) {
        this.#presence = { ...update };
        if (this.#live)
            this.#transport?.send({ op: "PRESENCE_UPDATE", ...this.#presence });
    }
    /** Tells the channel's other members the user is typing (live only: false when not connected). */
    typing(room, isTyping = true) {
        return this.send({ op: "TYPING", room, is_typing: isTyping });
    }
    /** Sends any op as it is (`VOICE_STATE`, `VOICE_SIGNAL`, ...); false when not connected. */
    send(frame) {
        return this.#live && (this.#transport?.send(frame) ?? false);
    }
    /** Closes the socket; the client does not reconnect afterwards. */
    close() {
        if (this.#stopped)
            return;
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
    async #run() {
        while (!this.#stopped) {
            const ending = await this.#attempt();
            if (this.#stopped)
                return;
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
    async #attempt() {
        try {
            const token = this.#options.token;
            this.#token = typeof token === "function" ? await token() : token;
        }
        catch (error) {
            return { reason: `the token function failed: ${message(error)}` };
        }
        let nodeUrl = this.#redirectUrl;
        this.#redirectUrl = undefined;
        if (!nodeUrl) {
            try {
                nodeUrl = await discoverNode(this.#fetch, this.#options.dispatcherUrl, this.#token);
            }
            catch (error) {
                return { reason: message(error), final: error instanceof AuthError };
            }
        }
        if (this.#stopped)
            return { reason: "closed", final: true };
        return new Promise((resolve) => {
            this.#endAttempt = resolve;
            try {
                const transport = new Transport(this.#WebSocket, socketUrl(nodeUrl), {
                    onOpen: () => this.#greet(transport),
                    onFrame: (frame) => {
                        if (transport === this.#transport)
                            this.#onFrame(transport, frame);
                    },
                    onEnd: (end) => {
                        if (transport !== this.#transport)
                            return;
                        this.#socketGone();
                        const final = end.code !== undefined && FINAL_CLOSE_CODES.has(end.code);
                        resolve({ ...end, final });
                    },
                });
                this.#transport = transport;
                this.#ledger.socketChanged();
            }
            catch (error) {
                resolve({ reason: `could not open ${nodeUrl}: ${message(error)}` });
            }
        });
    }
    /** How long to wait before the next attempt. */
    #delayAfter(ending) {
        if (ending.code === RECONNECT_CODE && this.#redirectsInARow < IMMEDIATE_REDIRECTS) {
            this.#redirectsInARow += 1;
            return 0; // the node asked: go at once
        }
        return this.#backoff.next();
    }
    #sleep(ms) {
        return new Promise((resolve) => {
            const timer = setTimeout(resolve, ms);
            this.#wakeUp = () => {
                clearTimeout(timer);
                resolve();
            };
        });
    }
    /** The socket is open: resume the session when there is one, else identify. */
    #greet(transport) {
        if (this.#sessionId !== undefined) {
            this.#resuming = true;
            transport.send({
                op: "RESUME",
                token: this.#token,
                session_id: this.#sessionId,
                seq: this.#seq,
            });
        }
        else {
            this.#resuming = false;
            transport.send({ op: "IDENTIFY", data: { token: this.#token } });
        }
    }
    /** The current socket ended: what was asked on it will not be answered. */
    #socketGone() {
        this.#transport = undefined;
        this.#live = false;
        this.#resuming = false;
        this.#ledger.socketChanged();
        // Rooms being left are not wanted: no later session rejoins them (a resumed one that
        // restores one is told to leave it again).
        this.#leaving.clear();
        for (const waiters of this.#unsubscribeWaiters.values())
            for (const w of waiters)
                w.resolve();
        this.#unsubscribeWaiters.clear();
    }
    /** The client stops for good: settles everything still waiting. */
    #finish(ending, report) {
        const error = new Error(`the client is closed: ${ending.reason}`);
        this.#settleFirstReady?.reject(error);
        for (const room of [...this.#subscribeWaiters.keys()]) {
            this.#fail(this.#subscribeWaiters, room, error);
        }
        for (const waiters of this.#unsubscribeWaiters.values())
            for (const w of waiters)
                w.resolve();
        this.#unsubscribeWaiters.clear();
        this.#follows.failAll(error);
        if (report)
            this.#emitter.emit("disconnected", { code: ending.code, reason: ending.reason });
        this.#setState("closed");
    }
    #setState(state) {
        if (state === this.#state)
            return;
        this.#state = state;
        this.#emitter.emit("state", state);
    }
    // ---- server frames ----
    #onFrame(transport, frame) {
        const type = typeof frame.type === "string" ? frame.type : undefined;
        if (type === undefined)
            return;
        if (!PROTOCOL_FRAME_TYPES.has(type)) {
            this.#onEvent(frame);
        }
        else {
            this.#onProtocolFrame(transport, frame);
            this.#emitter.emit(type, frame);
        }
        // RESUME names the last frame processed; frames before the session opens belong to it
        // only once READY or RESUMED says which session that is.
        if (this.#live && typeof frame.seq === "number")
            this.#seq = frame.seq;
    }
    #onProtocolFrame(transport, frame) {
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
                return this.#follows.answered(frame.data);
        }
    }
    #onReady(transport, frame) {
        const ready = frame.data;
        this.#opened(transport, ready.session_id, ready.user_id, ready.heartbeat_interval, frame.seq);
        this.#automatic = new Set(ready.rooms);
        // A new session is in the automatic rooms only: join every room again, from the last
        // event delivered where there is one. The automatic rooms are asked for too, for their
        // position (and what they missed).
        for (const room of new Set([...this.#automatic, ...this.#wanted]))
            this.#rejoin(room);
        this.#restoreLiveState();
        this.#setState("open");
        this.#emitter.emit("ready", ready);
        this.#settleFirstReady?.resolve(ready);
    }
    #onResumed(transport, frame) {
        const resumed = frame.data;
        this.#opened(transport, resumed.session_id, resumed.user_id, resumed.heartbeat_interval, frame.seq);
        const restored = new Set();
        for (const [room, outcome] of Object.entries(resumed.rooms)) {
            // Followed presence is listed too (as `forbidden room`: RESUME does not restore it);
            // it is followed again below.
            if (room.startsWith("presence:"))
                continue;
            const stillWanted = this.#wanted.has(room) || this.#automatic.has(room);
            if ("error" in outcome) {
                // A broker that was slow is asked again below; a refusal is final.
                if (outcome.error === RETRY_SUBSCRIBE_ERROR)
                    continue;
                restored.add(room);
                if (stillWanted)
                    this.#lose(room, outcome.error);
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
            if (!restored.has(room))
                this.#rejoin(room);
        }
        this.#restoreLiveState();
        this.#setState("open");
        this.#emitter.emit("resumed", resumed);
    }
    /** READY or RESUMED: the socket carries a session now. */
    #opened(transport, sessionId, userId, heartbeatMs, seq) {
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
    #restoreLiveState() {
        this.#follows.restore();
        this.#sendFollows();
        if (this.#presence)
            this.#transport?.send({ op: "PRESENCE_UPDATE", ...this.#presence });
    }
    #sendFollows() {
        for (const frame of this.#follows.takeUnsent())
            this.#transport?.send(frame);
    }
    /** SUBSCRIBE `room` again, from the last event delivered when there is one. */
    #rejoin(room) {
        this.#sendSubscribe(room, this.#ledger.position(room));
    }
    /** SUBSCRIBE `room`, with `since` when given. */
    #sendSubscribe(room, since) {
        this.#ledger.subscribing(room, since);
        this.#transport?.send(since ? { op: "SUBSCRIBE", room, since } : { op: "SUBSCRIBE", room });
    }
    #onSubscribed(room, data) {
        this.#apply(room, this.#ledger.subscribed(room, data));
        this.#settle(this.#subscribeWaiters, room, data);
    }
    #onUnsubscribed(room) {
        if (this.#leaving.delete(room)) {
            this.#ledger.forget(room);
            this.#settle(this.#unsubscribeWaiters, room, undefined);
        }
        else if (this.#wanted.has(room) || this.#automatic.has(room)) {
            this.#lose(room, "unsubscribed"); // kicked, banned, left, or the channel deleted
        }
    }
    #onError(transport, text, room) {
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
        if (!this.#ledger.isAwaiting(room))
            return; // about another op on that room (typing, voice)
        if (FINAL_SUBSCRIBE_ERRORS.has(text)) {
            this.#lose(room, text);
        }
        else if (text === RETRY_SUBSCRIBE_ERROR) {
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
    #lose(room, reason) {
        const wasIn = this.#ledger.position(room) !== undefined;
        this.#wanted.delete(room);
        this.#automatic.delete(room);
        this.#ledger.forget(room);
        this.#fail(this.#subscribeWaiters, room, new Error(reason));
        if (wasIn)
            this.#emitter.emit("room_lost", { room, reason });
    }
    /** Carries out what the ledger decided: ask for missing events, or report a gap. */
    #apply(room, settlement) {
        if (settlement.gap)
            this.#emitter.emit("gap", settlement.gap);
        if (settlement.resyncFrom)
            this.#sendSubscribe(room, settlement.resyncFrom);
    }
    #onEvent(frame) {
        const room = typeof frame.room === "string" ? frame.room : undefined;
        if (room !== undefined && this.#leaving.has(room))
            return;
        if (room !== undefined && typeof frame.offset === "number" && typeof frame.epoch === "string") {
            const admission = this.#ledger.admit(room, frame.offset, frame.epoch);
            this.#apply(room, admission);
            if (!admission.deliver)
                return;
        }
        this.#emitter.emit(frame.type, frame);
        this.#emitter.emit("event", frame);
    }
    // ---- waiting for answers ----
    #wait(waiters, room) {
        return new Promise((resolve, reject) => {
            const list = waiters.get(room) ?? [];
            list.push({ resolve, reject });
            waiters.set(room, list);
        });
    }
    #settle(waiters, room, value) {
        const list = waiters.get(room);
        waiters.delete(room);
        for (const waiter of list ?? [])
            waiter.resolve(value);
    }
    #fail(waiters, room, error) {
        const list = waiters.get(room);
        waiters.delete(room);
        for (const waiter of list ?? [])
            waiter.reject(error);
    }
}
function message(error) {
    return error instanceof Error ? error.message : String(error);
}

/**
 * `ChatClient`: one logical connection to the chat gateway that outlives its sockets. It finds
 * the user's node, authenticates with a frame, and when a socket ends it reconnects (backoff,
 * or at once to a RECONNECT's `url`), resumes the session or rejoins each room from the last
 * event it delivered, and restores presence follows and status. The WebSocket constructor is
 * handed in; see index.ts (browsers) and node.ts (the `ws` package).
 */
import { type BackoffOptions } from "./backoff.js";
import { type FetchLike } from "./discovery.js";
import { type Handler } from "./emitter.js";
import { type ClientEvents, type ConnectionState, type EventFrame, type ReadyData, type SubscribedData } from "./events.js";
import { type FollowTarget, type PresenceMap } from "./presence.js";
import { type WebSocketConstructor } from "./transport.js";
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
    game?: {
        name: string;
        [field: string]: unknown;
    } | null;
    idle_since?: number | null;
}
export declare class ChatClient {
    #private;
    constructor(options: ChatClientOptions);
    get state(): ConnectionState;
    /** The user's id (a string), from READY. */
    get userId(): string | undefined;
    /** The current session's id, from READY or RESUMED. */
    get sessionId(): string | undefined;
    /** The URL of the socket now open or opening. */
    get nodeUrl(): string | undefined;
    on<K extends keyof ClientEvents>(name: K, handler: Handler<ClientEvents[K]>): this;
    on(name: string, handler: Handler<EventFrame>): this;
    off<K extends keyof ClientEvents>(name: K, handler: Handler<ClientEvents[K]>): this;
    off(name: string, handler: Handler<EventFrame>): this;
    /** Starts connecting (once); resolves at the first READY. */
    connect(): Promise<ReadyData>;
    /** Joins `room` (now, or once connected); remembered for reconnects. */
    subscribe(room: string): Promise<SubscribedData>;
    /** Leaves `room` and forgets it. */
    unsubscribe(room: string): Promise<void>;
    /** Follows users' presence; resolves with the `INIT_STATE` data (user id → presence). */
    followPresence(target: FollowTarget): Promise<PresenceMap>;
    /** Sets this session's presence (and again on every new socket). */
    setPresence(update: PresenceUpdate): void;
    /** Tells the channel's other members the user is typing (live only: false when not connected). */
    typing(room: string, isTyping?: boolean): boolean;
    /** Sends any op as it is (`VOICE_STATE`, `VOICE_SIGNAL`, ...); false when not connected. */
    send(frame: {
        op: string;
        [field: string]: unknown;
    }): boolean;
    /** Closes the socket; the client does not reconnect afterwards. */
    close(): void;
}

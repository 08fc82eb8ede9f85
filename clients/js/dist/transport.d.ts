/**
 * One WebSocket to a gateway node: JSON frames in and out, heartbeats once the session is
 * open, and a single report of how the socket ended. The constructor is handed in (the
 * browser's global `WebSocket`, or the `ws` package under Node), so this module runs on both.
 *
 * A socket can die without a close frame (a node killed, a network that silently drops
 * packets); the platform may then take minutes to notice. Two timers catch that: the session
 * must open within `HANDSHAKE_TIMEOUT_MS`, and once open, every heartbeat must be acknowledged
 * before the next one is due. Either miss abandons the socket at once.
 */
/**
 * An event handler property. Written as a method so that its parameter is compared both ways:
 * the platforms declare their handlers with their own event classes (`MessageEvent`,
 * `CloseEvent`), which carry the fields used here.
 */
type Handler<E> = {
    handle(event: E): void;
}["handle"];
/** The part of the WebSocket API this client uses (the browser's and `ws` both have it). */
export interface WebSocketLike {
    readonly readyState: number;
    send(data: string): void;
    close(code?: number, reason?: string): void;
    onopen: Handler<unknown> | null;
    onmessage: Handler<{
        data: unknown;
    }> | null;
    onclose: Handler<{
        code: number;
        reason: string;
    }> | null;
    onerror: Handler<unknown> | null;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;
/** How a socket ended. `code` is the close code when the peer or the platform reported one. */
export interface SocketEnd {
    code?: number;
    reason: string;
}
/** Longest wait from opening the socket to READY or RESUMED (a RESUME may wait 2 s for a takeover). */
export declare const HANDSHAKE_TIMEOUT_MS = 15000;
/**
 * Outgoing frames per second, and the burst allowed before that rate applies. The gateway
 * closes a socket (4008) past 60 frames per second with a burst of 120; a user in many rooms
 * rejoins them all at once after a reconnect, so frames beyond the burst wait their turn.
 */
export declare const SEND_RATE_PER_SECOND = 50;
export declare const SEND_BURST = 100;
export interface TransportHandlers {
    /** The socket is open: time to IDENTIFY or RESUME. */
    onOpen(): void;
    /** One server frame, parsed. */
    onFrame(frame: Record<string, unknown>): void;
    /** The socket ended (called once; never after `close()`). */
    onEnd(end: SocketEnd): void;
}
export declare class Transport {
    #private;
    readonly url: string;
    constructor(Ctor: WebSocketConstructor, url: string, handlers: TransportHandlers);
    get isOpen(): boolean;
    /**
     * Sends one frame, or queues it behind others while the send budget is spent; false when
     * the socket is not open (the frame is dropped).
     */
    send(frame: object): boolean;
    /**
     * The session is open: stop the handshake timer and heartbeat every `intervalMs`. A
     * heartbeat still unacknowledged when the next is due means the socket is dead.
     */
    startHeartbeats(intervalMs: number): void;
    /** A `HEARTBEAT_ACK` arrived. */
    acknowledged(): void;
    /** Closes the socket on purpose (code 1000); `onEnd` is not called. */
    close(): void;
    /**
     * Gives up on a socket that looks dead: reports its end now instead of waiting for a close
     * handshake that may never finish, and drops it.
     */
    abandon(reason: string): void;
}
export {};

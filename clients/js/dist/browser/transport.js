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
/** Longest wait from opening the socket to READY or RESUMED (a RESUME may wait 2 s for a takeover). */
export const HANDSHAKE_TIMEOUT_MS = 15_000;
/**
 * Outgoing frames per second, and the burst allowed before that rate applies. The gateway
 * closes a socket (4008) past 60 frames per second with a burst of 120; a user in many rooms
 * rejoins them all at once after a reconnect, so frames beyond the burst wait their turn.
 */
export const SEND_RATE_PER_SECOND = 50;
export const SEND_BURST = 100;
const OPEN = 1;
export class Transport {
    url;
    #socket;
    #handlers;
    #ended = false;
    #handshakeTimer;
    #heartbeatTimer;
    #awaitingAck = false;
    /** Frames waiting for send budget, oldest first. */
    #outbox = [];
    #budget = SEND_BURST;
    #budgetAt = Date.now();
    #drainTimer;
    constructor(Ctor, url, handlers) {
        this.url = url;
        this.#handlers = handlers;
        this.#socket = new Ctor(url);
        this.#socket.onopen = () => handlers.onOpen();
        this.#socket.onmessage = (event) => this.#receive(event.data);
        this.#socket.onclose = (event) => this.#end({ code: event.code, reason: event.reason || "closed" });
        // An error is always followed by a close event, which carries the code.
        this.#socket.onerror = () => { };
        this.#handshakeTimer = setTimeout(() => this.abandon("no READY or RESUMED in time"), HANDSHAKE_TIMEOUT_MS);
    }
    get isOpen() {
        return !this.#ended && this.#socket.readyState === OPEN;
    }
    /**
     * Sends one frame, or queues it behind others while the send budget is spent; false when
     * the socket is not open (the frame is dropped).
     */
    send(frame) {
        if (!this.isOpen)
            return false;
        this.#outbox.push(JSON.stringify(frame));
        this.#drain();
        return true;
    }
    #drain() {
        const now = Date.now();
        this.#budget = Math.min(SEND_BURST, this.#budget + ((now - this.#budgetAt) * SEND_RATE_PER_SECOND) / 1000);
        this.#budgetAt = now;
        while (this.#outbox.length > 0 && this.#budget >= 1 && this.isOpen) {
            this.#budget -= 1;
            this.#socket.send(this.#outbox.shift());
        }
        if (this.#outbox.length > 0 && this.#drainTimer === undefined && !this.#ended) {
            this.#drainTimer = setTimeout(() => {
                this.#drainTimer = undefined;
                this.#drain();
            }, Math.ceil(1000 / SEND_RATE_PER_SECOND));
        }
    }
    /**
     * The session is open: stop the handshake timer and heartbeat every `intervalMs`. A
     * heartbeat still unacknowledged when the next is due means the socket is dead.
     */
    startHeartbeats(intervalMs) {
        clearTimeout(this.#handshakeTimer);
        clearInterval(this.#heartbeatTimer);
        this.#awaitingAck = false;
        this.#heartbeatTimer = setInterval(() => {
            if (this.#awaitingAck) {
                this.abandon("heartbeat not acknowledged");
                return;
            }
            this.#awaitingAck = true;
            this.send({ op: "HEARTBEAT" });
        }, intervalMs);
    }
    /** A `HEARTBEAT_ACK` arrived. */
    acknowledged() {
        this.#awaitingAck = false;
    }
    /** Closes the socket on purpose (code 1000); `onEnd` is not called. */
    close() {
        if (this.#ended)
            return;
        this.#stop();
        this.#socket.close(1000, "client closed");
    }
    /**
     * Gives up on a socket that looks dead: reports its end now instead of waiting for a close
     * handshake that may never finish, and drops it.
     */
    abandon(reason) {
        if (this.#ended)
            return;
        this.#end({ reason });
        const socket = this.#socket;
        try {
            // `ws` can drop the connection outright; a browser socket can only be asked to close.
            if (typeof socket.terminate === "function")
                socket.terminate();
            else
                socket.close(4000, reason);
        }
        catch {
            // Closing a socket that is still connecting throws in some platforms: it is gone anyway.
        }
    }
    #receive(data) {
        if (this.#ended || typeof data !== "string")
            return; // the client never asks for binary frames
        let frame;
        try {
            frame = JSON.parse(data);
        }
        catch {
            return; // not a frame of this protocol
        }
        if (frame !== null && typeof frame === "object" && !Array.isArray(frame)) {
            this.#handlers.onFrame(frame);
        }
    }
    #end(end) {
        if (this.#ended)
            return;
        this.#stop();
        this.#handlers.onEnd(end);
    }
    #stop() {
        this.#ended = true;
        clearTimeout(this.#handshakeTimer);
        clearInterval(this.#heartbeatTimer);
        clearTimeout(this.#drainTimer);
        this.#outbox = [];
        this.#socket.onopen = null;
        this.#socket.onmessage = null;
        this.#socket.onclose = null;
        // Keep a no-op error handler: `ws` throws on an 'error' event nobody listens to.
        this.#socket.onerror = () => { };
    }
}

/**
 * Where the client's copy of each room stands, and what that means for every event and every
 * position report the server sends: deliver an event, drop it as one already delivered, or
 * ask the server for what is missing (`SUBSCRIBE {since}`), and tell the application when a
 * room may have a gap that history cannot fill.
 *
 * The rules come from docs/protocol.md ("Delivery"): a room's events carry consecutive
 * offsets within an epoch; replays after `SUBSCRIBE {since}` or `RESUME` may repeat events
 * the socket already got (recognized by offset); an answer with `recovered: false` means
 * history could not cover what was missed. This module only decides; the client sends.
 *
 * One exception to consecutive offsets: on a user's own room (`user:<id>`) the dispatcher
 * also publishes membership notices (a copy of `member_joined`, `dm_created`) that take an
 * offset but are not shown in this format, so offsets there may skip. A skip is only
 * suspicious in the other rooms, outside a replay the server already answered for.
 */
/**
 * A room seen before its history began stands at offset 0 of no epoch (`""`): whatever epoch
 * its first events start, they all come after (the gateway's `since` rule too).
 */
function isBeforeHistory(position) {
    return position.offset === 0 && position.epoch === "";
}
/** Rooms whose every offset is shown to the client (see the module's comment). */
function showsEveryOffset(room) {
    return !room.startsWith("user:");
}
export class RoomLedger {
    #rooms = new Map();
    #state(room) {
        let state = this.#rooms.get(room);
        if (!state) {
            state = {};
            this.#rooms.set(room, state);
        }
        return state;
    }
    /** The last position the client holds for `room` (what `SUBSCRIBE {since}` sends). */
    position(room) {
        const position = this.#rooms.get(room)?.position;
        return position && { ...position };
    }
    /** A `SUBSCRIBE` for `room` was sent, with `since` or without. */
    subscribing(room, since) {
        this.#state(room).awaiting = since ? "since" : "fresh";
    }
    /** Whether a `SUBSCRIBE` for `room` waits for its answer on this socket. */
    isAwaiting(room) {
        return this.#rooms.get(room)?.awaiting !== undefined;
    }
    /** The `SUBSCRIBE` for `room` was answered with an error. */
    refused(room) {
        const state = this.#rooms.get(room);
        if (state)
            delete state.awaiting;
    }
    /** The socket changed: answers to what the old one asked will never come. */
    socketChanged() {
        for (const state of this.#rooms.values()) {
            delete state.awaiting;
            delete state.replayUntil;
        }
    }
    /** The room is left: its position no longer means anything. */
    forget(room) {
        this.#rooms.delete(room);
    }
    /** Decides about an event at `offset` of `epoch` in `room`. */
    admit(room, offset, epoch) {
        const state = this.#state(room);
        const position = state.position;
        if (!position) {
            // First sight of a room already joined (the automatic ones): start from here.
            state.position = { offset, epoch };
            return { deliver: true };
        }
        if (isBeforeHistory(position))
            position.epoch = epoch;
        if (epoch !== position.epoch) {
            if (state.awaiting)
                return { deliver: false }; // the answer tells the new epoch
            // A new life of the room's history. Starting at 1 nothing of it was missed; otherwise
            // what came before this event in the new epoch is unknown.
            state.position = { offset, epoch };
            delete state.replayUntil;
            return offset === 1
                ? { deliver: true }
                : { deliver: true, gap: { room, offset: offset - 1, epoch } };
        }
        if (offset <= position.offset)
            return { deliver: false }; // a repeat
        const next = offset === position.offset + 1;
        // Past a hole while a SUBSCRIBE is in flight: its replay brings this event after the
        // missing ones (or its answer says they are lost).
        if (!next && state.awaiting)
            return { deliver: false };
        if (next || !showsEveryOffset(room) || offset <= (state.replayUntil ?? 0)) {
            position.offset = offset;
            if (offset >= (state.replayUntil ?? 0))
                delete state.replayUntil;
            return { deliver: true };
        }
        // A hole in a live stream: ask for what is missing before going on.
        state.awaiting = "since";
        return { deliver: false, resyncFrom: { ...position } };
    }
    /** The server answered `SUBSCRIBED` for `room` (asked, or unasked after a node lost events). */
    subscribed(room, report) {
        const state = this.#state(room);
        const askedSince = state.awaiting === "since";
        delete state.awaiting;
        // The replay of everything after the position we sent follows this answer.
        if (report.recovered === true && state.position) {
            if (state.position.epoch === report.epoch && report.offset > state.position.offset) {
                state.replayUntil = report.offset;
            }
            return {};
        }
        return this.#settle(room, state, report, !askedSince);
    }
    /**
     * `RESUMED` listed `room` as restored: the replay came before it, so the client should now
     * stand at the reported position.
     */
    resumed(room, report) {
        const state = this.#state(room);
        delete state.awaiting;
        return this.#settle(room, state, report, true);
    }
    /**
     * Compares the server's position with ours. Ours behind in the same epoch: the events in
     * between never reached us, and when `mayAsk` (the report did not answer our own `since`)
     * history may still have them. Otherwise they are lost to us: a gap.
     */
    #settle(room, state, report, mayAsk) {
        const ours = state.position;
        const theirs = { offset: report.offset, epoch: report.epoch };
        if (!ours) {
            state.position = theirs; // a first subscription: events up to here are the past
            return {};
        }
        if (isBeforeHistory(ours))
            ours.epoch = theirs.epoch;
        // At or past the report: live events that followed the server's read can precede its
        // answer (RESUMED comes after them).
        if (ours.epoch === theirs.epoch && ours.offset >= theirs.offset)
            return {};
        if (ours.epoch === theirs.epoch && ours.offset < theirs.offset && mayAsk) {
            state.awaiting = "since";
            return { resyncFrom: { ...ours } };
        }
        state.position = theirs;
        delete state.replayUntil;
        return { gap: { room, ...theirs } };
    }
}

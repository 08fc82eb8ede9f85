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
import type { GapInfo, Position } from "./events.js";
/** What to do with one event of a room. */
export interface Admission {
    /** Hand it to the application. */
    deliver: boolean;
    /** Events before this one are missing: ask for the room again from here (`since`). */
    resyncFrom?: Position;
    /** The room may have a gap up to this event (its history was reset meanwhile). */
    gap?: GapInfo;
}
/** What to do after the server said where a room stands. */
export interface Settlement {
    resyncFrom?: Position;
    gap?: GapInfo;
}
/** A position report: a `SUBSCRIBED` answer or one room of `RESUMED`. */
export interface Report extends Position {
    recovered?: boolean;
}
export declare class RoomLedger {
    #private;
    /** The last position the client holds for `room` (what `SUBSCRIBE {since}` sends). */
    position(room: string): Position | undefined;
    /** A `SUBSCRIBE` for `room` was sent, with `since` or without. */
    subscribing(room: string, since: Position | undefined): void;
    /** Whether a `SUBSCRIBE` for `room` waits for its answer on this socket. */
    isAwaiting(room: string): boolean;
    /** The `SUBSCRIBE` for `room` was answered with an error. */
    refused(room: string): void;
    /** The socket changed: answers to what the old one asked will never come. */
    socketChanged(): void;
    /** The room is left: its position no longer means anything. */
    forget(room: string): void;
    /** Decides about an event at `offset` of `epoch` in `room`. */
    admit(room: string, offset: number, epoch: string): Admission;
    /** The server answered `SUBSCRIBED` for `room` (asked, or unasked after a node lost events). */
    subscribed(room: string, report: Report): Settlement;
    /**
     * `RESUMED` listed `room` as restored: the replay came before it, so the client should now
     * stand at the reported position.
     */
    resumed(room: string, report: Report): Settlement;
}

/**
 * Presence the client follows (`PRESENCE_SUBSCRIBE`): the requests waiting for their
 * `INIT_STATE`, and the follows to ask for again on a new socket (a session's follows do not
 * survive a reconnect, and updates are live only, so the fresh `INIT_STATE` is also how the
 * application catches up on what changed meanwhile).
 *
 * The protocol has no request ids: a socket answers its ops in order, one frame each, so the
 * oldest request sent is the one an `INIT_STATE`, or an `ERROR` without a room that a follow can
 * cause, answers.
 */
import type { Id, Presence } from "./events.js";
export type FollowTarget = {
    userIds: Id[];
} | {
    all: true;
};
/** `INIT_STATE` data for `user_ids` and `all`: user id → presence. */
export type PresenceMap = Record<Id, Presence>;
/** At most this many ids per `PRESENCE_SUBSCRIBE` (the gateway's default `GATEWAY_PRESENCE_MAX_IDS`). */
export declare const MAX_IDS_PER_REQUEST = 100;
export declare class PresenceFollows {
    #private;
    /** Queues a follow; the promise settles with its answer, sent by `takeUnsent`. */
    request(target: FollowTarget): Promise<PresenceMap>;
    /** The frames of the requests not sent yet, now marked sent. */
    takeUnsent(): object[];
    /**
     * A new session: requests sent on the old socket are sent again, after the follows already
     * answered (asked again in chunks the gateway accepts).
     */
    restore(): void;
    /** An `INIT_STATE` arrived: it answers the oldest request sent. */
    answered(data: PresenceMap): void;
    /** An `ERROR` without a room arrived; true if it answers a follow (which then fails). */
    refused(text: string): boolean;
    /** The client stops: every request waiting fails. */
    failAll(error: Error): void;
}

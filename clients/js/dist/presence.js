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
/** At most this many ids per `PRESENCE_SUBSCRIBE` (the gateway's default `GATEWAY_PRESENCE_MAX_IDS`). */
export const MAX_IDS_PER_REQUEST = 100;
/** `ERROR` texts a `PRESENCE_SUBSCRIBE` can get (docs/protocol.md, "Presence"). */
const FOLLOW_ERRORS = [
    "too many user ids",
    "presence for all users is not enabled",
    "presence unavailable",
    "give exactly one of user_ids, user_id or all",
    "user_ids must be",
    "user_id must be",
    "too many rooms",
    "room unavailable",
    "forbidden room",
];
export class PresenceFollows {
    #followed = new Set();
    #followsAll = false;
    #queue = [];
    /** Queues a follow; the promise settles with its answer, sent by `takeUnsent`. */
    request(target) {
        return new Promise((resolve, reject) => {
            this.#queue.push({ target, sent: false, resolve, reject });
        });
    }
    /** The frames of the requests not sent yet, now marked sent. */
    takeUnsent() {
        return this.#queue.filter((r) => !r.sent).map((r) => {
            r.sent = true;
            return "all" in r.target
                ? { op: "PRESENCE_SUBSCRIBE", all: true }
                : { op: "PRESENCE_SUBSCRIBE", user_ids: r.target.userIds };
        });
    }
    /**
     * A new session: requests sent on the old socket are sent again, after the follows already
     * answered (asked again in chunks the gateway accepts).
     */
    restore() {
        const again = [];
        if (this.#followsAll)
            again.push({ target: { all: true }, sent: false });
        const ids = [...this.#followed];
        for (let i = 0; i < ids.length; i += MAX_IDS_PER_REQUEST) {
            again.push({ target: { userIds: ids.slice(i, i + MAX_IDS_PER_REQUEST) }, sent: false });
        }
        for (const request of this.#queue)
            request.sent = false;
        this.#queue = [...again, ...this.#queue];
    }
    /** An `INIT_STATE` arrived: it answers the oldest request sent. */
    answered(data) {
        const request = this.#takeOldestSent();
        if (!request)
            return;
        if ("all" in request.target)
            this.#followsAll = true;
        else
            for (const id of request.target.userIds)
                this.#followed.add(String(id));
        request.resolve?.(data);
    }
    /** An `ERROR` without a room arrived; true if it answers a follow (which then fails). */
    refused(text) {
        if (!FOLLOW_ERRORS.some((prefix) => text.startsWith(prefix)))
            return false;
        const request = this.#takeOldestSent();
        if (!request)
            return false;
        request.reject?.(new Error(text));
        return true;
    }
    /** The client stops: every request waiting fails. */
    failAll(error) {
        for (const request of this.#queue)
            request.reject?.(error);
        this.#queue = [];
    }
    #takeOldestSent() {
        const index = this.#queue.findIndex((r) => r.sent);
        if (index < 0)
            return undefined;
        return this.#queue.splice(index, 1)[0];
    }
}

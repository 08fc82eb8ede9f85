/**
 * Reconnect delays: capped exponential backoff with full jitter (a uniform draw between 0 and
 * `min(capMs, baseMs * 2^attempt)`), so that the clients of a node that died do not all come
 * back at the same instant.
 */
export const DEFAULT_BACKOFF = { baseMs: 500, capMs: 30_000 };
export class Backoff {
    baseMs;
    capMs;
    #attempt = 0;
    #random;
    /** `random` returns a number in [0, 1), like `Math.random` (the default). */
    constructor(options = {}, random = Math.random) {
        this.baseMs = options.baseMs ?? DEFAULT_BACKOFF.baseMs;
        this.capMs = options.capMs ?? DEFAULT_BACKOFF.capMs;
        if (!(this.baseMs >= 0) || !(this.capMs >= 0)) {
            throw new RangeError("backoff baseMs and capMs must be non-negative numbers");
        }
        this.#random = random;
    }
    /** How many delays were drawn since the last reset. */
    get attempt() {
        return this.#attempt;
    }
    /** The ceiling of attempt `attempt` (0 for the first): `min(capMs, baseMs * 2^attempt)`. */
    ceiling(attempt) {
        // 2^attempt overflows to Infinity for large attempts, which min() caps.
        return Math.min(this.capMs, this.baseMs * 2 ** attempt);
    }
    /** The next delay (ms), a whole number in [0, ceiling]; each call counts one attempt. */
    next() {
        const ceiling = this.ceiling(this.#attempt);
        this.#attempt += 1;
        return Math.floor(this.#random() * (ceiling + 1));
    }
    /** A connection worked: the next failure starts from the base again. */
    reset() {
        this.#attempt = 0;
    }
}

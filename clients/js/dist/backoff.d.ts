/**
 * Reconnect delays: capped exponential backoff with full jitter (a uniform draw between 0 and
 * `min(capMs, baseMs * 2^attempt)`), so that the clients of a node that died do not all come
 * back at the same instant.
 */
export interface BackoffOptions {
    /** The ceiling of the first attempt's delay (ms). Default 500. */
    baseMs?: number;
    /** The largest ceiling any attempt gets (ms). Default 30000. */
    capMs?: number;
}
export declare const DEFAULT_BACKOFF: {
    readonly baseMs: 500;
    readonly capMs: 30000;
};
export declare class Backoff {
    #private;
    readonly baseMs: number;
    readonly capMs: number;
    /** `random` returns a number in [0, 1), like `Math.random` (the default). */
    constructor(options?: BackoffOptions, random?: () => number);
    /** How many delays were drawn since the last reset. */
    get attempt(): number;
    /** The ceiling of attempt `attempt` (0 for the first): `min(capMs, baseMs * 2^attempt)`. */
    ceiling(attempt: number): number;
    /** The next delay (ms), a whole number in [0, ceiling]; each call counts one attempt. */
    next(): number;
    /** A connection worked: the next failure starts from the base again. */
    reset(): void;
}

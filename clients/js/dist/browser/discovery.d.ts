/**
 * Which node to connect to: `GET /api/gateway` on the dispatcher with the user's token as a
 * Bearer header (docs/api.md), and the socket URL built from its answer.
 */
export type FetchLike = (url: string, init: {
    headers: Record<string, string>;
}) => Promise<{
    status: number;
    json(): Promise<unknown>;
}>;
/** Discovery failed in a way retrying will not fix (the token was refused). */
export declare class AuthError extends Error {
    constructor(message: string);
}
/** Asks the dispatcher for the user's node; resolves to its WebSocket URL as given. */
export declare function discoverNode(fetchImpl: FetchLike, dispatcherUrl: string, token: string): Promise<string>;
/**
 * The URL to open for a node URL (from discovery or a RECONNECT): the pass-through format,
 * whose events keep their published names and carry their epoch. No token in it: the client
 * authenticates with a frame.
 */
export declare function socketUrl(nodeUrl: string): string;

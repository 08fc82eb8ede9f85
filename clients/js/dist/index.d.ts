/**
 * The universal entry (browsers, bundlers, Deno, Node >= 22): the client over the platform's
 * global `WebSocket` and `fetch`, with no dependency. Node 20 has no stable global WebSocket:
 * there, `chat-gateway-client` resolves to node.ts, which hands the client the `ws` package.
 */
export { ChatClient } from "./client.js";
export type { ChatClientOptions, PresenceUpdate } from "./client.js";
export { Backoff, DEFAULT_BACKOFF } from "./backoff.js";
export type { BackoffOptions } from "./backoff.js";
export { AuthError } from "./discovery.js";
export type { FetchLike } from "./discovery.js";
export type { FollowTarget, PresenceMap } from "./presence.js";
export type { WebSocketConstructor, WebSocketLike } from "./transport.js";
export type * from "./events.js";

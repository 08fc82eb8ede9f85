/**
 * The frames of the native dialect's pass-through format (`/api/ws?format=events`,
 * docs/protocol.md) as TypeScript types, and the map from event name to handler payload that
 * the client's `on` is typed with.
 *
 * Chat events arrive exactly as the dispatcher published them (seed 001's envelope): ids are
 * strings there. The protocol's own frames (READY, SUBSCRIBED, ...) are the native ones.
 */
/** The protocol frames that are not chat events. */
export const PROTOCOL_FRAME_TYPES = new Set([
    "READY",
    "RESUMED",
    "INVALID_SESSION",
    "RECONNECT",
    "SUBSCRIBED",
    "UNSUBSCRIBED",
    "ERROR",
    "INIT_STATE",
    "HEARTBEAT_ACK",
]);

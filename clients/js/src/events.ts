/**
 * The frames of the native dialect's pass-through format (`/api/ws?format=events`,
 * docs/protocol.md) as TypeScript types, and the map from event name to handler payload that
 * the client's `on` is typed with.
 *
 * Chat events arrive exactly as the dispatcher published them (seed 001's envelope): ids are
 * strings there. The protocol's own frames (READY, SUBSCRIBED, ...) are the native ones.
 */

/** An id as published: `[A-Za-z0-9_-]{1,64}` or an integer written as a string. */
export type Id = string;

/** Where a room's history stands: `offset` counts events within one `epoch`. */
export interface Position {
  offset: number;
  epoch: string;
}

/** A chat event as the pass-through format delivers it. */
export interface EventFrame<T extends string = string, D = unknown> {
  type: T;
  data: D;
  /** The room it arrived on: `channel:<id>`, `dm:<id>`, `user:<id>`, `global`, `presence:<id>`. */
  room: string;
  /** RFC 3339 with milliseconds, UTC. */
  timestamp?: string;
  /** The event's unique id (a UUID). */
  id?: string;
  /** The event's place in the room's history; absent on live-only events (typing, presence, voice signals). */
  offset?: number;
  epoch?: string;
  /** The frame's number in this session. */
  seq?: number;
}

// ---- chat event data (DESIGN §3, seed 001 and seed 000) ----

export interface ChannelMessageData {
  channel_id: Id;
  message_id: Id;
  user_id: Id;
  username: string | null;
  content: string;
  /** The same as `message_id` (seed 000's name). */
  id: Id;
  /** The same as `user_id` (seed 000's name). */
  author_id: Id;
  created_at: string;
}

export interface MessageReplyData extends ChannelMessageData {
  parent_message_id: Id;
}

export interface MessageUpdatedData {
  channel_id: Id;
  message_id: Id;
  content: string;
}

export interface MessageDeletedData {
  channel_id: Id;
  message_id: Id;
}

/** `member_joined` and `member_left`. */
export interface MemberData {
  channel_id: Id;
  user_id: Id;
  username: string | null;
}

export type Role = "member" | "moderator" | "admin" | "owner";

export interface MemberRoleUpdatedData extends MemberData {
  new_role: Role;
}

/** `user_banned`, `user_unbanned`, `user_kicked`: `user_id` only on the channel's copy. */
export interface ModerationData {
  channel_id: Id;
  user_id?: Id;
  motive?: string;
}

export interface ChannelCreatedData {
  channel_id: Id;
  channel_name: string;
  kind: "text" | "voice";
  public: boolean;
}

/** The channel and whichever fields changed (`name`, `public`). */
export interface ChannelUpdatedData {
  channel_id: Id;
  name?: string;
  public?: boolean;
  [field: string]: unknown;
}

export interface ChannelDeletedData {
  channel_id: Id;
}

export interface UserTypingData {
  channel_id: Id;
  user_id: Id;
  username: string | null;
  is_typing: boolean;
}

export interface DirectMessageData {
  id: Id;
  direct_thread_id: Id;
  author_id: Id;
  content: string;
  created_at: string;
}

export interface VoiceSignalData {
  from_user_id: Id;
  signal: unknown;
  to_user_id?: Id;
}

export interface VoiceMemberState {
  user_id: Id;
  muted: boolean;
  deafened: boolean;
}

export interface VoiceStateData {
  channel_id: Id;
  /** False when the change was a leave. */
  joined: boolean;
  member_user_ids: Id[];
  member_states: VoiceMemberState[];
}

/** An activity: a `name` of 1-128 characters, other fields kept as given. */
export interface Game {
  name: string;
  [field: string]: unknown;
}

/** What others see of a user, over all their sessions. */
export interface Presence {
  user_id: Id;
  status: "online" | "idle" | "dnd" | "offline";
  game: Game | null;
  idle_since: number | null;
  active_on?: Array<"desktop" | "mobile" | "web">;
  username?: string;
}

/** Every chat event by name, with its data. */
export interface ChatEventData {
  channel_message: ChannelMessageData;
  message_reply: MessageReplyData;
  message_updated: MessageUpdatedData;
  message_deleted: MessageDeletedData;
  member_joined: MemberData;
  member_left: MemberData;
  member_role_updated: MemberRoleUpdatedData;
  user_banned: ModerationData;
  user_unbanned: ModerationData;
  user_kicked: ModerationData;
  channel_created: ChannelCreatedData;
  channel_updated: ChannelUpdatedData;
  channel_deleted: ChannelDeletedData;
  user_typing: UserTypingData;
  DIRECT_MESSAGE_CREATE: DirectMessageData;
  PRESENCE_UPDATE: Presence;
  VOICE_STATE_UPDATE: VoiceStateData;
  VOICE_SIGNAL: VoiceSignalData;
}

/** The frame of each chat event. */
export type ChatEvents = {
  [K in keyof ChatEventData]: EventFrame<K, ChatEventData[K]>;
};

/** Any chat event frame (a known one, or another publisher's). */
export type AnyEventFrame = ChatEvents[keyof ChatEvents] | EventFrame;

// ---- the protocol's own frames ----

export interface ReadyData {
  session_id: string;
  /** A JSON number when the id is all digits, else a string (`client.userId` is always a string). */
  user_id: number | string;
  /** Milliseconds between heartbeats. */
  heartbeat_interval: number;
  /** The rooms joined automatically: `user:<own id>` and `global`. */
  rooms: string[];
}

/** A room restored by RESUME: where it stands, and whether what was missed was replayed. */
export interface RestoredRoom extends Position {
  recovered: boolean;
}

export interface ResumedData {
  /** This session's id (keep it for the next RESUME). */
  session_id: string;
  /** The id of the session that was resumed. */
  resumed: string;
  user_id: number | string;
  heartbeat_interval: number;
  rooms: Record<string, RestoredRoom | { error: string }>;
}

export interface SubscribedData extends Position {
  /** Only in answer to `since` (or unasked, false, when a node lost events it could not refill). */
  recovered?: boolean;
}

export interface ProtocolFrames {
  READY: { type: "READY"; data: ReadyData; seq?: number };
  RESUMED: { type: "RESUMED"; data: ResumedData; seq?: number };
  INVALID_SESSION: { type: "INVALID_SESSION"; data: { session_id: string }; seq?: number };
  /** Sent before close 4021: connect to `url`, or ask `GET /api/gateway` when it is null. */
  RECONNECT: { type: "RECONNECT"; data: { url: string | null }; seq?: number };
  SUBSCRIBED: { type: "SUBSCRIBED"; room: string; data: SubscribedData; seq?: number };
  UNSUBSCRIBED: { type: "UNSUBSCRIBED"; room: string; seq?: number };
  /** A refused op; the socket stays. `room` when the error is about one. */
  ERROR: { type: "ERROR"; room?: string; data: string; seq?: number };
  /** The answer to PRESENCE_SUBSCRIBE: a map user id → presence (one presence for `user_id`). */
  INIT_STATE: { type: "INIT_STATE"; data: Record<Id, Presence> | Presence; seq?: number };
  HEARTBEAT_ACK: { type: "HEARTBEAT_ACK"; seq?: number };
}

export type ProtocolFrame = ProtocolFrames[keyof ProtocolFrames];

// ---- the client's own events ----

export type ConnectionState = "connecting" | "open" | "reconnecting" | "closed";

/** Events of `room` up to `offset` of `epoch` may be missing: reload it through the HTTP API. */
export interface GapInfo extends Position {
  room: string;
}

/** The client left a room it was in without being asked to. */
export interface RoomLost {
  room: string;
  /** `"unsubscribed"` (kicked, banned, left, channel deleted) or the server's ERROR text. */
  reason: string;
}

export interface DisconnectInfo {
  /** The WebSocket close code, when a socket closed. */
  code?: number;
  reason: string;
  /** When the next attempt starts; absent when the client stopped for good. */
  reconnectInMs?: number;
}

export interface LifecycleEvents {
  ready: ReadyData;
  resumed: ResumedData;
  state: ConnectionState;
  gap: GapInfo;
  room_lost: RoomLost;
  disconnected: DisconnectInfo;
  /** Every chat event delivered, whatever its name. */
  event: AnyEventFrame;
}

/** Every event name the client emits, with its handler's payload. */
export type ClientEvents = ChatEvents & ProtocolFrames & LifecycleEvents;

/** The protocol frames that are not chat events. */
export const PROTOCOL_FRAME_TYPES: ReadonlySet<string> = new Set<keyof ProtocolFrames>([
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

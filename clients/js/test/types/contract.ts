// The public API as the web chat is written against it (README.md, "The API"). This file is
// only type-checked (test/unit/types.test.js): a rename, a changed payload type or a handler
// typed too loosely fails the check.
import { ChatClient, type ConnectionState, type Presence } from "chat-gateway-client";
import { ChatClient as BrowserClient } from "../../dist/chat-gateway.js";

declare const jwt: string;

export async function webChat(): Promise<void> {
  const client = new ChatClient({
    dispatcherUrl: "http://127.0.0.1:8081",
    token: () => jwt,
    rooms: ["channel:42"],
    backoff: { baseMs: 500, capMs: 30_000 },
  });
  new ChatClient({ dispatcherUrl: "http://x", token: jwt });
  new ChatClient({ dispatcherUrl: "http://x", token: async () => jwt });
  new BrowserClient({ dispatcherUrl: "http://x", token: jwt, WebSocket: globalThis.WebSocket });

  const onMessage = (event: { type: "channel_message"; room: string; data: { content: string } }) => {
    const text: string = event.data.content;
    void text;
  };
  client.on("channel_message", onMessage);
  client.off("channel_message", onMessage);
  client.on("channel_message", (event) => {
    const room: string = event.room;
    const content: string = event.data.content;
    const author: string = event.data.author_id;
    const offset: number | undefined = event.offset;
    // @ts-expect-error: not a field of a channel message
    void event.data.motive;
    void [room, content, author, offset];
  });
  client.on("message_reply", (event) => void (event.data.parent_message_id satisfies string));
  client.on("DIRECT_MESSAGE_CREATE", (event) => void (event.data.direct_thread_id satisfies string));
  client.on("PRESENCE_UPDATE", (event) => void (event.data satisfies Presence));
  client.on("user_typing", (event) => void (event.data.is_typing satisfies boolean));
  client.on("VOICE_STATE_UPDATE", (event) => void (event.data.member_user_ids satisfies string[]));
  client.on("ready", (ready) => void (ready.session_id satisfies string));
  client.on("resumed", (resumed) => void (resumed.resumed satisfies string));
  client.on("state", (s) => void (s satisfies "connecting" | "open" | "reconnecting" | "closed"));
  // @ts-expect-error: a state is a string
  client.on("state", (s: number) => void s);
  client.on("gap", ({ room, offset, epoch }) => void [room satisfies string, offset, epoch]);
  client.on("room_lost", ({ room, reason }) => void [room, reason]);
  client.on("ERROR", (frame) => void (frame.data satisfies string));
  client.on("SOMETHING_A_PUBLISHER_INVENTED", (frame) => void frame.data);

  const ready = await client.connect();
  const interval: number = ready.heartbeat_interval;
  const subscribed = await client.subscribe("channel:42");
  const position: [number, string, boolean | undefined] = [
    subscribed.offset,
    subscribed.epoch,
    subscribed.recovered,
  ];
  await client.unsubscribe("channel:42");
  const presences = await client.followPresence({ userIds: ["1", "2"] });
  const status: Presence["status"] | undefined = presences["1"]?.status;
  await client.followPresence({ all: true });
  client.setPresence({ status: "online" });
  client.setPresence({ status: "idle", game: { name: "chess" } });
  client.setPresence({ status: "dnd", game: null });
  // @ts-expect-error: not a status
  client.setPresence({ status: "away" });
  const who: string | undefined = client.userId;
  const session: string | undefined = client.sessionId;
  const state: ConnectionState = client.state;
  client.close();
  void [interval, position, status, who, session, state];
}

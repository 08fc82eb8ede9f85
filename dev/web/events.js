// What each chat event does to the page's state, one handler per event name (the names and
// data of the pass-through format, as the client library delivers them). `this` is the App.

import { TYPING_TTL_MS, messageFrom } from "./store.js";
import * as view from "./view.js";

export const HANDLERS = {
  channel_message(data, event) {
    this.addMessage(this.room("channel", data.channel_id), messageFrom(data, event.offset));
  },
  message_reply(data, event) {
    this.addMessage(this.room("channel", data.channel_id), messageFrom(data, event.offset));
  },
  message_updated(data) {
    this.room("channel", data.channel_id).update(String(data.message_id), { content: data.content, edited: true });
  },
  message_deleted(data) {
    const id = String(data.message_id);
    if (this.composer.editing?.id === id) this.composer.cancelEdit();
    this.room("channel", data.channel_id).items.delete(id);
  },
  DIRECT_MESSAGE_CREATE(data, event) {
    const room = this.room("dm", data.direct_thread_id);
    if (!this.dms.has(room.id)) return;
    this.addMessage(room, messageFrom(data, event.offset));
  },
  member_joined(data, event) {
    this.learn(data.user_id, data.username);
    this.line(data.channel_id, `${this.name(data.user_id)} joined the channel`, event);
    this.refreshMembers(data.channel_id);
  },
  member_left(data, event) {
    if (String(data.user_id) === this.me.id) return this.lostMembership(data.channel_id, null);
    this.line(data.channel_id, `${this.name(data.user_id, data.username)} left the channel`, event);
    this.refreshMembers(data.channel_id);
  },
  member_role_updated(data, event) {
    this.learn(data.user_id, data.username);
    if (String(data.user_id) === this.me.id && this.channel(data.channel_id)) {
      this.channel(data.channel_id).role = data.new_role;
    }
    this.line(data.channel_id, `${this.name(data.user_id)} is now ${data.new_role}`, event);
    this.refreshMembers(data.channel_id);
  },
  user_kicked(data, event) {
    moderated.call(this, data, event, "kicked");
  },
  user_banned(data, event) {
    moderated.call(this, data, event, "banned");
  },
  channel_created(data) {
    const id = String(data.channel_id);
    if (this.channels.has(id) || !data.public) return;
    this.channels.set(id, { id, name: data.channel_name, kind: data.kind, public: true, role: null, lost: null });
  },
  channel_updated(data) {
    const channel = this.channel(data.channel_id);
    if (!channel) return;
    if (typeof data.name === "string") channel.name = data.name;
    if (typeof data.public === "boolean") channel.public = data.public;
  },
  channel_deleted(data) {
    const channel = this.channel(data.channel_id);
    if (!channel) return;
    this.channels.delete(channel.id);
    this.members.delete(channel.id);
    if (this.current === `channel:${channel.id}`) {
      this.current = null;
      view.flash(`#${channel.name} was deleted.`, "warn");
    }
  },
  user_typing(data) {
    const user = String(data.user_id);
    if (user === this.me.id) return;
    const room = this.room("channel", data.channel_id);
    if (data.is_typing) {
      this.learn(user, data.username);
      room.typing.set(user, { name: this.name(user, data.username), until: Date.now() + TYPING_TTL_MS });
    } else {
      room.typing.delete(user);
    }
  },
  PRESENCE_UPDATE(data) {
    this.setPresence(data);
  },
};

// A kick or ban: the channel's copy names the user; the copy on our own room does not.
function moderated(data, event, how) {
  const target = data.user_id != null ? String(data.user_id) : event.room === `user:${this.me.id}` ? this.me.id : null;
  if (target === this.me.id) return this.lostMembership(data.channel_id, how);
  if (target == null) return;
  this.line(data.channel_id, `${this.name(target)} was ${how}${data.motive ? `: ${data.motive}` : ""}`, event);
  this.refreshMembers(data.channel_id);
}

//! The session's share of live state: its presence entry, its voice channel, typing. What a
//! session set is taken back when it closes.

use super::Session;
use crate::live::{presence, typing, voice};
use serde_json::Value;
use shared::live::LiveKind;
use shared::{Id, Room, broker::BrokerError, presence::SessionPresence};
use std::sync::atomic::Ordering;

impl Session {
    /// Publishes this session's presence (READY sets `online`), marked with its platform and
    /// its user's name.
    pub async fn set_presence(&self, presence: &SessionPresence) -> Result<(), BrokerError> {
        let presence = SessionPresence {
            platform: self.platform,
            username: self.username().map(str::to_owned),
            ..presence.clone()
        };
        // Noted before the call: a failed write may still have left an entry to take back.
        self.presence_set.store(true, Ordering::Relaxed);
        presence::set(&self.node, self.user_id(), &self.live_field, &presence).await
    }

    /// Enters (or updates this socket's flags in) a voice channel; a socket is in one voice
    /// channel at a time, so joining another leaves the first.
    pub async fn join_voice(
        &mut self,
        room: &Room,
        muted: bool,
        deafened: bool,
    ) -> Result<(), voice::VoiceError> {
        let channel = voice::voice_channel(&self.node, room, self.user_id()).await?;
        if let Some(previous) = self.voice.take().filter(|p| *p != channel) {
            voice::leave(&self.node, &previous, &self.live_field).await?;
        }
        voice::join(
            &self.node,
            &channel,
            &self.live_field,
            self.user_id(),
            muted,
            deafened,
        )
        .await?;
        self.voice = Some(channel);
        Ok(())
    }

    /// Leaves the voice channel of `room` if this socket is in it.
    pub async fn leave_voice(&mut self, room: &Room) -> Result<(), voice::VoiceError> {
        if let Room::Channel(channel) = room
            && self.voice.as_ref() == Some(channel)
        {
            voice::leave(&self.node, channel, &self.live_field).await?;
            self.voice = None;
        }
        Ok(())
    }

    pub async fn voice_signal(
        &self,
        room: &Room,
        signal: Value,
        to: Option<Id>,
    ) -> Result<(), voice::VoiceError> {
        let Room::Channel(channel) = room else {
            return Err(voice::VoiceError::NotVoice);
        };
        voice::signal(&self.node, channel, self.user_id(), signal, to).await
    }

    pub async fn typing(&self, room: &Room, is_typing: bool) -> Result<(), typing::TypingError> {
        typing::typing(&self.node, room, self.user_id(), self.username(), is_typing).await
    }

    /// Takes back this session's presence and voice entries (on close), in the background:
    /// only what it set (a session that never set a presence leaves the user's alone).
    pub(super) fn release_live(&mut self) {
        let presence_set = *self.presence_set.get_mut();
        if !presence_set && self.voice.is_none() {
            return;
        }
        let node = self.node.clone();
        let (user, field, voice) = (
            self.user_id().clone(),
            self.live_field.clone(),
            self.voice.take(),
        );
        tokio::spawn(async move {
            // While it waits for a permit this task holds only its captures: the Redis calls'
            // futures are made (boxed) once it has one. The semaphore is never closed.
            let _permit = node.endings.live.acquire().await;
            Box::pin(clear_live(&node, &user, &field, voice, presence_set)).await;
        });
    }
}

/// Takes a closed session's entries out of voice (`voice`: its channel) and presence (if it
/// set one); an entry whose removal fails is left to the node's retries.
async fn clear_live(
    node: &crate::node::Node,
    user: &Id,
    field: &str,
    voice: Option<Id>,
    presence_set: bool,
) {
    if let Some(channel) = voice
        && let Err(error) = voice::leave(node, &channel, field).await
    {
        tracing::warn!(%error, user.id = %user, "leaving voice on close failed; retried");
        let room = voice::room(&channel);
        node.leases.remove_later(LiveKind::Voice, &room, field);
    }
    if presence_set && let Err(error) = presence::clear(node, user, field).await {
        tracing::warn!(%error, user.id = %user, "clearing presence on close failed; retried");
        let room = presence::room(user);
        node.leases.remove_later(LiveKind::Presence, &room, field);
    }
}

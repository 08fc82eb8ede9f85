//! Publishing: wraps an event in its envelope, hands it to the broker (history and pub/sub,
//! atomically), times it, and maps a failure to 503. A 2xx is only sent after this succeeds.
//!
//! Handlers change access-control state first and publish second, so a node reacting to an
//! event already sees the new state. When a state change could not be redone by a retry (an
//! id now taken, a membership already gone), the handler passes an `undo` that runs, best
//! effort, if the publication fails.

use crate::{error::ApiError, state::AppState};
use shared::{
    broker::BrokerError,
    event::{Envelope, Event, Moderation},
    history::Position,
    id::Id,
    room::Room,
};
use std::{future::Future, time::Instant};

impl AppState {
    /// Publishes `event` on `room`; returns its place in the room's history.
    pub async fn publish(&self, room: Room, event: Event) -> Result<Position, ApiError> {
        let envelope = Envelope::new(event);
        let started = Instant::now();
        let result = self.broker.publish(&room, &envelope).await;
        self.metrics
            .observe_publish(started.elapsed(), result.is_ok());
        match result {
            Ok(position) => {
                tracing::debug!(%room, event = envelope.event.name(), offset = position.offset, epoch = %position.epoch, "published");
                Ok(position)
            }
            Err(error) => {
                tracing::warn!(%room, event = envelope.event.name(), "publication failed");
                Err(error.into())
            }
        }
    }

    /// Publishes `event` on `room` without a place in its history (typing indicators).
    pub async fn publish_transient(&self, room: Room, event: Event) -> Result<(), ApiError> {
        let envelope = Envelope::new(event);
        let started = Instant::now();
        let result = self.broker.publish_transient(&room, &envelope).await;
        self.metrics
            .observe_publish(started.elapsed(), result.is_ok());
        result.map_err(|error| {
            tracing::warn!(%room, event = envelope.event.name(), %error, "publication failed");
            error.into()
        })
    }

    /// Publishes `event` on `room`; if that fails, runs `undo` (best effort, logged).
    pub async fn publish_or_undo<T>(
        &self,
        room: Room,
        event: Event,
        undo: impl Future<Output = Result<T, BrokerError>>,
    ) -> Result<Position, ApiError> {
        match self.publish(room, event).await {
            Ok(position) => Ok(position),
            Err(failed) => {
                if let Err(error) = undo.await {
                    tracing::warn!(error = %error, "could not undo a state change after a failed publication");
                }
                Err(failed)
            }
        }
    }

    /// Publishes a moderation event (`user_banned`, `user_unbanned`, `user_kicked`) twice, as
    /// seed 001 says: on `channel:<id>` with `user_id`, then on `user:<id>` without it. `undo`
    /// runs only if the channel copy fails (once it is out, the state it announced stays).
    pub async fn publish_moderation<T>(
        &self,
        kind: fn(Moderation) -> Event,
        channel: &Id,
        user: &Id,
        motive: Option<String>,
        undo: impl Future<Output = Result<T, BrokerError>>,
    ) -> Result<(), ApiError> {
        let channel_copy = Moderation {
            channel_id: channel.clone(),
            user_id: Some(user.clone()),
            motive: motive.clone(),
        };
        let user_copy = Moderation {
            channel_id: channel.clone(),
            user_id: None,
            motive,
        };
        self.publish_or_undo(Room::Channel(channel.clone()), kind(channel_copy), undo)
            .await?;
        self.publish(Room::User(user.clone()), kind(user_copy))
            .await?;
        Ok(())
    }
}

//! Publishing: wraps events in their envelopes, hands them to the broker (history and pub/sub,
//! atomically) together with the access-control change they announce, times it, and maps a
//! failure to 503. A 2xx is only sent after this succeeds.
//!
//! A change and its events are one broker step ([`shared::broker::Broker::commit`]): no failure
//! can leave the state changed without its event, or the event out without the state. A
//! change the broker refuses (the state moved since the handler read it: a message id taken, a
//! member already gone) writes and publishes nothing, and the handler answers for it.

use crate::{error::ApiError, state::AppState};
use shared::{
    broker::{Change, Committed, Refusal},
    event::{Envelope, Event, Moderation},
    history::Position,
    id::Id,
    room::Room,
};
use std::time::Instant;

impl AppState {
    /// Publishes `event` on `room`; returns its place in the room's history.
    pub async fn publish(&self, room: Room, event: Event) -> Result<Position, ApiError> {
        let mut positions = self
            .commit_unconditional(None, vec![(room.clone(), event)])
            .await?;
        positions.pop().ok_or_else(|| {
            ApiError::Unavailable(shared::broker::BrokerError::Corrupt {
                key: room.to_string(),
                detail: "a publication answered no position".into(),
            })
        })
    }

    /// Makes `change` and publishes `events`, in one step. The inner error: the broker
    /// refused the change, and why (nothing happened).
    pub async fn commit(
        &self,
        change: Option<&Change>,
        events: Vec<(Room, Event)>,
    ) -> Result<Result<Vec<Position>, Refusal>, ApiError> {
        let envelopes: Vec<(Room, Envelope)> = events
            .into_iter()
            .map(|(room, event)| (room, Envelope::new(event)))
            .collect();
        let publications: Vec<(Room, &Envelope)> =
            envelopes.iter().map(|(r, e)| (r.clone(), e)).collect();
        let started = Instant::now();
        let result = self.broker.commit(change, &publications).await;
        self.metrics
            .observe_publish(started.elapsed(), result.is_ok());
        match result {
            Ok(Committed::Done(positions)) => {
                for ((room, envelope), position) in envelopes.iter().zip(&positions) {
                    tracing::debug!(%room, event = envelope.event.name(), offset = position.offset, epoch = %position.epoch, "published");
                }
                Ok(Ok(positions))
            }
            Ok(Committed::Refused(refusal)) => Ok(Err(refusal)),
            Err(error) => {
                tracing::warn!(?change, "commit failed");
                Err(error.into())
            }
        }
    }

    /// [`Self::commit`] of a change without conditions (or of none): a refusal would be the
    /// broker's fault, answered as such.
    pub async fn commit_unconditional(
        &self,
        change: Option<&Change>,
        events: Vec<(Room, Event)>,
    ) -> Result<Vec<Position>, ApiError> {
        self.commit(change, events).await?.map_err(|refusal| {
            ApiError::Unavailable(shared::broker::BrokerError::Corrupt {
                key: "commit".into(),
                detail: format!("a change without conditions was refused: {refusal:?}"),
            })
        })
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

    /// Makes a moderation change and publishes its event twice, as seed 001 says: on
    /// `channel:<id>` with `user_id`, and on `user:<id>` without it. False when the broker
    /// refused the change.
    pub async fn commit_moderation(
        &self,
        change: &Change,
        kind: fn(Moderation) -> Event,
        channel: &Id,
        user: &Id,
        motive: Option<String>,
    ) -> Result<bool, ApiError> {
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
        let events = vec![
            (Room::Channel(channel.clone()), kind(channel_copy)),
            (Room::User(user.clone()), kind(user_copy)),
        ];
        Ok(self.commit(Some(change), events).await?.is_ok())
    }
}

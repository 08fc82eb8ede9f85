//! Typing indicators: `TYPING {room[, is_typing]}` from a member becomes seed 001's
//! `user_typing` on the channel, for everyone but the typist. Rate-limited per user and room;
//! nothing follows an unrefreshed `is_typing: true` (clients time it out).

use crate::node::Node;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use shared::{
    Id, Room,
    event::{Envelope, Event, Typing},
};
use std::{num::NonZeroU32, time::Duration};

/// Typing events a user may send per room: a burst of 3, then one every 2 s.
pub fn limiter() -> DefaultKeyedRateLimiter<(Id, Id)> {
    let quota = Quota::with_period(Duration::from_secs(2))
        .expect("non-zero")
        .allow_burst(NonZeroU32::new(3).expect("3"));
    RateLimiter::keyed(quota)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TypingError {
    #[error("typing is for channel rooms")]
    NotChannel,
    #[error("forbidden room")]
    Forbidden,
    #[error("typing rate limited")]
    RateLimited,
    #[error("room unavailable, try again")]
    Unavailable,
}

pub async fn typing(
    node: &Node,
    room: &Room,
    user: &Id,
    username: Option<&str>,
    is_typing: bool,
) -> Result<(), TypingError> {
    let Room::Channel(channel) = room else {
        return Err(TypingError::NotChannel);
    };
    if node
        .typing
        .check_key(&(user.clone(), channel.clone()))
        .is_err()
    {
        return Err(TypingError::RateLimited);
    }
    match node.broker.may_read(room, user).await {
        Ok(true) => {}
        Ok(false) => return Err(TypingError::Forbidden),
        Err(_) => return Err(TypingError::Unavailable),
    }
    let event = Event::UserTyping(Typing {
        channel_id: channel.clone(),
        user_id: user.clone(),
        username: username.map(str::to_owned),
        is_typing,
    });
    node.broker
        .publish_transient(room, &Envelope::new(event))
        .await
        .map_err(|_| TypingError::Unavailable)
}

//! Field rules for request bodies that serde's types cannot express: lengths and emptiness.

use crate::error::ApiError;

/// Longest channel name, in characters.
pub const MAX_CHANNEL_NAME: usize = 100;
/// Longest username, in characters.
pub const MAX_USERNAME: usize = 100;
/// Longest ban or kick motive, in characters.
pub const MAX_MOTIVE: usize = 512;
/// Fewest and most participants of a DM thread.
pub const DM_PARTICIPANTS: std::ops::RangeInclusive<usize> = 2..=10;

/// Message content: not blank and at most `max` characters.
pub fn content(content: &str, max: usize) -> Result<(), ApiError> {
    if content.trim().is_empty() {
        return Err(ApiError::Invalid("content must not be empty".into()));
    }
    if content.chars().count() > max {
        return Err(ApiError::ContentTooLong { max });
    }
    Ok(())
}

/// A channel name: 1 to 100 characters, not blank.
pub fn channel_name(name: &str) -> Result<(), ApiError> {
    text("name", name, MAX_CHANNEL_NAME, false)
}

/// A display name: 1 to 100 characters, not blank.
pub fn username(name: &str) -> Result<(), ApiError> {
    text("username", name, MAX_USERNAME, false)
}

/// A moderation motive: at most 512 characters (may be empty).
pub fn motive(motive: &str) -> Result<(), ApiError> {
    text("motive", motive, MAX_MOTIVE, true)
}

/// A DM thread's participant count.
pub fn participant_count(count: usize) -> Result<(), ApiError> {
    if DM_PARTICIPANTS.contains(&count) {
        Ok(())
    } else {
        Err(ApiError::Invalid(format!(
            "a conversation has {} to {} distinct participants",
            DM_PARTICIPANTS.start(),
            DM_PARTICIPANTS.end()
        )))
    }
}

fn text(field: &str, value: &str, max: usize, may_be_empty: bool) -> Result<(), ApiError> {
    let blank = value.trim().is_empty();
    if (blank && !may_be_empty) || value.chars().count() > max {
        let min = if may_be_empty { 0 } else { 1 };
        return Err(ApiError::Invalid(format!(
            "{field} must be {min} to {max} characters{}",
            if may_be_empty { "" } else { " and not blank" }
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_counts_characters_not_bytes() {
        assert!(content("héllo", 5).is_ok());
        assert!(matches!(
            content("héllo!", 5),
            Err(ApiError::ContentTooLong { max: 5 })
        ));
        assert!(matches!(content("  ", 5), Err(ApiError::Invalid(_))));
        assert!(matches!(content("", 5), Err(ApiError::Invalid(_))));
    }

    #[test]
    fn names_have_bounds() {
        assert!(channel_name("general").is_ok());
        assert!(channel_name(&"é".repeat(100)).is_ok());
        assert!(channel_name(&"a".repeat(101)).is_err());
        assert!(channel_name(" ").is_err());
        assert!(username("ann").is_ok());
        assert!(username("").is_err());
    }

    #[test]
    fn motives_may_be_empty_but_not_long() {
        assert!(motive("").is_ok());
        assert!(motive(&"a".repeat(512)).is_ok());
        assert!(motive(&"a".repeat(513)).is_err());
    }

    #[test]
    fn dm_threads_have_two_to_ten_participants() {
        assert!(participant_count(1).is_err());
        assert!(participant_count(2).is_ok());
        assert!(participant_count(10).is_ok());
        assert!(participant_count(11).is_err());
    }
}

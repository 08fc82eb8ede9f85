//! Voice channels: each session in a voice channel has an entry (muted, deafened); the
//! channel's state lists each user once, with the flags of their latest session.

use crate::{
    event::{VoiceMemberState, VoiceState},
    id::Id,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One session's voice entry, as stored in the channel's live map.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionVoice {
    pub user_id: Id,
    pub muted: bool,
    pub deafened: bool,
    /// When the session set it (ms).
    pub at: u64,
}

/// The channel's voice state; `joined` says whether the change that produced it was a join
/// (or an update while in) rather than a leave.
pub fn aggregate(channel: &Id, joined: bool, sessions: &[SessionVoice]) -> VoiceState {
    let mut latest: BTreeMap<&Id, &SessionVoice> = BTreeMap::new();
    for s in sessions {
        if latest.get(&s.user_id).is_none_or(|seen| seen.at <= s.at) {
            latest.insert(&s.user_id, s);
        }
    }
    VoiceState {
        channel_id: channel.clone(),
        joined,
        member_user_ids: latest.keys().map(|id| (*id).clone()).collect(),
        member_states: latest
            .values()
            .map(|s| VoiceMemberState {
                user_id: s.user_id.clone(),
                muted: s.muted,
                deafened: s.deafened,
            })
            .collect(),
    }
}

/// What is compared to decide whether a voice update is news: the members and their flags.
pub fn canonical(state: &VoiceState) -> String {
    if state.member_user_ids.is_empty() {
        return String::new();
    }
    serde_json::to_string(&(&state.member_user_ids, &state.member_states))
        .expect("voice state serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(user: &str, muted: bool, at: u64) -> SessionVoice {
        SessionVoice {
            user_id: Id::parse(user).unwrap(),
            muted,
            deafened: false,
            at,
        }
    }

    #[test]
    fn a_user_on_two_sockets_counts_once_with_the_latest_flags() {
        let channel = Id::parse("5").unwrap();
        let state = aggregate(
            &channel,
            true,
            &[s("1", false, 1), s("2", false, 1), s("1", true, 7)],
        );
        assert_eq!(state.member_user_ids.len(), 2);
        assert!(
            state.member_states[0].muted,
            "user 1's latest session is muted"
        );
        assert_eq!(canonical(&aggregate(&channel, false, &[])), "");
    }
}

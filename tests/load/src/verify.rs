//! Deliveries checked against the ledger: every socket that stayed to the end must have
//! received every acknowledged event of its rooms published after it subscribed, once each
//! and in order, and nothing that was never sent.

use crate::bitset::BitSet;
use crate::client::Outcome;
use crate::ledger::Ledger;
use serde::Serialize;
use std::fmt;
use std::ops::Range;

#[derive(Clone, Debug, Default, Serialize)]
pub struct Verdict {
    /// Acknowledged events owed to sockets that stayed (events × subscribers).
    pub expected: u64,
    /// Of those, received.
    pub delivered: u64,
    /// Of those, never received.
    pub lost: u64,
    /// An event received twice by one socket. Counted for the whole run only (None in a
    /// verdict on part of the sequence numbers).
    pub duplicates: Option<u64>,
    /// An event received after a later one of its room (whole run only, like `duplicates`).
    pub out_of_order: Option<u64>,
    /// Events that were not acknowledged but arrived (a publish that timed out may still land).
    pub unacknowledged_delivered: u64,
    /// Sequence numbers that were never handed out: must be zero.
    pub phantom: u64,
    /// Sockets ended by the server or the network before the run stopped them.
    pub sockets_failed: u64,
    pub first_failure: Option<String>,
}

impl Verdict {
    /// Deliveries checked against the ledger, for sequence numbers in `seqs` (all when None).
    pub fn of(ledger: &Ledger, outcomes: &[Outcome], seqs: Option<Range<u64>>) -> Verdict {
        let whole_run = seqs.is_none();
        let seqs = seqs.unwrap_or(0..u64::MAX);
        let acked: Vec<BitSet> = ledger.rooms().iter().map(|r| r.acked().clone()).collect();
        let nothing = BitSet::default();
        let mut v = Verdict {
            duplicates: whole_run.then_some(0),
            out_of_order: whole_run.then_some(0),
            ..Verdict::default()
        };
        for outcome in outcomes {
            if let Some(failure) = &outcome.failure {
                v.sockets_failed += 1;
                v.first_failure.get_or_insert_with(|| failure.clone());
            }
            let owed = outcome.stayed && outcome.failure.is_none();
            for track in &outcome.tracks {
                if let Some(n) = &mut v.duplicates {
                    *n += track.duplicates;
                }
                if let Some(n) = &mut v.out_of_order {
                    *n += track.out_of_order;
                }
                let issued = ledger.room(track.room).issued();
                let acked = &acked[track.room];
                v.phantom += track.received.overlap_in(&nothing, issued..u64::MAX).1;
                let sent = seqs.start..seqs.end.min(issued);
                v.unacknowledged_delivered += track.received.overlap_in(acked, sent.clone()).1;
                if owed && track.from_seq != u64::MAX {
                    let range = sent.start.max(track.from_seq)..sent.end;
                    let (delivered, lost) = acked.overlap_in(&track.received, range);
                    v.expected += delivered + lost;
                    v.delivered += delivered;
                    v.lost += lost;
                }
            }
        }
        v
    }

    /// Every acknowledged event arrived exactly once, in order, and no socket failed.
    pub fn is_clean(&self) -> bool {
        self.lost == 0
            && self.duplicates.unwrap_or(0) == 0
            && self.out_of_order.unwrap_or(0) == 0
            && self.phantom == 0
            && self.sockets_failed == 0
    }

    /// Lost deliveries as a fraction of those expected.
    pub fn loss_ratio(&self) -> f64 {
        if self.expected == 0 {
            0.0
        } else {
            self.lost as f64 / self.expected as f64
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} of {} owed deliveries arrived (lost {}, {:.4}%)",
            self.delivered,
            self.expected,
            self.lost,
            self.loss_ratio() * 100.0,
        )?;
        if let (Some(duplicates), Some(out_of_order)) = (self.duplicates, self.out_of_order) {
            write!(f, ", duplicates {duplicates}, out of order {out_of_order}")?;
        }
        write!(
            f,
            ", phantom {}, unacknowledged but delivered {}, sockets failed {}",
            self.phantom, self.unacknowledged_delivered, self.sockets_failed
        )?;
        if let Some(failure) = &self.first_failure {
            write!(f, " (first: {failure})")?;
        }
        Ok(())
    }
}

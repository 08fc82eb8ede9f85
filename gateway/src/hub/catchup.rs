//! Seats catching up on a room: between the moment a socket's seat in a room goes live and
//! the moment its history read has been queued to it, the fan-out holds the room's live
//! events for that seat here instead of queueing them. Releasing the seat queues what was held
//! (minus what the history read already covered) and turns the seat live under the same lock
//! the fan-out takes, so the switch from history to live loses and repeats nothing.
//!
//! A released seat keeps its floor (the position its read covered) until the fan-out passes
//! it: an event the read already covered can still be on its way through a busy fan-out, and
//! is dropped for this seat when it comes. Offsets compare only within one epoch: an event of
//! another epoch is never taken for one the read covered. A floor is two words (the epoch
//! name is shared by the room's floors); it also tells where a quiet room stands, for a
//! resumed session and for the node's catch-up after a Redis reconnection.

use crate::{
    dialect::{Inbound, Rendered},
    session::{ConnId, ConnMap, Delivery, Frame, MemberRef, Outbound, Stamp},
    sparse::ShrinkWhenSparse,
};
use bytes::Bytes;
use shared::history::Position;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// The seats of one room that are catching up, or released with a floor.
#[derive(Default)]
pub struct CatchingUp {
    seats: Mutex<Seats>,
}

#[derive(Default)]
pub struct Seats {
    map: ConnMap<Seat>,
    /// The epoch the floors were read in, shared by every floor of that epoch.
    epoch: Option<Arc<str>>,
}

/// One socket's seat while it is special.
pub enum Seat {
    /// Catching up: its live frames are held (boxed: only while it lasts).
    Holding(Box<Held>),
    /// Released: live, except for events at or below `offset` of `epoch` (what its read
    /// covered), until an event past it comes.
    Floor { offset: u64, epoch: Arc<str> },
}

/// Live frames held for one seat (each knows its position, if it has one).
#[derive(Default)]
pub struct Held {
    frames: Vec<Frame>,
    /// More was held than the socket's queue could take: the seat cannot catch up.
    overflowed: bool,
}

/// Whether an event stamped `stamp` is one a read up to `offset` of `epoch` delivered.
fn covered(stamp: Option<&Stamp>, offset: u64, epoch: &str) -> bool {
    stamp.is_some_and(|s| s.position.epoch == epoch && s.position.offset <= offset)
}

/// How releasing a seat ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Released {
    /// The seat is live.
    Live,
    /// The seat held more than `cap` frames, or its socket closed meanwhile.
    Failed,
}

impl Seats {
    /// The shared epoch name for `epoch` (floors of one epoch share one allocation).
    fn epoch(&mut self, epoch: &str) -> Arc<str> {
        match &self.epoch {
            Some(shared) if **shared == *epoch => shared.clone(),
            _ => {
                let shared: Arc<str> = epoch.into();
                self.epoch = Some(shared.clone());
                shared
            }
        }
    }

    /// The position a released seat's read covered, while no event passed it.
    pub fn floor(&self, conn: ConnId) -> Option<Position> {
        match self.map.get(&conn)? {
            Seat::Floor { offset, epoch } => Some(Position {
                offset: *offset,
                epoch: epoch.to_string(),
            }),
            Seat::Holding(_) => None,
        }
    }

    /// The lowest floor of the room (in the shared epoch): where the room stood for the
    /// node when its quietest reader subscribed.
    pub fn lowest_floor(&self) -> Option<Position> {
        let epoch = self.epoch.as_ref()?;
        self.map
            .values()
            .filter_map(|seat| match seat {
                Seat::Floor { offset, epoch: e } if Arc::ptr_eq(e, epoch) => Some(*offset),
                _ => None,
            })
            .min()
            .map(|offset| Position {
                offset,
                epoch: epoch.to_string(),
            })
    }
}

impl CatchingUp {
    pub fn lock(&self) -> MutexGuard<'_, Seats> {
        self.seats.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds the seat's live events from now on (a seat released earlier starts over).
    pub fn hold_seat(&self, conn: ConnId) {
        self.lock().map.insert(conn, Seat::Holding(Box::default()));
    }

    pub fn drop_seat(&self, conn: ConnId) {
        let mut seats = self.lock();
        seats.map.remove(&conn);
        seats.map.shrink_when_sparse();
    }

    /// Queues the frames held for `conn` past `covered_to` (the history read delivered the
    /// rest), then turns the seat live. Frames queued here wait for room in the socket's
    /// queue; the fan-out keeps holding new ones meanwhile, and the seat goes live only once
    /// nothing is left to queue, under the lock the fan-out takes.
    pub async fn release(
        &self,
        conn: ConnId,
        covered_to: &Position,
        outbound: &Outbound,
    ) -> Released {
        loop {
            let batch = {
                let mut seats = self.lock();
                let Some(Seat::Holding(held)) = seats.map.get_mut(&conn) else {
                    // Evicted meanwhile (kick, ban, deletion): nothing left to release.
                    return Released::Live;
                };
                if held.overflowed {
                    seats.map.remove(&conn);
                    return Released::Failed;
                }
                if held.frames.is_empty() {
                    let epoch = seats.epoch(&covered_to.epoch);
                    let floor = Seat::Floor {
                        offset: covered_to.offset,
                        epoch,
                    };
                    seats.map.insert(conn, floor);
                    return Released::Live;
                }
                std::mem::take(&mut held.frames)
            };
            for frame in batch {
                if covered(frame.stamp.as_deref(), covered_to.offset, &covered_to.epoch) {
                    continue;
                }
                if outbound.send_waiting(frame).await != Delivery::Queued {
                    self.drop_seat(conn);
                    return Released::Failed;
                }
            }
        }
    }
}

/// Queues history events (as published) to one socket, rendered in its format, in order.
/// False when the socket stopped taking frames.
pub async fn replay(room: &str, events: Vec<(u64, Bytes)>, member: &MemberRef) -> bool {
    for (_, payload) in events {
        let Some(inbound) = Inbound::parse(room.as_bytes(), payload) else {
            continue;
        };
        let Some(frame) = Rendered::new(&inbound).frame(member.format) else {
            continue;
        };
        if member.outbound.send_waiting(frame).await != Delivery::Queued {
            return false;
        }
    }
    true
}

/// Routes one live frame for `conn` through its seat, if it has one: held while it catches
/// up, dropped when at or below a released seat's floor. Returns the frame to queue now, if
/// any; the first event past the floor ends the seat's special treatment.
pub fn route(seats: &mut Seats, conn: ConnId, frame: Frame, cap: usize) -> Option<Frame> {
    if seats.map.is_empty() {
        // Every seat is live again (hashing the id per member showed in fan-out profiles).
        return Some(frame);
    }
    let Some(seat) = seats.map.get_mut(&conn) else {
        return Some(frame);
    };
    match (seat, frame.stamp.as_deref()) {
        (Seat::Holding(held), _) => {
            held.hold(frame, cap);
            None
        }
        (Seat::Floor { offset, epoch }, stamp @ Some(_)) if covered(stamp, *offset, epoch) => None,
        (Seat::Floor { .. }, Some(_)) => {
            seats.map.remove(&conn);
            Some(frame)
        }
        (Seat::Floor { .. }, None) => Some(frame),
    }
}

impl Held {
    /// Holds one live frame; past `cap` frames the seat is marked as failed instead.
    pub fn hold(&mut self, frame: Frame, cap: usize) {
        if self.overflowed {
            return;
        }
        if self.frames.len() >= cap {
            self.overflowed = true;
            self.frames = Vec::new();
            return;
        }
        self.frames.push(frame);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Outgoing, outbound};
    use axum::extract::ws::Message;
    use std::sync::Arc;

    fn text(s: &str) -> Message {
        Message::Text(s.to_owned().into())
    }

    /// A frame `body` for the event at `offset` of epoch `epoch` (None: no history).
    fn event(body: &str, at: Option<(u64, &str)>) -> Frame {
        Arc::new(Outgoing {
            message: text(body),
            stamp: at.map(|(offset, epoch)| {
                Arc::new(Stamp {
                    room: "channel:1".into(),
                    position: Position {
                        offset,
                        epoch: epoch.into(),
                    },
                })
            }),
        })
    }

    fn bodies(frames: impl Iterator<Item = Frame>) -> Vec<Message> {
        frames.map(|f| f.message.clone()).collect()
    }

    fn routed(seats: &mut Seats, conn: ConnId, f: Frame) -> Option<Message> {
        route(seats, conn, f, 10).map(|f| f.message.clone())
    }

    #[tokio::test]
    async fn release_skips_what_history_covered_and_keeps_the_order() {
        let catching_up = CatchingUp::default();
        let conn = ConnId(1);
        catching_up.hold_seat(conn);
        {
            let mut seats = catching_up.lock();
            let Some(Seat::Holding(held)) = seats.map.get_mut(&conn) else {
                panic!("not holding")
            };
            for (body, at) in [
                ("4", Some((4, "e"))),
                ("5", Some((5, "e"))),
                ("x", None),
                ("6", Some((6, "e"))),
            ] {
                held.hold(event(body, at), 10);
            }
        }
        let (out, queue) = outbound::channel(10);
        let read = Position {
            offset: 4,
            epoch: "e".into(),
        };
        assert_eq!(catching_up.release(conn, &read, &out).await, Released::Live);
        assert_eq!(
            bodies(queue.rx.try_iter()),
            vec![text("5"), text("x"), text("6")]
        );
        // Live now, but an event the read covered may still come through: it is dropped,
        // and the first one past the floor ends the seat.
        let mut seats = catching_up.lock();
        assert_eq!(routed(&mut seats, conn, event("3", Some((3, "e")))), None);
        assert_eq!(routed(&mut seats, conn, event("y", None)), Some(text("y")));
        assert_eq!(
            routed(&mut seats, conn, event("7", Some((7, "e")))),
            Some(text("7"))
        );
        assert!(seats.map.is_empty(), "the seat is plainly live");
    }

    #[tokio::test]
    async fn an_event_of_another_epoch_is_never_taken_for_a_covered_one() {
        let catching_up = CatchingUp::default();
        let conn = ConnId(3);
        catching_up.hold_seat(conn);
        let (out, _queue) = outbound::channel(10);
        let read = Position {
            offset: 4,
            epoch: "old".into(),
        };
        catching_up.release(conn, &read, &out).await;
        let mut seats = catching_up.lock();
        // Offset 1 of a reset history is news, not a repeat.
        assert_eq!(
            routed(&mut seats, conn, event("1", Some((1, "new")))),
            Some(text("1"))
        );
    }

    #[tokio::test]
    async fn a_seat_that_held_too_much_fails() {
        let catching_up = CatchingUp::default();
        let conn = ConnId(2);
        catching_up.hold_seat(conn);
        {
            let mut seats = catching_up.lock();
            let Some(Seat::Holding(held)) = seats.map.get_mut(&conn) else {
                panic!("not holding")
            };
            for offset in 1..=3 {
                held.hold(event("e", Some((offset, "e"))), 2);
            }
        }
        let (out, _queue) = outbound::channel(10);
        let read = Position {
            offset: 0,
            epoch: "e".into(),
        };
        assert_eq!(
            catching_up.release(conn, &read, &out).await,
            Released::Failed
        );
    }
}

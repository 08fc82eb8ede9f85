//! Messages and typing through the dispatcher API, many requests in flight. Messages to one
//! room go one at a time by default, their sequence number taken under the room's lock, so the
//! room's publication order is its sequence order and receivers can check order. A higher
//! per-room concurrency lifts the one-round-trip-per-message ceiling of a single room, at the
//! price of the order check (concurrent posts may publish out of sequence).

use super::SendCounters;
use crate::dispatcher::DispatcherApi;
use crate::ledger::Ledger;
use crate::probe;
use std::sync::Arc;
use tokio::sync::Semaphore;

#[derive(Clone)]
pub struct HttpPublisher {
    api: DispatcherApi,
    ledger: Arc<Ledger>,
    /// Posts in flight per room.
    room_slots: Arc<[Semaphore]>,
    in_flight: Arc<Semaphore>,
    max_in_flight: u32,
    messages: Arc<SendCounters>,
    typing: Arc<SendCounters>,
    content_len: usize,
}

impl HttpPublisher {
    /// A publisher with at most `max_in_flight` requests in flight, `per_room` of them
    /// messages to one room (1 keeps each room's order checkable).
    pub fn new(
        api: DispatcherApi,
        ledger: Arc<Ledger>,
        (messages, typing): (Arc<SendCounters>, Arc<SendCounters>),
        max_in_flight: u32,
        per_room: usize,
        content_len: usize,
    ) -> HttpPublisher {
        HttpPublisher {
            room_slots: ledger
                .rooms()
                .iter()
                .map(|_| Semaphore::new(per_room.max(1)))
                .collect(),
            api,
            ledger,
            in_flight: Arc::new(Semaphore::new(max_in_flight as usize)),
            max_in_flight,
            messages,
            typing,
            content_len,
        }
    }

    /// Starts posting the next probe of `room` as `author`; waits only for a free slot.
    pub async fn message(&self, room: usize, author: &str) {
        let permit = self.in_flight.clone().acquire_owned().await.expect("open");
        let this = self.clone();
        let author = author.to_owned();
        self.messages.sent();
        tokio::spawn(async move {
            let _slot = this.room_slots[room].acquire().await.expect("open");
            let log = this.ledger.room(room);
            let seq = log.next_seq();
            let content = probe::content(seq, probe::now_ns(), this.content_len);
            match this.api.post_message(&log.channel, &author, &content).await {
                Ok(()) => {
                    log.ack(seq);
                    this.messages.acked();
                }
                Err(e) => this.messages.failed(e.to_string()),
            }
            drop(permit);
        });
    }

    /// Starts a typing notice of `user` in `room`; waits only for a free slot.
    pub async fn typing(&self, room: usize, user: &str) {
        let permit = self.in_flight.clone().acquire_owned().await.expect("open");
        let this = self.clone();
        let user = user.to_owned();
        self.typing.sent();
        tokio::spawn(async move {
            let log = this.ledger.room(room);
            match this.api.typing(&log.channel, &user).await {
                Ok(()) => {
                    log.ack_typing();
                    this.typing.acked();
                }
                Err(e) => this.typing.failed(e.to_string()),
            }
            drop(permit);
        });
    }

    /// Waits until every request started has been answered.
    pub async fn finish(&self) {
        let _all = self
            .in_flight
            .acquire_many(self.max_in_flight)
            .await
            .expect("open");
    }
}

// The room ledger: which events reach the application (each once, in offset order per room),
// when the client asks the server for missing ones (`since`), and when it reports a gap.
import assert from "node:assert/strict";
import { test } from "node:test";
import { RoomLedger } from "../../dist/recovery.js";

const ROOM = "channel:42";

/** Feeds events `[offset, epoch]` to the ledger; returns the offsets delivered. */
function feed(ledger, events, actions = []) {
  const delivered = [];
  for (const [offset, epoch = "e1"] of events) {
    const admission = ledger.admit(ROOM, offset, epoch);
    if (admission.resyncFrom || admission.gap) actions.push(admission);
    if (admission.deliver) delivered.push(offset);
  }
  return delivered;
}

test("in order once: repeats are dropped", () => {
  const ledger = new RoomLedger();
  ledger.subscribing(ROOM, undefined);
  assert.deepEqual(ledger.subscribed(ROOM, { offset: 3, epoch: "e1" }), {});
  const delivered = feed(ledger, [[4], [5], [5], [4], [6], [3], [7], [7]]);
  assert.deepEqual(delivered, [4, 5, 6, 7]);
  assert.deepEqual(ledger.position(ROOM), { offset: 7, epoch: "e1" });
});

test("events up to a fresh subscription's position are the past", () => {
  const ledger = new RoomLedger();
  ledger.subscribing(ROOM, undefined);
  ledger.subscribed(ROOM, { offset: 10, epoch: "e1" });
  assert.deepEqual(feed(ledger, [[9], [10], [11]]), [11]);
});

test("an automatic room is tracked from the first event seen", () => {
  const ledger = new RoomLedger();
  assert.deepEqual(feed(ledger, [[17], [18], [18]]), [17, 18]);
  assert.deepEqual(ledger.position(ROOM), { offset: 18, epoch: "e1" });
});

test("a hole asks for the room again from the last event, and the replay fills it exactly once", () => {
  const ledger = new RoomLedger();
  ledger.subscribed(ROOM, { offset: 0, epoch: "e1" });
  const actions = [];
  // 3 and 4 never came; 5 and 6 arrive live before the answer to the `since`.
  const delivered = feed(ledger, [[1], [2], [5], [6]], actions);
  assert.deepEqual(delivered, [1, 2]);
  assert.deepEqual(actions, [{ deliver: false, resyncFrom: { offset: 2, epoch: "e1" } }]);
  assert.equal(ledger.isAwaiting(ROOM), true);
  // Recovered: the replay of 3..6 follows, then live events (one repeated at the switch).
  assert.deepEqual(ledger.subscribed(ROOM, { offset: 6, epoch: "e1", recovered: true }), {});
  delivered.push(...feed(ledger, [[3], [4], [5], [6], [6], [7]]));
  assert.deepEqual(delivered, [1, 2, 3, 4, 5, 6, 7]);
});

test("a skip inside a replay the server answered for is not a hole", () => {
  const ledger = new RoomLedger();
  ledger.subscribed(ROOM, { offset: 2, epoch: "e1" });
  ledger.subscribing(ROOM, { offset: 2, epoch: "e1" });
  ledger.subscribed(ROOM, { offset: 6, epoch: "e1", recovered: true });
  const actions = [];
  // The replay runs to 6 and shows no 4: nothing more can be asked for.
  assert.deepEqual(feed(ledger, [[3], [5], [6], [7]], actions), [3, 5, 6, 7]);
  assert.deepEqual(actions, []);
  // Past the replay, a skip is a hole again.
  assert.deepEqual(feed(ledger, [[9]], actions), []);
  assert.deepEqual(actions, [{ deliver: false, resyncFrom: { offset: 7, epoch: "e1" } }]);
});

test("a room seen before its history began takes its first epoch without a gap", () => {
  const ledger = new RoomLedger();
  ledger.subscribed("user:7", { offset: 0, epoch: "" });
  // Offset 1 was a notice this format does not show; 2 is the first event shown.
  const first = ledger.admit("user:7", 2, "u1");
  assert.deepEqual(first, { deliver: true });
  const quiet = new RoomLedger();
  quiet.subscribed(ROOM, { offset: 0, epoch: "" });
  assert.deepEqual(quiet.resumed(ROOM, { offset: 0, epoch: "", recovered: true }), {});
  // The server stands further in the room's first epoch: ask from before its history.
  assert.deepEqual(quiet.resumed(ROOM, { offset: 3, epoch: "e1", recovered: false }), {
    resyncFrom: { offset: 0, epoch: "e1" },
  });
});

test("a user's own room skips the offsets of notices this format does not show", () => {
  const ledger = new RoomLedger();
  const room = "user:7";
  ledger.subscribed(room, { offset: 3, epoch: "u" });
  const delivered = [];
  for (const offset of [4, 6, 9]) {
    const admission = ledger.admit(room, offset, "u");
    assert.equal(admission.resyncFrom, undefined);
    if (admission.deliver) delivered.push(offset);
  }
  assert.deepEqual(delivered, [4, 6, 9]);
  // While a `since` is in flight, what runs ahead waits for the replay all the same.
  ledger.subscribing(room, { offset: 9, epoch: "u" });
  assert.equal(ledger.admit(room, 11, "u").deliver, false);
  assert.equal(ledger.admit(room, 10, "u").deliver, true);
});

test("a `since` history cannot cover is a gap, and the room goes on from the answer", () => {
  const ledger = new RoomLedger();
  ledger.subscribed(ROOM, { offset: 5, epoch: "e1" });
  ledger.subscribing(ROOM, { offset: 5, epoch: "e1" });
  const settlement = ledger.subscribed(ROOM, { offset: 2000, epoch: "e1", recovered: false });
  assert.deepEqual(settlement, { gap: { room: ROOM, offset: 2000, epoch: "e1" } });
  assert.deepEqual(feed(ledger, [[1999], [2000], [2001]]), [2001]);
});

test("a reset history (another epoch) is a gap unless the new epoch starts at 1", () => {
  const fresh = new RoomLedger();
  fresh.subscribed(ROOM, { offset: 5, epoch: "e1" });
  const quiet = [];
  assert.deepEqual(feed(fresh, [[6], [1, "e2"], [2, "e2"]], quiet), [6, 1, 2]);
  assert.deepEqual(quiet, []);

  const reset = new RoomLedger();
  reset.subscribed(ROOM, { offset: 5, epoch: "e1" });
  const actions = [];
  assert.deepEqual(feed(reset, [[4, "e2"], [5, "e2"]], actions), [4, 5]);
  assert.deepEqual(actions, [{ deliver: true, gap: { room: ROOM, offset: 3, epoch: "e2" } }]);
});

test("RESUMED: the replay came first; a position behind the server's asks again", () => {
  const ledger = new RoomLedger();
  ledger.subscribed(ROOM, { offset: 5, epoch: "e1" });
  feed(ledger, [[6], [7]]);
  assert.deepEqual(ledger.resumed(ROOM, { offset: 7, epoch: "e1", recovered: true }), {});
  // The server stands further than the events the client has: ask for them.
  assert.deepEqual(ledger.resumed(ROOM, { offset: 9, epoch: "e1", recovered: true }), {
    resyncFrom: { offset: 7, epoch: "e1" },
  });
});

test("RESUMED behind the events that came before it changes nothing", () => {
  const ledger = new RoomLedger();
  ledger.subscribed(ROOM, { offset: 5, epoch: "e1" });
  feed(ledger, [[6], [7], [8]]);
  // The server read the room at 6; 7 and 8 were live events it queued before RESUMED.
  assert.deepEqual(ledger.resumed(ROOM, { offset: 6, epoch: "e1", recovered: true }), {});
  assert.deepEqual(ledger.position(ROOM), { offset: 8, epoch: "e1" });
  assert.deepEqual(feed(ledger, [[8], [9]]), [9]);
});

test("RESUMED without a recorded position: no gap when the client already stands there", () => {
  const ledger = new RoomLedger();
  ledger.subscribed("global", { offset: 4, epoch: "g" });
  assert.deepEqual(ledger.resumed("global", { offset: 4, epoch: "g", recovered: false }), {});
  // Behind: history may still have it, so ask with `since` rather than give up.
  assert.deepEqual(ledger.resumed("global", { offset: 6, epoch: "g", recovered: false }), {
    resyncFrom: { offset: 4, epoch: "g" },
  });
  // Another epoch cannot be asked for.
  assert.deepEqual(ledger.resumed("global", { offset: 2, epoch: "h", recovered: false }), {
    gap: { room: "global", offset: 2, epoch: "h" },
  });
});

test("an unasked `recovered: false` is checked once with `since`, then reported", () => {
  const ledger = new RoomLedger();
  ledger.subscribed(ROOM, { offset: 5, epoch: "e1" });
  const first = ledger.subscribed(ROOM, { offset: 9, epoch: "e1", recovered: false });
  assert.deepEqual(first, { resyncFrom: { offset: 5, epoch: "e1" } });
  const second = ledger.subscribed(ROOM, { offset: 9, epoch: "e1", recovered: false });
  assert.deepEqual(second, { gap: { room: ROOM, offset: 9, epoch: "e1" } });
});

test("a new socket forgets what the old one was waiting for", () => {
  const ledger = new RoomLedger();
  ledger.subscribed(ROOM, { offset: 0, epoch: "e1" });
  const actions = [];
  feed(ledger, [[1], [3]], actions);
  assert.equal(actions.length, 1);
  ledger.socketChanged();
  assert.equal(ledger.isAwaiting(ROOM), false);
  feed(ledger, [[3]], actions);
  assert.equal(actions.length, 2, "the hole is asked for again on the new socket");
});

test("a stream with repeats, holes and replays reaches the application exactly once, in order", () => {
  // A deterministic pseudo-random walk over what reconnects do to a room's stream.
  let seed = 7;
  const random = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32;
  for (let run = 0; run < 50; run++) {
    const ledger = new RoomLedger();
    ledger.subscribed(ROOM, { offset: 0, epoch: "e1" });
    const delivered = [];
    let published = 0;
    while (published < 200) {
      published += 1;
      const roll = random();
      if (roll < 0.1) {
        // The event is lost on the way: the next one shows the hole, and the resync replays.
        published += 1;
        const actions = [];
        delivered.push(...feed(ledger, [[published]], actions));
        const from = actions[0]?.resyncFrom;
        assert.ok(from, "a hole asks for a resync");
        ledger.subscribed(ROOM, { offset: published, epoch: "e1", recovered: true });
        const replay = [];
        for (let o = from.offset + 1; o <= published; o++) replay.push([o]);
        delivered.push(...feed(ledger, replay));
      } else if (roll < 0.3) {
        // A replay repeats a few events already delivered.
        const back = Math.floor(random() * 5);
        const again = [];
        for (let o = Math.max(1, published - back); o <= published; o++) again.push([o]);
        delivered.push(...feed(ledger, [[published], ...again]));
      } else {
        delivered.push(...feed(ledger, [[published]]));
      }
    }
    assert.deepEqual(delivered, Array.from({ length: published }, (_, i) => i + 1));
  }
});

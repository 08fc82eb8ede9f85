// Presence follows: answers matched to requests in order, and follows asked again on a new socket.
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_IDS_PER_REQUEST, PresenceFollows } from "../../dist/presence.js";

test("INIT_STATE and follow errors answer the oldest request sent", async () => {
  const follows = new PresenceFollows();
  const first = follows.request({ userIds: ["1"] });
  const second = follows.request({ all: true });
  assert.deepEqual(follows.takeUnsent(), [
    { op: "PRESENCE_SUBSCRIBE", user_ids: ["1"] },
    { op: "PRESENCE_SUBSCRIBE", all: true },
  ]);
  assert.equal(follows.refused("typing rate limited"), false, "not an answer to a follow");
  follows.answered({ 1: { user_id: "1", status: "online", game: null, idle_since: null } });
  assert.equal(follows.refused("presence for all users is not enabled on this deployment"), true);
  assert.equal((await first)[1].status, "online");
  await assert.rejects(second, /presence for all users is not enabled/);
});

test("a new socket asks again for what was followed, in chunks, then for what was pending", () => {
  const follows = new PresenceFollows();
  const ids = Array.from({ length: MAX_IDS_PER_REQUEST + 5 }, (_, i) => String(i));
  follows.request({ userIds: ids });
  follows.takeUnsent();
  follows.answered({});
  const pending = follows.request({ userIds: ["x"] });
  follows.takeUnsent(); // sent on a socket that then died
  follows.restore();
  const again = follows.takeUnsent();
  assert.deepEqual(
    again.map((f) => f.user_ids.length),
    [MAX_IDS_PER_REQUEST, 5, 1],
  );
  assert.deepEqual(again[2].user_ids, ["x"]);
  follows.answered({});
  follows.answered({});
  follows.answered({ x: { user_id: "x", status: "offline", game: null, idle_since: null } });
  return pending.then((data) => assert.equal(data.x.status, "offline"));
});

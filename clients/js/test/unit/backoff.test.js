// Reconnect delays: capped exponential ceilings, full jitter below them, reset after success.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, DEFAULT_BACKOFF } from "../../dist/index.js";

test("ceilings double from the base and stop at the cap", () => {
  const backoff = new Backoff({ baseMs: 100, capMs: 1000 });
  assert.deepEqual(
    [0, 1, 2, 3, 4, 5, 6].map((n) => backoff.ceiling(n)),
    [100, 200, 400, 800, 1000, 1000, 1000],
  );
  // Far attempts neither overflow nor turn into NaN.
  assert.equal(backoff.ceiling(5000), 1000);
});

test("each delay lies between 0 and its attempt's ceiling, both ends reachable", () => {
  const lowest = new Backoff({ baseMs: 100, capMs: 1000 }, () => 0);
  const highest = new Backoff({ baseMs: 100, capMs: 1000 }, () => 0.999999);
  const lows = [];
  const highs = [];
  for (let i = 0; i < 8; i++) {
    lows.push(lowest.next());
    highs.push(highest.next());
  }
  assert.deepEqual(lows, [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(highs, [100, 200, 400, 800, 1000, 1000, 1000, 1000]);

  const random = new Backoff({ baseMs: 50, capMs: 3000 });
  for (let attempt = 0; attempt < 200; attempt++) {
    const ceiling = random.ceiling(random.attempt);
    const delay = random.next();
    assert.ok(Number.isInteger(delay) && delay >= 0 && delay <= ceiling, `${delay} > ${ceiling}`);
  }
});

test("full jitter: delays spread over the whole range, not around the ceiling", () => {
  const delays = [];
  for (let i = 0; i < 400; i++) {
    const backoff = new Backoff({ baseMs: 1000, capMs: 1000 });
    delays.push(backoff.next());
  }
  // A uniform draw over [0, 1000]: missing either quarter in 400 draws has odds of 1e-50.
  assert.ok(Math.min(...delays) < 250, `smallest ${Math.min(...delays)}`);
  assert.ok(Math.max(...delays) > 750, `largest ${Math.max(...delays)}`);
});

test("reset starts again from the base", () => {
  const backoff = new Backoff({ baseMs: 10, capMs: 10_000 }, () => 0.999999);
  for (let i = 0; i < 5; i++) backoff.next();
  assert.equal(backoff.attempt, 5);
  backoff.reset();
  assert.equal(backoff.attempt, 0);
  assert.equal(backoff.next(), 10);
});

test("defaults, and nonsense refused", () => {
  const backoff = new Backoff();
  assert.equal(backoff.baseMs, DEFAULT_BACKOFF.baseMs);
  assert.equal(backoff.capMs, DEFAULT_BACKOFF.capMs);
  assert.throws(() => new Backoff({ baseMs: -1 }), RangeError);
  assert.throws(() => new Backoff({ capMs: Number.NaN }), RangeError);
});

// A bounded wait for a condition, instead of sleeping: fails with what it waited for.

export async function eventually(label, condition, { timeoutMs = 30_000, everyMs = 20 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/**
 * Waits up to `timeoutMs` for `condition`; false if it never held (for a final check that
 * reports what is wrong better than "timed out").
 */
export async function settled(condition, { timeoutMs = 20_000 } = {}) {
  try {
    await eventually("", condition, { timeoutMs });
    return true;
  } catch {
    return false;
  }
}

/** The next `name` event of `client` (rejects after `timeoutMs`). */
export function next(client, name, { timeoutMs = 30_000, where = () => true } = {}) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      client.off(name, handler);
      reject(new Error(`timed out waiting for ${name}`));
    }, timeoutMs);
    function handler(payload) {
      if (!where(payload)) return;
      clearTimeout(timer);
      client.off(name, handler);
      resolve(payload);
    }
    client.on(name, handler);
  });
}

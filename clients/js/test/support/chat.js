// The dispatcher's HTTP API as a trusted backend (service token): channels, members, messages.
import { dispatcherUrl, serviceToken } from "./stack.js";

export async function call(method, path, body) {
  const response = await fetch(new URL(path, dispatcherUrl), {
    method,
    headers: {
      authorization: `Bearer ${serviceToken}`,
      ...(body === undefined ? {} : { "content-type": "application/json" }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

async function expect(status, method, path, body) {
  const answer = await call(method, path, body);
  if (answer.status !== status) {
    throw new Error(`${method} ${path}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return answer.body;
}

/** A channel with a unique id owned by `owner`, with `members`. */
export async function channel(owner, members = []) {
  const id = `c${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  await expect(201, "POST", "/api/v1/channels", { id, name: `channel ${id}`, user_id: owner });
  for (const member of members) await expect(201, "PUT", `/api/v1/channels/${id}/members/${member}`);
  return id;
}

export function post(channelId, author, content, extra = {}) {
  return expect(201, "POST", `/api/v1/channels/${channelId}/messages`, {
    content,
    author_id: author,
    ...extra,
  });
}

export async function dm(participants) {
  return expect(201, "POST", "/api/v1/dms", { participants });
}

export function postDm(dmId, author, content) {
  return expect(201, "POST", `/api/v1/dms/${dmId}/messages`, { content, author_id: author });
}

export function kick(channelId, userId) {
  return expect(200, "POST", `/api/v1/channels/${channelId}/kicks`, { user_id: userId });
}

/**
 * Posts messages in `channelId` one after another until `stop()`: the list of the ones the
 * dispatcher acknowledged (2xx), in order, is what every subscriber must end up with. The
 * pause keeps the number posted during an outage well inside the history's retention.
 */
export function poster(channelId, author, { pauseMs = 20 } = {}) {
  const acked = [];
  const refused = [];
  let running = true;
  const done = (async () => {
    for (let n = 1; running; n++) {
      const answer = await call("POST", `/api/v1/channels/${channelId}/messages`, {
        content: `message ${n}`,
        author_id: author,
      }).catch((error) => ({ status: 0, body: String(error) }));
      if (answer.status >= 200 && answer.status < 300) acked.push(answer.body.id);
      else refused.push(answer);
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
    }
  })();
  return {
    acked,
    refused,
    async stop() {
      running = false;
      await done;
    },
  };
}

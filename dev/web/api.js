// The dispatcher's HTTP API (docs/api.md), called cross-origin with the user's token.

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

const path = (...parts) => parts.map((p) => encodeURIComponent(String(p))).join("/");

export class Api {
  constructor(baseUrl, token) {
    this.base = baseUrl.replace(/\/$/, "");
    this.token = token;
  }

  async request(method, url, body) {
    const headers = { Authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(this.base + url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      throw new ApiError(response.status, data?.code, data?.error ?? response.statusText);
    }
    return data;
  }

  channels() {
    return this.request("GET", "/api/v1/channels");
  }
  createChannel(name, isPublic) {
    return this.request("POST", "/api/v1/channels", { name, public: isPublic });
  }
  join(channelId, userId) {
    return this.request("PUT", `/api/v1/channels/${path(channelId)}/members/${path(userId)}`, {});
  }
  leave(channelId, userId) {
    return this.request("DELETE", `/api/v1/channels/${path(channelId)}/members/${path(userId)}`);
  }
  members(channelId) {
    return this.request("GET", `/api/v1/channels/${path(channelId)}/members`);
  }
  history(channelId) {
    return this.request("GET", `/api/v1/channels/${path(channelId)}/messages?limit=100`);
  }
  send(channelId, content) {
    return this.request("POST", `/api/v1/channels/${path(channelId)}/messages`, { content });
  }
  edit(channelId, messageId, content) {
    return this.request("PATCH", `/api/v1/channels/${path(channelId, "messages", messageId)}`, {
      content,
    });
  }
  remove(channelId, messageId) {
    return this.request("DELETE", `/api/v1/channels/${path(channelId, "messages", messageId)}`);
  }
  kick(channelId, userId) {
    return this.request("POST", `/api/v1/channels/${path(channelId)}/kicks`, { user_id: userId });
  }
  typing(channelId) {
    return this.request("POST", `/api/v1/channels/${path(channelId)}/typing`, {});
  }
  dms() {
    return this.request("GET", "/api/v1/dms");
  }
  openDm(participants) {
    return this.request("POST", "/api/v1/dms", { participants });
  }
  dmHistory(dmId) {
    return this.request("GET", `/api/v1/dms/${path(dmId)}/messages?limit=100`);
  }
  sendDm(dmId, content) {
    return this.request("POST", `/api/v1/dms/${path(dmId)}/messages`, { content });
  }
  users(ids) {
    return this.request("GET", `/api/v1/users?ids=${ids.map(encodeURIComponent).join(",")}`);
  }
}

// The dev sign-in of the devstack web listener (POST /dev/token): exists only in the dev start.
export async function devSignIn(name) {
  const response = await fetch("/dev/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ name }),
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data?.code, data?.error ?? "sign-in failed");
  return data;
}

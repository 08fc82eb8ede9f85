/**
 * Which node to connect to: `GET /api/gateway` on the dispatcher with the user's token as a
 * Bearer header (docs/api.md), and the socket URL built from its answer.
 */

export type FetchLike = (
  url: string,
  init: { headers: Record<string, string> },
) => Promise<{ status: number; json(): Promise<unknown> }>;

/** Discovery failed in a way retrying will not fix (the token was refused). */
export class AuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "AuthError";
  }
}

/** Asks the dispatcher for the user's node; resolves to its WebSocket URL as given. */
export async function discoverNode(
  fetchImpl: FetchLike,
  dispatcherUrl: string,
  token: string,
): Promise<string> {
  const url = new URL("/api/gateway", dispatcherUrl).toString();
  const response = await fetchImpl(url, { headers: { authorization: `Bearer ${token}` } });
  if (response.status === 401) {
    throw new AuthError("GET /api/gateway: the token was refused (401)");
  }
  if (response.status !== 200) {
    throw new Error(`GET /api/gateway answered HTTP ${response.status}`);
  }
  const body = (await response.json()) as { url?: unknown } | null;
  if (typeof body?.url !== "string") {
    throw new Error("GET /api/gateway answered without a url");
  }
  return body.url;
}

/**
 * The URL to open for a node URL (from discovery or a RECONNECT): the pass-through format,
 * whose events keep their published names and carry their epoch. No token in it: the client
 * authenticates with a frame.
 */
export function socketUrl(nodeUrl: string): string {
  const url = new URL(nodeUrl);
  url.searchParams.set("format", "events");
  url.searchParams.delete("token");
  return url.toString();
}

// HS256 user tokens, minted the way the dispatcher and gateway check them (`sub`, `name`, `exp`).
import { createHmac } from "node:crypto";
import { jwtSecret } from "./stack.js";

const base64url = (value) => Buffer.from(value).toString("base64url");

export function userToken(userId, { name = `user ${userId}`, secret = jwtSecret } = {}) {
  const header = base64url(JSON.stringify({ alg: "HS256", typ: "JWT" }));
  const exp = Math.floor(Date.now() / 1000) + 3600;
  const payload = base64url(JSON.stringify({ sub: String(userId), name, exp }));
  const signature = createHmac("sha256", secret).update(`${header}.${payload}`).digest("base64url");
  return `${header}.${payload}.${signature}`;
}

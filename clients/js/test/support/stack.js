// What the Rust test (tests/tests/client_js.rs) tells the integration tests about the stack it
// started: the dispatcher, the test secrets, and each gateway node with its process id.
// Missing values fail the run loudly: these tests never skip.

function required(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: the integration tests run against a stack started by ` +
        "tests/tests/client_js.rs (cargo nextest run -p integration-tests --test client_js)",
    );
  }
  return value;
}

export const dispatcherUrl = required("DISPATCHER_URL");
export const jwtSecret = required("JWT_SECRET");
export const serviceToken = required("SERVICE_TOKEN");

/** `[{id, url, pid}]`: each gateway node, its public WebSocket URL and its process. */
export const gateways = JSON.parse(required("GATEWAYS"));

/** The gateway whose URL `socketUrl` (a client's `nodeUrl`) points at. */
export function gatewayOf(socketUrl) {
  const { host } = new URL(socketUrl);
  const gateway = gateways.find((g) => new URL(g.url).host === host);
  if (!gateway) throw new Error(`no gateway of this stack at ${socketUrl}`);
  return gateway;
}

/** Sends `signal` to a gateway node's process (SIGKILL: a crash; SIGTERM: a drain). */
export function signalGateway(gateway, signal) {
  process.kill(gateway.pid, signal);
}

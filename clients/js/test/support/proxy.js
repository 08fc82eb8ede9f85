// A TCP proxy in front of a gateway node, to break the link for real: `cut()` drops every
// connection through it (the client sees the socket close), `freeze()` stops forwarding
// without closing (a dead network: only a missing heartbeat ACK can tell).
import net from "node:net";
import WebSocket from "ws";

export async function startProxy(targetUrl) {
  const target = new URL(targetUrl);
  const links = new Set();
  const frozen = new Set();
  let refusing = false;
  const server = net.createServer((downstream) => {
    if (refusing) {
      downstream.destroy();
      return;
    }
    const upstream = net.connect(Number(target.port), target.hostname);
    const link = { downstream, upstream };
    links.add(link);
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    const drop = () => {
      links.delete(link);
      downstream.destroy();
      upstream.destroy();
    };
    downstream.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = server.address().port;
  return {
    host: `127.0.0.1:${port}`,
    targetHost: target.host,
    get connections() {
      return links.size;
    },
    cut() {
      for (const { downstream, upstream } of links) {
        downstream.destroy();
        upstream.destroy();
      }
      links.clear();
    },
    /** Drops every connection and every new one until `up()`: the node is unreachable. */
    down() {
      refusing = true;
      this.cut();
    },
    up() {
      refusing = false;
    },
    freeze() {
      for (const { downstream, upstream } of links) {
        downstream.unpipe(upstream);
        upstream.unpipe(downstream);
        downstream.pause();
        upstream.pause();
        frozen.add({ downstream, upstream });
      }
      links.clear(); // new connections flow normally
    },
    close() {
      this.cut();
      for (const { downstream, upstream } of frozen) {
        downstream.destroy();
        upstream.destroy();
      }
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

/** A WebSocket constructor (the `ws` package) that reaches `proxy.targetHost` through the proxy. */
export function throughProxy(proxy) {
  return class ProxiedWebSocket extends WebSocket {
    constructor(url, ...rest) {
      const rewritten = new URL(url);
      if (rewritten.host === proxy.targetHost) rewritten.host = proxy.host;
      super(rewritten.toString(), ...rest);
    }
  };
}

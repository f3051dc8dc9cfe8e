/**
 * A TCP proxy on the loopback interface that stands between clients and a broker and breaks
 * the network on command:
 *   delay(min, max)  every chunk, both ways, waits a random time (order kept) — latency
 *   reset()          every open connection is reset (RST) on both sides
 *   blackhole()      open connections go silent both ways, and neither side is told:
 *                    half-open, as when a peer's host dies or a middlebox drops the flow;
 *                    only keepalive can notice. New connections pass.
 *   partition()      a black hole for open connections and for every new one until heal():
 *                    connects are accepted but never answered, as through a network split
 *   loseReplies()    open connections keep forwarding requests but drop every byte coming
 *                    back: a request that commits whose answer never arrives
 *   heal()           ends the black holes (and a partition) by resetting both sides, so
 *                    clients reconnect (the server side was usually closed by keepalive already)
 */
import net from "node:net";
import type { Rng } from "./config.js";

type LinkMode = "pass" | "blackhole" | "lose-replies";

interface Link {
  client: net.Socket;
  server: net.Socket;
  mode: LinkMode;
  /** When the last chunk each way is due, so delayed chunks keep their order. */
  dueUp: number;
  dueDown: number;
}

export interface TcpProxy {
  readonly port: number;
  /** http://127.0.0.1:<port>, for clients. */
  readonly url: string;
  /** Connections opened so far. */
  readonly accepted: number;
  readonly open: number;
  delay(minMs: number, maxMs: number): void;
  reset(): number;
  blackhole(): number;
  partition(): number;
  loseReplies(): number;
  heal(): number;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, random: Rng, targetHost = "127.0.0.1"): Promise<TcpProxy> {
  const links = new Set<Link>();
  let accepted = 0;
  let latency: [number, number] | undefined;
  let partitioned = false;

  const forward = (link: Link, chunk: Buffer, up: boolean) => {
    if (link.mode === "blackhole" || (!up && link.mode === "lose-replies")) return;
    const to = up ? link.server : link.client;
    if (!latency) {
      if (!to.destroyed) to.write(chunk);
      return;
    }
    const now = Date.now();
    const due = Math.max(now + random.int(latency[0], latency[1]), up ? link.dueUp : link.dueDown);
    if (up) link.dueUp = due;
    else link.dueDown = due;
    setTimeout(() => {
      if (link.mode === "blackhole" || (!up && link.mode === "lose-replies")) return;
      if (!to.destroyed) to.write(chunk);
    }, due - now);
  };

  const server = net.createServer((client) => {
    accepted++;
    const upstream = net.connect(targetPort, targetHost);
    const link: Link = { client, server: upstream, mode: partitioned ? "blackhole" : "pass", dueUp: 0, dueDown: 0 };
    links.add(link);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    client.on("data", (chunk) => forward(link, chunk, true));
    upstream.on("data", (chunk) => forward(link, chunk, false));
    // A side that closes closes the other, unless the link is a black hole: then nobody is told.
    const closeBoth = (from: net.Socket, error: boolean) => {
      const other = from === client ? upstream : client;
      if (link.mode === "blackhole") return;
      if (error) other.resetAndDestroy();
      else other.end();
    };
    client.on("end", () => closeBoth(client, false));
    upstream.on("end", () => closeBoth(upstream, false));
    client.on("error", () => closeBoth(client, true));
    upstream.on("error", () => closeBoth(upstream, true));
    const forget = () => {
      if (client.destroyed && upstream.destroyed) links.delete(link);
    };
    client.on("close", forget);
    upstream.on("close", forget);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;

  const each = (apply: (link: Link) => void) => {
    const current = [...links];
    current.forEach(apply);
    return current.length;
  };
  const blackhole = (link: Link) => {
    link.mode = "blackhole";
  };
  const reset = (link: Link) => {
    link.mode = "pass";
    if (!link.client.destroyed) link.client.resetAndDestroy();
    if (!link.server.destroyed) link.server.resetAndDestroy();
  };

  return {
    port,
    url: `http://127.0.0.1:${port}`,
    get accepted() {
      return accepted;
    },
    get open() {
      return links.size;
    },
    delay(minMs, maxMs) {
      latency = maxMs > 0 ? [minMs, maxMs] : undefined;
    },
    reset: () => each(reset),
    blackhole: () => each(blackhole),
    partition() {
      partitioned = true;
      return each(blackhole);
    },
    loseReplies: () =>
      each((link) => {
        link.mode = "lose-replies";
      }),
    heal() {
      partitioned = false;
      return each((link) => link.mode !== "pass" && reset(link));
    },
    async close() {
      each(reset);
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

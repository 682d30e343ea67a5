// The bus across processes: ws on a unix socket (mode 0600), bounded frames, heartbeat,
// and sends that respect backpressure. Frames are validated before they reach the bus.
//
// Per-connection limits, so that one client cannot stall the others or grow the daemon:
// - frames are capped at MAX_PAYLOAD (1 MiB): a larger one closes the connection, 1009;
// - a WebSocket protocol error (bad opcode, RSV bits, unmasked frame, invalid UTF-8...)
//   closes it with ws's code (1002, 1007, 1009) and the error as the close reason;
// - at most TURN = 32 of its frames are taken per turn of the event loop: more in one read are
//   held, in order, for the next turns, so that other connections get theirs between, and
//   a read of many requests with large replies (a file read's is up to ~680 kB) is served over
//   turns, not all at once (test/fairness.test.ts: 64 such reads at once, the daemon's RSS rose
//   by half as much again);
// - at most MAX_IN_FLIGHT requests per connection are being served at once: past that its
//   frames are held, unread, in order, and taken again (TURN per turn) as its requests are
//   answered;
// - while more than HIGH_WATER of its replies are unsent (it does not read them), its
//   requests are held the same way, and its events are dropped past 4 × HIGH_WATER (it is
//   told how many on `bus.dropped`); past HARD_WATER unsent it is closed, 1008, with a reason.
// Nothing is refused or lost below those bounds; the normal path costs a few counters and tests.
import http from 'node:http';
import type { Socket } from 'node:net';
import fs from 'node:fs';
import nodePath from 'node:path';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Subscription } from 'rxjs';
import { ClientFrame, describeIssues, type ServerFrame } from './messages.js';
import { TurnWrites } from './turn-writes.js';
import type { Bus, Reply, Session } from './bus.js';

export const MAX_PAYLOAD = 1 << 20;
/** Requests one connection may have being served at once (a CLI has one or two). */
export const MAX_IN_FLIGHT = 64;
/** Frames taken from one connection per turn of the event loop, as read or held (others are read between). */
export const TURN = 32;
/** Unsent replies past which a connection's requests are no longer read. */
export const HIGH_WATER = 1 << 20;
/** Unsent replies past which a connection that does not read is closed (1008). */
export const HARD_WATER = 16 << 20;
/** A connection closed for a protocol error or for not reading goes this long after, taken or not. */
const CLOSE_GRACE_MS = 2000;

export interface SocketServerOptions {
  heartbeatMs?: number;
  onClients?(count: number): void;
}

export interface SocketServer {
  clients(): number;
  /** connections not being read from (they do not read their replies, or have MAX_IN_FLIGHT requests being served) */
  paused(): number;
  /** connections closed so far for a protocol error or for not reading their replies */
  refused(): number;
  close(): Promise<void>;
  /** Whether `path` is still this server's socket (not removed, not replaced). */
  owns(): boolean;
}

/**
 * Serve `path`: bound under a temporary name in its directory, then renamed over `path`, so
 * that the socket is replaced in one step (a client finds the old one or the new one, never
 * none). The bind goes through /proc/self/fd/<dir> so that a directory of any length works
 * (sun_path holds 107 bytes; Node would cut a longer path short and bind somewhere else).
 */
export async function serveSocket(bus: Bus, path: string, opts: SocketServerOptions = {}): Promise<SocketServer> {
  const server = http.createServer((_req, res) => { res.writeHead(426).end('websocket only\n'); });
  const wss = new WebSocketServer({ server, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
  const tmp = nodePath.join(nodePath.dirname(path), `.${nodePath.basename(path)}.${process.pid}`);
  const dirFd = fs.openSync(nodePath.dirname(path), fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
  try { fs.unlinkSync(tmp); } catch { /* none left */ }
  const old = process.umask(0o177); // the socket is born 0600: no window where others can connect
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(`/proc/self/fd/${dirFd}/${nodePath.basename(tmp)}`, () => resolve());
    });
  } finally {
    process.umask(old);
    fs.closeSync(dirFd);
  }
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, path);
  /** The socket's inode: the daemon checks it is still the one at `path` (see owns). */
  const ino = fs.statSync(path).ino;

  const alive = new WeakMap<WebSocket, boolean>();
  const connections = new Set<Connection>();
  const stats = { refused: 0 };
  wss.on('connection', (ws, req) => {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    const conn = new Connection(ws, bus, stats, req.socket);
    connections.add(conn);
    opts.onClients?.(wss.clients.size);
    ws.on('close', () => { conn.dispose(); connections.delete(conn); opts.onClients?.(wss.clients.size); });
    // ws closes on a protocol error with a code but no reason: give the peer the reason first
    // (ws's own close then finds the connection closing). Its 'error' follows; nothing to add.
    (ws as unknown as { _receiver?: NodeJS.EventEmitter })._receiver?.prependListener('error', (e: Error) => conn.refuse(e));
    ws.on('error', () => conn.closeSoon());
  });
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.get(ws)) { ws.terminate(); continue; }
      alive.set(ws, false);
      ws.ping();
    }
  }, opts.heartbeatMs ?? 15_000);
  heartbeat.unref();

  return {
    clients: () => wss.clients.size,
    paused: () => [...connections].filter((c) => c.isPaused).length,
    refused: () => stats.refused,
    close: async () => {
      clearInterval(heartbeat);
      // Stop taking connections first, and take the socket away (only our own: one put there by
      // someone else is not ours to remove): a client arriving while the open ones are closed
      // finds no socket and starts the next daemon, instead of reaching an http server whose
      // WebSocket side is gone (426).
      const closed = new Promise<void>((r) => server.close(() => r()));
      try { if (fs.statSync(path).ino === ino) fs.unlinkSync(path); } catch { /* already gone */ }
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await closed;
    },
    owns: () => { try { return fs.statSync(path).ino === ino; } catch { return false; } },
  };
}

/** The close code ws gives its protocol errors (1002, 1007, 1009). */
function statusOf(e: Error): number {
  const sym = Object.getOwnPropertySymbols(e).find((s) => s.description === 'status-code');
  const code = sym ? (e as unknown as Record<symbol, unknown>)[sym] : undefined;
  return typeof code === 'number' ? code : 1002;
}

/** A close reason fits in 123 bytes. */
function reason(text: string): string {
  const b = Buffer.from(text);
  return b.length <= 123 ? text : b.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...';
}

let turnNo = 0;
let bumping = false;
/** This turn of the event loop, numbered: the same until the check phase (setImmediate) after it. */
function currentTurn(): number {
  if (!bumping) {
    bumping = true;
    setImmediate(() => { turnNo++; bumping = false; });
  }
  return turnNo;
}

class Connection implements Session {
  private readonly subs = new Map<string, Subscription>();
  private dropped = 0;
  /** its replies are over HIGH_WATER unsent */
  private lagging = false;
  /** requests being served */
  private inFlight = 0;
  /** frames read while it was held (lagging, MAX_IN_FLIGHT in flight, or TURN taken this turn), to be taken in order; null while not held */
  private held: Array<[RawData, boolean]> | null = null;
  private draining = false;
  /** frames taken as they were read in turn `turnSeen` of the event loop */
  private taken = 0;
  private turnSeen = -1;
  get isPaused(): boolean { return this.held !== null; }

  private readonly turn: TurnWrites;

  constructor(private readonly ws: WebSocket, private readonly bus: Bus, private readonly stats: { refused: number }, socket: Socket) {
    this.turn = new TurnWrites(socket);
    ws.on('message', (data, isBinary) => {
      if (this.held !== null) {
        if (this.ws.readyState === this.ws.OPEN) this.held.push([data, isBinary]); // (closing: dropped)
        return;
      }
      const t = currentTurn();
      if (t !== this.turnSeen) { this.turnSeen = t; this.taken = 0; }
      this.receive(data, isBinary);
      // TURN taken this turn: the rest of this read waits for the next turns, held.
      if (++this.taken >= TURN && this.held === null) { this.hold(); this.release(); }
    });
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (isBinary) return this.send({ kind: 'error', cid: null, error: { code: 'invalid_frame', message: 'binary frames are not accepted' } });
    let raw: unknown;
    try {
      raw = JSON.parse(data.toString());
    } catch {
      return this.send({ kind: 'error', cid: null, error: { code: 'invalid_frame', message: 'frame is not valid JSON' } });
    }
    const parsed = ClientFrame.safeParse(raw);
    if (!parsed.success) {
      const cid = typeof (raw as { cid?: unknown })?.cid === 'string' ? (raw as { cid: string }).cid.slice(0, 128) : null;
      return this.send({ kind: 'error', cid, error: { code: 'invalid_message', message: `invalid message: ${describeIssues(parsed.error)}` } });
    }
    const { cid, body } = parsed.data;
    if (++this.inFlight >= MAX_IN_FLIGHT) this.hold();
    this.bus.dispatch({
      cid,
      body,
      session: this,
      respond: (r: Reply) => {
        this.inFlight--;
        this.send(r.ok ? { kind: 'reply', cid, body: r.body } : { kind: 'error', cid, error: r.error });
        if (this.held !== null) this.release();
      },
    });
  }

  /** Stop reading its requests: what was read already waits in `held`. */
  private hold(): void {
    if (this.held !== null) return;
    this.held = [];
    this.ws.pause();
  }

  /**
   * Take its held frames again if it is no longer over a limit: on a later turn of the event
   * loop, at most TURN of them, so that other connections are read in between.
   */
  private release(): void {
    if (this.draining || this.lagging || this.inFlight >= MAX_IN_FLIGHT) return;
    this.draining = true;
    setImmediate(() => {
      this.draining = false;
      const held = this.held;
      if (held === null || this.ws.readyState !== this.ws.OPEN) return;
      let taken = 0;
      while (held.length && !this.lagging && this.inFlight < MAX_IN_FLIGHT && taken++ < TURN) {
        const [data, isBinary] = held.shift()!;
        this.receive(data, isBinary);
      }
      if (held.length) { this.release(); return; } // more next turn (or once under the limits again)
      if (this.lagging || this.inFlight >= MAX_IN_FLIGHT) return;
      this.held = null;
      this.ws.resume();
    });
  }

  /** Replies always go out; while the peer lags we stop reading its requests, past a hard bound we close. */
  send(frame: ServerFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.turn.hold(); // the replies of this turn go out in one writev
    this.ws.send(JSON.stringify(frame), () => this.maybeResume());
    const unsent = this.ws.bufferedAmount;
    if (unsent <= HIGH_WATER) return;
    if (!this.lagging) {
      this.lagging = true;
      this.hold();
    }
    if (unsent > HARD_WATER) this.close(1008, `replies not read (over ${HARD_WATER >> 20} MiB unsent)`);
  }

  private maybeResume(): void {
    if (this.lagging && this.ws.bufferedAmount <= HIGH_WATER / 2) {
      this.lagging = false;
      this.release();
      if (this.dropped) {
        const count = this.dropped;
        this.dropped = 0;
        this.send({ kind: 'event', topic: 'bus.dropped', body: { count } });
      }
    }
  }

  subscribe(topic: string): void {
    if (this.subs.has(topic)) return;
    this.subs.set(topic, this.bus.topic(topic).subscribe((e) => {
      // Events are not queued without bound for a slow subscriber: it is told how many it missed.
      if (this.ws.bufferedAmount > 4 * HIGH_WATER) { this.dropped++; return; }
      this.send({ kind: 'event', topic: e.topic, body: e.body });
    }));
  }

  unsubscribe(topic: string): void {
    this.subs.get(topic)?.unsubscribe();
    this.subs.delete(topic);
  }

  /** ws found a protocol error in its frames: close with ws's code and the error as the reason. */
  refuse(e: Error): void {
    this.close(statusOf(e), e.message);
  }

  /** Close with a reason; a peer that does not take the close (it does not read) goes soon after. */
  private close(code: number, why: string): void {
    this.held = []; // what it sends from now on is dropped
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.stats.refused++;
    this.ws.close(code, reason(`runa: ${why}`));
    this.closeSoon();
  }

  private closing: NodeJS.Timeout | null = null;
  closeSoon(): void {
    if (this.closing) return;
    this.closing = setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    this.closing.unref();
  }

  private readonly closers: Array<() => void> = [];
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  dispose(): void {
    if (this.closing) clearTimeout(this.closing);
    this.held = null;
    for (const s of this.subs.values()) s.unsubscribe();
    this.subs.clear();
    for (const fn of this.closers.splice(0)) fn();
  }
}

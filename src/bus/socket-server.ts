// The bus across processes: ws on a unix socket (mode 0600), bounded frames, heartbeat,
// and sends that respect backpressure. Frames are validated before they reach the bus.
import http from 'node:http';
import fs from 'node:fs';
import { WebSocketServer, type WebSocket, type RawData } from 'ws';
import type { Subscription } from 'rxjs';
import { ClientFrame, describeIssues, type ServerFrame } from './messages.js';
import type { Bus, Reply, Session } from './bus.js';

export const MAX_PAYLOAD = 1 << 20;
const HIGH_WATER = 1 << 20;

export interface SocketServerOptions {
  heartbeatMs?: number;
  onClients?(count: number): void;
}

export interface SocketServer {
  clients(): number;
  /** connections not being read from because they do not read their replies */
  paused(): number;
  close(): Promise<void>;
}

export async function serveSocket(bus: Bus, path: string, opts: SocketServerOptions = {}): Promise<SocketServer> {
  try { fs.unlinkSync(path); } catch { /* no stale socket */ }
  const server = http.createServer((_req, res) => { res.writeHead(426).end('websocket only\n'); });
  const wss = new WebSocketServer({ server, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
  const old = process.umask(0o177); // the socket is born 0600: no window where others can connect
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => resolve());
    });
  } finally {
    process.umask(old);
  }
  fs.chmodSync(path, 0o600);

  const alive = new WeakMap<WebSocket, boolean>();
  const connections = new Set<Connection>();
  wss.on('connection', (ws) => {
    alive.set(ws, true);
    ws.on('pong', () => alive.set(ws, true));
    const conn = new Connection(ws, bus);
    connections.add(conn);
    opts.onClients?.(wss.clients.size);
    ws.on('close', () => { conn.dispose(); connections.delete(conn); opts.onClients?.(wss.clients.size); });
    ws.on('error', () => ws.terminate());
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
    close: async () => {
      clearInterval(heartbeat);
      for (const ws of wss.clients) ws.terminate();
      await new Promise<void>((r) => wss.close(() => r()));
      await new Promise<void>((r) => server.close(() => r()));
      try { fs.unlinkSync(path); } catch { /* already gone */ }
    },
  };
}

class Connection implements Session {
  private readonly subs = new Map<string, Subscription>();
  private dropped = 0;
  private paused = false;
  get isPaused(): boolean { return this.paused; }

  constructor(private readonly ws: WebSocket, private readonly bus: Bus) {
    ws.on('message', (data, isBinary) => this.receive(data, isBinary));
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
    this.bus.dispatch({
      cid,
      body,
      session: this,
      respond: (r: Reply) => this.send(r.ok ? { kind: 'reply', cid, body: r.body } : { kind: 'error', cid, error: r.error }),
    });
  }

  /** Replies always go out; while the peer lags we stop reading its requests. */
  send(frame: ServerFrame): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(JSON.stringify(frame), () => this.maybeResume());
    if (!this.paused && this.ws.bufferedAmount > HIGH_WATER) {
      this.paused = true;
      this.ws.pause();
    }
  }

  private maybeResume(): void {
    if (this.paused && this.ws.bufferedAmount <= HIGH_WATER / 2) {
      this.paused = false;
      this.ws.resume();
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

  private readonly closers: Array<() => void> = [];
  onClose(fn: () => void): void {
    this.closers.push(fn);
  }

  dispose(): void {
    for (const s of this.subs.values()) s.unsubscribe();
    this.subs.clear();
    for (const fn of this.closers.splice(0)) fn();
  }
}

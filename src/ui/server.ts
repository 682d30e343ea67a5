// `runa ui`: the inspector page's server. It serves the page's bundled assets and relays
// the daemon's inspection to each open page over a WebSocket, on loopback only, behind a
// token. The daemon's socket stays a 0600 unix socket: this process is the only bridge, and
// it only reads (a bulk snapshot, the inspect topic, a container's history).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { WebSocketServer, WebSocket } from 'ws';
import type { BusClient } from '../bus/client.js';
import { RunaError } from '../errors.js';
import { packageRoot } from '../paths.js';
import { PageMessage, type Frame, type ServerMessage } from './protocol.js';

/** Where `npm run build` puts the page (scripts/bundle.mjs). */
export const ASSETS = path.join(packageRoot, 'dist', 'page');
const TYPES: Record<string, string> = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
/** Frames are sent to a page in batches, at most this often. */
const BATCH_MS = 40;
/** A page that reads slower than the daemon writes is dropped past this much backlog. */
const MAX_BUFFERED = 16 << 20;

export interface UiOptions {
  host: string;
  port: number;
  /** the daemon, connected (the page waits for a later one if it goes away) */
  connect(): Promise<BusClient>;
  /** reconnect to a daemon that has gone, without starting one */
  reconnect(): Promise<BusClient>;
}

export interface UiServer {
  url: string;
  token: string;
  close(): Promise<void>;
}

/** Whether `host` names this machine's loopback. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '');
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  return h === '::1';
}

/** `HOST:PORT`, `[V6]:PORT` or `:PORT`, loopback only. */
export function parseListen(arg: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(arg);
  if (!m) throw new RunaError('invalid_argument', `invalid value "${arg}" for flag -listen: HOST:PORT`);
  const host = m[1] ?? (m[2] || '127.0.0.1');
  const port = Number(m[3]);
  if (port > 65535) throw new RunaError('invalid_argument', `invalid value "${arg}" for flag -listen: port ${port} is out of range`);
  if (!isLoopback(host)) throw new RunaError('invalid_argument', `runa ui listens on loopback only: ${host} is not a loopback address`);
  return { host, port };
}

/** The cookie that carries the token (cookies do not tell ports apart: one name per port). */
const cookieName = (port: number) => `runa-ui-${port}`;

function tokenOf(req: http.IncomingMessage, cookie: string): string | null {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams.get('token');
  if (q) return q;
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === cookie) return v.join('=');
  }
  return null;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && crypto.timingSafeEqual(x, y);
}

export async function startUi(opts: UiOptions): Promise<UiServer> {
  if (!fs.existsSync(path.join(ASSETS, 'index.html'))) throw new RunaError('ui_failed', `runa ui: the page is not built (${ASSETS}): run npm run build`);
  const token = crypto.randomBytes(24).toString('base64url');
  let port = opts.port;

  /**
   * A request may come only from this machine's browser for this server: a Host header that
   * names loopback and this port (no DNS rebinding), and the token, in the URL or its cookie.
   */
  const allowed = (req: http.IncomingMessage): boolean => {
    const host = req.headers.host ?? '';
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host);
    if (!m || !isLoopback(m[1]) || Number(m[2] ?? 80) !== port) return false;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) return false;
    const t = tokenOf(req, cookieName(port));
    return t !== null && same(t, token);
  };

  const headers = {
    'Cache-Control': 'no-store',
    'Referrer-Policy': 'no-referrer',
    'X-Content-Type-Options': 'nosniff',
    'X-Frame-Options': 'DENY',
    'Content-Security-Policy': "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'",
  };
  const forbid = (res: http.ServerResponse) => {
    res.writeHead(403, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
    res.end('403 Forbidden: open the address `runa ui` printed; it carries the token\n');
  };

  const server = http.createServer((req, res) => {
    if (!allowed(req)) return forbid(res);
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET' });
      return res.end();
    }
    const url = new URL(req.url ?? '/', 'http://x');
    // The token moves from the address bar into a cookie only this origin gets.
    if (url.searchParams.has('token')) {
      res.writeHead(303, { ...headers, Location: '/', 'Set-Cookie': `${cookieName(port)}=${token}; HttpOnly; SameSite=Strict; Path=/` });
      return res.end();
    }
    const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    const type = TYPES[path.extname(name)];
    if (!/^[A-Za-z0-9_-]+\.(html|js|css)$/.test(name) || !type) {
      res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
      return res.end('not found\n');
    }
    fs.readFile(path.join(ASSETS, name), (err, data) => {
      if (err) {
        res.writeHead(404, { ...headers, 'Content-Type': 'text/plain' });
        return res.end('not found\n');
      }
      res.writeHead(200, { ...headers, 'Content-Type': type });
      res.end(req.method === 'HEAD' ? undefined : data);
    });
  });

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096, perMessageDeflate: false });
  server.on('upgrade', (req, socket, head) => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/ws' || !allowed(req)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });

  // One daemon connection for every page.
  const pages = new Map<WebSocket, Frame[]>();
  let client: BusClient | null = null;
  let flushTimer: NodeJS.Timeout | null = null;
  let closing = false;

  const send = (ws: WebSocket, msg: ServerMessage) => {
    if (ws.readyState !== WebSocket.OPEN) return;
    if (ws.bufferedAmount > MAX_BUFFERED) return ws.terminate();
    ws.send(JSON.stringify(msg));
  };
  const flush = () => {
    flushTimer = null;
    for (const [ws, frames] of pages) {
      if (!frames.length) continue;
      send(ws, { kind: 'frames', frames: frames.splice(0) });
    }
  };
  const onFrame = (frame: unknown) => {
    for (const frames of pages.values()) frames.push(frame as Frame);
    flushTimer ??= setTimeout(flush, BATCH_MS);
  };
  const snapshotTo = async (ws: WebSocket) => {
    if (!client) return send(ws, { kind: 'daemon', up: false });
    try {
      const snap = await client.request<Omit<Extract<ServerMessage, { kind: 'snapshot' }>, 'kind'>>({ type: 'inspect.snapshot' });
      // Frames queued before the snapshot are older than it: the snapshot replaces them.
      pages.set(ws, []);
      send(ws, { kind: 'snapshot', ...snap });
    } catch (e) {
      send(ws, { kind: 'error', message: (e as Error).message });
    }
  };
  const attach = async (c: BusClient) => {
    client = c;
    c.on('inspect', onFrame);
    await c.request({ type: 'inspect.subscribe' });
    for (const ws of pages.keys()) { send(ws, { kind: 'daemon', up: true }); void snapshotTo(ws); }
    void c.closed.then(async () => {
      client = null;
      if (closing) return;
      for (const ws of pages.keys()) send(ws, { kind: 'daemon', up: false });
      // Wait for the next daemon (a command starts one); watching never starts it.
      while (!closing) {
        try { return await attach(await opts.reconnect()); } catch { await new Promise((r) => setTimeout(r, 500)); }
      }
    });
  };

  wss.on('connection', (ws) => {
    pages.set(ws, []);
    void snapshotTo(ws);
    ws.on('message', async (data, binary) => {
      let msg: PageMessage;
      try {
        if (binary) throw new Error('binary frames are not taken');
        const parsed = PageMessage.safeParse(JSON.parse(String(data)));
        if (!parsed.success) throw new Error(parsed.error.issues.map((i) => i.message).join('; '));
        msg = parsed.data;
      } catch (e) {
        return send(ws, { kind: 'error', message: `bad message: ${(e as Error).message}` });
      }
      if (!client) return send(ws, { kind: 'daemon', up: false });
      try {
        const h = await client.request<{ id: string; events: [] }>({ type: 'container.history', id: msg.id });
        send(ws, { kind: 'history', id: h.id, events: h.events });
      } catch (e) {
        send(ws, { kind: 'error', message: (e as Error).message });
      }
    });
    ws.on('close', () => pages.delete(ws));
    ws.on('error', () => ws.terminate());
  });

  await attach(await opts.connect());
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new RunaError('ui_failed', `runa ui: cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`)));
    server.listen(opts.port, opts.host, () => resolve());
  });
  port = (server.address() as net.AddressInfo).port;
  const shown = opts.host.includes(':') ? `[${opts.host}]` : opts.host;
  return {
    url: `http://${shown}:${port}/?token=${token}`,
    token,
    async close() {
      closing = true;
      if (flushTimer) clearTimeout(flushTimer);
      for (const ws of pages.keys()) ws.terminate();
      wss.close();
      client?.close();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

// The CLI's side of the bus: a small RFC 6455 client over the daemon's unix socket.
// The daemon speaks WebSocket through `ws`; a short-lived CLI cannot afford to load `ws`
// (it pulls in http, https, tls and zlib: ~40 ms of a ~100 ms command), and needs only
// text frames, ping/pong and close — so it speaks the protocol directly. No zod here
// either: the daemon validates.
import net from 'node:net';
import { connectablePath } from '../unix-path.js';
import { createHash, randomFillSync } from 'node:crypto';
import { RunaError } from '../errors.js';
import { TurnWrites } from './turn-writes.js';
import type { Request } from './messages.js';

type Pending = { resolve(v: unknown): void; reject(e: Error): void };
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const MAX_PAYLOAD = 1 << 20;

export class BusClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(body: unknown) => void>>();
  private seq = 0;
  private closedError: Error | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket, rest: Buffer) {
    this.turn = new TurnWrites(socket);
    this.closed = new Promise((resolve) => socket.once('close', () => {
      this.closedError ??= new RunaError('disconnected', 'connection to runa daemon closed');
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
      resolve();
    }));
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('error', () => { /* surfaced through close */ });
    if (rest.length) this.receive(rest);
  }

  static connect(socketPath: string): Promise<BusClient> {
    return new Promise((resolve, reject) => {
      const key = randomFillSync(Buffer.alloc(16)).toString('base64');
      const target = connectablePath(socketPath);
      const socket = net.connect(target.path);
      let head = Buffer.alloc(0);
      const fail = (e: Error) => { target.release(); socket.destroy(); reject(e); };
      // A daemon that dies during the handshake resets the connection (ECONNRESET, through
      // 'error') or closes it: no request was sent yet, which the caller may retry.
      const closed = () => fail(new RunaError('handshake_closed', 'runa daemon closed the connection before it answered'));
      socket.once('error', fail);
      socket.once('close', closed);
      socket.once('connect', () => target.release());
      socket.once('connect', () => socket.write(
        `GET / HTTP/1.1\r\nHost: runa\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      ));
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) { if (head.length > 8192) fail(new RunaError('handshake', 'runa daemon: oversized handshake')); return; }
        socket.off('data', onData);
        socket.off('error', fail);
        socket.off('close', closed);
        const text = head.subarray(0, end).toString('latin1');
        const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(text)?.[1];
        const expected = createHash('sha1').update(key + GUID).digest('base64');
        if (!text.startsWith('HTTP/1.1 101') || accept !== expected) return fail(new RunaError('handshake', `runa daemon refused the connection: ${text.split('\r\n')[0]}`));
        resolve(new BusClient(socket, head.subarray(end + 4)));
      };
      socket.on('data', onData);
    });
  }

  request<T = Record<string, unknown>>(body: Request): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const cid = String(++this.seq);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(cid, { resolve: resolve as (v: unknown) => void, reject });
      this.sendFrame(0x1, Buffer.from(JSON.stringify({ kind: 'request', cid, body })));
    });
  }

  /** Send a raw text frame (tests use it to send hostile input). */
  sendRaw(data: string | Buffer): void {
    this.sendFrame(0x1, Buffer.from(data));
  }

  on(topic: string, fn: (body: unknown) => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  close(): void {
    if (this.socket.destroyed) return;
    this.sendFrame(0x8, Buffer.from([0x03, 0xe8])); // 1000: normal closure
    this.socket.end();
  }

  private readonly turn: TurnWrites;
  /** Masking keys, drawn from the CSPRNG 1024 at a time rather than 4 bytes per frame. */
  private masks = Buffer.alloc(0);
  private maskAt = 0;
  private maskBytes(): Buffer {
    if (this.maskAt >= this.masks.length) {
      this.masks = randomFillSync(Buffer.alloc(4096));
      this.maskAt = 0;
    }
    this.maskAt += 4;
    return this.masks.subarray(this.maskAt - 4, this.maskAt);
  }

  /** Client frames are masked (RFC 6455 §5.3). */
  private sendFrame(opcode: number, payload: Buffer): void {
    if (this.socket.destroyed) return;
    const len = payload.length;
    const head = Buffer.alloc(len < 126 ? 6 : len < 65536 ? 8 : 14);
    head[0] = 0x80 | opcode;
    let o = 2;
    if (len < 126) head[1] = 0x80 | len;
    else if (len < 65536) { head[1] = 0x80 | 126; head.writeUInt16BE(len, 2); o = 4; }
    else { head[1] = 0x80 | 127; head.writeBigUInt64BE(BigInt(len), 2); o = 10; }
    const mask = this.maskBytes();
    mask.copy(head, o);
    for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
    this.turn.hold(); // the requests of this turn go out in one writev
    this.socket.write(Buffer.concat([head, payload]));
  }

  private receive(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 2) return;
      const b0 = this.buf[0];
      const b1 = this.buf[1];
      let len = b1 & 0x7f;
      let o = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); o = 4; }
      else if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); o = 10; }
      if (len > MAX_PAYLOAD) { this.closedError = new RunaError('protocol', 'runa daemon sent an oversized frame'); this.socket.destroy(); return; }
      const masked = (b1 & 0x80) !== 0;
      if (this.buf.length < o + (masked ? 4 : 0) + len) return;
      let payload = this.buf.subarray(o + (masked ? 4 : 0), o + (masked ? 4 : 0) + len);
      if (masked) {
        const mask = this.buf.subarray(o, o + 4);
        payload = Buffer.from(payload);
        for (let i = 0; i < len; i++) payload[i] ^= mask[i & 3];
      }
      this.buf = this.buf.subarray(o + (masked ? 4 : 0) + len);
      const opcode = b0 & 0x0f;
      if (opcode === 0x9) this.sendFrame(0xa, Buffer.from(payload));
      else if (opcode === 0x8) { this.socket.end(); return; }
      else if (opcode === 0x1 || opcode === 0x0) {
        this.fragments.push(payload);
        if (b0 & 0x80) {
          const text = Buffer.concat(this.fragments).toString('utf8');
          this.fragments = [];
          this.message(text);
        }
      }
    }
  }

  private message(text: string): void {
    let frame: { kind: string; cid?: string | null; body?: unknown; topic?: string; error?: { code: string; message: string } };
    try { frame = JSON.parse(text); } catch { return; }
    if (frame.kind === 'event') {
      for (const fn of this.listeners.get(frame.topic ?? '') ?? []) fn(frame.body);
      return;
    }
    if (frame.kind === 'error' && (frame.cid === null || frame.cid === undefined)) {
      for (const fn of this.listeners.get('error') ?? []) fn(frame.error);
      return;
    }
    const p = frame.cid != null ? this.pending.get(frame.cid) : undefined;
    if (!p) return;
    this.pending.delete(frame.cid!);
    if (frame.kind === 'reply') p.resolve(frame.body);
    else p.reject(new RunaError(frame.error?.code ?? 'internal', frame.error?.message ?? 'unknown error'));
  }
}

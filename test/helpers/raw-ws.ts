// A WebSocket client that sends whatever bytes it is told (RFC 6455 framing by hand, masks,
// opcodes, lengths and all), and records every frame the daemon sends back: for tests that
// speak to the daemon the way a broken or hostile peer would.
import net from 'node:net';
import { createHash, randomBytes } from 'node:crypto';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export interface FrameOpts {
  fin?: boolean;
  /** RSV1..3 bits (0..7) */
  rsv?: number;
  /** client frames must be masked; false sends one unmasked */
  mask?: boolean;
  /** announce this payload length instead of the real one */
  announce?: number;
}

export class RawWs {
  /** replies and errors (every text frame that is not an event), parsed */
  readonly responses: any[] = [];
  events = 0;
  /** the largest frame received */
  maxFrame = 0;
  closeCode: number | null = null;
  closeReason = '';
  /** the socket ended */
  ended = false;
  readonly closed: Promise<void>;
  private buf: Buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket, rest: Buffer) {
    this.closed = new Promise((resolve) => socket.once('close', () => { this.ended = true; this.wake(); resolve(); }));
    socket.on('error', () => { /* surfaced as close */ });
    socket.on('data', (d: Buffer) => this.receive(d));
    if (rest.length) this.receive(rest);
  }

  static open(sock: string): Promise<RawWs> {
    return new Promise((resolve, reject) => {
      const key = randomBytes(16).toString('base64');
      const s = net.connect(sock);
      let head = Buffer.alloc(0);
      s.once('error', reject);
      s.once('connect', () => s.write(`GET / HTTP/1.1\r\nHost: runa\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`));
      const onData = (d: Buffer) => {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        s.off('data', onData);
        s.off('error', reject);
        const text = head.subarray(0, end).toString('latin1');
        const accept = createHash('sha1').update(key + GUID).digest('base64');
        if (!text.startsWith('HTTP/1.1 101') || !text.includes(accept)) { s.destroy(); reject(new Error(`handshake refused: ${text.split('\r\n')[0]}`)); return; }
        resolve(new RawWs(s, head.subarray(end + 4)));
      };
      s.on('data', onData);
    });
  }

  /** One frame, as told. */
  static frame(opcode: number, payload: Buffer, o: FrameOpts = {}): Buffer {
    const len = o.announce ?? payload.length;
    const masked = o.mask ?? true;
    const head = Buffer.alloc(len < 126 ? 2 : len < 65536 ? 4 : 10);
    head[0] = ((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode;
    if (len < 126) head[1] = len;
    else if (len < 65536) { head[1] = 126; head.writeUInt16BE(len, 2); }
    else { head[1] = 127; head.writeBigUInt64BE(BigInt(len), 2); }
    if (!masked) return Buffer.concat([head, payload]);
    head[1] |= 0x80;
    const mask = randomBytes(4);
    const body = Buffer.from(payload);
    for (let i = 0; i < body.length; i++) body[i] ^= mask[i & 3];
    return Buffer.concat([head, mask, body]);
  }

  write(b: Buffer | string): void {
    if (!this.socket.destroyed) this.socket.write(b);
  }

  text(s: string | Buffer, o?: FrameOpts): void {
    this.write(RawWs.frame(0x1, Buffer.isBuffer(s) ? s : Buffer.from(s), o));
  }

  close(code = 1000, reason = ''): void {
    const p = Buffer.alloc(2 + Buffer.byteLength(reason));
    p.writeUInt16BE(code, 0);
    p.write(reason, 2);
    this.write(RawWs.frame(0x8, p));
  }

  /** Until `n` responses came, or the daemon closed: false after `ms` with neither (a hang). */
  async waitFor(n: number, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (this.responses.length < n && !this.ended && this.closeCode === null) {
      const left = end - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => { clearTimeout(t); r(); });
      });
    }
    return true;
  }

  /** Until the socket is closed; false after `ms`. */
  async waitClosed(ms: number): Promise<boolean> {
    let t: NodeJS.Timeout | undefined;
    const r = await Promise.race([this.closed.then(() => true), new Promise<boolean>((res) => { t = setTimeout(() => res(false), ms); })]);
    clearTimeout(t);
    return r;
  }

  destroy(): void {
    this.socket.destroy();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private receive(d: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, d]) : d;
    for (;;) {
      if (this.buf.length < 2) return;
      let len = this.buf[1] & 0x7f;
      let o = 2;
      if (len === 126) { if (this.buf.length < 4) return; len = this.buf.readUInt16BE(2); o = 4; }
      else if (len === 127) { if (this.buf.length < 10) return; len = Number(this.buf.readBigUInt64BE(2)); o = 10; }
      if (this.buf.length < o + len) return;
      const op = this.buf[0] & 0x0f;
      this.maxFrame = Math.max(this.maxFrame, len);
      const payload = this.buf.subarray(o, o + len);
      this.buf = this.buf.subarray(o + len);
      if (op === 0x9) { this.write(RawWs.frame(0xa, Buffer.from(payload))); continue; }
      if (op === 0x8) {
        this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
        this.closeReason = payload.subarray(2).toString('utf8');
        this.wake();
        continue;
      }
      if (op === 0x1) {
        const f = JSON.parse(payload.toString('utf8'));
        if (f.kind === 'event') this.events++;
        else this.responses.push(f);
        this.wake();
      }
    }
  }
}

// The CLI's side of the bus. Deliberately light: no zod here (the daemon validates), so a
// short-lived CLI loads only ws.
import WebSocket from 'ws';
import { RunaError } from '../errors.js';
import type { Request } from './messages.js';

type Pending = { resolve(v: unknown): void; reject(e: Error): void };

export class BusClient {
  private readonly pending = new Map<string, Pending>();
  private readonly listeners = new Map<string, Set<(body: unknown) => void>>();
  private seq = 0;
  private closedError: Error | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => this.receive(data.toString()));
    ws.on('close', (code, reason) => {
      this.closedError = new RunaError('disconnected', `connection to runa daemon closed (${code}${reason.length ? ' ' + reason : ''})`);
      for (const p of this.pending.values()) p.reject(this.closedError);
      this.pending.clear();
    });
    ws.on('error', () => { /* surfaced through close */ });
  }

  static connect(socketPath: string): Promise<BusClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws+unix://${socketPath}:/`, { perMessageDeflate: false, maxPayload: 1 << 20 });
      ws.once('open', () => { ws.removeAllListeners('error'); resolve(new BusClient(ws)); });
      ws.once('error', reject);
    });
  }

  request<T = Record<string, unknown>>(body: Request): Promise<T> {
    if (this.closedError) return Promise.reject(this.closedError);
    const cid = String(++this.seq);
    return new Promise<T>((resolve, reject) => {
      this.pending.set(cid, { resolve: resolve as (v: unknown) => void, reject });
      this.ws.send(JSON.stringify({ kind: 'request', cid, body }));
    });
  }

  /** Send a raw frame (tests use it to send hostile input). */
  sendRaw(data: string | Buffer): void {
    this.ws.send(data);
  }

  on(topic: string, fn: (body: unknown) => void): () => void {
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(fn);
    return () => set!.delete(fn);
  }

  private receive(text: string): void {
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

  close(): void {
    this.ws.close();
  }

  get closed(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((r) => this.ws.once('close', () => r()));
  }
}

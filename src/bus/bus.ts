// The in-process bus: requests and events flow as rxjs streams; replies are routed by
// correlation id. Transports (ws, tests) publish into it; actors subscribe to it.
import { Observable, Subject, filter } from 'rxjs';
import type { Request, RequestType, ErrorBody } from './messages.js';
import { errorBody } from '../errors.js';

export type Reply = { ok: true; body: unknown } | { ok: false; error: ErrorBody };
export interface Session {
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Be told when the peer goes (a command run for the native front end stops waiting for it). */
  onClose(fn: () => void): void;
}
export interface Envelope { cid: string; body: Request; session?: Session; respond(reply: Reply): void }
export interface Published { topic: string; body: unknown }

type Handler<T extends RequestType> = (body: Extract<Request, { type: T }>, env: Envelope) => Promise<unknown> | unknown;

export class Bus {
  private readonly requests$ = new Subject<Envelope>();
  private readonly events$ = new Subject<Published>();
  private readonly listeners = new Map<string, number>();
  private seq = 0;

  /** Publish a request; the reply comes back through the envelope's `respond`. */
  dispatch(env: Envelope): void {
    this.requests$.next(env);
  }

  /** In-process request/reply with a fresh correlation id. */
  request(body: Request): Promise<unknown> {
    return new Promise((resolve, reject) => {
      this.dispatch({
        cid: `local-${++this.seq}`,
        body,
        respond: (r) => (r.ok ? resolve(r.body) : reject(Object.assign(new Error(r.error.message), { code: r.error.code }))),
      });
    });
  }

  private tapped: ((body: Request, ms: number, error: ErrorBody | null) => void) | null = null;
  private readonly serving = new Map<Envelope, number>();

  /** Requests being served now, oldest first, with how long they have run (`runa debug --stacks`). */
  inFlight(now = performance.now()): Array<{ type: string; id: string | null; cid: string; ms: number }> {
    return [...this.serving].map(([env, since]) => ({ type: env.body.type, id: 'id' in env.body ? env.body.id : null, cid: env.cid, ms: Math.round(now - since) }));
  }

  /** Be told of every request served, with its duration and outcome (the inspector's timeline). */
  tap(fn: (body: Request, ms: number, error: ErrorBody | null) => void): void {
    this.tapped = fn;
  }

  /** The handler of each request type: one lookup per request, not a filter per type. */
  private readonly handlers = new Map<RequestType, (env: Envelope) => void>();

  constructor() {
    this.requests$.subscribe((env) => this.handlers.get(env.body.type)?.(env));
  }

  /** Serve one request type (one handler each); a thrown error becomes a typed error reply. */
  handle<T extends RequestType>(type: T, handler: Handler<T>): void {
    if (this.handlers.has(type)) throw new Error(`bus: ${type} is handled already`);
    this.handlers.set(type, (env) => {
      const started = performance.now();
      this.serving.set(env, started);
      const done = (reply: Reply) => {
        this.serving.delete(env);
        env.respond(reply);
        this.tapped?.(env.body, performance.now() - started, reply.ok ? null : reply.error);
      };
      Promise.resolve()
        .then(() => handler(env.body as Extract<Request, { type: T }>, env))
        .then(
          (body) => done({ ok: true, body: body ?? {} }),
          (e) => done({ ok: false, error: errorBody(e) }),
        );
    });
  }

  publish(topic: string, body: unknown): void {
    this.events$.next({ topic, body });
  }

  /** Whether anyone listens on a topic: publishers skip serializing when no one does. */
  hasListeners(topic: string): boolean {
    return (this.listeners.get(topic) ?? 0) > 0;
  }

  topic(topic: string): Observable<Published> {
    return new Observable<Published>((sub) => {
      this.listeners.set(topic, (this.listeners.get(topic) ?? 0) + 1);
      const s = this.events$.pipe(filter((e) => e.topic === topic)).subscribe(sub);
      return () => {
        s.unsubscribe();
        this.listeners.set(topic, (this.listeners.get(topic) ?? 1) - 1);
      };
    });
  }
}

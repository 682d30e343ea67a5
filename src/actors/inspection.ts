// The inspection topic: @statelyai/inspect frames (@xstate.actor/.event/.snapshot) on the
// bus. While no one listens, no actor has an inspection observer at all (XState then builds
// no inspection event): a subscriber's arrival attaches one to every live actor's system,
// and the first event after the last one left detaches them. The converter loads lazily.
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { Bus } from '../bus/bus.js';
import type { BusEvent } from './actor-bus.js';

/** An actor the inspector may watch: its machine, its bus address and its parent's. */
export interface Watched { ref: AnyActorRef; address: string; parent: string | null }
/** Called by every actor with each machine it starts. */
export type Watch = (ref: AnyActorRef, address: string, parent: string | null) => void;

type Inspector = { inspect: { next?: (ev: InspectionEvent) => void }; actor(ref: AnyActorRef, snapshot?: unknown): void };

/** Whether a frame is one of @statelyai/inspect's (what Stately's inspector takes), not runa's own. */
export function isStatelyFrame(frame: unknown): boolean {
  return typeof frame === 'object' && frame !== null && !('_runa' in frame);
}

/** A microstep or an action as a plain JSON frame, with the fields Stately's frames have. */
function runaFrame(ev: InspectionEvent): Record<string, unknown> {
  const base = { type: ev.type, _runa: 1, sessionId: ev.actorRef.sessionId, rootId: ev.rootId, createdAt: Date.now().toString() };
  if (ev.type === '@xstate.microstep') {
    const transitions = (ev._transitions ?? []).map((t) => ({
      eventType: t.eventType,
      source: t.source?.id,
      targets: (t.target ?? []).map((n) => n.id),
    }));
    return { ...base, event: ev.event, value: (ev.snapshot as { value?: unknown }).value, transitions };
  }
  if (ev.type === '@xstate.action') return { ...base, action: { type: ev.action.type, params: ev.action.params ?? null } };
  return base;
}

export class Inspection {
  private inspector: Inspector | null = null;
  private loading: Promise<Inspector> | null = null;

  constructor(private readonly bus: Bus, private readonly actors: () => Watched[]) {}

  /** Someone listens on the inspect topic. */
  get watching(): boolean { return this.bus.hasListeners('inspect'); }

  private readonly observed = new Map<object, { unsubscribe(): void }>();

  /**
   * Watch a new actor (and what it invokes) if someone listens now; announce it to the viewer,
   * as Stately's frame and as runa's, which says where it sits on the bus.
   */
  attach({ ref, address, parent }: Watched): void {
    if (!this.inspector || !this.bus.hasListeners('inspect')) return;
    if (!this.observed.has(ref.system)) this.observed.set(ref.system, ref.system.inspect((ev: InspectionEvent) => this.forward(ev)));
    // Announced as XState would at creation (not with inspector.actor(), which loses a root actor's rootId).
    let root: AnyActorRef = ref;
    while ((root as { _parent?: AnyActorRef })._parent) root = (root as { _parent: AnyActorRef })._parent;
    this.inspector.inspect.next?.({ type: '@xstate.actor', actorRef: ref, rootId: root.sessionId } as InspectionEvent);
    const machine = (ref as { logic?: { id?: string } }).logic?.id ?? null;
    this.bus.publish('inspect', { type: '@runa.actor', _runa: 1, sessionId: ref.sessionId, address, parent, machine, createdAt: Date.now().toString() });
    // Its end (stopped, or done), which XState's inspection does not report.
    if (!this.ending.has(ref)) {
      this.ending.add(ref);
      const gone = () => {
        if (this.bus.hasListeners('inspect')) this.bus.publish('inspect', { type: '@runa.gone', _runa: 1, sessionId: ref.sessionId, address, createdAt: Date.now().toString() });
      };
      // No error handler: an actor's error stays reported as it is when no one watches.
      ref.subscribe({ complete: gone });
    }
  }
  private readonly ending = new WeakSet<AnyActorRef>();

  /** A request from a client (the CLI, a caller) and its outcome, for the viewer's timeline. */
  request(type: string, id: string | undefined, ms: number, error: string | null): void {
    // (A viewer's own requests are left out.)
    if (!this.bus.hasListeners('inspect') || type.startsWith('inspect.') || type === 'container.history') return;
    this.bus.publish('inspect', { type: '@runa.request', _runa: 1, request: type, id: id ?? null, ms, ok: error === null, error, createdAt: Date.now().toString() });
  }

  private detachAll(): void {
    for (const sub of this.observed.values()) sub.unsubscribe();
    this.observed.clear();
  }

  forward(ev: InspectionEvent): void {
    if (!this.bus.hasListeners('inspect')) return this.detachAll();
    if (!this.inspector) return;
    if (ev.type === '@xstate.actor' || ev.type === '@xstate.event' || ev.type === '@xstate.snapshot') this.inspector.inspect.next?.(ev);
    // What Stately's converter drops, as runa's own frames (marked `_runa`): each microstep
    // with the transitions it took, and each action run.
    else if (ev.type === '@xstate.microstep' || ev.type === '@xstate.action') this.bus.publish('inspect', runaFrame(ev));
  }

  /**
   * A message on the actors' bus, as the event it is: sent by one actor to another. It reaches
   * the viewer as an @xstate.event frame whose source and target are the two actors.
   */
  message(from: AnyActorRef | undefined, to: AnyActorRef | undefined, event: { type: string }): void {
    if (!to || !this.bus.hasListeners('inspect') || !this.inspector) return;
    this.inspector.inspect.next?.({ type: '@xstate.event', rootId: to.sessionId, actorRef: to, sourceRef: from, event } as InspectionEvent);
  }

  /**
   * What became of a message on the actors' bus (its sending is the @xstate.event above): its
   * reply (ok or the error), a tell's failure, a dead letter, a timeout, a reply that came too
   * late. runa's own frame: Stately's protocol has no replies.
   */
  busEvent(ev: Exclude<BusEvent, { kind: 'request' | 'tell' }>): void {
    if (!this.bus.hasListeners('inspect')) return;
    const { msg } = ev;
    const ms = 'ms' in ev ? Math.round(ev.ms * 10) / 10 : null;
    const error = ev.kind === 'dead-letter' ? ev.reason : ev.kind === 'timeout' ? `no reply within ${ev.ms} ms` : 'error' in ev ? ev.error : null;
    this.bus.publish('inspect', { type: '@runa.message', _runa: 1, kind: ev.kind, message: msg.type, from: msg.from, to: msg.to, ms, ok: error === null && ev.kind !== 'late', error, createdAt: Date.now().toString() });
  }

  private load(): Promise<Inspector> {
    this.loading ??= import('@statelyai/inspect').then(({ createInspector }) => {
      const adapter = { start() {}, stop() {}, send: (frame: unknown) => this.bus.publish('inspect', frame) };
      // Whole definitions: the default cuts them 10 levels deep.
      this.inspector = createInspector(adapter, { serializationDepthLimit: 100 }) as unknown as Inspector;
      return this.inspector;
    });
    return this.loading;
  }

  /** A new subscriber first gets an @xstate.actor frame for every live actor. */
  async replay(): Promise<{ actors: number }> {
    await this.load();
    const actors = this.actors();
    for (const a of actors) this.attach(a);
    return { actors: actors.length };
  }
}

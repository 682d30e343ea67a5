// The inspection topic: @statelyai/inspect frames (@xstate.actor/.event/.snapshot) on the
// bus. Nothing is converted or serialized while no one listens; the converter loads lazily.
import type { AnyActorRef, InspectionEvent } from 'xstate';
import type { Bus } from '../bus/bus.js';

type Inspector = { inspect: { next?: (ev: InspectionEvent) => void }; actor(ref: AnyActorRef, snapshot?: unknown): void };

export class Inspection {
  private inspector: Inspector | null = null;
  private loading: Promise<Inspector> | null = null;

  constructor(private readonly bus: Bus, private readonly actors: () => AnyActorRef[]) {}

  forward(ev: InspectionEvent): void {
    if (!this.bus.hasListeners('inspect') || !this.inspector) return;
    if (ev.type === '@xstate.actor' || ev.type === '@xstate.event' || ev.type === '@xstate.snapshot') this.inspector.inspect.next?.(ev);
  }

  private load(): Promise<Inspector> {
    this.loading ??= import('@statelyai/inspect').then(({ createInspector }) => {
      const adapter = { start() {}, stop() {}, send: (frame: unknown) => this.bus.publish('inspect', frame) };
      this.inspector = createInspector(adapter) as unknown as Inspector;
      return this.inspector;
    });
    return this.loading;
  }

  /** A new subscriber first gets an @xstate.actor frame for every live actor. */
  async replay(): Promise<{ actors: number }> {
    const inspector = await this.load();
    const actors = this.actors();
    for (const a of actors) inspector.actor(a, a.getSnapshot());
    return { actors: actors.length };
  }
}

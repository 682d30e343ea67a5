// A container's exec'd processes (src/actors/container-actor.ts): a Process actor each, with its
// state dir, kept from the exec's plan until its process ends (or its exec fails).
import { ProcessActor } from './process-actor.js';
import { RunaError } from '../errors.js';
import { monitorSocket } from '../paths.js';
import { removeStateDir } from '../state.js';
import { killPoint } from '../faults.js';
import type { AnyActor } from 'xstate';
import type { ActorBus } from './actor-bus.js';
import type { Watch } from './inspection.js';

/** The container, as its exec'd processes need it. */
export interface ExecsHost {
  readonly id: string;
  readonly address: string;
  readonly bus: ActorBus;
  /** the inspector's watch, for each new Process actor */
  readonly watcher?: Watch;
  /** keep a companion machine's changes of state in the container's history */
  track(actor: AnyActor, address: string): void;
}

export class ContainerExecs {
  private readonly execs = new Map<string, { process: ProcessActor; dir: string }>();

  constructor(private readonly c: ExecsHost) {}

  /** A new exec'd process's actor, kept until it ends. */
  add(execId: string, dir: string): ProcessActor {
    const process = new ProcessActor(this.c.id, execId, 'exec', { bus: this.c.bus, watch: this.c.watcher });
    this.c.track(process.actor, process.address);
    this.execs.set(execId, { process, dir });
    return process;
  }

  /** The exec'd process's monitor is up: open its gate and follow it until it exits. */
  async open(execId: string, monitorPid: number): Promise<void> {
    killPoint('exec:spawned'); // nsinit is up on the caller's side; the daemon has not heard it yet
    const ex = this.execs.get(execId);
    if (!ex) throw new RunaError('not_exist', `no exec ${execId} in container ${JSON.stringify(this.c.id)}`);
    // Its Process actor holds the monitor link; the link's end (process.lost) ends the exec.
    const to = ex.process.address;
    await this.c.bus.request({ type: 'process.attach', from: this.c.address, to, socket: monitorSocket(ex.dir), expectedPid: monitorPid });
    const r = await this.c.bus.request({ type: 'process.gate', from: this.c.address, to });
    if (r.type === 'process.failed') throw new RunaError('exec_failed', `exec failed: ${r.message}`);
  }

  /** It ended (or its exec failed): its actor stops, its state dir goes. */
  gone(execId: string): void {
    const ex = this.execs.get(execId);
    if (!ex) return;
    this.execs.delete(execId);
    ex.process.stop();
    removeStateDir(ex.dir);
  }

  /** Every one of them goes (the container is torn down). */
  release(): void {
    for (const id of [...this.execs.keys()]) this.gone(id);
  }

  /** Its host pid, once its program runs. */
  pid(execId: string): number | null { return this.execs.get(execId)?.process.actor.getSnapshot().context.pid ?? null; }

  pids(): number[] { return [...this.execs.keys()].flatMap((id) => this.pid(id) ?? []); }

  get(execId: string): ProcessActor | undefined { return this.execs.get(execId)?.process; }

  processes(): ProcessActor[] { return [...this.execs.values()].map((e) => e.process); }
}

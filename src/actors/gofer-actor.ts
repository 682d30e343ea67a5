// A container's gofer as an actor on the actors' bus: the one actor that touches the host
// filesystem for its container (ARCHITECTURE §3). The container asks it, by message, to
// validate the bundle, to prepare the plan (every mount destination resolved inside the
// rootfs, the overlay's place, the config kept), and to undo all of it on delete.
import fs from 'node:fs';
import path from 'node:path';
import { createActor, type Actor, type InspectionEvent } from 'xstate';
import { goferMachine, goferStatus } from '../machines/gofer.js';
import { buildPlan } from '../oci/plan.js';
import { stringifySpec } from '../oci/spec.js';
import { encodePlan } from '../nsinit/plan.js';
import { planFile } from '../paths.js';
import { RunaError } from '../errors.js';
import { checkSpecialDirs, loadBundle, secureJoin, type Bundle } from './gofer.js';
import type { ActorBus, ActorMessage, GoferPrepareInput } from '../bus/actor-bus.js';

export const goferAddress = (id: string) => `gofer:${id}`;

export interface GoferActorOptions {
  bus: ActorBus;
  inspect?: (ev: InspectionEvent) => void;
  /** a re-adopted container's gofer: serving already */
  serving?: boolean;
}

export class GoferActor {
  readonly actor: Actor<typeof goferMachine>;
  private readonly unregister: () => void;
  private bundle: Bundle | null = null;

  constructor(readonly id: string, private readonly stateDir: string, rootfs: string | null, opts: GoferActorOptions) {
    this.actor = createActor(goferMachine, { input: { id }, inspect: opts.inspect }).start();
    if (rootfs) this.rootfs = rootfs;
    if (opts.serving) this.actor.send({ type: 'gofer.serve' });
    this.unregister = opts.bus.register(goferAddress(id), (m) => this.receive(m));
  }

  private rootfs: string | null = null;
  get status() { return goferStatus(this.actor.getSnapshot()); }

  private receive(m: ActorMessage): unknown {
    switch (m.type) {
      case 'gofer.validate': return this.failing(() => this.validate(m.bundle));
      case 'gofer.prepare': return this.failing(() => this.prepare(m.input));
      case 'gofer.serve': return this.follow('gofer.serve');
      case 'gofer.pause': return this.follow('gofer.pause');
      case 'gofer.resume': return this.follow('gofer.resume');
      case 'gofer.undo': return this.undo();
      default: throw new RunaError('invalid_message', `gofer ${this.id} does not take ${m.type}`);
    }
  }

  /** A failure during create fails the create (LIFECYCLE): the gofer stops, keeping why; the error goes back as it was. */
  private failing<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      this.actor.send({ type: 'gofer.failed', error: (e as Error).message });
      throw e;
    }
  }

  private follow(type: 'gofer.serve' | 'gofer.pause' | 'gofer.resume'): void {
    if (this.actor.getSnapshot().can({ type })) this.actor.send({ type });
  }

  /** The bundle exists, its config.json is valid, its rootfs is a directory. */
  private validate(bundleArg: string): Bundle {
    this.bundle = loadBundle(bundleArg);
    this.rootfs = this.bundle.rootfs;
    return this.bundle;
  }

  /** Resolve every path inside the rootfs and write the plan (and the config kept for exec and restarts). */
  private prepare(input: GoferPrepareInput): string {
    const rootfs = this.rootfs;
    if (!rootfs) throw new RunaError('invalid_state', `gofer ${this.id}: no bundle validated`);
    checkSpecialDirs(rootfs, input.spec);
    const plan = buildPlan({ ...input, stateDir: this.stateDir, rootfs, resolve: (p) => secureJoin(rootfs, p) });
    if (input.overlay) fs.mkdirSync(path.join(this.stateDir, 'overlay'), { mode: 0o700 });
    fs.writeFileSync(planFile(this.stateDir), encodePlan(plan), { mode: 0o600 });
    fs.writeFileSync(path.join(this.stateDir, 'config.json'), stringifySpec(input.spec), { mode: 0o600 });
    return planFile(this.stateDir);
  }

  /** Everything the container had on disk goes: its plan, config, overlay and records. */
  private undo(): void {
    fs.rmSync(this.stateDir, { recursive: true, force: true });
    if (this.actor.getSnapshot().can({ type: 'gofer.stop' })) this.actor.send({ type: 'gofer.stop' });
  }

  /** Leave the bus (after undo, or when the container is forgotten). */
  stop(): void {
    this.unregister();
    this.actor.stop();
  }
}

// A container's gofer as an actor on the actors' bus: the one actor that touches the host
// filesystem for its container (ARCHITECTURE §3). The container asks it, by message, to
// validate the bundle, to prepare the plan (every mount destination resolved inside the
// rootfs, the overlay's place, the config kept), and to undo all of it on delete.
import fs from 'node:fs';
import path from 'node:path';
import { createActor, fromPromise, waitFor, type Actor, type ActorSystem } from 'xstate';
import { goferBusy, goferMachine, goferStatus, type GoferEvent } from '../machines/gofer.js';
import { invalidState } from '../machines/refusal.js';
import { buildPlan, buildRestorePlan, criuRoot, readHostFacts } from '../oci/plan.js';
import { stringifySpec } from '../oci/spec.js';
import { encodePlan } from '../nsinit/plan.js';
import { planFile } from '../paths.js';
import { removeStateDir } from '../state.js';
import { RunaError } from '../errors.js';
import { checkSpecialDirs, loadBundle, secureJoin, type Bundle } from './gofer.js';
import { checkWrite, heldWriteLost, serveFile, type FileAnswer } from './gofer-files.js';
import { type ActorBus, type FileRequest, type GoferPrepareInput, type Mailbox, type ReplyOf } from './actor-bus.js';
import type { Watch } from './inspection.js';
import { containerAddress } from './sandbox-actor.js';

export const goferAddress = (id: string) => `gofer:${id}`;

export interface GoferActorOptions {
  bus: ActorBus;
  /** called with every machine it starts: the inspector watches it while someone listens */
  watch?: Watch;
}

/** The gofer's work, by the keys its machine invokes. */
export interface GoferEffects {
  validateBundle(bundle: string): Bundle;
  preparePlan(input: GoferPrepareInput): string;
  undoFiles(): void;
}

/** The gofer behind an actor system: how the machine's invoked work finds its effects. */
const gofers = new WeakMap<ActorSystem<any>, GoferActor>();

/**
 * The gofer machine with its work provided, made once: `provide` copies the whole machine, too
 * dear to pay for every container. Each piece of work finds its gofer through the actor system.
 */
let provided: typeof goferMachine | null = null;
function providedGofer(): typeof goferMachine {
  const work = (key: keyof GoferEffects) => fromPromise<unknown, unknown>(async ({ input, system }) => {
    const gofer = gofers.get(system);
    if (!gofer) throw new RunaError('invalid_state', 'gofer work without its gofer');
    return gofer.perform(key, input);
  });
  provided ??= goferMachine.provide({ actors: { validateBundle: work('validateBundle'), preparePlan: work('preparePlan'), undoFiles: work('undoFiles') } });
  return provided;
}

export class GoferActor {
  readonly actor: Actor<typeof goferMachine>;
  private readonly mailbox: Mailbox;

  /** What the last piece of work answered, or the error it failed with (given back as it was). */
  private result: { ok: true; value: unknown } | { ok: false; error: unknown } | null = null;

  private readonly effects: GoferEffects;

  constructor(readonly id: string, private readonly stateDir: string, rootfs: string | null, opts: GoferActorOptions & { effects?: Partial<GoferEffects> }) {
    this.effects = {
      validateBundle: (b) => this.validate(b),
      preparePlan: (i) => this.prepare(i),
      undoFiles: () => this.undo(),
      ...opts.effects,
    };
    const machine = providedGofer();
    this.actor = createActor(machine, { input: { id, validated: rootfs !== null } });
    gofers.set(this.actor.system, this);
    // Leaving paused, the machine says what becomes of the writes it held: written, in order,
    // once the container runs again; failed otherwise (none lands in a root that is gone).
    this.actor.on('gofer.held', (e) => { for (const w of this.heldWrites.splice(0)) if (e.write) w.run(); else w.lose(); });
    this.actor.start();
    opts.watch?.(this.actor, goferAddress(id), containerAddress(id));
    if (rootfs) this.rootfs = rootfs;
    this.mailbox = opts.bus.register(goferAddress(id), {
      'gofer.validate': (m) => this.work('validate', { type: 'gofer.validate', bundle: m.bundle }) as Promise<ReplyOf<'gofer.validate'>>,
      'gofer.prepare': (m) => this.work('prepare', { type: 'gofer.prepare', input: m.input }) as Promise<string>,
      // Its container's status, after each change: a fact, taken where its machine allows.
      'gofer.follow': (m) => { this.fact({ type: 'gofer.follow', status: m.status }); },
      'gofer.undo': async () => { await this.work('undo', { type: 'gofer.undo' }); },
      // It serves no more (its container is forgotten), its files kept: it still takes gofer.undo.
      'gofer.stop': () => { this.fact({ type: 'gofer.stop' }); },
      // Not in turn: a write held while the container is frozen must not keep its thaw waiting.
      'gofer.file': { concurrent: true, handle: (m) => this.file(m.request, m.root) as ReplyOf<'gofer.file'> | Promise<ReplyOf<'gofer.file'>> },
    });
  }

  private rootfs: string | null = null;

  /** Do one piece of the machine's work, keeping its result (or error) for the one who asked. */
  perform(key: keyof GoferEffects, input: unknown): unknown {
    try {
      const value = key === 'validateBundle' ? this.effects.validateBundle(input as string)
        : key === 'preparePlan' ? this.effects.preparePlan(input as GoferPrepareInput)
          : this.effects.undoFiles();
      this.result = { ok: true, value };
      return value;
    } catch (error) {
      this.result = { ok: false, error };
      throw error;
    }
  }
  get status() { return goferStatus(this.actor.getSnapshot()); }

  /**
   * Hand the machine a piece of work and answer with its result once done. A failure during
   * create fails the create (LIFECYCLE): the gofer stops, keeping why; the error goes back as it was.
   */
  private async work(op: string, ev: GoferEvent): Promise<unknown> {
    const snap = this.actor.getSnapshot();
    if (snap.status !== 'active' || !snap.can(ev)) {
      const r = invalidState(op, 'gofer', this.id, goferStatus(snap));
      throw new RunaError(r.code, r.message);
    }
    this.result = null;
    this.actor.send(ev);
    await waitFor(this.actor, (s) => !goferBusy(s) || s.status !== 'active');
    const r = this.result as { ok: true; value: unknown } | { ok: false; error: unknown } | null;
    if (r && !r.ok) throw r.error;
    return r?.value;
  }

  /** A fact about its container: taken where its machine allows, else it changes nothing. */
  private fact(ev: Extract<GoferEvent, { type: 'gofer.follow' | 'gofer.stop' }>): void {
    const snap = this.actor.getSnapshot();
    if (snap.status === 'active' && snap.can(ev)) this.actor.send(ev);
  }

  private readonly heldWrites: Array<{ run(): void; lose(): void }> = [];

  /**
   * A file operation on the container's filesystem, in `root` (the container's choice:
   * src/actors/gofer-files.ts). The gofer's machine takes it where it serves files, and answers
   * whether it is served now or held (a write while the container is frozen: LIFECYCLE,
   * "paused (queues writes)"); elsewhere it is refused.
   */
  private file(req: FileRequest, root: string): FileAnswer | Promise<FileAnswer> {
    const snap = this.actor.getSnapshot();
    const event = { type: 'gofer.file', op: req.op } as const;
    if (snap.status !== 'active' || !snap.can(event)) {
      const r = invalidState(req.op, 'file of gofer', this.id, goferStatus(snap));
      throw new RunaError(r.code, r.message);
    }
    let held: boolean | null = null;
    const sub = this.actor.on('gofer.fileServe', (e) => { held = e.held; });
    try { this.actor.send(event); } finally { sub.unsubscribe(); }
    if (held === null) throw new RunaError('invalid_state', `gofer ${this.id}: ${req.op} ${req.path} was not answered`);
    if (!held) return serveFile(this.id, req, root);
    if (req.op === 'write') checkWrite(this.id, req);
    return new Promise((resolve, reject) => this.heldWrites.push({
      run: () => { try { resolve(serveFile(this.id, req, root)); } catch (e) { reject(e); } },
      lose: () => reject(heldWriteLost(this.id, req)),
    }));
  }

  /** The bundle exists, its config.json is valid, its rootfs is a directory. */
  private validate(bundleArg: string): Bundle {
    const bundle = loadBundle(bundleArg);
    this.rootfs = bundle.rootfs;
    return bundle;
  }

  /** Resolve every path inside the rootfs and write the plan (and the config kept for exec and restarts). */
  private prepare(input: GoferPrepareInput): string {
    const rootfs = this.rootfs;
    if (!rootfs) throw new RunaError('invalid_state', `gofer ${this.id}: no bundle validated`); // the machine's guard keeps this from happening
    checkSpecialDirs(rootfs, input.spec);
    const planInput = { ...input, stateDir: this.stateDir, rootfs, resolve: (p: string) => secureJoin(rootfs, p) };
    // The host is read here, once; the planner is pure.
    const host = readHostFacts(planInput);
    // runa restore: CRIU restores the process; the root is bound for it at criu-root (in its own mount namespace).
    const plan = input.restore ? buildRestorePlan(planInput, host) : buildPlan(planInput, host);
    if (input.restore) fs.mkdirSync(criuRoot(this.stateDir), { mode: 0o755 });
    if (input.overlay) fs.mkdirSync(path.join(this.stateDir, 'overlay'), { mode: 0o700 });
    fs.writeFileSync(planFile(this.stateDir), encodePlan(plan), { mode: 0o600 });
    fs.writeFileSync(path.join(this.stateDir, 'config.json'), stringifySpec(input.spec), { mode: 0o600 });
    return planFile(this.stateDir);
  }

  /** Everything the container had on disk goes: its plan, config, overlay and records. */
  private undo(): void {
    removeStateDir(this.stateDir); // the writes it held have failed (the machine's `failHeld` on gofer.undo)
  }

  /** Leave the bus (after undo, or when the container is forgotten): no write it held is left waiting. */
  stop(): void {
    for (const w of this.heldWrites.splice(0)) w.lose();
    this.mailbox.close();
    this.actor.stop();
  }
}

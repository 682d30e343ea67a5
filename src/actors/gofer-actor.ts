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
import { FILE_MAX, type ActorBus, type FileRequest, type GoferPrepareInput, type Mailbox, type ReplyOf } from './actor-bus.js';
import type { Watch } from './inspection.js';
import { containerAddress } from './sandbox-actor.js';

export const goferAddress = (id: string) => `gofer:${id}`;

export interface GoferActorOptions {
  bus: ActorBus;
  /** called with every machine it starts: the inspector watches it while someone listens */
  watch?: Watch;
  /** a re-adopted container's gofer: serving already */
  serving?: boolean;
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
    this.actor.start();
    opts.watch?.(this.actor, goferAddress(id), containerAddress(id));
    if (rootfs) this.rootfs = rootfs;
    if (opts.serving) this.actor.send({ type: 'gofer.serve' });
    this.mailbox = opts.bus.register(goferAddress(id), {
      'gofer.validate': (m) => this.work('validate', { type: 'gofer.validate', bundle: m.bundle }) as Promise<ReplyOf<'gofer.validate'>>,
      'gofer.prepare': (m) => this.work('prepare', { type: 'gofer.prepare', input: m.input }) as Promise<string>,
      'gofer.serve': () => this.follow('gofer.serve'),
      'gofer.pause': () => this.follow('gofer.pause'),
      'gofer.resume': () => this.follow('gofer.resume'),
      'gofer.undo': async () => { await this.work('undo', { type: 'gofer.undo' }); },
      // Not in turn: a write held while the container is frozen must not keep gofer.resume waiting.
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

  private follow(type: 'gofer.serve' | 'gofer.pause' | 'gofer.resume'): void {
    if (this.actor.getSnapshot().can({ type })) this.actor.send({ type });
    // Writes held while the container was frozen go through now, in order.
    if (this.status === 'running') for (const w of this.heldWrites.splice(0)) w();
  }

  private readonly heldWrites: Array<() => void> = [];

  /**
   * A file operation on the container's filesystem. `root` is the container's root as the
   * host sees it (`/proc/<init>/root` while it lives: its mounts and overlay included); the
   * path is resolved inside it, symlinks included, and never leads out. While the container
   * is frozen, reads are served and writes wait for it to be thawed (LIFECYCLE: "paused
   * (queues writes)").
   */
  private file(req: FileRequest, root: string): Promise<unknown> | unknown {
    const status = this.status;
    if (status !== 'created' && status !== 'running' && status !== 'paused') {
      const r = invalidState(req.op, 'file of gofer', this.id, status);
      throw new RunaError(r.code, r.message);
    }
    const target = secureJoin(root, req.path);
    const where = `${req.op} ${req.path} in container ${JSON.stringify(this.id)}`;
    const fail = (e: unknown): never => { throw new RunaError('file_failed', `${where}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`); };
    if (req.op === 'stat') {
      let st: fs.Stats;
      try { st = fs.lstatSync(target); } catch (e) { return fail(e); }
      const type = st.isFile() ? 'file' : st.isDirectory() ? 'directory' : st.isSymbolicLink() ? 'symlink' : 'other';
      return { type, size: st.size, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
    }
    if (req.op === 'read') {
      let fd: number;
      try { fd = fs.openSync(target, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK); } catch (e) { return fail(e); }
      try {
        if (!fs.fstatSync(fd).isFile()) throw new RunaError('file_failed', `${where}: not a regular file`);
        const buf = Buffer.alloc(FILE_MAX + 1);
        const n = fs.readSync(fd, buf, 0, buf.length, 0);
        if (n > FILE_MAX) throw new RunaError('file_failed', `${where}: larger than ${FILE_MAX} bytes`);
        return { data: buf.subarray(0, n).toString('base64') };
      } finally { fs.closeSync(fd); }
    }
    const data = Buffer.from(req.data, 'base64');
    if (data.length > FILE_MAX) throw new RunaError('file_failed', `${where}: larger than ${FILE_MAX} bytes`);
    const write = () => {
      let fd: number;
      try { fd = fs.openSync(target, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC | fs.constants.O_NOFOLLOW, req.mode ?? 0o644); } catch (e) { return fail(e); }
      try { fs.writeSync(fd, data); } finally { fs.closeSync(fd); }
      return { written: data.length };
    };
    if (status !== 'paused') return write();
    return new Promise((resolve, reject) => this.heldWrites.push(() => { try { resolve(write()); } catch (e) { reject(e); } }));
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
    for (const w of this.heldWrites.splice(0)) w(); // each fails or lands; none is left waiting
    removeStateDir(this.stateDir);
  }

  /** Leave the bus (after undo, or when the container is forgotten). */
  stop(): void {
    this.mailbox.close();
    this.actor.stop();
  }
}

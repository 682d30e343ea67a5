// What a container's actor takes on the actors' bus: the client's operations from the daemon's
// router (each in its turn, one event to its machine), the sandbox's orders, reads and waits
// (answered at once), and facts from its processes (applied at once: an operation may be
// waiting for them).
import { refusal, type ContainerEvent, type HookKind } from '../machines/index.js';
import { RunaError } from '../errors.js';
import { LinuxResourcesSchema } from '../cgroups/index.js';
import { statsEvent } from '../cgroups/stats-json.js';
import { describeIssues } from '../bus/messages.js';
import type { FileRequest, Handlers } from './actor-bus.js';
import type { ExecRequest } from './container-effects.js';
import type { ContainerSnapshot, ContainerStatus } from '../machines/index.js';
import type { OciStateView } from '../state.js';
import type { CgroupStats } from '../cgroups/index.js';

/** The container's actor, as its mailbox's handlers see it (src/actors/container-actor.ts). */
export interface HandlerHost {
  readonly id: string;
  readonly status: ContainerStatus;
  readonly container: { getSnapshot(): ContainerSnapshot };
  readonly sandboxSettled: Promise<unknown>;
  turn<T = unknown>(event: ContainerEvent): Promise<T>;
  decide<T>(event: ContainerEvent): Promise<T>;
  followUnmonitored(): boolean;
  onCreated(monitorPid: number, initPid: number, start: boolean): Promise<void>;
  openExec(execId: string, monitorPid: number): Promise<void>;
  execGone(execId: string): void;
  fact(event: ContainerEvent): void;
  exited(exitStatus: number): void;
  initLost(): void;
  wait(): Promise<number>;
  readonly pidWaits: { wait(pid: number): Promise<number>; exit(pid: number | null, status: number): void };
  execPid(name: string): number | null;
  stats(): CgroupStats;
  state(): OciStateView;
  file(request: FileRequest): Promise<unknown>;
}

/** The handlers of a container's mailbox. */
export function containerHandlers(c: HandlerHost): Handlers {
  const order = <T>(type: 'sandbox.stop' | 'sandbox.pause' | 'sandbox.resume', otherwise: T) => async (): Promise<T> => {
    await undefined; // begun a microtask later, never inside its sender's call
    c.followUnmonitored();
    if (refusal(c.container.getSnapshot(), { type })) return otherwise;
    return c.decide<T>({ type });
  };
  return {
    // The client's operations, from the daemon's router: each in its turn, one event to the machine.
    'container.created': (m: { monitorPid: number; initPid: number; start?: boolean }) => c.onCreated(m.monitorPid, m.initPid, m.start ?? false),
    'container.createFailed': async () => { if (c.status === 'creating') await c.turn({ type: 'container.delete', force: true }); },
    'container.hooks': (m: { kind: HookKind; childPid: number }) => c.turn<void>({ type: 'container.hooks', kind: m.kind, childPid: m.childPid }),
    'container.start': () => c.turn<void>({ type: 'container.start' }),
    'container.exec': (m: { process: ExecRequest['overrides']; consoleSocket?: string; supervised?: boolean; ignorePaused?: boolean; cgroups?: string[]; pidfdSocket?: string }) => c.turn<{ execId: string; plan: string }>({
      type: 'container.exec', ignorePaused: m.ignorePaused ?? false,
      request: { overrides: m.process, consoleSocket: m.consoleSocket, supervised: m.supervised, cgroups: m.cgroups, pidfdSocket: m.pidfdSocket } satisfies ExecRequest,
    }),
    'exec.started': (m: { execId: string; monitorPid: number }) => c.openExec(m.execId, m.monitorPid),
    'exec.failed': { concurrent: true, handle: (m: { execId: string }) => c.execGone(m.execId) },
    'container.kill': (m: { signal: number; all?: boolean; pid?: number }) => c.turn<void>({ type: 'container.kill', signal: m.signal, all: m.all ?? false, ...(m.pid !== undefined ? { pid: m.pid } : {}) }),
    'container.delete': async (m: { force?: boolean }) => (await c.turn<{ warnings: string[] } | undefined>({ type: 'container.delete', force: m.force ?? false })) ?? { warnings: [] },
    'container.pause': async () => {
      await c.turn({ type: 'container.pause' });
      // A root's pause is its sandbox's: it returns once every member is paused too.
      await c.sandboxSettled;
    },
    'container.resume': async () => {
      await c.turn({ type: 'container.resume' });
      await c.sandboxSettled;
    },
    'container.checkpoint': (m: { options: unknown }) => c.turn<void>({ type: 'container.checkpoint', options: m.options }),
    'container.update': (m: { resources: unknown }) => {
      const r = LinuxResourcesSchema.safeParse(m.resources);
      if (!r.success) throw new RunaError('invalid_argument', `resources: ${describeIssues(r.error)}`);
      return c.turn<{ warnings: string[] }>({ type: 'container.update', resources: r.data });
    },
    // Reads and waits: answered as they arrive, beside the operation in its turn.
    'container.wait': { concurrent: true, handle: () => c.wait() },
    'container.waitPid': { concurrent: true, handle: (m: { pid: number }) => c.pidWaits.wait(m.pid) },
    'container.stats': { concurrent: true, handle: () => statsEvent(c.id, c.stats()) as never }, // the wire's form (decimal strings), which the schema reads
    'container.state': { concurrent: true, handle: () => c.state() },
    'container.file': { concurrent: true, handle: (m: { request: FileRequest }) => c.file(m.request) as never },
    // Facts from its processes, applied at once (an operation may be waiting for them).
    'process.started': { concurrent: true, handle: (m: { name: string }) => { if (m.name === 'init') c.fact({ type: 'process.started' }); } },
    'process.exited': { concurrent: true, handle: (m: { name: string; exitStatus: number }) => { if (m.name === 'init') c.exited(m.exitStatus); else c.pidWaits.exit(c.execPid(m.name), m.exitStatus); } },
    'process.lost': {
      concurrent: true,
      handle: (m: { name: string }) => {
        if (m.name === 'init') c.initLost();
        else c.execGone(m.name);
      },
    },
    'order.stop': async () => { await order('sandbox.stop', undefined)(); },
    'order.pause': async () => (await order('sandbox.pause', false)()) === true,
    'order.resume': async () => (await order('sandbox.resume', false)()) === true,
  };
}

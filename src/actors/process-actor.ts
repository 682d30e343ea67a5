// A container's init or exec'd process as an actor on the actors' bus. It holds the link
// to the process's nsinit monitor: the container asks it, by message, to attach, to open
// the gate and to signal, and hears from it what the monitor reports (started, exited,
// gone) as facts.
import { createActor, type Actor } from 'xstate';
import { monitorIdle, processMachine, type ProcessEvent, type ProcessRole, type ProcessSnapshot } from '../machines/process.js';
import { outcomeAfter, performKept, providedByOwner } from './invoked.js';
import { containerAddress } from './sandbox-actor.js';
import { MonitorLink } from './monitor-link.js';
import { RunaError } from '../errors.js';
import type { ActorBus, Mailbox } from './actor-bus.js';
import type { MonitorMessage } from '../bus/messages.js';
import type { Watch } from './inspection.js';

export const processAddress = (container: string, name: string) => `process:${container}/${name}`;

export interface MonitorHello { pid: number; initPid: number; state: 'created' | 'running'; startError?: string }

export interface ProcessActorOptions {
  bus: ActorBus;
  /** called with every machine it starts: the inspector watches it while someone listens */
  watch?: Watch;
}

/** The process's dealings with its monitor, by the keys its machine invokes (tests swap them). */
export interface ProcessEffects {
  attachMonitor(req: { socket: string; expectedPid: number | null }): Promise<MonitorHello>;
  openGate(): Promise<MonitorMessage>;
  signalProcess(req: { signal: number }): Promise<void>;
}

/** The process machine with its monitor effects provided once per daemon (src/actors/invoked.ts). */
const provided = providedByOwner(processMachine, ['attachMonitor', 'openGate', 'signalProcess']);

export class ProcessActor {
  readonly actor: Actor<typeof processMachine>;
  private link: MonitorLink | null = null;
  private readonly mailbox: Mailbox;
  private readonly containerAddr: string;

  private readonly effects: ProcessEffects;
  private readonly running = new Map<number, { effect: string; ticket: number; since: number }>();
  private readonly errors = new Map<number, unknown>();

  constructor(readonly container: string, readonly name: string, readonly role: ProcessRole, private readonly opts: ProcessActorOptions & { effects?: Partial<ProcessEffects> }) {
    this.effects = {
      attachMonitor: (r) => this.attach(r.socket, r.expectedPid),
      openGate: () => this.gate(),
      signalProcess: (r) => this.signal(r.signal),
      ...opts.effects,
    };
    this.actor = createActor(provided.machine, { input: { role } });
    provided.own(this.actor, this);
    this.actor.start();
    this.containerAddr = containerAddress(container);
    opts.watch?.(this.actor, this.address, this.containerAddr);
    this.mailbox = opts.bus.register(this.address, {
      'process.attach': (m) => this.ask<MonitorHello>({ type: 'monitor.attach', socket: m.socket, expectedPid: m.expectedPid }),
      'process.gate': () => this.ask<MonitorMessage>({ type: 'monitor.gate' }),
      'process.signal': async (m) => { await this.ask({ type: 'monitor.signal', signal: m.signal }); },
      // A fact about its container: applied as it arrives, even while a request to the monitor waits.
      'process.follow': { concurrent: true, handle: (m) => this.follow(m.status, m.pid, m.exitStatus) },
    });
  }

  get address(): string { return processAddress(this.container, this.name); }

  /** Its monitor requests not yet answered (`runa debug --stacks`). */
  inFlight() {
    const now = performance.now();
    return [...this.running.values()].map((r) => ({ effect: r.effect, ticket: r.ticket, state: 'running' as const, ms: Math.round(now - r.since) }));
  }

  /** A request to the monitor, in its mailbox's turn: its machine invokes the effect, and its outcome is the answer. */
  private ask<T>(event: Extract<ProcessEvent, { type: `monitor.${string}` }>): Promise<T> {
    const snap = this.actor.getSnapshot();
    if (snap.status !== 'active') return Promise.reject(new RunaError('not_running', 'container not running'));
    const answer = outcomeAfter<T>(this.actor, snap.context.seq, (s) => monitorIdle(s as ProcessSnapshot), this.errors);
    this.actor.send(event);
    return answer;
  }

  /** Run an effect the machine invoked (src/actors/invoked.ts). */
  perform(key: string, input: unknown): Promise<unknown> {
    const fn = this.effects[key as keyof ProcessEffects] as (i: unknown) => Promise<unknown>;
    return performKept(key, this.actor.getSnapshot().context.seq, () => fn(input), this.running, this.errors);
  }

  /** Connect to the monitor, check it is the one expected, and report what it says from then on. */
  private async attach(socket: string, expectedPid: number | null): Promise<MonitorHello> {
    const from = this.address;
    const to = this.containerAddr;
    let pid: number | undefined;
    let ours = true; // a monitor other than the one expected is believed in nothing
    const { link, hello } = await MonitorLink.connect(socket, (msg: MonitorMessage) => {
      // Facts from the monitor go on in the order it reports them: a program that started
      // before we came (`nsinit --start`, a restarted daemon) is running before it exits.
      if (msg.type === 'monitor.hello') {
        pid = msg.initPid;
        ours = expectedPid === null || msg.pid === expectedPid;
        if (ours && msg.state === 'running') this.mirror({ type: 'process.start', pid });
      }
      if (!ours) return;
      if (msg.type === 'process.started') {
        this.mirror({ type: 'process.start', pid });
        this.opts.bus.tell({ type: 'process.started', from, to, name: this.name });
      }
      if (msg.type === 'process.exited') {
        this.mirror({ type: 'process.exited', exitStatus: msg.exitStatus });
        this.opts.bus.tell({ type: 'process.exited', from, to, name: this.name, exitStatus: msg.exitStatus });
      }
    });
    if (expectedPid !== null && hello.pid !== expectedPid) {
      link.close();
      const what = this.role === 'init' ? `monitor at ${socket}` : 'exec monitor';
      throw new RunaError('monitor_mismatch', `${what} has pid ${hello.pid}, expected ${expectedPid}`);
    }
    this.link = link;
    void link.closed.then(() => {
      if (this.link !== link) return;
      this.link = null;
      this.opts.bus.tell({ type: 'process.lost', from, to, name: this.name });
    });
    return { pid: hello.pid, initPid: hello.initPid, state: hello.state, ...(hello.startError !== undefined ? { startError: hello.startError } : {}) };
  }

  private requireLink(): MonitorLink {
    if (!this.link) throw new RunaError('not_running', 'container not running');
    return this.link;
  }

  /** Open the gate: the monitor execs the user program. Answers what the monitor said. */
  private async gate(): Promise<MonitorMessage> {
    const link = this.requireLink();
    const reply = link.next('process.started', 'process.failed', 'process.exited');
    link.send({ type: 'monitor.start' });
    return reply;
  }

  /** Signal the process through its monitor. */
  private async signal(signal: number): Promise<void> {
    const link = this.requireLink();
    const reply = link.next('monitor.signalled', 'monitor.error', 'process.exited');
    link.send({ type: 'monitor.signal', signal });
    const r = await reply;
    if (r.type === 'monitor.error') throw new RunaError('kill_failed', `signalling container: ${r.message}`);
  }

  /** The container's state, as far as a process follows it (frozen with it, stopped with it). */
  private follow(status: string, pid: number | null, exitStatus: number | null): void {
    if (status === 'running') {
      this.mirror({ type: 'process.start', pid: pid ?? undefined });
      this.mirror({ type: 'process.resume' });
    }
    if (status === 'paused') this.mirror({ type: 'process.pause' });
    if (this.role === 'init' && (status === 'stopped' || status === 'deleted')) this.mirror({ type: 'process.exited', exitStatus: exitStatus ?? 0 });
  }

  private mirror(ev: Parameters<Actor<typeof processMachine>['send']>[0]): void {
    const snap = this.actor.getSnapshot();
    if (snap.status === 'active' && snap.can(ev)) this.actor.send(ev);
  }

  /** Let go of the monitor (the container is going): no fact follows. */
  private detach(): void {
    const link = this.link;
    this.link = null;
    link?.close();
  }

  stop(): void {
    this.detach();
    this.mailbox.close();
    this.actor.stop();
    provided.disown(this.actor);
  }
}

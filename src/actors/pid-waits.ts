// `runa wait --pid` (runsc's WaitPID): waits for one process of a container, its init or an
// exec'd one, by its host pid, and answers its exit status (128+N if signal N killed it). An
// exec'd process's status is kept once it exits until someone waits for it (runsc's
// clearStatus), the 64 newest at most, so a wait that comes after the exit still gets it.
import { RunaError } from '../errors.js';

const KEPT = 64;

/** What the container tells it: its init's host pid, its live exec'd processes' host pids, and how to wait for its init. */
export interface PidWaitsHost {
  id(): string;
  initPid(): number | null;
  execPids(): number[];
  waitInit(): Promise<number>;
}

export class PidWaits {
  /** exec'd processes that exited and were not waited for: host pid → exit status */
  private readonly exited = new Map<number, number>();
  private readonly waiters = new Map<number, Array<{ resolve(status: number): void; reject(e: Error): void }>>();

  constructor(private readonly host: PidWaitsHost) {}

  /** An exec'd process exited (status -1: the caller that reaps it has its status). */
  exit(pid: number | null, status: number): void {
    if (pid === null) return;
    const ws = this.waiters.get(pid);
    if (ws) {
      this.waiters.delete(pid);
      for (const w of ws) status < 0 ? w.reject(unknownStatus(pid)) : w.resolve(status);
      return;
    }
    this.exited.set(pid, status);
    if (this.exited.size > KEPT) this.exited.delete(this.exited.keys().next().value as number);
  }

  wait(pid: number): Promise<number> {
    if (pid === this.host.initPid()) return this.host.waitInit();
    const status = this.exited.get(pid);
    if (status !== undefined) {
      this.exited.delete(pid);
      return status < 0 ? Promise.reject(unknownStatus(pid)) : Promise.resolve(status);
    }
    if (!this.host.execPids().includes(pid)) {
      throw new RunaError('not_exist', `waiting on PID ${pid} in container ${JSON.stringify(this.host.id())}: no such process (neither its init nor a process runa exec started in it, or its status was taken already)`);
    }
    return new Promise((resolve, reject) => {
      this.waiters.set(pid, [...(this.waiters.get(pid) ?? []), { resolve, reject }]);
    });
  }

  /** The container is going: nobody's process will exit through it any more. */
  close(): void {
    for (const [pid, ws] of this.waiters) for (const w of ws) w.reject(new RunaError('not_exist', `waiting on PID ${pid}: container ${JSON.stringify(this.host.id())} was deleted`));
    this.waiters.clear();
  }
}

const unknownStatus = (pid: number) => new RunaError('unknown_status', `waiting on PID ${pid}: its exit status went to the process that reaped it (exec -d --pid-file makes the caller its parent)`);

// Following a container's init when its monitor link ends: the monitor's exit record is its
// word; a monitor gone without one was killed; a supervised init outlives its monitor and is
// followed by pid and start time.
import { processAlive, readExit } from '../state.js';
import type { ContainerRecord } from './container-record.js';
import type { MonitorFacts } from './container-effects.js';

/** Exit status recorded when a monitor vanished without writing one: its death SIGKILLs the init (pdeathsig). */
export const LOST_MONITOR_STATUS = 137;

export class InitWatch {
  /** A supervised init with no monitor, followed by pid and start time. */
  private unmonitored = false;

  constructor(
    private readonly record: ContainerRecord,
    private readonly m: MonitorFacts,
    private readonly on: { exited(status: number): void; gone(): boolean },
  ) {}

  /** The init's monitor link closed. The monitor writes the exit record before it goes; without one it was killed. */
  lost(): void {
    if (!this.m.linked) return;
    this.m.linked = false;
    const exit = readExit(this.record.stateDir);
    if (exit) this.on.exited(exit.exitStatus);
    else if (processAlive(this.m.monitorPid, this.m.monitorStartTime)) this.awaitMonitorEnd(0);
    else this.monitorLost();
  }

  /**
   * The link was dropped while its monitor lives on (one that broke its protocol, or a monitor
   * still on its way out): its word comes when it ends, from the exit record it writes then,
   * rather than a guess now. Checked every 25 ms for a second, then every 250 ms.
   */
  private awaitMonitorEnd(tick: number): void {
    setTimeout(() => {
      if (this.on.gone() || this.m.linked) return;
      if (processAlive(this.m.monitorPid, this.m.monitorStartTime)) { this.awaitMonitorEnd(tick + 1); return; }
      const exit = readExit(this.record.stateDir);
      if (exit) this.on.exited(exit.exitStatus);
      else this.monitorLost();
    }, tick < 40 ? 25 : 250).unref();
  }

  /**
   * The monitor is gone without an exit record (killed). Its own child died with it (pdeathsig):
   * status 137. A supervised init is the caller's and lives on: it is followed by pid and start
   * time until it is gone, and signalled directly.
   */
  monitorLost(): void {
    if (!this.record.supervised || !processAlive(this.m.initPid, this.m.initStartTime)) {
      this.on.exited(this.record.supervised ? -1 : LOST_MONITOR_STATUS);
      return;
    }
    this.unmonitored = true;
    const timer = setInterval(() => {
      if (this.on.gone() || !this.follow()) clearInterval(timer);
    }, 250);
    timer.unref();
  }

  /** A supervised init with no monitor: is it still there? Its end is applied at once (before any operation too). */
  follow(): boolean {
    if (!this.unmonitored || this.m.linked) return false;
    if (processAlive(this.m.initPid, this.m.initStartTime)) return true;
    this.unmonitored = false;
    this.on.exited(-1);
    return false;
  }
}

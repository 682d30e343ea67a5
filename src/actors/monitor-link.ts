// A connection to one nsinit monitor: JSON lines in both directions, every line from the
// monitor validated by the MonitorMessage schema before anyone sees it.
import net from 'node:net';
import { connectablePath } from '../unix-path.js';
import { Subject, firstValueFrom, filter, type Observable } from 'rxjs';
import { MonitorMessage } from '../bus/messages.js';
import { RunaError } from '../errors.js';

const MAX_LINE = 64 * 1024;

export class MonitorLink {
  private readonly messages$ = new Subject<MonitorMessage>();
  private buffer = '';
  readonly closed: Promise<void>;

  private constructor(private readonly socket: net.Socket, onMessage?: (m: MonitorMessage) => void) {
    // The follower subscribes before any byte is read: a fact that arrives in the same
    // chunk as the hello (the process exiting just then) is never missed.
    if (onMessage) this.messages$.subscribe(onMessage);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    this.closed = new Promise((resolve) => socket.on('close', () => { this.messages$.complete(); resolve(); }));
    socket.on('error', () => { /* surfaced as close */ });
  }

  /** Connect and read the monitor's hello. Rejects if no monitor listens there. */
  static async connect(path: string, onMessage?: (m: MonitorMessage) => void): Promise<{ link: MonitorLink; hello: Extract<MonitorMessage, { type: 'monitor.hello' }> }> {
    const target = connectablePath(path);
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(target.path);
      s.once('connect', () => { target.release(); s.removeAllListeners('error'); resolve(s); });
      s.once('error', (e) => { target.release(); reject(e); });
    });
    const link = new MonitorLink(socket, onMessage);
    const hello = await link.next('monitor.hello');
    return { link, hello };
  }

  get messages(): Observable<MonitorMessage> {
    return this.messages$;
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    if (this.buffer.length > MAX_LINE && !this.buffer.includes('\n')) { this.socket.destroy(); return; }
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      let raw: unknown;
      try { raw = JSON.parse(line); } catch { continue; }
      const r = MonitorMessage.safeParse(raw);
      if (r.success) this.messages$.next(r.data);
    }
  }

  /** The next message of one of the given types (or process.exited, which ends every wait). */
  async next<T extends MonitorMessage['type']>(...types: T[]): Promise<Extract<MonitorMessage, { type: T }>> {
    try {
      return (await firstValueFrom(this.messages$.pipe(filter((m) => (types as string[]).includes(m.type))))) as Extract<MonitorMessage, { type: T }>;
    } catch {
      throw new RunaError('monitor_gone', 'the container monitor went away');
    }
  }

  send(msg: { type: 'monitor.start' } | { type: 'monitor.signal'; signal: number }): void {
    this.socket.write(JSON.stringify(msg) + '\n');
  }

  close(): void {
    this.socket.destroy();
  }
}

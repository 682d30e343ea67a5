// A connection to one nsinit monitor: JSON lines in both directions, every line from the
// monitor validated by the MonitorMessage schema before anyone sees it, and in the order
// native/PROTOCOL.md gives: its hello first and once, nothing after its process.exited.
// A monitor that breaks the protocol (a line that is not JSON, fails its schema, is over
// MAX_LINE, or comes out of order) is not believed any further: the link drops it, with the
// reason in `error`, and every wait ends with that error. Nothing it sent after is reported.
import net from 'node:net';
import { connectablePath } from '../unix-path.js';
import { Subject, firstValueFrom, filter, type Observable } from 'rxjs';
import { MonitorMessage, describeIssues } from '../bus/messages.js';
import { RunaError } from '../errors.js';

export const MAX_LINE = 64 * 1024;

export class MonitorLink {
  private readonly messages$ = new Subject<MonitorMessage>();
  private buffer = '';
  private hello = false;
  private exited = false;
  /** Why the link dropped its monitor (it broke the protocol); null while it has not. */
  error: RunaError | null = null;
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
    if (this.error) return;
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.length > MAX_LINE) return this.broken(`a line of ${line.length} bytes (over ${MAX_LINE})`);
      let raw: unknown;
      try { raw = JSON.parse(line); } catch { return this.broken(`a line that is not JSON: ${JSON.stringify(line.slice(0, 80))}`); }
      const r = MonitorMessage.safeParse(raw);
      if (!r.success) return this.broken(`an invalid message: ${describeIssues(r.error)}`);
      const m = r.data;
      if (this.exited) return this.broken(`${m.type} after process.exited`);
      if (m.type === 'monitor.hello') {
        if (this.hello) return this.broken('a second monitor.hello');
        this.hello = true;
      } else if (!this.hello) {
        return this.broken(`${m.type} before monitor.hello`);
      }
      if (m.type === 'process.exited') this.exited = true;
      this.messages$.next(m);
      if (this.error) return; // a subscriber closed the link
    }
    if (this.buffer.length > MAX_LINE) this.broken(`a line over ${MAX_LINE} bytes`);
  }

  /** The monitor broke the protocol: believe nothing more from it. */
  private broken(why: string): void {
    this.error = new RunaError('monitor_protocol', `the container monitor broke its protocol (${why})`);
    this.buffer = '';
    this.socket.destroy();
  }

  /** The next message of one of the given types (or process.exited, which ends every wait). */
  async next<T extends MonitorMessage['type']>(...types: T[]): Promise<Extract<MonitorMessage, { type: T }>> {
    try {
      return (await firstValueFrom(this.messages$.pipe(filter((m) => (types as string[]).includes(m.type))))) as Extract<MonitorMessage, { type: T }>;
    } catch {
      throw this.error ?? new RunaError('monitor_gone', 'the container monitor went away');
    }
  }

  send(msg: { type: 'monitor.start' } | { type: 'monitor.signal'; signal: number }): void {
    this.socket.write(JSON.stringify(msg) + '\n');
  }

  close(): void {
    this.socket.destroy();
  }
}

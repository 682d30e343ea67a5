// A container's recent history, for `runa debug --events` and the inspector's time travel:
// a bounded ring of what happened to its actors, cheap enough to keep always. A transition
// keeps the machine's whole state value and its context by reference (XState replaces a
// context on every change and never mutates one), so the ring costs no copies.

export interface HistoryEntry {
  /** ms since the epoch */
  at: number;
  /** µs since the epoch, from the daemon's monotonic clock: ordered as the entries are (runa debug --trace) */
  us?: number;
  /** the actor it concerns: `container:ID`, `process:ID/init`, `gofer:ID`, `sandbox:ID` */
  actor: string;
  /** a transition of the actor's machine, or a message on the actors' bus */
  kind: 'transition' | 'message';
  /** the event or message type */
  type: string;
  /** transition: the state before and after; message: sender and receiver */
  from?: string;
  to?: string;
  /** transition: the machine's state value and context after it (for time travel) */
  value?: unknown;
  context?: unknown;
}

/** An entry without its state and context: what `runa debug --events` prints. */
export function brief({ value: _v, context: _c, ...rest }: HistoryEntry): HistoryEntry {
  return rest;
}

export const HISTORY_SIZE = 256;

export class History {
  private readonly ring: HistoryEntry[] = [];
  private next = 0;

  /** told of every entry as it is kept (create --user-log) */
  listener: ((e: HistoryEntry) => void) | null = null;
  /** also told of every entry, while they watch (runa debug --trace --duration) */
  private readonly watchers = new Set<(e: HistoryEntry) => void>();

  constructor(private readonly size = HISTORY_SIZE) {}

  push(entry: Omit<HistoryEntry, 'at'>): void {
    const e = { at: Date.now(), us: Math.round((performance.timeOrigin + performance.now()) * 1000), ...entry };
    if (this.ring.length < this.size) this.ring.push(e);
    else this.ring[this.next] = e;
    this.next = (this.next + 1) % this.size;
    this.listener?.(e);
    for (const w of this.watchers) w(e);
  }

  /** Be told of every entry from now on, until the returned function is called. */
  watch(fn: (e: HistoryEntry) => void): () => void {
    this.watchers.add(fn);
    return () => { this.watchers.delete(fn); };
  }

  /** The last `n` entries, oldest first. */
  last(n = this.size): HistoryEntry[] {
    const ordered = this.ring.length < this.size ? this.ring : [...this.ring.slice(this.next), ...this.ring.slice(0, this.next)];
    return ordered.slice(Math.max(0, ordered.length - n));
  }
}

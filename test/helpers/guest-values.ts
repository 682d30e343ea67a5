// What a qemu guest's script says (test/helpers/v2-guest.ts runs it): KEY=value lines on its
// stdout, which the guest suites (test/cgroup-v2-guest.test.ts, test/checkpoint-guest.test.ts)
// assert one by one.
import assert from 'node:assert/strict';

/** What of the guest's run a failure shows. */
export interface GuestOutput { stdout: string; stderr: string; console: string }

/**
 * The KEY=value lines of `stdout` (a key: capitals, digits and `_`, a capital first; the value:
 * the rest of the line, `=` and all); a key said again keeps its last value. Other lines are not
 * values (a program's own output, a shell's error).
 */
export function parseGuestValues(stdout: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of stdout.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/s.exec(line);
    if (m) values.set(m[1], m[2]);
  }
  return values;
}

/** The values a guest's run printed, for a suite's tests: read in its `before`, asserted in its tests. */
export class GuestValues {
  values = new Map<string, string>();
  private guest: GuestOutput | null = null;
  private error: Error | null = null;

  /** The guest ran: its values are read from its stdout. */
  ran(guest: GuestOutput): void {
    this.guest = guest;
    this.values = parseGuestValues(guest.stdout);
  }

  /** The guest did not run, or not to its end: every `get` throws this. */
  failed(error: Error): void {
    this.error = error;
  }

  /** A value the guest printed; fails with the guest's output when it printed none. */
  get(key: string): string {
    if (this.error) throw this.error;
    const v = this.values.get(key);
    if (v === undefined) {
      const g = this.guest;
      assert.fail(`the guest printed no ${key}\n--- stdout\n${g?.stdout}\n--- stderr\n${g?.stderr.slice(-3000)}\n--- console\n${g?.console.slice(-4000)}`);
    }
    return v;
  }
}

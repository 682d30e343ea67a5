// Signal names and numbers as `kill` accepts them: a number, or a name with or without SIG.
import { constants } from 'node:os';
import { RunaError } from '../errors.js';

export function parseSignal(s: string): number {
  const table = constants.signals as Record<string, number>;
  if (/^\d+$/.test(s)) {
    // 0 asks whether the process is there; 1-64 include the real-time signals (runc takes them all).
    const n = Number(s);
    if (n <= 64) return n;
    throw new RunaError('usage', `unknown signal "${s}"`);
  }
  const upper = s.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const n = table[name];
  if (n === undefined) throw new RunaError('usage', `unknown signal "${s}"`);
  return n;
}

// Signal names and numbers as `kill` accepts them: a number, or a name with or without SIG.
import { constants } from 'node:os';
import { RunaError } from '../errors.js';

export function parseSignal(s: string): number {
  const table = constants.signals as Record<string, number>;
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (Object.values(table).includes(n)) return n;
    throw new RunaError('usage', `unknown signal "${s}"`);
  }
  const upper = s.toUpperCase();
  const name = upper.startsWith('SIG') ? upper : `SIG${upper}`;
  const n = table[name];
  if (n === undefined) throw new RunaError('usage', `unknown signal "${s}"`);
  return n;
}

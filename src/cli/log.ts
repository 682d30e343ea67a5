// The --log file: append-only, shared across invocations (containerd reads the last error).
import fs from 'node:fs';
import { pino } from 'pino';

export function reportToLog(file: string, format: 'text' | 'json', msg: string): void {
  if (format === 'json') {
    const dest = pino.destination({ dest: file, sync: true, append: true, mkdir: true });
    const log = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } }, dest);
    log.error(msg);
    dest.flushSync();
    return;
  }
  fs.appendFileSync(file, `time="${new Date().toISOString()}" level=error msg=${JSON.stringify(msg)}\n`, { mode: 0o644 });
}

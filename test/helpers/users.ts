// Regular users for the rootless suites: their subordinate ranges, and commands run with
// their output through files.
import fs from 'node:fs';
import { spawn, type SpawnOptions } from 'node:child_process';

/** The size of each test user's subordinate uid and gid range. */
export const RANGE = 65536;

export interface User { name: string; uid: number; gid: number; home: string; xdg: string; subStart: number }

/** A free subordinate range: above every range in /etc/subuid and /etc/subgid. */
export function freeRange(): number {
  let top = 200000;
  for (const f of ['/etc/subuid', '/etc/subgid']) {
    for (const line of (fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '').split('\n')) {
      const [, start, count] = line.split(':').map(Number);
      if (Number.isFinite(start) && Number.isFinite(count)) top = Math.max(top, start + count);
    }
  }
  return top + RANGE;
}

export interface FileResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/**
 * Run a command with its stdout and stderr going to these two files (read, then removed),
 * not pipes: a container it creates inherits them and would hold a pipe open for its
 * lifetime. SIGKILLed after timeoutMs.
 */
export async function runToFiles(cmd: string, args: string[], files: { out: string; err: string },
  opts: Omit<SpawnOptions, 'stdio'> & { input?: string; timeoutMs?: number } = {}): Promise<FileResult> {
  const { input, timeoutMs, ...spawnOpts } = opts;
  const out = fs.openSync(files.out, 'w+');
  const err = fs.openSync(files.err, 'w+');
  const child = spawn(cmd, args, { ...spawnOpts, stdio: [input === undefined ? 'ignore' : 'pipe', out, err] });
  fs.closeSync(out);
  fs.closeSync(err);
  if (input !== undefined) child.stdin!.end(input);
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs ?? 30_000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearTimeout(timer);
  const result = { code, signal, stdout: fs.readFileSync(files.out, 'utf8'), stderr: fs.readFileSync(files.err, 'utf8') };
  fs.rmSync(files.out);
  fs.rmSync(files.err);
  return result;
}

// A real --console-socket receiver (runc's protocol: one message, the pty name as data and
// the master as SCM_RIGHTS). Node cannot receive file descriptors, so python3 does.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { until } from './runa.js';

const RECEIVER = `
import socket, sys, os, json, select
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(sys.argv[1]); srv.listen(1)
print("ready", flush=True)
conn, _ = srv.accept()
msg, fds, flags, addr = socket.recv_fds(conn, 4096, 1)
master = fds[0]
out = b""
while True:
    r, _, _ = select.select([master], [], [], 10)
    if not r: break
    try:
        chunk = os.read(master, 4096)
    except OSError:
        break
    if not chunk: break
    out += chunk
print(json.dumps({"name": msg.decode(), "isatty": os.isatty(master), "output": out.decode(errors="replace")}), flush=True)
`;

export const havePython = (): boolean => spawnSync('python3', ['-c', 'import socket; socket.recv_fds'], { stdio: 'ignore' }).status === 0;

export interface Received { name: string; isatty: boolean; output: string }

/** Listen on `dir/<name>`; `received` resolves once the container's side of the pty closes. */
export async function consoleReceiver(dir: string, name: string): Promise<{ socket: string; received: Promise<Received> }> {
  const socket = path.join(dir, name);
  const script = path.join(dir, `${name}.py`);
  fs.writeFileSync(script, RECEIVER);
  const child = spawn('python3', [script, socket], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  child.stdout.on('data', (d) => (out += d));
  await until(() => out.includes('ready'), 'console receiver ready');
  const received = exited.then(() => JSON.parse(out.split('\n').find((l) => l.startsWith('{'))!) as Received);
  return { socket, received };
}

// The daemon's side of an nsinit monitor socket: every line is validated by the
// MonitorMessage schema; anything else never reaches a machine.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { MonitorLink } from '../src/actors/monitor-link.js';
import { until } from './helpers/runa.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-monitor-link-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A fake monitor that writes `lines` to whoever connects, then waits for `close()`. */
function fakeMonitor(name: string, lines: string[]) {
  const sock = path.join(dir, name);
  const received: string[] = [];
  const server = net.createServer((c) => {
    c.setEncoding('utf8');
    c.on('data', (d: string) => received.push(...d.split('\n').filter(Boolean)));
    for (const l of lines) c.write(l);
  });
  return new Promise<{ sock: string; received: string[]; close(): Promise<void> }>((resolve) =>
    server.listen(sock, () => resolve({ sock, received, close: () => new Promise((r) => server.close(() => r())) })));
}

test('invalid, unknown and out-of-range lines are dropped; valid ones arrive in order', async () => {
  const m = await fakeMonitor('a.sock', [
    'not json\n',
    '{"type":"monitor.hello","pid":-1,"initPid":2,"state":"created"}\n', // pid out of range
    '{"type":"monitor.hello","pid":10,"initPid":11,"state":"created"}\n',
    '{"type":"process.exited","exitStatus":300,"signal":0}\n', // status out of range
    '{"type":"surprise"}\n',
    '{"type":"process.exi', 'ted","exitStatus":7,"signal":0}\n', // split across writes
  ]);
  const seen: unknown[] = [];
  const { link, hello } = await MonitorLink.connect(m.sock, (msg) => seen.push(msg));
  assert.deepEqual(hello, { type: 'monitor.hello', pid: 10, initPid: 11, state: 'created' });
  await until(() => seen.length >= 2, 'two messages');
  // Only the two valid messages, in order — the exit even though it came with the hello.
  assert.deepEqual(seen, [
    { type: 'monitor.hello', pid: 10, initPid: 11, state: 'created' },
    { type: 'process.exited', exitStatus: 7, signal: 0 },
  ]);
  link.send({ type: 'monitor.signal', signal: 15 });
  await until(() => m.received.length > 0, 'the request reaches the monitor');
  assert.deepEqual(m.received, ['{"type":"monitor.signal","signal":15}']);
  link.close();
  await m.close();
});

test('an oversized line without a newline closes the link; a vanished monitor ends every wait', async () => {
  const m = await fakeMonitor('b.sock', ['{"type":"monitor.hello","pid":10,"initPid":11,"state":"running"}\n', 'x'.repeat(70 * 1024)]);
  const { link } = await MonitorLink.connect(m.sock);
  await link.closed;
  await assert.rejects(link.next('process.exited'), /the container monitor went away/);
  await m.close();
});

test('connecting where no monitor listens fails', async () => {
  await assert.rejects(MonitorLink.connect(path.join(dir, 'nobody.sock')), (e: any) => e.code === 'ENOENT');
});

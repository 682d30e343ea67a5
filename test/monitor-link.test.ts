// The daemon's side of an nsinit monitor socket: every line is validated by the
// MonitorMessage schema and its order checked; a monitor that breaks the protocol is dropped.
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

test('valid lines arrive in order, a fact in the hello\'s chunk included; requests reach the monitor', async () => {
  const m = await fakeMonitor('a.sock', [
    '{"type":"monitor.hello","pid":10,"initPid":11,"state":"created"}\n{"type":"monitor.error","message":"x"}\n',
    '{"type":"process.exi', 'ted","exitStatus":7,"signal":0}\n', // split across writes
  ]);
  const seen: unknown[] = [];
  const { link, hello } = await MonitorLink.connect(m.sock, (msg) => seen.push(msg));
  assert.deepEqual(hello, { type: 'monitor.hello', pid: 10, initPid: 11, state: 'created' });
  await until(() => seen.length >= 3, 'three messages');
  assert.deepEqual(seen, [
    { type: 'monitor.hello', pid: 10, initPid: 11, state: 'created' },
    { type: 'monitor.error', message: 'x' },
    { type: 'process.exited', exitStatus: 7, signal: 0 },
  ]);
  assert.equal(link.error, null);
  link.send({ type: 'monitor.signal', signal: 15 });
  await until(() => m.received.length > 0, 'the request reaches the monitor');
  assert.deepEqual(m.received, ['{"type":"monitor.signal","signal":15}']);
  link.close();
  await m.close();
});

test('a monitor that breaks the protocol is dropped with the reason; nothing it says after is believed', async () => {
  const hello = '{"type":"monitor.hello","pid":10,"initPid":11,"state":"running"}\n';
  const cases: Array<[string, string[], RegExp]> = [
    ['not JSON', [hello, 'not json\n', '{"type":"process.exited","exitStatus":0,"signal":0}\n'], /a line that is not JSON: "not json"/],
    ['out of range', [hello, '{"type":"process.exited","exitStatus":300,"signal":0}\n'], /an invalid message: exitStatus: /],
    ['unknown kind', [hello, '{"type":"surprise"}\n'], /an invalid message: type: /],
    ['a second exit', [hello, '{"type":"process.exited","exitStatus":7,"signal":0}\n{"type":"process.exited","exitStatus":0,"signal":0}\n'], /process\.exited after process\.exited/],
    ['a second hello', [hello, hello], /a second monitor\.hello/],
    ['a long line', [hello, `{"type":"monitor.error","message":"${'x'.repeat(70 * 1024)}"}\n`], /a line of \d+ bytes \(over 65536\)/],
  ];
  for (const [what, lines, why] of cases) {
    const m = await fakeMonitor(`b-${what.replace(/ /g, '-')}.sock`, lines);
    const seen: any[] = [];
    const { link } = await MonitorLink.connect(m.sock, (msg) => seen.push(msg));
    await link.closed;
    assert.equal(link.error?.code, 'monitor_protocol', what);
    assert.match(link.error!.message, /^the container monitor broke its protocol \(/, what);
    assert.match(link.error!.message, why, what);
    // Only what came before the break: the first exit, never a second one or one with a bad status.
    assert.deepEqual(seen.filter((x) => x.type === 'process.exited').map((x) => x.exitStatus), what === 'a second exit' ? [7] : [], what);
    await assert.rejects(link.next('process.exited'), (e: any) => e.code === 'monitor_protocol', what);
    await m.close();
  }
  // A first line that is not a hello: connecting fails with the reason (it used to wait forever).
  const m = await fakeMonitor('c.sock', ['{"type":"process.exited","exitStatus":0,"signal":0}\n']);
  await assert.rejects(MonitorLink.connect(m.sock), /process\.exited before monitor\.hello/);
  const g = await fakeMonitor('d.sock', ['garbage\n']);
  await assert.rejects(MonitorLink.connect(g.sock), /broke its protocol \(a line that is not JSON/);
  await m.close();
  await g.close();
});

test('an oversized line without a newline drops the monitor; a vanished one ends every wait', async () => {
  const m = await fakeMonitor('b.sock', ['{"type":"monitor.hello","pid":10,"initPid":11,"state":"running"}\n', 'x'.repeat(70 * 1024)]);
  const { link } = await MonitorLink.connect(m.sock);
  await link.closed;
  await assert.rejects(link.next('process.exited'), /broke its protocol \(a line over 65536 bytes\)/);
  await m.close();
  const gone = await fakeMonitor('b2.sock', ['{"type":"monitor.hello","pid":10,"initPid":11,"state":"running"}\n']);
  const second = await MonitorLink.connect(gone.sock);
  second.link.close();
  await second.link.closed;
  await assert.rejects(second.link.next('process.exited'), /the container monitor went away/);
  await gone.close();
});

test('connecting where no monitor listens fails', async () => {
  await assert.rejects(MonitorLink.connect(path.join(dir, 'nobody.sock')), (e: any) => e.code === 'ENOENT');
});

// Sandboxes (pods) made with the CRI annotations, as containerd and podman make them: a root
// container and members that join it, checked from inside the containers and from the host.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BusClient } from '../src/bus/client.js';
import { Sandbox, alive, until, type Result } from './helpers/runa.js';

const sb = new Sandbox('pods');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const show = (r: Result) => `exit ${r.code}: ${r.stdout}${r.stderr}`;
const ok = async (args: string[]): Promise<string> => {
  const r = await sb.run(args);
  assert.equal(r.code, 0, `${args.join(' ')}: ${show(r)}`);
  return r.stdout;
};
const BUSYBOX = { destination: '/bin/busybox', type: 'bind', source: '/usr/bin/busybox', options: ['bind', 'ro'] };
const hasBusybox = fs.existsSync('/usr/bin/busybox');

/** containerd's annotations for a member of sandbox `sandbox` (podman's are CRI-O's, tried below). */
const member = (sandbox: string) => ({ 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': sandbox });

async function bundle(args: string[], annotations?: Record<string, string>, edit?: (s: any) => void): Promise<string> {
  return sb.bundle(args, (s) => {
    if (hasBusybox) s.mounts.push(BUSYBOX);
    if (annotations) s.annotations = annotations;
    edit?.(s);
  });
}

const state = async (id: string) => JSON.parse(await ok(['state', id]));
const status = async (id: string) => {
  const r = await sb.run(['state', id]);
  return r.code === 0 ? JSON.parse(r.stdout).status : 'gone';
};
const ns = (pid: number, type: string) => fs.readlinkSync(`/proc/${pid}/ns/${type}`);
/** The container's memory cgroup, as the host sees it. */
const memoryCgroup = (pid: number) => fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:memory:/.test(l))!.split(':')[2];
const stateDirs = () => fs.existsSync(sb.root) ? fs.readdirSync(sb.root).filter((n) => fs.existsSync(`${sb.root}/${n}/state.json`)) : [];

/** A pod: the root `id` (sleeping) and members joining it, all running. */
async function pod(id: string, members: Array<{ id: string; args?: string[]; edit?: (s: any) => void }>): Promise<void> {
  await ok(['run', '-d', '-b', await bundle(['sleep', '1000'], undefined, (s) => { s.hostname = `${id}-host`; }), id]);
  for (const m of members) await ok(['run', '-d', '-b', await bundle(m.args ?? ['sleep', '1000'], member(id), m.edit), m.id]);
}

async function removePod(...ids: string[]): Promise<void> {
  for (const id of ids) await ok(['delete', '--force', id]);
}

test('a pod of three shares net, IPC and UTS; members reach each other over loopback; the pid namespace is shared only when asked', { skip: !hasBusybox && 'busybox-static not installed: apt-get install busybox-static' }, async () => {
  await pod('p1', [
    { id: 'p1-web', args: ['sh', '-c', 'echo pong | busybox nc -l -p 7777; sleep 1000'] },
    // No pid namespace of its own in the spec: it joins the sandbox's.
    { id: 'p1-side', edit: (s) => { s.linux.namespaces = s.linux.namespaces.filter((n: any) => n.type !== 'pid'); } },
  ]);
  const pids = Object.fromEntries(await Promise.all(['p1', 'p1-web', 'p1-side'].map(async (id) => [id, (await state(id)).pid])));
  // From inside: the same namespaces, and the root's hostname.
  const inside = async (id: string) => (await ok(['exec', id, 'sh', '-c', 'readlink /proc/self/ns/net /proc/self/ns/ipc /proc/self/ns/uts /proc/self/ns/pid; hostname'])).trim().split('\n');
  const [root, web, side] = await Promise.all(['p1', 'p1-web', 'p1-side'].map(inside));
  assert.deepEqual(web.slice(0, 3), root.slice(0, 3), 'net, ipc and uts shared');
  assert.deepEqual(side.slice(0, 3), root.slice(0, 3));
  assert.notEqual(web[3], root[3], 'a member asking for its own pid namespace gets one');
  assert.equal(side[3], root[3], 'a member without one shares the sandbox\'s');
  assert.equal(web[4], 'p1-host');
  assert.equal(side[4], 'p1-host');
  assert.equal(ns(pids['p1-web'], 'net'), ns(pids.p1, 'net'), 'the host sees the same');
  // One member reaches another over loopback.
  await until(async () => (await sb.run(['exec', 'p1-side', 'busybox', 'nc', '-w', '2', '127.0.0.1', '7777'])).stdout === 'pong\n', 'p1-side to reach p1-web on 127.0.0.1:7777');

  // The members' cgroups nest in the sandbox's (no cgroupsPath in their specs).
  assert.equal(memoryCgroup(pids['p1-web']), `${memoryCgroup(pids.p1)}/p1-web`);

  // state and list name the sandbox; ps --sandbox covers the pod.
  assert.deepEqual((await state('p1-web')).annotations, member('p1'), 'the spec\'s annotations, and only those (runtime-spec)');
  assert.deepEqual((await state('p1')).annotations, {});
  const table = await ok(['list']);
  for (const id of ['p1', 'p1-web', 'p1-side']) assert.match(table, new RegExp(`\\n${id}\\s.*\\sp1\\n`));
  const ps = JSON.parse(await ok(['ps', '--sandbox', '--format', 'json', 'p1']));
  assert.deepEqual(Object.keys(ps), ['p1', 'p1-side', 'p1-web']);
  assert.ok(ps['p1-web'].includes(pids['p1-web']));
  const table2 = await ok(['ps', '--sandbox', 'p1']);
  for (const id of ['p1', 'p1-web', 'p1-side']) assert.match(table2, new RegExp(`\\n\\S+\\s+${pids[id]}\\s`), `${id}'s init in ps --sandbox`);
  const single = JSON.parse(await ok(['ps', '--format', 'json', 'p1-web']));
  assert.equal(single.includes(pids.p1), false, 'ps of a member alone shows the member');
  // A member sharing the sandbox's pid namespace is still only its own processes (its cgroup's).
  const sidePs = JSON.parse(await ok(['ps', '--format', 'json', 'p1-side']));
  assert.ok(sidePs.includes(pids['p1-side']));
  assert.equal(sidePs.includes(pids.p1), false, 'ps of a member in the pod\'s pid namespace leaves the root out');
  await ok(['kill', '--all', 'p1-side', 'KILL']);
  await until(async () => (await status('p1-side')) === 'stopped', 'p1-side stopped');
  assert.equal(await status('p1'), 'running', 'kill --all of a member spares the rest of the pod');
  assert.equal(await status('p1-web'), 'running');
  await removePod('p1-web', 'p1-side', 'p1');
});

test('killing the root stops every member, with their statuses recorded; the sandbox goes with its last container', async () => {
  await pod('p2', [{ id: 'p2-a' }, { id: 'p2-b' }]);
  const inits = await Promise.all(['p2', 'p2-a', 'p2-b'].map(async (id) => (await state(id)).pid as number));
  const podCgroup = memoryCgroup(inits[0]);
  await ok(['kill', 'p2', 'KILL']);
  for (const id of ['p2', 'p2-a', 'p2-b']) await until(async () => (await status(id)) === 'stopped', `${id} stopped`);
  for (const pid of inits) assert.equal(alive(pid), false);
  for (const id of ['p2-a', 'p2-b']) assert.deepEqual(JSON.parse(await ok(['wait', id])), { id, exitStatus: 137 });

  // A stopped sandbox takes no member.
  const late = await sb.run(['create', '-b', await bundle(['true'], member('p2')), 'p2-late']);
  assert.equal(late.code, 1);
  assert.match(late.stderr, /cannot join sandbox "p2" in state stopped/);
  assert.equal(await status('p2-late'), 'gone');

  // The root goes first; the sandbox stays with its members, and its id is not free until they go.
  await ok(['delete', 'p2']);
  const reuse = await sb.run(['create', '-b', await bundle(['true']), 'p2']);
  assert.equal(reuse.code, 1);
  assert.match(reuse.stderr, /sandbox "p2" still has containers \(p2-a, p2-b\)/);
  await ok(['delete', 'p2-a']);
  await ok(['delete', 'p2-b']);
  assert.equal(fs.existsSync(`/sys/fs/cgroup/memory${podCgroup}`), false, 'the pod\'s cgroups are gone');
  await ok(['create', '-b', await bundle(['true']), 'p2']);
  await ok(['delete', 'p2']);
});

test('deleting a member leaves the others running; pause and resume of the root act on the whole pod', async () => {
  await pod('p3', [{ id: 'p3-a' }, { id: 'p3-b' }]);
  await ok(['delete', '--force', 'p3-a']);
  assert.equal(await status('p3-a'), 'gone');
  assert.equal(await status('p3'), 'running');
  assert.equal(await status('p3-b'), 'running');

  await ok(['pause', 'p3']);
  assert.equal(await status('p3'), 'paused');
  assert.equal(await status('p3-b'), 'paused', 'the member is paused with its root');
  const frozen = (pid: number) => fs.readFileSync(`/sys/fs/cgroup/freezer${fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').find((l) => /:freezer:/.test(l))!.split(':')[2]}/freezer.state`, 'utf8').trim();
  const bPid = (await state('p3-b')).pid;
  assert.equal(frozen(bPid), 'FROZEN');
  // No member joins a paused sandbox.
  const late = await sb.run(['create', '-b', await bundle(['true'], member('p3')), 'p3-late']);
  assert.match(late.stderr, /cannot join sandbox "p3" in state paused/);
  await ok(['resume', 'p3']);
  assert.equal(await status('p3-b'), 'running');
  assert.equal(frozen(bPid), 'THAWED');

  // A member alone pauses and resumes alone.
  await ok(['pause', 'p3-b']);
  assert.equal(await status('p3'), 'running');
  await ok(['resume', 'p3-b']);
  await removePod('p3-b', 'p3');
});

test('bad annotations and missing sandboxes are refused in runsc\'s words, and nothing is made', async () => {
  const cases: Array<[Record<string, string>, RegExp]> = [
    [{ 'io.kubernetes.cri.container-type': 'container' }, /spec has container-type of container, but no sandbox ID set/],
    [{ 'io.kubernetes.cri.container-type': 'pod' }, /unknown container-type: pod/],
    [{ 'io.kubernetes.cri-o.ContainerType': 'container' }, /spec has container-type of container, but no sandbox ID set/],
    [member('nowhere'), /sandbox "nowhere" does not exist/],
  ];
  for (const [annotations, wording] of cases) {
    const r = await sb.run(['create', '-b', await bundle(['true'], annotations), 'bad']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stderr, wording);
    assert.equal(await status('bad'), 'gone');
    assert.deepEqual(stateDirs().filter((d) => d === 'bad'), []);
  }
  // A created (not yet running) sandbox takes no member.
  await ok(['create', '-b', await bundle(['sleep', '1000']), 'p4']);
  const r = await sb.run(['create', '-b', await bundle(['true'], member('p4')), 'p4-a']);
  assert.match(r.stderr, /cannot join sandbox "p4" in state created/);
  await ok(['delete', 'p4']);
  // podman's (CRI-O's) annotations name a sandbox too; "sandbox" makes a new one.
  await ok(['run', '-d', '-b', await bundle(['sleep', '1000'], { 'io.kubernetes.cri.container-type': 'sandbox', 'io.kubernetes.cri.sandbox-id': 'p5' }), 'p5']);
  await ok(['run', '-d', '-b', await bundle(['sleep', '1000'], { 'io.kubernetes.cri-o.ContainerType': 'container', 'io.kubernetes.cri-o.SandboxID': 'p5' }), 'p5-a']);
  assert.match((await ok(['list'])).split('\n').find((l) => l.startsWith('p5-a ')) ?? '', /\sp5$/, 'p5-a is in p5\'s sandbox');
  await removePod('p5', 'p5-a');
});

test('events --sandbox reports every container of the pod, and ends with the pod', async () => {
  await pod('p6', [{ id: 'p6-a' }]);
  const child = sb.spawn(['events', '--sandbox', '--interval', '100ms', 'p6']);
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  const seen = () => new Set(out.split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'stats').map((e) => e.id));
  await until(() => seen().has('p6') && seen().has('p6-a'), 'stats of both containers');
  const exited = new Promise((r) => child.on('exit', r));
  await removePod('p6-a', 'p6');
  assert.equal(await Promise.race([exited.then(() => 'ended'), new Promise((r) => setTimeout(() => r('still running'), 5000))]), 'ended');
  const unknown = await sb.run(['events', '--sandbox', 'nowhere']);
  assert.match(unknown.stderr, /sandbox "nowhere" does not exist/);
});

test('kill -9 of the daemon with a pod in each state loses nothing; a root that died meanwhile takes its members down', async () => {
  await ok(['create', '-b', await bundle(['sleep', '1000']), 'q-created']);
  await pod('q-run', [{ id: 'q-run-a' }]);
  await pod('q-pause', [{ id: 'q-pause-a' }]);
  await ok(['pause', 'q-pause']);
  await pod('q-stop', [{ id: 'q-stop-a' }]);
  await ok(['kill', 'q-stop', 'KILL']);
  await until(async () => (await status('q-stop-a')) === 'stopped', 'q-stop-a stopped');
  await pod('q-orphan', [{ id: 'q-orphan-a' }]);
  const before = Object.fromEntries(await Promise.all(stateDirs().map(async (id) => [id, await status(id)])));

  const daemon = sb.daemonPid()!;
  process.kill(daemon, 'SIGKILL');
  await until(() => !alive(daemon), 'the daemon gone');
  // While no daemon runs, the root of q-orphan dies.
  process.kill((await state('q-orphan')).pid, 'SIGKILL');
  await until(async () => (await status('q-orphan')) === 'stopped', 'q-orphan stopped');

  // The next daemon re-adopts every pod: the orphaned member is stopped, the rest as they were.
  // (wait talks to the daemon, and so starts one; state and list read the disk.)
  assert.deepEqual(JSON.parse(await ok(['wait', 'q-orphan-a'])), { id: 'q-orphan-a', exitStatus: 137 }, 'q-orphan-a stopped by the new daemon');
  const after = Object.fromEntries(await Promise.all(stateDirs().map(async (id) => [id, await status(id)])));
  assert.deepEqual(after, { ...before, 'q-orphan': 'stopped', 'q-orphan-a': 'stopped' });
  // Pods still act as pods.
  await ok(['resume', 'q-pause']);
  assert.equal(await status('q-pause-a'), 'running');
  await ok(['kill', 'q-run', 'KILL']);
  await until(async () => (await status('q-run-a')) === 'stopped', 'q-run-a stopped with its root');
  const late = await sb.run(['create', '-b', await bundle(['true'], member('q-stop')), 'q-late']);
  assert.match(late.stderr, /cannot join sandbox "q-stop" in state stopped/);
  await removePod('q-created', 'q-run', 'q-run-a', 'q-pause', 'q-pause-a', 'q-stop', 'q-stop-a', 'q-orphan', 'q-orphan-a');
  assert.deepEqual(stateDirs(), []);
});

test('debug shows a pod member\'s actors with their states, its monitor, and its last events', async () => {
  await pod('p7', [{ id: 'p7-a' }]);
  await ok(['pause', 'p7']);
  await ok(['resume', 'p7']);
  await ok(['exec', 'p7-a', 'true']);
  const { pid } = await state('p7-a');
  const out = await ok(['debug', '--events', '256', 'p7-a']);
  assert.match(out, /^sandbox p7: running {2}\(members: p7-a\)\n/);
  assert.match(out, new RegExp(`└─ container p7-a: running {2}monitor \\d+ \\(linked\\), init ${pid}\\n`));
  assert.match(out, /├─ gofer: running/);
  assert.match(out, new RegExp(`└─ init: running {2}\\{pid=${pid}\\}`));
  // What the sandbox ordered, what the member did, and the exec that came and went.
  for (const line of [/sandbox:p7 → container:p7-a {2}order\.pause/, /container:p7-a {2}sandbox\.pause: running → pausing/,
    /container:p7-a {2}xstate\.done\.actor\.freeze: pausing → paused/,
    /sandbox:p7 → container:p7-a {2}order\.resume/, /daemon:router → container:p7-a {2}container\.exec/, /create:p7-a → gofer:p7-a {2}gofer\.validate/, /create:p7-a {2}xstate\.done\.actor\.register: registering → done/,
    /process:p7-a\/[0-9a-f]{16} {2}state: running → stopped/, /process:p7-a\/init → container:p7-a {2}process\.started/]) {
    assert.match(out, line);
  }
  const json = JSON.parse(await ok(['debug', '--format', 'json', '--events', '3', 'p7-a']));
  assert.equal(json.events.length, 3);
  assert.equal(json.container.value, 'running');
  const bad = await sb.run(['debug', '--events', '-1', 'p7-a']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /invalid value "-1" for flag -events/);
  assert.match((await sb.run(['debug', 'nowhere'])).stderr, /container does not exist/);
  await removePod('p7-a', 'p7');
});

test('debug --stacks shows the daemon\'s async activity for a container: the request, the effect in flight, then none', async () => {
  const b = await sb.bundle(['sleep', '100'], (spec) => { spec.hooks = { poststart: [{ path: '/bin/sleep', args: ['sleep', '3'] }] }; });
  await ok(['create', '-b', b, 'stk']);
  const starting = sb.run(['start', 'stk']);
  const out = (await until(async () => {
    const o = (await sb.run(['debug', '--stacks', 'stk'])).stdout;
    return /effect {4}container:stk start #\d+ running/.test(o) ? o : undefined;
  }, 'the poststart hook in flight'))!;
  assert.match(out, /async activity in the daemon:\n {2}request {3}container\.start \(client request \S+\), \d+ ms\n/);
  assert.match(out, /effect {4}container:stk start #\d+ running, \d+ ms/);
  assert.match(out, /mailbox {3}container:stk handling container\.start \(from daemon:router\), \d+ ms/, 'the container\'s mailbox, handling the start the router sent it');
  assert.match(out, /child {5}container:stk start \(actor x:\d+\)/);
  assert.equal((await starting).code, 0);
  const idle = await ok(['debug', '--stacks', 'stk']);
  assert.match(idle, /async activity in the daemon:\n {2}none: its actors are idle\n$/);
  const json = JSON.parse(await ok(['debug', '--stacks', '--format', 'json', 'stk']));
  assert.deepEqual(json.activity, { requests: [], mailboxes: [], messages: [], effects: [], children: [] });
  await ok(['delete', '-f', 'stk']);
});

test('after every pod is gone the daemon holds no sandbox, and no actor is left on its bus', async () => {
  assert.deepEqual(stateDirs(), []);
  await ok(['run', '-d', '-b', await bundle(['sleep', '1000']), 'last']); // (re)starts the daemon if it left
  const c = await BusClient.connect(path.join(sb.root, 'runa.sock'));
  try {
    const live = await c.request<any>({ type: 'daemon.ping' });
    assert.deepEqual([live.containers, live.sandboxes, live.mailboxes], [1, 1, 4], 'a container: its sandbox; container, gofer, init and sandbox mailboxes');
    await ok(['delete', '--force', 'last']);
    const ping = await c.request<any>({ type: 'daemon.ping' });
    assert.deepEqual([ping.containers, ping.sandboxes, ping.mailboxes], [0, 0, 0]);
  } finally {
    c.close();
  }
});

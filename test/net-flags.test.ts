// runsc's global --network=sandbox|host|none and --net-raw on create/run (and do), each seen from
// inside the container: its network namespace and interfaces, its capability sets.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, until } from './helpers/runa.js';
import { applyNetworkType, processOps } from '../src/oci/plan.js';
import { withoutNetRaw } from '../src/oci/plan/network.js';
import { defaultSpec } from '../src/oci/default-spec.js';

const sb = new Sandbox('netflags');
const holders: ChildProcess[] = [];
after(async () => {
  for (const h of holders) h.kill('SIGKILL');
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

test('the planner\'s part, pure: the spec each --network value gives, and CAP_NET_RAW\'s removal', () => {
  const spec: any = defaultSpec();
  const nets = (s: any) => s.linux.namespaces.filter((x: any) => x.type === 'network');
  assert.equal(applyNetworkType(spec, undefined), spec);
  assert.equal(applyNetworkType(spec, 'host'), spec);
  assert.equal(applyNetworkType(spec, 'sandbox'), spec, 'a config with its own namespace keeps it');
  const bare: any = { ...spec, linux: { ...spec.linux, namespaces: spec.linux.namespaces.filter((x: any) => x.type !== 'network') } };
  assert.deepEqual(nets(applyNetworkType(bare, 'sandbox')), [{ type: 'network' }]);
  assert.deepEqual(nets(applyNetworkType(bare, 'none')), [{ type: 'network' }]);
  assert.equal(applyNetworkType(bare, 'host'), bare);
  const byPath: any = { ...spec, linux: { ...spec.linux, namespaces: [{ type: 'network', path: '/run/netns/x' }] } };
  assert.deepEqual(nets(applyNetworkType(byPath, 'sandbox')), [{ type: 'network', path: '/run/netns/x' }]);
  assert.deepEqual(nets(applyNetworkType(byPath, 'none')), [{ type: 'network' }]);
  assert.deepEqual(nets(byPath), [{ type: 'network', path: '/run/netns/x' }], 'the config given is not changed');
  const caps = { bounding: ['CAP_NET_RAW', 'CAP_KILL'], effective: ['CAP_NET_RAW'], permitted: ['CAP_KILL', 'CAP_NET_RAW'], ambient: ['CAP_NET_RAW'] };
  assert.deepEqual(withoutNetRaw({ ...spec.process, capabilities: caps }).capabilities, { bounding: ['CAP_KILL'], effective: [], permitted: ['CAP_KILL'], ambient: [] });
  const noCaps = { ...spec.process, capabilities: undefined };
  assert.deepEqual(processOps(noCaps, { capdrop: 1n << 13n }).filter((o) => o.op.startsWith('cap')), [{ op: 'capdrop', mask: 1n << 13n }]);
  assert.deepEqual(processOps(noCaps).filter((o) => o.op.startsWith('cap')), []);
});

let n = 0;
const hostNet = fs.readlinkSync('/proc/self/ns/net');
/** What the container says: its network namespace, then its interfaces, then its capability lines. */
const SCRIPT = 'readlink /proc/self/ns/net; echo ifaces $(ls /sys/class/net); grep Cap /proc/self/status';
interface Seen { netns: string; ifaces: string[]; caps: Record<string, bigint> }
function parse(out: string): Seen {
  const lines = out.trim().split('\n');
  const caps: Record<string, bigint> = {};
  for (const l of lines.slice(2)) {
    const m = /^(Cap\w+):\s*([0-9a-f]+)$/.exec(l);
    if (m) caps[m[1]] = BigInt(`0x${m[2]}`);
  }
  return { netns: lines[0], ifaces: lines[1].split(' ').slice(1).sort(), caps };
}

/** Run SCRIPT (or `script`) in a container from runc's default spec edited by `edit`, with global flags `globals`. */
async function seen(globals: string[], edit?: (s: any) => void, script = SCRIPT): Promise<Seen> {
  const bundle = await sb.bundle(['sh', '-c', script], edit);
  const r = await sb.run([...globals, 'run', '-b', bundle, `nf${++n}`]);
  assert.equal(r.code, 0, r.stderr);
  return parse(r.stdout);
}

const withoutNetns = (s: any) => { s.linux.namespaces = s.linux.namespaces.filter((x: any) => x.type !== 'network'); };
/** A network namespace held by a process of the test's, with a veth pair in it so it is told apart. */
async function heldNetns(): Promise<string> {
  const holder = spawn('unshare', ['--net', 'sh', '-c', 'ip link add heldif0 type veth peer name heldif1 && exec sleep 1000'], { stdio: 'ignore' });
  holders.push(holder);
  await until(() => { try { return fs.readFileSync(`/proc/${holder.pid}/net/dev`, 'utf8').includes('heldif0:'); } catch { return false; } }, 'the holder\'s namespace and its interface');
  return `/proc/${holder.pid}/ns/net`;
}
const joining = (nsPath: string) => (s: any) => {
  s.linux.namespaces = s.linux.namespaces.map((x: any) => (x.type === 'network' ? { type: 'network', path: nsPath } : x));
};

test('no --network: the config\'s namespaces, as runc (none in the config: the host\'s)', async () => {
  assert.equal((await seen([], withoutNetns)).netns, hostNet);
  const own = await seen([]);
  assert.notEqual(own.netns, hostNet);
  assert.deepEqual(own.ifaces, ['lo']);
});

test('--network=host: the config\'s network namespace where it names one, the host\'s where it names none (runsc)', async () => {
  assert.equal((await seen(['--network', 'host'], withoutNetns)).netns, hostNet);
  const own = await seen(['--network=host']);
  assert.notEqual(own.netns, hostNet);
  const held = await heldNetns();
  assert.equal((await seen(['--network=host'], joining(held))).netns, fs.readlinkSync(held));
});

test('--network=none: a new network namespace with only loopback, whatever the config says', async () => {
  const noNs = await seen(['--network', 'none'], withoutNetns);
  assert.notEqual(noNs.netns, hostNet);
  assert.deepEqual(noNs.ifaces, ['lo']);
  const held = await heldNetns();
  const notJoined = await seen(['--network=none'], joining(held));
  assert.notEqual(notJoined.netns, fs.readlinkSync(held), 'the namespace the config joins by path is not joined');
  assert.notEqual(notJoined.netns, hostNet);
  assert.deepEqual(notJoined.ifaces, ['lo']);
  const r = await sb.run(['--network=none', 'run', '-b', await sb.bundle(['cat', '/sys/class/net/lo/flags'], withoutNetns), `nf${++n}`]);
  assert.equal(Number(r.stdout.trim()) & 1, 1, 'loopback is up (IFF_UP)');
});

test('--network=sandbox: a namespace of the container\'s own where the config names none; one it names is kept', async () => {
  const own = await seen(['--network=sandbox'], withoutNetns);
  assert.notEqual(own.netns, hostNet);
  assert.deepEqual(own.ifaces, ['lo']);
  const held = await heldNetns();
  const joined = await seen(['--network=sandbox'], joining(held));
  assert.equal(joined.netns, fs.readlinkSync(held));
  assert.deepEqual(joined.ifaces, ['heldif0', 'heldif1', 'lo']);
});

test('exec joins the namespace --network gave the container (the config kept for exec is the effective one)', async () => {
  const bundle = await sb.bundle(['sleep', '1000'], withoutNetns);
  const id = `nf${++n}`;
  const r = await sb.run(['--network=none', 'run', '-d', '-b', bundle, id]);
  assert.equal(r.code, 0, r.stderr);
  const state = JSON.parse((await sb.run(['state', id])).stdout);
  const initNet = fs.readlinkSync(`/proc/${state.pid}/ns/net`);
  assert.notEqual(initNet, hostNet);
  const e = await sb.run(['exec', id, 'readlink', '/proc/self/ns/net']);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(e.stdout.trim(), initNet);
  assert.equal((await sb.run(['delete', '--force', id])).code, 0);
});

test('a pod\'s member joins its sandbox\'s network, which --network made for the root', async () => {
  const root = `nfpod${++n}`;
  const r = await sb.run(['--network=none', 'run', '-d', '-b', await sb.bundle(['sleep', '1000'], withoutNetns), root]);
  assert.equal(r.code, 0, r.stderr);
  const rootNet = fs.readlinkSync(`/proc/${JSON.parse((await sb.run(['state', root])).stdout).pid}/ns/net`);
  assert.notEqual(rootNet, hostNet);
  const member = await sb.bundle(['readlink', '/proc/self/ns/net'], (s) => {
    withoutNetns(s);
    s.annotations = { 'io.kubernetes.cri.container-type': 'container', 'io.kubernetes.cri.sandbox-id': root };
  });
  const m = await sb.run(['--network=none', 'run', '-b', member, `${root}-m`]);
  assert.equal(m.code, 0, m.stderr);
  assert.equal(m.stdout.trim(), rootNet);
  assert.equal((await sb.run(['delete', '--force', root])).code, 0);
});

test('bad --network values and --network=none with netDevices are refused, and nothing is made', async () => {
  for (const [globals, edit, words] of [
    [['--network', 'bridge'], undefined, /invalid network type "bridge"/],
    [['--network='], undefined, /invalid network type ""/],
    [['--network=none'], (s: any) => { s.linux.netDevices = { lo: {} }; }, /--network=none gives the container only loopback/],
  ] as Array<[string[], ((s: any) => void) | undefined, RegExp]>) {
    const id = `nfbad${++n}`;
    const r = await sb.run([...globals, 'create', '-b', await sb.bundle(['true'], edit), id]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, words);
    assert.equal(fs.existsSync(path.join(sb.root, id)), false, 'nothing left behind');
  }
  assert.equal((await sb.run(['list', '-q'])).stdout, '');
});

const NET_RAW = 1n << 13n;
const withNetRaw = (s: any) => {
  for (const set of ['bounding', 'effective', 'permitted']) s.process.capabilities[set].push('CAP_NET_RAW');
};

test('--net-raw: CAP_NET_RAW stays by default and with --net-raw (runc); --net-raw=false drops it from every set', async () => {
  const dflt = await seen([], withNetRaw);
  for (const set of ['CapEff', 'CapPrm', 'CapBnd']) assert.equal(dflt.caps[set] & NET_RAW, NET_RAW, `${set} keeps CAP_NET_RAW by default`);
  assert.deepEqual((await seen(['--net-raw'], withNetRaw)).caps, dflt.caps);
  assert.deepEqual((await seen(['--net-raw=true'], withNetRaw)).caps, dflt.caps);
  const dropped = await seen(['--net-raw=false'], withNetRaw);
  for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb']) {
    assert.equal(dropped.caps[set], dflt.caps[set] & ~NET_RAW, `${set}: only CAP_NET_RAW goes`);
  }
  // A config without it is left as it is.
  const without = await seen([]);
  assert.deepEqual((await seen(['--net-raw=false'])).caps, without.caps);
});

test('--net-raw=false on a config that lists no capabilities: dropped from what the process keeps', async () => {
  const noCaps = (s: any) => { delete s.process.capabilities; };
  const all = await seen([], noCaps);
  assert.equal(all.caps.CapBnd & NET_RAW, NET_RAW);
  const dropped = await seen(['--net-raw=false'], noCaps);
  for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb']) assert.equal(dropped.caps[set], all.caps[set] & ~NET_RAW, set);
  // do's container lists none either.
  const r = await sb.run(['--net-raw=false', 'do', '--', 'grep', 'Cap', '/proc/self/status']);
  assert.equal(r.code, 0, r.stderr);
  const caps = parse(`x\nifaces\n${r.stdout}`).caps;
  assert.equal(caps.CapBnd & NET_RAW, 0n);
  assert.equal(caps.CapEff & NET_RAW, 0n);
});

test('--net-raw=false: exec\'d processes keep CAP_NET_RAW (runsc\'s exec keeps it)', async () => {
  const id = `nf${++n}`;
  const r = await sb.run(['--net-raw=false', 'run', '-d', '-b', await sb.bundle(['sleep', '1000'], withNetRaw), id]);
  assert.equal(r.code, 0, r.stderr);
  const pid = JSON.parse((await sb.run(['state', id])).stdout).pid;
  const initEff = BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`);
  assert.equal(initEff & NET_RAW, 0n, 'the init has none');
  const e = await sb.run(['exec', id, 'grep', 'CapEff', '/proc/self/status']);
  assert.equal(e.code, 0, e.stderr);
  assert.equal(BigInt(`0x${/CapEff:\s*([0-9a-f]+)/.exec(e.stdout)![1]}`) & NET_RAW, NET_RAW);
  assert.equal((await sb.run(['delete', '--force', id])).code, 0);
});

// Micro-benchmark of the actors' bus: what one request costs, checked and not, for the messages a
// warm `run` sends (the gofer's validate and prepare with the default spec and its seccomp
// filter, the monitor's attach and gate, the sandbox's status, the facts and tells).
//
//   npm run build && node dist/bench/actor-bus.js [N]
import { ActorBus, type ActorMessage } from '../src/actors/actor-bus.js';
import { defaultSpec } from '../src/oci/default-spec.js';
import { parseSpec, seccompLoad } from '../src/oci/spec.js';

const N = Number(process.argv[2] ?? 20000);
const spec = parseSpec(defaultSpec());
const seccomp = seccompLoad(spec, { id: 'b', status: 'creating', bundle: '/b' });
const hello = { pid: 10, initPid: 11, state: 'created' as const };

function setup(check: boolean) {
  const bus = new ActorBus({ check });
  bus.register('gofer:b', {
    'gofer.validate': (m) => ({ bundle: m.bundle, rootfs: '/r', spec }),
    'gofer.prepare': () => '/plan',
    'gofer.follow': () => {},
  });
  bus.register('process:b/init', {
    'process.attach': async () => hello,
    'process.gate': async () => ({ type: 'process.started' as const }),
    'process.follow': { concurrent: true, handle: () => {} },
  });
  bus.register('sandbox:b', { 'member.status': { concurrent: true, handle: async () => {} } });
  bus.register('container:b', { 'process.started': { concurrent: true, handle: () => {} } });
  bus.watch(() => {});
  return bus;
}

const from = 'container:b';
const prepare: ActorMessage = {
  type: 'gofer.prepare', from, to: 'gofer:b',
  input: { spec, overlay: false, hostCgroups: [{ dir: '', fstype: 'cgroup2', options: '' }], console: null, cgroupDirs: { monitor: [], child: ['/sys/fs/cgroup/b'] }, seccomp, keyring: '_ses.b' },
};

/** The actor messages of one warm `run`, roughly: requests awaited, facts told. */
async function oneRun(bus: ActorBus) {
  await bus.request({ type: 'gofer.validate', from, to: 'gofer:b', bundle: '/b' });
  await bus.request(prepare as Extract<ActorMessage, { type: 'gofer.prepare' }>);
  await bus.request({ type: 'process.attach', from, to: 'process:b/init', socket: '/s', expectedPid: null });
  for (let i = 0; i < 3; i++) {
    bus.tell({ type: 'gofer.follow', from, to: 'gofer:b', status: 'running' });
    bus.tell({ type: 'process.follow', from, to: 'process:b/init', status: 'running', pid: 11, exitStatus: null });
    await bus.request({ type: 'member.status', from, to: 'sandbox:b', id: 'b', status: 'running', exitStatus: null });
  }
  await bus.request({ type: 'process.gate', from, to: 'process:b/init' });
  bus.tell({ type: 'process.started', from: 'process:b/init', to: from, name: 'init' });
}

async function small(bus: ActorBus) {
  await bus.request({ type: 'process.attach', from, to: 'process:b/init', socket: '/s', expectedPid: null });
}

async function measure(label: string, f: () => Promise<void>, n: number) {
  for (let i = 0; i < Math.min(n, 2000); i++) await f(); // warm-up
  const t = performance.now();
  for (let i = 0; i < n; i++) await f();
  const us = ((performance.now() - t) * 1000) / n;
  console.log(`${label.padEnd(52)} ${us.toFixed(2).padStart(8)} µs`);
  return us;
}

const checked = setup(true);
const unchecked = setup(false);
console.log(`${N} iterations each`);
await measure('one small request (process.attach), checked', () => small(checked), N);
await measure('one small request (process.attach), unchecked', () => small(unchecked), N);
await measure('gofer.prepare (default spec + seccomp), checked', async () => { await checked.request(prepare as never); }, N / 4);
await measure('gofer.prepare (default spec + seccomp), unchecked', async () => { await unchecked.request(prepare as never); }, N / 4);
const a = await measure('a warm run\'s messages (13), checked', () => oneRun(checked), N / 10);
const b = await measure('a warm run\'s messages (13), unchecked', () => oneRun(unchecked), N / 10);
console.log(`checking costs ${(a - b).toFixed(1)} µs per run`);

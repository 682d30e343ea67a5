// `runa do --ip` / `--network sandbox`: the command's own network (a veth pair, NAT out of the
// runtime's default route), and nothing of it left however the command ends. Everything happens in
// network namespaces the test makes: "outside" stands for the host (runa runs there, and so does
// the daemon it starts), with an address and a default route through a veth pair to "world",
// where a TCP listener answers with the address it saw. No packet leaves this machine.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, runaBin, sleep, until, alive } from './helpers/runa.js';
import { runToFiles } from './helpers/users.js';
import { overlaps, parseDoIp } from '../src/cli/do-ip.js';

const sb = new Sandbox('donet');
const need = ['ip', 'iptables', 'nsenter', 'unshare', 'bash'].filter((t) => spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0);
const veth = spawnSync('sh', ['-c', 'unshare --net ip link add name va type veth peer name vb']).status === 0;
const skip = process.getuid?.() !== 0 ? 'needs root' : need.length ? `needs ${need.join(', ')} (apt-get install iproute2 iptables util-linux bash)` : !veth ? 'needs veth (the kernel cannot make veth pairs)' : false;

const holders: ChildProcess[] = [];
let outside = '';
let world = '';
let listener: ChildProcess | null = null;
const hostForward = fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8');

/** A command in a namespace of the test's. */
function inNs(ns: string, ...cmd: string[]): string {
  const r = spawnSync('nsenter', [`--net=${ns}`, '--', ...cmd], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} in ${ns}: ${r.stderr}`);
  return r.stdout;
}

async function holdNetns(): Promise<string> {
  const holder = spawn('unshare', ['--net', 'sleep', '100000'], { stdio: 'ignore' });
  holders.push(holder);
  const p = `/proc/${holder.pid}/ns/net`;
  await until(() => { try { return fs.readlinkSync(p) !== fs.readlinkSync('/proc/self/ns/net'); } catch { return false; } }, 'a namespace holder');
  return p;
}

before(async () => {
  if (skip) return;
  outside = await holdNetns();
  world = await holdNetns();
  const worldPid = world.split('/')[2];
  inNs(outside, 'ip', 'link', 'add', 'up0', 'type', 'veth', 'peer', 'name', 'wan0', 'netns', worldPid);
  inNs(outside, 'ip', 'addr', 'add', '198.51.100.2/24', 'dev', 'up0');
  inNs(outside, 'ip', 'link', 'set', 'up0', 'up');
  inNs(outside, 'ip', 'link', 'set', 'lo', 'up');
  inNs(outside, 'ip', 'route', 'add', 'default', 'via', '198.51.100.1');
  inNs(world, 'ip', 'addr', 'add', '198.51.100.1/24', 'dev', 'wan0');
  inNs(world, 'ip', 'link', 'set', 'wan0', 'up');
  // The world knows no way back to the command's network: an answer reaches it only through NAT.
  const server = "require('net').createServer((c) => c.end(`from ${c.remoteAddress}\\n`)).listen(7777, '198.51.100.1', () => console.log('listening'))";
  listener = spawn('nsenter', [`--net=${world}`, '--', process.execPath, '-e', server], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((resolve) => listener!.stdout!.once('data', () => resolve()));
});

after(async () => {
  listener?.kill('SIGKILL');
  if (!skip) {
    // The daemon lives in "outside": it is asked to leave before the namespaces go.
    const { leftovers, mounts } = await sb.cleanup();
    assert.deepEqual(leftovers, []);
    assert.deepEqual(mounts, []);
  } else fs.rmSync(sb.dir, { recursive: true, force: true });
  for (const h of holders) h.kill('SIGKILL');
  assert.equal(fs.readFileSync('/proc/sys/net/ipv4/ip_forward', 'utf8'), hostForward, 'the host\'s ip_forward untouched');
});

let n = 0;
const ENV = { ...process.env, RUNA_DAEMON_IDLE_MS: '60000' };
/** runa, run in "outside" (the first call starts the daemon there). */
function runa(args: string[]) {
  const k = ++n;
  return runToFiles('nsenter', [`--net=${outside}`, '--', runaBin, '--root', sb.root, ...args], { out: path.join(sb.dir, `o${k}`), err: path.join(sb.dir, `e${k}`) }, { env: ENV });
}
/** runa in "outside", left running: its output goes to a file the test reads as it comes. */
function runaLive(args: string[]): { child: ChildProcess; out: string; err: string } {
  const k = ++n;
  const out = path.join(sb.dir, `lo${k}`);
  const err = path.join(sb.dir, `le${k}`);
  const [o, e] = [fs.openSync(out, 'w+'), fs.openSync(err, 'w+')];
  const child = spawn('nsenter', [`--net=${outside}`, '--', runaBin, '--root', sb.root, ...args], { stdio: ['ignore', o, e], env: ENV });
  fs.closeSync(o);
  fs.closeSync(e);
  return { child, out, err };
}
const exited = (c: ChildProcess) => new Promise<number | null>((resolve) => { if (c.exitCode !== null || c.signalCode !== null) resolve(c.exitCode); else c.once('exit', (code) => resolve(code)); });

/** What a do network leaves in "outside" and in the root. */
function outsideState() {
  return {
    links: inNs(outside, 'ip', '-o', 'link').split('\n').map((l) => l.split(': ')[1]?.split('@')[0]).filter((l) => l && l.startsWith('runa-')),
    rules: inNs(outside, 'iptables-save').split('\n').filter((l) => l.includes('runa do')),
    forward: inNs(outside, 'cat', '/proc/sys/net/ipv4/ip_forward').trim(),
    records: fs.existsSync(sb.root) ? fs.readdirSync(sb.root).filter((f) => f.startsWith('do-net~')) : [],
    bundles: fs.existsSync(sb.root) ? fs.readdirSync(sb.root).filter((f) => f.startsWith('.~do~')) : [],
  };
}
async function assertClean(forward: string, what: string, netnsInode?: string) {
  assert.deepEqual(outsideState(), { links: [], rules: [], forward, records: [], bundles: [] }, `nothing left after ${what}`);
  assert.equal((await runa(['list', '-q'])).stdout, '', `no container left after ${what}`);
  if (netnsInode) {
    // Namespace inode numbers are reused: only processes of this test's (a monitor under its root, or its child) count.
    const ours = (p: string) => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(sb.dir); } catch { return false; } };
    const parent = (p: string) => { try { const st = fs.readFileSync(`/proc/${p}/stat`, 'utf8'); return st.slice(st.lastIndexOf(')') + 2).split(' ')[1]; } catch { return ''; } };
    const still = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => { try { return fs.readlinkSync(`/proc/${p}/ns/net`) === netnsInode; } catch { return false; } })
      .filter((p) => ours(p) || ours(parent(p)));
    assert.deepEqual(still, [], `the command's network namespace is gone after ${what}`);
  }
}

/** Prints its address, route and namespace, fetches from the world, says ready, then does `rest`. */
const probe = (rest: string) => `ip -o -4 addr show dev eth0; ip route show default; readlink /proc/self/ns/net; bash -c 'exec 3<>/dev/tcp/198.51.100.1/7777; cat <&3'; echo ready; ${rest}`;
function parseProbe(out: string) {
  const [addr, route, netns, answer] = out.split('\n');
  return { addr: /inet (\S+)/.exec(addr)?.[1], route: route.trim(), netns, answer };
}

test('the pure part: --ip parsed, the peer chosen inside the network, bad ones refused', () => {
  assert.deepEqual(parseDoIp('192.168.10.2'), { ip: '192.168.10.2', prefix: 24, peer: '192.168.10.3', network: '192.168.10.0/24' });
  assert.deepEqual(parseDoIp('10.1.2.254/24'), { ip: '10.1.2.254', prefix: 24, peer: '10.1.2.1', network: '10.1.2.0/24' });
  assert.equal(parseDoIp('10.0.0.2/30').peer, '10.0.0.1');
  assert.equal(parseDoIp('10.0.0.1/31').peer, '10.0.0.0');
  assert.equal(parseDoIp('172.16.5.9/12').network, '172.16.0.0/12');
  for (const [bad, why] of [
    ['10.0.0.300/24', /not an IPv4 address/], ['foo', /not an IPv4 address/], ['10.0.0.2/', /prefix length/], ['10.0.0.2/33', /prefix length/],
    ['10.0.0.2/7', /prefix length/], ['10.0.0.2/32', /leaves no address for the host's end/], ['10.0.0.0/24', /network's own address/],
    ['10.0.0.255/24', /broadcast address/], ['127.0.0.2/24', /not a unicast address/], ['01.2.3.4/24', /not an IPv4 address/],
  ] as Array<[string, RegExp]>) assert.throws(() => parseDoIp(bad), why, bad);
  assert.equal(overlaps('10.0.0.0/8', '10.77.0.0/24'), true);
  assert.equal(overlaps('10.77.1.0/24', '10.77.0.0/24'), false);
  assert.equal(overlaps('10.77.0.9', '10.77.0.0/24'), true);
});

test('do --ip: its address and default route as asked, the world reached through NAT, nothing left (exit 0)', { skip }, async () => {
  const r = await runa(['do', '--ip', '10.77.0.2/24', '--', 'sh', '-c', probe('exit 0')]);
  assert.equal(r.code, 0, r.stderr);
  const p = parseProbe(r.stdout);
  assert.equal(p.addr, '10.77.0.2/24');
  assert.match(p.route, /^default via 10\.77\.0\.3 dev eth0/);
  assert.equal(p.answer, 'from 198.51.100.2', 'the world saw the outside\'s address: masqueraded');
  const daemon = sb.daemonPid()!;
  assert.equal(fs.readlinkSync(`/proc/${daemon}/ns/net`), fs.readlinkSync(outside), 'the daemon is outside\'s');
  await assertClean('0', 'exit 0', p.netns);
});

test('while the command runs: the host\'s end with the peer address, the rules, forwarding; then killed, nothing left', { skip }, async () => {
  const live = runaLive(['do', '--ip', '10.88.0.9/29', '--', 'sh', '-c', probe('exec sleep 1000')]);
  await until(() => fs.readFileSync(live.out, 'utf8').includes('ready'), 'the command to be ready', 20_000);
  const p = parseProbe(fs.readFileSync(live.out, 'utf8'));
  assert.equal(p.addr, '10.88.0.9/29');
  assert.match(p.route, /^default via 10\.88\.0\.10 dev eth0/);
  assert.equal(p.answer, 'from 198.51.100.2');
  const during = outsideState();
  assert.equal(during.links.length, 1);
  assert.match(inNs(outside, 'ip', '-o', '-4', 'addr', 'show', 'dev', during.links[0]), /inet 10\.88\.0\.10\/29/);
  assert.equal(during.rules.length, 3, during.rules.join('\n'));
  assert.ok(during.rules.some((l) => /-A POSTROUTING -s 10\.88\.0\.9\/32 -o up0 .*-j MASQUERADE/.test(l)));
  assert.equal(during.forward, '1');
  assert.equal(during.records.length, 1);
  // The command killed from outside the container.
  const id = (await runa(['list', '-q'])).stdout.trim();
  assert.match(id, /^runa-do-/);
  assert.equal((await runa(['kill', id, 'KILL'])).code, 0);
  assert.equal(await exited(live.child), 137);
  await assertClean('0', 'a killed command', p.netns);
});

test('a failing command, and runa do killed with SIGKILL: nothing left; ip_forward already on stays on', { skip }, async () => {
  const r = await runa(['do', '--ip', '10.77.0.2', '--', 'sh', '-c', probe('exit 3')]);
  assert.equal(r.code, 3, r.stderr);
  assert.equal(parseProbe(r.stdout).answer, 'from 198.51.100.2');
  await assertClean('0', 'exit 3', parseProbe(r.stdout).netns);
  inNs(outside, 'sh', '-c', 'echo 1 > /proc/sys/net/ipv4/ip_forward');
  try {
    const live = runaLive(['do', '--ip', '10.77.0.2/24', '--', 'sh', '-c', probe('exec sleep 1000')]);
    await until(() => fs.readFileSync(live.out, 'utf8').includes('ready'), 'the command to be ready', 20_000);
    const netns = parseProbe(fs.readFileSync(live.out, 'utf8')).netns;
    live.child.kill('SIGKILL');
    await exited(live.child);
    // The daemon sees its front end go, deletes the container and undoes the network.
    await until(() => outsideState().records.length === 0, 'the daemon to undo the network', 20_000);
    await until(async () => (await runa(['list', '-q'])).stdout === '', 'the container to be deleted', 20_000);
    await assertClean('1', 'runa do killed', netns);
  } finally {
    inNs(outside, 'sh', '-c', 'echo 0 > /proc/sys/net/ipv4/ip_forward');
  }
});

test('two at once: forwarding stays on until the last one ends', { skip }, async () => {
  const a = runaLive(['do', '--ip', '10.91.0.2/24', '--', 'sh', '-c', probe('exec sleep 1000')]);
  await until(() => fs.readFileSync(a.out, 'utf8').includes('ready'), 'the first command to be ready', 20_000);
  const b = await runa(['do', '--network', 'sandbox', '--ip', '10.92.0.2/24', '--', 'sh', '-c', probe('true')]);
  assert.equal(b.code, 0, b.stderr);
  assert.equal(parseProbe(b.stdout).answer, 'from 198.51.100.2');
  const mid = outsideState();
  assert.equal(mid.forward, '1', 'the first one still needs it');
  assert.equal(mid.links.length, 1);
  assert.equal(mid.rules.length, 3);
  // The same network as one that is up is refused.
  const clash = await runa(['do', '--ip', '10.91.0.7/24', '--', 'true']);
  assert.equal(clash.code, 1);
  assert.match(clash.stderr, /invalid --ip "10\.91\.0\.7\/24": its network 10\.91\.0\.0\/24 overlaps the route "10\.91\.0\.0\/24 dev runa-/);
  const id = (await runa(['list', '-q'])).stdout.trim();
  assert.equal((await runa(['kill', id, 'KILL'])).code, 0);
  await exited(a.child);
  await assertClean('0', 'the last one');
});

test('the daemon killed under runa do: the command keeps its network; once it ends, the next daemon undoes it', { skip }, async () => {
  const live = runaLive(['do', '--ip', '10.77.0.2/24', '--', 'sh', '-c', probe('exec sleep 1000')]);
  await until(() => fs.readFileSync(live.out, 'utf8').includes('ready'), 'the command to be ready', 20_000);
  const netns = parseProbe(fs.readFileSync(live.out, 'utf8')).netns;
  const daemon = sb.daemonPid()!;
  process.kill(daemon, 'SIGKILL');
  await until(() => !alive(daemon), 'the daemon to die');
  // The next daemon (started in "outside" by the next command) finds the network in use and leaves it.
  const other = await runa(['do', '--', 'true']);
  assert.equal(other.code, 0, other.stderr);
  const during = outsideState();
  assert.equal(during.rules.length, 3, 'the running command keeps its NAT');
  assert.equal(during.forward, '1');
  const id = JSON.parse((await runa(['list', '-f', 'json'])).stdout).map((c: any) => c.id).find((i: string) => i.startsWith('runa-do-'));
  assert.equal((await runa(['kill', id, 'KILL'])).code, 0);
  assert.notEqual(await exited(live.child), 0);
  assert.match(fs.readFileSync(live.err, 'utf8'), /connection to runa daemon closed/);
  await until(() => outsideState().records.length === 0, 'the daemon to undo the network', 20_000);
  await assertClean('0', 'the daemon\'s death', netns);
});

test('bad input is refused before anything is made', { skip }, async () => {
  for (const [args, words] of [
    [['--ip', '10.0.0.300/24'], /invalid --ip "10\.0\.0\.300\/24": not an IPv4 address/],
    [['--ip', 'foo'], /invalid --ip "foo": not an IPv4 address/],
    [['--ip', '10.0.0.2/32'], /a \/32 network leaves no address for the host's end of the link/],
    [['--ip', '10.0.0.255/24'], /broadcast address/],
    [['--ip', '10.0.0.2/24', '--network', 'host'], /--ip 10\.0\.0\.2\/24: the address of the command's own network \(--network sandbox\); --network host is the runtime's/],
    [['--ip', '10.0.0.2/24', '--network', 'none'], /--network none has only loopback/],
    [['--netns=false'], /^The current network namespace can be used only if --network=host is set$/m],
    [['--netns=false', '--ip', '10.0.0.2'], /The current network namespace can be used only if --network=host is set/],
    [['--netns', '--network', 'host'], /--netns gives the command a network namespace of its own/],
    [['--network', 'bridge'], /invalid network type "bridge"/],
    [['--ip', '198.51.100.7/24'], /its network 198\.51\.100\.0\/24 overlaps the route "198\.51\.100\.0\/24 dev up0/],
  ] as Array<[string[], RegExp]>) {
    const r = await runa(['do', ...args, '--', 'true']);
    assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, words, args.join(' '));
    await assertClean('0', args.join(' '));
  }
  const global = await runa(['--network=none', 'do', '--network', 'host', '--', 'true']);
  assert.match(global.stderr, /do --network host and the global --network=none disagree/);
});

test('--netns=false --network host and the global --network=host: the runtime\'s network; --network sandbox alone: runsc\'s default address', { skip }, async () => {
  for (const args of [['do', '--netns=false', '--network', 'host'], ['--network=host', 'do', '--netns=false'], ['do', '--network', 'host']]) {
    const r = await runa([...args, '--', 'readlink', '/proc/self/ns/net']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), fs.readlinkSync(outside), args.join(' '));
  }
  const r = await runa(['--network=sandbox', 'do', '--', 'sh', '-c', probe('true')]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(parseProbe(r.stdout).addr, '192.168.10.2/24');
  assert.match(parseProbe(r.stdout).route, /^default via 192\.168\.10\.3 /);
  await assertClean('0', 'the default address');
  const none = await runa(['do', '--', 'ls', '/sys/class/net']);
  assert.equal(none.stdout.trim(), 'lo', 'no flag: only loopback, as before');
  void sleep;
});

// `runa do --network sandbox` (`--ip`): runsc's do network for the command. A veth pair, one end
// (eth0) in the command's own network namespace with --ip's address and a default route through
// the other, which stays in the runtime's namespace (the process running do: the daemon) with the
// peer address; NAT (masquerade) of the command's address out of the runtime's default route, and
// forwarding. Made with iproute2's `ip`, util-linux's `nsenter` and `iptables`, each step recorded
// (<root>/do-net~<id>.json) before it is taken; undone when the command ends, however it ends,
// or by the next daemon of the root when the one that made it died (recoverDoNetworks).
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { RunaError } from '../errors.js';
import { processAlive, processStartTime } from '../state.js';
import { overlaps, parseDoIp, type DoAddress } from './do-ip.js';

const FORWARD = '/proc/sys/net/ipv4/ip_forward';
/** The command's end of the link, in its namespace. */
export const DO_IFNAME = 'eth0';

/** What one do network is made of, as recorded on disk before each part is made. */
interface Record {
  id: string;
  /** the process that made it, which undoes it (pid and start time) */
  owner: { pid: number; startTime: string };
  /** the runtime's network namespace (/proc/self/ns/net's link) where the rules, forwarding and the veth end are */
  netns: string;
  address: DoAddress;
  /** the runtime's end of the veth pair */
  hostIf: string;
  /** the device of the runtime's default route, which the command's traffic leaves by */
  uplink: string;
  /** iptables rules added (each its arguments after -A/-I CHAIN), with their table and chain */
  rules: Array<{ table: string; chain: string; spec: string[] }>;
  /** ip_forward was 0 and this network set it: the last one of the process restores it */
  forwardSet: boolean;
  /** the command's init (pid and start time), whose network namespace holds the other end */
  init?: { pid: number; startTime: string };
}

const recordFile = (root: string, id: string) => path.join(root, `do-net~${id}.json`);
const write = (root: string, r: Record) => {
  const f = recordFile(root, r.id);
  fs.writeFileSync(`${f}.tmp`, JSON.stringify(r), { mode: 0o600 });
  fs.renameSync(`${f}.tmp`, f);
};

/** The tools, found on PATH or in the system's directories (a user's PATH may lack /usr/sbin). */
function tool(name: string, pkg: string): string {
  // By the name it was found under: iptables is a link to a multi-call binary that reads argv[0].
  const found = `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin:/sbin:/bin`.split(':').filter((d) => d.startsWith('/')).map((d) => path.join(d, name)).find(executable);
  if (!found) throw new RunaError('unsupported', `runa do --network sandbox: "${name}" not found: apt-get install ${pkg}`);
  return found;
}

function executable(p: string): boolean {
  try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; }
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new RunaError('do_network', `${path.basename(file)} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** The do networks this process has up: the last to go restores ip_forward if one of them set it. */
const active = new Map<string, DoNetwork>();

export class DoNetwork {
  private constructor(private readonly root: string, private readonly r: Record, private readonly tools: { ip: string; nsenter: string; iptables: string }) {}

  get address(): DoAddress { return this.r.address; }
  get hostIf(): string { return this.r.hostIf; }
  get uplink(): string { return this.r.uplink; }

  /**
   * Everything checked before anything is made (the caller creates the container only then):
   * --ip, root, the tools, the runtime's default route, and a network no route of the runtime's
   * (nor another do network of this process) already covers.
   */
  static async prepare(root: string, id: string, ip: string): Promise<DoNetwork> {
    const address = parseDoIp(ip);
    if (process.geteuid?.() !== 0) throw new RunaError('permission', 'runa do --network sandbox needs root: it makes a veth pair, NAT rules and turns forwarding on');
    const tools = { ip: tool('ip', 'iproute2'), nsenter: tool('nsenter', 'util-linux'), iptables: tool('iptables', 'iptables') };
    const routes = (await run(tools.ip, ['-4', '-o', 'route', 'show', 'table', 'main'])).split('\n').filter(Boolean);
    const dflt = routes.find((l) => l.startsWith('default '));
    const uplink = dflt && / dev (\S+)/.exec(dflt)?.[1];
    if (!uplink) throw new RunaError('do_network', 'runa do --network sandbox: the runtime\'s network namespace has no default route to masquerade the command\'s traffic out of (ip -4 route show default): use --network none or host');
    for (const l of routes) {
      // `[TYPE] PREFIX …`: unicast, blackhole, unreachable, prohibit, throw… before the prefix.
      const dst = l.split(' ').find((w) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(w) || w === 'default');
      if (dst !== undefined && dst !== 'default' && overlaps(dst, address.network)) {
        throw new RunaError('invalid_argument', `invalid --ip ${JSON.stringify(ip)}: its network ${address.network} overlaps the route "${l.trim()}": choose another`);
      }
    }
    for (const other of active.values()) {
      if (overlaps(other.address.network, address.network)) throw new RunaError('invalid_argument', `invalid --ip ${JSON.stringify(ip)}: its network ${address.network} is another runa do's (${other.r.id}): choose another`);
    }
    const startTime = processStartTime(process.pid)!;
    const net = new DoNetwork(root, { id, owner: { pid: process.pid, startTime }, netns: fs.readlinkSync('/proc/self/ns/net'), address, hostIf: `runa-${id.slice(-8)}`, uplink, rules: [], forwardSet: false }, tools);
    active.set(id, net);
    return net;
  }

  /** Make it, for the container whose init is `initPid` (created, not started). A failure leaves what was made for `remove`. */
  async setUp(initPid: number): Promise<void> {
    const { ip, nsenter, iptables } = this.tools;
    const { address: a, hostIf, uplink } = this.r;
    this.r.init = { pid: initPid, startTime: processStartTime(initPid) ?? '' };
    write(this.root, this.r);
    await run(ip, ['link', 'add', hostIf, 'type', 'veth', 'peer', 'name', DO_IFNAME, 'netns', String(initPid)]);
    await run(ip, ['addr', 'add', `${a.peer}/${a.prefix}`, 'dev', hostIf]);
    await run(ip, ['link', 'set', hostIf, 'up']);
    const inside = (...args: string[]) => run(nsenter, [`--net=/proc/${initPid}/ns/net`, '--', ip, ...args]);
    await inside('addr', 'add', `${a.ip}/${a.prefix}`, 'dev', DO_IFNAME);
    await inside('link', 'set', DO_IFNAME, 'up');
    await inside('route', 'add', 'default', 'via', a.peer);
    const tag = ['-m', 'comment', '--comment', `runa do ${this.r.id}`];
    const rules = [
      { table: 'nat', chain: 'POSTROUTING', spec: ['-s', `${a.ip}/32`, '-o', uplink, ...tag, '-j', 'MASQUERADE'] },
      // First in FORWARD, ahead of a policy or rules that drop (Docker's).
      { table: 'filter', chain: 'FORWARD', spec: ['-i', hostIf, '-o', uplink, ...tag, '-j', 'ACCEPT'] },
      { table: 'filter', chain: 'FORWARD', spec: ['-i', uplink, '-o', hostIf, '-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', ...tag, '-j', 'ACCEPT'] },
    ];
    for (const rule of rules) {
      this.r.rules.push(rule);
      write(this.root, this.r);
      await run(iptables, ['-w', '-t', rule.table, rule.chain === 'FORWARD' ? '-I' : '-A', rule.chain, ...rule.spec]);
    }
    if (fs.readFileSync(FORWARD, 'utf8').trim() === '0') {
      this.r.forwardSet = true;
      write(this.root, this.r);
      fs.writeFileSync(FORWARD, '1');
    }
  }

  /** Undo all of it (what was made of it); the problems met are returned. */
  async remove(): Promise<string[]> {
    active.delete(this.r.id);
    // Handed on to a do network still up, which restores it when it goes.
    const heir = [...active.values()][0];
    if (this.r.forwardSet && heir) {
      heir.r.forwardSet = true;
      write(heir.root, heir.r);
      this.r.forwardSet = false;
    }
    const problems = await undo(this.r, this.tools);
    // With a problem the record stays: the root's next daemon tries again.
    if (!problems.length) try { fs.unlinkSync(recordFile(this.root, this.r.id)); } catch { /* never written */ }
    return problems;
  }
}

/** Undo what a record says was made: the rules, the runtime's veth end, ip_forward. */
async function undo(r: Record, tools: { ip: string; iptables: string }): Promise<string[]> {
  const problems: string[] = [];
  for (const rule of [...r.rules].reverse()) {
    await run(tools.iptables, ['-w', '-t', rule.table, '-D', rule.chain, ...rule.spec]).catch((e: Error) => {
      // A rule never added (the step failed) or already removed is no problem.
      if (!/does a matching rule exist|Bad rule/.test(e.message)) problems.push(e.message);
    });
  }
  // The veth pair goes with the command's namespace; one left (a setup cut short) goes now.
  if (fs.existsSync(`/sys/class/net/${r.hostIf}`)) await run(tools.ip, ['link', 'del', r.hostIf]).catch((e: Error) => { if (fs.existsSync(`/sys/class/net/${r.hostIf}`)) problems.push(e.message); });
  if (r.forwardSet) {
    try { fs.writeFileSync(FORWARD, '0'); } catch (e) { problems.push(`restoring ${FORWARD} to 0: ${(e as Error).message}`); }
  }
  return problems;
}

/**
 * At a daemon's start: the do networks whose maker died (a daemon killed under `runa do`) are
 * undone from their records, and their containers deleted, once their command has ended (a command still running keeps its
 * network until then: the front end that waits for it outlives the daemon). Each problem is said
 * on stderr; the record stays for the next daemon.
 */
export async function recoverDoNetworks(root: string, deleteContainer: (id: string) => Promise<unknown>): Promise<void> {
  let names: string[];
  try { names = fs.readdirSync(root).filter((n) => /^do-net~.*\.json$/.test(n)); } catch { return; }
  for (const name of names) {
    const file = path.join(root, name);
    const r = read(file);
    if (!r || processAlive(r.owner.pid, r.owner.startTime)) continue;
    // Another namespace's rules and forwarding are not this daemon's to touch.
    if (r.netns !== fs.readlinkSync('/proc/self/ns/net')) {
      process.stderr.write(`runa: runa do ${r.id}'s network is in ${r.netns}, not this daemon's network namespace: left for a daemon there (${file})\n`);
      continue;
    }
    if (r.init && processAlive(r.init.pid, r.init.startTime)) {
      // The daemon holds the command's container meanwhile, so it stays until this is done.
      const watch = setInterval(() => {
        if (processAlive(r.init!.pid, r.init!.startTime)) return;
        clearInterval(watch);
        void recoverOne(root, file, r, deleteContainer);
      }, 250);
      watch.unref();
      continue;
    }
    await recoverOne(root, file, r, deleteContainer);
  }
}

/** Undo one, and delete the command's container (stopped), as its `runa do` would have. */
async function recoverOne(root: string, file: string, r: Record, deleteContainer: (id: string) => Promise<unknown>): Promise<void> {
  await deleteContainer(r.id).catch(() => undefined);
  try {
    // ip_forward is restored only when no other do network is up any more.
    const others = fs.readdirSync(root).some((n) => /^do-net~.*\.json$/.test(n) && path.join(root, n) !== file && isLive(read(path.join(root, n))));
    const problems = await undo({ ...r, forwardSet: r.forwardSet && !others && active.size === 0 }, { ip: tool('ip', 'iproute2'), iptables: tool('iptables', 'iptables') });
    if (problems.length) { process.stderr.write(`runa: undoing runa do ${r.id}'s network: ${problems.join('; ')}\n`); return; }
    fs.unlinkSync(file);
    process.stderr.write(`runa: undid the network of runa do ${r.id}, which a daemon left\n`);
  } catch (e) {
    process.stderr.write(`runa: undoing runa do ${r.id}'s network: ${(e as Error).message}\n`);
  }
}

function read(file: string): Record | null {
  try { return JSON.parse(fs.readFileSync(file, 'utf8')) as Record; } catch { return null; }
}

/** Still in use: its maker, or its command, is alive. */
const isLive = (r: Record | null): boolean => r !== null && (processAlive(r.owner.pid, r.owner.startTime) || (r.init !== undefined && processAlive(r.init.pid, r.init.startTime)));

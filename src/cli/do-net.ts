// `runa do --network sandbox` (`--ip`): runsc's do network for the command. A veth pair, one end
// (eth0) in the command's own network namespace with --ip's address and a default route through
// the other, which stays in the runtime's namespace (the process running do: the daemon) with the
// peer address; NAT (masquerade) of the command's address out of the runtime's default route, and
// forwarding. Made with iproute2's `ip`, util-linux's `nsenter` and `iptables`, each step recorded
// (<root>/do-net~<id>.json, src/do-net-records.ts) before it is taken; undone when the command
// ends, however it ends, or by the next daemon of the root when the one that made it died
// (recoverDoNetworks there).
import fs from 'node:fs';
import { RunaError } from '../errors.js';
import { processStartTime } from '../state.js';
import { FORWARD, run, tool, undo, upHere, recordFile, writeRecord, type DoAddress, type DoNetRecord } from '../do-net-records.js';
import { overlaps, parseDoIp } from './do-ip.js';

/** The command's end of the link, in its namespace. */
export const DO_IFNAME = 'eth0';

export class DoNetwork {
  private constructor(private readonly root: string, private readonly r: DoNetRecord, private readonly tools: { ip: string; nsenter: string; iptables: string }) {}

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
    for (const { record: other } of upHere.values()) {
      if (overlaps(other.address.network, address.network)) throw new RunaError('invalid_argument', `invalid --ip ${JSON.stringify(ip)}: its network ${address.network} is another runa do's (${other.id}): choose another`);
    }
    const startTime = processStartTime(process.pid)!;
    const net = new DoNetwork(root, { id, owner: { pid: process.pid, startTime }, netns: fs.readlinkSync('/proc/self/ns/net'), address, hostIf: `runa-${id.slice(-8)}`, uplink, rules: [], forwardSet: false }, tools);
    upHere.set(id, { root, record: net.r });
    return net;
  }

  /** Make it, for the container whose init is `initPid` (created, not started). A failure leaves what was made for `remove`. */
  async setUp(initPid: number): Promise<void> {
    const { ip, nsenter, iptables } = this.tools;
    const { address: a, hostIf, uplink } = this.r;
    this.r.init = { pid: initPid, startTime: processStartTime(initPid) ?? '' };
    writeRecord(this.root, this.r);
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
      writeRecord(this.root, this.r);
      await run(iptables, ['-w', '-t', rule.table, rule.chain === 'FORWARD' ? '-I' : '-A', rule.chain, ...rule.spec]);
    }
    if (fs.readFileSync(FORWARD, 'utf8').trim() === '0') {
      this.r.forwardSet = true;
      writeRecord(this.root, this.r);
      fs.writeFileSync(FORWARD, '1');
    }
  }

  /** Undo all of it (what was made of it); the problems met are returned. */
  async remove(): Promise<string[]> {
    upHere.delete(this.r.id);
    // Handed on to a do network still up, which restores it when it goes.
    const heir = [...upHere.values()][0];
    if (this.r.forwardSet && heir) {
      heir.record.forwardSet = true;
      writeRecord(heir.root, heir.record);
      this.r.forwardSet = false;
    }
    const problems = await undo(this.r, this.tools);
    // With a problem the record stays: the root's next daemon tries again.
    if (!problems.length) try { fs.unlinkSync(recordFile(this.root, this.r.id)); } catch { /* never written */ }
    return problems;
  }
}

// The records of `runa do`'s networks (`--network sandbox`, `--ip`: src/cli/do-net.ts makes
// them): `<root>/do-net~<id>.json`, each part of a network written there before it is made, so
// that it can be undone from the record: by its maker when the command ends, however it ends,
// or by the next daemon of the root when the one that made it died (recoverDoNetworks, at the
// daemon's start). Neither the CLI's nor the daemon's: both use it.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { RunaError } from './errors.js';
import { processAlive } from './state.js';

export const FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** The command's address and the link's other end, as `--ip` gives them (src/cli/do-ip.ts). */
export interface DoAddress {
  /** the command's address, dotted */
  ip: string;
  prefix: number;
  /** the host's end of the link: the command's default gateway */
  peer: string;
  /** the network, as `a.b.c.d/prefix` */
  network: string;
}

/** What one do network is made of, as recorded on disk before each part is made. */
export interface DoNetRecord {
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

const RECORD = /^do-net~.*\.json$/;
export const recordFile = (root: string, id: string) => path.join(root, `do-net~${id}.json`);
export function writeRecord(root: string, r: DoNetRecord): void {
  const f = recordFile(root, r.id);
  fs.writeFileSync(`${f}.tmp`, JSON.stringify(r), { mode: 0o600 });
  fs.renameSync(`${f}.tmp`, f);
}

function readRecord(file: string): DoNetRecord | null {
  try { return JSON.parse(fs.readFileSync(file, 'utf8')) as DoNetRecord; } catch { return null; }
}

/** Still in use: its maker, or its command, is alive. */
const isLive = (r: DoNetRecord | null): boolean => r !== null && (processAlive(r.owner.pid, r.owner.startTime) || (r.init !== undefined && processAlive(r.init.pid, r.init.startTime)));

/** The do networks this process has up, by id, with their roots: the last to go restores ip_forward if one of them set it. */
export const upHere = new Map<string, { root: string; record: DoNetRecord }>();

/** The tools, found on PATH or in the system's directories (a user's PATH may lack /usr/sbin). */
export function tool(name: string, pkg: string): string {
  // By the name it was found under: iptables is a link to a multi-call binary that reads argv[0].
  const found = `${process.env.PATH ?? ''}:/usr/sbin:/usr/bin:/sbin:/bin`.split(':').filter((d) => d.startsWith('/')).map((d) => path.join(d, name)).find(executable);
  if (!found) throw new RunaError('unsupported', `runa do --network sandbox: "${name}" not found: apt-get install ${pkg}`);
  return found;
}

function executable(p: string): boolean {
  try { fs.accessSync(p, fs.constants.X_OK); return fs.statSync(p).isFile(); } catch { return false; }
}

export function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }, timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new RunaError('do_network', `${path.basename(file)} ${args.join(' ')}: ${(stderr || err.message).trim()}`));
      else resolve(stdout);
    });
  });
}

/** Undo what a record says was made: the rules, the runtime's veth end, ip_forward. The problems met are returned. */
export async function undo(r: DoNetRecord, tools: { ip: string; iptables: string }): Promise<string[]> {
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
 * on stderr; the record stays for the next daemon. `names`: the root's, as the daemon's start
 * listed them (for adoption too).
 */
export async function recoverDoNetworks(root: string, names: string[], deleteContainer: (id: string) => Promise<unknown>): Promise<void> {
  for (const name of names.filter((n) => RECORD.test(n))) {
    const file = path.join(root, name);
    const r = readRecord(file);
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
async function recoverOne(root: string, file: string, r: DoNetRecord, deleteContainer: (id: string) => Promise<unknown>): Promise<void> {
  await deleteContainer(r.id).catch(() => undefined);
  try {
    // ip_forward is restored only when no other do network is up any more.
    const others = fs.readdirSync(root).some((n) => RECORD.test(n) && path.join(root, n) !== file && isLive(readRecord(path.join(root, n))));
    const problems = await undo({ ...r, forwardSet: r.forwardSet && !others && upHere.size === 0 }, { ip: tool('ip', 'iproute2'), iptables: tool('iptables', 'iptables') });
    if (problems.length) { process.stderr.write(`runa: undoing runa do ${r.id}'s network: ${problems.join('; ')}\n`); return; }
    fs.unlinkSync(file);
    process.stderr.write(`runa: undid the network of runa do ${r.id}, which a daemon left\n`);
  } catch (e) {
    process.stderr.write(`runa: undoing runa do ${r.id}'s network: ${(e as Error).message}\n`);
  }
}

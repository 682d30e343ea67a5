// checkpoint and restore through CRIU for real, where CRIU can run: the project's qemu guest
// (test/helpers/v2-guest.ts; on this project's host kernel `criu check` fails on the vDSO, see
// test/checkpoint.test.ts). One boot: a busybox shell that counts in memory, writing each count to
// its stdout (a pipe) and to a file of its rootfs, is checkpointed, the bad restores change
// nothing, and the restore goes on counting where it stopped, in a container runa follows like
// any other (state, exec, ps, wait, kill, delete). The guest script prints KEY=value lines.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { APPLETS, BUSYBOX, busyboxMissing } from './helpers/oci-image.js';
import { guestLeftovers, guestMissing, guestTempDir, moduleLoadScript, runInGuest, type GuestResult } from './helpers/v2-guest.js';
import { runaBin } from './helpers/runa.js';
import { GuestValues } from './helpers/guest-values.js';
import { defaultSpec } from '../src/oci/default-spec.js';

/** What CRIU needs of the guest kernel beyond what the guest loads (its `criu check` names each). */
const CRIU_MODULES = ['inet_diag', 'tcp_diag', 'udp_diag', 'raw_diag', 'unix_diag', 'netlink_diag', 'af_packet_diag', 'tun', 'veth',
  'crc32c_generic', 'nf_tables', 'nft_ct', 'ip_tables', 'iptable_filter', 'ip6_tables', 'ip6table_filter', 'nf_conntrack_netlink'];
const ROOT = '/run/runa-ckpt';
const COUNTER = 'exec </dev/null 2>/dev/null; i=0; while true; do i=$((i+1)); echo $i; echo $i > /tmp/count; sleep 0.2; done';

const missing = busyboxMissing() ?? guestMissing() ?? (spawnSync('criu', ['--version']).error ? 'criu not installed: apt-get install criu' : null);

if (missing) {
  test('checkpoint and restore through CRIU (qemu guest)', { skip: `the guest: ${missing}` }, () => {});
} else {
  suite();
}

function suite(): void {
  let dir = '';
  let guest: GuestResult | null = null;
  const printed = new GuestValues();
  const get = (key: string): string => printed.get(key);

  before(async () => {
    dir = guestTempDir('ckpt');
    const rootfs = (name: string, withBusybox: boolean) => {
      const r = path.join(dir, name);
      for (const d of ['bin', 'proc', 'sys', 'dev', 'tmp', 'etc', 'root']) fs.mkdirSync(path.join(r, d), { recursive: true });
      fs.chmodSync(path.join(r, 'tmp'), 0o1777);
      if (withBusybox) {
        fs.copyFileSync(BUSYBOX, path.join(r, 'bin', 'busybox'));
        fs.chmodSync(path.join(r, 'bin', 'busybox'), 0o755);
        for (const a of APPLETS) fs.symlinkSync('busybox', path.join(r, 'bin', a));
      }
      return r;
    };
    const bundle = (name: string, root: string) => {
      const spec: any = defaultSpec();
      spec.root = { path: root, readonly: false };
      spec.process.args = ['sh', '-c', COUNTER];
      spec.process.terminal = false;
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, 'config.json'), JSON.stringify(spec, null, 2));
    };
    bundle('count', rootfs('rootfs', true));
    // Another container's bundle: the checkpointed program is not in its rootfs.
    bundle('other', rootfs('other-rootfs', false));
    fs.mkdirSync(path.join(dir, 'not-a-checkpoint'));
    fs.writeFileSync(path.join(dir, 'guest.sh'), moduleLoadScript(CRIU_MODULES) + guestScript(dir));
    try {
      guest = await runInGuest(`sh ${dir}/guest.sh`, { timeoutMs: 540_000 });
      printed.ran(guest);
      if (guest.timedOut) printed.failed(new Error(`the guest timed out\n${guest.stdout.slice(-3000)}`));
    } catch (e) {
      printed.failed(e as Error);
    }
  });

  after(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    assert.deepEqual(guestLeftovers(), [], 'no qemu and no run dir left');
  });

  test('CRIU works in the guest (criu check), and checkpoint dumps the running counter', { timeout: 600_000 }, (t) => {
    t.diagnostic(`guest: ${guest?.accel}, ${Math.round((guest?.ms ?? 0) / 1000)} s`);
    assert.equal(get('CRIU_CHECK'), 'Looks good.');
    assert.equal(get('RUN_STATE'), 'running');
    assert.equal(get('CKPT_RC'), '0', get('CKPT_ERR'));
    assert.equal(get('CKPT_INVENTORY'), 'yes');
    assert.match(get('CKPT_DESCRIPTORS'), /^\["\/dev\/null","pipe:\[\d+\]","\/dev\/null"\]$/, 'runc\'s descriptors.json: stdout was a pipe');
    assert.equal(get('CKPT_STATE'), 'stopped', 'without --leave-running the container is gone');
    assert.ok(Number(get('C0')) >= 3, `it counted (${get('C0')}) before the checkpoint`);
  });

  test('bad restores are refused and leave nothing: no image dir, an id that exists, no checkpoint, an image of another container', () => {
    assert.equal(get('NOIMG_RC'), '1');
    assert.match(get('NOIMG_ERR'), /open \S+\/no-such-images: no such file or directory/);
    assert.equal(get('NOIMG_LEFT'), 'state:no cgroup:no dir:no');
    assert.equal(get('EXISTS_RC'), '1');
    assert.match(get('EXISTS_ERR'), /container with id "c1" already exists/);
    assert.equal(get('EXISTS_STATE'), 'stopped', 'c1 as it was');
    assert.equal(get('NOTCKPT_RC'), '1');
    assert.match(get('NOTCKPT_ERR'), /holds no checkpoint \(no inventory\.img\)/);
    assert.equal(get('NOTCKPT_LEFT'), 'state:no cgroup:no');
    assert.equal(get('OTHER_RC'), '1');
    assert.match(get('OTHER_ERR'), /^restore: criu restore failed: Error \(/, 'CRIU\'s own reason');
    assert.equal(get('OTHER_LEFT'), 'state:no cgroup:no dir:no work:no', 'the work dir runa made is gone again');
  });

  test('restore: the counter goes on where it stopped, in a running container runa follows (state, exec, ps, cgroup, wait, kill, delete)', () => {
    assert.equal(get('RESTORE_RC'), '0', get('RESTORE_ERR'));
    assert.equal(get('RESTORE_STATE'), 'running');
    const c0 = Number(get('C0'));
    const first = Number(get('OUT2_FIRST'));
    assert.ok(first > c0 && first <= c0 + 2, `the restored process's first count on the restore's stdout (${first}) follows the checkpoint's (${c0}): the pipe is the caller's (--inherit-fd)`);
    assert.ok(Number(get('C1')) > first, 'and it keeps counting');
    assert.equal(get('PARENT'), 'nsinit', 'the restored init is its monitor\'s child (CRIU --restore-sibling)');
    assert.equal(get('CGROUP'), '0::/runa/c2', 'in the cgroup runa made for it');
    assert.equal(get('TIMENS'), 'own', 'CRIU restored it into a time namespace of its own');
    assert.equal(get('EXEC_RC'), '0');
    assert.ok(Number(get('EXEC_OUT')) >= first, 'exec reads the count inside');
    assert.equal(get('EXEC_TIMENS'), 'same', 'exec joins its time namespace (added to the config, as runc does)');
    assert.equal(get('PS_HAS_PID'), 'yes');
    assert.equal(get('WAIT_OUT'), '{"id":"c2","exitStatus":137}', 'wait reports the SIGKILL');
    assert.equal(get('KILLED_STATE'), 'stopped');
    assert.equal(get('DEL2_RC'), '0');
    assert.equal(get('DEL1_RC'), '0');
    assert.equal(get('LEFT'), 'list: cgroups: states: procs:', 'nothing left: no container, cgroup, state dir or process');
  });

  test('restore --pid-file -d (supervised): the pid file names the init, reparented as runc\'s is, which runa follows (not an init that dies with its parent); without -d restore waits and deletes', () => {
    assert.equal(get('SUP_CKPT_RC'), '0', get('SUP_CKPT_ERR'));
    assert.equal(get('SUP_RC'), '0', get('SUP_ERR'));
    assert.equal(get('SUP_STATE'), 'running');
    assert.equal(get('SUP_PIDFILE'), 'same');
    assert.equal(get('SUP_PARENT'), '1', 'CRIU\'s child, reparented on CRIU\'s exit (the guest\'s init: no subreaper above)');
    assert.equal(get('SUP_KILLED'), 'stopped', 'the monitor saw its exit through the pidfd');
    assert.equal(get('SUP_DEL_RC'), '0');
    assert.equal(get('PDEATH_RC'), '1');
    assert.match(get('PDEATH_ERR'), /criu-restore: (the restored process \d+ died as CRIU exited \(a parent-death signal\?|pidfd_open \d+ \(the restored process\))/, 'an image of a self-supervised container restored supervised');
    assert.equal(get('PDEATH_LEFT'), 'state:no cgroup:no dir:no');
    assert.equal(get('FG_STATE'), 'running');
    assert.equal(get('FG_RC'), '137', `the container's status (SIGKILL) ${get('FG_ERR')}`);
    assert.equal(get('FG_GONE'), 'yes', 'and it was deleted');
  });
}

/** The guest's script: KEY=value lines. */
function guestScript(dir: string): string {
  return `
ip link set lo up
D=${dir}
R="${runaBin} --root ${ROOT}"
cd $D
echo "CRIU_CHECK=$(criu check 2>&1 | tail -1)"
status() { $R state $1 2>/dev/null | sed -n 's/.*"status": "\\([a-z]*\\)".*/\\1/p'; }
pidof_c() { $R state $1 2>/dev/null | sed -n 's/.*"pid": \\([0-9]*\\).*/\\1/p'; }
waitfor() { for i in $(seq 90); do [ "$(status $1)" = "$2" ] && return 0; sleep 1; done; return 1; }
left() { s=no; $R state $1 >/dev/null 2>&1 && s=yes; c=no; [ -e /sys/fs/cgroup/runa/$1 ] && c=yes; d=no; [ -e ${ROOT}/$1 ] && d=yes; echo "state:$s cgroup:$c dir:$d"; }
( $R run -d -b $D/count c1 2>&1 ) | cat > $D/out1 &
waitfor c1 running
echo "RUN_STATE=$(status c1)"
for i in $(seq 60); do [ "$(cat $D/rootfs/tmp/count 2>/dev/null || echo 0)" -ge 3 ] && break; sleep 1; done
$R checkpoint --image-path $D/img c1 2>$D/err; echo "CKPT_RC=$?"; echo "CKPT_ERR=$(cat $D/err)"
[ -f $D/img/inventory.img ] && echo CKPT_INVENTORY=yes
echo "CKPT_DESCRIPTORS=$(cat $D/img/descriptors.json)"
echo "CKPT_STATE=$(status c1)"
C0=$(cat $D/rootfs/tmp/count); echo "C0=$C0"

$R restore -d --image-path $D/no-such-images -b $D/count c9 2>$D/err; echo "NOIMG_RC=$?"; echo "NOIMG_ERR=$(cat $D/err)"
echo "NOIMG_LEFT=$(left c9)"
$R restore -d --image-path $D/img -b $D/count c1 2>$D/err; echo "EXISTS_RC=$?"; echo "EXISTS_ERR=$(cat $D/err)"
echo "EXISTS_STATE=$(status c1)"
$R restore -d --image-path $D/not-a-checkpoint -b $D/count c8 2>$D/err; echo "NOTCKPT_RC=$?"; echo "NOTCKPT_ERR=$(cat $D/err)"
echo "NOTCKPT_LEFT=$(left c8 | cut -d' ' -f1,2)"
$R restore -d --image-path $D/img --work-path $D/work3 -b $D/other c3 2>$D/err </dev/null >/dev/null; echo "OTHER_RC=$?"; echo "OTHER_ERR=$(head -1 $D/err)"
w=no; [ -e $D/work3 ] && w=yes; echo "OTHER_LEFT=$(left c3) work:$w"

( $R restore -d --image-path $D/img -b $D/count c2 2>$D/err2; echo "RESTORE_RC=$?" > $D/rc2 ) | cat > $D/out2 &
waitfor c2 running
for i in $(seq 30); do [ -s $D/rc2 ] && break; sleep 1; done
cat $D/rc2; echo "RESTORE_ERR=$(cat $D/err2)"
echo "RESTORE_STATE=$(status c2)"
for i in $(seq 30); do [ "$(grep -c . $D/out2)" -ge 3 ] && break; sleep 1; done
echo "OUT2_FIRST=$(head -1 $D/out2)"
sleep 1; echo "C1=$(cat $D/rootfs/tmp/count)"
P=$(pidof_c c2)
PP=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$P/status); case "$(cat /proc/$PP/cmdline | tr '\\0' ' ')" in *nsinit*) echo PARENT=nsinit;; *) echo "PARENT=$(cat /proc/$PP/cmdline | tr '\\0' ' ')";; esac
echo "CGROUP=$(cat /proc/$P/cgroup)"
[ "$(readlink /proc/$P/ns/time)" != "$(readlink /proc/self/ns/time)" ] && echo TIMENS=own
E=$($R exec c2 sh -c 'cat /tmp/count; readlink /proc/self/ns/time' 2>&1); echo "EXEC_RC=$?"
echo "EXEC_OUT=$(echo "$E" | head -1)"; echo "EXEC_NS=$(echo "$E" | tail -1) init:$(readlink /proc/$P/ns/time)"
[ "$(echo "$E" | tail -1)" = "$(readlink /proc/$P/ns/time)" ] && echo EXEC_TIMENS=same
$R ps c2 | grep -q " $P " && echo PS_HAS_PID=yes
$R wait c2 > $D/wait 2>&1 & WP=$!
sleep 2
$R kill c2 KILL
waitfor c2 stopped; echo "KILLED_STATE=$(status c2)"
wait $WP; echo "WAIT_OUT=$(cat $D/wait)"
$R delete c2; echo "DEL2_RC=$?"

# Supervised (--pid-file, -d): CRIU's child, reparented on its exit (to the guest's init: no subreaper here), followed by pidfd.
# From a container created supervised too: a self-supervised init dies with its parent (PR_SET_PDEATHSIG, which CRIU restores).
( $R run -d --pid-file $D/pid6 -b $D/count c6 2>&1 ) | cat > $D/out6 &
waitfor c6 running
$R checkpoint --image-path $D/img6 c6 2>$D/err6; echo "SUP_CKPT_RC=$?"; echo "SUP_CKPT_ERR=$(cat $D/err6)"
$R delete c6
$R restore -d --pid-file $D/pid4 --image-path $D/img6 -b $D/count c4 </dev/null >/dev/null 2>$D/err4; echo "SUP_RC=$?"; echo "SUP_ERR=$(cat $D/err4)"
echo "SUP_STATE=$(status c4)"
P4=$(pidof_c c4); [ -n "$P4" ] && [ "$(cat $D/pid4)" = "$P4" ] && echo SUP_PIDFILE=same
echo "SUP_PARENT=$(sed -n 's/^PPid:[[:space:]]*//p' /proc/$P4/status)"
$R kill c4 KILL; waitfor c4 stopped; echo "SUP_KILLED=$(status c4)"
$R delete c4; echo "SUP_DEL_RC=$?"
# The self-supervised c1's image restored supervised: its init dies as CRIU exits (its restored parent-death signal).
$R restore -d --pid-file $D/pid7 --image-path $D/img -b $D/count c7 </dev/null >/dev/null 2>$D/err7; echo "PDEATH_RC=$?"; echo "PDEATH_ERR=$(cat $D/err7)"
echo "PDEATH_LEFT=$(left c7)"
# In the foreground: restore waits for the container, deletes it and exits with its status, as run.
( $R restore --image-path $D/img -b $D/count c5 </dev/null >/dev/null 2>$D/err5; echo "FG_RC=$?" > $D/rc5 ) &
waitfor c5 running; echo "FG_STATE=$(status c5)"
$R kill c5 KILL
for i in $(seq 60); do [ -s $D/rc5 ] && break; sleep 1; done
cat $D/rc5; echo "FG_ERR=$(cat $D/err5)"
$R state c5 >/dev/null 2>&1 || echo FG_GONE=yes
# Deleted last: a stopped container keeps the daemon from leaving idle (the Node.js CLI's restore and checkpoint wait 10 s for a new one).
$R delete c1; echo "DEL1_RC=$?"
sleep 1
echo "LEFT=list:$($R list -q) cgroups:$(ls /sys/fs/cgroup/runa 2>/dev/null | grep -v '^cgroup\\.\\|\\.' | tr '\\n' ' ') states:$(ls ${ROOT} 2>/dev/null | grep -v '^daemon\\|^runa\\.sock' | tr '\\n' ' ') procs:$(ps -eo args | grep -c '[s]h -c exec </dev/null' | sed 's/^0$//')"
`;
}

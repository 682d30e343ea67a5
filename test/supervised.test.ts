// Process identity in both modes. Supervised: a caller that passes --pid-file (containerd's
// shim, conmon) is a child subreaper; the pid it gets is the container's init, in all of the
// container's namespaces, and becomes its child, whose exit status it reaps. Self-supervised:
// runa's monitor is the init's parent and keeps its exact status for `wait`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, alive, runaBin, monitorOf, until } from './helpers/runa.js';
import { havePython } from './helpers/console.js';

const sb = new Sandbox('supervised');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

// A caller like the shim or conmon: a child subreaper that runs runa, then reaps what it is given.
const CALLER = `
import ctypes, json, os, subprocess, sys, time
libc = ctypes.CDLL(None, use_errno=True)
assert libc.prctl(36, 1, 0, 0, 0) == 0  # PR_SET_CHILD_SUBREAPER
out = {"self": os.getpid(), "steps": []}
def ppid(pid):
    return int(open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[1])
for step in json.loads(sys.argv[1]):
    kind = step[0]
    if kind == "runa":
        # Files, not pipes: without a console the container's stdio is the caller's, held open while it runs.
        with open("%s.out" % sys.argv[2], "w+") as o, open("%s.err" % sys.argv[2], "w+") as e:
            r = subprocess.run(step[1], stdout=o, stderr=e, stdin=subprocess.DEVNULL, timeout=60)
            o.seek(0); e.seek(0)
            out["steps"].append({"code": r.returncode, "stdout": o.read(), "stderr": e.read()})
    elif kind == "pid":
        pid = int(open(step[1]).read())
        out["steps"].append({"pid": pid, "ppid": ppid(pid), "ns": {n: os.readlink("/proc/%d/ns/%s" % (pid, n)) for n in ["mnt", "pid", "net", "uts", "ipc", "cgroup"]}})
    elif kind == "reap":
        pid = int(open(step[1]).read())
        deadline = time.time() + 30
        while True:
            got, status = os.waitpid(pid, os.WNOHANG)
            if got == pid:
                out["steps"].append({"reaped": pid, "status": os.waitstatus_to_exitcode(status)})
                break
            if time.time() > deadline:
                out["steps"].append({"reaped": None})
                break
            time.sleep(0.01)
print(json.dumps(out))
`;

type Step = ['runa', string[]] | ['pid', string] | ['reap', string];

/** Run the steps in a subreaper caller; runa is called with this sandbox's root. */
function caller(steps: Step[]): { self: number; steps: any[] } {
  const argv = steps.map((s) => (s[0] === 'runa' ? ['runa', [runaBin, '--root', sb.root, ...s[1]]] : s));
  const r = spawnSync('python3', ['-c', CALLER, JSON.stringify(argv), path.join(sb.dir, 'caller')], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

const state = async (id: string) => JSON.parse((await sb.run(['state', id])).stdout);
const skip = !havePython() && 'python3 is needed for the subreaper caller';

test('create --pid-file: the pid is the init, the caller\'s child, in all the container\'s namespaces; the caller reaps its status', { skip }, async () => {
  const bundle = await sb.bundle(['sh', '-c', 'while [ ! -e /tmp/go ]; do sleep 0.05; done; exit 42'], (s) => {
    s.mounts.push({ destination: '/tmp', type: 'tmpfs', source: 'tmpfs' });
  });
  const pidFile = path.join(sb.dir, 'c1.pid');
  const out = caller([
    ['runa', ['create', '-b', bundle, '--pid-file', pidFile, 'c1']],
    ['pid', pidFile],
    ['runa', ['start', 'c1']],
    ['runa', ['exec', 'c1', 'sh', '-c', 'for n in mnt pid net uts ipc cgroup; do readlink /proc/self/ns/$n; done']],
    ['runa', ['exec', 'c1', 'touch', '/tmp/go']],
    ['reap', pidFile],
  ]);
  const [create, pid, start, execNs] = out.steps;
  assert.equal(create.code, 0, create.stderr);
  assert.equal(pid.ppid, out.self, 'the init is the caller\'s child once runa create returned');
  // exec's view is the container's: the pid names a process in each of them.
  assert.equal(execNs.code, 0, execNs.stderr);
  assert.deepEqual(execNs.stdout.trim().split('\n'), ['mnt', 'pid', 'net', 'uts', 'ipc', 'cgroup'].map((n) => pid.ns[n]));
  assert.equal(start.code, 0, start.stderr);
  const reaped = out.steps[out.steps.length - 1];
  assert.deepEqual(reaped, { reaped: pid.pid, status: 42 }, 'the caller reaps the init and gets its exit status');
  const s = await state('c1');
  assert.equal(s.status, 'stopped');
  assert.equal((await sb.run(['delete', 'c1'])).code, 0);
});

test('exec -d --pid-file of a process that exits at once: the caller reaps it after runa returns, status intact', { skip }, async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', bundle, 'c2'])).code, 0);
  const pidFile = path.join(sb.dir, 'e2.pid');
  for (let i = 0; i < 5; i++) {
    const out = caller([['runa', ['exec', '-d', '--pid-file', pidFile, 'c2', 'sh', '-c', `exit ${10 + i}`]], ['reap', pidFile]]);
    assert.equal(out.steps[0].code, 0, out.steps[0].stderr);
    assert.deepEqual(out.steps[1], { reaped: Number(fs.readFileSync(pidFile, 'utf8')), status: 10 + i });
  }
  assert.equal((await sb.run(['delete', '-f', 'c2'])).code, 0);
});

test('a supervised container outlives a killed monitor; kill and state still reach it', { skip }, async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  const pidFile = path.join(sb.dir, 'c3.pid');
  const r = await sb.run(['run', '-d', '--pid-file', pidFile, '-b', bundle, 'c3']);
  assert.equal(r.code, 0, r.stderr);
  const init = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.equal((await state('c3')).pid, init);
  const monitor = JSON.parse(fs.readFileSync(path.join(sb.root, 'c3', 'state.json'), 'utf8')).monitorPid as number;
  assert.notEqual(monitorOf(init), monitor, 'the monitor is not the init\'s parent');
  process.kill(monitor, 'SIGKILL');
  await until(() => !alive(monitor), 'monitor gone');
  assert.ok(alive(init), 'the init is the caller\'s, not the monitor\'s: it lives on');
  assert.equal((await state('c3')).status, 'running');
  const k = await sb.run(['kill', 'c3', 'KILL']);
  assert.equal(k.code, 0, k.stderr);
  await until(() => !alive(init), 'init killed');
  await until(async () => (await state('c3')).status === 'stopped', 'stopped');
  const d = await sb.run(['delete', 'c3']);
  assert.equal(d.code, 0, `delete: ${d.stderr}`);
});

test('a daemon killed -9 re-adopts a supervised container: state, kill, the stop and delete still work', async () => {
  const bundle = await sb.bundle(['sleep', '1000']);
  const pidFile = path.join(sb.dir, 'c5.pid');
  const r = await sb.run(['run', '-d', '--pid-file', pidFile, '-b', bundle, 'c5']);
  assert.equal(r.code, 0, r.stderr);
  const init = Number(fs.readFileSync(pidFile, 'utf8'));
  const daemon = sb.daemonPid()!;
  process.kill(daemon, 'SIGKILL');
  await until(() => !alive(daemon), 'daemon gone');
  // From disk alone, then from a new daemon that re-adopts it.
  assert.deepEqual([(await state('c5')).status, (await state('c5')).pid], ['running', init]);
  assert.equal((await sb.run(['kill', 'c5', 'KILL'])).code, 0);
  assert.notEqual(sb.daemonPid(), daemon, 'kill started a new daemon, which re-adopted the container');
  await until(() => !alive(init), 'init stopped');
  await until(async () => (await state('c5')).status === 'stopped', 'stopped');
  assert.deepEqual(JSON.parse((await sb.run(['wait', 'c5'])).stdout), { id: 'c5', exitStatus: -1 }, 'the status went to the caller');
  assert.equal((await sb.run(['delete', 'c5'])).code, 0);
});

test('self-supervised (no --pid-file): state\'s pid is the init, runa\'s monitor its parent, wait has the exact status', async () => {
  const bundle = await sb.bundle(['sh', '-c', 'exit 7']);
  assert.equal((await sb.run(['create', '-b', bundle, 'c4'])).code, 0);
  const init = (await state('c4')).pid;
  assert.match(fs.readFileSync(`/proc/${monitorOf(init)}/comm`, 'utf8'), /nsinit/);
  const w = sb.run(['wait', 'c4']);
  assert.equal((await sb.run(['start', 'c4'])).code, 0);
  assert.deepEqual(JSON.parse((await w).stdout), { id: 'c4', exitStatus: 7 });
  assert.equal((await sb.run(['delete', 'c4'])).code, 0);
});

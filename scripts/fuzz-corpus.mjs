#!/usr/bin/env node
// Writes the plan fuzzer's seed corpus and dictionary (native/fuzz/corpus/, native/fuzz/plan.dict)
// from runa's own plan builder and encoder: the plans runa emits for a few representative specs,
// encoded exactly as nsinit reads them, and two monitor.sock requests. Regression inputs (native/fuzz/corpus/regress-*) are
// kept as they are.
//
// Usage: npm run build && node scripts/fuzz-corpus.mjs
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p) => import(join(ROOT, 'dist', p));
const { buildPlan, buildExecPlan, readHostFacts, readExecHostFacts } = await dist('src/oci/plan.js');
const { encodePlan } = await dist('src/nsinit/plan.js');
const { parseSpec } = await dist('src/oci/spec.js');
const { defaultSpec } = await dist('src/oci/default-spec.js');
const { compileSeccomp, listenerState } = await dist('src/seccomp/index.js');
const { containerPlan } = await dist('test/helpers/nsinit.js');
const { stracePlan } = await dist('src/oci/plan/strace.js');

const CORPUS = join(ROOT, 'native/fuzz/corpus');
const ROOTFS = '/run/runa/bundle/rootfs';
const STATE = '/run/runa/state/c1';
const hostCgroups = [{ dir: '/sys/fs/cgroup', fstype: 'cgroup2', options: 'rw,nosuid,nodev,noexec,relatime' }];

/** runc's default spec, changed by `edit`. */
function spec(edit = (s) => s) {
  const s = defaultSpec();
  s.process.terminal = false;
  return parseSpec(edit(s));
}

function container(s, more = {}) {
  const input = {
    spec: s, stateDir: STATE, rootfs: ROOTFS, resolve: (p) => join(ROOTFS, p), hostCgroups,
    cgroupDirs: { monitor: ['/sys/fs/cgroup/runa/c1'], child: ['/sys/fs/cgroup/runa/c1'] }, ...more,
  };
  return buildPlan(input, readHostFacts(input));
}

const exec = (input) => buildExecPlan(input, readExecHostFacts(input));

const docker = JSON.parse(readFileSync(join(ROOT, 'test/data/seccomp-docker.json'), 'utf8'));
const notify = { defaultAction: 'SCMP_ACT_ALLOW', listenerPath: '/run/agent.sock',
  syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_NOTIFY' }] };
const seccomp = (profile) => {
  const filter = compileSeccomp(profile);
  return { filter, listenerState: filter.notify
    ? listenerState({ ociVersion: '1.2.0', id: 'c1', status: 'creating', bundle: '/run/runa/bundle' }) : undefined };
};

const plans = {
  // runc spec as it is (without a terminal)
  'default': container(spec()),
  // a terminal through --console-socket, and one relayed by the monitor
  'console-socket': container(spec((s) => ({ ...s, process: { ...s.process, terminal: true } })),
    { console: 'socket', consoleSocket: '/run/console.sock' }),
  'console-proxy': container(spec((s) => ({ ...s, process: { ...s.process, terminal: true } })), { console: 'proxy' }),
  // rootless-style: a user namespace, bind mounts held before it, an overlay, hooks, supervised
  'userns': container(spec((s) => ({
    ...s,
    root: { path: 'rootfs', readonly: false },
    process: { ...s.process, user: { uid: 1000, gid: 1000, additionalGids: [10, 100] }, cwd: '/home/user' },
    mounts: [...s.mounts.filter((m) => m.type !== 'cgroup' && m.type !== 'mqueue' && m.type !== 'sysfs'),
      { destination: '/sys', type: 'bind', source: '/sys', options: ['rbind', 'nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'rro'] },
      { destination: '/tmp', type: 'tmpfs', source: 'tmpfs', options: ['tmpcopyup', 'mode=1777'] }],
    hooks: { createRuntime: [{ path: '/bin/true' }], createContainer: [{ path: '/bin/true' }] },
    linux: { ...s.linux, namespaces: [...s.linux.namespaces, { type: 'user' }],
      uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] },
  })), { overlay: true, supervised: true }),
  // rootless: an unprivileged monitor maps the user's own ids by itself and a wider range
  // through newuidmap/newgidmap (the userns-rootless op), and sets no groups
  'rootless': container(spec((s) => ({
    ...s,
    mounts: s.mounts.filter((m) => m.type !== 'cgroup'),
    linux: { ...s.linux, namespaces: [...s.linux.namespaces, { type: 'user' }],
      uidMappings: [{ containerID: 0, hostID: 1000, size: 1 }, { containerID: 1, hostID: 200000, size: 65536 }],
      gidMappings: [{ containerID: 0, hostID: 1000, size: 1 }] },
  })), { cgroupDirs: undefined, unprivileged: { uid: 1000, gid: 1000, newuidmap: '/usr/bin/newuidmap', newgidmap: '/usr/bin/newgidmap' } }),
  // linux.netDevices (netdev, netdev-move) and idmapped binds (hold, idmap-userns, hold-idmap);
  // `lo` is the one interface every runtime namespace has (the planner checks it is there)
  'netdev-idmap': container(spec((s) => ({
    ...s,
    mounts: [...s.mounts,
      { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ridmap'],
        uidMappings: [{ containerID: 1000, hostID: 0, size: 1 }], gidMappings: [{ containerID: 1000, hostID: 0, size: 1 }] },
      { destination: '/more', type: 'bind', source: '/srv/more', options: ['bind', 'ro'],
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }] }],
    linux: { ...s.linux, netDevices: { lo: { name: 'ctr0' } } },
  }))),
  // docker's seccomp profile, and a user-notification listener
  'seccomp-docker': container(spec(), { seccomp: seccomp(docker) }),
  'seccomp-notify': container(spec(), { seccomp: seccomp(notify) }),
  // `runa exec` into a running container
  'exec': exec({
    process: { ...spec().process, args: ['ps', 'aux'], env: ['PATH=/bin', 'A=b'] }, execDir: `${STATE}/exec/e1`, initPid: 4242,
    namespaces: ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'], cgroupDirs: { monitor: [], child: ['/sys/fs/cgroup/runa/c1'] },
  }),
  // a --strace plan (nsinit --strace FILE): the log, then the syscalls and their arguments' kinds
  'strace': stracePlan({ log: '/run/runa/debug.log', format: 'text', logSize: 64, syscalls: ['openat', 'read', 'write', 'mmap', 'execve', 'clone', 'fcntl', 'exit_group'] }, 'x86_64'),
  // the plan nsinit's own tests run
  'nsinit-test': containerPlan(ROOTFS, STATE, ['/bin/sh', '-c', 'echo hi'], { hostname: 'h' }),
};

mkdirSync(CORPUS, { recursive: true });
for (const f of readdirSync(CORPUS)) if (!f.startsWith('regress-')) rmSync(join(CORPUS, f));
for (const [name, plan] of Object.entries(plans)) writeFileSync(join(CORPUS, `${name}.plan`), encodePlan(plan));
// The same harness parses its input as a monitor.sock request line too (PROTOCOL.md).
const requests = { start: { type: 'monitor.start' }, signal: { type: 'monitor.signal', signal: 15 } };
for (const [name, r] of Object.entries(requests)) writeFileSync(join(CORPUS, `request-${name}.json`), `${JSON.stringify(r)}\n`);

// The dictionary: every op name (from native/plan.h, the grammar nsinit decodes), then the
// words its arguments take, then those of a request line.
const ops = [...readFileSync(join(ROOT, 'native/plan.h'), 'utf8').matchAll(/X\(\w+, "([a-z_-]+)", "[a-z]*"\)/g)].map((m) => m[1]);
if (ops.length < 40) throw new Error(`native/plan.h: only ${ops.length} ops found`);
const words = ['mnt', 'uts', 'ipc', 'net', 'pid', 'cgroup', 'user', 'time', 'unlimited', '0x', '0755', '18446744073709551615',
  '18446744073709551616', '-1', ',', '0000000000000000', '"type"', '"signal"', '"monitor.start"', '"monitor.signal"', ':', '\\u0000'];
const esc = (s) => s.replace(/[\\"]/g, (c) => `\\${c}`);
writeFileSync(join(ROOT, 'native/fuzz/plan.dict'), [
  '# libFuzzer dictionary for native/fuzz/plan_fuzz (written by scripts/fuzz-corpus.mjs)',
  ...ops.map((o) => `"${esc(o)}\\x00"`),
  ...words.map((w) => `"${esc(w)}"`),
  '',
].join('\n'));
console.log(`${Object.keys(plans).length} plans, ${Object.keys(requests).length} requests and ${ops.length} op names written`);

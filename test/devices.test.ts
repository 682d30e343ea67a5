// linux.resources.devices on cgroup v2: runc's rule semantics (src/cgroups/devices.ts), the
// compiled eBPF program checked instruction by instruction against those semantics, and the
// program loaded into the kernel and attached to a real cgroup2 directory (on a hybrid host the
// unified mount serves: device programs work there too), seen from a process inside it.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ACC, BPF_OPCODES as OP, DEV, compileDeviceProgram, deviceAllowed, emulateDeviceRules, type DeviceState, type DeviceType,
} from '../src/cgroups/devices.js';
import { attachDeviceProgram, detectCgroups, RUNC_DEFAULT_DEVICE_RULES, Cgroup, type LinuxDeviceCgroup } from '../src/cgroups/index.js';
import { cgroupBpfPath } from '../src/paths.js';

/** Run a compiled program (the subset devices.ts emits) on one access, as the kernel would. */
function runProgram(prog: Buffer, type: DeviceType, major: number, minor: number, access: number): number {
  const ctx = [((access << 16) | DEV[type]) >>> 0, major >>> 0, minor >>> 0];
  const reg = new Array<number>(11).fill(0);
  let pc = 0;
  for (let steps = 0; steps < 100000; steps++) {
    assert.ok(pc >= 0 && pc * 8 < prog.length, `pc ${pc} out of the program`);
    const code = prog[pc * 8];
    const dst = prog[pc * 8 + 1] & 0xf;
    const src = prog[pc * 8 + 1] >> 4;
    const off = prog.readInt16LE(pc * 8 + 2);
    const imm = prog.readInt32LE(pc * 8 + 4);
    pc++;
    switch (code) {
      case OP.LDX_MEM_W: assert.equal(src, 1); assert.equal(off % 4, 0); reg[dst] = ctx[off / 4]; break;
      case OP.ALU_AND_K: reg[dst] = (reg[dst] & imm) >>> 0; break;
      case OP.ALU_RSH_K: reg[dst] = reg[dst] >>> imm; break;
      case OP.ALU_MOV_K: reg[dst] = imm >>> 0; break;
      case OP.ALU_MOV_X: reg[dst] = reg[src]; break;
      case OP.JMP_JNE_K: if (reg[dst] !== imm >>> 0) pc += off; break;
      case OP.JMP_JNE_X: if (reg[dst] !== reg[src]) pc += off; break;
      case OP.JMP_EXIT: return reg[0];
      default: assert.fail(`unexpected opcode 0x${code.toString(16)} at ${pc - 1}`);
    }
  }
  assert.fail('the program does not end');
}

const R = (allow: boolean, type?: 'a' | 'b' | 'c', major?: number, minor?: number, access?: string): LinuxDeviceCgroup =>
  ({ allow, ...(type ? { type } : {}), ...(major !== undefined ? { major } : {}), ...(minor !== undefined ? { minor } : {}), ...(access !== undefined ? { access } : {}) });

describe('device rules: semantics and the compiled program', () => {
  test('runc\'s default rules: deny-all, then the usual devices, pts and mknod of anything', () => {
    const s = emulateDeviceRules([R(false, 'a', -1, -1, 'rwm'), ...RUNC_DEFAULT_DEVICE_RULES]);
    assert.equal(s.defaultAllow, false);
    const prog = compileDeviceProgram(s);
    const cases: Array<[DeviceType, number, number, number, boolean]> = [
      ['c', 1, 3, ACC.r | ACC.w, true], // /dev/null
      ['c', 136, 7, ACC.r | ACC.w, true], // /dev/pts/7
      ['c', 1, 1, ACC.r, false], // /dev/mem
      ['c', 1, 1, ACC.m, true], // mknod of any char device
      ['b', 8, 0, ACC.m, true],
      ['b', 8, 0, ACC.r, false], // /dev/sda
      ['c', 10, 200, ACC.w, false], // /dev/net/tun
      ['c', 5, 2, ACC.r | ACC.w | ACC.m, true], // /dev/ptmx
    ];
    for (const [t, maj, min, acc, want] of cases) {
      assert.equal(deviceAllowed(s, t, maj, min, acc), want, `${t} ${maj}:${min} ${acc}`);
      assert.equal(runProgram(prog, t, maj, min, acc), want ? 1 : 0, `program: ${t} ${maj}:${min} ${acc}`);
    }
  });

  test('order matters: allow-all then deny, deny-all then allow, later rules taking back earlier ones', () => {
    const black = emulateDeviceRules([R(true, 'a'), R(false, 'c', 1, 7, 'w'), R(false, 'b', -1, -1, 'r')]);
    assert.equal(black.defaultAllow, true);
    assert.equal(deviceAllowed(black, 'c', 1, 7, ACC.w), false);
    assert.equal(deviceAllowed(black, 'c', 1, 7, ACC.r), true);
    assert.equal(deviceAllowed(black, 'b', 8, 1, ACC.r), false);
    assert.equal(deviceAllowed(black, 'b', 8, 1, ACC.w), true);
    // An allow that agrees with the default removes the deny exception again.
    const back = emulateDeviceRules([R(true, 'a'), R(false, 'c', 1, 7, 'rw'), R(true, 'c', 1, 7, 'w')]);
    assert.equal(deviceAllowed(back, 'c', 1, 7, ACC.w), true);
    assert.equal(deviceAllowed(back, 'c', 1, 7, ACC.r), false);
    // A later "a" rule resets everything before it.
    const reset = emulateDeviceRules([R(true, 'c', 1, 3, 'rwm'), R(false, 'a')]);
    assert.deepEqual(reset, { defaultAllow: false, exceptions: [] });
    // "a" with numbers or partial access stands for c and b.
    const both = emulateDeviceRules([R(false, 'a'), R(true, 'a', 1, 3, 'r')]);
    assert.equal(deviceAllowed(both, 'b', 1, 3, ACC.r), true);
    assert.equal(deviceAllowed(both, 'c', 1, 3, ACC.r), true);
    assert.equal(deviceAllowed(both, 'c', 1, 3, ACC.w), false);
    // Absent access is rwm; empty access changes nothing.
    assert.equal(deviceAllowed(emulateDeviceRules([R(true, 'c', 1, 3)]), 'c', 1, 3, ACC.r | ACC.w | ACC.m), true);
    assert.deepEqual(emulateDeviceRules([R(true, 'c', 1, 3, '')]), { defaultAllow: false, exceptions: [] });
    // No rules at all: runc's starting point, deny everything.
    assert.equal(runProgram(compileDeviceProgram(emulateDeviceRules([])), 'c', 1, 3, ACC.r), 0);
  });

  test('a deny that would punch a hole in a wildcard allow is refused, naming the rule', () => {
    assert.throws(() => emulateDeviceRules([R(false, 'a'), R(true, 'c', -1, -1, 'rwm'), R(false, 'c', 1, 3, 'w')]),
      /^Error: linux\.resources\.devices\[2\]: requested rule \[c 1:3 w\] cannot be applied: it would punch a hole in the wildcard rule \[c \*:\* rwm\]/);
    assert.throws(() => emulateDeviceRules([R(true, 'a'), R(false, 'b', 8, -1, 'r'), R(true, 'b', 8, 1, 'r')]), /punch a hole in the wildcard rule \[b 8:\* r\]/);
    // Taking away access the wildcard does not have is fine.
    emulateDeviceRules([R(false, 'a'), R(true, 'c', -1, -1, 'm'), R(false, 'c', 1, 3, 'r')]);
    assert.throws(() => emulateDeviceRules([R(true, 'c', 4294967296, 1)]), /devices\[0\]\.major: 4294967296 is out of range/);
  });

  test('the program agrees with the rules\' semantics on 300 random rule lists, 200 accesses each', () => {
    let seed = 0x5eed;
    const rnd = (n: number) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    const pick = <T>(xs: readonly T[]) => xs[rnd(xs.length)];
    const nums = [-1, 1, 3, 5, 136];
    const accs = ['r', 'w', 'm', 'rw', 'rm', 'wm', 'rwm'];
    let checked = 0;
    for (let i = 0; i < 300; i++) {
      const rules = Array.from({ length: 1 + rnd(8) }, () => R(rnd(2) === 0, pick(['a', 'b', 'c'] as const), pick(nums), pick(nums), pick(accs)));
      let s: DeviceState;
      try { s = emulateDeviceRules(rules); } catch { continue; } // a refused hole punch
      const prog = compileDeviceProgram(s);
      for (let j = 0; j < 200; j++) {
        const t = pick(['b', 'c'] as const);
        const maj = pick([1, 3, 5, 136, 7]);
        const min = pick([1, 3, 5, 136, 9]);
        const acc = 1 + rnd(7);
        assert.equal(runProgram(prog, t, maj, min, acc), deviceAllowed(s, t, maj, min, acc) ? 1 : 0, JSON.stringify({ rules, t, maj, min, acc }));
        checked++;
      }
    }
    assert.ok(checked > 30000, `only ${checked} accesses checked`);
  });
});

// --- the kernel ---

const isRoot = process.getuid?.() === 0;
const layout = (() => { try { return detectCgroups(); } catch { return null; } })();
const UNIFIED = layout?.v2 ?? null;
/** Can this host attach a device program? (BPF and a cgroup2 mount; probed once.) */
const kernelSkip = (() => {
  if (!isRoot) return 'needs root';
  if (!UNIFIED || !fs.existsSync(path.join(UNIFIED, 'cgroup.procs'))) return 'needs a cgroup2 mount';
  if (!fs.existsSync(cgroupBpfPath)) return `needs ${cgroupBpfPath} (npm run build)`;
  return false;
})();
const made: string[] = [];
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'runa-devices-'));
after(() => {
  for (const d of made.reverse()) { try { fs.rmdirSync(d); } catch { /* asserted below */ } }
  fs.rmSync(tmp, { recursive: true, force: true });
  assert.deepEqual(made.filter((d) => fs.existsSync(d)), [], 'every test cgroup removed');
});

function cgroupDir(): string {
  const d = path.join(UNIFIED!, `runa-devices-test-${crypto.randomBytes(4).toString('hex')}`);
  fs.mkdirSync(d);
  made.push(d);
  return d;
}

/** From a shell inside `dir`: what it may open for reading and writing, and mknod. */
function probe(dir: string): Record<string, string> {
  const node = path.join(tmp, `node-${crypto.randomBytes(3).toString('hex')}`);
  const script = [
    `echo $$ > ${dir}/cgroup.procs`,
    'for d in null zero full; do',
    '  ( : < /dev/$d ) 2>>"$ERR" && echo "$d.r=ok" || echo "$d.r=no"',
    '  ( : >> /dev/$d ) 2>>"$ERR" && echo "$d.w=ok" || echo "$d.w=no"',
    'done',
    `mknod ${node} c 1 7 2>>"$ERR" && echo mknod=ok || echo mknod=no`,
    `rm -f ${node}`,
  ].join('\n');
  const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH, ERR: path.join(tmp, 'err') } });
  assert.equal(r.status, 0, r.stderr);
  return Object.fromEntries(r.stdout.trim().split('\n').map((l) => l.split('=') as [string, string]));
}

const programs = (dir: string) => spawnSync(cgroupBpfPath, ['query', dir], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean);

describe('device rules in the kernel (a real cgroup2 directory)', () => {
  test('attached: what the rules deny fails with EPERM inside, the rest works; an update replaces the program', { skip: kernelSkip }, () => {
    const dir = cgroupDir();
    // Deny everything but /dev/null and reading /dev/zero; no mknod.
    attachDeviceProgram(dir, [R(false, 'a'), R(true, 'c', 1, 3, 'rw'), R(true, 'c', 1, 5, 'r')]);
    assert.equal(programs(dir).length, 1);
    const first = programs(dir)[0];
    assert.deepEqual(probe(dir), {
      'null.r': 'ok', 'null.w': 'ok', 'zero.r': 'ok', 'zero.w': 'no', 'full.r': 'no', 'full.w': 'no', mknod: 'no',
    });
    assert.match(fs.readFileSync(path.join(tmp, 'err'), 'utf8'), /Operation not permitted/);
    // update: one program still, a new one, with the new rules in force.
    attachDeviceProgram(dir, [R(false, 'a'), ...RUNC_DEFAULT_DEVICE_RULES]);
    const now = programs(dir);
    assert.equal(now.length, 1);
    assert.notEqual(now[0], first);
    assert.deepEqual(probe(dir), {
      'null.r': 'ok', 'null.w': 'ok', 'zero.r': 'ok', 'zero.w': 'ok', 'full.r': 'ok', 'full.w': 'ok', mknod: 'ok',
    });
    attachDeviceProgram(dir, [R(true, 'a'), R(false, 'c', 1, 7, 'rwm')]);
    assert.deepEqual(probe(dir), {
      'null.r': 'ok', 'null.w': 'ok', 'zero.r': 'ok', 'zero.w': 'ok', 'full.r': 'no', 'full.w': 'no', mknod: 'no',
    });
    assert.equal(programs(dir).length, 1);
  });

  test('a refusal is an error naming the cgroup, and the old rules stay in force', { skip: kernelSkip }, () => {
    const dir = cgroupDir();
    attachDeviceProgram(dir, [R(false, 'a'), R(true, 'c', 1, 3, 'rw')]);
    const before = programs(dir);
    // The compiler refuses (a hole in a wildcard rule): nothing is loaded.
    assert.throws(() => attachDeviceProgram(dir, [R(false, 'a'), R(true, 'c', -1, -1, 'rwm'), R(false, 'c', 1, 3, 'w')]),
      /^CgroupError: linux\.resources\.devices\[2\]: requested rule/);
    // The kernel's verifier refuses a program (R6 read before it is written): its log is in the error.
    const bad = Buffer.from([0xbf, 0x60, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]); // mov r0, r6; exit
    const r = spawnSync(cgroupBpfPath, ['attach', dir], { input: bad, encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /the kernel's verifier said:[\s\S]*R6 !read_ok[\s\S]*cgroup-bpf: load the device program for .*: Permission denied/);
    // Not a cgroup: the kernel refuses the query, and says which directory.
    assert.throws(() => attachDeviceProgram(tmp, [R(false, 'a')]),
      new RegExp(`^CgroupError: linux\\.resources\\.devices: cannot apply: query the device programs of ${tmp}: `));
    assert.deepEqual(programs(dir), before);
    assert.deepEqual(probe(dir)['full.r'], 'no');
  });

  test('the v1 driver refuses the same hole punch before writing anything', () => {
    const fake = fs.mkdtempSync(path.join(tmp, 'v1-'));
    fs.mkdirSync(path.join(fake, 'sys/fs/cgroup/devices'), { recursive: true });
    const cg = Cgroup.open({ mode: 'v1', v1: { devices: '/sys/fs/cgroup/devices' }, v2: null }, '/runa/x', { root: fake });
    cg.create();
    const dir = cg.dirs.v1.devices;
    for (const f of ['devices.allow', 'devices.deny']) fs.writeFileSync(path.join(dir, f), '');
    assert.throws(() => cg.apply({ devices: [R(false, 'a'), R(true, 'c', -1, -1, 'rwm'), R(false, 'c', 1, 3, 'w')] }), /punch a hole/);
    assert.equal(fs.readFileSync(path.join(dir, 'devices.deny'), 'utf8'), '');
  });
});

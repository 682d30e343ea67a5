// linux.resources.devices on cgroup v2: the rule list, applied in order with cgroup v1's
// semantics (runc's devices emulator), compiled to a BPF_PROG_TYPE_CGROUP_DEVICE program that
// native/cgroup-bpf loads and attaches to the container's cgroup. Pure: rules in, bytes out.
import os from 'node:os';
import type { LinuxDeviceCgroup } from './types.js';

export type DeviceType = 'c' | 'b';
/** BPF_DEVCG_ACC_* (linux/bpf.h): the access bits the kernel asks about. */
export const ACC = { m: 1, r: 2, w: 4 } as const;
/** BPF_DEVCG_DEV_* (linux/bpf.h). */
export const DEV = { b: 1, c: 2 } as const;
const ALL = ACC.m | ACC.r | ACC.w;

/** One exception of the emulated list; -1 is a wildcard major or minor. */
export interface DeviceException { type: DeviceType; major: number; minor: number; access: number }

/** The rules' end state: a default and the exceptions to it (all of the other verdict). */
export interface DeviceState { defaultAllow: boolean; exceptions: DeviceException[] }

const num = (n: number | null | undefined) => (n === undefined || n === null ? -1 : n);
const accessBits = (a: string) => [...a].reduce((m, c) => m | ACC[c as keyof typeof ACC], 0);
const accessText = (bits: number) => (['r', 'w', 'm'] as const).filter((c) => bits & ACC[c]).join('');
const show = (t: string, maj: number, min: number, bits?: number) =>
  `${t} ${maj < 0 ? '*' : maj}:${min < 0 ? '*' : min}${bits === undefined ? '' : ` ${accessText(bits)}`}`;

/**
 * Apply the rules in order to runc's starting point (deny everything, no exceptions), as cgroup
 * v1 applies writes to devices.allow and devices.deny. A type "a" rule with wildcard numbers
 * and rwm resets the list (allow: everything allowed; deny: nothing); any other "a" rule stands
 * for the same rule on c and b (runa's reading on v1 too; runc would reset on any "a"). An
 * absent access is rwm; an empty one changes nothing. As runc refuses, a rule that removes part
 * of a wildcard exception ("cannot punch a hole") is an error: v1 would silently keep allowing it.
 */
export function emulateDeviceRules(rules: readonly LinuxDeviceCgroup[], field = 'linux.resources.devices'): DeviceState {
  let defaultAllow = false;
  let list = new Map<string, DeviceException>();
  const key = (t: string, maj: number, min: number) => `${t} ${maj}:${min}`;
  rules.forEach((d, i) => {
    const access = accessBits(d.access ?? 'rwm');
    const maj = num(d.major);
    const min = num(d.minor);
    const type = d.type ?? 'a';
    // Linux device numbers are 12 (major) and 20 (minor) bits; the program compares 32-bit words.
    for (const [what, n] of [['major', maj], ['minor', min]] as const) {
      if (n > 0x7fffffff) throw new Error(`${field}[${i}].${what}: ${n} is out of range (at most 2147483647)`);
    }
    if (type === 'a' && maj < 0 && min < 0 && access === ALL) {
      defaultAllow = d.allow;
      list = new Map();
      return;
    }
    if (access === 0) return;
    // An exception is added where the rule goes against the default, removed where it agrees.
    const adding = d.allow !== defaultAllow;
    for (const t of type === 'a' ? (['c', 'b'] as const) : [type]) {
      const k = key(t, maj, min);
      const have = list.get(k)?.access ?? 0;
      if (adding) {
        list.set(k, { type: t, major: maj, minor: min, access: have | access });
        continue;
      }
      for (const [pmaj, pmin] of [[-1, min], [maj, -1], [-1, -1]]) {
        if (pmaj === maj && pmin === min) continue;
        const wide = list.get(key(t, pmaj, pmin));
        if (wide && wide.access & access) {
          throw new Error(`${field}[${i}]: requested rule [${show(t, maj, min, access)}] cannot be applied: it would punch a hole in the wildcard rule [${show(t, pmaj, pmin, wide.access)}] (cgroup v1 would silently ignore it; runc refuses it too)`);
        }
      }
      const left = have & ~access;
      if (left) list.set(k, { type: t, major: maj, minor: min, access: left });
      else list.delete(k);
    }
  });
  const exceptions = [...list.values()].sort((a, b) =>
    a.type.localeCompare(b.type) || a.major - b.major || a.minor - b.minor);
  return { defaultAllow, exceptions };
}

/** The verdict of the emulated state for one access (what the program must answer). */
export function deviceAllowed(s: DeviceState, type: DeviceType, major: number, minor: number, access: number): boolean {
  const hit = s.exceptions.some((e) => e.type === type && (e.major < 0 || e.major === major)
    && (e.minor < 0 || e.minor === minor) && (access & ~e.access) === 0);
  return hit ? !s.defaultAllow : s.defaultAllow;
}

// --- eBPF (linux/bpf_common.h, linux/bpf.h): 8-byte instructions {code, dst|src<<4, off, imm} ---

const BPF = {
  LDX_MEM_W: 0x61, ALU_AND_K: 0x54, ALU_RSH_K: 0x74, ALU_MOV_K: 0xb4, ALU_MOV_X: 0xbc,
  JMP_JNE_K: 0x55, JMP_JNE_X: 0x5d, JMP_EXIT: 0x95,
} as const;
export const BPF_OPCODES = BPF;

interface Insn { code: number; dst: number; src: number; off: number; imm: number }
const insn = (code: number, dst = 0, src = 0, off = 0, imm = 0): Insn => ({ code, dst, src, off, imm });

/**
 * The program for a state: R1 points at struct bpf_cgroup_dev_ctx {u32 access_type (access << 16
 * | type); u32 major; u32 minor}. Each exception is a block that jumps to the next one on the
 * first mismatch and otherwise returns its verdict; the end returns the default. (The layout
 * is runc's devicefilter.)
 */
export function compileDeviceProgram(s: DeviceState): Buffer {
  const out: Insn[] = [
    insn(BPF.LDX_MEM_W, 2, 1, 0), insn(BPF.ALU_AND_K, 2, 0, 0, 0xffff), // R2 = type
    insn(BPF.LDX_MEM_W, 3, 1, 0), insn(BPF.ALU_RSH_K, 3, 0, 0, 16), // R3 = access
    insn(BPF.LDX_MEM_W, 4, 1, 4), // R4 = major
    insn(BPF.LDX_MEM_W, 5, 1, 8), // R5 = minor
  ];
  const verdict = s.defaultAllow ? 0 : 1;
  for (const e of s.exceptions) {
    const block: Insn[] = [insn(BPF.JMP_JNE_K, 2, 0, 0, DEV[e.type])];
    // The asked access must be within the exception's (skipped when it has all three).
    if (e.access !== ALL) block.push(insn(BPF.ALU_MOV_X, 1, 3), insn(BPF.ALU_AND_K, 1, 0, 0, e.access), insn(BPF.JMP_JNE_X, 1, 3));
    if (e.major >= 0) block.push(insn(BPF.JMP_JNE_K, 4, 0, 0, e.major));
    if (e.minor >= 0) block.push(insn(BPF.JMP_JNE_K, 5, 0, 0, e.minor));
    block.push(insn(BPF.ALU_MOV_K, 0, 0, 0, verdict), insn(BPF.JMP_EXIT));
    // Every jump goes to the first instruction after the block.
    block.forEach((b, i) => { if (b.code === BPF.JMP_JNE_K || b.code === BPF.JMP_JNE_X) b.off = block.length - i - 1; });
    out.push(...block);
  }
  out.push(insn(BPF.ALU_MOV_K, 0, 0, 0, s.defaultAllow ? 1 : 0), insn(BPF.JMP_EXIT));
  // struct bpf_insn is in the host's byte order, and so are its register bit fields.
  const le = os.endianness() === 'LE';
  const buf = Buffer.alloc(out.length * 8);
  out.forEach((b, i) => {
    buf.writeUInt8(b.code, i * 8);
    buf.writeUInt8(le ? (b.src << 4) | b.dst : (b.dst << 4) | b.src, i * 8 + 1);
    if (le) { buf.writeInt16LE(b.off, i * 8 + 2); buf.writeInt32LE(b.imm, i * 8 + 4); }
    else { buf.writeInt16BE(b.off, i * 8 + 2); buf.writeInt32BE(b.imm, i * 8 + 4); }
  });
  return buf;
}

/** The rules as a program, ready for native/cgroup-bpf. */
export function deviceProgram(rules: readonly LinuxDeviceCgroup[], field?: string): Buffer {
  return compileDeviceProgram(emulateDeviceRules(rules, field));
}

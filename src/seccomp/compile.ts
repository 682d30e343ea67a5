// Rules → a classic BPF program: an arch dispatch, then per arch a binary search on the
// syscall number over ranges that share one outcome; only syscalls with argument rules
// ever load an argument (so the kernel's per-syscall cache can skip the filter for the rest).
import { Builder, DATA, Label, type Insn } from './bpf.js';
import { ARCHES, X32_SYSCALL_BIT } from './arch.js';
import { ENOSYS, RET, type Condition, type Rule, type Rules } from './profile.js';
import type { SyscallArch } from './syscalls.js';

/** What a syscall whose arch the filter does not know gets (libseccomp's default). */
export const BAD_ARCH = RET.KILL_THREAD;

type Leaf = { ret: number } | { rules: Rule[] };
interface Range { lo: number; hi: number; leaf: Leaf }

const MAX_NR = 0xffffffff;
const lo32 = (v: bigint) => Number(v & 0xffffffffn);
const hi32 = (v: bigint) => Number((v >> 32n) & 0xffffffffn);

export function compileRules(r: Rules): Insn[] {
  const b = new Builder();
  b.load(DATA.arch);
  const audits = [...new Set(r.arches.map((a) => ARCHES[a].audit))];
  const sections = audits.map((audit) => {
    const l = new Label(`arch ${audit.toString(16)}`);
    b.jeq(audit, l, null);
    return l;
  });
  b.ret(BAD_ARCH);
  audits.forEach((audit, i) => {
    b.bind(sections[i]);
    b.load(DATA.nr);
    const here = r.arches.filter((a) => ARCHES[a].audit === audit);
    if (audit !== ARCHES.x86_64.audit) return search(b, r, here[0], 0, MAX_NR);
    // x86_64 and x32 share an audit arch: bit 30 of the number tells them apart.
    const x32 = new Label('x32');
    if (here.includes('x86_64') && here.includes('x32')) {
      b.jge(X32_SYSCALL_BIT, x32, null);
      search(b, r, 'x86_64', 0, X32_SYSCALL_BIT - 1);
      b.bind(x32);
      search(b, r, 'x32', X32_SYSCALL_BIT, MAX_NR);
    } else if (here.includes('x86_64')) {
      b.jge(X32_SYSCALL_BIT, null, x32);
      b.ret(BAD_ARCH);
      b.bind(x32);
      search(b, r, 'x86_64', 0, X32_SYSCALL_BIT - 1);
    } else {
      b.jge(X32_SYSCALL_BIT, x32, null);
      b.ret(BAD_ARCH);
      b.bind(x32);
      search(b, r, 'x32', X32_SYSCALL_BIT, MAX_NR);
    }
  });
  return b.assemble();
}

/** The outcome of every number in [lo, hi] for one arch, as maximal ranges. */
export function ranges(r: Rules, arch: SyscallArch, lo: number, hi: number): Range[] {
  const rules = r.syscalls[arch] ?? new Map<number, Rule[]>();
  const above = r.enosysAbove[arch];
  const out: Range[] = [];
  const push = (from: number, to: number, leaf: Leaf) => {
    if (from > to) return;
    const last = out[out.length - 1];
    if (last && 'ret' in last.leaf && 'ret' in leaf && last.leaf.ret === leaf.ret && last.hi + 1 === from) last.hi = to;
    else out.push({ lo: from, hi: to, leaf });
  };
  // A gap holds the default action, and ENOSYS past the profile's newest syscall.
  const gap = (from: number, to: number) => {
    if (above === undefined || to <= above) return push(from, to, { ret: r.defaultAction });
    push(from, Math.min(to, above), { ret: r.defaultAction });
    push(Math.max(from, above + 1), to, { ret: (RET.ERRNO | ENOSYS) >>> 0 });
  };
  let next = lo;
  for (const nr of [...rules.keys()].filter((n) => n >= lo && n <= hi).sort((x, y) => x - y)) {
    gap(next, nr - 1);
    const list = rules.get(nr)!;
    push(nr, nr, list.length === 1 && list[0].conditions.length === 0 ? { ret: list[0].action } : { rules: list });
    next = nr + 1;
  }
  gap(next, hi);
  return out;
}

function search(b: Builder, r: Rules, arch: SyscallArch, lo: number, hi: number): void {
  const wide = ARCHES[arch].wide;
  // A branch to a plain outcome jumps to one shared `ret` at the end of the section, so the
  // tree costs one instruction per range boundary plus one per distinct outcome.
  const shared = new Map<number, Label>();
  const target = (rs: Range[]): Label | null => {
    if (rs.length !== 1 || !('ret' in rs[0].leaf)) return null;
    const ret = rs[0].leaf.ret;
    if (!shared.has(ret)) shared.set(ret, new Label(`ret ${ret.toString(16)}`));
    return shared.get(ret)!;
  };
  const tree = (rs: Range[]): void => {
    if (rs.length === 1) return leaf(b, rs[0].leaf, r.defaultAction, wide);
    const mid = rs.length >> 1;
    const left = rs.slice(0, mid);
    const right = rs.slice(mid);
    const lt = target(left);
    const rt = target(right);
    const rightTree = new Label(`>= ${rs[mid].lo}`);
    b.jge(rs[mid].lo, rt ?? rightTree, lt);
    if (!lt) tree(left);
    if (!rt) {
      b.bind(rightTree);
      tree(right);
    }
  };
  tree(ranges(r, arch, lo, hi));
  for (const [ret, l] of shared) {
    b.bind(l);
    b.ret(ret);
  }
}

function leaf(b: Builder, l: Leaf, fallback: number, wide: boolean): void {
  if ('ret' in l) return b.ret(l.ret);
  for (const rule of l.rules) {
    const next = new Label('next rule');
    for (const c of rule.conditions) condition(b, c, wide, next);
    b.ret(rule.action);
    b.bind(next);
  }
  b.ret(fallback);
}

/** Falls through when the condition holds, jumps to `fail` when it does not. */
function condition(b: Builder, c: Condition, wide: boolean, fail: Label): void {
  const ok = new Label('condition holds');
  const v = c.value;
  const loOff = DATA.argLo(c.index);
  const hiOff = DATA.argHi(c.index);
  // The high word decides unless it is equal; then the low word does. 32-bit ABIs: low word only.
  if (wide) {
    b.load(hiOff);
    switch (c.op) {
      case 'SCMP_CMP_EQ': b.jeq(hi32(v), null, fail); break;
      case 'SCMP_CMP_NE': b.jeq(hi32(v), null, ok); break;
      case 'SCMP_CMP_GT': case 'SCMP_CMP_GE': b.jgt(hi32(v), ok, null); b.jeq(hi32(v), null, fail); break;
      case 'SCMP_CMP_LT': case 'SCMP_CMP_LE': b.jgt(hi32(v), fail, null); b.jeq(hi32(v), null, ok); break;
      case 'SCMP_CMP_MASKED_EQ': b.and(hi32(v)); b.jeq(hi32(c.valueTwo), null, fail); break;
    }
  }
  b.load(loOff);
  switch (c.op) {
    case 'SCMP_CMP_EQ': b.jeq(lo32(v), null, fail); break;
    case 'SCMP_CMP_NE': b.jeq(lo32(v), fail, null); break;
    case 'SCMP_CMP_GT': b.jgt(lo32(v), null, fail); break;
    case 'SCMP_CMP_GE': b.jge(lo32(v), null, fail); break;
    case 'SCMP_CMP_LT': b.jge(lo32(v), fail, null); break;
    case 'SCMP_CMP_LE': b.jgt(lo32(v), fail, null); break;
    case 'SCMP_CMP_MASKED_EQ': b.and(lo32(v)); b.jeq(lo32(c.valueTwo), null, fail); break;
  }
  b.bind(ok);
}

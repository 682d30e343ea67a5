// Classic BPF as seccomp uses it: the few instructions a filter needs, a builder with symbolic
// labels resolved in one pass at the end (far branches get `ja` trampolines), and an
// interpreter that runs a program on a seccomp_data, counting the instructions executed.

/** Opcodes (linux/bpf_common.h): only what a seccomp filter here is made of. */
export const OP = {
  LD_ABS: 0x20, // BPF_LD | BPF_W | BPF_ABS
  AND: 0x54, // BPF_ALU | BPF_AND | BPF_K
  JA: 0x05, // BPF_JMP | BPF_JA
  JEQ: 0x15, // BPF_JMP | BPF_JEQ | BPF_K
  JGT: 0x25, // BPF_JMP | BPF_JGT | BPF_K
  JGE: 0x35, // BPF_JMP | BPF_JGE | BPF_K
  JSET: 0x45, // BPF_JMP | BPF_JSET | BPF_K
  RET: 0x06, // BPF_RET | BPF_K
} as const;

/** One sock_filter. */
export interface Insn { code: number; jt: number; jf: number; k: number }

/** The kernel's cap on a filter's length (BPF_MAXINSNS). */
export const BPF_MAXINSNS = 4096;

/** Offsets in struct seccomp_data. */
export const DATA = { nr: 0, arch: 4, argLo: (i: number) => 16 + 8 * i, argHi: (i: number) => 20 + 8 * i } as const;

/** A place in the program; `at` is set when it is bound to the next instruction emitted. */
export class Label {
  at: Node | null = null;
  constructor(readonly name = '') {}
}

interface Node { code: number; k: number; jt: Label | null; jf: Label | null }

/**
 * Emits instructions in order. A conditional jump names its true and false targets; `null`
 * means "the next instruction". Every jump goes forward (BPF allows nothing else).
 */
export class Builder {
  private nodes: Node[] = [];
  private pending: Label[] = [];

  private emit(code: number, k: number, jt: Label | null = null, jf: Label | null = null): void {
    const node: Node = { code, k: k >>> 0, jt, jf };
    for (const l of this.pending) l.at = node;
    this.pending = [];
    this.nodes.push(node);
  }

  /** Bind `l` to the next instruction emitted. */
  bind(l: Label): void {
    if (l.at || this.pending.includes(l)) throw new Error(`bpf: label ${l.name} bound twice`);
    this.pending.push(l);
  }

  load(offset: number): void { this.emit(OP.LD_ABS, offset); }
  and(k: number): void { this.emit(OP.AND, k); }
  ret(k: number): void { this.emit(OP.RET, k); }
  jump(to: Label): void { this.emit(OP.JA, 0, to); }
  jeq(k: number, jt: Label | null, jf: Label | null): void { this.emit(OP.JEQ, k, jt, jf); }
  jgt(k: number, jt: Label | null, jf: Label | null): void { this.emit(OP.JGT, k, jt, jf); }
  jge(k: number, jt: Label | null, jf: Label | null): void { this.emit(OP.JGE, k, jt, jf); }
  jset(k: number, jt: Label | null, jf: Label | null): void { this.emit(OP.JSET, k, jt, jf); }

  /**
   * Resolve every label to an offset. A conditional branch reaches at most 255 instructions
   * ahead; a farther one goes through a `ja` placed right after it, repeated until all fit.
   */
  assemble(): Insn[] {
    if (this.pending.length) throw new Error(`bpf: label ${this.pending[0].name} bound past the end`);
    const nodes = this.nodes;
    // "The next instruction" becomes an explicit target so that insertions keep its meaning.
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i];
      if (n.code === OP.RET || n.code === OP.JA || (n.code & 0x07) !== 0x05) continue;
      if (!n.jt || !n.jf) {
        const next = new Label('next');
        next.at = nodes[i + 1];
        if (!next.at) throw new Error('bpf: a conditional jump ends the program');
        n.jt ??= next;
        n.jf ??= next;
      }
    }
    for (;;) {
      const index = new Map<Node, number>(nodes.map((n, i) => [n, i]));
      const distance = (from: number, l: Label): number => {
        const to = l.at ? index.get(l.at) : undefined;
        if (to === undefined) throw new Error(`bpf: label ${l.name} is never bound`);
        if (to <= from) throw new Error(`bpf: label ${l.name} jumps backwards`);
        return to - from - 1;
      };
      // Every branch too far for 8 bits gets a `ja` right after its jump, all in one pass;
      // the insertions may push others out of reach, so passes repeat until none is needed.
      const out: Node[] = [];
      let inserted = false;
      nodes.forEach((n, i) => {
        out.push(n);
        if (n.code === OP.JA) { distance(i, n.jt!); return; }
        if (!n.jt) return;
        for (const side of ['jt', 'jf'] as const) {
          if (distance(i, n[side]!) <= 255 - 2) continue; // leave room for this pass's trampolines
          const trampoline = new Label('trampoline');
          trampoline.at = { code: OP.JA, k: 0, jt: n[side], jf: null };
          n[side] = trampoline;
          out.push(trampoline.at);
          inserted = true;
        }
      });
      if (inserted) {
        nodes.splice(0, nodes.length, ...out);
        continue;
      }
      return nodes.map((n, i) => n.code === OP.JA
        ? { code: n.code, jt: 0, jf: 0, k: distance(i, n.jt!) }
        : { code: n.code, jt: n.jt ? distance(i, n.jt) : 0, jf: n.jf ? distance(i, n.jf) : 0, k: n.k });
    }
  }
}

/** The program as the kernel reads it: 8 bytes per instruction, little endian. */
export function encode(prog: readonly Insn[]): Buffer {
  const b = Buffer.alloc(prog.length * 8);
  prog.forEach((p, i) => {
    b.writeUInt16LE(p.code, i * 8);
    b.writeUInt8(p.jt, i * 8 + 2);
    b.writeUInt8(p.jf, i * 8 + 3);
    b.writeUInt32LE(p.k >>> 0, i * 8 + 4);
  });
  return b;
}

/** What a syscall looks like to a filter (struct seccomp_data). */
export interface SeccompData { nr: number; arch: number; args?: readonly bigint[] }

/**
 * Run a program the way the kernel does on one syscall: the return value, how many
 * instructions ran and whether an argument was read. Throws on anything the kernel's checker would have refused.
 */
export function run(prog: readonly Insn[], data: SeccompData): { ret: number; steps: number; loadsArgs: boolean } {
  let loadsArgs = false;
  const word = (off: number): number => {
    if (off === DATA.nr) return data.nr >>> 0;
    if (off === DATA.arch) return data.arch >>> 0;
    if (off >= 16 && off < 64 && off % 4 === 0) {
      loadsArgs = true;
      const v = BigInt.asUintN(64, data.args?.[(off - 16) >> 3] ?? 0n);
      return Number(off % 8 === 0 ? v & 0xffffffffn : v >> 32n);
    }
    throw new Error(`bpf: load at offset ${off}`);
  };
  let a = 0;
  for (let pc = 0, steps = 1; pc < prog.length; pc++, steps++) {
    const p = prog[pc];
    const k = p.k >>> 0;
    switch (p.code) {
      case OP.LD_ABS: a = word(k); break;
      case OP.AND: a = (a & k) >>> 0; break;
      case OP.RET: return { ret: k, steps, loadsArgs };
      case OP.JA: pc += k; break;
      case OP.JEQ: pc += a === k ? p.jt : p.jf; break;
      case OP.JGT: pc += a > k ? p.jt : p.jf; break;
      case OP.JGE: pc += a >= k ? p.jt : p.jf; break;
      case OP.JSET: pc += (a & k) !== 0 ? p.jt : p.jf; break;
      default: throw new Error(`bpf: unknown opcode 0x${p.code.toString(16)} at ${pc}`);
    }
  }
  throw new Error('bpf: ran off the end of the program');
}

// A small structure-aware fuzzer: a seeded PRNG, random JSON values, and mutations of a
// valid message (a field dropped, retyped, renamed, blown up or nested deep), then of its text.

/** mulberry32: tiny, fast, and the same sequence for the same seed everywhere. */
export function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  return {
    next,
    int,
    /** true with probability p */
    chance: (p: number) => next() < p,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)],
  };
}
export type Rng = ReturnType<typeof prng>;

/** A placeholder a mutation puts where raw JSON text (too deep for JSON.stringify) goes. */
export const DEEP = '\u0000runa-deep\u0000';

const STRINGS = ['', ' ', 'a', '..', '../../etc/passwd', '/', '\u0000', '\ud800', '💥', 'null', '__proto__', 'constructor', 'daemon.ping', 'x'.repeat(129), '%s%n', '\r\n\r\n'];
const NUMBERS = [0, -0, -1, 1, 64, 65, 255, 256, 2 ** 31, 2 ** 53 + 2, -(2 ** 63), 1e308, 0.5, -1.5];

export function randomString(r: Rng): string {
  if (r.chance(0.6)) return r.pick(STRINGS);
  const n = r.int(40);
  let s = '';
  for (let i = 0; i < n; i++) s += String.fromCharCode(r.chance(0.8) ? 32 + r.int(95) : r.int(0x3000));
  return s;
}

export function randomValue(r: Rng, depth = 0): unknown {
  switch (r.int(depth > 2 ? 6 : 8)) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick(NUMBERS);
    case 3: return r.int(1000) - 10;
    case 4: case 5: return randomString(r);
    case 6: return Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1));
    default: return Object.fromEntries(Array.from({ length: r.int(4) }, () => [randomString(r), randomValue(r, depth + 1)]));
  }
}

type Path = Array<string | number>;

function paths(v: unknown, at: Path = [], out: Path[] = []): Path[] {
  out.push(at);
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) paths(x, [...at, Array.isArray(v) ? Number(k) : k], out);
  return out;
}

function parentOf(root: any, p: Path): any {
  let o = root;
  for (const k of p.slice(0, -1)) o = o[k];
  return o;
}

/** What a mutation did, for the failure message. */
export interface Mutant { what: string; value: unknown }

/**
 * One structural mutation of a (deep-copied) message. Values at `DEEP` are later replaced by
 * raw nested JSON (see `serialize`).
 */
export function mutate(r: Rng, msg: unknown, opts: { hugeMax: number }): Mutant {
  const v = structuredClone(msg) as any;
  const all = paths(v).filter((p) => p.length > 0);
  const p = r.pick(all);
  const parent = parentOf(v, p);
  const key = p[p.length - 1];
  const name = p.join('.');
  switch (r.int(9)) {
    case 0: // drop a field
      if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key];
      return { what: `drop ${name}`, value: v };
    case 1: case 2: { // another type, or an out-of-range value of the same
      parent[key] = randomValue(r);
      return { what: `retype ${name}`, value: v };
    }
    case 3: { // an unknown or near-miss request type
      const types = ['container.explode', 'daemon.Ping', 'daemon.ping ', '', 'request', '__proto__', 'constructor', 'toString'];
      if (v?.body && typeof v.body === 'object') v.body.type = r.pick(types);
      else v.kind = r.pick(['reply', 'event', 'error', 'Request', '']);
      return { what: 'unknown type', value: v };
    }
    case 4: { // extra fields, hostile names included
      const target = v?.body && typeof v.body === 'object' && !Array.isArray(v.body) ? v.body : v;
      target[r.pick(['__proto__', 'constructor', 'extra', 'type ', 'cid'])] = randomValue(r);
      return { what: 'extra field', value: v };
    }
    case 5: { // a huge string
      const n = 1 + r.int(opts.hugeMax);
      parent[key] = r.pick(['x', '\u0001', 'é', '"']).repeat(n);
      return { what: `huge string (${n}) at ${name}`, value: v };
    }
    case 6: // deep nesting
      parent[key] = DEEP;
      return { what: `deep nesting at ${name}`, value: v };
    case 7: { // a wide array or object
      const n = 1000 + r.int(20000);
      parent[key] = r.chance(0.5) ? Array.from({ length: n }, (_, i) => i) : Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i]));
      return { what: `wide value (${n}) at ${name}`, value: v };
    }
    default: // the whole message replaced by a random value
      return { what: 'random message', value: randomValue(r) };
  }
}

/** JSON text of a mutant, with raw nesting where DEEP stands. */
export function serialize(r: Rng, v: unknown): string {
  const text = JSON.stringify(v) ?? 'undefined';
  const quoted = JSON.stringify(DEEP);
  if (!text.includes(quoted)) return text;
  const d = 1000 + r.int(150_000);
  const [open, close] = r.chance(0.5) ? ['[', ']'] : ['{"a":', '}'];
  return text.split(quoted).join(open.repeat(d) + '1' + close.repeat(d));
}

/** Mutations of the text itself: truncated, a byte flipped, garbage around it. */
export function mutateText(r: Rng, text: string): { what: string; bytes: Buffer } {
  const b = Buffer.from(text);
  switch (r.int(6)) {
    case 0: return { what: 'truncated text', bytes: b.subarray(0, r.int(b.length)) };
    case 1: { const c = Buffer.from(b); if (c.length) c[r.int(c.length)] = r.int(256); return { what: 'flipped byte', bytes: c }; }
    case 2: return { what: 'trailing garbage', bytes: Buffer.concat([b, Buffer.from(r.pick(['}', ']]', ',', ' x', '\u0000', '{}']))]) };
    case 3: return { what: 'invalid UTF-8', bytes: Buffer.concat([b.subarray(0, r.int(b.length + 1)), Buffer.from([0xc3, 0x28, 0xff])]) };
    case 4: return { what: 'BOM and whitespace', bytes: Buffer.concat([Buffer.from('\ufeff \n\t'), b]) };
    default: return { what: 'duplicate keys', bytes: Buffer.from(text.replace(/^\{/, '{"kind":"nope","cid":7,')) };
  }
}

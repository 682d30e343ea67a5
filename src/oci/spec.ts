// config.json as runa accepts it: validated with zod, every failure naming the field.
import fs from 'node:fs';
import path from 'node:path';
import { isSafeNumber, parse as losslessParse, stringify as losslessStringify } from 'lossless-json';
import { z } from 'zod';
import { RunaError } from '../errors.js';
import { describeIssues } from '../bus/messages.js';
import { CAPABILITIES, RLIMITS } from './linux.js';
import { LinuxResourcesSchema } from '../cgroups/index.js';
import { HooksSchema } from '../hooks/index.js';
import { ExecCpuAffinitySchema, IoPrioritySchema, MemoryPolicySchema, PersonalitySchema, SchedulerSchema } from './process-attrs.js';
import { compileSeccomp, listenerState, SeccompError, type CompiledFilter, type SeccompLoad } from '../seccomp/index.js';
import { supportedFlagBits } from '../seccomp/probe.js';

const absolute = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');
const uint32 = z.number().int().min(0).max(0xffffffff);

const uint64 = z.number().int().min(0);
const capList = z.array(z.string().refine((c) => (CAPABILITIES as readonly string[]).includes(c), { error: (i) => `unknown capability ${JSON.stringify(i.input)}` }));
const idMapping = z.looseObject({ containerID: uint32, hostID: uint32, size: uint32.min(1) });

export const NamespaceType = z.enum(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);

export const Mount = z.looseObject({
  // A relative destination is deprecated but read as relative to "/" (runtime-spec; runc warns).
  destination: z.string().min(1, 'must not be empty').transform((d) => (d.startsWith('/') ? d : `/${d}`)),
  type: z.string().optional(),
  source: z.string().optional(),
  options: z.array(z.string()).optional(),
  // runtime-spec 1.2: an idmapped mount (see src/oci/idmap.ts)
  uidMappings: z.array(idMapping).optional(),
  gidMappings: z.array(idMapping).optional(),
});
export type Mount = z.infer<typeof Mount>;

export const ProcessSchema = z.looseObject({
    terminal: z.boolean().optional(),
    user: z.looseObject({
      uid: uint32,
      gid: uint32,
      umask: uint32.optional(),
      additionalGids: z.array(uint32).optional(),
    }),
    args: z.array(z.string()).min(1, 'must name the program to run'),
    env: z.array(z.string().refine((e) => e.includes('='), 'must be NAME=VALUE')).optional(),
    cwd: absolute,
    capabilities: z.looseObject({
      bounding: capList.optional(), effective: capList.optional(), permitted: capList.optional(),
      inheritable: capList.optional(), ambient: capList.optional(),
    }).optional(),
    rlimits: z.array(z.looseObject({ type: z.enum(RLIMITS, 'unknown rlimit type'), soft: uint64, hard: uint64 })).optional(),
    noNewPrivileges: z.boolean().optional(),
    oomScoreAdj: z.number().int().min(-1000).max(1000).optional(),
    consoleSize: z.looseObject({ height: uint32, width: uint32 }).optional(),
    scheduler: SchedulerSchema.optional(),
    ioPriority: IoPrioritySchema.optional(),
    execCPUAffinity: ExecCpuAffinitySchema.optional(),
    apparmorProfile: z.string().optional(),
    selinuxLabel: z.string().optional(),
  });

export const Spec = z.looseObject({
  ociVersion: z.string().min(1),
  root: z.looseObject({ path: z.string().min(1), readonly: z.boolean().optional() }),
  process: ProcessSchema,
  hostname: z.string().max(64).optional(),
  domainname: z.string().max(64).optional(),
  mounts: z.array(Mount).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  hooks: HooksSchema.optional(),
  linux: z.looseObject({
    namespaces: z.array(z.looseObject({ type: NamespaceType, path: z.string().optional() })).optional(),
    rootfsPropagation: z.enum(['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable']).optional(),
    uidMappings: z.array(idMapping).optional(),
    gidMappings: z.array(idMapping).optional(),
    maskedPaths: z.array(absolute).optional(),
    readonlyPaths: z.array(absolute).optional(),
    sysctl: z.record(z.string().regex(/^[a-z0-9_.\/-]+$/, 'invalid sysctl name').refine((k) => !k.includes('..'), 'invalid sysctl name'), z.string()).optional(),
    devices: z.array(z.looseObject({
      type: z.enum(['c', 'b', 'u', 'p'], 'device type must be c, b, u or p'),
      path: absolute,
      major: z.number().int().min(0).optional(),
      minor: z.number().int().min(0).optional(),
      fileMode: uint32.optional(),
      uid: uint32.optional(),
      gid: uint32.optional(),
    })).optional(),
    seccomp: z.unknown().optional(),
    resources: LinuxResourcesSchema.optional(),
    cgroupsPath: z.string().optional(),
    personality: PersonalitySchema.optional(),
    mountLabel: z.string().optional(),
    memoryPolicy: MemoryPolicySchema.optional(),
    timeOffsets: z.partialRecord(
      z.enum(['monotonic', 'boottime'], { error: (i) => `unknown clock ${JSON.stringify(i.input)} (monotonic or boottime)` }),
      z.looseObject({ secs: z.number().int().optional(), nanosecs: z.number().int().min(0).max(999_999_999).optional() }),
    ).optional(),
    intelRdt: z.looseObject({
      closID: z.string().optional(), l3CacheSchema: z.string().optional(), memBwSchema: z.string().optional(),
      schemata: z.string().optional(), enableCMT: z.boolean().optional(), enableMBM: z.boolean().optional(),
    }).optional(),
    // runtime-spec 1.3: host interfaces moved into the container (see src/oci/netdevices.ts)
    netDevices: z.record(z.string(), z.looseObject({ name: z.string().optional() })).optional(),
  }).optional(),
});
export type Spec = z.infer<typeof Spec>;

const exactNumber = (v: string): number | bigint => (!isSafeNumber(v) && /^\d+$/.test(v) ? BigInt(v) : Number(v));

/** Read and validate `<bundle>/config.json`. */
export function readSpec(bundle: string): Spec {
  const file = path.join(bundle, 'config.json');
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new RunaError('invalid_bundle', code === 'ENOENT' ? `JSON specification file ${file} not found` : `reading ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseSpecText(text);
  } catch (e) {
    throw new RunaError('invalid_spec', `config.json: invalid JSON: ${(e as Error).message}`);
  }
  return parseSpec(raw);
}

/**
 * JSON.parse, except that seccomp argument values are full uint64s, which a JSON number loses
 * past 2^53: that section is read again keeping such integers exact (as bigints).
 */
export function parseSpecText(text: string): any {
  const raw = JSON.parse(text);
  if (raw?.linux?.seccomp !== undefined && /\d{16}/.test(text)) {
    raw.linux.seccomp = (losslessParse(text, null, exactNumber) as any).linux.seccomp;
  }
  return raw;
}

/** JSON.stringify that writes bigints as the integers they are (see parseSpecText). */
export const stringifySpec = (spec: Spec): string => losslessStringify(spec)!;

export function parseSpec(raw: unknown): Spec {
  const nul = nulAt(raw);
  if (nul) throw new RunaError('invalid_spec', `config.json: ${nul.join('.') || '(the document)'}: contains a NUL byte`);
  const r = Spec.safeParse(raw);
  if (!r.success) throw new RunaError('invalid_spec', `config.json: ${describeIssues(r.error)}`);
  const spec = r.data;
  const seen = new Set<string>();
  for (const ns of spec.linux?.namespaces ?? []) {
    if (seen.has(ns.type)) throw new RunaError('invalid_spec', `config.json: linux.namespaces: duplicate namespace type ${ns.type}`);
    seen.add(ns.type);
  }
  if (spec.linux?.seccomp !== undefined) specSeccomp(spec);
  return spec;
}

/**
 * The first string with a NUL byte (none can reach the kernel: a path, an argument, an option
 * would be cut short there), as a field path; annotations are the caller's and pass through.
 */
function nulAt(v: unknown, top = true): Array<string | number> | null {
  // The path is built only on the way back from a hit: a config has no NUL, and this runs on every create.
  if (typeof v === 'string') return v.includes('\0') ? [] : null;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const r = nulAt(v[i], false);
      if (r) { r.unshift(i); return r; }
    }
  } else if (v && typeof v === 'object') {
    for (const k of Object.keys(v)) {
      if (top && k === 'annotations') continue;
      if (k.includes('\0')) return [k];
      const r = nulAt((v as Record<string, unknown>)[k], false);
      if (r) { r.unshift(k); return r; }
    }
  }
  return null;
}

/** linux.seccomp compiled for this kernel (cached per profile); a bad profile fails naming the field. */
export function specSeccomp(spec: Spec): CompiledFilter | undefined {
  if (spec.linux?.seccomp === undefined) return undefined;
  try {
    return compileSeccomp(spec.linux.seccomp, { flagsSupported: supportedFlagBits() });
  } catch (e) {
    if (e instanceof SeccompError) throw new RunaError('invalid_spec', `config.json: ${e.message}`);
    throw e;
  }
}

/** The filter and, with SCMP_ACT_NOTIFY, the state its listener gets, for one process of the container. */
export function seccompLoad(spec: Spec, c: { id: string; status: string; bundle: string; annotations?: Record<string, string> }): SeccompLoad | undefined {
  const filter = specSeccomp(spec);
  if (!filter) return undefined;
  return { filter, listenerState: filter.notify ? listenerState({ ...c, ociVersion: spec.ociVersion, metadata: filter.listenerMetadata }) : undefined };
}

/** runc's exec defaults: the container's process, changed only where the caller says. */
export function execProcess(base: Spec['process'], o: import('../bus/messages.js').ExecOverrides): Spec['process'] {
  if (o.process !== undefined) {
    // runc reads process.json into Go's zero values: no `user` means uid 0, gid 0.
    const given = o.process as Record<string, unknown>;
    const r = ProcessSchema.safeParse(given && typeof given === 'object' && given.user === undefined ? { ...given, user: { uid: 0, gid: 0 } } : given);
    if (!r.success) throw new RunaError('invalid_spec', `process.json: ${describeIssues(r.error)}`);
    return r.data;
  }
  const caps = base.capabilities;
  const added = o.caps ?? [];
  for (const c of added) if (!(CAPABILITIES as readonly string[]).includes(c)) throw new RunaError('invalid_argument', `unknown capability ${JSON.stringify(c)}`);
  const withCaps = (l?: string[]) => [...new Set([...(l ?? []), ...added])];
  const proc = {
    ...base,
    args: o.args ?? base.args,
    env: [...(base.env ?? []), ...(o.env ?? [])],
    cwd: o.cwd ?? base.cwd,
    terminal: o.terminal ?? false,
    user: o.user ? { ...base.user, uid: o.user.uid, gid: o.user.gid ?? 0 } : base.user,
    noNewPrivileges: o.noNewPrivileges || base.noNewPrivileges,
    ...(o.apparmorProfile !== undefined ? { apparmorProfile: o.apparmorProfile } : {}),
    ...(o.selinuxLabel !== undefined ? { selinuxLabel: o.selinuxLabel } : {}),
    capabilities: caps || added.length ? {
      bounding: withCaps(caps?.bounding), effective: withCaps(caps?.effective), permitted: withCaps(caps?.permitted),
      inheritable: caps?.inheritable, ambient: caps?.ambient,
    } : undefined,
  };
  if (o.additionalGids) proc.user = { ...proc.user, additionalGids: o.additionalGids };
  const r = ProcessSchema.safeParse(proc);
  if (!r.success) throw new RunaError('invalid_argument', `exec: ${describeIssues(r.error)}`);
  return r.data;
}

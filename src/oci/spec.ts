// config.json as runa accepts it: validated with zod, every failure naming the field.
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { RunaError } from '../errors.js';
import { describeIssues } from '../bus/messages.js';

const absolute = z.string().refine((p) => p.startsWith('/'), 'must be an absolute path');
const uint32 = z.number().int().min(0).max(0xffffffff);

export const NamespaceType = z.enum(['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time']);

export const Mount = z.looseObject({
  destination: absolute,
  type: z.string().optional(),
  source: z.string().optional(),
  options: z.array(z.string()).optional(),
});
export type Mount = z.infer<typeof Mount>;

export const Spec = z.looseObject({
  ociVersion: z.string().min(1),
  root: z.looseObject({ path: z.string().min(1), readonly: z.boolean().optional() }),
  process: z.looseObject({
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
  }),
  hostname: z.string().max(64).optional(),
  mounts: z.array(Mount).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  linux: z.looseObject({
    namespaces: z.array(z.looseObject({ type: NamespaceType, path: z.string().optional() })).optional(),
    rootfsPropagation: z.enum(['private', 'rprivate', 'slave', 'rslave', 'shared', 'rshared', 'unbindable', 'runbindable']).optional(),
  }).optional(),
});
export type Spec = z.infer<typeof Spec>;

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
    raw = JSON.parse(text);
  } catch (e) {
    throw new RunaError('invalid_spec', `config.json: invalid JSON: ${(e as Error).message}`);
  }
  return parseSpec(raw);
}

export function parseSpec(raw: unknown): Spec {
  const r = Spec.safeParse(raw);
  if (!r.success) throw new RunaError('invalid_spec', `config.json: ${describeIssues(r.error)}`);
  const spec = r.data;
  const seen = new Set<string>();
  for (const ns of spec.linux?.namespaces ?? []) {
    if (seen.has(ns.type)) throw new RunaError('invalid_spec', `config.json: linux.namespaces: duplicate namespace type ${ns.type}`);
    seen.add(ns.type);
  }
  return spec;
}

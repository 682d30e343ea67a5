// The bench's "seccomp" section. The seccomp compiler: compile times and the filters' sizes and paths.
import fs from 'node:fs';
import path from 'node:path';
import { defaultProfile } from '../../test/helpers/seccomp.js';
import { compileTimes, dumpFilter, HOT, steps } from '../seccomp.js';
import type { Insn } from '../../src/seccomp/bpf.js';
import { defaultSpec } from '../../src/oci/default-spec.js';
import { stat } from '../util.js';
import { rows, extra, latencyCell, opts, work, rootfs, SLEEP_ARG, nextId, nextIdC, runa, runc, log, must, checkAborted } from '../harness.js';

// ---------------------------------------------------------------- seccomp

/**
 * The default profiles of Docker and podman: compile time (runa only: runc hands the profile
 * to libseccomp inside its init), filter length and instructions executed per syscall for the
 * filter each runtime really loads (read back from a live container), and `run` latency with
 * the profile.
 */
export async function phaseSeccomp(): Promise<void> {
  const caps = (defaultSpec() as any).process.capabilities.bounding as string[];
  const filters: Record<string, unknown> = {};
  for (const which of ['docker', 'podman'] as const) {
    checkAborted();
    log(`seccomp: ${which}'s default profile`);
    const raw = defaultProfile(which, caps);
    const denied = which === 'docker' ? 'mount' : 'setns';
    const names = [...HOT, denied];
    const t = compileTimes(raw);
    const title = which === 'docker' ? 'Docker' : 'podman';
    rows.push({ section: 'seccomp', name: `${title} profile: compile (first / median of 200)`, unit: 'ms', runa: { value: t.medianMs, text: `${t.firstMs.toFixed(2)} / ${t.medianMs.toFixed(3)}` }, runc: { text: '—' }, note: 'x86_64 + x86 + x32; runa caches per profile, so a repeated create compiles nothing' });

    const dir = path.join(work, `bundle-seccomp-${which}`);
    fs.mkdirSync(dir);
    const spec = defaultSpec() as any;
    Object.assign(spec, { root: { path: rootfs, readonly: true } });
    spec.process.args = ['/bin/sleep', SLEEP_ARG];
    spec.process.terminal = false;
    spec.linux.seccomp = raw;
    fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    const ida = nextId('sc');
    must(await runa(['run', '-d', '-b', dir, ida]), 'runa run -d (seccomp)');
    const st = JSON.parse(must(await runa(['state', ida], { capture: true }), 'runa state').stdout);
    const ours = dumpFilter(st.pid) ?? t.program;
    must(await runa(['delete', '-f', ida]), 'runa delete');
    let theirs: Insn[] | null = null;
    if (opts.runc) {
      const idc = nextIdC('sc');
      must(await runc(['run', '-d', '-b', dir, idc]), 'runc run -d (seccomp)');
      const sc = JSON.parse(must(await runc(['state', idc], { capture: true }), 'runc state').stdout);
      theirs = dumpFilter(sc.pid);
      must(await runc(['delete', '-f', idc]), 'runc delete');
    }
    const a = steps(ours, names);
    const c = theirs ? steps(theirs, names) : null;
    filters[which] = { runa: { length: ours.length, steps: a }, runc: theirs ? { length: theirs.length, steps: c } : null };
    const note = 'BPF instructions; read back from the running container (PTRACE_SECCOMP_GET_FILTER)';
    rows.push({ section: 'seccomp', name: `${title} profile: filter length`, unit: 'insns', runa: { value: ours.length }, runc: theirs ? { value: theirs.length } : { text: 'no runc' }, note: `${note}; kernel limit 4096` });
    for (const n of names) {
      rows.push({ section: 'seccomp', name: `${title} profile: instructions executed for \`${n}\`${n === denied ? ' (denied)' : ''}`, unit: 'insns', runa: { value: a[n] }, runc: c ? { value: c[n] } : { text: 'no runc' } });
    }

    // Latency of `run` with the profile, next to runc's.
    const runs = Math.max(5, opts.runs >> 2);
    const bt = path.join(work, `bundle-seccomp-true-${which}`);
    fs.mkdirSync(bt);
    spec.process.args = ['/bin/true'];
    fs.writeFileSync(path.join(bt, 'config.json'), JSON.stringify(spec, null, 2));
    must(await runa(['run', '-b', bt, nextId('scw')]), 'runa run (seccomp warm-up)');
    const la: number[] = [];
    const lc: number[] = [];
    for (let i = 0; i < runs; i++) {
      checkAborted();
      la.push(must(await runa(['run', '-b', bt, nextId('scr')]), 'runa run (seccomp)').ms);
      if (opts.runc) lc.push(must(await runc(['run', '-b', bt, nextIdC('scr')]), 'runc run (seccomp)').ms);
    }
    const sa = stat(la);
    const sc2 = lc.length ? stat(lc) : null;
    rows.push({ section: 'seccomp', name: `\`run\` /bin/true with ${title}'s profile (warm daemon)`, unit: 'ms', runa: latencyCell(sa), runc: sc2 ? latencyCell(sc2) : { text: 'no runc' }, note: `${runs} runs` });
  }
  extra.seccomp = filters;
}

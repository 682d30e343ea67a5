// A new user's first hour: help for every command (derived from the flag definitions the
// parser uses), usage errors in runc's words with the command's help, flags that work or are
// refused (never silently ignored), bash completion, and `kill --pid`.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Sandbox, runaBin, until, alive } from './helpers/runa.js';
import { COMMANDS, GLOBAL_FLAGS } from '../src/cli/cli.js';
import { parseFlags, type FlagSpecs } from '../src/cli/flags.js';

const sb = new Sandbox('help');
after(async () => {
  const { leftovers, mounts } = await sb.cleanup();
  assert.deepEqual(leftovers, []);
  assert.deepEqual(mounts, []);
});

const commands = await Promise.all(Object.keys(COMMANDS).map(async (name) => ({ name, cmd: (await COMMANDS[name]()).default })));

/** The flag names an OPTIONS section lists (`--format value, -f value  …` → format, f). */
function listed(help: string): string[] {
  const opts = help.split(/\n(?:GLOBAL )?OPTIONS:\n/)[1] ?? '';
  return opts.split('\n').filter(Boolean).flatMap((l) => l.trim().split(/\s{2,}/)[0].split(', ').map((n) => n.replace(/^--?/, '').split(' ')[0]));
}

function every(flags: FlagSpecs): string[] {
  return Object.entries(flags).flatMap(([n, f]) => [n, ...(f.alias ? [f.alias] : [])]).sort();
}

test('every command has help in runc\'s layout, through --help, -h and `runa help CMD`, naming exactly the flags it accepts', async () => {
  for (const { name, cmd } of commands) {
    const outs = [await sb.run([name, '--help']), await sb.run([name, '-h']), await sb.run(['help', name])];
    for (const r of outs) {
      assert.equal(r.code, 0, `${name}: ${r.stderr}`);
      assert.equal(r.stderr, '');
      assert.equal(r.stdout, outs[0].stdout);
    }
    const help = outs[0].stdout;
    assert.match(help, new RegExp(`^NAME:\\n   runa ${name} - ${cmd.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n\\nUSAGE:\\n   runa ${name}`), name);
    // Derived both ways: what help lists is what the parser takes, and the parser takes each of them.
    assert.deepEqual(listed(help).sort(), every(cmd.flags), `${name}: the flags in its help`);
    for (const [flag, spec] of Object.entries(cmd.flags)) {
      const args = spec.kind === 'bool' ? [`--${flag}`] : [`--${flag}`, 'x'];
      assert.doesNotThrow(() => parseFlags(args, cmd.flags), `${name} --${flag}`);
      assert.ok(spec.usage.length > 8, `${name} --${flag} says what it does`);
    }
  }
});

test('runa --help, -h and help list every command and every global flag; no command is help too', async () => {
  const outs = [await sb.run(['--help']), await sb.run(['-h']), await sb.run(['help']), await sb.run([])];
  for (const r of outs) {
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, outs[0].stdout);
  }
  const help = outs[0].stdout;
  assert.match(help, /^NAME:\n {3}runa - /);
  for (const { name, cmd } of commands) assert.match(help, new RegExp(`\\n {3}${name} +${cmd.summary.slice(0, 20).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), name);
  assert.deepEqual(listed(help).sort(), every(GLOBAL_FLAGS));
  const bad = await sb.run(['help', 'nope']);
  assert.equal(bad.code, 3);
  assert.match(bad.stderr, /No help topic for 'nope'/);
});

test('usage errors: runc\'s wording on stderr, "Incorrect Usage" and the command\'s help on stdout, status 1', async () => {
  const flag = await sb.run(['state', '--bogus', 'x']);
  assert.equal(flag.code, 1);
  assert.equal(flag.stderr, 'flag provided but not defined: -bogus\n');
  assert.match(flag.stdout, /^Incorrect Usage: flag provided but not defined: -bogus\n\nNAME:\n {3}runa state - /);
  const args = await sb.run(['state']);
  assert.equal(args.code, 1);
  assert.equal(args.stderr, '"state" requires exactly 1 argument(s)\n');
  assert.match(args.stdout, /^Incorrect Usage\.\n\nNAME:\n {3}runa state - [^]*USAGE:\n {3}runa state <container-id>\n/);
  const value = await sb.run(['list', '--format']);
  assert.equal(value.code, 1);
  assert.equal(value.stderr, 'flag needs an argument: -format\n');
  assert.match(value.stdout, /^Incorrect Usage: flag needs an argument: -format\n\nNAME:\n {3}runa list/);
  const global = await sb.run(['--bogus', 'list']);
  assert.equal(global.code, 1);
  assert.match(global.stdout, /^Incorrect Usage: flag provided but not defined: -bogus\n\nNAME:\n {3}runa - /);
});

test('flags that runa cannot honour are refused with a clear message, never ignored', async () => {
  const b = await sb.bundle(['true']);
  const bp = await sb.bundle(['true'], (s) => { s.linux.rootfsPropagation = 'rprivate'; });
  for (const [args, msg] of [
    [['--systemd-cgroup', 'list'], /--systemd-cgroup: runa has no systemd cgroup driver; use cgroupfs/],
    [['--rootless', 'maybe', 'list'], /invalid value "maybe" for flag -rootless/],
    [['--criu', '/opt/criu', 'list'], /--criu \/opt\/criu: runa runs criu from PATH/],
    // --no-pivot works (test/no-pivot.test.ts), but not with a private root propagation (runc's words).
    [['create', '--no-pivot', '-b', bp, 'np'], /create --no-pivot: rootfsPropagation of \[r\]private is not safe without pivot_root/],
    [['run', '--no-pivot', '-b', bp, 'np'], /run --no-pivot: rootfsPropagation of \[r\]private is not safe without pivot_root/],
    [['update', '--l3-cache-schema', 'L3:0=f', 'np'], /update --l3-cache-schema: Intel RDT \(resctrl\) is not supported/],
    [['checkpoint', '--page-server', '1.2.3.4:5', 'np'], /checkpoint --page-server: not supported by runa/],
  ] as const) {
    const r = await sb.run([...args]);
    assert.notEqual(r.code, 0, args.join(' '));
    assert.match(r.stderr, msg, args.join(' '));
  }
  assert.equal((await sb.run(['state', 'np'])).code, 1, 'nothing was created');
  // Accepted, and honoured: --rootless true/false/auto (test/rootless.test.ts), --no-new-keyring (test/config.test.ts).
  for (const v of ['auto', 'true', 'false']) assert.equal((await sb.run(['--rootless', v, 'list'])).code, 0, v);
  const r = await sb.run(['run', '--no-new-keyring', '-b', b, 'nk']);
  assert.equal(r.code, 0, r.stderr);
  // exec --apparmor and --process-label: the exec'd process's own, refused where the host lacks the LSM.
  const { hostSecurity } = await import('../src/oci/security.js');
  const sleeper = await sb.bundle(['sleep', '1000']);
  assert.equal((await sb.run(['run', '-d', '-b', sleeper, 'lsm'])).code, 0);
  try {
    if (!hostSecurity().apparmor) {
      const a = await sb.run(['exec', '--apparmor', 'p', 'lsm', 'true']);
      assert.equal(a.code, 255);
      assert.match(a.stderr, /exec: process\.apparmorProfile: apparmor profile "p" is specified in config, but AppArmor is not enabled on this host/);
    }
    if (!hostSecurity().selinux) {
      const l = await sb.run(['exec', '--process-label', 'l', 'lsm', 'true']);
      assert.equal(l.code, 255);
      assert.match(l.stderr, /exec: process\.selinuxLabel: selinux label is specified in config, but selinux is disabled or not supported/);
    }
  } finally {
    assert.equal((await sb.run(['delete', '-f', 'lsm'])).code, 0);
  }
});

test('kill --pid signals that process of the container, and only it; a process not in it is refused', async () => {
  const b = await sb.bundle(['sh', '-c', 'sleep 7101 & sleep 7102 & wait']);
  assert.equal((await sb.run(['run', '-d', '-b', b, 'kp'])).code, 0);
  const pids = (): number[] => JSON.parse((spawnSync(runaBin, ['--root', sb.root, 'ps', '--format', 'json', 'kp'], { encoding: 'utf8' })).stdout);
  const named = (arg: string) => pids().find((p) => { try { return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8') === `sleep\0${arg}\0`; } catch { return false; } });
  const a = await until(() => named('7101'), 'sleep 7101');
  const c = await until(() => named('7102'), 'sleep 7102');
  assert.equal((await sb.run(['kill', '--pid', String(a), 'kp', 'KILL'])).code, 0);
  await until(() => !alive(a!), 'the named process gone');
  assert.ok(alive(c!), 'the other process untouched');
  assert.match((await sb.run(['state', 'kp'])).stdout, /"status": "running"/);
  const outside = await sb.run(['kill', '--pid', String(process.pid), 'kp', 'KILL']);
  assert.equal(outside.code, 1);
  assert.match(outside.stderr, new RegExp(`process ${process.pid} is not in container "kp"`));
  assert.ok(alive(process.pid));
  assert.match((await sb.run(['kill', '--pid', String(c), '--all', 'kp'])).stderr, /PID \(\d+\) cannot be set when signaling all processes/);
  assert.match((await sb.run(['kill', '--pid', '0', 'kp'])).stderr, /PID \(0\) must be positive/);
  assert.equal((await sb.run(['delete', '-f', 'kp'])).code, 0);
});

test('runa completion bash: commands, flags and the ids of existing containers', async () => {
  assert.equal((await sb.run(['create', '-b', await sb.bundle(['true']), 'comp-one'])).code, 0);
  assert.equal((await sb.run(['create', '-b', await sb.bundle(['true']), 'comp-two'])).code, 0);
  const script = await sb.run(['completion', 'bash']);
  assert.equal(script.code, 0, script.stderr);
  const file = path.join(sb.dir, 'runa.bash');
  fs.writeFileSync(file, script.stdout);
  // `runa` as the completion finds it: on PATH.
  const bin = path.join(sb.dir, 'bin');
  fs.mkdirSync(bin);
  fs.symlinkSync(runaBin, path.join(bin, 'runa'));
  const complete = (words: string[]): string[] => {
    const line = ['runa', ...words];
    const script = `source ${file}; complete -p runa; COMP_WORDS=(${line.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${line.length - 1}; _runa; printf '%s\\n' "\${COMPREPLY[@]}"`;
    const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, RUNA_DAEMON_IDLE_MS: '60000' } });
    assert.equal(r.status, 0, r.stderr);
    const [registered, ...replies] = r.stdout.split('\n').filter(Boolean);
    assert.equal(registered, 'complete -F _runa runa');
    return replies.sort();
  };
  assert.deepEqual(complete(['del']), ['delete']);
  assert.deepEqual(complete(['st']), ['start', 'state']);
  assert.deepEqual(complete(['--root', sb.root, 'kill', '--']), ['--all', '--pid']);
  assert.deepEqual(complete(['--root', sb.root, 'state', 'comp-']), ['comp-one', 'comp-two']);
  assert.deepEqual(complete(['--root', sb.root, 'delete', '-f', 'comp-t']), ['comp-two']);
  assert.deepEqual(complete(['--ro']), ['--root', '--rootless']);
  assert.equal((await sb.run(['completion', 'zsh'])).code, 1);
  for (const id of ['comp-one', 'comp-two']) assert.equal((await sb.run(['delete', '-f', id])).code, 0);
});

// A busybox image built from the host's busybox-static, without network: an OCI image layout
// (oci-layout, index.json, blobs/sha256/{config,manifest,layer}) packed as an oci-archive tar,
// which both `ctr images import` and `podman load -i` accept.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { gzipSync } from 'node:zlib';

export const IMAGE = 'localhost/runa-test/busybox:latest';
export const BUSYBOX = '/bin/busybox';

/** The applets the tests use; each is a symlink to /bin/busybox in the image. */
export const APPLETS = [
  'sh', 'echo', 'cat', 'sleep', 'id', 'ls', 'ps', 'top', 'mkdir', 'env', 'pwd', 'true', 'false',
  'wc', 'hostname', 'readlink', 'mount', 'uname', 'grep', 'head', 'kill', 'touch', 'rm', 'stat',
  'tail', 'sed', 'tty', 'stty', 'test', 'whoami', 'nproc', 'seq', 'dd', 'tr', 'cut',
];

/** Why the image cannot be built on this host, or null when it can. */
export function busyboxMissing(): string | null {
  if (!fs.existsSync(BUSYBOX)) return `${BUSYBOX} missing: apt-get install busybox-static`;
  // A dynamic busybox would need its libraries in the image.
  if (spawnSync('ldd', [BUSYBOX], { encoding: 'utf8' }).status === 0) return `${BUSYBOX} is not static: apt-get install busybox-static`;
  return null;
}

interface Entry { name: string; type: 'file' | 'dir' | 'symlink'; mode: number; uid?: number; gid?: number; data?: Buffer; target?: string }

const MTIME = 1_700_000_000; // fixed, so the image's digests do not change from run to run

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** One ustar header block. Names here are short (< 100 bytes), so no prefix or pax records. */
function header(e: Entry, size: number): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number): void => void h.write(s, off, len, 'utf8');
  if (Buffer.byteLength(e.name) > 100) throw new Error(`tar: name too long: ${e.name}`);
  put(e.name, 0, 100);
  put(octal(e.mode, 8), 100, 8);
  put(octal(e.uid ?? 0, 8), 108, 8);
  put(octal(e.gid ?? 0, 8), 116, 8);
  put(octal(size, 12), 124, 12);
  put(octal(MTIME, 12), 136, 12);
  put('        ', 148, 8); // checksum counted as spaces
  put(e.type === 'file' ? '0' : e.type === 'symlink' ? '2' : '5', 156, 1);
  if (e.target) put(e.target, 157, 100);
  put('ustar\0', 257, 6);
  put('00', 263, 2);
  let sum = 0;
  for (const b of h) sum += b;
  put(octal(sum, 7) + ' ', 148, 8);
  return h;
}

/** A tar archive of `entries`, in order. */
export function tar(entries: Entry[]): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const data = e.type === 'file' ? e.data ?? Buffer.alloc(0) : Buffer.alloc(0);
    parts.push(header(e, data.length), data);
    const pad = (512 - (data.length % 512)) % 512;
    if (pad) parts.push(Buffer.alloc(pad));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

const sha256 = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** The image's root filesystem as tar entries. */
function rootfsEntries(extraFiles: Record<string, string>): Entry[] {
  const dir = (name: string, mode = 0o755, uid = 0): Entry => ({ name: `${name}/`, type: 'dir', mode, uid, gid: uid });
  const file = (name: string, text: string, mode = 0o644): Entry => ({ name, type: 'file', mode, data: Buffer.from(text) });
  return [
    dir('bin'),
    { name: 'bin/busybox', type: 'file', mode: 0o755, data: fs.readFileSync(BUSYBOX) },
    ...APPLETS.map((a): Entry => ({ name: `bin/${a}`, type: 'symlink', mode: 0o777, target: 'busybox' })),
    dir('dev'), dir('proc'), dir('sys'), dir('run'), dir('var'), dir('root', 0o700),
    dir('home'), dir('home/user', 0o755, 1000),
    dir('tmp', 0o1777),
    dir('etc'),
    file('etc/passwd', [
      'root:x:0:0:root:/root:/bin/sh',
      'user:x:1000:1000:user:/home/user:/bin/sh',
      'nobody:x:65534:65534:nobody:/nonexistent:/bin/sh',
      '',
    ].join('\n')),
    file('etc/group', 'root:x:0:\nuser:x:1000:\nnogroup:x:65534:\n'),
    ...Object.entries(extraFiles).map(([name, text]) => file(name, text)),
  ];
}

function goArch(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

export interface BuiltImage { name: string; manifestDigest: string; configDigest: string; diffId: string }

/**
 * Write the busybox image as an oci-archive tar to `file`. The index names it both ways:
 * `io.containerd.image.name` (the full name, read by containerd and podman) and
 * `org.opencontainers.image.ref.name` (the tag, per the image spec).
 */
export interface ImageOpts {
  name?: string;
  extraFiles?: Record<string, string>;
  /** The image config's Entrypoint and Cmd (default: no Entrypoint, Cmd ["sh"]). */
  entrypoint?: string[];
  cmd?: string[];
}

/** The image's layer (uncompressed tar), its diff id and its config blob. */
function imageParts(opts: ImageOpts): { layerTar: Buffer; diffId: string; config: Buffer } {
  const layerTar = tar(rootfsEntries(opts.extraFiles ?? {}));
  const diffId = sha256(layerTar);
  const config = Buffer.from(JSON.stringify({
    created: new Date(MTIME * 1000).toISOString(),
    architecture: goArch(),
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
      ...(opts.entrypoint ? { Entrypoint: opts.entrypoint } : {}),
      Cmd: opts.cmd ?? ['sh'],
    },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created: new Date(MTIME * 1000).toISOString(), created_by: 'runa test/helpers/oci-image.ts (host busybox-static)' }],
  }));
  return { layerTar, diffId, config };
}

/**
 * Write the busybox image as a docker-archive tar (what `docker save` writes and `docker load`
 * reads): manifest.json naming the config and the layer, the config as <hex>.json and the layer,
 * uncompressed, as <hex>/layer.tar.
 */
export function writeBusyboxDockerArchive(file: string, opts: ImageOpts = {}): BuiltImage {
  const name = opts.name ?? IMAGE;
  const { layerTar, diffId, config } = imageParts(opts);
  const configHex = sha256(config).slice(7);
  const layerDir = diffId.slice(7);
  const manifest = Buffer.from(JSON.stringify([{ Config: `${configHex}.json`, RepoTags: [name], Layers: [`${layerDir}/layer.tar`] }]));
  fs.writeFileSync(file, tar([
    { name: 'manifest.json', type: 'file', mode: 0o644, data: manifest },
    { name: `${configHex}.json`, type: 'file', mode: 0o644, data: config },
    { name: `${layerDir}/`, type: 'dir', mode: 0o755 },
    { name: `${layerDir}/layer.tar`, type: 'file', mode: 0o644, data: layerTar },
  ]));
  return { name, manifestDigest: '', configDigest: sha256(config), diffId };
}

export function writeBusyboxImage(file: string, opts: ImageOpts = {}): BuiltImage {
  const name = opts.name ?? IMAGE;
  const { layerTar, diffId, config } = imageParts(opts);
  const layer = gzipSync(layerTar, { level: 6 });
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha256(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha256(layer), size: layer.length }],
  }));
  const tag = name.slice(name.lastIndexOf(':') + 1);
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: sha256(manifest),
      size: manifest.length,
      platform: { architecture: goArch(), os: 'linux' },
      annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
    }],
  }));
  const blob = (b: Buffer): Entry => ({ name: `blobs/sha256/${sha256(b).slice(7)}`, type: 'file', mode: 0o644, data: b });
  fs.writeFileSync(file, tar([
    { name: 'oci-layout', type: 'file', mode: 0o644, data: Buffer.from('{"imageLayoutVersion":"1.0.0"}') },
    { name: 'index.json', type: 'file', mode: 0o644, data: index },
    { name: 'blobs/', type: 'dir', mode: 0o755 },
    { name: 'blobs/sha256/', type: 'dir', mode: 0o755 },
    blob(config), blob(manifest), blob(layer),
  ]));
  return { name, manifestDigest: sha256(manifest), configDigest: sha256(config), diffId };
}

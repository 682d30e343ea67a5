// The runc flags `criu dump` and `criu restore` take alike: what checkpoint and restore pass on.

export interface CriuSharedOptions {
  tcpEstablished?: boolean;
  extUnixSk?: boolean;
  shellJob?: boolean;
  fileLocks?: boolean;
  autoDedup?: boolean;
  lazyPages?: boolean;
}

/** CRIU's own flags for runc's --tcp-established, --ext-unix-sk, --shell-job, --file-locks, --auto-dedup, --lazy-pages. */
export function criuSharedFlags(o: CriuSharedOptions): string[] {
  const args: string[] = [];
  if (o.tcpEstablished) args.push('--tcp-established');
  if (o.extUnixSk) args.push('--ext-unix-sk');
  if (o.shellJob) args.push('--shell-job');
  if (o.fileLocks) args.push('--file-locks');
  if (o.autoDedup) args.push('--auto-dedup');
  if (o.lazyPages) args.push('--lazy-pages');
  return args;
}

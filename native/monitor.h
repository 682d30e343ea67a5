// The monitor (monitor.c): nsinit's process before `fork` and, after it, the container process's
// parent or watcher. It serves the monitor socket, forwards signals and records the exit.
#ifndef MONITOR_H
#define MONITOR_H
#include <signal.h>
#include <sys/types.h>

// plan op: the state dir and its monitor socket
void op_statedir(char **a);

// Block SIGCHLD and the signals the monitor forwards (taken through a signalfd from now on, so
// none is lost across fork); *old is the mask before, the process's.
void monitor_block_signals(sigset_t *old);
// What the monitor undoes before it reports a failure (errors.c's fail_cleanup).
void monitor_cleanup(void);
// The child was forked: from now on a failure kills it, signals go to it.
void monitor_child(pid_t pid);
// The monitor's life after fork: await the child's setup, tell the spawner, then serve until the
// child exits. gate: the write end of the gate pipe; pidfd: the sibling child's pidfd, or -1.
void __attribute__((noreturn)) monitor_run(int gate, int pidfd);
// The monitor's life once `criu restore` restored the child (monitor_child): tell the spawner,
// then serve as for a started child. pidfd: as for monitor_run.
void __attribute__((noreturn)) monitor_follow(int pidfd);
// In the child: let go of the monitor's fds (listening socket, signalfd, state dir, fd 3).
void monitor_leave(void);
// `--start` (run): open the gate as soon as `created` is written, without waiting for a
// client's monitor.start; the exit then waits for the first client (PROTOCOL.md).
void monitor_start_at_once(void);

#endif

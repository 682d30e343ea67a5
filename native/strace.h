// runsc's --strace for runa (strace.c): the monitor traces the container's process with ptrace
// (PTRACE_SEIZE once the child asks at the gate; forks, vforks, clones and execs followed) and
// writes one line per syscall, as strace prints it, to the debug log the plan names
// (PROTOCOL.md `strace`, `strace-call`). Which syscalls, how much of a buffer and where the lines
// go are the plan's; without a `strace` op nothing here runs (no ptrace at all).
#ifndef STRACE_H
#define STRACE_H
#include <sys/types.h>

// plan ops: the log and its limits; one traced syscall
void op_strace(char **a);
void op_strace_call(char **a);

// A `strace` op ran (the monitor traces; the child asks to be traced at the gate).
int strace_on(void);
// Child: ask the monitor to trace us (once; at the gate, or before a filter is loaded before it).
void strace_ask(int sock);
// Monitor: the child asked: seize it. own: the monitor is its parent (its exit status is ours).
void strace_seize(pid_t pid, int own);
// Monitor: handle every pending stop and exit of the traced tasks.
void strace_service(void);
// Monitor: wait until fd is readable, handling the traced tasks' stops meanwhile (a traced task
// waits for its tracer at each one). Returns at once without tracing.
void strace_await(int fd);
// Monitor: the child the monitor is the parent of was reaped while tracing: 1 and its status.
int strace_reaped(int *status);
// Child: let go of the tracer's fds.
void strace_leave(void);

#endif

// The tracer's tasks and the lines it writes for them (strace-log.c): the syscalls the plan names
// (`strace-call`), each task's syscall from its entry to its exit, and strace's lines for
// syscalls, signals, stops and exits, in the debug log's format. strace.c decides when.
#ifndef STRACE_LOG_H
#define STRACE_LOG_H
#include "strace-fmt.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// A traced task (thread), by its pid as the monitor sees it.
struct task {
	pid_t pid, vpid; // vpid: as the container's pid namespace has it
	int in_call, skip, unfinished, rest; // rest: the first argument printed at the exit
	uint64_t nr, args[6];
	struct sbuf entry; // `name(` and the arguments known at the entry
	struct task *next;
};

// Lines go to fd, JSON or glog text (pid: the writer's, in the latter); strings and buffers are
// cut after max bytes; all: syscalls no `strace-call` names are written too; proc: the host's /proc.
void slog_setup(int fd, int json, size_t max, int all, int proc, pid_t pid);

struct task *task_find(pid_t pid);
// The task, made on its first sight (its container pid read then).
struct task *task_get(pid_t pid);

// A syscall stop (its entry or its exit).
void slog_syscall(struct task *t);
// A signal-delivery-stop of sig.
void slog_signal(struct task *t, int sig);
// A group-stop by sig.
void slog_stopped(struct task *t, int sig);
// It exited (st: its wait status); the task is dropped.
void slog_exited(struct task *t, int st);
// PTRACE_EVENT_EXEC: a thread other than the leader exec'd: it goes on under the leader's pid.
void slog_exec(struct task *t);

#endif

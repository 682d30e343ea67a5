// nsinit's error reporting: where a failure goes depends on which process hit it, and when.
// Every other file of nsinit reports through this one; it calls none of them (the monitor's
// undoing before it reports is a hook nsinit.c sets).
#ifndef ERRORS_H
#define ERRORS_H
#include <errno.h>
#include <stddef.h>

#define MSG_MAX 2048 // error messages; small enough for one atomic pipe write

enum phase { MONITOR, CHILD_SETUP, CHILD_RUN };
extern enum phase phase;
// child -> monitor, SOCK_SEQPACKET: "<errno>\t<message>" (errno 0 = at the gate), or "pty" + SCM_RIGHTS
extern int setup_sock[2];
// child -> monitor, CLOEXEC: EOF without data = exec succeeded, else the message of what failed
extern int exec_pipe[2];
// fd 3 (3 + preserved) to the spawner, if it was open: the monitor's failures go there, as one line
extern int sync_fd;
// What the monitor undoes before it reports a failure (set by nsinit.c; NULL: nothing).
extern void (*fail_cleanup)(void);

// Report a failure where the current phase says it belongs, then end this process.
void __attribute__((noreturn)) fail(int err, const char *msg);
// Fail with "<formatted>: <strerror(err)>".
void __attribute__((noreturn, format(printf, 2, 3))) die_err(int err, const char *f, ...);
#define die(...) die_err(errno, __VA_ARGS__)
// For calls returning < 0 on failure: die naming the operation and its argument.
#define TRY(call, ...)                    \
	do {                              \
		if ((call) < 0)           \
			die(__VA_ARGS__); \
	} while (0)

// "nsinit: <what>: <strerror(errno)>" on stderr, and go on.
void warn_errno(const char *what);

#endif

// seccomp: decode and load a filter the TypeScript side compiled (the `seccomp` op itself is
// child.c's: where it loads the filter is the child's business), hand a user-notification
// listener to the runtime's listener socket (runc's protocol), and report what the kernel supports.
#include "nsinit.h"
#include "seccomp.h"
#include "unixsock.h"
#include "plan.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif
#define PID_MARK "@PID@"

static const char *listener_path, *listener_state; // from seccomp-listener (the monitor's)

// FLAGS PROGRAM: PROGRAM is the sock_filter array in lowercase hex (16 digits an instruction).
void seccomp_decode(char **a, struct seccomp_prog *p)
{
	p->flags = strtoul(a[0], NULL, 0);
	if (!(p->bytes = plan_hex_program(a[1], BPF_MAXINSNS, &p->len))) {
		if (errno == ERANGE)
			die_err(EINVAL, "seccomp: the program is not 1 to %d instructions of 16 hex digits", BPF_MAXINSNS);
		if (errno == EINVAL)
			die_err(EINVAL, "seccomp: the program is not hex");
		die("seccomp");
	}
}

int seccomp_wants_listener(const struct seccomp_prog *p)
{
	return (p->flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) != 0;
}

// The one syscall made under the filter here is seccomp(2) itself, which loaded it.
int seccomp_load(struct seccomp_prog *p)
{
	struct sock_fprog prog = {.len = (unsigned short)p->len, .filter = (struct sock_filter *)p->bytes};
	int fd;

	TRY((fd = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, p->flags, &prog)),
	    "seccomp: load the filter (%zu instructions, flags 0x%lx)", p->len, p->flags);
	free(p->bytes);
	p->bytes = NULL;
	return seccomp_wants_listener(p) ? fd : -1;
}

// PATH STATE: where a listener fd goes, and the state JSON sent with it (PID_MARK stands for
// the process's pid, which only the monitor knows).
void op_seccomp_listener(char **a)
{
	listener_path = a[0];
	listener_state = a[1];
}

// The monitor got the child's listener fd: send it with the state over the listener socket.
void seccomp_handover(int listener, pid_t pid)
{
	char num[16], *msg, *out;
	const char *p, *m;
	size_t n = 0;
	int sock;

	if (!listener_path) {
		close(listener);
		fail(EPROTO, "seccomp: a listener fd from the child but no \"seccomp-listener\" in the plan");
	}
	snprintf(num, sizeof num, "%d", (int)pid);
	for (p = listener_state; (m = strstr(p, PID_MARK)); p = m + strlen(PID_MARK))
		n++;
	if (!(msg = malloc(strlen(listener_state) + n * strlen(num) + 1)))
		die("seccomp-listener");
	for (p = listener_state, out = msg; (m = strstr(p, PID_MARK)); p = m + strlen(PID_MARK)) {
		memcpy(out, p, (size_t)(m - p));
		out += m - p;
		out = stpcpy(out, num);
	}
	strcpy(out, p);
	// runc's words lead: scripts grep for them.
	sock = unix_connect("failed to connect with seccomp agent specified in the seccomp profile: seccomp-listener", listener_path);
	TRY(send_fd(sock, msg, listener), "seccomp-listener \"%s\": send the listener fd", listener_path);
	close(sock);
	close(listener);
	free(msg);
}

// `nsinit --probe-seccomp`: the filter flags and actions this kernel knows, one line each.
int seccomp_probe(void)
{
	static const struct { const char *name; unsigned long flags; } flag[] = {
		{"tsync", 1}, {"log", 2}, {"spec_allow", 4}, {"new_listener", 8}, {"tsync_esrch", 16},
		{"wait_killable_recv", 32 | 8}, // only valid together with new_listener
	};
	static const struct { const char *name; unsigned int ret; } action[] = {
		{"kill_process", 0x80000000U}, {"kill_thread", 0}, {"trap", 0x00030000}, {"errno", 0x00050000},
		{"user_notif", 0x7fc00000}, {"trace", 0x7ff00000}, {"log", 0x7ffc0000}, {"allow", 0x7fff0000},
	};

	fputs("flags", stdout);
	// A known flag gets as far as reading the (NULL) program: EFAULT; an unknown one EINVAL.
	for (size_t i = 0; i < ARRAY_SIZE(flag); i++)
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flag[i].flags, NULL) < 0 && errno == EFAULT)
			printf(" %s", flag[i].name);
	fputs("\nactions", stdout);
	for (size_t i = 0; i < ARRAY_SIZE(action); i++)
		if (syscall(SYS_seccomp, SECCOMP_GET_ACTION_AVAIL, 0, &action[i].ret) == 0)
			printf(" %s", action[i].name);
	fputs("\n", stdout);
	return fflush(stdout) == 0 ? 0 : 1;
}

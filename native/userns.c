// The monitor's user namespace (PROTOCOL.md, `userns` and `userns-rootless`): it unshares
// CLONE_NEWUSER while a map writer, forked first and left in the initial user namespace with our
// capabilities, writes its uid and gid maps (directly, or through newuidmap/newgidmap).
#include "nsinit.h"
#include "userns.h"
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

// Run HELPER <monitor> <the numbers of MAP> (newuidmap, newgidmap: setuid tools that check
// /etc/subuid and /etc/subgid) and wait for it. 0, or an errno with its output in out.
static int run_map_helper(const char *helper, pid_t monitor, const char *map, char *out, size_t size)
{
	enum { MAX_WORDS = 3 * 340 }; // the kernel takes up to 340 map lines
	char copy[MSG_MAX * 4], pid[16], *argv[MAX_WORDS + 3], *save = NULL;
	size_t argc = 0, len = 0;
	int p[2], st;
	pid_t h;
	ssize_t n;

	if (strlen(map) >= sizeof copy)
		return fmt(out, size, "map too long for %s", helper), E2BIG;
	memcpy(copy, map, strlen(map) + 1);
	fmt(pid, sizeof pid, "%d", (int)monitor);
	argv[argc++] = (char *)helper;
	argv[argc++] = pid;
	for (char *w = strtok_r(copy, " \t\n", &save); w && argc < MAX_WORDS + 2; w = strtok_r(NULL, " \t\n", &save))
		argv[argc++] = w;
	argv[argc] = NULL;
	if (pipe2(p, O_CLOEXEC) < 0)
		return fmt(out, size, "pipe2: %s", strerror(errno)), errno;
	if ((h = fork()) < 0)
		return fmt(out, size, "fork: %s", strerror(errno)), errno;
	if (h == 0) {
		if (dup2(p[1], 1) >= 0 && dup2(p[1], 2) >= 0)
			execv(helper, argv);
		dprintf(p[1], "exec %s: %s", helper, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	while (len < size - 1 && ((n = read(p[0], out + len, size - 1 - len)) > 0 || (n < 0 && errno == EINTR)))
		if (n > 0)
			len += (size_t)n;
	close(p[0]);
	while (len > 0 && (out[len - 1] == '\n' || out[len - 1] == ' '))
		len--;
	out[len] = '\0';
	while (waitpid(h, &st, 0) < 0)
		if (errno != EINTR)
			return fmt(out, size, "waitpid: %s", strerror(errno)), errno;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : EPERM;
}

// The map writer: a child left in the initial user namespace with our capabilities. It waits
// for one byte on `go` (EOF: the monitor gave up), writes SETGROUPS (when given) to the
// monitor's setgroups, its uid_map then gid_map (each through its helper when one is given),
// and exits 0, or 1 after sending "<errno>\t<message>" on `res`. Never calls fail(): that
// would act for the monitor (unlink its socket, write the sync pipe).
static void __attribute__((noreturn)) map_writer(pid_t monitor, char **maps, const char *setgroups, char **helpers, int go, int res)
{
	static const char *const file[] = {"uid_map", "gid_map"};
	char path[64], msg[MSG_MAX + 32], out[MSG_MAX / 2], c;
	ssize_t n;
	int err = 0, fd = -1;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	while ((n = read(go, &c, 1)) < 0 && errno == EINTR)
		;
	if (n != 1)
		_exit(0);
	if (setgroups && *setgroups) {
		size_t len = strlen(setgroups);
		fmt(path, sizeof path, "/proc/%d/setgroups", (int)monitor);
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			err = errno;
		else if (getppid() != monitor)
			err = ESRCH;
		else if ((n = write(fd, setgroups, len)) < 0)
			err = errno;
		if (fd >= 0 && close(fd) < 0 && !err)
			err = errno;
		fd = -1;
		if (err) {
			write_all(res, msg, fmt(msg, sizeof msg, "%d\tuserns: write \"%s\": %s", err, path, strerror(err)));
			_exit(1);
		}
	}
	for (int k = 0; k < 2 && !err; k++) {
		size_t len = strlen(maps[k]);
		fmt(path, sizeof path, "/proc/%d/%s", (int)monitor, file[k]);
		if (helpers && *helpers[k]) {
			if (getppid() != monitor)
				err = ESRCH;
			else if ((err = run_map_helper(helpers[k], monitor, maps[k], out, sizeof out))) {
				write_all(res, msg, fmt(msg, sizeof msg, "%d\tuserns: %s %d (for %s): %s", err, helpers[k], (int)monitor, file[k], *out ? out : "failed"));
				_exit(1);
			}
			continue;
		}
		if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
			err = errno;
		else if (getppid() != monitor) // it died before we opened: that pid may be another process
			err = ESRCH;
		else if ((n = write(fd, maps[k], len)) < 0) // a map is taken whole, in one write, or not at all
			err = errno;
		else if ((size_t)n != len)
			err = EIO;
		if (fd >= 0 && close(fd) < 0 && !err)
			err = errno;
		fd = -1;
	}
	if (!err)
		_exit(0);
	write_all(res, msg, fmt(msg, sizeof msg, "%d\tuserns: write \"%s\": %s", err, path, strerror(err)));
	_exit(1);
}

// unshare(CLONE_NEWUSER) and have the map writer set our uid/gid maps (see map_writer).
// `dumpable`: a monitor without host privileges is made dumpable while the maps are written,
// or /proc/<pid> would be root's and neither the writer nor a helper could write them.
static void enter_userns(char **maps, const char *setgroups, char **helpers, int dumpable)
{
	int go[2], res[2], st, err, keep[2];
	pid_t self = getpid(), w;
	char msg[MSG_MAX + 32], *text;
	size_t len = 0;
	ssize_t n;

	TRY(pipe2(go, O_CLOEXEC), "userns: pipe2");
	TRY(pipe2(res, O_CLOEXEC), "userns: pipe2");
	TRY((w = fork()), "userns: fork");
	if (w == 0) {
		close(go[1]);
		close(res[0]);
		keep[0] = go[0] < res[1] ? go[0] : res[1];
		keep[1] = go[0] < res[1] ? res[1] : go[0];
		close_all_but(keep); // the sync pipe above all: its EOF must come from the monitor
		map_writer(self, maps, setgroups, helpers, go[0], res[1]);
	}
	close(go[0]);
	close(res[1]);
	err = unshare(CLONE_NEWUSER) < 0 ? errno : 0;
	if (!err && dumpable && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0)
		err = errno;
	if (!err && write_all(go[1], "1", 1) < 0)
		err = -1; // the writer is gone; its status says why
	close(go[1]); // on failure the writer reads EOF and exits quietly
	for (;;) {
		n = read(res[0], msg + len, sizeof msg - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || (len += (size_t)n) == sizeof msg - 1)
			break;
	}
	close(res[0]);
	msg[len] = '\0';
	// Our signals are blocked (signalfd), so this cannot be interrupted; the SIGCHLD it leaves
	// pending only wakes the monitor loop once, for a waitpid that finds nothing.
	while (waitpid(w, &st, 0) < 0)
		if (errno != EINTR)
			die("userns: waitpid %d", (int)w);
	if (dumpable)
		TRY(prctl(PR_SET_DUMPABLE, 0, 0, 0, 0), "userns: prctl PR_SET_DUMPABLE");
	if (err > 0)
		die_err(err, "userns: unshare \"user\"");
	if (len > 0) {
		long e = strtol(msg, &text, 10);
		if (*text != '\t' || e <= 0)
			fail(EPROTO, "userns: garbled report from the map writer");
		fail((int)e, text + 1);
	}
	if (err || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail(ECHILD, "userns: the map writer died without a report");
}

// Run by the monitor: a user namespace whose maps the writer, left outside as host root, writes.
// The monitor keeps its kuid 0 (unmapped inside: it shows as the overflow id) so it can still
// write the exit file in the host-owned state dir; what runs inside sets its ids with setuid.
void op_userns(char **a)
{
	enter_userns(a, NULL, NULL, 0);
}

// The same for a monitor without host privileges (rootless): UIDMAP GIDMAP SETGROUPS UIDHELPER
// GIDHELPER. The kernel lets it write one line mapping its own id (its own gid only once
// setgroups is "deny"); a map with a helper is written by it.
void op_userns_rootless(char **a)
{
	char *helpers[2] = {a[3], a[4]};
	enter_userns(a, a[2], helpers, 1);
}

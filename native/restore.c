// criu-restore PIDFILE SIBLING: the monitor forks; the child runs the plan's next ops (its cgroup
// joins, a mount namespace of its own with the root bound where CRIU wants it, the `arg`s of
// `criu restore … --restore-detached --pidfile PIDFILE`) up to `exec`. The monitor waits for
// CRIU, reads the restored init's pid from PIDFILE and follows it: with SIBLING 1 CRIU restored it
// as CRIU's sibling (--restore-sibling), the monitor's own child, which it reaps as after `fork`;
// with 0 it was CRIU's child, reparented on CRIU's exit to the caller's subreaper (as runc's
// restore leaves it), and the monitor watches it through a pidfd, as after `fork-sibling`.
#include "nsinit.h"
#include "monitor.h"
#include "restore.h"
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

// The pid CRIU wrote (a decimal number and maybe a newline), or a failure naming the file.
static pid_t read_pidfile(const char *path)
{
	char buf[32], *end;
	ssize_t n;
	int fd;

	TRY((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)), "criu-restore: open the pid file \"%s\"", path);
	if (unlink(path) < 0) // read once, whatever it holds
		warn_errno("criu-restore: unlink the pid file");
	while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR)
		;
	TRY(n, "criu-restore: read the pid file \"%s\"", path);
	close(fd);
	buf[n] = '\0';
	long pid = strtol(buf, &end, 10);
	if (end == buf || (*end && *end != '\n') || pid <= 0)
		die_err(EPROTO, "criu-restore: the pid file \"%s\" holds no pid (\"%.16s\")", path, buf);
	return (pid_t)pid;
}

// The process has exited, or a SIGKILL is pending for it (the parent-death signal CRIU's exit
// sent it, before the monitor's waitpid returned): it dies without running again.
static int gone(pid_t pid, int pidfd)
{
	struct pollfd p = {.fd = pidfd, .events = POLLIN};
	char path[64], buf[4096], *line;
	ssize_t n;
	int fd;

	if (poll(&p, 1, 0) == 1)
		return 1;
	fmt(path, sizeof path, "/proc/%d/status", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return errno == ENOENT;
	while ((n = read(fd, buf, sizeof buf - 1)) < 0 && errno == EINTR)
		;
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	for (line = buf; line; line = (line = strchr(line, '\n')) ? line + 1 : NULL) {
		if (strncmp(line, "SigPnd:", 7) && strncmp(line, "ShdPnd:", 7))
			continue;
		if (strtoull(line + 7, NULL, 16) & (1ULL << (SIGKILL - 1)))
			return 1;
	}
	return 0;
}

static void __attribute__((noreturn)) await_criu(pid_t criu, const char *pidfile, int sibling)
{
	char rec[MSG_MAX + 32], *msg;
	ssize_t n;
	int st, pidfd = -1;

	// EOF: CRIU was exec'd (the socket is close-on-exec) or the child died before; else a failure of the child's ops.
	while ((n = recv(setup_sock[0], rec, sizeof rec - 1, 0)) < 0 && errno == EINTR)
		;
	close_fd(&setup_sock[0]);
	while (waitpid(criu, &st, 0) < 0)
		if (errno != EINTR)
			die("criu-restore: waitpid %d", (int)criu);
	monitor_child(-1); // CRIU is gone: nothing for a failure to kill yet
	if (n > 0) {
		rec[n] = '\0';
		long err = strtol(rec, &msg, 10);
		if (*msg != '\t')
			fail(EPROTO, "criu-restore: garbled report from the child");
		fail((int)err, msg + 1);
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		// The spawner reads CRIU's log for the reason.
		if (WIFSIGNALED(st))
			fmt(rec, sizeof rec, "criu restore: killed by signal %d", WTERMSIG(st));
		else
			fmt(rec, sizeof rec, "criu restore: exited with status %d", WEXITSTATUS(st));
		fail(EIO, rec);
	}
	pid_t init = read_pidfile(pidfile);
	monitor_child(init); // from now on a failure kills it, signals go to it
	if (sibling) {
		siginfo_t si = {0};
		// Ours to reap: one that is not our child is a CRIU that did not restore it as asked.
		TRY(waitid(P_PID, (id_t)init, &si, WEXITED | WNOHANG | WNOWAIT), "criu-restore: the restored process %d is not the monitor's child", (int)init);
	} else {
		TRY((pidfd = (int)syscall(SYS_pidfd_open, init, 0)), "criu-restore: pidfd_open %d (the restored process)", (int)init);
		// Gone, or going, as CRIU left: the parent-death signal CRIU restored (an init that was
		// its monitor's child dies with its parent), not a program that ended on its own.
		if (gone(init, pidfd))
			die_err(ESRCH, "criu-restore: the restored process %d died as CRIU exited (a parent-death signal? restore an image the way its container was created: with --pid-file or without)", (int)init);
	}
	monitor_follow(pidfd);
}

void op_criu_restore(char **a)
{
	pid_t pid;

	if (phase != MONITOR)
		die_err(EINVAL, "criu-restore: only the monitor runs it");
	TRY(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, setup_sock), "criu-restore: socketpair");
	TRY((pid = fork()), "criu-restore: fork");
	if (pid > 0) {
		monitor_child(pid);
		close_fd(&setup_sock[1]);
		await_criu(pid, a[0], (int)num(a[1]));
	}
	// The child: the next ops are CRIU's setup; `exec` reports a failure over the setup socket.
	phase = CHILD_SETUP;
	close_fd(&setup_sock[0]);
	monitor_leave();
}

// runa-lock: holds the one-daemon-per-root lock for the daemon that spawned it. A flock on a
// file in the root is shared by every network, mount and user namespace that sees the file
// (an abstract socket, runa's old lock, belongs to one network namespace).
//
//   runa-lock FILE   open FILE (made 0600 if missing; never through a symlink), take
//                    flock(LOCK_EX | LOCK_NB) and say on stdout:
//                      "locked\n"  held; it stays held until our parent dies (PDEATHSIG) or
//                                  closes our stdin;
//                      "busy\n"    another process holds it (exit 1).
// Anything else is one line on stderr, "runa-lock: <what> <path>: <strerror>", and exit 2: a
// FILE that is no regular file (a FIFO, a directory) or that another user owns is refused.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fail(const char *what, const char *path, int err)
{
	fprintf(stderr, "runa-lock: %s %s: %s\n", what, path, strerror(err));
	return 2;
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fputs("usage: runa-lock FILE\n", stderr);
		return 2;
	}
	const char *file = argv[1];
	// Nothing of the daemon's but stdio stays open here (its starting pipe, see daemon-start.c:
	// held here, it would say the daemon is still starting for as long as the lock is held).
	if (syscall(SYS_close_range, 3U, ~0U, 0U) < 0)
		for (int i = 3; i < 1024; i++) close(i);
	pid_t parent = getppid();
	if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		return fail("prctl PR_SET_PDEATHSIG for", file, errno);
	if (getppid() != parent)
		return 2; // the daemon is already gone
	// O_NONBLOCK: a FIFO planted there must not hang the open.
	int fd = open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0 && errno == ELOOP) {
		fprintf(stderr, "runa-lock: %s is a symbolic link\n", file);
		return 2;
	}
	if (fd < 0)
		return fail("open", file, errno);
	struct stat st;
	if (fstat(fd, &st) < 0)
		return fail("stat", file, errno);
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "runa-lock: %s is not a regular file\n", file);
		return 2;
	}
	if (st.st_uid != geteuid()) {
		fprintf(stderr, "runa-lock: %s belongs to uid %u, not to uid %u\n", file, (unsigned)st.st_uid, (unsigned)geteuid());
		return 2;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EWOULDBLOCK) {
			fputs("busy\n", stdout);
			return 1;
		}
		return fail("flock", file, errno);
	}
	fputs("locked\n", stdout);
	fflush(stdout);
	// Held until the daemon goes: its end of our stdin closes, or PDEATHSIG ends us.
	char buf[64];
	for (;;) {
		ssize_t n = read(0, buf, sizeof buf);
		if (n == 0 || (n < 0 && errno != EINTR))
			return 0;
	}
}

/* No daemon answers: start it, for the commands that need one (see daemon-start.h). */
#define _GNU_SOURCE
#include "daemon-start.h"
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The commands that start the daemon when none runs (generated from src/daemon/front-end.ts). */
#include "starts-daemon.h"

int starts_daemon(const char *command)
{
	if (!command) return 0;
	for (size_t i = 0; i < sizeof STARTS_DAEMON / sizeof *STARTS_DAEMON; i++)
		if (!strcmp(command, STARTS_DAEMON[i])) return 1;
	return 0;
}

/* mkdir -p, the new directories 0700 (as the Node CLI makes the root). Unchecked: a root that
 * cannot be made leaves no daemon, and the Node CLI then says why. */
static void mkdirs(const char *dir)
{
	char p[PATH_MAX];
	snprintf(p, sizeof p, "%s", dir);
	for (char *s = p + 1; *s; s++)
		if (*s == '/') { *s = 0; mkdir(p, 0700); *s = '/'; }
	mkdir(p, 0700);
}

/* What the Node CLI does when no daemon answers, without starting Node.js twice: run
 * bin/runa-daemon.cjs (`runa daemon` with its code cache) in a session of its own, its output
 * appended to <root>/daemon.log, orphaned at once (a double fork) so that it is not this
 * caller's child. NODE_EXTRA_CA_CERTS is left out: the daemon makes no TLS connection, and
 * Node.js reads and parses that file at start (60 ms here). Two commands starting daemons at
 * once is fine: one takes the root's lock and the other leaves. */
/* Returns an fd that gives the errno if the daemon could not be executed (no `node` on PATH,
 * no log) and EOF once it was, or -1. *starting gets the read end of a pipe whose write end the
 * daemon holds until it has its root's lock (or found another daemon holding it): EOF there
 * means the daemon is past its start, or dead (RUNA_DAEMON_STARTING_FD, src/daemon/daemon.ts). */
static int start_daemon(const char *root, int *starting)
{
	char self[PATH_MAX], entry[PATH_MAX + 32], log[PATH_MAX + 16];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n < 0) return -1;
	self[n] = 0;
	for (int up = 0; up < 2; up++) { /* <package>/native/runa */
		char *slash = strrchr(self, '/');
		if (slash) *slash = 0;
	}
	snprintf(entry, sizeof entry, "%s/bin/runa-daemon.cjs", self);
	mkdirs(root);
	snprintf(log, sizeof log, "%s/daemon.log", root);
	int failed[2], start[2];
	if (pipe2(failed, O_CLOEXEC) < 0) return -1;
	if (pipe2(start, O_CLOEXEC) < 0) { close(failed[0]); close(failed[1]); return -1; }
	pid_t pid = fork();
	if (pid < 0) { close(failed[0]); close(failed[1]); close(start[0]); close(start[1]); return -1; }
	if (pid == 0) {
		if (fork() != 0) _exit(0);
		close(failed[0]);
		close(start[0]);
		setsid();
		/* The daemon inherits the write end (not close-on-exec) and is told its number. */
		char fdnum[16];
		snprintf(fdnum, sizeof fdnum, "%d", start[1]);
		if (fcntl(start[1], F_SETFD, 0) < 0 || setenv("RUNA_DAEMON_STARTING_FD", fdnum, 1) < 0) close(start[1]);
		int in = open("/dev/null", O_RDONLY | O_CLOEXEC);
		int out = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (in >= 0 && out >= 0 && dup2(in, 0) >= 0 && dup2(out, 1) >= 0 && dup2(out, 2) >= 0) {
			unsetenv("NODE_EXTRA_CA_CERTS");
			char *argv[] = { "node", entry, "--root", (char *)root, "daemon", NULL };
			execvp("node", argv);
		}
		int e = errno;
		if (write(failed[1], &e, sizeof e) < 0) {} /* the front end falls back either way */
		_exit(127);
	}
	close(failed[1]);
	close(start[1]);
	while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {}
	if (*starting >= 0) close(*starting);
	*starting = start[0];
	return failed[0];
}

/* Whether a daemon this front end started is still on its way to its lock (its end of the
 * starting pipe open): a slow start (a loaded host, an emulated machine) is waited for, not
 * doubled. */
static int still_starting(int *starting)
{
	if (*starting < 0) return 0;
	struct pollfd p = { .fd = *starting, .events = POLLIN };
	if (poll(&p, 1, 0) == 0) return 1;
	close(*starting);
	*starting = -1;
	return 0;
}

/* Whether a daemon holds this root's lock (a flock on <root>/daemon.lock, src/daemon/daemon.ts):
 * read from /proc/locks, which tests without taking (a probing flock could make a starting
 * daemon believe another one holds it). A lock file not there yet counts as not held. */
static int lock_held(const char *root)
{
	char file[PATH_MAX + 16], line[256];
	struct stat st;
	snprintf(file, sizeof file, "%s/daemon.lock", root);
	if (stat(file, &st) < 0) return 0;
	char id[64];
	snprintf(id, sizeof id, " %02x:%02x:%lu ", major(st.st_dev), minor(st.st_dev), (unsigned long)st.st_ino);
	FILE *f = fopen("/proc/locks", "re");
	if (!f) return 1; /* cannot tell: assume it is */
	int held = 0;
	while (!held && fgets(line, sizeof line, f))
		held = strstr(line, "FLOCK") && strstr(line, "WRITE") && strstr(line, id);
	fclose(f);
	return held;
}

/* One front end at a time starts a daemon: a flock on <root>/daemon.start, held from the start
 * until it connects (or gives up). Without it every command that found no daemon started one,
 * a herd of Node.js processes of which all but one leave at once (the daemon's own lock). */
static int start_lock = -1;
static int may_start(const char *root)
{
	if (start_lock >= 0) return 1;
	char file[PATH_MAX + 16];
	snprintf(file, sizeof file, "%s/daemon.start", root);
	int fd = open(file, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) return 1; /* cannot tell: start one */
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) { close(fd); return 0; }
	start_lock = fd;
	return 1;
}
static void started_done(void) { if (start_lock >= 0) { close(start_lock); start_lock = -1; } }

/* Connect once the daemon listens: every millisecond for half a second (Node.js takes 80 ms
 * or more to listen), then every 10 ms. A daemon that dies before it listens (killed, or the
 * machine's OOM killer) leaves the lock free: then a new one is started at once, every 300 ms at
 * most, so a command recovers within a fraction of a second; one still on its way to its lock
 * (`starting`) is waited for, however slow the host. A daemon that could not be executed
 * (`failed` gives its errno), or 10 s (the Node CLI's wait) without one, and the Node CLI takes
 * over and says what went wrong; 60 s while a daemon this front end started is still starting. */
static int await_daemon(int fd, const struct sockaddr_un *sa, int failed, const char *root, int starting)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	long started = 0;
	int ok = 0;
	for (;;) {
		if (failed >= 0) {
			struct pollfd p = { .fd = failed, .events = POLLIN };
			int e;
			if (poll(&p, 1, 0) > 0) {
				ssize_t r = read(failed, &e, sizeof e);
				close(failed);
				failed = -1;
				if (r > 0) break; /* not executed */
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		int waiting = still_starting(&starting);
		if (ms > (waiting ? 60000 : 10000)) break;
		usleep(ms > 500 ? 10000 : 1000);
		if (connect(fd, (const struct sockaddr *)sa, sizeof *sa) == 0) { ok = 1; break; }
		if (errno != ENOENT && errno != ECONNREFUSED) break;
		if (ms - started >= 300 && !waiting && !lock_held(root) && may_start(root)) {
			if (failed >= 0) close(failed);
			failed = start_daemon(root, &starting);
			started = ms;
		}
	}
	if (failed >= 0) close(failed);
	if (starting >= 0) close(starting);
	started_done();
	return ok ? 0 : -1;
}

int daemon_connect(int fd, const struct sockaddr_un *sa, const char *root)
{
	int starting = -1;
	int failed = may_start(root) ? start_daemon(root, &starting) : -1;
	return await_daemon(fd, sa, failed, root, starting);
}

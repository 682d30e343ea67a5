// Hookpoints: the monitor asks the spawner, on fd 3, to run the hooks of a point in setup and
// waits for its answer (PROTOCOL.md "Hookpoints").
#include "nsinit.h"
#include "hook.h"
#include <poll.h>
#include <string.h>
#include <unistd.h>

// The spawner is gone (EOF or an error on fd 3): nobody will answer. End create, on stderr.
static void __attribute__((noreturn)) spawner_gone(const char *name, int err)
{
	char msg[MSG_MAX];

	close_fd(&sync_fd);
	if (err)
		fmt(msg, sizeof msg, "hook %s: fd 3: %s", name, strerror(err));
	else
		fmt(msg, sizeof msg, "hook %s: the spawner closed fd 3 before answering", name);
	fail(err ? err : EPIPE, msg);
}

// Hookpoint NAME reached by process pid: write "hook\t<NAME>\t<pid>\n" on fd 3 and read the
// spawner's answer, one line: "ok" returns; "fail\t<message>" ends create with ECANCELED.
// Meanwhile the monitor socket is not served (clients wait in the backlog until created).
void run_hook(const char *name, pid_t pid)
{
	char line[MSG_MAX + 1], msg[MSG_MAX + 128];
	struct pollfd p[2];
	size_t len = 0;
	ssize_t n;

	if (write_all(sync_fd, line, fmt(line, sizeof line, "hook\t%s\t%d\n", name, (int)pid)) < 0)
		spawner_gone(name, errno);
	for (;;) {
		p[0] = (struct pollfd){.fd = sync_fd, .events = POLLIN};
		p[1] = (struct pollfd){.fd = setup_sock[0], .events = POLLIN}; // -1 before fork: skipped
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("hook %s: poll", name);
		}
		if (p[1].revents) { // the child waits for our answer: anything from it means it died
			fmt(msg, sizeof msg, "hook %s: the child exited while the hook ran", name);
			fail(ECHILD, msg);
		}
		if (!p[0].revents)
			continue;
		// One byte at a time: nothing past the answer's newline is ours to consume.
		n = read(sync_fd, line + len, 1);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			spawner_gone(name, n < 0 ? errno : 0);
		if (line[len] == '\n')
			break;
		if (++len == MSG_MAX) {
			fmt(msg, sizeof msg, "hook %s: answer from the spawner longer than %d bytes", name, MSG_MAX - 1);
			fail(EPROTO, msg);
		}
	}
	line[len] = '\0';
	if (strcmp(line, "ok") == 0)
		return;
	if (strncmp(line, "fail\t", 5) == 0) {
		fmt(msg, sizeof msg, "hook %s: %s", name, line + 5);
		fail(ECANCELED, msg);
	}
	fmt(msg, sizeof msg, "hook %s: garbled answer from the spawner \"%.64s\"", name, line);
	fail(EPROTO, msg);
}

// Test helper: a seccomp notification agent. `seccomp-agent SOCKET STATEFILE ERRNO` listens on
// SOCKET, takes one connection carrying the container's state JSON and a listener fd
// (SCM_RIGHTS, runc's protocol), writes the JSON to STATEFILE, then answers every notification
// with -ERRNO (0: success, returning 42) and prints the syscall number of each, until the
// container's processes are gone.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void die(const char *what)
{
	perror(what);
	exit(2);
}

int main(int argc, char **argv)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	static char data[1 << 16];
	char ctl[CMSG_SPACE(sizeof(int))];
	int s, c, fd = -1, out;

	if (argc != 4 || strlen(argv[1]) >= sizeof addr.sun_path)
		return fprintf(stderr, "usage: seccomp-agent SOCKET STATEFILE ERRNO\n"), 2;
	int err = atoi(argv[3]);
	strcpy(addr.sun_path, argv[1]);
	if ((s = socket(AF_UNIX, SOCK_STREAM, 0)) < 0 || bind(s, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(s, 1) < 0)
		die("listen");
	printf("listening\n");
	fflush(stdout);
	if ((c = accept(s, NULL, NULL)) < 0)
		die("accept");
	struct iovec iov = {.iov_base = data, .iov_len = sizeof data - 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	ssize_t n = recvmsg(c, &msg, 0);
	if (n < 0)
		die("recvmsg");
	for (struct cmsghdr *h = CMSG_FIRSTHDR(&msg); h; h = CMSG_NXTHDR(&msg, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
			memcpy(&fd, CMSG_DATA(h), sizeof fd);
	if (fd < 0)
		return fprintf(stderr, "seccomp-agent: no fd received\n"), 2;
	if ((out = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0 || write(out, data, (size_t)n) != n)
		die(argv[2]);
	close(out);
	close(c);
	unlink(argv[1]);
	for (;;) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		struct seccomp_notif req;
		struct seccomp_notif_resp resp;

		if (poll(&p, 1, -1) < 0 && errno != EINTR)
			die("poll");
		if (p.revents & POLLHUP)
			return 0; // no process uses the filter any more
		if (!(p.revents & POLLIN))
			continue;
		memset(&req, 0, sizeof req);
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_RECV, &req) < 0) {
			if (errno == EINTR || errno == ENOENT)
				continue;
			die("SECCOMP_IOCTL_NOTIF_RECV");
		}
		memset(&resp, 0, sizeof resp);
		resp.id = req.id;
		resp.error = -err;
		resp.val = err ? 0 : 42;
		printf("notified %d\n", req.data.nr);
		fflush(stdout);
		if (ioctl(fd, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0 && errno != ENOENT)
			die("SECCOMP_IOCTL_NOTIF_SEND");
	}
}

// AF_UNIX sockets by path and fd passing (see unixsock.h).
#include "nsinit.h"
#include "unixsock.h"
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int send_fd(int sock, const char *data, int fd)
{
	char ctl[CMSG_SPACE(sizeof fd)];
	struct iovec iov = {.iov_base = (void *)data, .iov_len = strlen(data)};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	struct cmsghdr *c;
	ssize_t n;

	memset(ctl, 0, sizeof ctl);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof fd);
	memcpy(CMSG_DATA(c), &fd, sizeof fd);
	while ((n = sendmsg(sock, &msg, MSG_NOSIGNAL)) < 0 && errno == EINTR)
		;
	if (n >= 0 && (size_t)n != iov.iov_len) {
		errno = EMSGSIZE;
		return -1;
	}
	return n < 0 ? -1 : 0;
}

// Receive one message into buf (NUL-terminated); *fd is the fd it carried (CLOEXEC) or -1.
ssize_t recv_fd(int sock, char *buf, size_t size, int *fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = buf, .iov_len = size - 1};
	struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof ctl};
	ssize_t n;

	*fd = -1;
	while ((n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (n < 0)
		return -1;
	buf[n] = '\0';
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS && c->cmsg_len == CMSG_LEN(sizeof(int)))
			memcpy(fd, CMSG_DATA(c), sizeof(int));
	return n;
}

// Connect to the AF_UNIX stream socket at path (op names the caller in errors). sun_path is
// too short for long paths: those are connected relative to the socket's directory.
int unix_connect(const char *op, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	const char *slash = strrchr(path, '/'), *name = path;
	int cwd = -1, r, sock;

	TRY((sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)), "%s \"%s\": socket", op, path);
	if (strlen(path) >= sizeof addr.sun_path && slash && slash != path) {
		char *dir = strndup(path, (size_t)(slash - path));
		if (!dir)
			die("%s \"%s\"", op, path);
		TRY((cwd = open(".", O_PATH | O_CLOEXEC)), "open \".\"");
		TRY(chdir(dir), "%s \"%s\": chdir \"%s\"", op, path, dir);
		free(dir);
		name = slash + 1;
	}
	if (strlen(name) >= sizeof addr.sun_path)
		die_err(ENAMETOOLONG, "%s \"%s\"", op, path);
	memcpy(addr.sun_path, name, strlen(name));
	while ((r = connect(sock, (struct sockaddr *)&addr, sizeof addr)) < 0 && errno == EINTR)
		;
	TRY(r, "%s \"%s\"", op, path);
	if (cwd >= 0) {
		TRY(fchdir(cwd), "fchdir back from \"%s\"", path);
		close(cwd);
	}
	return sock;
}

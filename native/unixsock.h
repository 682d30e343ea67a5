// AF_UNIX sockets by path and fd passing (SCM_RIGHTS), for the console socket, the seccomp
// listener, the pidfd socket and the setup socket between the child and the monitor.
#ifndef UNIXSOCK_H
#define UNIXSOCK_H
#include <sys/types.h>

// Send one message carrying data and one fd; 0, or -1 with errno.
int send_fd(int sock, const char *data, int fd);
// Receive one message (NUL-terminated in buf) and the fd it carries (*fd = -1: none); its length, 0 at EOF, or -1.
ssize_t recv_fd(int sock, char *buf, size_t size, int *fd);
// Connect to the AF_UNIX stream socket at path (any length); dies naming op on failure.
int unix_connect(const char *op, const char *path);

#endif

/* No daemon answers (daemon-start.c): start one, for the commands that need one, and connect. */
#ifndef DAEMON_START_H
#define DAEMON_START_H
#include <sys/un.h>

/* Whether this command starts the daemon when none runs (STARTS_DAEMON, starts-daemon.h). */
int starts_daemon(const char *command);
/* Start the daemon of root (unless another front end is starting it) and connect fd to sa once
 * it listens; 0, or -1 (then the Node CLI takes over and says what went wrong). */
int daemon_connect(int fd, const struct sockaddr_un *sa, const char *root);

#endif

// The monitor socket's clients (clients.c, PROTOCOL.md "Monitor socket"): JSON lines in and out.
#ifndef CLIENTS_H
#define CLIENTS_H
#include <poll.h>
#include <sys/types.h>

#define MAX_CLIENTS 32
#define SOCK_NAME "monitor.sock" // in the state dir

// No client yet; `gate` is the write end of the gate pipe (monitor.start opens it), `child` the
// process requests act on; `running` 1 when it runs already (restored: no gate, no start).
void clients_init(int gate, pid_t child, int running);
// A connection on the listening socket: a new client, greeted with monitor.hello.
void clients_accept(int listen_fd);
// One pollfd a client (fd -1: a free slot), and serve those that are readable.
void clients_pollfds(struct pollfd p[MAX_CLIENTS]);
void clients_io(const struct pollfd p[MAX_CLIENTS]);
// --start: open the gate now, with no client asking; the first hello carries a failure.
void clients_start_now(void);
// Whether a client was ever greeted.
int clients_ever(void);
// Tell every client process.exited.
void clients_exited(int status, int sig);

#endif

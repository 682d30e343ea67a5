// Consoles (console.c): a pty handed to a --console-socket receiver, or to the monitor, which
// relays it to its own stdio.
#ifndef CONSOLE_H
#define CONSOLE_H
#include <poll.h>

// plan ops
void op_console_connect(char **a);
void op_console(char **a);
void op_console_proxy(char **a);
void op_winsize(char **a);
void console_drop_socket(void); // the monitor, after fork: a console-connect is for the child

// the monitor's relay between its stdio and a proxied pty master
void proxy_attach(int master);
void proxy_pollfds(struct pollfd p[2]);
void proxy_io(const struct pollfd p[2]);
int proxy_resize(void); // on SIGWINCH: 1 if a pty is proxied (then the signal is not forwarded)
void proxy_finish(void); // drain the master, restore the terminal
void proxy_restore(void); // restore the terminal only

#endif

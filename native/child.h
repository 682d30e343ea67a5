// The container process's life in nsinit (child.c): forked, set up, waiting at the gate, exec'd.
#ifndef CHILD_H
#define CHILD_H
#include <signal.h>
#include <stddef.h>

extern int preserved;     // --preserve-fds N: fds 3 .. 2+N go to the process as they are
extern sigset_t old_mask; // the signal mask nsinit started with: the process's

// Room for the program's argv and environment (`arg`, `env`): n entries each, NULL-terminated.
void exec_init(char **argv, char **env);

// plan ops
void op_pidfd_socket(char **a);
void op_fork(char **a);
void op_fork_sibling(char **a);
void op_pdeathsig(char **a);
void op_stdio_null(char **a);
void op_env(char **a);
void op_arg(char **a);
void op_gate_signals(char **a);
void op_gate(char **a);
void op_hookpoint(char **a);
void op_seccomp(char **a);
void op_exec(char **a);

#endif

// The process's credentials and limits (creds.c): groups, ids, capabilities, no_new_privs,
// rlimits, and the stdio it is given.
#ifndef CREDS_H
#define CREDS_H

void op_setgroups(char **a);
void op_setgid(char **a);
void op_setuid(char **a);
void op_keepcaps(char **a);
void op_nonewprivs(char **a);
void op_capbset(char **a);
void op_capset(char **a);
void op_ambient(char **a);
void op_capdrop(char **a);
void op_rlimit(char **a);
void op_fix_stdio(char **a);

#endif

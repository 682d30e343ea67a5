// Namespaces and what is set in them (ns.c): unshare, setns, host and domain names, the
// loopback interface, and `write` (sysctls, cgroup.procs, oom_score_adj, ...).
#ifndef NS_H
#define NS_H

void op_unshare(char **a);
void op_setns(char **a);
void op_sethostname(char **a);
void op_setdomainname(char **a);
void op_loopback(char **a);
void op_write(char **a);

#endif

// Attributes of the process (process.c): scheduling, I/O priority, CPU affinity, personality,
// memory policy, session keyring, working directory, umask, session.
#ifndef PROCESS_H
#define PROCESS_H

void op_sched(char **a);
void op_ioprio(char **a);
void op_affinity(char **a);
void op_personality(char **a);
void op_keyring(char **a);
void op_mempolicy(char **a);
void op_chdir(char **a);
void op_chdir_early(char **a);
void op_chdir_late(char **a);
void op_umask(char **a);
void op_setsid(char **a);

#endif

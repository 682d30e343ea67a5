// `runa restore` (restore.c): the monitor runs `criu restore` as its child and then follows the
// process CRIU restored as it follows a forked one.
#ifndef RESTORE_H
#define RESTORE_H

// plan op: criu-restore PIDFILE SIBLING
void op_criu_restore(char **a);

#endif

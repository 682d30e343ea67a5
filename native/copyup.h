// mount-copyup (copyup.c): a mount that starts with the content of the directory it covers.
#ifndef COPYUP_H
#define COPYUP_H

void op_mount_copyup(char **a);

#endif

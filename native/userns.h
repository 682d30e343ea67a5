// User namespaces of the monitor (userns.c): entered, with maps written by a writer left outside.
#ifndef USERNS_H
#define USERNS_H

void op_userns(char **a);
void op_userns_rootless(char **a);

#endif

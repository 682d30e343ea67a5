// Hookpoints (hook.c, PROTOCOL.md "Hookpoints"): the spawner is asked to run OCI hooks mid-setup.
#ifndef HOOK_H
#define HOOK_H
#include <sys/types.h>

// Hookpoint NAME reached by process pid: tell the spawner on fd 3 and wait for its answer. Returns
// on "ok"; anything else ends create (fail()).
void run_hook(const char *name, pid_t pid);

#endif

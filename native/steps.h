/* The caller's side of a command (steps.c): what the daemon asks the front end to do here, one
 * `cli.step` at a time: nsinit spawned with our stdio, its sync channel read and written, the
 * monitor signalled and waited for. Each step appends its result (a JSON object) to r. */
#ifndef STEPS_H
#define STEPS_H
#include "json.h"

void step_spawn(int ws, const char *step, struct buf *r);
void step_read(int ws, struct buf *r);
void step_write(const char *step, struct buf *r);
void step_kill(const char *step, struct buf *r);
void step_wait(int ws, struct buf *r);
/* The daemon went away mid-command: say so, kill an nsinit not yet waited for; the exit status. */
int daemon_gone(void);

#endif

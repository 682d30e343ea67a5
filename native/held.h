// Held mounts (detached clones made while host root) and idmapped mounts (held.c).
#ifndef HELD_H
#define HELD_H

void op_hold(char **a);
void op_mount_held(char **a);
void op_idmap_userns(char **a);
void op_hold_idmap(char **a);

#endif

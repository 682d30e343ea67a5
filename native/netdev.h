// linux.netDevices (netdev.c): interfaces moved into the container's network namespace.
#ifndef NETDEV_H
#define NETDEV_H

void op_netdev(char **a);
void op_netdev_move(char **a);

#endif

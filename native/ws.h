/* The front end's WebSocket frames (ws.c, RFC 6455) on the daemon's socket. */
#ifndef WS_H
#define WS_H
#include <stddef.h>

#define MAX_FRAME (1u << 20) /* the daemon's own cap (src/bus/socket-server.ts) */

/* Send one frame, masked as a client's must be; 0, or -1. */
int send_frame(int fd, int opcode, const char *payload, size_t len);
/* Read one frame into *out (NUL-terminated, malloc'd); returns its opcode, or -1. */
int read_frame(int fd, char **out, size_t *outlen);

#endif

/* The front end's WebSocket frames (RFC 6455): a client's, masked; a server's, unmasked and at
 * most MAX_FRAME bytes. */
#include "io.h"
#include "ws.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A client frame: masked (RFC 6455 §5.3). */
int send_frame(int fd, int opcode, const char *payload, size_t len)
{
	unsigned char head[14];
	size_t h = 0;
	head[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126) head[h++] = (unsigned char)(0x80 | len);
	else if (len < 65536) { head[h++] = 0x80 | 126; head[h++] = (unsigned char)(len >> 8); head[h++] = (unsigned char)len; }
	else { head[h++] = 0x80 | 127; for (int i = 7; i >= 0; i--) head[h++] = (unsigned char)((uint64_t)len >> (8 * i)); }
	unsigned char mask[4];
	uint32_t r = (uint32_t)getpid() * 2654435761u ^ (uint32_t)(uintptr_t)&r;
	memcpy(mask, &r, 4);
	memcpy(head + h, mask, 4);
	h += 4;
	char *masked = malloc(len ? len : 1);
	if (!masked) return -1;
	for (size_t i = 0; i < len; i++) masked[i] = (char)(payload[i] ^ mask[i & 3]);
	int rc = write_all(fd, head, h) < 0 || write_all(fd, masked, len) < 0 ? -1 : 0;
	free(masked);
	return rc;
}

/* Read one frame into *out (NUL-terminated); returns its opcode, or -1. */
int read_frame(int fd, char **out, size_t *outlen)
{
	unsigned char h[2];
	if (read_full(fd, h, 2) < 0) return -1;
	uint64_t len = h[1] & 0x7f;
	if (len == 126) { unsigned char e[2]; if (read_full(fd, e, 2) < 0) return -1; len = (uint64_t)e[0] << 8 | e[1]; }
	else if (len == 127) { unsigned char e[8]; if (read_full(fd, e, 8) < 0) return -1; len = 0; for (int i = 0; i < 8; i++) len = len << 8 | e[i]; }
	if (len > MAX_FRAME || (h[1] & 0x80)) return -1; /* servers do not mask */
	char *p = malloc(len + 1);
	if (!p || read_full(fd, p, len) < 0) { free(p); return -1; }
	p[len] = 0;
	*out = p;
	*outlen = len;
	return h[0] & 0x0f;
}

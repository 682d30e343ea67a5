// The monitor's JSON lines (PROTOCOL.md "Monitor socket"), as text only: a client's request
// parsed, a string escaped. No syscall; native/fuzz/plan_fuzz.c feeds them arbitrary bytes.
#ifndef REQUEST_H
#define REQUEST_H
#include <stddef.h>

enum request_kind { REQ_NO_TYPE, REQ_START, REQ_SIGNAL, REQ_BAD_SIGNAL, REQ_UNKNOWN };

struct request {
	enum request_kind kind;
	long signal;      // REQ_SIGNAL: 0 to 64
	const char *type; // REQ_UNKNOWN: type_len bytes of the line, the type as sent
	size_t type_len;
};

// One request line (NUL-terminated, without its newline). Tolerant: reads "type" and, for
// monitor.signal, "signal"; ignores the rest.
void request_parse(const char *line, struct request *r);
// Escape s as the inside of a JSON string, truncated to fit out (size >= 8).
const char *json_escape(const char *s, char *out, size_t size);
#endif

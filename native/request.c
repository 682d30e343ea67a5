// The monitor's JSON lines as text (see request.h).
#include "request.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The value after `"key"` and a colon, or NULL. Tolerant: ignores the rest of the line.
static const char *json_value(const char *line, const char *key)
{
	char pat[32];
	int plen = snprintf(pat, sizeof pat, "\"%s\"", key);

	if (plen < 0 || (size_t)plen >= sizeof pat)
		return NULL;
	for (const char *p = strstr(line, pat); p; p = strstr(p + 1, pat)) {
		const char *v = p + plen + strspn(p + plen, " \t\r");
		if (*v == ':')
			return v + 1 + strspn(v + 1, " \t\r");
	}
	return NULL;
}

void request_parse(const char *line, struct request *r)
{
	const char *v = json_value(line, "type");
	size_t n = v && *v == '"' ? strcspn(v + 1, "\"") : 0;

	*r = (struct request){.kind = REQ_NO_TYPE, .signal = -1};
	if (!v || *v != '"' || v[1 + n] != '"')
		return;
	if (n == 13 && strncmp(v + 1, "monitor.start", n) == 0) {
		r->kind = REQ_START;
	} else if (n == 14 && strncmp(v + 1, "monitor.signal", n) == 0) {
		char *end;
		const char *s = json_value(line, "signal");
		long sig = s ? strtol(s, &end, 10) : -1;
		r->kind = !s || end == s || sig < 0 || sig > 64 ? REQ_BAD_SIGNAL : REQ_SIGNAL;
		if (r->kind == REQ_SIGNAL)
			r->signal = sig;
	} else {
		r->kind = REQ_UNKNOWN;
		r->type = v + 1;
		r->type_len = n;
	}
}

const char *json_escape(const char *s, char *out, size_t size)
{
	size_t o = 0;

	for (; *s && o + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
	return out;
}

/* The front end's JSON: an output buffer, strings written with their escapes, and a reader of
 * the daemon's replies that takes fields out of one object (see json.h). */
#include "json.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- output buffer ---- */

void put(struct buf *b, const void *data, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n) cap *= 2;
		char *p = realloc(b->p, cap);
		if (!p) { perror("runa: realloc"); exit(1); }
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
}

void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Whether s is valid UTF-8 (a WebSocket text frame must be; otherwise the Node CLI takes it). */
int utf8_ok(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80 ? 0 : (*s & 0xe0) == 0xc0 ? 1 : (*s & 0xf0) == 0xe0 ? 2 : (*s & 0xf8) == 0xf0 ? 3 : -1;
		if (n < 0 || (n == 1 && *s < 0xc2)) return 0;
		s++;
		for (int i = 0; i < n; i++, s++)
			if ((*s & 0xc0) != 0x80) return 0;
	}
	return 1;
}

void json_str(struct buf *b, const char *s)
{
	put(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') { char e[2] = { '\\', (char)c }; put(b, e, 2); }
		else if (c < 0x20) { char e[8]; snprintf(e, sizeof e, "\\u%04x", c); puts_(b, e); }
		else put(b, s, 1);
	}
	put(b, "\"", 1);
}

/* ---- the reply: just enough JSON to take three fields out of one object ---- */

const char *skip_ws(const char *p) { while (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t') p++; return p; }

/* The end of the JSON value at p (or NULL if malformed). */
const char *skip_value(const char *p)
{
	p = skip_ws(p);
	if (*p == '"') {
		for (p++; *p && *p != '"'; p++)
			if (*p == '\\' && !*++p) return NULL;
		return *p ? p + 1 : NULL;
	}
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = skip_ws(p + 1);
		if (*p == close) return p + 1;
		for (;;) {
			if (close == '}') {
				if (!(p = skip_value(p))) return NULL; /* key */
				p = skip_ws(p);
				if (*p++ != ':') return NULL;
			}
			if (!(p = skip_value(p))) return NULL;
			p = skip_ws(p);
			if (*p == ',') { p = skip_ws(p + 1); continue; }
			return *p == close ? p + 1 : NULL;
		}
	}
	while (*p && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n') p++;
	return p;
}

/* The value of `key` in the object at p, or NULL. */
const char *field(const char *p, const char *key)
{
	p = skip_ws(p);
	if (*p != '{') return NULL;
	p = skip_ws(p + 1);
	size_t klen = strlen(key);
	while (*p == '"') {
		const char *k = p + 1;
		const char *end = skip_value(p);
		if (!end) return NULL;
		p = skip_ws(end);
		if (*p++ != ':') return NULL;
		p = skip_ws(p);
		if ((size_t)(end - 1 - k) == klen && !memcmp(k, key, klen)) return p;
		if (!(p = skip_value(p))) return NULL;
		p = skip_ws(p);
		if (*p != ',') return NULL;
		p = skip_ws(p + 1);
	}
	return NULL;
}

static int hexval(char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1; }

static void put_utf8(struct buf *b, unsigned cp)
{
	char o[4];
	if (cp < 0x80) { o[0] = (char)cp; put(b, o, 1); }
	else if (cp < 0x800) { o[0] = (char)(0xc0 | cp >> 6); o[1] = (char)(0x80 | (cp & 0x3f)); put(b, o, 2); }
	else if (cp < 0x10000) { o[0] = (char)(0xe0 | cp >> 12); o[1] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[2] = (char)(0x80 | (cp & 0x3f)); put(b, o, 3); }
	else { o[0] = (char)(0xf0 | cp >> 18); o[1] = (char)(0x80 | ((cp >> 12) & 0x3f)); o[2] = (char)(0x80 | ((cp >> 6) & 0x3f)); o[3] = (char)(0x80 | (cp & 0x3f)); put(b, o, 4); }
}

/* Decode the JSON string at p into b; 0 if it is not one. */
int json_unquote(const char *p, struct buf *b)
{
	if (!p || *p != '"') return 0;
	for (p++; *p != '"'; p++) {
		if (!*p) return 0;
		if (*p != '\\') { put(b, p, 1); continue; }
		p++;
		switch (*p) {
		case 'n': put(b, "\n", 1); break;
		case 't': put(b, "\t", 1); break;
		case 'r': put(b, "\r", 1); break;
		case 'b': put(b, "\b", 1); break;
		case 'f': put(b, "\f", 1); break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 1; i <= 4; i++) { int h = hexval(p[i]); if (h < 0) return 0; cp = cp << 4 | (unsigned)h; }
			p += 4;
			if (cp >= 0xd800 && cp < 0xdc00 && p[1] == '\\' && p[2] == 'u') {
				unsigned lo = 0;
				for (int i = 3; i <= 6; i++) { int h = hexval(p[i]); if (h < 0) return 0; lo = lo << 4 | (unsigned)h; }
				if (lo >= 0xdc00 && lo < 0xe000) { cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00); p += 6; }
			}
			put_utf8(b, cp);
			break;
		}
		case 0: return 0;
		default: put(b, p, 1); /* \" \\ \/ */
		}
	}
	return 1;
}

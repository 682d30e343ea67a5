/* The front end's JSON (json.c): a growing output buffer, strings written, and just enough of a
 * reader to take a few fields out of the daemon's replies. */
#ifndef JSON_H
#define JSON_H
#include <stddef.h>

struct buf { char *p; size_t len, cap; };

/* Append n bytes (or a C string) to b; exits on ENOMEM. */
void put(struct buf *b, const void *data, size_t n);
void puts_(struct buf *b, const char *s);
/* Whether s is valid UTF-8 (a WebSocket text frame must be; otherwise the Node CLI takes it). */
int utf8_ok(const unsigned char *s);
/* Append s as a JSON string. */
void json_str(struct buf *b, const char *s);

const char *skip_ws(const char *p);
/* The end of the JSON value at p (or NULL if malformed). */
const char *skip_value(const char *p);
/* The value of `key` in the object at p, or NULL. */
const char *field(const char *p, const char *key);
/* Decode the JSON string at p into b; 0 if it is not one. */
int json_unquote(const char *p, struct buf *b);

#endif

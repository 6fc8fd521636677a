/* SPDX-License-Identifier: MIT */
/* The envelope parser: bytes of one text message in, a validated event out. Checks UTF-8,
 * nesting depth, JSON syntax, the envelope's shape, the event name and the event's payload
 * against its JSON Schema (schemas/in/<EVENT>.json, compiled into the binary). Touches no
 * socket; thread-safe after env_init(). */
#ifndef BRK_ENVELOPE_H
#define BRK_ENVELOPE_H

#include <jansson.h>
#include <stddef.h>

#define ENV_MAX_DEPTH 32
#define ENV_MAX_ID_LEN 64

typedef enum {
    EVT_SESSION_START = 0,
    EVT_ATTENDANCE_MARKED,
    EVT_TODAY_SUMMARY,
    EVT_DONE,
    EVT_AUTH, /* token renewal (handlers/token.c) */
    EVT_MY_ATTENDANCE,
    EVT_PING,
    EVT_FRAME,
    EVT_ANNOUNCE,
    EVT_ROSTER,  /* a class's roster, for its staff (handlers/roster.c) */
    EVT_CLASSES, /* the connection's classes with their names */
    EVT__COUNT
} evt_type_t;

/* A parsed request. root is owned; data and id borrow from it. data is always an object
 * (an empty one when the message had none); id is NULL or a JSON string or integer. */
typedef struct env {
    evt_type_t type;
    json_t *root;
    json_t *data;
    json_t *id;
} env_t;

/* Why a message was refused. code is a stable static string from docs/PROTOCOL.md
 * (BAD_JSON, INVALID_UTF8, TOO_DEEP, BAD_ENVELOPE, UNKNOWN_EVENT, INVALID_PAYLOAD);
 * message is human readable and names the offending field; id is the request id when it
 * could be read (a new reference, or NULL). */
typedef struct env_error {
    const char *code;
    char message[192];
    json_t *id;
} env_error_t;

/* Loads the compiled-in schemas. Returns 0, or BRK_EINVAL when a schema does not parse
 * (a build defect). Call once at start, before any thread uses env_parse. */
int env_init(void);
void env_shutdown(void);

/* Parses one text message of len bytes (not NUL-terminated). Returns 0 and fills *out
 * (free with env_free), or BRK_EINVAL and fills *err (free err->id with json_decref). */
int env_parse(const char *buf, size_t len, env_t *out, env_error_t *err);
void env_free(env_t *env);

/* Event name <-> type. env_type_name returns the wire name ("SESSION_START"). */
const char *env_type_name(evt_type_t t);
int env_type_from_name(const char *name, evt_type_t *out);

/* Utilities the parser uses, exposed for tests: 1 when buf is valid UTF-8 (no overlongs,
 * no surrogates, nothing above U+10FFFF); the maximum nesting depth of a JSON text,
 * ignoring brackets inside strings (stops counting past limit and returns limit + 1). */
int env_utf8_valid(const char *buf, size_t len);
int env_json_depth(const char *buf, size_t len, int limit);

#endif

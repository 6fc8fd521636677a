/* SPDX-License-Identifier: MIT */
/* The envelope parser. Checks run cheapest and least ambiguous first: UTF-8 validity and
 * nesting depth over the raw bytes (so jansson never sees hostile nesting), then JSON
 * syntax, the envelope's shape, the event name, and the payload against the event's
 * compiled-in schema. The first failing check decides the error code. */
#include "envelope.h"

#include "brk.h"
#include "log.h"
#include "schemas_int.h"
#include "validate.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const event_names[EVT__COUNT] = {
    [EVT_SESSION_START] = "SESSION_START",
    [EVT_ATTENDANCE_MARKED] = "ATTENDANCE_MARKED",
    [EVT_TODAY_SUMMARY] = "TODAY_SUMMARY",
    [EVT_DONE] = "DONE",
    [EVT_AUTH] = "AUTH",
    [EVT_MY_ATTENDANCE] = "MY_ATTENDANCE",
    [EVT_PING] = "PING",
    [EVT_FRAME] = "FRAME",
    [EVT_ANNOUNCE] = "ANNOUNCE",
    [EVT_ROSTER] = "ROSTER",
    [EVT_CLASSES] = "CLASSES",
};

/* Written once by env_init() before any thread parses, read-only afterwards. */
static vs_schema_t *schemas[EVT__COUNT];
static int initialized;

const char *env_type_name(evt_type_t t)
{
    if ((unsigned)t >= EVT__COUNT)
        return NULL;
    return event_names[t];
}

int env_type_from_name(const char *name, evt_type_t *out)
{
    if (!name)
        return BRK_EINVAL;
    for (int i = 0; i < EVT__COUNT; i++) {
        if (strcmp(name, event_names[i]) == 0) {
            if (out)
                *out = (evt_type_t)i;
            return 0;
        }
    }
    return BRK_EINVAL;
}

void env_shutdown(void)
{
    for (int i = 0; i < EVT__COUNT; i++) {
        vs_free(schemas[i]);
        schemas[i] = NULL;
    }
    initialized = 0;
}

int env_init(void)
{
    if (initialized)
        return 0;
    for (int t = 0; t < EVT__COUNT; t++) {
        const schema_src_t *src = NULL;
        for (size_t i = 0; i < schema__in_count; i++)
            if (strcmp(schema__in[i].name, event_names[t]) == 0)
                src = &schema__in[i];
        if (!src) {
            LOG(ERROR, 0, "schema missing", "event=%s file=schemas/in/%s.json", event_names[t],
                event_names[t]);
            goto fail;
        }
        json_error_t jerr;
        json_t *doc = json_loadb(src->text, src->len, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
            LOG(ERROR, 0, "schema does not parse", "file=schemas/in/%s.json line=%d err=\"%s\"",
                src->name, jerr.line, jerr.text);
            goto fail;
        }
        char why[192];
        schemas[t] = vs_compile(doc, why, sizeof why);
        json_decref(doc);
        if (!schemas[t]) {
            LOG(ERROR, 0, "schema does not compile", "file=schemas/in/%s.json err=\"%s\"",
                src->name, why);
            goto fail;
        }
    }
    initialized = 1;
    return 0;

fail:
    env_shutdown();
    return BRK_EINVAL;
}

/* Returns len when buf is valid UTF-8, else the offset of the first byte that is not part
 * of a valid sequence. Ranges from RFC 3629 section 4, which excludes overlong forms,
 * surrogates (ED A0..BF) and code points above U+10FFFF (F4 90.., F5..FF). */
static size_t utf8_scan(const unsigned char *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lo = 0xA0;
            else if (c == 0xED)
                hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lo = 0x90;
            else if (c == 0xF4)
                hi = 0x8F;
        } else {
            return i;
        }
        if (len - i - 1 < need)
            return i;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return i;
        for (size_t k = 2; k <= need; k++)
            if ((s[i + k] & 0xC0) != 0x80)
                return i;
        i += need + 1;
    }
    return len;
}

int env_utf8_valid(const char *buf, size_t len)
{
    if (!buf)
        return len == 0;
    return utf8_scan((const unsigned char *)buf, len) == len;
}

int env_json_depth(const char *buf, size_t len, int limit)
{
    int depth = 0, max = 0, in_string = 0;
    for (size_t i = 0; buf && i < len; i++) {
        char c = buf[i];
        if (in_string) {
            if (c == '\\')
                i++; /* the escaped character cannot end the string */
            else if (c == '"')
                in_string = 0;
            continue;
        }
        switch (c) {
        case '"':
            in_string = 1;
            break;
        case '{':
        case '[':
            if (++depth > max) {
                max = depth;
                if (max > limit)
                    return limit + 1;
            }
            break;
        case '}':
        case ']':
            /* Unbalanced closers are a syntax error for jansson to report, not depth. */
            if (depth > 0)
                depth--;
            break;
        default:
            break;
        }
    }
    return max;
}

/* The message goes into a JSON string in the ERROR reply, and jansson refuses invalid
 * UTF-8 there. Client bytes quoted in it were valid, but snprintf may have cut a
 * sequence in two, so replace whatever does not decode. */
static void sanitize_message(char *msg)
{
    size_t len = strlen(msg);
    size_t i = 0;
    while (i < len) {
        size_t ok = utf8_scan((const unsigned char *)msg + i, len - i);
        if (ok == len - i)
            break;
        i += ok;
        msg[i++] = '?';
    }
}

__attribute__((format(printf, 3, 4))) static int fail(env_error_t *err, const char *code,
                                                      const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    sanitize_message(err->message);
    return BRK_EINVAL;
}

/* The id is echoed only when it is of a permitted type, so a reply never carries a value
 * the protocol does not allow there. */
static int id_valid(const json_t *id)
{
    if (json_is_integer(id))
        return 1;
    if (!json_is_string(id))
        return 0;
    const char *s = json_string_value(id);
    size_t bytes = json_string_length(id), chars = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            chars++;
    return chars >= 1 && chars <= ENV_MAX_ID_LEN;
}

static int check_envelope(json_t *root, env_error_t *err)
{
    json_t *id = json_object_get(root, "id");
    if (id && !id_valid(id))
        return fail(err, "BAD_ENVELOPE", "id: expected a string of 1..%d characters or an integer",
                    ENV_MAX_ID_LEN);
    json_t *event = json_object_get(root, "event");
    if (!event)
        return fail(err, "BAD_ENVELOPE", "event: is required");
    if (!json_is_string(event))
        return fail(err, "BAD_ENVELOPE", "event: expected string");
    json_t *data = json_object_get(root, "data");
    if (data && !json_is_object(data) && !json_is_null(data))
        return fail(err, "BAD_ENVELOPE", "data: expected object");
    for (void *it = json_object_iter(root); it; it = json_object_iter_next(root, it)) {
        const char *key = json_object_iter_key(it);
        if (strcmp(key, "event") != 0 && strcmp(key, "data") != 0 && strcmp(key, "id") != 0)
            return fail(err, "BAD_ENVELOPE", "%.64s: unknown top-level key", key);
    }
    return 0;
}

int env_parse(const char *buf, size_t len, env_t *out, env_error_t *err)
{
    json_t *root = NULL;
    json_t *id = NULL;
    int rc;

    memset(out, 0, sizeof *out);
    err->code = NULL;
    err->message[0] = '\0';
    err->id = NULL;
    BRK_ASSERT(initialized);
    if (!buf)
        buf = "";

    size_t bad = utf8_scan((const unsigned char *)buf, len);
    if (bad != len)
        return fail(err, "INVALID_UTF8", "message is not valid UTF-8 (byte %zu)", bad);
    if (env_json_depth(buf, len, ENV_MAX_DEPTH) > ENV_MAX_DEPTH)
        return fail(err, "TOO_DEEP", "nesting deeper than %d levels", ENV_MAX_DEPTH);

    /* Duplicate keys are refused: {"event":"DONE","event":"PING"} must not mean whichever
     * one a given JSON library keeps. */
    json_error_t jerr;
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr);
    if (!root)
        return fail(err, "BAD_JSON", "invalid JSON at line %d column %d: %s", jerr.line,
                    jerr.column, jerr.text);
    if (!json_is_object(root)) {
        rc = fail(err, "BAD_JSON", "message is not a JSON object");
        goto cleanup;
    }

    id = json_object_get(root, "id");
    if (id && !id_valid(id))
        id = NULL;
    rc = check_envelope(root, err);
    if (rc < 0)
        goto cleanup;

    const char *name = json_string_value(json_object_get(root, "event"));
    evt_type_t type;
    if (env_type_from_name(name, &type) < 0) {
        rc = fail(err, "UNKNOWN_EVENT", "unknown event \"%.64s\"", name);
        goto cleanup;
    }

    /* Absent or null data means an empty payload; store it in root so data borrows from
     * root like everything else. */
    json_t *data = json_object_get(root, "data");
    if (!json_is_object(data)) {
        json_object_set_new(root, "data", json_object());
        data = json_object_get(root, "data");
    }
    char why[sizeof err->message];
    if (vs_validate(schemas[type], data, why, sizeof why) < 0) {
        rc = fail(err, "INVALID_PAYLOAD", "%s", why[0] ? why : "data: invalid");
        goto cleanup;
    }

    out->type = type;
    out->root = root;
    out->data = data;
    out->id = id;
    return 0;

cleanup:
    if (id)
        err->id = json_deep_copy(id);
    json_decref(root);
    return rc;
}

void env_free(env_t *env)
{
    if (!env)
        return;
    json_decref(env->root);
    memset(env, 0, sizeof *env);
}

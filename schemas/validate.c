/* SPDX-License-Identifier: MIT */
/* A compact JSON Schema validator. vs_compile() walks a schema once, checks every keyword
 * and its value, and builds a tree of nodes; vs_validate() walks that tree against an
 * instance and stops at the first failure, reporting the JSON path of the failing value.
 * Compiled schemas are read-only, so one compiled schema may be used from many threads. */
#include "validate.h"

#include "brk.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Schemas are written by us, but the compiler still refuses absurd nesting so that neither
 * compiling nor validating (whose recursion follows the schema) can exhaust the stack. */
#define VS_MAX_SCHEMA_DEPTH 64

/* Long enough for any path our schemas can produce; longer paths are cut with "...". */
#define VS_PATH_MAX 160

enum {
    T_NULL = 1u << 0,
    T_BOOLEAN = 1u << 1,
    T_OBJECT = 1u << 2,
    T_ARRAY = 1u << 3,
    T_NUMBER = 1u << 4,
    T_STRING = 1u << 5,
    T_INTEGER = 1u << 6,
};

static const struct {
    const char *name;
    unsigned bit;
} type_names[] = {
    {"null", T_NULL},     {"boolean", T_BOOLEAN}, {"object", T_OBJECT},   {"array", T_ARRAY},
    {"number", T_NUMBER}, {"string", T_STRING},   {"integer", T_INTEGER},
};

typedef struct node node_t;

typedef struct {
    const char *name; /* borrows from the schema JSON */
    node_t *schema;
} prop_t;

struct node {
    int boolean;      /* -1: an object schema; 0/1: the schema `false` / `true` */
    unsigned types;   /* 0 when the schema has no `type` */
    json_t *type_kw;  /* borrowed, for messages */
    json_t *enum_kw;  /* borrowed array, or NULL */
    json_t *const_kw; /* borrowed, or NULL */
    int has_const;
    prop_t *props;
    size_t nprops;
    json_t *props_kw;    /* borrowed object, for lookups by additionalProperties */
    json_t *required_kw; /* borrowed array of strings, or NULL */
    int additional;      /* 1 unless additionalProperties is false */
    long long min_len, max_len, min_items, max_items; /* -1 when absent */
    int has_min, has_max;
    double minimum, maximum;
    node_t *items;
    node_t **any_of;
    size_t nany_of;
    node_t **one_of;
    size_t none_of;
};

struct vs_schema {
    json_t *json; /* our reference; nodes borrow keyword values from it */
    node_t *root;
};

/* --- compiling ------------------------------------------------------------------------- */

typedef struct {
    char *err;
    size_t errlen;
    char path[VS_PATH_MAX];
} cctx_t;

__attribute__((format(printf, 2, 3))) static void cfail(cctx_t *c, const char *fmt, ...)
{
    char msg[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (c->err && c->errlen)
        snprintf(c->err, c->errlen, "%s: %s", c->path[0] ? c->path : "schema", msg);
}

static void node_free(node_t *n)
{
    if (!n)
        return;
    for (size_t i = 0; i < n->nprops; i++)
        node_free(n->props[i].schema);
    free(n->props);
    node_free(n->items);
    for (size_t i = 0; i < n->nany_of; i++)
        node_free(n->any_of[i]);
    free(n->any_of);
    for (size_t i = 0; i < n->none_of; i++)
        node_free(n->one_of[i]);
    free(n->one_of);
    free(n);
}

/* The value of a length keyword: a non-negative integer (2.0 counts, as the spec allows). */
static int nonneg_int(const json_t *v, long long *out)
{
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d <= 9007199254740992.0 && floor(d) == d) {
            *out = (long long)d;
            return 0;
        }
    }
    return -1;
}

static int json_depth_of(const json_t *v, int limit)
{
    int max = 0;
    if (limit < 0)
        return 1;
    if (json_is_object(v)) {
        for (void *it = json_object_iter((json_t *)v); it;
             it = json_object_iter_next((json_t *)v, it)) {
            int d = json_depth_of(json_object_iter_value(it), limit - 1);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++) {
            int d = json_depth_of(json_array_get(v, i), limit - 1);
            if (d > max)
                max = d;
        }
        return max + 1;
    }
    return 0;
}

static node_t *compile_node(cctx_t *c, json_t *s, int depth);

/* Appends ".key" or "[i]" to the compile path for the duration of one sub-compile. */
static node_t *compile_sub(cctx_t *c, json_t *s, int depth, const char *key, long idx)
{
    size_t saved = strlen(c->path);
    if (key)
        snprintf(c->path + saved, sizeof c->path - saved, "%s%s", saved ? "." : "", key);
    else
        snprintf(c->path + saved, sizeof c->path - saved, "[%ld]", idx);
    node_t *n = compile_node(c, s, depth + 1);
    if (n)
        c->path[saved] = '\0';
    return n;
}

static int compile_types(cctx_t *c, node_t *n, json_t *v)
{
    size_t count = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_string(v) && !(json_is_array(v) && count > 0)) {
        cfail(c, "type must be a type name or a non-empty array of names");
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        json_t *t = json_is_array(v) ? json_array_get(v, i) : v;
        const char *name = json_string_value(t);
        unsigned bit = 0;
        for (size_t k = 0; name && k < BRK_ARRAY_LEN(type_names); k++)
            if (strcmp(name, type_names[k].name) == 0)
                bit = type_names[k].bit;
        if (!bit) {
            cfail(c, "unknown type %s", name ? name : "(not a string)");
            return -1;
        }
        if (n->types & bit) {
            cfail(c, "type %s listed twice", name);
            return -1;
        }
        n->types |= bit;
    }
    n->type_kw = v;
    return 0;
}

static int compile_schema_list(cctx_t *c, json_t *v, int depth, const char *kw, node_t ***out,
                               size_t *nout)
{
    if (!json_is_array(v) || json_array_size(v) == 0) {
        cfail(c, "%s must be a non-empty array of schemas", kw);
        return -1;
    }
    size_t count = json_array_size(v);
    *out = brk_calloc(count, sizeof **out);
    size_t saved = strlen(c->path);
    snprintf(c->path + saved, sizeof c->path - saved, "%s%s", saved ? "." : "", kw);
    for (size_t i = 0; i < count; i++) {
        (*out)[i] = compile_sub(c, json_array_get(v, i), depth, NULL, (long)i);
        if (!(*out)[i])
            return -1;
        (*nout)++;
    }
    c->path[saved] = '\0';
    return 0;
}

static int compile_properties(cctx_t *c, node_t *n, json_t *v, int depth)
{
    if (!json_is_object(v)) {
        cfail(c, "properties must be an object");
        return -1;
    }
    n->props = brk_calloc(json_object_size(v), sizeof *n->props);
    n->props_kw = v;
    size_t saved = strlen(c->path);
    snprintf(c->path + saved, sizeof c->path - saved, "%sproperties", saved ? "." : "");
    for (void *it = json_object_iter(v); it; it = json_object_iter_next(v, it)) {
        const char *key = json_object_iter_key(it);
        node_t *p = compile_sub(c, json_object_iter_value(it), depth, key, 0);
        if (!p)
            return -1;
        n->props[n->nprops].name = key;
        n->props[n->nprops].schema = p;
        n->nprops++;
    }
    c->path[saved] = '\0';
    return 0;
}

static int compile_keyword(cctx_t *c, node_t *n, const char *kw, json_t *v, int depth)
{
    static const char *const annotations[] = {"$schema",     "$id",      "title",
                                              "description", "$comment", "examples"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(annotations); i++)
        if (strcmp(kw, annotations[i]) == 0)
            return 0;

    if (strcmp(kw, "type") == 0)
        return compile_types(c, n, v);
    if (strcmp(kw, "properties") == 0)
        return compile_properties(c, n, v, depth);
    if (strcmp(kw, "required") == 0) {
        if (!json_is_array(v)) {
            cfail(c, "required must be an array of strings");
            return -1;
        }
        for (size_t i = 0; i < json_array_size(v); i++) {
            if (!json_is_string(json_array_get(v, i))) {
                cfail(c, "required must be an array of strings");
                return -1;
            }
        }
        n->required_kw = v;
        return 0;
    }
    if (strcmp(kw, "additionalProperties") == 0) {
        /* Only the boolean form: a schema here would make the error paths ambiguous and
         * none of our schemas needs one. */
        if (!json_is_boolean(v)) {
            cfail(c, "additionalProperties must be true or false (schemas are not supported)");
            return -1;
        }
        n->additional = json_is_true(v);
        return 0;
    }
    if (strcmp(kw, "enum") == 0) {
        if (!json_is_array(v) || json_array_size(v) == 0) {
            cfail(c, "enum must be a non-empty array");
            return -1;
        }
        n->enum_kw = v;
        return 0;
    }
    if (strcmp(kw, "const") == 0) {
        n->const_kw = v;
        n->has_const = 1;
        return 0;
    }
    if (strcmp(kw, "minLength") == 0 || strcmp(kw, "maxLength") == 0 ||
        strcmp(kw, "minItems") == 0 || strcmp(kw, "maxItems") == 0) {
        long long x;
        if (nonneg_int(v, &x) < 0) {
            cfail(c, "%s must be a non-negative integer", kw);
            return -1;
        }
        if (strcmp(kw, "minLength") == 0)
            n->min_len = x;
        else if (strcmp(kw, "maxLength") == 0)
            n->max_len = x;
        else if (strcmp(kw, "minItems") == 0)
            n->min_items = x;
        else
            n->max_items = x;
        return 0;
    }
    if (strcmp(kw, "minimum") == 0 || strcmp(kw, "maximum") == 0) {
        if (!json_is_number(v)) {
            cfail(c, "%s must be a number", kw);
            return -1;
        }
        if (kw[1] == 'i') {
            n->has_min = 1;
            n->minimum = json_number_value(v);
        } else {
            n->has_max = 1;
            n->maximum = json_number_value(v);
        }
        return 0;
    }
    if (strcmp(kw, "items") == 0) {
        if (json_is_array(v)) {
            cfail(c, "items must be a schema (the array form is prefixItems, unsupported)");
            return -1;
        }
        n->items = compile_sub(c, v, depth, "items", 0);
        return n->items ? 0 : -1;
    }
    if (strcmp(kw, "anyOf") == 0)
        return compile_schema_list(c, v, depth, kw, &n->any_of, &n->nany_of);
    if (strcmp(kw, "oneOf") == 0)
        return compile_schema_list(c, v, depth, kw, &n->one_of, &n->none_of);

    cfail(c, "unsupported keyword \"%s\"", kw);
    return -1;
}

static node_t *compile_node(cctx_t *c, json_t *s, int depth)
{
    if (depth > VS_MAX_SCHEMA_DEPTH) {
        cfail(c, "schema nested too deeply");
        return NULL;
    }
    node_t *n = brk_calloc(1, sizeof *n);
    n->boolean = -1;
    n->additional = 1;
    n->min_len = n->max_len = n->min_items = n->max_items = -1;
    if (json_is_boolean(s)) {
        n->boolean = json_is_true(s);
        return n;
    }
    if (!json_is_object(s)) {
        cfail(c, "a schema must be an object or a boolean");
        node_free(n);
        return NULL;
    }
    for (void *it = json_object_iter(s); it; it = json_object_iter_next(s, it)) {
        if (compile_keyword(c, n, json_object_iter_key(it), json_object_iter_value(it), depth) <
            0) {
            node_free(n);
            return NULL;
        }
    }
    return n;
}

vs_schema_t *vs_compile(json_t *schema, char *err, size_t errlen)
{
    cctx_t c = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    if (!schema) {
        cfail(&c, "no schema");
        return NULL;
    }
    /* enum and const values are compared recursively; bounding the whole document bounds
     * that recursion too. */
    if (json_depth_of(schema, VS_MAX_SCHEMA_DEPTH * 2) > VS_MAX_SCHEMA_DEPTH * 2) {
        cfail(&c, "schema nested too deeply");
        return NULL;
    }
    node_t *root = compile_node(&c, schema, 0);
    if (!root)
        return NULL;
    vs_schema_t *s = brk_malloc(sizeof *s);
    s->json = json_incref(schema);
    s->root = root;
    return s;
}

void vs_free(vs_schema_t *s)
{
    if (!s)
        return;
    node_free(s->root);
    json_decref(s->json);
    free(s);
}

/* --- validating ------------------------------------------------------------------------ */

typedef struct {
    char *err;
    size_t errlen;
    char path[VS_PATH_MAX];
} vctx_t;

/* Appends the current path and a message to err. */
__attribute__((format(printf, 2, 3))) static int vfail(vctx_t *v, const char *fmt, ...)
{
    if (!v->err || !v->errlen)
        return BRK_EINVAL;
    int n = snprintf(v->err, v->errlen, "%s: ", v->path[0] ? v->path : "(root)");
    if (n >= 0 && (size_t)n < v->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(v->err + n, v->errlen - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return BRK_EINVAL;
}

/* Pushes a path segment; returns the previous length to restore. Paths that would not fit
 * end in "..." so a message is never silently about the wrong field. */
static size_t path_push(vctx_t *v, const char *key, size_t idx)
{
    size_t len = strlen(v->path);
    size_t room = sizeof v->path - len;
    int n = key ? snprintf(v->path + len, room, "%s%s", len ? "." : "", key)
                : snprintf(v->path + len, room, "[%zu]", idx);
    if (n < 0 || (size_t)n >= room) {
        size_t cut = sizeof v->path - 4;
        /* Back up to a UTF-8 boundary so the path stays valid text. */
        while (cut > 0 && ((unsigned char)v->path[cut] & 0xC0) == 0x80)
            cut--;
        memcpy(v->path + cut, "...", 4);
    }
    return len;
}

static void path_pop(vctx_t *v, size_t len)
{
    v->path[len] = '\0';
}

static unsigned type_of(const json_t *x)
{
    switch (json_typeof(x)) {
    case JSON_NULL:
        return T_NULL;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_INTEGER | T_NUMBER;
    case JSON_REAL: {
        /* JSON Schema: an integer is any number whose fractional part is zero. */
        double d = json_real_value(x);
        return (isfinite(d) && floor(d) == d) ? (T_INTEGER | T_NUMBER) : T_NUMBER;
    }
    }
    return 0;
}

/* Equality as JSON Schema defines it: 1 and 1.0 are equal, object key order is irrelevant.
 * The recursion only descends where both values are containers of the same kind, so it is
 * bounded by the depth of the (compiled, depth-checked) schema value. */
static int schema_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return json_number_value(a) == json_number_value(b) &&
               (!json_is_integer(a) || !json_is_integer(b) ||
                json_integer_value(a) == json_integer_value(b));
    if (json_typeof(a) != json_typeof(b))
        return 0;
    if (json_is_array(a)) {
        if (json_array_size(a) != json_array_size(b))
            return 0;
        for (size_t i = 0; i < json_array_size(a); i++)
            if (!schema_equal(json_array_get(a, i), json_array_get(b, i)))
                return 0;
        return 1;
    }
    if (json_is_object(a)) {
        if (json_object_size(a) != json_object_size(b))
            return 0;
        for (void *it = json_object_iter((json_t *)a); it;
             it = json_object_iter_next((json_t *)a, it)) {
            json_t *y = json_object_get(b, json_object_iter_key(it));
            if (!y || !schema_equal(json_object_iter_value(it), y))
                return 0;
        }
        return 1;
    }
    return json_equal((json_t *)a, (json_t *)b);
}

/* Strings print bare in messages ("one of present, absent"); anything else as JSON. */
static void describe(const json_t *x, char *out, size_t outlen)
{
    if (json_is_string(x)) {
        snprintf(out, outlen, "%s", json_string_value(x));
        return;
    }
    char *s = json_dumps(x, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, outlen, "%s", s ? s : "?");
    free(s);
}

static size_t utf8_length(const char *s, size_t bytes)
{
    size_t n = 0;
    for (size_t i = 0; i < bytes; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            n++;
    return n;
}

/* Bounds print as written: 100, -2.5, 9007199254740992 (not 1e+02 or 0.10000000000000001). */
static void fmt_number(double d, char *out, size_t outlen)
{
    if (floor(d) == d && fabs(d) < 1e17)
        snprintf(out, outlen, "%.0f", d);
    else
        snprintf(out, outlen, "%.15g", d);
}

static void type_list(const node_t *n, char *out, size_t outlen)
{
    size_t len = 0;
    out[0] = '\0';
    size_t count = json_is_array(n->type_kw) ? json_array_size(n->type_kw) : 1;
    for (size_t i = 0; i < count; i++) {
        json_t *t = json_is_array(n->type_kw) ? json_array_get(n->type_kw, i) : n->type_kw;
        const char *sep = i == 0 ? "" : (i + 1 == count ? " or " : ", ");
        int w = snprintf(out + len, outlen - len, "%s%s", sep, json_string_value(t));
        if (w < 0 || (size_t)w >= outlen - len)
            return;
        len += (size_t)w;
    }
}

static int validate_node(vctx_t *v, const node_t *n, const json_t *x, int depth);

/* anyOf / oneOf. For a failure with no matching branch, the message lists why each branch
 * failed, e.g. "data.studentId: is required, or data.student_id: is required". */
static int validate_alternatives(vctx_t *v, node_t *const *alts, size_t nalts, int one,
                                 const json_t *x, int depth)
{
    char why[192] = "";
    size_t whylen = 0;
    size_t matched = 0;
    for (size_t i = 0; i < nalts; i++) {
        char sub[192];
        vctx_t sv = {.err = sub, .errlen = sizeof sub};
        memcpy(sv.path, v->path, sizeof v->path);
        sub[0] = '\0';
        if (validate_node(&sv, alts[i], x, depth + 1) == 0) {
            matched++;
            if (!one || matched > 1)
                break;
            continue;
        }
        int w = snprintf(why + whylen, sizeof why - whylen, "%s%s", whylen ? ", or " : "", sub);
        if (w > 0)
            whylen += (size_t)w;
        if (whylen >= sizeof why)
            whylen = sizeof why - 1;
    }
    if (one && matched > 1)
        return vfail(v, "matches more than one of the oneOf alternatives");
    if (matched >= 1)
        return 0;
    if (v->err && v->errlen)
        snprintf(v->err, v->errlen, "%s", why);
    return BRK_EINVAL;
}

static int validate_object(vctx_t *v, const node_t *n, const json_t *x, int depth)
{
    for (size_t i = 0; i < n->nprops; i++) {
        json_t *val = json_object_get(x, n->props[i].name);
        if (!val)
            continue;
        size_t saved = path_push(v, n->props[i].name, 0);
        int rc = validate_node(v, n->props[i].schema, val, depth + 1);
        if (rc < 0)
            return rc;
        path_pop(v, saved);
    }
    if (n->required_kw) {
        for (size_t i = 0; i < json_array_size(n->required_kw); i++) {
            const char *name = json_string_value(json_array_get(n->required_kw, i));
            if (!json_object_get(x, name)) {
                path_push(v, name, 0);
                return vfail(v, "is required");
            }
        }
    }
    if (!n->additional) {
        for (void *it = json_object_iter((json_t *)x); it;
             it = json_object_iter_next((json_t *)x, it)) {
            const char *k = json_object_iter_key(it);
            if (!n->props_kw || !json_object_get(n->props_kw, k)) {
                path_push(v, k, 0);
                return vfail(v, "unknown field");
            }
        }
    }
    return 0;
}

static int validate_node(vctx_t *v, const node_t *n, const json_t *x, int depth)
{
    char buf[128];

    if (depth > VS_MAX_SCHEMA_DEPTH * 2)
        return vfail(v, "schema recursion too deep");
    if (n->boolean == 1)
        return 0;
    if (n->boolean == 0)
        return vfail(v, "not allowed");

    unsigned t = type_of(x);
    if (n->types && !(n->types & t)) {
        type_list(n, buf, sizeof buf);
        return vfail(v, "expected %s", buf);
    }
    if (n->has_const && !schema_equal(n->const_kw, x)) {
        describe(n->const_kw, buf, sizeof buf);
        return vfail(v, "must be %s", buf);
    }
    if (n->enum_kw) {
        size_t count = json_array_size(n->enum_kw);
        int found = 0;
        for (size_t i = 0; i < count; i++) {
            if (schema_equal(json_array_get(n->enum_kw, i), x)) {
                found = 1;
                break;
            }
        }
        if (!found) {
            char list[160];
            size_t len = 0;
            list[0] = '\0';
            for (size_t i = 0; i < count; i++) {
                describe(json_array_get(n->enum_kw, i), buf, sizeof buf);
                int w = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", buf);
                if (w < 0 || (size_t)w >= sizeof list - len)
                    break;
                len += (size_t)w;
            }
            return vfail(v, "must be one of %s", list);
        }
    }
    if (t & T_STRING) {
        size_t cps = utf8_length(json_string_value(x), json_string_length(x));
        if (n->min_len >= 0 && cps < (unsigned long long)n->min_len)
            return vfail(v, "must have at least %lld character%s", n->min_len,
                         n->min_len == 1 ? "" : "s");
        if (n->max_len >= 0 && cps > (unsigned long long)n->max_len)
            return vfail(v, "must have at most %lld character%s", n->max_len,
                         n->max_len == 1 ? "" : "s");
    }
    if (t & T_NUMBER) {
        /* Integers compare exactly when the bound is integral; 2^63-1 does not fit a
         * double, and rounding must not let a value slip past a bound. */
        double d = json_number_value(x);
        if (n->has_min) {
            int below =
                json_is_integer(x) && floor(n->minimum) == n->minimum && fabs(n->minimum) < 9.0e18
                    ? json_integer_value(x) < (json_int_t)n->minimum
                    : d < n->minimum;
            if (below) {
                fmt_number(n->minimum, buf, sizeof buf);
                return vfail(v, "must be >= %s", buf);
            }
        }
        if (n->has_max) {
            int above =
                json_is_integer(x) && floor(n->maximum) == n->maximum && fabs(n->maximum) < 9.0e18
                    ? json_integer_value(x) > (json_int_t)n->maximum
                    : d > n->maximum;
            if (above) {
                fmt_number(n->maximum, buf, sizeof buf);
                return vfail(v, "must be <= %s", buf);
            }
        }
    }
    if (t & T_OBJECT) {
        int rc = validate_object(v, n, x, depth);
        if (rc < 0)
            return rc;
    }
    if (t & T_ARRAY) {
        size_t count = json_array_size(x);
        if (n->min_items >= 0 && count < (unsigned long long)n->min_items)
            return vfail(v, "must have at least %lld item%s", n->min_items,
                         n->min_items == 1 ? "" : "s");
        if (n->max_items >= 0 && count > (unsigned long long)n->max_items)
            return vfail(v, "must have at most %lld item%s", n->max_items,
                         n->max_items == 1 ? "" : "s");
        if (n->items) {
            for (size_t i = 0; i < count; i++) {
                size_t saved = path_push(v, NULL, i);
                int rc = validate_node(v, n->items, json_array_get(x, i), depth + 1);
                if (rc < 0)
                    return rc;
                path_pop(v, saved);
            }
        }
    }
    if (n->nany_of) {
        int rc = validate_alternatives(v, n->any_of, n->nany_of, 0, x, depth);
        if (rc < 0)
            return rc;
    }
    if (n->none_of) {
        int rc = validate_alternatives(v, n->one_of, n->none_of, 1, x, depth);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Cuts an incomplete UTF-8 sequence that snprintf truncation may have left at the end, so
 * the message can go straight into a JSON string. */
static void trim_utf8_tail(char *s)
{
    size_t len = strlen(s);
    size_t i = len;
    while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
        i--;
    if (i == 0)
        return;
    unsigned char lead = (unsigned char)s[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (need > 1 && len - (i - 1) < need)
        s[i - 1] = '\0';
}

int vs_validate_at(const vs_schema_t *s, const json_t *instance, const char *root, char *err,
                   size_t errlen)
{
    vctx_t v = {.err = err, .errlen = errlen};
    if (err && errlen)
        err[0] = '\0';
    snprintf(v.path, sizeof v.path, "%s", root ? root : "");
    if (!s || !instance) {
        vfail(&v, "no value");
        return BRK_EINVAL;
    }
    int rc = validate_node(&v, s->root, instance, 0);
    if (rc < 0 && err && errlen)
        trim_utf8_tail(err);
    return rc;
}

int vs_validate(const vs_schema_t *s, const json_t *instance, char *err, size_t errlen)
{
    return vs_validate_at(s, instance, "data", err, errlen);
}

/* SPDX-License-Identifier: MIT */
/* JWT verification on top of libjwt 1.10.2, which only checks the signature and the
 * format: it skips the signature without a key, accepts any algorithm the key fits and
 * checks no claim. So this module always passes the key, checks the header's alg before and
 * after libjwt, and checks every claim itself with jansson. It also mints HS256 tokens for
 * development. The verifier is immutable once built, so verification is thread-safe. */
#include "auth.h"

#include "brk.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <math.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AUTH_MAX_TOKEN 8192
#define AUTH_MIN_SECRET 32
#define AUTH_MAX_PEM (64 * 1024)
#define AUTH_MIN_RSA_BITS 2048

struct auth_verifier {
    jwt_alg_t alg;
    const char *alg_name; /* static: "HS256", "RS256" or "ES256" */
    unsigned char *key;   /* HS256 secret or PEM text, owned */
    size_t keylen;
    char *issuer;   /* owned, or NULL */
    char *audience; /* owned, or NULL */
    int leeway_s;
};

static void set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

/* ---- key loading ---------------------------------------------------------------------- */

static int read_file(const char *path, unsigned char **out, size_t *outlen, char *err,
                     size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open ROLLCALL_JWT_PUBLIC_KEY file %s: %s", path,
                strerror(errno));
        return BRK_EINVAL;
    }
    unsigned char *buf = brk_malloc(AUTH_MAX_PEM + 1);
    size_t n = fread(buf, 1, AUTH_MAX_PEM + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n == 0 || n > AUTH_MAX_PEM) {
        free(buf);
        set_err(err, errlen, "ROLLCALL_JWT_PUBLIC_KEY file %s is %s", path,
                failed   ? "unreadable"
                : n == 0 ? "empty"
                         : "larger than 64 KiB");
        return BRK_EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return 0;
}

/* Reads the PEM with OpenSSL to learn what kind of key it is, so the algorithm can be
 * derived and a key that cannot serve the configured one is refused at start-up rather
 * than on every token. Returns JWT_ALG_RS256, JWT_ALG_ES256 or JWT_ALG_INVAL. */
static jwt_alg_t pem_key_alg(const unsigned char *pem, size_t len, char *err, size_t errlen)
{
    jwt_alg_t alg = JWT_ALG_INVAL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL) : NULL;
    if (!pkey) {
        set_err(err, errlen,
                "ROLLCALL_JWT_PUBLIC_KEY is not a PEM public key "
                "(\"-----BEGIN PUBLIC KEY-----\")");
        goto cleanup;
    }
    switch (EVP_PKEY_get_base_id(pkey)) {
    case EVP_PKEY_RSA:
        if (EVP_PKEY_get_bits(pkey) < AUTH_MIN_RSA_BITS) {
            set_err(err, errlen, "ROLLCALL_JWT_PUBLIC_KEY: RSA key has %d bits, need %d",
                    EVP_PKEY_get_bits(pkey), AUTH_MIN_RSA_BITS);
            goto cleanup;
        }
        alg = JWT_ALG_RS256;
        break;
    case EVP_PKEY_EC: {
        char group[64];
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) != 1 ||
            (OBJ_txt2nid(group) != NID_X9_62_prime256v1 && strcmp(group, "P-256") != 0)) {
            set_err(err, errlen, "ROLLCALL_JWT_PUBLIC_KEY: EC key is not on curve P-256");
            goto cleanup;
        }
        alg = JWT_ALG_ES256;
        break;
    }
    default:
        set_err(err, errlen, "ROLLCALL_JWT_PUBLIC_KEY: key is neither RSA nor EC P-256");
        break;
    }

cleanup:
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return alg;
}

static void copy_opt(char **dst, const char *src)
{
    *dst = src && src[0] ? brk_strdup(src) : NULL;
}

int auth_verifier_new(const auth_options_t *opt, auth_verifier_t **out, char *err, size_t errlen)
{
    auth_verifier_t *v = NULL;
    unsigned char *pem = NULL;
    size_t pemlen = 0;
    int rc = BRK_EINVAL;

    *out = NULL;
    if (!opt) {
        set_err(err, errlen, "no JWT options");
        return BRK_EINVAL;
    }
    bool has_secret = opt->secret && opt->secret[0];
    bool has_key = opt->public_key_pem_path && opt->public_key_pem_path[0];
    jwt_alg_t alg = JWT_ALG_INVAL;

    if (opt->alg && opt->alg[0]) {
        if (strcmp(opt->alg, "HS256") == 0)
            alg = JWT_ALG_HS256;
        else if (strcmp(opt->alg, "RS256") == 0)
            alg = JWT_ALG_RS256;
        else if (strcmp(opt->alg, "ES256") == 0)
            alg = JWT_ALG_ES256;
        else {
            set_err(err, errlen, "ROLLCALL_JWT_ALG must be HS256, RS256 or ES256");
            return BRK_EINVAL;
        }
        if (alg == JWT_ALG_HS256 && !has_secret) {
            set_err(err, errlen, "ROLLCALL_JWT_ALG is HS256 but ROLLCALL_JWT_SECRET is unset");
            return BRK_EINVAL;
        }
        if (alg != JWT_ALG_HS256 && !has_key) {
            set_err(err, errlen, "ROLLCALL_JWT_ALG is %s but ROLLCALL_JWT_PUBLIC_KEY is unset",
                    opt->alg);
            return BRK_EINVAL;
        }
    } else if (has_secret && has_key) {
        set_err(err, errlen,
                "both ROLLCALL_JWT_SECRET and ROLLCALL_JWT_PUBLIC_KEY are set: "
                "set ROLLCALL_JWT_ALG to choose, or unset one");
        return BRK_EINVAL;
    } else if (has_secret) {
        alg = JWT_ALG_HS256;
    } else if (!has_key) {
        set_err(err, errlen, "no JWT key: set ROLLCALL_JWT_SECRET or ROLLCALL_JWT_PUBLIC_KEY");
        return BRK_EINVAL;
    }

    if (alg == JWT_ALG_HS256) {
        if (strlen(opt->secret) < AUTH_MIN_SECRET) {
            set_err(err, errlen, "ROLLCALL_JWT_SECRET must be at least %d bytes", AUTH_MIN_SECRET);
            return BRK_EINVAL;
        }
    } else {
        rc = read_file(opt->public_key_pem_path, &pem, &pemlen, err, errlen);
        if (rc != 0)
            goto cleanup;
        rc = BRK_EINVAL;
        jwt_alg_t kind = pem_key_alg(pem, pemlen, err, errlen);
        if (kind == JWT_ALG_INVAL)
            goto cleanup;
        if (alg == JWT_ALG_INVAL) {
            alg = kind;
        } else if (alg != kind) {
            set_err(err, errlen, "ROLLCALL_JWT_ALG is %s but ROLLCALL_JWT_PUBLIC_KEY is %s key",
                    jwt_alg_str(alg), kind == JWT_ALG_RS256 ? "an RSA" : "an EC P-256");
            goto cleanup;
        }
    }

    v = brk_calloc(1, sizeof *v);
    v->alg = alg;
    v->alg_name = alg == JWT_ALG_HS256 ? "HS256" : alg == JWT_ALG_RS256 ? "RS256" : "ES256";
    if (alg == JWT_ALG_HS256) {
        v->keylen = strlen(opt->secret);
        v->key = (unsigned char *)brk_strndup(opt->secret, v->keylen);
    } else {
        v->key = pem;
        v->keylen = pemlen;
        pem = NULL;
    }
    if (v->keylen > INT_MAX) {
        set_err(err, errlen, "JWT key too large");
        goto cleanup;
    }
    copy_opt(&v->issuer, opt->issuer);
    copy_opt(&v->audience, opt->audience);
    v->leeway_s = opt->leeway_s > 0 ? opt->leeway_s : 0;
    *out = v;
    v = NULL;
    rc = 0;

cleanup:
    free(pem);
    auth_verifier_free(v);
    return rc;
}

void auth_verifier_free(auth_verifier_t *v)
{
    if (!v)
        return;
    if (v->key) {
        /* The secret should not outlive the verifier in freed heap memory. */
        volatile unsigned char *p = v->key;
        for (size_t i = 0; i < v->keylen; i++)
            p[i] = 0;
    }
    free(v->key);
    free(v->issuer);
    free(v->audience);
    free(v);
}

/* ---- token parsing -------------------------------------------------------------------- */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes unpadded base64url into a new NUL-terminated buffer (so jansson can read it).
 * Returns NULL when the input is not valid unpadded base64url. */
static char *b64url_decode(const char *in, size_t len, size_t *outlen)
{
    if (len % 4 == 1)
        return NULL;
    char *out = brk_malloc(len / 4 * 3 + 3);
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64url_value((unsigned char)in[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[n] = '\0';
    *outlen = n;
    return out;
}

static json_t *decode_segment_object(const char *seg, size_t len)
{
    size_t n;
    char *raw = b64url_decode(seg, len, &n);
    if (!raw)
        return NULL;
    json_t *obj = json_loadb(raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (obj && !json_is_object(obj)) {
        json_decref(obj);
        obj = NULL;
    }
    return obj;
}

/* sub and class ids end up in log lines, Redis keys and file names: allow only letters,
 * digits and - _ . : @ so that none of them needs quoting anywhere. */
static bool valid_id(const char *s, size_t len)
{
    if (len == 0 || len > AUTH_MAX_ID)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '_' || c == '.' || c == ':' || c == '@';
        if (!ok)
            return false;
    }
    return true;
}

/* Reads a NumericDate claim. Returns 1 with *out set when present and a number, 0 when
 * absent, -1 when present with another type. Doubles keep the comparisons free of integer
 * overflow whatever the token says. */
static int get_time(json_t *claims, const char *key, double *out)
{
    json_t *v = json_object_get(claims, key);
    if (!v)
        return 0;
    if (!json_is_number(v))
        return -1;
    double d = json_number_value(v);
    if (!isfinite(d))
        return -1;
    *out = d;
    return 1;
}

static int add_class(auth_identity_t *id, json_t *v)
{
    if (!json_is_string(v))
        return -1;
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (!valid_id(s, len))
        return -1;
    for (int i = 0; i < id->n_classes; i++) {
        if (strcmp(id->classes[i], s) == 0)
            return 0;
    }
    if (id->n_classes >= AUTH_MAX_CLASSES)
        return -2;
    memcpy(id->classes[id->n_classes], s, len + 1);
    id->n_classes++;
    return 0;
}

/* Copies a display name, replacing control characters with spaces and cutting it at
 * AUTH_MAX_NAME bytes without splitting a UTF-8 sequence (jansson has already checked that
 * the string is valid UTF-8 without NUL). */
static void copy_name(char *dst, const char *s, size_t len)
{
    if (len > AUTH_MAX_NAME) {
        len = AUTH_MAX_NAME;
        while (len > 0 && ((unsigned char)s[len] & 0xc0) == 0x80)
            len--;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[i] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    dst[len] = '\0';
}

static bool audience_matches(json_t *aud, const char *want)
{
    if (json_is_string(aud))
        return strcmp(json_string_value(aud), want) == 0;
    if (json_is_array(aud)) {
        size_t i;
        json_t *e;
        json_array_foreach(aud, i, e)
        {
            if (json_is_string(e) && strcmp(json_string_value(e), want) == 0)
                return true;
        }
    }
    return false;
}

/* Checks every claim of an already verified token and fills *id. Returns NULL or the
 * static reason. */
static const char *check_claims(const auth_verifier_t *v, json_t *claims, int64_t now_s,
                                auth_identity_t *id)
{
    double now = (double)now_s, leeway = (double)v->leeway_s;
    double exp, t;
    int r;

    r = get_time(claims, "exp", &exp);
    if (r == 0)
        return "missing exp";
    if (r < 0)
        return "malformed";
    if (now > exp + leeway)
        return "expired";
    r = get_time(claims, "nbf", &t);
    if (r < 0)
        return "malformed";
    if (r > 0 && t > now + leeway)
        return "not yet valid";
    r = get_time(claims, "iat", &t);
    if (r < 0)
        return "malformed";
    if (r > 0 && t > now + leeway)
        return "issued in the future";
    id->exp = exp >= 9.0e18 ? INT64_MAX : exp <= -9.0e18 ? INT64_MIN : (int64_t)exp;

    if (v->issuer) {
        json_t *iss = json_object_get(claims, "iss");
        if (!json_is_string(iss) || strcmp(json_string_value(iss), v->issuer) != 0)
            return "issuer";
    }
    if (v->audience && !audience_matches(json_object_get(claims, "aud"), v->audience))
        return "audience";

    json_t *sub = json_object_get(claims, "sub");
    if (!json_is_string(sub) || json_string_length(sub) == 0)
        return "missing sub";
    if (!valid_id(json_string_value(sub), json_string_length(sub)))
        return "bad sub";
    memcpy(id->sub, json_string_value(sub), json_string_length(sub) + 1);

    json_t *role = json_object_get(claims, "role");
    if (!json_is_string(role) || auth_parse_role(json_string_value(role), &id->role) != 0)
        return "bad role";

    json_t *name = json_object_get(claims, "name");
    if (name && !json_is_null(name)) {
        if (!json_is_string(name))
            return "bad name";
        copy_name(id->name, json_string_value(name), json_string_length(name));
    }

    json_t *class_id = json_object_get(claims, "class_id");
    json_t *classes = json_object_get(claims, "classes");
    if (class_id && add_class(id, class_id) != 0)
        return "bad class";
    if (classes) {
        if (!json_is_array(classes))
            return "bad class";
        if (json_array_size(classes) > AUTH_MAX_CLASSES)
            return "too many classes";
        size_t i;
        json_t *e;
        json_array_foreach(classes, i, e)
        {
            r = add_class(id, e);
            if (r == -2)
                return "too many classes";
            if (r != 0)
                return "bad class";
        }
    }
    if (id->n_classes == 0)
        return "no class";
    return NULL;
}

int auth_verify(const auth_verifier_t *v, const char *token, size_t len, int64_t now_s,
                auth_identity_t *id, const char **reason)
{
    const char *why = NULL;
    json_t *header = NULL, *payload = NULL, *claims = NULL;
    char *copy = NULL, *claims_json = NULL;
    jwt_t *jwt = NULL;
    auth_identity_t tmp;

    memset(&tmp, 0, sizeof tmp);
    if (!v) {
        why = "no verifier";
        goto cleanup;
    }
    if (!token || len == 0) {
        why = "missing";
        goto cleanup;
    }
    if (len > AUTH_MAX_TOKEN) {
        why = "too long";
        goto cleanup;
    }

    /* Exactly three base64url segments, the first two non-empty. This also rules out NUL
     * bytes, padding and blanks before anything is decoded. */
    size_t dot[2], ndots = 0;
    for (size_t i = 0; i < len; i++) {
        if (token[i] == '.') {
            if (ndots == 2) {
                why = "malformed";
                goto cleanup;
            }
            dot[ndots++] = i;
        } else if (b64url_value((unsigned char)token[i]) < 0) {
            why = "malformed";
            goto cleanup;
        }
    }
    if (ndots != 2 || dot[0] == 0 || dot[1] == dot[0] + 1) {
        why = "malformed";
        goto cleanup;
    }

    /* Check alg ourselves before libjwt sees the token: libjwt would happily verify an
     * HS256 token using an RSA public key's PEM text as the HMAC secret. */
    header = decode_segment_object(token, dot[0]);
    payload = decode_segment_object(token + dot[0] + 1, dot[1] - dot[0] - 1);
    if (!header || !payload) {
        why = "malformed";
        goto cleanup;
    }
    json_t *alg = json_object_get(header, "alg");
    if (!json_is_string(alg)) {
        why = "malformed";
        goto cleanup;
    }
    if (strcmp(json_string_value(alg), v->alg_name) != 0) {
        why = "wrong algorithm";
        goto cleanup;
    }
    json_t *typ = json_object_get(header, "typ");
    if (typ && !(json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0)) {
        why = "malformed";
        goto cleanup;
    }
    if (len == dot[1] + 1) {
        why = "bad signature";
        goto cleanup;
    }

    copy = brk_strndup(token, len);
    if (jwt_decode(&jwt, copy, v->key, (int)v->keylen) != 0 || !jwt) {
        why = "bad signature";
        goto cleanup;
    }
    if (jwt_get_alg(jwt) != v->alg) {
        why = "wrong algorithm";
        goto cleanup;
    }
    claims_json = jwt_get_grants_json(jwt, NULL);
    claims = claims_json ? json_loads(claims_json, 0, NULL) : NULL;
    if (!json_is_object(claims)) {
        why = "malformed";
        goto cleanup;
    }
    why = check_claims(v, claims, now_s, &tmp);

cleanup:
    json_decref(header);
    json_decref(payload);
    json_decref(claims);
    free(claims_json);
    free(copy);
    if (jwt)
        jwt_free(jwt);
    if (why) {
        if (reason)
            *reason = why;
        return BRK_EAUTH;
    }
    if (reason)
        *reason = NULL;
    *id = tmp;
    return 0;
}

/* ---- identities and roles ------------------------------------------------------------- */

int auth_has_class(const auth_identity_t *id, const char *class_id)
{
    if (!id || !class_id)
        return 0;
    for (int i = 0; i < id->n_classes && i < AUTH_MAX_CLASSES; i++) {
        if (strcmp(id->classes[i], class_id) == 0)
            return 1;
    }
    return 0;
}

static const char *const role_names[] = {
    [ROLE_STUDENT] = "student",
    [ROLE_TEACHER] = "teacher",
    [ROLE_ADMIN] = "admin",
};

const char *auth_role_name(auth_role_t r)
{
    return (unsigned)r < BRK_ARRAY_LEN(role_names) ? role_names[r] : "?";
}

int auth_parse_role(const char *s, auth_role_t *out)
{
    if (!s)
        return BRK_EINVAL;
    for (size_t i = 0; i < BRK_ARRAY_LEN(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (auth_role_t)i;
            return 0;
        }
    }
    return BRK_EINVAL;
}

/* ---- minting -------------------------------------------------------------------------- */

/* Splits a comma-separated class list into a JSON array of valid, distinct ids; blanks
 * around commas are ignored. Returns NULL when an id is invalid or there are none. */
static json_t *parse_class_list(const char *list)
{
    json_t *arr = json_array();
    const char *p = list;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',')
            p++;
        const char *end = p;
        while (end > start && end[-1] == ' ')
            end--;
        if (end == start)
            continue;
        size_t len = (size_t)(end - start);
        if (!valid_id(start, len))
            goto fail;
        bool dup = false;
        size_t i;
        json_t *e;
        json_array_foreach(arr, i, e)
        {
            if (strlen(json_string_value(e)) == len &&
                memcmp(json_string_value(e), start, len) == 0)
                dup = true;
        }
        if (!dup && json_array_append_new(arr, json_stringn(start, len)) != 0)
            goto fail;
    }
    if (json_array_size(arr) == 0 || json_array_size(arr) > AUTH_MAX_CLASSES)
        goto fail;
    return arr;

fail:
    json_decref(arr);
    return NULL;
}

char *auth_mint_hs256(const char *secret, const char *sub, const char *role, const char *name,
                      const char *classes, int64_t now_s, int64_t ttl_s, const char *issuer,
                      const char *audience)
{
    jwt_t *jwt = NULL;
    json_t *list = NULL, *extra = NULL;
    char *extra_json = NULL, *token = NULL;
    auth_role_t r;

    if (!secret || strlen(secret) < AUTH_MIN_SECRET || strlen(secret) > INT_MAX || !sub ||
        !valid_id(sub, strlen(sub)) || auth_parse_role(role, &r) != 0 || !classes || ttl_s <= 0 ||
        now_s < 0 || ttl_s > INT64_MAX - now_s)
        return NULL;
    list = parse_class_list(classes);
    if (!list)
        goto cleanup;

    /* Everything but the numeric dates goes in as one JSON object, so that jansson does the
     * escaping and "classes" can be an array. */
    extra = json_object();
    json_object_set_new(extra, "sub", json_string(sub));
    json_object_set_new(extra, "role", json_string(auth_role_name(r)));
    if (name && name[0]) {
        json_t *n = json_string(name);
        if (!n)
            goto cleanup; /* not UTF-8 */
        json_object_set_new(extra, "name", n);
    }
    if (json_array_size(list) == 1)
        json_object_set(extra, "class_id", json_array_get(list, 0));
    else
        json_object_set(extra, "classes", list);
    if (issuer && issuer[0])
        json_object_set_new(extra, "iss", json_string(issuer));
    if (audience && audience[0])
        json_object_set_new(extra, "aud", json_string(audience));
    extra_json = json_dumps(extra, JSON_COMPACT);
    if (!extra_json)
        goto cleanup;

    if (jwt_new(&jwt) != 0)
        goto cleanup;
    if (jwt_add_grants_json(jwt, extra_json) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) != 0 ||
        jwt_set_alg(jwt, JWT_ALG_HS256, (const unsigned char *)secret, (int)strlen(secret)) != 0)
        goto cleanup;
    token = jwt_encode_str(jwt);

cleanup:
    if (jwt)
        jwt_free(jwt);
    free(extra_json);
    json_decref(extra);
    json_decref(list);
    return token;
}

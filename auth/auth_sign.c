/* SPDX-License-Identifier: MIT */
/* The broker's own tokens: HS256 with the configured secret, or RS256/ES256 with a private
 * key read once (PEM; OpenSSL checks its kind and size before libjwt ever sees it). The
 * claims are built as one JSON object by jansson, so names are escaped by the library that
 * also reads them back. */
#include "auth.h"

#include "brk.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SIGN_MIN_SECRET 32
#define SIGN_MAX_PEM (64 * 1024)
#define SIGN_MIN_RSA_BITS 2048

struct auth_signer {
    jwt_alg_t alg;
    const char *alg_name;
    unsigned char *key; /* secret or PEM text, owned, wiped on free */
    size_t keylen;
    char *issuer, *audience;
};

static void wipe(void *p, size_t len)
{
    volatile unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        b[i] = 0;
}

/* Reads a whole PEM file of at most SIGN_MAX_PEM bytes. */
static unsigned char *read_pem(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "ROLLCALL_JWT_PRIVATE_KEY: cannot open %s: %s", path,
                 strerror(errno));
        return NULL;
    }
    unsigned char *buf = brk_malloc(SIGN_MAX_PEM + 1);
    size_t n = fread(buf, 1, SIGN_MAX_PEM + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n == 0 || n > SIGN_MAX_PEM) {
        snprintf(err, errlen, "ROLLCALL_JWT_PRIVATE_KEY: %s is %s", path,
                 bad ? "unreadable" : n == 0 ? "empty" : "larger than 64 KiB");
        wipe(buf, n > SIGN_MAX_PEM ? SIGN_MAX_PEM + 1 : n);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The algorithm a private key signs with: RS256 for RSA of 2048 bits or more, ES256 for EC
 * on P-256; JWT_ALG_INVAL (err set) for anything else. */
static jwt_alg_t private_key_alg(const unsigned char *pem, size_t len, char *err, size_t errlen)
{
    jwt_alg_t alg = JWT_ALG_INVAL;
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    if (!pkey) {
        snprintf(err, errlen, "ROLLCALL_JWT_PRIVATE_KEY: not a PEM private key (an "
                              "unencrypted PKCS#8, RSA or EC key)");
    } else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        if (EVP_PKEY_get_bits(pkey) < SIGN_MIN_RSA_BITS)
            snprintf(err, errlen, "ROLLCALL_JWT_PRIVATE_KEY: RSA key of %d bits, at least %d "
                                  "are required", EVP_PKEY_get_bits(pkey), SIGN_MIN_RSA_BITS);
        else
            alg = JWT_ALG_RS256;
    } else if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_group_name(pkey, group, sizeof group, &glen) == 1 &&
            (strcmp(group, "prime256v1") == 0 || strcmp(group, "P-256") == 0))
            alg = JWT_ALG_ES256;
        else
            snprintf(err, errlen, "ROLLCALL_JWT_PRIVATE_KEY: EC key on %s; only P-256 "
                                  "(ES256) is supported", group[0] ? group : "an unknown curve");
    } else {
        snprintf(err, errlen, "ROLLCALL_JWT_PRIVATE_KEY: only RSA (RS256) and EC P-256 "
                              "(ES256) keys are supported");
    }
    EVP_PKEY_free(pkey);
    BIO_free(bio);
    return alg;
}

static char *dup_opt(const char *s)
{
    return s && s[0] ? brk_strdup(s) : NULL;
}

int auth_signer_new(const auth_signer_options_t *opt, auth_signer_t **out, char *err,
                    size_t errlen)
{
    char scratch[8];
    if (!err || errlen == 0) {
        err = scratch;
        errlen = sizeof scratch;
    }
    err[0] = '\0';
    const char *want = opt->alg && opt->alg[0] ? opt->alg : NULL;
    if (want && strcmp(want, "HS256") != 0 && strcmp(want, "RS256") != 0 &&
        strcmp(want, "ES256") != 0) {
        snprintf(err, errlen, "ROLLCALL_JWT_ALG must be HS256, RS256 or ES256");
        return BRK_EINVAL;
    }
    auth_signer_t *s = brk_calloc(1, sizeof *s);
    if (opt->private_key_path && opt->private_key_path[0]) {
        s->key = read_pem(opt->private_key_path, &s->keylen, err, errlen);
        if (!s->key)
            goto fail;
        s->alg = private_key_alg(s->key, s->keylen, err, errlen);
        if (s->alg == JWT_ALG_INVAL)
            goto fail;
        s->alg_name = s->alg == JWT_ALG_RS256 ? "RS256" : "ES256";
        if (want && strcmp(want, s->alg_name) != 0) {
            snprintf(err, errlen, "ROLLCALL_JWT_PRIVATE_KEY is a %s key but ROLLCALL_JWT_ALG "
                                  "is %s", s->alg_name, want);
            goto fail;
        }
    } else if (opt->secret && opt->secret[0]) {
        if (want && strcmp(want, "HS256") != 0) {
            snprintf(err, errlen, "signing with %s needs ROLLCALL_JWT_PRIVATE_KEY", want);
            goto fail;
        }
        size_t n = strlen(opt->secret);
        if (n < SIGN_MIN_SECRET || n > INT_MAX) {
            snprintf(err, errlen, "ROLLCALL_JWT_SECRET must be at least 32 bytes");
            goto fail;
        }
        s->key = (unsigned char *)brk_strdup(opt->secret);
        s->keylen = n;
        s->alg = JWT_ALG_HS256;
        s->alg_name = "HS256";
    } else {
        snprintf(err, errlen, "no signing key: set ROLLCALL_JWT_SECRET or "
                              "ROLLCALL_JWT_PRIVATE_KEY");
        goto fail;
    }
    s->issuer = dup_opt(opt->issuer);
    s->audience = dup_opt(opt->audience);
    *out = s;
    return 0;

fail:
    auth_signer_free(s);
    return BRK_EINVAL;
}

void auth_signer_free(auth_signer_t *s)
{
    if (!s)
        return;
    if (s->key) {
        wipe(s->key, s->keylen);
        free(s->key);
    }
    free(s->issuer);
    free(s->audience);
    free(s);
}

const char *auth_signer_alg(const auth_signer_t *s)
{
    return s->alg_name;
}

char *auth_sign(const auth_signer_t *s, const auth_claims_t *c, int64_t now_s, int64_t ttl_s)
{
    if (!s || !c || !c->sub || !brk_id_ok(c->sub, strlen(c->sub), AUTH_MAX_ID) ||
        c->n_classes > AUTH_MAX_CLASSES || ttl_s <= 0 || now_s < 0 ||
        ttl_s > INT64_MAX - now_s || now_s + ttl_s > LONG_MAX)
        return NULL;
    if ((unsigned)c->role > ROLE_ADMIN)
        return NULL;
    const char *role = auth_role_name(c->role);

    jwt_t *jwt = NULL;
    char *claims_json = NULL, *token = NULL;
    json_t *claims = json_object();
    json_object_set_new(claims, "sub", json_string(c->sub));
    json_object_set_new(claims, "role", json_string(role));
    if (c->name && c->name[0]) {
        json_t *n = json_string(c->name);
        if (!n)
            goto cleanup; /* not UTF-8 */
        json_object_set_new(claims, "name", n);
    }
    json_t *list = json_array();
    for (size_t i = 0; i < c->n_classes; i++) {
        const char *id = c->classes[i];
        if (!id || !brk_id_ok(id, strlen(id), AUTH_MAX_ID)) {
            json_decref(list);
            goto cleanup;
        }
        json_array_append_new(list, json_string(id));
    }
    if (json_array_size(list) == 1)
        json_object_set(claims, "class_id", json_array_get(list, 0));
    else if (json_array_size(list) > 1)
        json_object_set(claims, "classes", list);
    json_decref(list);
    if (s->issuer)
        json_object_set_new(claims, "iss", json_string(s->issuer));
    if (s->audience)
        json_object_set_new(claims, "aud", json_string(s->audience));
    claims_json = json_dumps(claims, JSON_COMPACT);
    if (!claims_json || jwt_new(&jwt) != 0)
        goto cleanup;
    if (jwt_add_grants_json(jwt, claims_json) != 0 ||
        jwt_add_grant_int(jwt, "iat", (long)now_s) != 0 ||
        jwt_add_grant_int(jwt, "exp", (long)(now_s + ttl_s)) != 0 ||
        jwt_set_alg(jwt, s->alg, s->key, (int)s->keylen) != 0)
        goto cleanup;
    token = jwt_encode_str(jwt);

cleanup:
    if (jwt)
        jwt_free(jwt);
    free(claims_json);
    json_decref(claims);
    return token;
}

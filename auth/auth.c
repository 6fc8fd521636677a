/* SPDX-License-Identifier: MIT */
/* JWT verification on top of libjwt 1.10.2, which only checks the signature and the
 * format: it skips the signature without a key, accepts any algorithm the key fits and
 * checks no claim. So this module always passes the key, reads the JOSE header itself (alg,
 * kid, crit) before libjwt sees the token, checks alg again after it, and checks every
 * claim itself with jansson. The keys are a secret, a PEM public key, or a JSON Web Key Set
 * whose keys are turned into PEM once at load time. It also mints HS256 tokens for
 * development. A verifier is immutable once built, so verification is thread-safe; key
 * rotation builds a new one (auth_verifier_reload). */
#include "auth.h"

#include "b64.h"
#include "brk.h"

#include <errno.h>
#include <jansson.h>
#include <jwt.h>
#include <limits.h>
#include <math.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
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
#define AUTH_MAX_RSA_BITS 8192
#define AUTH_MAX_JWKS (256 * 1024)
#define AUTH_MAX_JWKS_KEYS 64
#define AUTH_MAX_KID 256

/* One verification key. Without a JWKS the verifier has exactly one, without a kid. */
typedef struct auth_key {
    char *kid; /* JWKS: the key id (owned); NULL for a configured secret or PEM */
    jwt_alg_t alg;
    const char *alg_name; /* static: "HS256", "RS256" or "ES256" */
    unsigned char *key;   /* HS256 secret or PEM text, owned */
    size_t keylen;
} auth_key_t;

struct auth_verifier {
    auth_key_t *keys;
    size_t n_keys;
    size_t n_skipped; /* JWKS keys left out: not for signatures, or another algorithm */
    int jwks;         /* the keys come from a JWKS: a token's kid picks one */
    char *issuer;     /* owned, or NULL */
    char *audience;   /* owned, or NULL */
    int leeway_s;
    /* What the verifier was built from (owned copies), so that auth_verifier_reload() can
     * read the same files again. */
    char *o_alg, *o_secret, *o_pem_path, *o_jwks_path;
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

/* Overwrites then frees: secrets should not outlive their owner in freed heap memory. */
static void wipe_free(void *p, size_t len)
{
    if (!p)
        return;
    volatile unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        b[i] = 0;
    free(p);
}

/* ---- base64url ------------------------------------------------------------------------ */

/* Decodes unpadded base64url into a new NUL-terminated buffer (so jansson can read it).
 * Returns NULL when the input is not valid unpadded base64url. */
static char *b64url_decode(const char *in, size_t len, size_t *outlen)
{
    size_t n = b64_decoded_len(len);
    if (n == (size_t)-1)
        return NULL;
    char *out = brk_malloc(n + 1);
    long got = b64_decode(in, len, B64_URL, (uint8_t *)out);
    if (got < 0) {
        free(out);
        return NULL;
    }
    out[got] = '\0';
    *outlen = (size_t)got;
    return out;
}

/* ---- key loading ---------------------------------------------------------------------- */

/* Reads a whole key file of at most max bytes, NUL-terminated. setting names the variable
 * in error messages. */
static int read_file(const char *setting, const char *path, size_t max, unsigned char **out,
                     size_t *outlen, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "cannot open %s file %s: %s", setting, path, strerror(errno));
        return BRK_EINVAL;
    }
    unsigned char *buf = brk_malloc(max + 1);
    size_t n = fread(buf, 1, max + 1, f);
    int failed = ferror(f);
    fclose(f);
    if (failed || n == 0 || n > max) {
        free(buf);
        set_err(err, errlen, "%s file %s is %s", setting, path,
                failed   ? "unreadable"
                : n == 0 ? "empty"
                         : "too large");
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
    ERR_clear_error();
    return alg;
}

/* ---- JSON Web Key Sets ------------------------------------------------------------------
 * libjwt 1.10 takes keys as PEM text only. Each usable JWK becomes an EVP_PKEY (built from
 * its parameters with OSSL_PARAM_BLD and EVP_PKEY_fromdata), is checked by OpenSSL, and is
 * written out once as a PEM public key, so verifying a token costs no conversion. */

/* Names a key in error messages: its index, and its kid when that is short and plain (the
 * message ends up in a key=value log line, so nothing that needs quoting is copied). */
static void key_label(char *out, size_t outlen, size_t i, json_t *kid)
{
    int n = snprintf(out, outlen, "keys[%zu]", i);
    if (!json_is_string(kid) || n < 0 || (size_t)n >= outlen)
        return;
    const char *s = json_string_value(kid);
    size_t len = json_string_length(kid);
    if (len == 0 || len > 64)
        return;
    for (size_t k = 0; k < len; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=')
            return;
    }
    snprintf(out + n, outlen - (size_t)n, " (kid %s)", s);
}

/* Decodes the base64url string member name of jwk (trailing '=' padding tolerated) into a
 * new buffer. Returns NULL when it is missing, empty or not base64url. */
static unsigned char *jwk_bytes(json_t *jwk, const char *name, size_t *len)
{
    json_t *v = json_object_get(jwk, name);
    if (!json_is_string(v))
        return NULL;
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    while (n > 0 && s[n - 1] == '=')
        n--;
    if (n == 0)
        return NULL;
    return (unsigned char *)b64url_decode(s, n, len);
}

/* Builds the key from OSSL_PARAMs and has OpenSSL check it (an RSA modulus and exponent
 * that make sense, an EC point on the curve). Takes ownership of bld. */
static EVP_PKEY *pkey_from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM *params = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
    EVP_PKEY_CTX *ctx = params ? EVP_PKEY_CTX_new_from_name(NULL, type, NULL) : NULL;
    EVP_PKEY_CTX *check = NULL;
    if (!ctx || EVP_PKEY_fromdata_init(ctx) != 1 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
        goto fail;
    check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
    if (!check || EVP_PKEY_public_check(check) != 1)
        goto fail;
    goto done;

fail:
    EVP_PKEY_free(pkey);
    pkey = NULL;
done:
    EVP_PKEY_CTX_free(check);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    ERR_clear_error();
    return pkey;
}

/* An RSA JWK (n, e) as an EVP_PKEY of 2048..8192 bits, or NULL with err set. */
static EVP_PKEY *rsa_from_jwk(json_t *jwk, const char *where, char *err, size_t errlen)
{
    size_t nlen = 0, elen = 0;
    unsigned char *nb = jwk_bytes(jwk, "n", &nlen);
    unsigned char *eb = jwk_bytes(jwk, "e", &elen);
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM_BLD *bld = NULL;
    EVP_PKEY *pkey = NULL;
    int bits = 0;
    if (!nb || !eb || elen > 8 || nlen > AUTH_MAX_RSA_BITS) {
        set_err(err, errlen, "%s: an RSA key needs n and e in base64url", where);
        goto cleanup;
    }
    n = BN_bin2bn(nb, (int)nlen, NULL);
    e = BN_bin2bn(eb, (int)elen, NULL);
    bits = n ? BN_num_bits(n) : 0;
    if (bits < AUTH_MIN_RSA_BITS || bits > AUTH_MAX_RSA_BITS) {
        set_err(err, errlen, "%s: RSA key has %d bits, need %d to %d", where, bits,
                AUTH_MIN_RSA_BITS, AUTH_MAX_RSA_BITS);
        goto cleanup;
    }
    bld = OSSL_PARAM_BLD_new();
    if (bld && e && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) == 1 &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) == 1)
        pkey = pkey_from_params("RSA", bld);
    else
        OSSL_PARAM_BLD_free(bld);
    bld = NULL; /* pkey_from_params took it */
    if (!pkey)
        set_err(err, errlen, "%s: not a valid RSA public key", where);

cleanup:
    BN_free(n);
    BN_free(e);
    free(nb);
    free(eb);
    return pkey;
}

/* An EC P-256 JWK (x, y: 32 bytes each) as an EVP_PKEY, or NULL with err set. */
static EVP_PKEY *ec_from_jwk(json_t *jwk, const char *where, char *err, size_t errlen)
{
    size_t xlen = 0, ylen = 0;
    unsigned char *x = jwk_bytes(jwk, "x", &xlen);
    unsigned char *y = jwk_bytes(jwk, "y", &ylen);
    EVP_PKEY *pkey = NULL;
    if (!x || !y || xlen != 32 || ylen != 32) {
        set_err(err, errlen, "%s: an EC P-256 key needs x and y of 32 bytes in base64url", where);
        goto cleanup;
    }
    /* The uncompressed point encoding: 0x04, then x, then y. */
    unsigned char point[65];
    point[0] = 0x04;
    memcpy(point + 1, x, 32);
    memcpy(point + 33, y, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    if (bld &&
        (OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
         OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) !=
             1)) {
        OSSL_PARAM_BLD_free(bld);
        bld = NULL;
    }
    pkey = pkey_from_params("EC", bld);
    if (!pkey)
        set_err(err, errlen, "%s: not a valid EC P-256 public key (point not on the curve?)",
                where);
cleanup:
    free(x);
    free(y);
    return pkey;
}

/* The PEM text ("-----BEGIN PUBLIC KEY-----") of pkey, NUL-terminated, or NULL. */
static unsigned char *pem_of(EVP_PKEY *pkey, size_t *len)
{
    unsigned char *out = NULL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *data = NULL;
    long n;
    if (bio && PEM_write_bio_PUBKEY(bio, pkey) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0) {
        out = brk_malloc((size_t)n + 1);
        memcpy(out, data, (size_t)n);
        out[n] = '\0';
        *len = (size_t)n;
    }
    BIO_free(bio);
    ERR_clear_error();
    return out;
}

/* Reads the JWK keys[i] into *k. Returns 0 with k->key set; 0 with k->key NULL for a key
 * the broker has no use for (for encryption, another key type or curve, an algorithm other
 * than RS256 and ES256, or not the configured ROLLCALL_JWT_ALG); or BRK_EINVAL with err for
 * a key that is malformed or too weak, which makes the whole file unusable. */
static int jwk_key(json_t *jwk, size_t i, jwt_alg_t want, const char *path, auth_key_t *k,
                   char *err, size_t errlen)
{
    char label[96], where[4200];
    json_t *kid = json_is_object(jwk) ? json_object_get(jwk, "kid") : NULL;
    key_label(label, sizeof label, i, kid);
    snprintf(where, sizeof where, "ROLLCALL_JWT_JWKS file %s: %s", path, label);
    if (!json_is_object(jwk)) {
        set_err(err, errlen, "%s is not an object", where);
        return BRK_EINVAL;
    }
    if (!json_is_string(kid) || json_string_length(kid) == 0 ||
        json_string_length(kid) > AUTH_MAX_KID) {
        set_err(err, errlen, "%s has no kid (a string of 1..%d bytes)", where, AUTH_MAX_KID);
        return BRK_EINVAL;
    }
    json_t *kty = json_object_get(jwk, "kty");
    json_t *use = json_object_get(jwk, "use");
    json_t *alg = json_object_get(jwk, "alg");
    if (!json_is_string(kty) || (use && !json_is_string(use)) || (alg && !json_is_string(alg))) {
        set_err(err, errlen, "%s: kty is required, and kty, use and alg are strings", where);
        return BRK_EINVAL;
    }
    if (use && strcmp(json_string_value(use), "sig") != 0)
        return 0;
    jwt_alg_t kalg;
    if (strcmp(json_string_value(kty), "RSA") == 0) {
        kalg = JWT_ALG_RS256;
    } else if (strcmp(json_string_value(kty), "EC") == 0) {
        json_t *crv = json_object_get(jwk, "crv");
        if (!json_is_string(crv)) {
            set_err(err, errlen, "%s: an EC key needs crv", where);
            return BRK_EINVAL;
        }
        if (strcmp(json_string_value(crv), "P-256") != 0)
            return 0;
        kalg = JWT_ALG_ES256;
    } else {
        return 0;
    }
    const char *alg_name = kalg == JWT_ALG_RS256 ? "RS256" : "ES256";
    if ((alg && strcmp(json_string_value(alg), alg_name) != 0) ||
        (want != JWT_ALG_INVAL && want != kalg))
        return 0;

    EVP_PKEY *pkey = kalg == JWT_ALG_RS256 ? rsa_from_jwk(jwk, where, err, errlen)
                                           : ec_from_jwk(jwk, where, err, errlen);
    if (!pkey)
        return BRK_EINVAL;
    k->key = pem_of(pkey, &k->keylen);
    EVP_PKEY_free(pkey);
    if (!k->key) {
        set_err(err, errlen, "%s: the key could not be converted to PEM", where);
        return BRK_EINVAL;
    }
    k->kid = brk_strndup(json_string_value(kid), json_string_length(kid));
    k->alg = kalg;
    k->alg_name = alg_name;
    return 0;
}

static void key_clear(auth_key_t *k)
{
    free(k->kid);
    wipe_free(k->key, k->keylen);
    memset(k, 0, sizeof *k);
}

/* Fills v->keys from the JWKS file at path. A file that is not a JWKS, holds a malformed or
 * weak key, repeats a kid, or has no usable key is refused as a whole. */
static int load_jwks(auth_verifier_t *v, const char *path, jwt_alg_t want, char *err, size_t errlen)
{
    unsigned char *buf = NULL;
    size_t len = 0;
    json_t *doc = NULL;
    int rc = read_file("ROLLCALL_JWT_JWKS", path, AUTH_MAX_JWKS, &buf, &len, err, errlen);
    if (rc != 0)
        return rc;
    rc = BRK_EINVAL;
    json_error_t jerr;
    doc = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) {
        set_err(err, errlen, "ROLLCALL_JWT_JWKS file %s is not JSON (line %d: %s)", path, jerr.line,
                jerr.text);
        goto cleanup;
    }
    json_t *keys = json_object_get(doc, "keys");
    if (!json_is_object(doc) || !json_is_array(keys)) {
        set_err(err, errlen, "ROLLCALL_JWT_JWKS file %s is not a key set (no keys array)", path);
        goto cleanup;
    }
    if (json_array_size(keys) > AUTH_MAX_JWKS_KEYS) {
        set_err(err, errlen, "ROLLCALL_JWT_JWKS file %s has more than %d keys", path,
                AUTH_MAX_JWKS_KEYS);
        goto cleanup;
    }
    v->keys = brk_calloc(json_array_size(keys) + 1, sizeof *v->keys);
    size_t i;
    json_t *jwk;
    json_array_foreach(keys, i, jwk)
    {
        auth_key_t k = {0};
        if (jwk_key(jwk, i, want, path, &k, err, errlen) != 0)
            goto cleanup;
        if (!k.key) {
            v->n_skipped++;
            continue;
        }
        for (size_t j = 0; j < v->n_keys; j++) {
            if (strcmp(v->keys[j].kid, k.kid) == 0) {
                char label[96];
                key_label(label, sizeof label, i, json_object_get(jwk, "kid"));
                set_err(err, errlen,
                        "ROLLCALL_JWT_JWKS file %s: %s repeats the kid of another "
                        "signing key",
                        path, label);
                key_clear(&k);
                goto cleanup;
            }
        }
        v->keys[v->n_keys++] = k;
    }
    if (v->n_keys == 0) {
        set_err(err, errlen,
                "ROLLCALL_JWT_JWKS file %s has no usable key (RSA of 2048 bits or more for "
                "RS256, or EC P-256 for ES256, for signatures%s%s)",
                path, want != JWT_ALG_INVAL ? ", matching ROLLCALL_JWT_ALG " : "",
                want != JWT_ALG_INVAL ? jwt_alg_str(want) : "");
        goto cleanup;
    }
    v->jwks = 1;
    rc = 0;

cleanup:
    json_decref(doc);
    free(buf);
    return rc;
}

static void copy_opt(char **dst, const char *src)
{
    *dst = src && src[0] ? brk_strdup(src) : NULL;
}

static jwt_alg_t alg_of_name(const char *name)
{
    if (strcmp(name, "HS256") == 0)
        return JWT_ALG_HS256;
    if (strcmp(name, "RS256") == 0)
        return JWT_ALG_RS256;
    if (strcmp(name, "ES256") == 0)
        return JWT_ALG_ES256;
    return JWT_ALG_INVAL;
}

/* The single key of a verifier without a JWKS: the secret, or the PEM public key file. */
static int load_single_key(auth_verifier_t *v, const auth_options_t *opt, jwt_alg_t alg, char *err,
                           size_t errlen)
{
    bool has_secret = opt->secret && opt->secret[0];
    bool has_key = opt->public_key_pem_path && opt->public_key_pem_path[0];
    unsigned char *pem = NULL;
    size_t pemlen = 0;

    if (alg != JWT_ALG_INVAL) {
        if (alg == JWT_ALG_HS256 && !has_secret) {
            set_err(err, errlen, "ROLLCALL_JWT_ALG is HS256 but ROLLCALL_JWT_SECRET is unset");
            return BRK_EINVAL;
        }
        if (alg != JWT_ALG_HS256 && !has_key) {
            set_err(err, errlen, "ROLLCALL_JWT_ALG is %s but ROLLCALL_JWT_PUBLIC_KEY is unset",
                    jwt_alg_str(alg));
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
        set_err(err, errlen,
                "no JWT key: set ROLLCALL_JWT_SECRET, ROLLCALL_JWT_PUBLIC_KEY or "
                "ROLLCALL_JWT_JWKS");
        return BRK_EINVAL;
    }

    if (alg == JWT_ALG_HS256) {
        if (strlen(opt->secret) < AUTH_MIN_SECRET) {
            set_err(err, errlen, "ROLLCALL_JWT_SECRET must be at least %d bytes", AUTH_MIN_SECRET);
            return BRK_EINVAL;
        }
    } else {
        int rc = read_file("ROLLCALL_JWT_PUBLIC_KEY", opt->public_key_pem_path, AUTH_MAX_PEM, &pem,
                           &pemlen, err, errlen);
        if (rc != 0)
            return rc;
        jwt_alg_t kind = pem_key_alg(pem, pemlen, err, errlen);
        if (kind == JWT_ALG_INVAL) {
            free(pem);
            return BRK_EINVAL;
        }
        if (alg == JWT_ALG_INVAL) {
            alg = kind;
        } else if (alg != kind) {
            set_err(err, errlen, "ROLLCALL_JWT_ALG is %s but ROLLCALL_JWT_PUBLIC_KEY is %s key",
                    jwt_alg_str(alg), kind == JWT_ALG_RS256 ? "an RSA" : "an EC P-256");
            free(pem);
            return BRK_EINVAL;
        }
    }

    auth_key_t *k = v->keys = brk_calloc(1, sizeof *v->keys);
    v->n_keys = 1;
    k->alg = alg;
    k->alg_name = alg == JWT_ALG_HS256 ? "HS256" : alg == JWT_ALG_RS256 ? "RS256" : "ES256";
    if (alg == JWT_ALG_HS256) {
        k->keylen = strlen(opt->secret);
        k->key = (unsigned char *)brk_strndup(opt->secret, k->keylen);
    } else {
        k->key = pem;
        k->keylen = pemlen;
    }
    if (k->keylen > INT_MAX) {
        set_err(err, errlen, "JWT key too large");
        return BRK_EINVAL;
    }
    return 0;
}

int auth_verifier_new(const auth_options_t *opt, auth_verifier_t **out, char *err, size_t errlen)
{
    auth_verifier_t *v = NULL;
    int rc = BRK_EINVAL;

    *out = NULL;
    if (!opt) {
        set_err(err, errlen, "no JWT options");
        return BRK_EINVAL;
    }
    jwt_alg_t alg = JWT_ALG_INVAL;
    if (opt->alg && opt->alg[0]) {
        alg = alg_of_name(opt->alg);
        if (alg == JWT_ALG_INVAL) {
            set_err(err, errlen, "ROLLCALL_JWT_ALG must be HS256, RS256 or ES256");
            return BRK_EINVAL;
        }
    }
    bool has_jwks = opt->jwks_path && opt->jwks_path[0];
    if (has_jwks && ((opt->secret && opt->secret[0]) ||
                     (opt->public_key_pem_path && opt->public_key_pem_path[0]))) {
        set_err(err, errlen,
                "ROLLCALL_JWT_JWKS cannot be combined with ROLLCALL_JWT_SECRET or "
                "ROLLCALL_JWT_PUBLIC_KEY: a token's kid must name its key");
        return BRK_EINVAL;
    }
    if (has_jwks && alg == JWT_ALG_HS256) {
        set_err(err, errlen,
                "ROLLCALL_JWT_ALG is HS256 but ROLLCALL_JWT_JWKS holds public keys "
                "(RS256, ES256)");
        return BRK_EINVAL;
    }

    v = brk_calloc(1, sizeof *v);
    rc = has_jwks ? load_jwks(v, opt->jwks_path, alg, err, errlen)
                  : load_single_key(v, opt, alg, err, errlen);
    if (rc != 0)
        goto cleanup;
    copy_opt(&v->issuer, opt->issuer);
    copy_opt(&v->audience, opt->audience);
    v->leeway_s = opt->leeway_s > 0 ? opt->leeway_s : 0;
    copy_opt(&v->o_alg, opt->alg);
    copy_opt(&v->o_secret, opt->secret);
    copy_opt(&v->o_pem_path, opt->public_key_pem_path);
    copy_opt(&v->o_jwks_path, opt->jwks_path);
    *out = v;
    v = NULL;
    rc = 0;

cleanup:
    auth_verifier_free(v);
    return rc;
}

int auth_verifier_reload(const auth_verifier_t *old, auth_verifier_t **out, char *err,
                         size_t errlen)
{
    *out = NULL;
    if (!old) {
        set_err(err, errlen, "no verifier to reload");
        return BRK_EINVAL;
    }
    auth_options_t o = {
        .alg = old->o_alg,
        .secret = old->o_secret,
        .public_key_pem_path = old->o_pem_path,
        .jwks_path = old->o_jwks_path,
        .issuer = old->issuer,
        .audience = old->audience,
        .leeway_s = old->leeway_s,
    };
    return auth_verifier_new(&o, out, err, errlen);
}

void auth_verifier_describe(const auth_verifier_t *v, char *buf, size_t len)
{
    if (!buf || len == 0)
        return;
    if (!v)
        snprintf(buf, len, "source=none");
    else if (v->jwks)
        snprintf(buf, len, "source=jwks keys=%zu skipped=%zu", v->n_keys, v->n_skipped);
    else
        snprintf(buf, len, "source=%s alg=%s",
                 v->keys[0].alg == JWT_ALG_HS256 ? "secret" : "public_key", v->keys[0].alg_name);
}

void auth_verifier_free(auth_verifier_t *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_keys; i++)
        key_clear(&v->keys[i]);
    free(v->keys);
    free(v->issuer);
    free(v->audience);
    free(v->o_alg);
    if (v->o_secret)
        wipe_free(v->o_secret, strlen(v->o_secret));
    free(v->o_pem_path);
    free(v->o_jwks_path);
    free(v);
}

/* ---- token parsing -------------------------------------------------------------------- */

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

/* sub and class ids: base's id alphabet (brk_id_ok), at most AUTH_MAX_ID bytes. */
static bool valid_id(const char *s, size_t len)
{
    return brk_id_ok(s, len, AUTH_MAX_ID);
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
                                unsigned flags,
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
    if (id->n_classes == 0 && !(flags & AUTH_ALLOW_NO_CLASS))
        return "no class";
    return NULL;
}

/* The key a token's header asks for: with a JWKS, the one its kid names (NULL when the kid
 * is missing or unknown); otherwise the verifier's only key, whatever the kid says. */
static const auth_key_t *select_key(const auth_verifier_t *v, json_t *header)
{
    if (!v->jwks)
        return &v->keys[0];
    json_t *kid = json_object_get(header, "kid");
    if (!json_is_string(kid))
        return NULL;
    for (size_t i = 0; i < v->n_keys; i++)
        if (strcmp(v->keys[i].kid, json_string_value(kid)) == 0)
            return &v->keys[i];
    return NULL;
}

/* An HS256 signature, checked here: one HMAC-SHA256 over the token's first two segments
 * (signed_len bytes) and a constant-time comparison with the decoded third. libjwt's
 * jwt_decode would decode and parse the header and the claims again, and compare the
 * signature as text; on a connection's upgrade that was a fifth of the broker's CPU. */
static bool hs256_signature_ok(const auth_key_t *key, const char *token, size_t signed_len,
                               const char *sig, size_t sig_len)
{
    size_t n = 0;
    char *raw = b64url_decode(sig, sig_len, &n);
    if (!raw)
        return false;
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int maclen = 0;
    bool ok = n == 32 && key->keylen <= INT_MAX &&
              HMAC(EVP_sha256(), key->key, (int)key->keylen, (const unsigned char *)token,
                   signed_len, mac, &maclen) != NULL &&
              maclen == 32 && CRYPTO_memcmp(mac, raw, 32) == 0;
    OPENSSL_cleanse(mac, sizeof mac);
    free(raw);
    return ok;
}

int auth_verify(const auth_verifier_t *v, const char *token, size_t len, int64_t now_s,
                auth_identity_t *id, const char **reason)
{
    return auth_verify_ex(v, token, len, now_s, 0, id, reason);
}

int auth_verify_ex(const auth_verifier_t *v, const char *token, size_t len, int64_t now_s,
                   unsigned flags, auth_identity_t *id, const char **reason)
{
    const char *why = NULL;
    json_t *header = NULL, *payload = NULL;
    char *copy = NULL;
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
        } else if (b64_value((unsigned char)token[i], B64_URL) < 0) {
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
    /* RFC 7515 4.1.11: a recipient must refuse a token whose crit lists an extension it
     * does not understand, and this verifier understands none. */
    if (json_object_get(header, "crit")) {
        why = "unsupported crit";
        goto cleanup;
    }
    const auth_key_t *key = select_key(v, header);
    if (!key) {
        why = "unknown kid";
        goto cleanup;
    }
    if (strcmp(json_string_value(alg), key->alg_name) != 0) {
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

    if (key->alg == JWT_ALG_HS256) {
        if (!hs256_signature_ok(key, token, dot[1], token + dot[1] + 1, len - dot[1] - 1)) {
            why = "bad signature";
            goto cleanup;
        }
    } else {
        copy = brk_strndup(token, len);
        if (jwt_decode(&jwt, copy, key->key, (int)key->keylen) != 0 || !jwt) {
            why = "bad signature";
            goto cleanup;
        }
        if (jwt_get_alg(jwt) != key->alg) {
            why = "wrong algorithm";
            goto cleanup;
        }
    }
    /* The signature covers the payload segment decoded above: its claims are the token's. */
    why = check_claims(v, payload, now_s, flags, &tmp);

cleanup:
    json_decref(header);
    json_decref(payload);
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
    auth_role_t r;
    if (!secret || !sub || auth_parse_role(role, &r) != 0 || !classes)
        return NULL;
    json_t *list = parse_class_list(classes);
    if (!list)
        return NULL;
    const char *ids[AUTH_MAX_CLASSES];
    size_t n = json_array_size(list);
    for (size_t i = 0; i < n; i++)
        ids[i] = json_string_value(json_array_get(list, i));
    auth_signer_t *signer = NULL;
    char *token = NULL;
    auth_signer_options_t so = {
        .alg = "HS256", .secret = secret, .issuer = issuer, .audience = audience};
    if (auth_signer_new(&so, &signer, NULL, 0) == 0) {
        auth_claims_t c = {.sub = sub, .role = r, .name = name, .classes = ids, .n_classes = n};
        token = auth_sign(signer, &c, now_s, ttl_s);
    }
    auth_signer_free(signer);
    json_decref(list);
    return token;
}

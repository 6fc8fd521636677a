/* SPDX-License-Identifier: MIT */
/* Unit tests for auth/auth.c: every refusal the protocol lists, the libjwt 1.10.2 traps
 * (alg none, algorithm confusion, HS384 for HS256), RS256/ES256 with keys generated at
 * test time, JSON Web Key Sets (kid selection, skipped and refused keys), crit, reloading
 * the keys, and the development minting round trip. */
#include "auth.h"
#include "brk.h"
#include "test.h"

#include <jansson.h>
#include <jwt.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SECRET "0123456789abcdef0123456789abcdef" /* exactly 32 bytes */
#define OTHER_SECRET "fedcba9876543210fedcba9876543210"
#define NOW ((int64_t)1800000000)

/* ---- helpers ---------------------------------------------------------------------------- */

static char *b64url(const void *data, size_t len)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = data;
    char *out = malloc(len / 3 * 4 + 5);
    size_t n = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        acc = (acc << 8) | p[i];
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out[n++] = abc[(acc >> bits) & 63];
        }
    }
    if (bits > 0)
        out[n++] = abc[(acc << (6 - bits)) & 63];
    out[n] = '\0';
    return out;
}

/* Builds header.payload.signature by hand from raw JSON texts. The signature is HMAC-SHA256
 * with hmac_key, or empty when hmac_key is NULL. */
static char *craft(const char *header, const char *payload, const char *hmac_key)
{
    char *h = b64url(header, strlen(header));
    char *p = b64url(payload, strlen(payload));
    size_t n = strlen(h) + strlen(p) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", h, p);
    char *sig = strdup("");
    if (hmac_key) {
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned maclen = 0;
        HMAC(EVP_sha256(), hmac_key, (int)strlen(hmac_key), (const unsigned char *)input,
             strlen(input), mac, &maclen);
        free(sig);
        sig = b64url(mac, maclen);
    }
    size_t total = strlen(input) + strlen(sig) + 2;
    char *tok = malloc(total);
    snprintf(tok, total, "%s.%s", input, sig);
    free(h);
    free(p);
    free(input);
    free(sig);
    return tok;
}

/* Signs claims (consumed) with libjwt. */
static char *sign(jwt_alg_t alg, const void *key, size_t keylen, json_t *claims)
{
    char *json = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    jwt_t *jwt = NULL;
    char *tok = NULL;
    if (json && jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, json) == 0 &&
        jwt_set_alg(jwt, alg, key, (int)keylen) == 0)
        tok = jwt_encode_str(jwt);
    if (jwt)
        jwt_free(jwt);
    free(json);
    return tok;
}

static char *sign_hs(json_t *claims)
{
    return sign(JWT_ALG_HS256, SECRET, strlen(SECRET), claims);
}

/* A valid student token's claims at NOW. */
static json_t *base_claims(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "sub", "stu-1", "role", "student", "name",
                     "Ada Lovelace", "class_id", "c1", "iat", (json_int_t)(NOW - 10), "exp",
                     (json_int_t)(NOW + 3600));
}

static json_t *claims_with(const char *key, json_t *value)
{
    json_t *c = base_claims();
    if (value)
        json_object_set_new(c, key, value);
    else
        json_object_del(c, key);
    return c;
}

static auth_verifier_t *hs_verifier(const char *iss, const char *aud, int leeway)
{
    auth_options_t o = {.secret = SECRET, .issuer = iss, .audience = aud, .leeway_s = leeway};
    auth_verifier_t *v = NULL;
    char err[256];
    if (auth_verifier_new(&o, &v, err, sizeof err) != 0)
        TEST_FAIL("auth_verifier_new: %s", err);
    return v;
}

/* Verifies tok at now and returns NULL when accepted or the reason when refused; the
 * identity passed in must stay untouched on refusal. Frees tok. */
static auth_identity_t last_id;

static const char *check_at(const auth_verifier_t *v, char *tok, int64_t now)
{
    ASSERT_NOT_NULL(tok);
    auth_identity_t id;
    memset(&id, 0x5a, sizeof id);
    const char *reason = "unset";
    int rc = auth_verify(v, tok, strlen(tok), now, &id, &reason);
    free(tok);
    if (rc == 0) {
        ASSERT_NULL(reason);
        last_id = id;
        return NULL;
    }
    ASSERT_EQ(rc, BRK_EAUTH);
    ASSERT_NOT_NULL(reason);
    ASSERT_EQ(((unsigned char *)&id)[0], 0x5a);
    ASSERT_EQ(((unsigned char *)&id)[sizeof id - 1], 0x5a);
    return reason;
}

static const char *check(const auth_verifier_t *v, char *tok)
{
    return check_at(v, tok, NOW);
}

#define ACCEPTED(v, tok)                                                                           \
    do {                                                                                           \
        const char *r_ = check((v), (tok));                                                        \
        if (r_)                                                                                    \
            TEST_FAIL("refused: %s", r_);                                                          \
    } while (0)

/* ---- keys generated at test time ---------------------------------------------------------- */

typedef struct {
    char *priv; /* PEM text */
    size_t priv_len;
    char *pub;
    size_t pub_len;
    char path[128]; /* public key file */
} keypair_t;

static struct {
    int ready;
    char dir[64];
    keypair_t rsa, ec, ec_other, ec384, rsa1024;
    char not_pem[128];
} keys;

static char *bio_text(BIO *bio, size_t *len)
{
    char *data = NULL;
    long n = BIO_get_mem_data(bio, &data);
    char *copy = malloc((size_t)n + 1);
    memcpy(copy, data, (size_t)n);
    copy[n] = '\0';
    *len = (size_t)n;
    return copy;
}

static void write_file(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        TEST_FAIL("cannot write %s", path);
    fwrite(text, 1, len, f);
    fclose(f);
}

static void make_keypair(keypair_t *kp, EVP_PKEY *pkey, const char *file)
{
    if (!pkey)
        TEST_FAIL("key generation failed for %s", file);
    BIO *priv = BIO_new(BIO_s_mem()), *pub = BIO_new(BIO_s_mem());
    ASSERT(PEM_write_bio_PrivateKey(priv, pkey, NULL, NULL, 0, NULL, NULL) == 1);
    ASSERT(PEM_write_bio_PUBKEY(pub, pkey) == 1);
    kp->priv = bio_text(priv, &kp->priv_len);
    kp->pub = bio_text(pub, &kp->pub_len);
    BIO_free(priv);
    BIO_free(pub);
    EVP_PKEY_free(pkey);
    snprintf(kp->path, sizeof kp->path, "%s/%s", keys.dir, file);
    write_file(kp->path, kp->pub, kp->pub_len);
}

static void free_keypair(keypair_t *kp)
{
    if (kp->path[0])
        unlink(kp->path);
    free(kp->priv);
    free(kp->pub);
}

static void keys_cleanup(void)
{
    free_keypair(&keys.rsa);
    free_keypair(&keys.ec);
    free_keypair(&keys.ec_other);
    free_keypair(&keys.ec384);
    free_keypair(&keys.rsa1024);
    if (keys.not_pem[0])
        unlink(keys.not_pem);
    if (keys.dir[0])
        rmdir(keys.dir);
}

static void keys_init(void)
{
    if (keys.ready)
        return;
    snprintf(keys.dir, sizeof keys.dir, "/tmp/auth_test_XXXXXX");
    if (!mkdtemp(keys.dir))
        TEST_FAIL("mkdtemp failed");
    atexit(keys_cleanup);
    make_keypair(&keys.rsa, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048), "rsa.pem");
    make_keypair(&keys.ec, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "ec.pem");
    make_keypair(&keys.ec_other, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"), "ec2.pem");
    make_keypair(&keys.ec384, EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"), "ec384.pem");
    make_keypair(&keys.rsa1024, EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024), "rsa1024.pem");
    snprintf(keys.not_pem, sizeof keys.not_pem, "%s/not.pem", keys.dir);
    write_file(keys.not_pem, "hello\n", 6);
    keys.ready = 1;
}

static int new_verifier(const auth_options_t *o, auth_verifier_t **v, char *err, size_t len)
{
    err[0] = '\0';
    return auth_verifier_new(o, v, err, len);
}

/* ---- tests -------------------------------------------------------------------------------- */

static void test_verifier_new_errors(void)
{
    keys_init();
    auth_verifier_t *v = (auth_verifier_t *)1;
    char err[256];

    auth_options_t none = {0};
    ASSERT_EQ(new_verifier(&none, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NULL(v);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_JWT_SECRET"));

    auth_options_t shorty = {.secret = "0123456789abcdef0123456789abcde"}; /* 31 bytes */
    ASSERT_EQ(new_verifier(&shorty, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_STR_EQ(err, "ROLLCALL_JWT_SECRET must be at least 32 bytes");

    auth_options_t both = {.secret = SECRET, .public_key_pem_path = keys.rsa.path};
    ASSERT_EQ(new_verifier(&both, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_JWT_ALG"));
    ASSERT_NULL(strstr(err, SECRET));

    auth_options_t bad_alg = {.alg = "HS384", .secret = SECRET};
    ASSERT_EQ(new_verifier(&bad_alg, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_JWT_ALG"));

    auth_options_t none_alg = {.alg = "none", .secret = SECRET};
    ASSERT_EQ(new_verifier(&none_alg, &v, err, sizeof err), BRK_EINVAL);

    auth_options_t hs_no_secret = {.alg = "HS256", .public_key_pem_path = keys.rsa.path};
    ASSERT_EQ(new_verifier(&hs_no_secret, &v, err, sizeof err), BRK_EINVAL);

    auth_options_t rs_no_key = {.alg = "RS256", .secret = SECRET};
    ASSERT_EQ(new_verifier(&rs_no_key, &v, err, sizeof err), BRK_EINVAL);

    auth_options_t rs_ec = {.alg = "RS256", .public_key_pem_path = keys.ec.path};
    ASSERT_EQ(new_verifier(&rs_ec, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "EC"));

    auth_options_t es_rsa = {.alg = "ES256", .public_key_pem_path = keys.rsa.path};
    ASSERT_EQ(new_verifier(&es_rsa, &v, err, sizeof err), BRK_EINVAL);

    auth_options_t missing = {.public_key_pem_path = "/nonexistent/key.pem"};
    ASSERT_EQ(new_verifier(&missing, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "/nonexistent/key.pem"));

    auth_options_t not_pem = {.public_key_pem_path = keys.not_pem};
    ASSERT_EQ(new_verifier(&not_pem, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "PEM"));

    /* A private key is not a public key file. */
    char priv_path[160];
    snprintf(priv_path, sizeof priv_path, "%s/priv.pem", keys.dir);
    write_file(priv_path, keys.ec.priv, keys.ec.priv_len);
    auth_options_t priv = {.public_key_pem_path = priv_path};
    int rc = new_verifier(&priv, &v, err, sizeof err);
    unlink(priv_path);
    ASSERT_EQ(rc, BRK_EINVAL);

    auth_options_t p384 = {.public_key_pem_path = keys.ec384.path};
    ASSERT_EQ(new_verifier(&p384, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "P-256"));

    auth_options_t rsa1024 = {.public_key_pem_path = keys.rsa1024.path};
    ASSERT_EQ(new_verifier(&rsa1024, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "2048"));

    auth_verifier_free(NULL);
}

static void test_alg_derivation(void)
{
    keys_init();
    auth_verifier_t *v = NULL;
    char err[256];

    /* A public key alone: RS256 for RSA, ES256 for EC P-256. */
    auth_options_t rsa = {.public_key_pem_path = keys.rsa.path};
    ASSERT_EQ(new_verifier(&rsa, &v, err, sizeof err), 0);
    ACCEPTED(v, sign(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, base_claims()));
    ASSERT_STR_EQ(check(v, sign_hs(base_claims())), "wrong algorithm");
    auth_verifier_free(v);

    auth_options_t ec = {.public_key_pem_path = keys.ec.path};
    ASSERT_EQ(new_verifier(&ec, &v, err, sizeof err), 0);
    ACCEPTED(v, sign(JWT_ALG_ES256, keys.ec.priv, keys.ec.priv_len, base_claims()));
    auth_verifier_free(v);

    /* Both keys with an explicit alg: the matching key is used, the other ignored. */
    auth_options_t both_hs = {
        .alg = "HS256", .secret = SECRET, .public_key_pem_path = keys.rsa.path};
    ASSERT_EQ(new_verifier(&both_hs, &v, err, sizeof err), 0);
    ACCEPTED(v, sign_hs(base_claims()));
    auth_verifier_free(v);

    auth_options_t both_rs = {
        .alg = "RS256", .secret = SECRET, .public_key_pem_path = keys.rsa.path};
    ASSERT_EQ(new_verifier(&both_rs, &v, err, sizeof err), 0);
    ACCEPTED(v, sign(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, base_claims()));
    ASSERT_STR_EQ(check(v, sign_hs(base_claims())), "wrong algorithm");
    auth_verifier_free(v);
}

static void test_hs256_valid(void)
{
    auth_verifier_t *v = hs_verifier("https://idp.example", "rollcall", 30);
    json_t *c =
        json_pack("{s:s, s:s, s:s, s:[s,s,s], s:I, s:I, s:I, s:s, s:s}", "sub", "teacher-7", "role",
                  "teacher", "name", "Grace Hopper", "classes", "math-1", "phys-2", "math-1", "iat",
                  (json_int_t)(NOW - 5), "nbf", (json_int_t)(NOW - 5), "exp",
                  (json_int_t)(NOW + 600), "iss", "https://idp.example", "aud", "rollcall");
    ACCEPTED(v, sign_hs(c));
    ASSERT_STR_EQ(last_id.sub, "teacher-7");
    ASSERT_STR_EQ(last_id.name, "Grace Hopper");
    ASSERT_EQ(last_id.role, ROLE_TEACHER);
    ASSERT_EQ(last_id.n_classes, 2); /* duplicate removed */
    ASSERT_STR_EQ(last_id.classes[0], "math-1");
    ASSERT_STR_EQ(last_id.classes[1], "phys-2");
    ASSERT_EQ(last_id.exp, NOW + 600);
    auth_verifier_free(v);

    /* Single class_id, admin, no name: name is "". Unknown claims are ignored. */
    v = hs_verifier(NULL, NULL, 30);
    c = base_claims();
    json_object_del(c, "name");
    json_object_set_new(c, "role", json_string("admin"));
    json_object_set_new(c, "extra", json_pack("{s:i}", "x", 1));
    ACCEPTED(v, sign_hs(c));
    ASSERT_STR_EQ(last_id.sub, "stu-1");
    ASSERT_STR_EQ(last_id.name, "");
    ASSERT_EQ(last_id.role, ROLE_ADMIN);
    ASSERT_EQ(last_id.n_classes, 1);
    ASSERT_STR_EQ(last_id.classes[0], "c1");

    /* len is honoured: the token need not be NUL-terminated. */
    char *tok = sign_hs(base_claims());
    size_t n = strlen(tok);
    char *buf = malloc(n + 8);
    memcpy(buf, tok, n);
    memcpy(buf + n, "garbage", 8);
    auth_identity_t id;
    const char *reason = NULL;
    ASSERT_EQ(auth_verify(v, buf, n, NOW, &id, &reason), 0);
    ASSERT_EQ(id.role, ROLE_STUDENT);
    /* The bytes after len extend the signature segment when counted. */
    ASSERT_EQ(auth_verify(v, buf, n + 7, NOW, &id, &reason), BRK_EAUTH);
    ASSERT_STR_EQ(reason, "bad signature");
    free(buf);
    free(tok);
    auth_verifier_free(v);
}

static void test_missing_and_malformed(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    auth_identity_t id;
    const char *reason = NULL;
    ASSERT_EQ(auth_verify(v, NULL, 0, NOW, &id, &reason), BRK_EAUTH);
    ASSERT_STR_EQ(reason, "missing");
    ASSERT_EQ(auth_verify(v, "", 0, NOW, &id, &reason), BRK_EAUTH);
    ASSERT_STR_EQ(reason, "missing");

    static const char *const bad[] = {
        "abc",
        "a.b",
        "a.b.c.d",
        ".b.c",
        "a..c",
        "..",
        "eyJh bGc.eyJ.c",
        "eyJhbGc=.eyJ.c",
        "eyJ\n.eyJ.c",
        "a+b.c.d",
        "a/b.c.d",
        "aaaaa.eyJ.c", /* a segment of 4k+1 characters cannot be base64url */
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(bad); i++) {
        const char *r = check(v, strdup(bad[i]));
        if (!r || strcmp(r, "malformed") != 0)
            TEST_FAIL("\"%s\": %s", bad[i], r ? r : "accepted");
    }
    /* An embedded NUL inside len. */
    char *tok = sign_hs(base_claims());
    size_t n = strlen(tok);
    tok[5] = '\0';
    ASSERT_EQ(auth_verify(v, tok, n, NOW, &id, &reason), BRK_EAUTH);
    ASSERT_STR_EQ(reason, "malformed");
    free(tok);

    /* Valid base64url that is not a JSON object. */
    ASSERT_STR_EQ(check(v, craft("hello", "{}", SECRET)), "malformed");
    ASSERT_STR_EQ(check(v, craft("[\"HS256\"]", "{}", SECRET)), "malformed");
    ASSERT_STR_EQ(check(v, craft("{\"typ\":\"JWT\"}", "{}", SECRET)), "malformed");
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"HS256\"}", "not json", SECRET)), "malformed");
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"HS256\"}", "[1,2]", SECRET)), "malformed");
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "{\"sub\":\"x\"}", SECRET)),
                  "malformed");
    /* Duplicate claims could mean different things to different parsers. */
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"role\":\"student\",\"role\":\"admin\",\"class_id\":\"c\","
             "\"exp\":%lld}",
             (long long)NOW + 60);
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SECRET)),
                  "malformed");
    /* The same token without the duplicate, hand-signed, is fine: craft() is sound. */
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"role\":\"admin\",\"class_id\":\"c\",\"exp\":%lld}",
             (long long)NOW + 60);
    ACCEPTED(v, craft("{\"alg\":\"HS256\",\"typ\":\"JWT\"}", payload, SECRET));
    ASSERT_EQ(last_id.role, ROLE_ADMIN);

    /* Too long. */
    char *big = malloc(8194);
    memset(big, 'a', 8193);
    big[8193] = '\0';
    big[100] = '.';
    big[200] = '.';
    ASSERT_STR_EQ(check(v, big), "too long");

    ASSERT_EQ(auth_verify(NULL, "a.b.c", 5, NOW, &id, &reason), BRK_EAUTH);
    auth_verifier_free(v);
}

static void test_forged_signature(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    ASSERT_STR_EQ(check(v, sign(JWT_ALG_HS256, OTHER_SECRET, strlen(OTHER_SECRET), base_claims())),
                  "bad signature");

    /* A valid token whose payload was swapped for one with an admin role. */
    char *good = sign_hs(base_claims());
    json_t *c = base_claims();
    json_object_set_new(c, "role", json_string("admin"));
    char *json = json_dumps(c, JSON_COMPACT);
    json_decref(c);
    char *p = b64url(json, strlen(json));
    char *dot1 = strchr(good, '.'), *dot2 = strrchr(good, '.');
    size_t n = strlen(good) + strlen(p) + 1;
    char *forged = malloc(n);
    snprintf(forged, n, "%.*s.%s%s", (int)(dot1 - good), good, p, dot2);
    ASSERT_STR_EQ(check(v, forged), "bad signature");

    /* The signature stripped. */
    dot2[1] = '\0';
    ASSERT_STR_EQ(check(v, good), "bad signature");
    free(json);
    free(p);
    auth_verifier_free(v);
}

static void test_expiry(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", json_integer(NOW - 31)))), "expired");
    ACCEPTED(v, sign_hs(claims_with("exp", json_integer(NOW - 30)))); /* within leeway */
    ACCEPTED(v, sign_hs(claims_with("exp", json_integer(NOW))));
    ACCEPTED(v, sign_hs(claims_with("exp", json_real((double)NOW + 0.5))));
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", NULL))), "missing exp");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", json_string("1900000000")))), "malformed");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", json_true()))), "malformed");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", json_null()))), "malformed");
    /* Absurd values neither overflow nor wrap. */
    ACCEPTED(v, sign_hs(claims_with("exp", json_real(1e300))));
    ASSERT_EQ(last_id.exp, INT64_MAX);
    ACCEPTED(v, sign_hs(claims_with("exp", json_integer(INT64_MAX))));
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", json_integer(INT64_MIN)))), "expired");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", json_real(-1e300)))), "expired");
    auth_verifier_free(v);

    /* Leeway 0: one second late is late. */
    v = hs_verifier(NULL, NULL, 0);
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("exp", json_integer(NOW - 1)))), "expired");
    ACCEPTED(v, sign_hs(claims_with("exp", json_integer(NOW))));
    auth_verifier_free(v);
}

static void test_nbf_iat(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("nbf", json_integer(NOW + 31)))), "not yet valid");
    ACCEPTED(v, sign_hs(claims_with("nbf", json_integer(NOW + 30))));
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("nbf", json_string("soon")))), "malformed");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("iat", json_integer(NOW + 31)))),
                  "issued in the future");
    ACCEPTED(v, sign_hs(claims_with("iat", json_integer(NOW + 30))));
    ACCEPTED(v, sign_hs(claims_with("iat", NULL))); /* optional */
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("iat", json_integer(INT64_MAX)))),
                  "issued in the future");
    ACCEPTED(v, sign_hs(claims_with("nbf", json_integer(INT64_MIN))));
    auth_verifier_free(v);
}

static void test_alg_none(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"mallory\",\"role\":\"admin\",\"class_id\":\"c1\",\"exp\":%lld}",
             (long long)NOW + 600);
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, NULL)),
                  "wrong algorithm");
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"None\"}", payload, NULL)), "wrong algorithm");
    /* With a signature attached it is still refused. */
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"none\",\"typ\":\"JWT\"}", payload, SECRET)),
                  "wrong algorithm");
    /* Lower-case spelling of the right algorithm is not the right algorithm. */
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"hs256\",\"typ\":\"JWT\"}", payload, SECRET)),
                  "wrong algorithm");
    auth_verifier_free(v);
}

static void test_wrong_alg_hs384(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    ASSERT_STR_EQ(check(v, sign(JWT_ALG_HS384, SECRET, strlen(SECRET), base_claims())),
                  "wrong algorithm");
    ASSERT_STR_EQ(check(v, sign(JWT_ALG_HS512, SECRET, strlen(SECRET), base_claims())),
                  "wrong algorithm");
    auth_verifier_free(v);
}

/* The classic confusion: the verifier expects RS256 and holds the public key PEM; the
 * attacker signs HS256 with the PEM text (which is public) as the HMAC secret. */
static void test_alg_confusion(void)
{
    keys_init();
    char err[256];
    auth_verifier_t *v = NULL;
    auth_options_t o = {.public_key_pem_path = keys.rsa.path, .alg = "RS256"};
    ASSERT_EQ(new_verifier(&o, &v, err, sizeof err), 0);

    char *tok = sign(JWT_ALG_HS256, keys.rsa.pub, keys.rsa.pub_len, base_claims());
    ASSERT_NOT_NULL(tok);
    /* libjwt alone falls for it: this is the trap the header check closes. */
    jwt_t *jwt = NULL;
    int lib_rc = jwt_decode(&jwt, tok, (const unsigned char *)keys.rsa.pub, (int)keys.rsa.pub_len);
    if (jwt)
        jwt_free(jwt);
    ASSERT_EQ(lib_rc, 0);
    ASSERT_STR_EQ(check(v, tok), "wrong algorithm");
    auth_verifier_free(v);

    auth_options_t e = {.public_key_pem_path = keys.ec.path};
    ASSERT_EQ(new_verifier(&e, &v, err, sizeof err), 0);
    ASSERT_STR_EQ(check(v, sign(JWT_ALG_HS256, keys.ec.pub, keys.ec.pub_len, base_claims())),
                  "wrong algorithm");
    /* RS256 is not ES256 either. */
    ASSERT_STR_EQ(check(v, sign(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, base_claims())),
                  "wrong algorithm");
    auth_verifier_free(v);
}

static void test_sub(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("sub", NULL))), "missing sub");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("sub", json_string("")))), "missing sub");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("sub", json_integer(42)))), "missing sub");
    static const char *const bad[] = {"a b",  "a\"b", "a\\b", "a/b", "caf\xc3\xa9",
                                      "a\tb", "a'b",  "a,b",  "a=b", "<x>"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(bad); i++) {
        const char *r = check(v, sign_hs(claims_with("sub", json_string(bad[i]))));
        if (!r || strcmp(r, "bad sub") != 0)
            TEST_FAIL("sub \"%s\": %s", bad[i], r ? r : "accepted");
    }
    char id64[65], id65[66];
    memset(id64, 'x', 64);
    id64[64] = '\0';
    memset(id65, 'x', 65);
    id65[65] = '\0';
    ACCEPTED(v, sign_hs(claims_with("sub", json_string(id64))));
    ASSERT_STR_EQ(last_id.sub, id64);
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("sub", json_string(id65)))), "bad sub");
    ACCEPTED(v, sign_hs(claims_with("sub", json_string("user.name:1@school_x-Y"))));
    ASSERT_STR_EQ(last_id.sub, "user.name:1@school_x-Y");
    auth_verifier_free(v);
}

static void test_role(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("role", json_string("superuser")))), "bad role");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("role", json_string("Teacher")))), "bad role");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("role", json_string("")))), "bad role");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("role", json_integer(1)))), "bad role");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("role", NULL))), "bad role");
    ACCEPTED(v, sign_hs(claims_with("role", json_string("teacher"))));
    ASSERT_EQ(last_id.role, ROLE_TEACHER);
    ACCEPTED(v, sign_hs(claims_with("role", json_string("student"))));
    ASSERT_EQ(last_id.role, ROLE_STUDENT);
    auth_verifier_free(v);
}

static void test_classes(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("class_id", NULL))), "no class");

    json_t *c = claims_with("class_id", NULL);
    json_object_set_new(c, "classes", json_array());
    ASSERT_STR_EQ(check(v, sign_hs(c)), "no class");

    ASSERT_STR_EQ(check(v, sign_hs(claims_with("class_id", json_string("")))), "bad class");
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("class_id", json_integer(7)))), "bad class");
    static const char *const bad[] = {"a/b",         "a b",  "a\"b", "x\\y",
                                      "caf\xc3\xa9", "a\nb", "*",    "a{b}"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(bad); i++) {
        const char *r = check(v, sign_hs(claims_with("class_id", json_string(bad[i]))));
        if (!r || strcmp(r, "bad class") != 0)
            TEST_FAIL("class \"%s\": %s", bad[i], r ? r : "accepted");
        c = claims_with("class_id", NULL);
        json_object_set_new(c, "classes", json_pack("[s,s]", "ok", bad[i]));
        r = check(v, sign_hs(c));
        if (!r || strcmp(r, "bad class") != 0)
            TEST_FAIL("classes [ok, \"%s\"]: %s", bad[i], r ? r : "accepted");
    }
    char id65[66];
    memset(id65, 'k', 65);
    id65[65] = '\0';
    ASSERT_STR_EQ(check(v, sign_hs(claims_with("class_id", json_string(id65)))), "bad class");

    c = claims_with("class_id", NULL);
    json_object_set_new(c, "classes", json_string("c1"));
    ASSERT_STR_EQ(check(v, sign_hs(c)), "bad class");
    c = claims_with("class_id", NULL);
    json_object_set_new(c, "classes", json_pack("[s,i]", "c1", 2));
    ASSERT_STR_EQ(check(v, sign_hs(c)), "bad class");

    /* 64 distinct classes fit; a 65th does not. */
    json_t *arr = json_array();
    for (int i = 0; i < 64; i++) {
        char name[16];
        snprintf(name, sizeof name, "class-%d", i);
        json_array_append_new(arr, json_string(name));
    }
    c = claims_with("class_id", NULL);
    json_object_set(c, "classes", arr);
    ACCEPTED(v, sign_hs(c));
    ASSERT_EQ(last_id.n_classes, 64);
    ASSERT_STR_EQ(last_id.classes[63], "class-63");
    json_array_append_new(arr, json_string("class-64"));
    c = claims_with("class_id", NULL);
    json_object_set(c, "classes", arr);
    ASSERT_STR_EQ(check(v, sign_hs(c)), "too many classes");
    /* class_id plus 64 classes is a union of 65. */
    json_array_remove(arr, 64);
    c = claims_with("class_id", json_string("extra"));
    json_object_set(c, "classes", arr);
    ASSERT_STR_EQ(check(v, sign_hs(c)), "too many classes");
    json_decref(arr);

    /* class_id and classes together: union, duplicates removed, class_id first. */
    c = claims_with("class_id", json_string("b"));
    json_object_set_new(c, "classes", json_pack("[s,s,s]", "a", "b", "a"));
    ACCEPTED(v, sign_hs(c));
    ASSERT_EQ(last_id.n_classes, 2);
    ASSERT_STR_EQ(last_id.classes[0], "b");
    ASSERT_STR_EQ(last_id.classes[1], "a");
    auth_verifier_free(v);
}

/* Base claims plus iss and aud (each consumed; NULL leaves the claim out). */
static json_t *with_iss_aud(json_t *iss, json_t *aud)
{
    json_t *c = base_claims();
    if (iss)
        json_object_set_new(c, "iss", iss);
    if (aud)
        json_object_set_new(c, "aud", aud);
    return c;
}

static void test_issuer_audience(void)
{
    auth_verifier_t *v = hs_verifier("https://idp.example", "rollcall", 30);

    ACCEPTED(v, sign_hs(with_iss_aud(json_string("https://idp.example"), json_string("rollcall"))));
    ASSERT_STR_EQ(check(v, sign_hs(with_iss_aud(json_string("https://evil.example"),
                                                json_string("rollcall")))),
                  "issuer");
    ASSERT_STR_EQ(check(v, sign_hs(with_iss_aud(NULL, json_string("rollcall")))), "issuer");
    ASSERT_STR_EQ(check(v, sign_hs(with_iss_aud(json_integer(1), json_string("rollcall")))),
                  "issuer");
    ASSERT_STR_EQ(
        check(v, sign_hs(with_iss_aud(json_string("https://idp.example"), json_string("other")))),
        "audience");
    ASSERT_STR_EQ(check(v, sign_hs(with_iss_aud(json_string("https://idp.example"), NULL))),
                  "audience");
    ACCEPTED(v, sign_hs(with_iss_aud(json_string("https://idp.example"),
                                     json_pack("[s,s]", "other", "rollcall"))));
    ASSERT_STR_EQ(check(v, sign_hs(with_iss_aud(json_string("https://idp.example"),
                                                json_pack("[s,s]", "other", "more")))),
                  "audience");
    ASSERT_STR_EQ(
        check(v, sign_hs(with_iss_aud(json_string("https://idp.example"), json_pack("[i]", 1)))),
        "audience");
    ASSERT_STR_EQ(check(v, sign_hs(with_iss_aud(json_string("https://idp.example"),
                                                json_string("rollcall2")))),
                  "audience");
    auth_verifier_free(v);

    /* Without configured iss/aud, the claims are not checked. */
    v = hs_verifier(NULL, NULL, 30);
    ACCEPTED(v, sign_hs(with_iss_aud(json_string("anyone"), json_string("anything"))));
    auth_verifier_free(v);
}

static void test_name(void)
{
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    /* 127 ASCII bytes then a 2-byte character: cutting at 128 would split it. */
    char name[200];
    memset(name, 'n', 127);
    memcpy(name + 127, "\xc3\xa9tail", 7);
    ACCEPTED(v, sign_hs(claims_with("name", json_string(name))));
    ASSERT_EQ(strlen(last_id.name), 127);
    ASSERT_EQ(memcmp(last_id.name, name, 127), 0);

    /* Exactly 128 bytes are kept whole. */
    memset(name, 'm', 128);
    name[128] = '\0';
    ACCEPTED(v, sign_hs(claims_with("name", json_string(name))));
    ASSERT_STR_EQ(last_id.name, name);

    /* Non-ASCII is kept, control characters become spaces. */
    ACCEPTED(v, sign_hs(claims_with("name", json_string("Zo\xc3\xab\tB\nx"))));
    ASSERT_STR_EQ(last_id.name, "Zo\xc3\xab B x");

    ASSERT_STR_EQ(check(v, sign_hs(claims_with("name", json_integer(5)))), "bad name");
    ACCEPTED(v, sign_hs(claims_with("name", json_null())));
    ASSERT_STR_EQ(last_id.name, "");
    auth_verifier_free(v);
}

static void test_rs256(void)
{
    keys_init();
    char err[256];
    auth_verifier_t *v = NULL;
    auth_options_t o = {
        .alg = "RS256", .public_key_pem_path = keys.rsa.path, .issuer = "idp", .leeway_s = 30};
    ASSERT_EQ(new_verifier(&o, &v, err, sizeof err), 0);
    json_t *c = base_claims();
    json_object_set_new(c, "iss", json_string("idp"));
    ACCEPTED(v, sign(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, c));
    ASSERT_STR_EQ(last_id.sub, "stu-1");
    ASSERT_STR_EQ(last_id.name, "Ada Lovelace");
    ASSERT_EQ(last_id.exp, NOW + 3600);

    /* Claims are checked on RS256 too. */
    c = claims_with("exp", json_integer(NOW - 100));
    json_object_set_new(c, "iss", json_string("idp"));
    ASSERT_STR_EQ(check(v, sign(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, c)), "expired");

    /* Tampered payload. */
    c = base_claims();
    json_object_set_new(c, "iss", json_string("idp"));
    char *tok = sign(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, c);
    ASSERT_NOT_NULL(tok);
    char *dot = strchr(tok, '.');
    dot[3] = dot[3] == 'A' ? 'B' : 'A';
    const char *r = check(v, tok);
    ASSERT(r && (strcmp(r, "bad signature") == 0 || strcmp(r, "malformed") == 0));
    auth_verifier_free(v);
}

static void test_es256(void)
{
    keys_init();
    char err[256];
    auth_verifier_t *v = NULL;
    auth_options_t o = {
        .public_key_pem_path = keys.ec.path, .audience = "rollcall", .leeway_s = 30};
    ASSERT_EQ(new_verifier(&o, &v, err, sizeof err), 0);
    json_t *c = base_claims();
    json_object_set_new(c, "aud", json_pack("[s]", "rollcall"));
    json_object_set_new(c, "role", json_string("teacher"));
    ACCEPTED(v, sign(JWT_ALG_ES256, keys.ec.priv, keys.ec.priv_len, c));
    ASSERT_EQ(last_id.role, ROLE_TEACHER);

    /* Signed by another P-256 key. */
    c = base_claims();
    json_object_set_new(c, "aud", json_string("rollcall"));
    ASSERT_STR_EQ(check(v, sign(JWT_ALG_ES256, keys.ec_other.priv, keys.ec_other.priv_len, c)),
                  "bad signature");
    auth_verifier_free(v);
}

static void test_has_class(void)
{
    auth_identity_t id;
    memset(&id, 0, sizeof id);
    ASSERT_EQ(auth_has_class(&id, "c1"), 0);
    snprintf(id.classes[0], sizeof id.classes[0], "c1");
    snprintf(id.classes[1], sizeof id.classes[1], "c2");
    id.n_classes = 2;
    ASSERT_EQ(auth_has_class(&id, "c1"), 1);
    ASSERT_EQ(auth_has_class(&id, "c2"), 1);
    ASSERT_EQ(auth_has_class(&id, "c3"), 0);
    ASSERT_EQ(auth_has_class(&id, "c"), 0);
    ASSERT_EQ(auth_has_class(&id, "c10"), 0);
    ASSERT_EQ(auth_has_class(&id, ""), 0);
    ASSERT_EQ(auth_has_class(&id, NULL), 0);
    ASSERT_EQ(auth_has_class(NULL, "c1"), 0);
}

static void test_roles(void)
{
    auth_role_t r;
    ASSERT_EQ(auth_parse_role("teacher", &r), 0);
    ASSERT_EQ(r, ROLE_TEACHER);
    ASSERT_EQ(auth_parse_role("student", &r), 0);
    ASSERT_EQ(r, ROLE_STUDENT);
    ASSERT_EQ(auth_parse_role("admin", &r), 0);
    ASSERT_EQ(r, ROLE_ADMIN);
    ASSERT_EQ(auth_parse_role("root", &r), BRK_EINVAL);
    ASSERT_EQ(auth_parse_role(NULL, &r), BRK_EINVAL);
    ASSERT_STR_EQ(auth_role_name(ROLE_TEACHER), "teacher");
    ASSERT_STR_EQ(auth_role_name(ROLE_STUDENT), "student");
    ASSERT_STR_EQ(auth_role_name(ROLE_ADMIN), "admin");
}

static void test_mint_roundtrip(void)
{
    auth_verifier_t *v = hs_verifier("dev-issuer", "rollcall", 30);
    char *tok = auth_mint_hs256(SECRET, "t-1", "teacher", "Mr \"T\"", "c1, c2,c1", NOW, 600,
                                "dev-issuer", "rollcall");
    ASSERT_NOT_NULL(tok);
    /* Classes go out as an array, and iat/exp as integers. */
    jwt_t *jwt = NULL;
    ASSERT_EQ(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    ASSERT_EQ(jwt_get_alg(jwt), JWT_ALG_HS256);
    ASSERT_EQ(jwt_get_grant_int(jwt, "iat"), NOW);
    ASSERT_EQ(jwt_get_grant_int(jwt, "exp"), NOW + 600);
    char *classes = jwt_get_grants_json(jwt, "classes");
    ASSERT_NOT_NULL(classes);
    ASSERT_STR_EQ(classes, "[\"c1\",\"c2\"]");
    free(classes);
    jwt_free(jwt);

    ACCEPTED(v, strdup(tok));
    ASSERT_STR_EQ(last_id.sub, "t-1");
    ASSERT_EQ(last_id.role, ROLE_TEACHER);
    ASSERT_STR_EQ(last_id.name, "Mr \"T\"");
    ASSERT_EQ(last_id.n_classes, 2);
    ASSERT_STR_EQ(last_id.classes[0], "c1");
    ASSERT_STR_EQ(last_id.classes[1], "c2");
    ASSERT_EQ(last_id.exp, NOW + 600);
    ASSERT_NULL(check_at(v, strdup(tok), NOW + 630)); /* expired, but within leeway */
    ASSERT_STR_EQ(check_at(v, tok, NOW + 631), "expired");
    auth_verifier_free(v);

    /* One class gives class_id; no name, no iss/aud. */
    v = hs_verifier(NULL, NULL, 30);
    tok = auth_mint_hs256(SECRET, "s-9", "student", NULL, "only", NOW, 60, NULL, NULL);
    ASSERT_NOT_NULL(tok);
    jwt = NULL;
    ASSERT_EQ(jwt_decode(&jwt, tok, (const unsigned char *)SECRET, (int)strlen(SECRET)), 0);
    ASSERT_STR_EQ(jwt_get_grant(jwt, "class_id"), "only");
    ASSERT_NULL(jwt_get_grant(jwt, "name"));
    ASSERT_NULL(jwt_get_grant(jwt, "iss"));
    jwt_free(jwt);
    ACCEPTED(v, tok);
    ASSERT_STR_EQ(last_id.sub, "s-9");
    ASSERT_EQ(last_id.role, ROLE_STUDENT);
    ASSERT_STR_EQ(last_id.name, "");
    ASSERT_EQ(last_id.n_classes, 1);

    /* A minted token is refused by a verifier with another secret. */
    auth_options_t o = {.secret = OTHER_SECRET};
    auth_verifier_t *other = NULL;
    char err[128];
    ASSERT_EQ(new_verifier(&o, &other, err, sizeof err), 0);
    ASSERT_STR_EQ(
        check(other, auth_mint_hs256(SECRET, "s", "admin", NULL, "c", NOW, 60, NULL, NULL)),
        "bad signature");
    auth_verifier_free(other);
    auth_verifier_free(v);

    /* Refusals. */
    ASSERT_NULL(auth_mint_hs256("short", "s", "admin", NULL, "c", NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "a b", "admin", NULL, "c", NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "", "admin", NULL, "c", NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "s", "root", NULL, "c", NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "s", "admin", NULL, "", NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "s", "admin", NULL, " , ", NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "s", "admin", NULL, "a/b", NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "s", "admin", NULL, NULL, NOW, 60, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(SECRET, "s", "admin", NULL, "c", NOW, 0, NULL, NULL));
    ASSERT_NULL(auth_mint_hs256(NULL, "s", "admin", NULL, "c", NOW, 60, NULL, NULL));
}

/* ---- JSON Web Key Sets, kid, crit, reload ----------------------------------------------- */

/* Signs claims (consumed) with libjwt, with a kid header when kid is non-NULL and the extra
 * header members of headers_json when non-NULL. */
static char *sign_kid(jwt_alg_t alg, const void *key, size_t keylen, json_t *claims,
                      const char *kid, const char *headers_json)
{
    char *json = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    jwt_t *jwt = NULL;
    char *tok = NULL;
    if (json && jwt_new(&jwt) == 0 && jwt_add_grants_json(jwt, json) == 0 &&
        (!kid || jwt_add_header(jwt, "kid", kid) == 0) &&
        (!headers_json || jwt_add_headers_json(jwt, headers_json) == 0) &&
        jwt_set_alg(jwt, alg, key, (int)keylen) == 0)
        tok = jwt_encode_str(jwt);
    if (jwt)
        jwt_free(jwt);
    free(json);
    return tok;
}

static char *sign_rsa_kid(const keypair_t *kp, const char *kid, json_t *claims)
{
    return sign_kid(JWT_ALG_RS256, kp->priv, kp->priv_len, claims, kid, NULL);
}

static char *sign_ec_kid(const keypair_t *kp, const char *kid, json_t *claims)
{
    return sign_kid(JWT_ALG_ES256, kp->priv, kp->priv_len, claims, kid, NULL);
}

/* The base64url of a big-endian parameter of pkey, padded to pad bytes when pad > 0. */
static char *bn_param_b64(EVP_PKEY *pkey, const char *param, int pad)
{
    BIGNUM *bn = NULL;
    ASSERT(EVP_PKEY_get_bn_param(pkey, param, &bn) == 1);
    int n = pad > 0 ? pad : BN_num_bytes(bn);
    unsigned char *buf = malloc((size_t)n);
    ASSERT(BN_bn2binpad(bn, buf, n) == n);
    char *out = b64url(buf, (size_t)n);
    free(buf);
    BN_free(bn);
    return out;
}

/* A JWK of kp's public key: {"kty","kid","n","e"} or {"kty","kid","crv","x","y"}. */
static json_t *jwk_of(const keypair_t *kp, const char *kid)
{
    BIO *bio = BIO_new_mem_buf(kp->priv, (int)kp->priv_len);
    EVP_PKEY *pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    BIO_free(bio);
    ASSERT_NOT_NULL(pkey);
    json_t *jwk;
    if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_RSA) {
        char *n = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
        char *e = bn_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
        jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "n", n, "e", e);
        free(n);
        free(e);
    } else {
        int bits = EVP_PKEY_get_bits(pkey);
        int size = (bits + 7) / 8;
        char *x = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, size);
        char *y = bn_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, size);
        jwk = json_pack("{s:s, s:s, s:s, s:s, s:s}", "kty", "EC", "kid", kid, "crv",
                        bits == 256 ? "P-256" : "P-384", "x", x, "y", y);
        free(x);
        free(y);
    }
    EVP_PKEY_free(pkey);
    return jwk;
}

static json_t *with(json_t *obj, const char *key, json_t *value)
{
    if (value)
        json_object_set_new(obj, key, value);
    else
        json_object_del(obj, key);
    return obj;
}

static char jwks_path[160];

/* Writes {"keys": set} (consumed) to jwks_path, or the raw text when set is NULL. */
static void write_jwks(json_t *set, const char *raw)
{
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", keys.dir);
    if (set) {
        json_t *doc = json_pack("{s:o}", "keys", set);
        char *text = json_dumps(doc, JSON_INDENT(2));
        json_decref(doc);
        write_file(jwks_path, text, strlen(text));
        free(text);
    } else {
        write_file(jwks_path, raw, strlen(raw));
    }
}

static int jwks_verifier(const char *alg, auth_verifier_t **v, char *err, size_t len)
{
    auth_options_t o = {.alg = alg, .jwks_path = jwks_path, .leeway_s = 30};
    return new_verifier(&o, v, err, len);
}

static void test_jwks_rsa_and_ec(void)
{
    keys_init();
    char err[512], desc[128];
    auth_verifier_t *v = NULL;
    /* Two signing keys, and four the broker has no use for. */
    write_jwks(json_pack("[o, o, o, o, o, o]",
                         with(with(jwk_of(&keys.rsa, "r1"), "alg", json_string("RS256")), "use",
                              json_string("sig")),
                         jwk_of(&keys.ec, "e1"),
                         with(jwk_of(&keys.ec_other, "enc1"), "use", json_string("enc")),
                         json_pack("{s:s, s:s, s:s}", "kty", "oct", "kid", "o1", "k", "c2VjcmV0"),
                         jwk_of(&keys.ec384, "p384"),
                         with(jwk_of(&keys.rsa, "ps"), "alg", json_string("PS256"))),
               NULL);
    ASSERT_EQ(jwks_verifier(NULL, &v, err, sizeof err), 0);
    auth_verifier_describe(v, desc, sizeof desc);
    ASSERT_STR_EQ(desc, "source=jwks keys=2 skipped=4");

    /* The kid picks the key, and the key fixes the algorithm. */
    ACCEPTED(v, sign_rsa_kid(&keys.rsa, "r1", base_claims()));
    ASSERT_STR_EQ(last_id.sub, "stu-1");
    ACCEPTED(v, sign_ec_kid(&keys.ec, "e1", base_claims()));
    ASSERT_STR_EQ(check(v, sign_rsa_kid(&keys.rsa, "e1", base_claims())), "wrong algorithm");
    ASSERT_STR_EQ(check(v, sign_ec_kid(&keys.ec, "r1", base_claims())), "wrong algorithm");
    ASSERT_STR_EQ(check(v, sign_ec_kid(&keys.ec_other, "e1", base_claims())), "bad signature");
    /* No kid, an unknown one, or the kid of a skipped key. */
    ASSERT_STR_EQ(check(v, sign_rsa_kid(&keys.rsa, NULL, base_claims())), "unknown kid");
    ASSERT_STR_EQ(check(v, sign_rsa_kid(&keys.rsa, "r2", base_claims())), "unknown kid");
    ASSERT_STR_EQ(check(v, sign_ec_kid(&keys.ec_other, "enc1", base_claims())), "unknown kid");
    ASSERT_STR_EQ(check(v, sign_rsa_kid(&keys.rsa, "ps", base_claims())), "unknown kid");
    ASSERT_STR_EQ(check(v, sign_kid(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, base_claims(),
                                    NULL, "{\"kid\":7}")),
                  "unknown kid");
    /* HS256, keyed with the PEM text libjwt was handed, or with the "oct" key's bytes. */
    ASSERT_STR_EQ(check(v, sign_kid(JWT_ALG_HS256, keys.rsa.pub, keys.rsa.pub_len, base_claims(),
                                    "r1", NULL)),
                  "wrong algorithm");
    ASSERT_STR_EQ(
        check(v, sign_kid(JWT_ALG_HS256, SECRET, strlen(SECRET), base_claims(), "o1", NULL)),
        "unknown kid");
    /* The claims are still checked. */
    ASSERT_STR_EQ(
        check(v, sign_rsa_kid(&keys.rsa, "r1", claims_with("exp", json_integer(NOW - 100)))),
        "expired");
    auth_verifier_free(v);

    /* ROLLCALL_JWT_ALG keeps only the keys of its kind. */
    write_jwks(json_pack("[o, o]", jwk_of(&keys.rsa, "r1"), jwk_of(&keys.ec, "e1")), NULL);
    ASSERT_EQ(jwks_verifier("RS256", &v, err, sizeof err), 0);
    auth_verifier_describe(v, desc, sizeof desc);
    ASSERT_STR_EQ(desc, "source=jwks keys=1 skipped=1");
    ACCEPTED(v, sign_rsa_kid(&keys.rsa, "r1", base_claims()));
    ASSERT_STR_EQ(check(v, sign_ec_kid(&keys.ec, "e1", base_claims())), "unknown kid");
    auth_verifier_free(v);

    /* Padding on the base64url members is tolerated. */
    json_t *padded = jwk_of(&keys.ec, "e2");
    char x[64];
    snprintf(x, sizeof x, "%s=", json_string_value(json_object_get(padded, "x")));
    write_jwks(json_pack("[o]", with(padded, "x", json_string(x))), NULL);
    ASSERT_EQ(jwks_verifier(NULL, &v, err, sizeof err), 0);
    ACCEPTED(v, sign_ec_kid(&keys.ec, "e2", base_claims()));
    auth_verifier_free(v);
    unlink(jwks_path);
}

static void test_jwks_bad_files(void)
{
    keys_init();
    char err[512];
    auth_verifier_t *v = (auth_verifier_t *)1;
    static const unsigned char junk32[32] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    char *junk = b64url(junk32, sizeof junk32);
    char *short_x = b64url(junk32, 31);
    struct {
        json_t *keys; /* consumed; NULL: raw */
        const char *raw;
        const char *want; /* in the error message */
    } cases[] = {
        {NULL, "not json", "not JSON"},
        {NULL, "[]", "no keys array"},
        {NULL, "{\"keys\": {}}", "no keys array"},
        {json_pack("[i]", 5), NULL, "keys[0] is not an object"},
        {json_pack("[o]", with(jwk_of(&keys.rsa, "r1"), "kid", NULL)), NULL, "has no kid"},
        {json_pack("[o]", with(jwk_of(&keys.rsa, "r1"), "kid", json_string(""))), NULL,
         "has no kid"},
        {json_pack("[o]", with(jwk_of(&keys.rsa, "r1"), "kty", NULL)), NULL, "kty"},
        {json_pack("[o]", with(jwk_of(&keys.rsa, "r1"), "alg", json_integer(1))), NULL, "alg"},
        {json_pack("[o]", jwk_of(&keys.rsa1024, "weak")), NULL,
         "(kid weak): RSA key has 1024 bits"},
        {json_pack("[o]", with(jwk_of(&keys.rsa, "r1"), "n", json_string("not base64!"))), NULL,
         "n and e"},
        {json_pack("[o]", with(jwk_of(&keys.rsa, "r1"), "e", NULL)), NULL, "n and e"},
        {json_pack("[o]", with(jwk_of(&keys.ec, "e1"), "crv", NULL)), NULL, "crv"},
        {json_pack("[o]", with(jwk_of(&keys.ec, "e1"), "x", json_string(short_x))), NULL,
         "32 bytes"},
        {json_pack("[o]", with(with(jwk_of(&keys.ec, "e1"), "x", json_string(junk)), "y",
                               json_string(junk))),
         NULL, "not a valid EC P-256 public key"},
        {json_pack("[o, o]", jwk_of(&keys.rsa, "same"), jwk_of(&keys.ec, "same")), NULL,
         "keys[1] (kid same) repeats the kid"},
        {json_pack("[o]", jwk_of(&keys.ec384, "p384")), NULL, "no usable key"},
        {json_pack("[]"), NULL, "no usable key"},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        write_jwks(cases[i].keys, cases[i].raw);
        v = (auth_verifier_t *)1;
        int rc = jwks_verifier(NULL, &v, err, sizeof err);
        if (rc != BRK_EINVAL || v != NULL)
            TEST_FAIL("case %zu (%s): accepted", i, cases[i].want);
        if (!strstr(err, cases[i].want) || !strstr(err, "ROLLCALL_JWT_JWKS"))
            TEST_FAIL("case %zu: \"%s\" does not say \"%s\"", i, err, cases[i].want);
    }
    free(junk);
    free(short_x);

    /* Only keys of another kind than ROLLCALL_JWT_ALG's. */
    write_jwks(json_pack("[o]", jwk_of(&keys.rsa, "r1")), NULL);
    ASSERT_EQ(jwks_verifier("ES256", &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "no usable key"));
    ASSERT_NOT_NULL(strstr(err, "ES256"));
    /* HS256 has no place in a key set of public keys; nor does a secret or a PEM as well. */
    ASSERT_EQ(jwks_verifier("HS256", &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_JWT_JWKS"));
    auth_options_t with_secret = {.secret = SECRET, .jwks_path = jwks_path};
    ASSERT_EQ(new_verifier(&with_secret, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "cannot be combined"));
    ASSERT_NULL(strstr(err, SECRET));
    auth_options_t with_pem = {.public_key_pem_path = keys.rsa.path, .jwks_path = jwks_path};
    ASSERT_EQ(new_verifier(&with_pem, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "cannot be combined"));
    /* A missing file. */
    auth_options_t missing = {.jwks_path = "/nonexistent/jwks.json"};
    ASSERT_EQ(new_verifier(&missing, &v, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "/nonexistent/jwks.json"));
    ASSERT_NULL(v);
    unlink(jwks_path);
}

static void test_crit(void)
{
    keys_init();
    char err[512];
    auth_verifier_t *v = hs_verifier(NULL, NULL, 30);
    char payload[256];
    snprintf(payload, sizeof payload,
             "{\"sub\":\"a\",\"role\":\"admin\",\"class_id\":\"c\",\"exp\":%lld}",
             (long long)NOW + 60);
    ASSERT_STR_EQ(
        check(v, craft("{\"alg\":\"HS256\",\"crit\":[\"exp\"],\"exp\":1}", payload, SECRET)),
        "unsupported crit");
    ASSERT_STR_EQ(
        check(v, craft("{\"alg\":\"HS256\",\"crit\":[\"b64\"],\"b64\":false}", payload, SECRET)),
        "unsupported crit");
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"HS256\",\"crit\":[]}", payload, SECRET)),
                  "unsupported crit");
    ASSERT_STR_EQ(check(v, craft("{\"alg\":\"HS256\",\"crit\":null}", payload, SECRET)),
                  "unsupported crit");
    /* Other header parameters are not critical, and a kid means nothing without a JWKS. */
    ACCEPTED(v, craft("{\"alg\":\"HS256\",\"x5u\":\"https://x.test\",\"kid\":\"any\"}", payload,
                      SECRET));
    auth_verifier_free(v);

    /* The same with a JWKS, on a token signed with a known key. */
    write_jwks(json_pack("[o]", jwk_of(&keys.rsa, "r1")), NULL);
    ASSERT_EQ(jwks_verifier(NULL, &v, err, sizeof err), 0);
    ASSERT_STR_EQ(check(v, sign_kid(JWT_ALG_RS256, keys.rsa.priv, keys.rsa.priv_len, base_claims(),
                                    "r1", "{\"crit\":[\"exp\"],\"exp\":1}")),
                  "unsupported crit");
    ACCEPTED(v, sign_rsa_kid(&keys.rsa, "r1", base_claims()));
    auth_verifier_free(v);
    unlink(jwks_path);
}

static void test_reload(void)
{
    keys_init();
    char err[512], desc[128];
    auth_verifier_t *v = NULL, *next = (auth_verifier_t *)1;
    ASSERT_EQ(auth_verifier_reload(NULL, &next, err, sizeof err), BRK_EINVAL);
    ASSERT_NULL(next);

    /* Rotation: the identity provider publishes a new key and drops the old one. */
    write_jwks(json_pack("[o]", jwk_of(&keys.rsa, "k1")), NULL);
    ASSERT_EQ(jwks_verifier(NULL, &v, err, sizeof err), 0);
    ACCEPTED(v, sign_rsa_kid(&keys.rsa, "k1", base_claims()));
    write_jwks(json_pack("[o, o]", jwk_of(&keys.ec, "k2"), jwk_of(&keys.ec_other, "k3")), NULL);
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), 0);
    auth_verifier_describe(next, desc, sizeof desc);
    ASSERT_STR_EQ(desc, "source=jwks keys=2 skipped=0");
    ACCEPTED(next, sign_ec_kid(&keys.ec, "k2", base_claims()));
    ACCEPTED(next, sign_ec_kid(&keys.ec_other, "k3", base_claims()));
    ASSERT_STR_EQ(check(next, sign_rsa_kid(&keys.rsa, "k1", base_claims())), "unknown kid");
    /* The old verifier is untouched until its owner swaps it. */
    ACCEPTED(v, sign_rsa_kid(&keys.rsa, "k1", base_claims()));
    ASSERT_STR_EQ(check(v, sign_ec_kid(&keys.ec, "k2", base_claims())), "unknown kid");
    auth_verifier_free(v);
    v = next;

    /* A broken file, a weak key, a missing file: the reload fails and says why, and the
     * current verifier keeps working. */
    write_jwks(NULL, "{\"keys\": [");
    next = (auth_verifier_t *)1;
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), BRK_EINVAL);
    ASSERT_NULL(next);
    ASSERT_NOT_NULL(strstr(err, "not JSON"));
    write_jwks(json_pack("[o]", jwk_of(&keys.rsa1024, "weak")), NULL);
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "1024 bits"));
    unlink(jwks_path);
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "cannot open"));
    ACCEPTED(v, sign_ec_kid(&keys.ec, "k2", base_claims()));
    auth_verifier_free(v);

    /* A PEM public key file is read again too; issuer, audience and leeway carry over. */
    char pem_path[160];
    snprintf(pem_path, sizeof pem_path, "%s/rotating.pem", keys.dir);
    write_file(pem_path, keys.ec.pub, keys.ec.pub_len);
    auth_options_t o = {.public_key_pem_path = pem_path, .issuer = "idp", .leeway_s = 0};
    ASSERT_EQ(new_verifier(&o, &v, err, sizeof err), 0);
    write_file(pem_path, keys.ec_other.pub, keys.ec_other.pub_len);
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), 0);
    auth_verifier_describe(next, desc, sizeof desc);
    ASSERT_STR_EQ(desc, "source=public_key alg=ES256");
    ACCEPTED(next, sign(JWT_ALG_ES256, keys.ec_other.priv, keys.ec_other.priv_len,
                        with(base_claims(), "iss", json_string("idp"))));
    ASSERT_STR_EQ(check(next, sign(JWT_ALG_ES256, keys.ec.priv, keys.ec.priv_len,
                                   with(base_claims(), "iss", json_string("idp")))),
                  "bad signature");
    ASSERT_STR_EQ(
        check(next, sign(JWT_ALG_ES256, keys.ec_other.priv, keys.ec_other.priv_len, base_claims())),
        "issuer");
    ASSERT_STR_EQ(
        check_at(next,
                 sign(JWT_ALG_ES256, keys.ec_other.priv, keys.ec_other.priv_len,
                      with(claims_with("exp", json_integer(NOW)), "iss", json_string("idp"))),
                 NOW + 1),
        "expired");
    auth_verifier_free(next);
    /* An RSA key in place of the EC one is fine too: the algorithm was derived, not set. */
    write_file(pem_path, keys.rsa.pub, keys.rsa.pub_len);
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), 0);
    auth_verifier_describe(next, desc, sizeof desc);
    ASSERT_STR_EQ(desc, "source=public_key alg=RS256");
    auth_verifier_free(next);
    write_file(pem_path, "junk", 4);
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "PEM"));
    auth_verifier_free(v);
    unlink(pem_path);

    /* A secret is kept for the reload (it comes from the environment, not a file). */
    v = hs_verifier(NULL, NULL, 30);
    ASSERT_EQ(auth_verifier_reload(v, &next, err, sizeof err), 0);
    auth_verifier_free(v);
    auth_verifier_describe(next, desc, sizeof desc);
    ASSERT_STR_EQ(desc, "source=secret alg=HS256");
    ACCEPTED(next, sign_hs(base_claims()));
    auth_verifier_free(next);
}

/* The broker's own tokens (auth_sign.c): each key kind signs tokens the matching verifier
 * accepts and another key's verifier refuses; a token without classes passes only with
 * AUTH_ALLOW_NO_CLASS; bad keys and claims are refused. */
static void test_signer(void)
{
    keys_init();
    char err[200], priv_path[300], priv_ec[300], priv_small[300], priv_ec384[300];
    snprintf(priv_path, sizeof priv_path, "%s/sign-rsa.pem", keys.dir);
    snprintf(priv_ec, sizeof priv_ec, "%s/sign-ec.pem", keys.dir);
    snprintf(priv_small, sizeof priv_small, "%s/sign-rsa1024.pem", keys.dir);
    snprintf(priv_ec384, sizeof priv_ec384, "%s/sign-ec384.pem", keys.dir);
    write_file(priv_path, keys.rsa.priv, keys.rsa.priv_len);
    write_file(priv_ec, keys.ec.priv, keys.ec.priv_len);
    write_file(priv_small, keys.rsa1024.priv, keys.rsa1024.priv_len);
    write_file(priv_ec384, keys.ec384.priv, keys.ec384.priv_len);

    const char *two[] = {"c1", "c2"};
    auth_claims_t c = {.sub = "a0b1", .role = ROLE_TEACHER, .name = "Ms \"K\"", .classes = two,
                       .n_classes = 2};

    /* HS256 with iss/aud. */
    auth_signer_t *s = NULL;
    auth_signer_options_t so = {.secret = SECRET, .issuer = "dev-issuer", .audience = "rollcall"};
    ASSERT_EQ(auth_signer_new(&so, &s, err, sizeof err), 0);
    ASSERT_STR_EQ(auth_signer_alg(s), "HS256");
    auth_verifier_t *v = hs_verifier("dev-issuer", "rollcall", 0);
    char *tok = auth_sign(s, &c, NOW, 3600);
    ASSERT_NOT_NULL(tok);
    ACCEPTED(v, strdup(tok));
    ASSERT_STR_EQ(last_id.sub, "a0b1");
    ASSERT_STR_EQ(last_id.name, "Ms \"K\"");
    ASSERT_EQ(last_id.n_classes, 2);
    ASSERT_EQ(last_id.exp, NOW + 3600);
    free(tok);

    /* No class: refused by the WebSocket's rule, accepted with the flag. */
    auth_claims_t none = {.sub = "a0b1", .role = ROLE_STUDENT};
    tok = auth_sign(s, &none, NOW, 60);
    ASSERT_NOT_NULL(tok);
    auth_identity_t id;
    const char *why = NULL;
    ASSERT_EQ(auth_verify(v, tok, strlen(tok), NOW, &id, &why), BRK_EAUTH);
    ASSERT_STR_EQ(why, "no class");
    ASSERT_EQ(auth_verify_ex(v, tok, strlen(tok), NOW, AUTH_ALLOW_NO_CLASS, &id, &why), 0);
    ASSERT_EQ(id.n_classes, 0);
    ASSERT_EQ(id.role, ROLE_STUDENT);
    /* The flag does not relax anything else. */
    ASSERT_EQ(auth_verify_ex(v, tok, strlen(tok), NOW + 61, AUTH_ALLOW_NO_CLASS, &id, &why),
              BRK_EAUTH);
    ASSERT_STR_EQ(why, "expired");
    free(tok);

    /* Refused claims. */
    auth_claims_t bad = c;
    bad.sub = "a b";
    ASSERT_NULL(auth_sign(s, &bad, NOW, 60));
    const char *slash[] = {"c/1"};
    bad = c;
    bad.classes = slash;
    bad.n_classes = 1;
    ASSERT_NULL(auth_sign(s, &bad, NOW, 60));
    bad = c;
    bad.n_classes = AUTH_MAX_CLASSES + 1;
    ASSERT_NULL(auth_sign(s, &bad, NOW, 60));
    bad = c;
    bad.name = "\xff\xfe";
    ASSERT_NULL(auth_sign(s, &bad, NOW, 60));
    bad = c;
    bad.role = (auth_role_t)7;
    ASSERT_NULL(auth_sign(s, &bad, NOW, 60));
    ASSERT_NULL(auth_sign(s, &c, NOW, 0));
    auth_signer_free(s);
    auth_verifier_free(v);

    /* RS256 and ES256 from private keys, checked by the public halves. */
    struct {
        const char *priv, *pub, *alg;
    } kinds[] = {{priv_path, keys.rsa.path, "RS256"}, {priv_ec, keys.ec.path, "ES256"}};
    for (size_t i = 0; i < 2; i++) {
        auth_signer_options_t ko = {.private_key_path = kinds[i].priv, .secret = SECRET};
        ASSERT_EQ(auth_signer_new(&ko, &s, err, sizeof err), 0);
        ASSERT_STR_EQ(auth_signer_alg(s), kinds[i].alg);
        auth_options_t vo = {.public_key_pem_path = kinds[i].pub};
        ASSERT_EQ(new_verifier(&vo, &v, err, sizeof err), 0);
        tok = auth_sign(s, &c, NOW, 600);
        ASSERT_NOT_NULL(tok);
        ACCEPTED(v, strdup(tok));
        ASSERT_STR_EQ(last_id.sub, "a0b1");
        auth_verifier_free(v);
        /* Another key's verifier refuses it. */
        auth_options_t wrong = {.public_key_pem_path = i == 0 ? keys.ec.path : keys.ec_other.path};
        ASSERT_EQ(new_verifier(&wrong, &v, err, sizeof err), 0);
        ASSERT_NOT_NULL(check(v, tok));
        auth_verifier_free(v);
        auth_signer_free(s);
    }

    /* Key refusals, none of which echoes key material. */
    auth_signer_options_t o1 = {.private_key_path = priv_small};
    ASSERT_EQ(auth_signer_new(&o1, &s, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "1024 bits"));
    auth_signer_options_t o2 = {.private_key_path = priv_ec384};
    ASSERT_EQ(auth_signer_new(&o2, &s, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "P-256"));
    auth_signer_options_t o3 = {.private_key_path = keys.rsa.path}; /* a public key */
    ASSERT_EQ(auth_signer_new(&o3, &s, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "not a PEM private key"));
    auth_signer_options_t o4 = {.private_key_path = priv_ec, .alg = "RS256"};
    ASSERT_EQ(auth_signer_new(&o4, &s, err, sizeof err), BRK_EINVAL);
    auth_signer_options_t o5 = {.secret = "short"};
    ASSERT_EQ(auth_signer_new(&o5, &s, err, sizeof err), BRK_EINVAL);
    ASSERT_NULL(strstr(err, "short"));
    auth_signer_options_t o6 = {.secret = SECRET, .alg = "ES256"};
    ASSERT_EQ(auth_signer_new(&o6, &s, err, sizeof err), BRK_EINVAL);
    auth_signer_options_t o7 = {0};
    ASSERT_EQ(auth_signer_new(&o7, &s, err, sizeof err), BRK_EINVAL);
    auth_signer_options_t o8 = {.private_key_path = "/nonexistent/sign.pem"};
    ASSERT_EQ(auth_signer_new(&o8, &s, err, sizeof err), BRK_EINVAL);
    unlink(priv_path);
    unlink(priv_ec);
    unlink(priv_small);
    unlink(priv_ec384);
}

static const test_case_t tests[] = {
    {"verifier_new_errors", test_verifier_new_errors},
    {"alg_derivation", test_alg_derivation},
    {"hs256_valid", test_hs256_valid},
    {"missing_and_malformed", test_missing_and_malformed},
    {"forged_signature", test_forged_signature},
    {"expiry", test_expiry},
    {"nbf_iat", test_nbf_iat},
    {"alg_none", test_alg_none},
    {"wrong_alg_hs384", test_wrong_alg_hs384},
    {"alg_confusion", test_alg_confusion},
    {"sub", test_sub},
    {"role", test_role},
    {"classes", test_classes},
    {"issuer_audience", test_issuer_audience},
    {"name", test_name},
    {"rs256", test_rs256},
    {"es256", test_es256},
    {"has_class", test_has_class},
    {"roles", test_roles},
    {"mint_roundtrip", test_mint_roundtrip},
    {"jwks_rsa_and_ec", test_jwks_rsa_and_ec},
    {"jwks_bad_files", test_jwks_bad_files},
    {"crit", test_crit},
    {"reload", test_reload},
    {"signer", test_signer},
};

TEST_MAIN(tests)

/* SPDX-License-Identifier: MIT */
/* JWT verification (libjwt) with every claim check libjwt leaves to us, and development
 * token minting. Pure functions over bytes: no sockets, no loop. Thread-safe. */
#ifndef BRK_AUTH_H
#define BRK_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_MAX_ID 64      /* sub, class ids */
#define AUTH_MAX_NAME 128   /* display name */
#define AUTH_MAX_CLASSES 64

typedef enum { ROLE_STUDENT = 0, ROLE_TEACHER, ROLE_ADMIN } auth_role_t;

typedef struct auth_identity {
    char sub[AUTH_MAX_ID + 1];
    char name[AUTH_MAX_NAME + 1]; /* "" when the token has none */
    auth_role_t role;
    int n_classes;
    char classes[AUTH_MAX_CLASSES][AUTH_MAX_ID + 1];
    int64_t exp; /* seconds since the epoch */
} auth_identity_t;

typedef struct auth_verifier auth_verifier_t;

typedef struct auth_options {
    const char *alg;         /* "HS256", "RS256" or "ES256"; NULL derives it from the key */
    const char *secret;      /* HS256 secret (borrowed), or NULL */
    const char *public_key_pem_path; /* RS256/ES256 public key file, or NULL */
    const char *jwks_path;   /* JSON Web Key Set file (RS256/ES256 keys by kid), or NULL */
    const char *issuer;      /* required iss when non-NULL */
    const char *audience;    /* required aud when non-NULL */
    int leeway_s;            /* clock leeway for exp/nbf/iat */
} auth_options_t;

/* Creates a verifier. Reads the key file now. Returns 0 and *out, or BRK_EINVAL with a
 * human readable reason in err (never containing the secret). opt and its strings are
 * borrowed (copied). Key rules:
 * - alg NULL or "": a secret alone gives HS256; a public key alone gives RS256 for an RSA
 *   key (at least 2048 bits) or ES256 for an EC P-256 key (the PEM is read with OpenSSL);
 *   both a secret and a public key without alg is an error; neither is an error.
 * - alg set: HS256 needs the secret, RS256/ES256 the public key, of the matching kind; the
 *   other key, if any, is ignored.
 * - An HS256 secret shorter than 32 bytes is refused: "ROLLCALL_JWT_SECRET must be at least
 *   32 bytes". The same rule applies to auth_mint_hs256().
 * - jwks_path set: the keys are the set's signing keys, each picked by the kid in a token's
 *   header; a secret or public key as well is an error, and so is alg HS256 (alg RS256 or
 *   ES256 keeps only the keys of that kind). The file is {"keys": [JWK...]}; a JWK has kid
 *   and kty, and n/e (kty RSA, 2048..8192 bits) or crv "P-256"/x/y (kty EC), with optional
 *   alg (RS256 or ES256) and use ("sig"). Keys for another use, algorithm, key type or
 *   curve are skipped. The whole file is refused (err names the key) when it is not JSON,
 *   has no keys array, or holds a key without kid or kty, a malformed or invalid key, an
 *   RSA key under 2048 bits, two usable keys with one kid, or no usable key at all.
 * - leeway_s < 0 counts as 0. */
int auth_verifier_new(const auth_options_t *opt, auth_verifier_t **out, char *err,
                      size_t errlen);
void auth_verifier_free(auth_verifier_t *v);

/* Builds a new verifier from the options old was built with, reading its key files again
 * (key rotation: SIGHUP). Returns 0 and *out, or BRK_EINVAL with err; old is untouched
 * either way, so a bad file leaves the caller on the old keys. */
int auth_verifier_reload(const auth_verifier_t *old, auth_verifier_t **out, char *err,
                         size_t errlen);

/* Writes key=value text about v's keys for a log line: "source=secret alg=HS256",
 * "source=public_key alg=RS256" or "source=jwks keys=2 skipped=1". No key material. */
void auth_verifier_describe(const auth_verifier_t *v, char *buf, size_t len);

/* Verifies token (len bytes, need not be NUL-terminated) at time now_s. Returns 0 and
 * fills *id, or BRK_EAUTH and a short reason in *reason (static string, e.g. "expired",
 * "bad signature", "wrong algorithm", "missing sub", "bad role", "no class", "issuer",
 * "audience", "not yet valid", "malformed"). Never logs. *id is untouched on failure.
 * The complete list of reasons: "missing", "too long" (over 8192 bytes), "malformed",
 * "unsupported crit" (the header has crit: no extension is understood), "unknown kid"
 * (with a JWKS: the header's kid is missing or names no signing key of the set),
 * "wrong algorithm" (alg other than the configured one or the key's, "none" included),
 * "bad signature",
 * "missing exp", "expired", "not yet valid" (nbf), "issued in the future" (iat), "issuer",
 * "audience", "missing sub", "bad sub", "bad role", "bad name", "bad class",
 * "too many classes", "no class", "no verifier".
 * Claims: exp is required (a number); nbf and iat are checked when present; all three
 * allow leeway_s. sub and every class id are 1..64 characters from [A-Za-z0-9._:@-] (safe
 * unquoted in logs and keys); anything else is refused. name is optional: a longer name
 * is cut to AUTH_MAX_NAME bytes on a UTF-8 boundary (not refused) and control characters
 * become spaces. class_id and classes (array, at most 64 entries) may both be present:
 * the identity gets their union, duplicates removed. iss/aud are checked only when the
 * verifier has an issuer/audience; aud may be a string or an array of strings. */
int auth_verify(const auth_verifier_t *v, const char *token, size_t len, int64_t now_s,
                auth_identity_t *id, const char **reason);

/* auth_verify with flags. AUTH_ALLOW_NO_CLASS accepts a token that names no class (the
 * identity then has n_classes 0): the accounts endpoints take such tokens, a user who has
 * joined no class yet holds one; the WebSocket endpoint does not. */
#define AUTH_ALLOW_NO_CLASS 1u
int auth_verify_ex(const auth_verifier_t *v, const char *token, size_t len, int64_t now_s,
                   unsigned flags, auth_identity_t *id, const char **reason);

/* Returns 1 when id may act in class_id. */
int auth_has_class(const auth_identity_t *id, const char *class_id);

const char *auth_role_name(auth_role_t r);
/* Parses "teacher", "student", "admin"; returns 0 or BRK_EINVAL. */
int auth_parse_role(const char *s, auth_role_t *out);

/* Mints an HS256 token. classes is a comma-separated list (one class gives a "class_id"
 * claim, several a "classes" array). issuer/audience/name may be NULL. Returns a new
 * malloc'd string (caller frees) or NULL on error: secret shorter than 32 bytes, sub or a
 * class id outside the rules of auth_verify(), unknown role, ttl_s <= 0. Claims: sub,
 * role, name (when given), class_id or classes, iat = now_s, exp = now_s + ttl_s, iss and
 * aud (when given). */
char *auth_mint_hs256(const char *secret, const char *sub, const char *role, const char *name,
                      const char *classes, int64_t now_s, int64_t ttl_s, const char *issuer,
                      const char *audience);

/* ---- signing (auth_sign.c) ------------------------------------------------------------
 * The broker's own tokens, for accounts (POST /auth/login, /auth/refresh): HS256 with the
 * configured secret, or RS256/ES256 with a private key. A signer is immutable once built:
 * any thread may sign with it at once. */
typedef struct auth_signer auth_signer_t;

typedef struct auth_signer_options {
    const char *alg;              /* "HS256", "RS256", "ES256", or NULL/"" to derive it */
    const char *secret;           /* HS256 secret (borrowed), or NULL */
    const char *private_key_path; /* PEM private key (RSA >= 2048 bits or EC P-256), or NULL */
    const char *issuer;           /* iss claim when non-NULL and non-empty */
    const char *audience;         /* aud claim when non-NULL and non-empty */
} auth_signer_options_t;

/* Builds a signer. Key rules: a private key file wins over the secret (RS256 for an RSA key,
 * ES256 for an EC P-256 key; alg, when set, must match it); else a secret of at least 32
 * bytes gives HS256 (alg, when set, must be HS256); neither is an error. Returns 0 and
 * *out, or BRK_EINVAL with a reason in err that holds no key material. */
int auth_signer_new(const auth_signer_options_t *opt, auth_signer_t **out, char *err,
                    size_t errlen);
void auth_signer_free(auth_signer_t *s);
/* "HS256", "RS256" or "ES256". */
const char *auth_signer_alg(const auth_signer_t *s);

typedef struct auth_claims {
    const char *sub;                /* 1..64 characters of the id alphabet */
    auth_role_t role;
    const char *name;               /* may be NULL or empty; must be UTF-8 */
    const char *const *classes;     /* n_classes ids (0..AUTH_MAX_CLASSES) */
    size_t n_classes;
} auth_claims_t;

/* Signs a token: sub, role, name (when given), class_id (one class) or classes (several;
 * none when n_classes is 0), iat = now_s, exp = now_s + ttl_s, iss and aud (when the signer
 * has them). Returns a malloc'd string (caller frees) or NULL: a sub or class id outside the
 * id alphabet, more than AUTH_MAX_CLASSES classes, a name that is not UTF-8, ttl_s <= 0, or
 * a signing failure. */
char *auth_sign(const auth_signer_t *s, const auth_claims_t *c, int64_t now_s, int64_t ttl_s);

#endif

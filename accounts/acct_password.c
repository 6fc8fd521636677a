/* SPDX-License-Identifier: MIT */
/* yescrypt through libxcrypt's reentrant calls: crypt_gensalt_rn() makes the setting (the
 * "$y$" prefix, the cost parameters and 16 bytes of salt from the OS), crypt_rn() hashes with
 * a struct crypt_data of each call's own, which is what makes the module thread-safe. */
#include "acct_password.h"

#include "brk.h"

#include <crypt.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(ACCT_PW_MAX == CRYPT_MAX_PASSPHRASE_SIZE - 1, "libxcrypt's phrase limit");

#define SALT_BYTES 16

struct acct_pw {
    unsigned cost;
    char prefix[ACCT_HASH_SIZE]; /* "$y$<params>$" of this cost, for acct_pw_needs_rehash */
    char dummy[ACCT_HASH_SIZE];  /* a hash of a random password, made once at this cost */
};

/* Length of "$id$params$" at the start of a crypt hash, or 0 when it has no such prefix. */
static size_t params_prefix_len(const char *h)
{
    if (h[0] != '$')
        return 0;
    const char *p = strchr(h + 1, '$');
    if (!p)
        return 0;
    p = strchr(p + 1, '$');
    return p ? (size_t)(p - h) + 1 : 0;
}

static int make_setting(unsigned cost, char *out, size_t outlen)
{
    unsigned char rnd[SALT_BYTES];
    if (brk_random(rnd, sizeof rnd) != 0)
        return BRK_EIO;
    char *s = crypt_gensalt_rn("$y$", cost, (const char *)rnd, (int)sizeof rnd, out, (int)outlen);
    explicit_bzero(rnd, sizeof rnd);
    return s ? 0 : BRK_EIO;
}

/* Hashes the phrase (len bytes, no NUL inside) with setting into out. The phrase is copied
 * into the call's own crypt_data, and all of it is wiped before it is freed: libxcrypt keeps
 * the phrase and what it derived from it in there. */
static int run_crypt(const char *phrase, size_t len, const char *setting, char *out, size_t outlen)
{
    int rc = BRK_EIO;
    struct crypt_data *cd = brk_calloc(1, sizeof *cd);
    size_t slen = strlen(setting);
    if (len >= sizeof cd->input || slen >= sizeof cd->setting) {
        rc = BRK_EINVAL;
        goto cleanup;
    }
    memcpy(cd->input, phrase, len);
    cd->input[len] = '\0';
    memcpy(cd->setting, setting, slen + 1);
    const char *h = crypt_rn(cd->input, cd->setting, cd, (int)sizeof *cd);
    /* libxcrypt marks failure with NULL or a hash starting with '*'. */
    if (!h || h[0] == '*') {
        rc = BRK_EINVAL;
        goto cleanup;
    }
    size_t hlen = strlen(h);
    if (hlen >= outlen) {
        rc = BRK_ETOOBIG;
        goto cleanup;
    }
    memcpy(out, h, hlen + 1);
    rc = 0;
cleanup:
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    return rc;
}

int acct_pw_new(unsigned cost, acct_pw_t **out)
{
    BRK_ASSERT(out);
    *out = NULL;
    if (cost < ACCT_PW_COST_MIN || cost > ACCT_PW_COST_MAX)
        return BRK_EINVAL;
    acct_pw_t *pw = brk_calloc(1, sizeof *pw);
    pw->cost = cost;
    /* The dummy's password is random and thrown away: nothing can match the dummy hash. */
    unsigned char secret[24];
    char phrase[2 * sizeof secret + 1];
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    int rc = brk_random(secret, sizeof secret) != 0 ? BRK_EIO : 0;
    if (rc == 0) {
        brk_hex(secret, sizeof secret, phrase);
        rc = make_setting(cost, setting, sizeof setting);
    }
    if (rc == 0)
        rc = run_crypt(phrase, strlen(phrase), setting, pw->dummy, sizeof pw->dummy);
    explicit_bzero(secret, sizeof secret);
    explicit_bzero(phrase, sizeof phrase);
    size_t plen = rc == 0 ? params_prefix_len(pw->dummy) : 0;
    if (rc == 0 && plen == 0)
        rc = BRK_EIO;
    if (rc != 0) {
        free(pw);
        return rc;
    }
    memcpy(pw->prefix, pw->dummy, plen);
    pw->prefix[plen] = '\0';
    *out = pw;
    return 0;
}

void acct_pw_free(acct_pw_t *pw)
{
    free(pw);
}

unsigned acct_pw_cost(const acct_pw_t *pw)
{
    return pw->cost;
}

/* 0 when the phrase is acceptable to hash, else BRK_EINVAL or BRK_ETOOBIG. */
static int check_phrase(const char *password, size_t len, size_t min)
{
    if (len > ACCT_PW_MAX)
        return BRK_ETOOBIG;
    if (len < min || memchr(password, '\0', len))
        return BRK_EINVAL;
    return 0;
}

int acct_pw_hash(const acct_pw_t *pw, const char *password, size_t len, char *out, size_t outlen)
{
    BRK_ASSERT(pw && (password || len == 0) && out);
    if (outlen)
        out[0] = '\0';
    int rc = check_phrase(password, len, ACCT_PW_MIN);
    if (rc != 0)
        return rc;
    char setting[CRYPT_GENSALT_OUTPUT_SIZE];
    if (make_setting(pw->cost, setting, sizeof setting) != 0)
        return BRK_EIO;
    rc = run_crypt(password, len, setting, out, outlen);
    return rc == 0 ? 0 : BRK_EIO;
}

/* Compares two NUL-terminated strings in a time that depends only on the length of b (the
 * recomputed hash, whose length the parameters fix), never on where they differ. */
static int equal_ct(const char *a, const char *b)
{
    size_t alen = strlen(a), blen = strlen(b);
    volatile unsigned char diff = (unsigned char)(alen != blen);
    for (size_t i = 0; i < blen; i++)
        diff |= (unsigned char)((i < alen ? (unsigned char)a[i] : 0) ^ (unsigned char)b[i]);
    return diff == 0;
}

int acct_pw_verify(const acct_pw_t *pw, const char *password, size_t len, const char *stored)
{
    BRK_ASSERT(pw && (password || len == 0));
    char h[ACCT_HASH_SIZE];
    const char *against = stored ? stored : pw->dummy;
    /* Only "$id$..." formats: without a '$' libxcrypt would take the first two characters as
     * a DES salt and hash away, and a DES hash is no hash to accept a login against. */
    if (against[0] != '$')
        return BRK_EINVAL;
    /* An unusable password still costs one hash (of a fixed phrase, against the same hash), so
     * the time of the answer says nothing about the account. */
    int usable = check_phrase(password, len, 1) == 0;
    static const char filler[] = "not a password: rollcall";
    int rc = usable ? run_crypt(password, len, against, h, sizeof h)
                    : run_crypt(filler, sizeof filler - 1, against, h, sizeof h);
    if (rc != 0) {
        explicit_bzero(h, sizeof h);
        return BRK_EINVAL;
    }
    int match = equal_ct(against, h);
    explicit_bzero(h, sizeof h);
    return usable && stored && match ? 0 : BRK_EAUTH;
}

int acct_pw_needs_rehash(const acct_pw_t *pw, const char *stored)
{
    size_t plen = strlen(pw->prefix);
    return !stored || strncmp(stored, pw->prefix, plen) != 0 || params_prefix_len(stored) != plen;
}

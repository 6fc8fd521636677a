/* SPDX-License-Identifier: MIT */
/* Password hashing for accounts: yescrypt through libxcrypt, with a random salt and the cost
 * parameters written into the stored hash ("$y$<params>$<salt>$<hash>"), so that the cost can
 * be raised later and old hashes still verify (acct_pw_needs_rehash says when to rehash).
 * Every call is slow on purpose (tens of milliseconds and some MiB of memory at the default
 * cost) and thread-safe: run it on a worker thread, never on the loop. */
#ifndef RC_ACCT_PASSWORD_H
#define RC_ACCT_PASSWORD_H

#include <stddef.h>

/* Accepted password lengths in bytes. The upper bound is libxcrypt's
 * (CRYPT_MAX_PASSPHRASE_SIZE, counting the NUL): a longer phrase would need a pre-hash, a
 * second format to keep for no gain. */
#define ACCT_PW_MIN 8
#define ACCT_PW_MAX 511

/* yescrypt cost as libxcrypt counts it (1..11): memory is 2^(cost+7) blocks of 4 KiB, so
 * the default 5 takes 16 MiB and about 50 ms per hash on one core of these machines. */
#define ACCT_PW_COST_MIN 1
#define ACCT_PW_COST_MAX 11
#define ACCT_PW_COST_DEFAULT 5

/* Room for a stored hash and its NUL (a yescrypt hash is about 75 characters). */
#define ACCT_HASH_SIZE 128

typedef struct acct_pw acct_pw_t;

/* A hasher at one cost. Computes, once, the dummy hash that acct_pw_verify() checks
 * against when there is no account, so that an unknown email costs what a wrong password
 * does. Returns 0 and *out, BRK_EINVAL for a cost outside ACCT_PW_COST_MIN..MAX, or BRK_EIO
 * when libxcrypt or the random source fails. The hasher is immutable afterwards: any number
 * of threads may use it at once. Worker thread or start-up (slow). */
int acct_pw_new(unsigned cost, acct_pw_t **out);
void acct_pw_free(acct_pw_t *pw);

/* Hashes password (len bytes, borrowed; it need not be NUL-terminated) with a fresh salt into
 * out (outlen >= ACCT_HASH_SIZE). Returns 0; BRK_EINVAL when the password is shorter than
 * ACCT_PW_MIN or holds a NUL byte; BRK_ETOOBIG when longer than ACCT_PW_MAX; BRK_EIO when
 * hashing fails. Copies of the password are wiped. Worker thread. */
int acct_pw_hash(const acct_pw_t *pw, const char *password, size_t len, char *out, size_t outlen);

/* Checks password against stored (a hash acct_pw_hash wrote, at any cost), or, when stored
 * is NULL (no such account), against the dummy hash, which it never matches. Both paths do
 * the same work, and the comparison takes a time independent of where the hashes differ.
 * Returns 0 when it matches; BRK_EAUTH when it does not, when stored is NULL, and when the
 * password is empty, too long (> ACCT_PW_MAX) or holds a NUL (after the same work, so that
 * the answer's time does not tell either); BRK_EINVAL when stored is not a "$id$..." hash
 * libxcrypt can use. Worker thread. */
int acct_pw_verify(const acct_pw_t *pw, const char *password, size_t len, const char *stored);

/* 1 when stored was made with other parameters than this hasher's (an older cost, another
 * algorithm): the caller rehashes the password after a successful verify. */
int acct_pw_needs_rehash(const acct_pw_t *pw, const char *stored);

/* The hasher's cost. */
unsigned acct_pw_cost(const acct_pw_t *pw);

#endif

/* SPDX-License-Identifier: MIT */
/* Token buckets by key, for rate limits on the loop thread (logins per account, requests per
 * client address). Each key has up to `burst` tokens and regains them at burst per period;
 * a key that is not in the table has a full bucket, so a bucket that has refilled is the same
 * as no entry. Memory is bounded: at max_keys entries the least recently touched one is
 * dropped for a new key (it then counts as full again). Keys are hashed with a random seed
 * drawn at creation. Not thread-safe: one thread per limiter. */
#ifndef BRK_RLIMIT_H
#define BRK_RLIMIT_H

#include <stddef.h>
#include <stdint.h>

#define RL_MAX_KEY 320 /* bytes of a key; longer keys are cut (an email is at most 254) */

typedef struct rl rl_t;

/* burst >= 1, period_ms >= 1, max_keys >= 1. */
rl_t *rl_new(unsigned burst, uint64_t period_ms, size_t max_keys);
void rl_free(rl_t *rl);

/* 1 when key has a whole token now (nothing is taken); else 0 and, when retry_ms is not
 * NULL, the milliseconds until it has one. */
int rl_allowed(rl_t *rl, const void *key, size_t len, uint64_t now_ms, uint64_t *retry_ms);

/* Takes one token from key (none left stays none). */
void rl_take(rl_t *rl, const void *key, size_t len, uint64_t now_ms);

/* Both at once: 1 and a token taken when one is there, else 0 with *retry_ms. */
int rl_try_take(rl_t *rl, const void *key, size_t len, uint64_t now_ms, uint64_t *retry_ms);

/* Gives key a full bucket again (a successful login clears its failures). */
void rl_forget(rl_t *rl, const void *key, size_t len);

/* Entries held now. */
size_t rl_size(const rl_t *rl);

#endif

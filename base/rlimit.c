/* SPDX-License-Identifier: MIT */
/* Token buckets in a chained hash table with an LRU list for eviction. Tokens are kept as a
 * double and refilled lazily from the time of the last touch. */
#include "rlimit.h"

#include "brk.h"

#include <stdlib.h>
#include <string.h>

typedef struct rl_entry {
    struct rl_entry *chain;            /* next in the bucket */
    struct rl_entry *newer, *older;    /* LRU list */
    uint64_t hash;
    double tokens;
    uint64_t at_ms; /* when tokens was last brought up to date */
    size_t len;
    unsigned char key[];
} rl_entry_t;

struct rl {
    double burst;
    double per_ms; /* tokens regained per millisecond */
    size_t max_keys, n;
    size_t n_buckets; /* a power of two */
    rl_entry_t **buckets;
    rl_entry_t *newest, *oldest;
    uint64_t seed[2];
};

/* A seeded 64-bit hash: each byte is mixed into two lanes through multiplications and the
 * lanes are folded with a finalizer that spreads every input bit over the output. */
static uint64_t mix(uint64_t x)
{
    x ^= x >> 31;
    x *= 0x7fb5d329728ea185ULL;
    x ^= x >> 27;
    x *= 0x81dadef4bc2dd44dULL;
    x ^= x >> 33;
    return x;
}

static uint64_t key_hash(const rl_t *rl, const unsigned char *k, size_t len)
{
    uint64_t a = rl->seed[0], b = rl->seed[1] ^ len;
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t w;
        memcpy(&w, k + i, 8);
        a = mix(a ^ w);
        b = (b ^ w) * 0x9e3779b97f4a7c15ULL + a;
    }
    uint64_t tail = 0;
    memcpy(&tail, k + i, len - i);
    a = mix(a ^ tail ^ ((uint64_t)(len - i) << 56));
    return mix(a ^ mix(b));
}

rl_t *rl_new(unsigned burst, uint64_t period_ms, size_t max_keys)
{
    BRK_ASSERT(burst >= 1 && period_ms >= 1 && max_keys >= 1);
    rl_t *rl = brk_calloc(1, sizeof *rl);
    rl->burst = burst;
    rl->per_ms = (double)burst / (double)period_ms;
    rl->max_keys = max_keys;
    rl->n_buckets = 16;
    while (rl->n_buckets < max_keys && rl->n_buckets < ((size_t)1 << 20))
        rl->n_buckets <<= 1;
    rl->buckets = brk_calloc(rl->n_buckets, sizeof *rl->buckets);
    if (brk_random(rl->seed, sizeof rl->seed) != 0) {
        /* No random source: the table still works, only less resistant to chosen keys. */
        rl->seed[0] = brk_mono_ns();
        rl->seed[1] = (uint64_t)(uintptr_t)rl;
    }
    return rl;
}

void rl_free(rl_t *rl)
{
    if (!rl)
        return;
    for (rl_entry_t *e = rl->newest, *next; e; e = next) {
        next = e->older;
        free(e);
    }
    free(rl->buckets);
    free(rl);
}

static void lru_unlink(rl_t *rl, rl_entry_t *e)
{
    if (e->newer)
        e->newer->older = e->older;
    else
        rl->newest = e->older;
    if (e->older)
        e->older->newer = e->newer;
    else
        rl->oldest = e->newer;
    e->newer = e->older = NULL;
}

static void lru_push(rl_t *rl, rl_entry_t *e)
{
    e->older = rl->newest;
    e->newer = NULL;
    if (rl->newest)
        rl->newest->newer = e;
    rl->newest = e;
    if (!rl->oldest)
        rl->oldest = e;
}

static rl_entry_t **slot_of(rl_t *rl, uint64_t h, const unsigned char *k, size_t len)
{
    rl_entry_t **pp = &rl->buckets[h & (rl->n_buckets - 1)];
    while (*pp && !((*pp)->hash == h && (*pp)->len == len && memcmp((*pp)->key, k, len) == 0))
        pp = &(*pp)->chain;
    return pp;
}

static void remove_entry(rl_t *rl, rl_entry_t *e)
{
    rl_entry_t **pp = slot_of(rl, e->hash, e->key, e->len);
    BRK_ASSERT(*pp == e);
    *pp = e->chain;
    lru_unlink(rl, e);
    rl->n--;
    free(e);
}

static void refill(const rl_t *rl, rl_entry_t *e, uint64_t now_ms)
{
    if (now_ms > e->at_ms) {
        e->tokens += (double)(now_ms - e->at_ms) * rl->per_ms;
        if (e->tokens > rl->burst)
            e->tokens = rl->burst;
        e->at_ms = now_ms;
    }
}

static uint64_t wait_ms(const rl_t *rl, const rl_entry_t *e)
{
    double missing = 1.0 - e->tokens;
    if (missing <= 0)
        return 0;
    double ms = missing / rl->per_ms;
    return (uint64_t)ms + 1;
}

/* The entry of key, brought up to date, or NULL when there is none (a full bucket). */
static rl_entry_t *lookup(rl_t *rl, const void *key, size_t *len, uint64_t now_ms)
{
    if (*len > RL_MAX_KEY)
        *len = RL_MAX_KEY;
    uint64_t h = key_hash(rl, key, *len);
    rl_entry_t *e = *slot_of(rl, h, key, *len);
    if (e)
        refill(rl, e, now_ms);
    return e;
}

int rl_allowed(rl_t *rl, const void *key, size_t len, uint64_t now_ms, uint64_t *retry_ms)
{
    rl_entry_t *e = lookup(rl, key, &len, now_ms);
    if (!e || e->tokens >= 1.0)
        return 1;
    if (retry_ms)
        *retry_ms = wait_ms(rl, e);
    return 0;
}

void rl_take(rl_t *rl, const void *key, size_t len, uint64_t now_ms)
{
    rl_entry_t *e = lookup(rl, key, &len, now_ms);
    if (!e) {
        if (rl->n >= rl->max_keys)
            remove_entry(rl, rl->oldest);
        e = brk_malloc(sizeof *e + len);
        memset(e, 0, sizeof *e);
        e->hash = key_hash(rl, key, len);
        e->len = len;
        memcpy(e->key, key, len);
        e->tokens = rl->burst;
        e->at_ms = now_ms;
        rl_entry_t **pp = &rl->buckets[e->hash & (rl->n_buckets - 1)];
        e->chain = *pp;
        *pp = e;
        rl->n++;
    } else {
        lru_unlink(rl, e);
    }
    lru_push(rl, e);
    e->tokens = e->tokens >= 1.0 ? e->tokens - 1.0 : 0.0;
}

int rl_try_take(rl_t *rl, const void *key, size_t len, uint64_t now_ms, uint64_t *retry_ms)
{
    if (!rl_allowed(rl, key, len, now_ms, retry_ms))
        return 0;
    rl_take(rl, key, len, now_ms);
    return 1;
}

void rl_forget(rl_t *rl, const void *key, size_t len)
{
    if (len > RL_MAX_KEY)
        len = RL_MAX_KEY;
    rl_entry_t *e = *slot_of(rl, key_hash(rl, key, len), key, len);
    if (e)
        remove_entry(rl, e);
}

size_t rl_size(const rl_t *rl)
{
    return rl->n;
}

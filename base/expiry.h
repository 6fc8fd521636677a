/* SPDX-License-Identifier: MIT */
/* An intrusive binary min-heap of deadlines. The items live elsewhere (a connection embeds
 * an exp_node_t); the heap holds {key, node} pairs and keeps each node's position up to
 * date, so an item can change its key or leave the heap in O(log n) without a search. One
 * timer armed at the top's key then serves every item. Not thread-safe; no allocation per
 * item beyond the heap's own array. */
#ifndef BRK_EXPIRY_H
#define BRK_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

/* Embedded in an item. A zeroed node is not queued, so calloc'd items need no set-up. */
typedef struct exp_node {
    uint32_t pos; /* 0 when not queued, else the index of its heap entry plus one */
} exp_node_t;

typedef struct exp_entry {
    int64_t key;
    exp_node_t *node;
} exp_entry_t;

typedef struct exp_heap {
    exp_entry_t *v;
    uint32_t len, cap;
} exp_heap_t;

/* An empty heap; a zeroed exp_heap_t is one too. */
void exp_heap_init(exp_heap_t *h);
/* Frees the array. Nodes still queued are marked not queued. */
void exp_heap_free(exp_heap_t *h);

/* Queues n with key, or moves it to key when already queued. n is borrowed and must stay
 * valid (and in place) until it leaves the heap. */
void exp_heap_set(exp_heap_t *h, exp_node_t *n, int64_t key);
/* Takes n out of the heap; nothing happens when it is not queued. */
void exp_heap_remove(exp_heap_t *h, exp_node_t *n);

/* The node with the smallest key (ties in no particular order) and its key in *key, or
 * NULL when the heap is empty. The node stays queued. */
exp_node_t *exp_heap_top(const exp_heap_t *h, int64_t *key);

static inline int exp_node_queued(const exp_node_t *n)
{
    return n->pos != 0;
}

static inline size_t exp_heap_len(const exp_heap_t *h)
{
    return h->len;
}

#endif

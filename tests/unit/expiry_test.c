/* SPDX-License-Identifier: MIT */
/* Unit tests for base/expiry.c: the intrusive deadline heap. Every operation is checked
 * against the heap order and the nodes' back-pointers, and a long random run is compared
 * with a plain array that answers the same questions by brute force. */
#include "expiry.h"

#include "brk.h"
#include "test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct item {
    int id;
    exp_node_t node;
    int64_t key; /* the model's copy */
    int queued;  /* the model's copy */
} item_t;

/* The heap order holds and every node knows where its entry is. */
static void check_invariants(const exp_heap_t *h)
{
    for (uint32_t i = 0; i < h->len; i++) {
        ASSERT_EQ(h->v[i].node->pos, i + 1);
        if (i > 0)
            ASSERT(h->v[(i - 1) / 2].key <= h->v[i].key);
    }
}

static item_t *item_of(exp_node_t *n)
{
    return (item_t *)(void *)((char *)n - offsetof(item_t, node));
}

static void test_empty(void)
{
    exp_heap_t h;
    exp_heap_init(&h);
    int64_t key = 42;
    ASSERT_NULL(exp_heap_top(&h, &key));
    ASSERT_EQ(key, 42);
    ASSERT_EQ(exp_heap_len(&h), 0);
    exp_node_t n = {0};
    ASSERT_EQ(exp_node_queued(&n), 0);
    exp_heap_remove(&h, &n); /* not queued: nothing happens */
    ASSERT_EQ(exp_heap_len(&h), 0);
    exp_heap_free(&h);
    exp_heap_free(&h); /* twice is harmless */

    exp_heap_t zeroed;
    memset(&zeroed, 0, sizeof zeroed);
    exp_heap_set(&zeroed, &n, 7);
    ASSERT_EQ(exp_node_queued(&n), 1);
    ASSERT(exp_heap_top(&zeroed, &key) == &n);
    ASSERT_EQ(key, 7);
    exp_heap_free(&zeroed);
    ASSERT_EQ(exp_node_queued(&n), 0); /* freeing forgets the nodes */
}

static void test_order_and_pop(void)
{
    enum { N = 200 };
    static item_t items[N];
    exp_heap_t h;
    exp_heap_init(&h);
    memset(items, 0, sizeof items);
    /* Keys with many ties, inserted in a scrambled order. */
    for (int i = 0; i < N; i++) {
        items[i].id = i;
        exp_heap_set(&h, &items[i].node, (int64_t)((i * 37) % 50));
        check_invariants(&h);
    }
    ASSERT_EQ(exp_heap_len(&h), N);
    int64_t prev = INT64_MIN;
    for (int i = 0; i < N; i++) {
        int64_t key;
        exp_node_t *n = exp_heap_top(&h, &key);
        ASSERT_NOT_NULL(n);
        ASSERT(key >= prev);
        ASSERT_EQ(key, (int64_t)((item_of(n)->id * 37) % 50));
        prev = key;
        exp_heap_remove(&h, n);
        ASSERT_EQ(exp_node_queued(n), 0);
        check_invariants(&h);
    }
    ASSERT_EQ(exp_heap_len(&h), 0);
    exp_heap_free(&h);
}

static void test_update_and_remove_middle(void)
{
    item_t a = {.id = 1}, b = {.id = 2}, c = {.id = 3}, d = {.id = 4};
    exp_heap_t h;
    exp_heap_init(&h);
    exp_heap_set(&h, &a.node, 10);
    exp_heap_set(&h, &b.node, 20);
    exp_heap_set(&h, &c.node, 30);
    exp_heap_set(&h, &d.node, 40);
    int64_t key;
    ASSERT(exp_heap_top(&h, &key) == &a.node);

    /* A later key sinks (a warning passed: the node now waits for its expiry). */
    exp_heap_set(&h, &a.node, 35);
    check_invariants(&h);
    ASSERT(exp_heap_top(&h, &key) == &b.node);
    ASSERT_EQ(key, 20);
    ASSERT_EQ(exp_heap_len(&h), 4); /* set on a queued node does not add it twice */

    /* An earlier key rises to the top. */
    exp_heap_set(&h, &d.node, 5);
    check_invariants(&h);
    ASSERT(exp_heap_top(&h, &key) == &d.node);
    ASSERT_EQ(key, 5);

    /* Removing from the middle keeps the rest in order. */
    exp_heap_remove(&h, &b.node);
    check_invariants(&h);
    ASSERT_EQ(exp_heap_len(&h), 3);
    exp_heap_remove(&h, &b.node); /* again: nothing */
    ASSERT_EQ(exp_heap_len(&h), 3);
    exp_heap_remove(&h, &d.node);
    ASSERT(exp_heap_top(&h, &key) == &c.node);
    ASSERT_EQ(key, 30);
    exp_heap_remove(&h, &c.node);
    ASSERT(exp_heap_top(&h, &key) == &a.node);
    ASSERT_EQ(key, 35);
    exp_heap_remove(&h, &a.node);
    ASSERT_NULL(exp_heap_top(&h, NULL));

    /* A node that left may come back. */
    exp_heap_set(&h, &b.node, INT64_MAX);
    exp_heap_set(&h, &c.node, INT64_MIN);
    ASSERT(exp_heap_top(&h, &key) == &c.node);
    ASSERT_EQ(key, INT64_MIN);
    exp_heap_free(&h);
    ASSERT_EQ(exp_node_queued(&b.node), 0);
    ASSERT_EQ(exp_node_queued(&c.node), 0);
}

/* xorshift64*: a fixed sequence, so a failure reproduces. */
static uint64_t rng_state = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ull;
}

static void test_random_against_model(void)
{
    enum { N = 500, OPS = 50000 };
    static item_t items[N];
    memset(items, 0, sizeof items);
    for (int i = 0; i < N; i++)
        items[i].id = i;
    exp_heap_t h;
    exp_heap_init(&h);
    size_t queued = 0;
    for (int op = 0; op < OPS; op++) {
        item_t *it = &items[rnd() % N];
        switch (rnd() % 4) {
        case 0:
        case 1: /* insert or change the key */
            it->key = (int64_t)(rnd() % 1000) - 500;
            if (!it->queued)
                queued++;
            it->queued = 1;
            exp_heap_set(&h, &it->node, it->key);
            break;
        case 2: /* remove */
            if (it->queued)
                queued--;
            it->queued = 0;
            exp_heap_remove(&h, &it->node);
            break;
        default: { /* the top is a minimum of the model */
            int64_t key;
            exp_node_t *n = exp_heap_top(&h, &key);
            int64_t want = INT64_MAX;
            for (int i = 0; i < N; i++)
                if (items[i].queued && items[i].key < want)
                    want = items[i].key;
            if (!queued) {
                ASSERT_NULL(n);
            } else {
                ASSERT_NOT_NULL(n);
                ASSERT_EQ(key, want);
                ASSERT(item_of(n)->queued);
                ASSERT_EQ(item_of(n)->key, want);
            }
            break;
        }
        }
        ASSERT_EQ(exp_heap_len(&h), queued);
        ASSERT_EQ(exp_node_queued(&it->node), it->queued);
        if (op % 97 == 0)
            check_invariants(&h);
    }
    check_invariants(&h);
    /* Drain in order. */
    int64_t prev = INT64_MIN, key;
    exp_node_t *n;
    while ((n = exp_heap_top(&h, &key))) {
        ASSERT(key >= prev);
        prev = key;
        exp_heap_remove(&h, n);
        item_of(n)->queued = 0;
        queued--;
    }
    ASSERT_EQ(queued, 0);
    exp_heap_free(&h);
}

static const test_case_t tests[] = {
    {"empty", test_empty},
    {"order_and_pop", test_order_and_pop},
    {"update_and_remove_middle", test_update_and_remove_middle},
    {"random_against_model", test_random_against_model},
};

TEST_MAIN(tests)

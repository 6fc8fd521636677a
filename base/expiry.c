/* SPDX-License-Identifier: MIT */
/* The deadline heap: an array-backed binary min-heap whose entries point back at their
 * nodes. Every move of an entry rewrites its node's position, which is what makes removal
 * and key changes of an arbitrary node O(log n). */
#include "expiry.h"

#include "brk.h"

#include <stdlib.h>

void exp_heap_init(exp_heap_t *h)
{
    h->v = NULL;
    h->len = h->cap = 0;
}

void exp_heap_free(exp_heap_t *h)
{
    for (uint32_t i = 0; i < h->len; i++)
        h->v[i].node->pos = 0;
    free(h->v);
    exp_heap_init(h);
}

static void place(exp_heap_t *h, uint32_t i, exp_entry_t e)
{
    h->v[i] = e;
    e.node->pos = i + 1;
}

/* Moves the entry e, meant for slot i, up past every larger parent, then stores it. */
static void sift_up(exp_heap_t *h, uint32_t i, exp_entry_t e)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 2;
        if (h->v[parent].key <= e.key)
            break;
        place(h, i, h->v[parent]);
        i = parent;
    }
    place(h, i, e);
}

/* Moves the entry e, meant for slot i, down past every smaller child, then stores it. */
static void sift_down(exp_heap_t *h, uint32_t i, exp_entry_t e)
{
    for (;;) {
        uint32_t child = 2 * i + 1;
        if (child >= h->len)
            break;
        if (child + 1 < h->len && h->v[child + 1].key < h->v[child].key)
            child++;
        if (e.key <= h->v[child].key)
            break;
        place(h, i, h->v[child]);
        i = child;
    }
    place(h, i, e);
}

/* Stores e in slot i, which its old occupant left, restoring the heap order around it. */
static void settle(exp_heap_t *h, uint32_t i, exp_entry_t e)
{
    if (i > 0 && e.key < h->v[(i - 1) / 2].key)
        sift_up(h, i, e);
    else
        sift_down(h, i, e);
}

void exp_heap_set(exp_heap_t *h, exp_node_t *n, int64_t key)
{
    exp_entry_t e = {key, n};
    if (n->pos) {
        uint32_t i = n->pos - 1;
        BRK_ASSERT(i < h->len && h->v[i].node == n);
        settle(h, i, e);
        return;
    }
    if (h->len == h->cap) {
        BRK_ASSERT(h->cap < UINT32_MAX / 2);
        h->cap = h->cap ? h->cap * 2 : 64;
        h->v = brk_realloc(h->v, (size_t)h->cap * sizeof *h->v);
    }
    sift_up(h, h->len++, e);
}

void exp_heap_remove(exp_heap_t *h, exp_node_t *n)
{
    if (!n->pos)
        return;
    uint32_t i = n->pos - 1;
    BRK_ASSERT(i < h->len && h->v[i].node == n);
    n->pos = 0;
    exp_entry_t last = h->v[--h->len];
    if (i < h->len)
        settle(h, i, last);
}

exp_node_t *exp_heap_top(const exp_heap_t *h, int64_t *key)
{
    if (h->len == 0)
        return NULL;
    if (key)
        *key = h->v[0].key;
    return h->v[0].node;
}

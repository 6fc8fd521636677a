/* SPDX-License-Identifier: MIT */
/* Rosters in an array sorted by class id (binary search; a class is added once, when it is
 * created, so the memmove of an insert is rare), each roster's students sorted by id. */
#include "roster.h"

#include "brk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct roster_reg {
    roster_t **v;
    size_t n, cap;
};

roster_reg_t *roster_reg_new(void)
{
    return brk_calloc(1, sizeof(roster_reg_t));
}

static void roster_clear(roster_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->ids[i]);
        free(r->names[i]);
    }
    free(r->ids);
    free(r->names);
    r->ids = r->names = NULL;
    r->n = 0;
}

void roster_reg_free(roster_reg_t *g)
{
    if (!g)
        return;
    for (size_t i = 0; i < g->n; i++) {
        roster_clear(g->v[i]);
        free(g->v[i]);
    }
    free(g->v);
    free(g);
}

/* The index of class_id, or where it would go (*found 0). */
static size_t find(const roster_reg_t *g, const char *class_id, int *found)
{
    size_t lo = 0, hi = g->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(g->v[mid]->class_id, class_id);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

typedef struct pair {
    const char *id, *name;
} pair_t;

static int pair_cmp(const void *a, const void *b)
{
    return strcmp(((const pair_t *)a)->id, ((const pair_t *)b)->id);
}

void roster_reg_rename(roster_reg_t *g, const char *class_id, const char *name)
{
    int found;
    size_t at = find(g, class_id, &found);
    if (found)
        snprintf(g->v[at]->name, sizeof g->v[at]->name, "%s", name);
}

void roster_reg_set(roster_reg_t *g, const char *class_id, const char *name,
                    const class_member_t *members, size_t n)
{
    BRK_ASSERT(strlen(class_id) <= CLASS_TOKEN_ID_MAX);
    int found;
    size_t at = find(g, class_id, &found);
    roster_t *r;
    if (found) {
        r = g->v[at];
        roster_clear(r);
    } else {
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 16;
            g->v = brk_realloc(g->v, g->cap * sizeof *g->v);
        }
        memmove(g->v + at + 1, g->v + at, (g->n - at) * sizeof *g->v);
        r = brk_calloc(1, sizeof *r);
        snprintf(r->class_id, sizeof r->class_id, "%s", class_id);
        g->v[at] = r;
        g->n++;
    }
    if (name)
        snprintf(r->name, sizeof r->name, "%s", name);
    pair_t *p = n ? brk_malloc(n * sizeof *p) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (members[i].role == CLASS_ROLE_STUDENT)
            p[k++] = (pair_t){members[i].account_id, members[i].name};
    if (k)
        qsort(p, k, sizeof *p, pair_cmp);
    r->ids = brk_calloc(k ? k : 1, sizeof *r->ids);
    r->names = brk_calloc(k ? k : 1, sizeof *r->names);
    for (size_t i = 0; i < k; i++) {
        r->ids[i] = brk_strdup(p[i].id);
        r->names[i] = brk_strdup(p[i].name);
    }
    r->n = k;
    free(p);
}

const roster_t *roster_reg_get(const roster_reg_t *g, const char *class_id)
{
    if (!g || !class_id)
        return NULL;
    int found;
    size_t at = find(g, class_id, &found);
    return found ? g->v[at] : NULL;
}

int roster_admits(const roster_t *r, const char *student_id)
{
    if (!r)
        return 1;
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->ids[mid], student_id);
        if (c == 0)
            return 1;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

size_t roster_reg_size(const roster_reg_t *g)
{
    return g->n;
}

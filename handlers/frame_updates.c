/* SPDX-License-Identifier: MIT */
/* ENGAGEMENT_UPDATE: each analyzed frame gives its student a line in the class's next
 * update to staff, and lines are coalesced per student. The first change after a quiet
 * period goes out at once (leading edge); later ones wait for the class's next turn, at
 * most one update per class per ROLLCALL_ENGAGEMENT_UPDATE_MS, all on one timer. */
#include "frame_int.h"

#include "brk.h"

#include <stdlib.h>
#include <string.h>

/* One student's line in the next ENGAGEMENT_UPDATE. */
typedef struct eng_entry {
    char student_id[ST_ID];
    json_t *row;
} eng_entry_t;

/* A class's pending update (hdl_class_t.eng). */
typedef struct eng_pending {
    eng_entry_t *e;
    size_t n, cap;
    int64_t last_flush_ms;
    int dirty;
} eng_pending_t;

struct eng_updates {
    uv_timer_t timer;
    int timer_on;         /* initialized and not yet closed */
    hdl_class_t **dirty;  /* classes with a pending update */
    size_t dirty_len, dirty_cap;
};

static void flush_class(hdl_t *h, hdl_class_t *cls, int64_t now)
{
    eng_pending_t *p = cls->eng;
    if (!p || !p->dirty)
        return;
    /* With Redis the class's staff may be on other instances. */
    if (h->clustered || h->host->has_staff(h->host->ud, cls->class_id)) {
        json_t *students = json_array();
        for (size_t i = 0; i < p->n; i++)
            json_array_append_new(students, p->e[i].row);
        json_t *data =
            json_pack("{s:s, s:o}", "class_id", cls->class_id, "students", students);
        hx_publish(h, cls->class_id, HOST_TO_STAFF, NULL, OUT_ENGAGEMENT_UPDATE, data);
        h->stats->engagement_updates++;
    } else {
        for (size_t i = 0; i < p->n; i++)
            json_decref(p->e[i].row);
    }
    p->n = 0;
    p->dirty = 0;
    p->last_flush_ms = now;
}

static void on_timer(uv_timer_t *t)
{
    hdl_t *h = t->data;
    eng_updates_t *u = h->upd;
    int64_t now = brk_now_ms();
    for (size_t i = 0; i < u->dirty_len; i++)
        flush_class(h, u->dirty[i], now);
    u->dirty_len = 0;
    uv_timer_stop(t);
}

void hdl__eng_note(hdl_t *h, const char *class_id, const char *student_id, json_t *row)
{
    hdl_class_t *cls = h->host->class_find(h->host->ud, class_id);
    if (!cls) {
        json_decref(row);
        return;
    }
    eng_pending_t *p = cls->eng;
    if (!p)
        p = cls->eng = brk_calloc(1, sizeof *p);
    size_t i = 0;
    while (i < p->n && strcmp(p->e[i].student_id, student_id) != 0)
        i++;
    if (i < p->n) {
        json_decref(p->e[i].row);
    } else {
        if (p->n == p->cap) {
            p->cap = p->cap ? p->cap * 2 : 8;
            p->e = brk_realloc(p->e, p->cap * sizeof *p->e);
        }
        snprintf(p->e[i].student_id, ST_ID, "%s", student_id);
        p->n++;
    }
    p->e[i].row = row;

    eng_updates_t *u = h->upd;
    int64_t now = brk_now_ms();
    int64_t interval = h->cfg->engagement_update_ms;
    if (!u || !u->timer_on) {
        /* Stopping (drain): the timer is closed; results still arriving go out at once. */
        p->dirty = 1;
        flush_class(h, cls, now);
        return;
    }
    if (!p->dirty && now - p->last_flush_ms >= interval) {
        p->dirty = 1;
        flush_class(h, cls, now); /* leading edge: the first change goes out at once */
        return;
    }
    if (!p->dirty) {
        p->dirty = 1;
        if (u->dirty_len == u->dirty_cap) {
            u->dirty_cap = u->dirty_cap ? u->dirty_cap * 2 : 16;
            u->dirty = brk_realloc(u->dirty, u->dirty_cap * sizeof *u->dirty);
        }
        u->dirty[u->dirty_len++] = cls;
    }
    if (!uv_is_active((uv_handle_t *)&u->timer)) {
        int64_t wait = p->last_flush_ms + interval - now;
        uv_timer_start(&u->timer, on_timer, (uint64_t)(wait > 1 ? wait : 1), 0);
    }
}

void hdl_class_gone(hdl_t *h, hdl_class_t *cls)
{
    eng_pending_t *p = cls->eng;
    if (!p)
        return;
    eng_updates_t *u = h ? h->upd : NULL;
    for (size_t i = 0; u && i < u->dirty_len; i++) {
        if (u->dirty[i] == cls) {
            u->dirty[i] = u->dirty[--u->dirty_len];
            break;
        }
    }
    for (size_t i = 0; i < p->n; i++)
        json_decref(p->e[i].row);
    free(p->e);
    free(p);
    cls->eng = NULL;
}

void hdl__eng_updates_start(hdl_t *h)
{
    eng_updates_t *u = h->upd = brk_calloc(1, sizeof *u);
    uv_timer_init(h->loop, &u->timer);
    u->timer.data = h;
    u->timer_on = 1;
}

static void on_timer_closed(uv_handle_t *t)
{
    (void)t;
}

void hdl__eng_updates_stop(hdl_t *h)
{
    eng_updates_t *u = h->upd;
    if (!u || !u->timer_on)
        return;
    u->timer_on = 0;
    uv_timer_stop(&u->timer);
    uv_close((uv_handle_t *)&u->timer, on_timer_closed);
}

void hdl__eng_updates_free(hdl_t *h)
{
    eng_updates_t *u = h->upd;
    if (!u)
        return;
    free(u->dirty);
    free(u);
    h->upd = NULL;
}

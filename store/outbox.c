/* SPDX-License-Identifier: MIT */
/* The outbox shipper, a small state machine on the loop thread:
 *
 *   IDLE --kick--> FETCH (journal: oldest unshipped day) --none--> IDLE
 *                  FETCH --day--> SHIP (sink: upserts) --ok--> MARK (journal: shipped_at)
 *                  MARK --ok--> FETCH (the next day)
 *   SHIP or MARK or FETCH failed --> WAIT (timer: backoff with jitter) --> FETCH
 *
 * Only one job is ever in flight, so a day is never shipped twice concurrently. A crash
 * between SHIP and MARK ships that day again after the restart: the upserts make that
 * harmless. */
#include "outbox.h"

#include "brk.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

#define OB_BACKOFF_MIN_MS 250
#define OB_BACKOFF_MAX_MS 10000
#define OB_SEEN_MAX 32

typedef enum { ST_IDLE, ST_FETCH, ST_SHIP, ST_MARK, ST_WAIT, ST_CLOSED } state_t;

struct ob {
    uv_loop_t *loop;
    jr_t *jr;
    mg_t *mg;
    uv_timer_t *timer; /* freed by its close callback */
    state_t st;
    int kicked; /* a kick arrived while a fetch was in flight */
    int inflight;
    uint32_t min_ms, max_ms;
    jr_result_t *day;           /* the day being shipped */
    uint64_t seen[OB_SEEN_MAX]; /* hashes of the errors logged since the last success */
    size_t nseen;
    ob_stats_t stats;
};

static void fetch(ob_t *ob);

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

/* Logs msg unless the same message was logged since the last success: an outage that
 * lasts an hour gives one line per distinct cause, not one per retry or record. */
static void log_once(ob_t *ob, const char *msg, size_t records)
{
    uint64_t h = hash(msg);
    for (size_t i = 0; i < ob->nseen; i++)
        if (ob->seen[i] == h)
            return;
    if (ob->nseen < OB_SEEN_MAX)
        ob->seen[ob->nseen++] = h;
    ob->stats.errors_logged++;
    LOG(WARN, 0, "mongodb shipping failed; will retry", "records=%zu reason=\"%s\"", records, msg);
}

static void on_timer(uv_timer_t *t)
{
    ob_t *ob = t->data;
    if (ob->st == ST_WAIT)
        fetch(ob);
}

static void fail(ob_t *ob, const char *msg, size_t records)
{
    ob->stats.healthy = 0;
    ob->stats.last_error_at_ms = brk_now_ms();
    snprintf(ob->stats.last_error, sizeof ob->stats.last_error, "%s", msg);
    log_once(ob, msg, records);
    uint32_t b = ob->stats.backoff_ms ? ob->stats.backoff_ms * 2 : ob->min_ms;
    if (b > ob->max_ms)
        b = ob->max_ms;
    ob->stats.backoff_ms = b;
    /* Jitter: wait between 3/4 and 5/4 of the backoff, so brokers that lost the same
     * server do not come back in lockstep. */
    uint32_t r = 0;
    brk_random(&r, sizeof r);
    uint64_t delay = (uint64_t)b * 3 / 4 + (b ? r % (b / 2 + 1) : 0);
    ob->st = ST_WAIT;
    uv_timer_start(ob->timer, on_timer, delay, 0);
}

static void succeed(ob_t *ob)
{
    if (!ob->stats.healthy && ob->stats.attempts > 0)
        LOG(INFO, 0, "mongodb shipping recovered", "last_error=\"%s\"", ob->stats.last_error);
    ob->stats.healthy = 1;
    ob->stats.backoff_ms = 0;
    ob->nseen = 0;
}

static void on_marked(jr_result_t *res, void *ud)
{
    ob_t *ob = ud;
    ob->inflight--;
    if (ob->st == ST_CLOSED) {
        jr_result_free(res);
        return;
    }
    if (res->err) {
        char msg[200];
        snprintf(msg, sizeof msg, "journal: %s", res->errmsg);
        jr_result_free(res);
        fail(ob, msg, ob->day ? ob->day->n : 0);
        jr_result_free(ob->day);
        ob->day = NULL;
        return;
    }
    jr_result_free(res);
    ob->stats.shipped_days++;
    ob->stats.shipped_records += ob->day->n;
    LOG(DEBUG, 0, "mongodb shipped", "class=%s session=%s records=%zu", ob->day->daily.class_id,
        ob->day->daily.session_id, ob->day->n);
    jr_result_free(ob->day);
    ob->day = NULL;
    fetch(ob);
}

static void on_shipped(const mg_ship_result_t *r, void *ud)
{
    ob_t *ob = ud;
    ob->inflight--;
    if (ob->st == ST_CLOSED)
        return;
    if (r->fail != MG_OK) {
        ob->stats.failures[r->fail]++;
        size_t n = ob->day->n;
        jr_result_free(ob->day);
        ob->day = NULL;
        fail(ob, r->errmsg, n);
        return;
    }
    succeed(ob);
    ob->st = ST_MARK;
    ob->inflight++;
    jr_outbox_mark_shipped(ob->jr, ob->day->daily.class_id, ob->day->daily.session_id, brk_now_ms(),
                           on_marked, ob);
}

static void on_fetched(jr_result_t *res, void *ud)
{
    ob_t *ob = ud;
    ob->inflight--;
    if (ob->st == ST_CLOSED) {
        jr_result_free(res);
        return;
    }
    if (res->err == BRK_ENOTFOUND) {
        jr_result_free(res);
        ob->st = ST_IDLE;
        if (ob->kicked)
            fetch(ob);
        return;
    }
    if (res->err) {
        char msg[200];
        snprintf(msg, sizeof msg, "journal: %s", res->errmsg);
        jr_result_free(res);
        fail(ob, msg, 0);
        return;
    }
    ob->day = res;
    ob->st = ST_SHIP;
    ob->stats.attempts++;
    ob->inflight++;
    mg_ship(ob->mg, &res->daily, res->records, res->n, on_shipped, ob);
}

static void fetch(ob_t *ob)
{
    ob->kicked = 0;
    ob->st = ST_FETCH;
    ob->inflight++;
    jr_outbox_next(ob->jr, on_fetched, ob);
}

static void on_commit(void *ud)
{
    ob_kick(ud);
}

void ob_kick(ob_t *ob)
{
    if (ob->st == ST_IDLE)
        fetch(ob);
    else if (ob->st == ST_FETCH)
        ob->kicked = 1;
    /* SHIP/MARK fetch again when done; WAIT keeps its backoff. */
}

ob_t *ob_new(uv_loop_t *loop, jr_t *j, mg_t *m, const ob_opts_t *opts)
{
    ob_t *ob = brk_calloc(1, sizeof *ob);
    ob->loop = loop;
    ob->jr = j;
    ob->mg = m;
    ob->min_ms = opts && opts->backoff_min_ms ? opts->backoff_min_ms : OB_BACKOFF_MIN_MS;
    ob->max_ms = opts && opts->backoff_max_ms ? opts->backoff_max_ms : OB_BACKOFF_MAX_MS;
    if (ob->max_ms < ob->min_ms)
        ob->max_ms = ob->min_ms;
    ob->stats.healthy = 1;
    ob->timer = brk_calloc(1, sizeof *ob->timer);
    int rc = uv_timer_init(loop, ob->timer);
    BRK_ASSERT(rc == 0);
    ob->timer->data = ob;
    jr_outbox_enable(j);
    jr_set_commit_hook(j, on_commit, ob);
    ob->st = ST_IDLE;
    fetch(ob); /* whatever an earlier run left unshipped */
    return ob;
}

void ob_get_stats(const ob_t *ob, ob_stats_t *out)
{
    *out = ob->stats;
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

void ob_shutdown(ob_t *ob)
{
    if (!ob || ob->st == ST_CLOSED)
        return;
    ob->st = ST_CLOSED;
    jr_set_commit_hook(ob->jr, NULL, NULL);
    uv_close((uv_handle_t *)ob->timer, on_timer_closed);
    ob->timer = NULL;
}

void ob_free(ob_t *ob)
{
    if (!ob)
        return;
    if (ob->timer) {
        uv_close((uv_handle_t *)ob->timer, on_timer_closed);
        ob->timer = NULL;
    }
    jr_result_free(ob->day);
    free(ob);
}

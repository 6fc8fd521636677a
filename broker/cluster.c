/* SPDX-License-Identifier: MIT */
/* The multi-instance glue (see cluster.h).
 *
 * Fan-out: an event is delivered to this instance's members directly (room_publish) and
 * published once on the class channel as "<instance> <to> <type>[ <subject>]\n<json>",
 * where subject is the student an event for ROOM_TO_SUBJECT is about. Every instance,
 * this one included, receives the publication; each delivers it to its own members except
 * the instance that published it, which recognises its id and skips it. So every local
 * recipient gets each event exactly once, local recipients are served without a Redis
 * round trip (and even when the publication fails), and a reply and the broadcast it caused
 * keep the same order as with the memory engine. The JSON is serialized once by the
 * publisher and wrapped as-is into one refcounted evt_msg_t on each receiving instance.
 *
 * Presence: a heartbeat key with a TTL (ROLLCALL_PRESENCE_TTL) says this instance lives;
 * the same timer sweeps instances whose key expired and publishes PRESENCE offline for
 * their students. After an outage this instance re-asserts the connections it holds
 * (st_redis_sync), since survivors may have swept it meanwhile. */
#include "cluster.h"

#include "brk.h"
#include "conn.h"
#include "hdl.h"
#include "log.h"
#include "rds.h"
#include "room.h"
#include "st_redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct clu {
    srv_t *srv;
    rds_client_t *rds;
    char inst[ST_REDIS_INSTANCE_ID];
    uv_timer_t timer; /* heartbeat and sweep */
    int64_t ttl_ms;
    int up;
    int was_up; /* Redis was reachable before: a later on_up follows an outage */
    int stopping;
    int sweeping;
};

#define CHAN_PREFIX "rc:{"
#define CHAN_SUFFIX "}:ch"
/* Roster changes: "<instance> <class_id>" whenever an instance changed a class's roster in
 * the shared account store; the others read that roster again. */
#define ROSTER_CHAN "rc:rosters"

static void channel_of(const char *class_id, char *out, size_t n)
{
    snprintf(out, n, CHAN_PREFIX "%s" CHAN_SUFFIX, class_id);
}

int clu_check_url(const char *url, char *err, size_t errlen)
{
    rds_url_t u;
    return rds_url_parse(url, &u, err, errlen);
}

int clu_ready(const srv_t *s)
{
    return !s->clu || s->clu->up;
}

/* ---- presence changes found by a sweep or a sync ---- */

static void on_changes(int err, const st_redis_change_t *ch, size_t n, void *ud)
{
    srv_t *s = ud;
    /* A sweep that stopped part way still reports the changes it made: no other instance
     * will, since they are done in Redis. */
    if (err)
        LOG(WARN, 0, "presence sweep failed", "err=\"%s\" changes=%zu", brk_strerror(err), n);
    for (size_t i = 0; i < n; i++) {
        if (!ch[i].online)
            s->m.redis_presence_swept++;
        LOG(INFO, 0, "presence changed by another instance's state", "class=%s student=%s online=%d",
            ch[i].class_id, ch[i].student_id, ch[i].online);
        hdl_presence_changed(s->hdl, ch[i].class_id, ch[i].student_id, ch[i].name, ch[i].online,
                             ch[i].online_students);
    }
}

static void on_sweep(int err, const st_redis_change_t *ch, size_t n, void *ud)
{
    srv_t *s = ud;
    if (s->clu)
        s->clu->sweeping = 0;
    on_changes(err, ch, n, ud);
}

static void sync_rooms(srv_t *s);

static void on_heartbeat(int err, int known, void *ud)
{
    srv_t *s = ud;
    clu_t *k = s->clu;
    if (err || !k || k->stopping)
        return;
    if (!known) {
        /* New, or swept as dead while Redis could not hear from us (an outage, or a loop
         * stalled past the TTL), or while our heartbeat was coming back during another
         * instance's sweep: tell Redis again who is connected here. Every sweep that removed
         * presence of ours makes the next heartbeat answer so once (rc:inst:<id>:swept),
         * even when a connection of ours registered us again before it. */
        LOG(INFO, 0, "presence asserted", "instance=%s", k->inst);
        sync_rooms(s);
    }
    if (k->sweeping)
        return;
    k->sweeping = 1;
    st_redis_sweep(s->st, on_sweep, s);
}

static void on_timer(uv_timer_t *t)
{
    srv_t *s = t->data;
    if (s->clu->up)
        st_redis_heartbeat(s->st, s->clu->ttl_ms, on_heartbeat, s);
}

static int cmp_conn_sub(const void *a, const void *b)
{
    return strcmp((*(conn_t *const *)a)->p.sub, (*(conn_t *const *)b)->p.sub);
}

/* Re-asserts the students connected here in every class, after (re)connecting. */
static void sync_rooms(srv_t *s)
{
    for (size_t b = 0; b < s->rooms_cap; b++) {
        for (room_t *r = s->rooms[b]; r; r = r->next) {
            size_t n = r->n_students;
            conn_t **v = n ? brk_malloc(n * sizeof *v) : NULL;
            if (n)
                memcpy(v, r->students, n * sizeof *v);
            if (n > 1)
                qsort(v, n, sizeof *v, cmp_conn_sub);
            const char **ids = brk_calloc(n + 1, sizeof *ids);
            const char **names = brk_calloc(n + 1, sizeof *names);
            int *counts = brk_calloc(n + 1, sizeof *counts);
            size_t k = 0;
            for (size_t i = 0; i < n; i++) {
                if (k > 0 && strcmp(ids[k - 1], v[i]->p.sub) == 0) {
                    counts[k - 1]++;
                    continue;
                }
                ids[k] = v[i]->p.sub;
                names[k] = v[i]->p.name;
                counts[k++] = 1;
            }
            st_redis_sync(s->st, r->class_id, k, ids, counts, names, brk_now_ms(), on_changes,
                          s);
            free(v);
            free(ids);
            free(names);
            free(counts);
        }
    }
}

/* ---- the client's callbacks ---- */

static void on_up(void *ud)
{
    srv_t *s = ud;
    clu_t *k = s->clu;
    int again = k->was_up;
    k->up = 1;
    k->was_up = 1;
    s->m.redis_up = 1;
    /* Roster changes published while this instance could not hear them are lost: after an
     * outage every roster is read again. */
    if (again)
        srv_rosters_stale(s);
    LOG(INFO, 0, "redis reachable: ready", "instance=%s", k->inst);
    /* Heartbeat first, so that no survivor sweeps what the sync is about to assert; the
     * sync follows unconditionally, since connections may have come and gone while
     * Redis could not record them. */
    st_redis_heartbeat(s->st, k->ttl_ms, NULL, NULL);
    sync_rooms(s);
}

static void on_down(const char *err, void *ud)
{
    srv_t *s = ud;
    s->clu->up = 0;
    s->m.redis_up = 0;
    s->m.redis_outages++;
    LOG(WARN, 0, "redis unreachable: not ready", "err=\"%s\"", err);
}

/* Another instance changed a class's roster: read it again from the shared store. */
static void on_roster_message(srv_t *s, const char *payload, size_t len)
{
    char buf[ST_REDIS_INSTANCE_ID + ST_ID + 2], inst[ST_REDIS_INSTANCE_ID], class_id[ST_ID];
    if (len >= sizeof buf)
        return;
    memcpy(buf, payload, len);
    buf[len] = '\0';
    if (sscanf(buf, "%32s %64s", inst, class_id) != 2 || strcmp(inst, s->clu->inst) == 0)
        return;
    s->m.redis_messages_in++;
    srv_roster_stale(s, class_id);
}

static void on_message(const char *channel, const char *payload, size_t len, void *ud)
{
    srv_t *s = ud;
    clu_t *k = s->clu;
    if (strcmp(channel, ROSTER_CHAN) == 0) {
        on_roster_message(s, payload, len);
        return;
    }
    size_t pl = strlen(CHAN_PREFIX), sl = strlen(CHAN_SUFFIX), cl = strlen(channel);
    const char *nl = memchr(payload, '\n', len);
    if (!nl || cl <= pl + sl || (size_t)(nl - payload) >= 128)
        return;
    char head[128], inst[ST_REDIS_INSTANCE_ID], subject[ST_ID];
    memcpy(head, payload, (size_t)(nl - payload));
    head[nl - payload] = '\0';
    int to, type;
    int fields = sscanf(head, "%32s %d %d %64s", inst, &to, &type, subject);
    if (fields < 3 || type < 0 || type >= OUT__COUNT)
        return;
    /* An event about one student without its subject reaches nobody but staff. */
    if (fields < 4)
        to &= ~ROOM_TO_SUBJECT;
    if ((to & ROOM_TO_SUBJECT) && (to & ROOM_TO_STUDENTS))
        return;
    if (strcmp(inst, k->inst) == 0)
        return; /* our own publication: its local members were served when it was sent */
    char class_id[ST_ID];
    size_t n = cl - pl - sl;
    if (n >= sizeof class_id)
        return;
    memcpy(class_id, channel + pl, n);
    class_id[n] = '\0';
    s->m.redis_messages_in++;
    room_t *room = room_find(s, class_id);
    if (!room)
        return;
    const char *json = nl + 1;
    if (type == OUT_SESSION_STARTED)
        hdl_session_began(s->hdl, class_id); /* students' frames count at once */
    evt_msg_t *m = msg_new_raw((out_type_t)type, json, len - (size_t)(json - payload));
    room_broadcast(room, m, to, (to & ROOM_TO_SUBJECT) ? subject : NULL, NULL);
    msg_unref(m);
}

static void on_published(const redisReply *reply, const char *err, void *ud)
{
    srv_t *s = ud;
    (void)reply;
    if (err) {
        s->m.redis_publish_failed++;
        LOG(DEBUG, 0, "publish failed", "err=\"%s\"", err);
    }
}

void clu_publish(srv_t *s, const char *class_id, const evt_msg_t *m, int to, const char *subject)
{
    clu_t *k = s->clu;
    if (!k || k->stopping)
        return;
    char chan[ST_ID + 16], head[128];
    channel_of(class_id, chan, sizeof chan);
    int hl = subject ? snprintf(head, sizeof head, "%s %d %d %s\n", k->inst, to, (int)m->type,
                                subject)
                     : snprintf(head, sizeof head, "%s %d %d\n", k->inst, to, (int)m->type);
    size_t len = (size_t)hl + m->len;
    char *buf = brk_malloc(len);
    memcpy(buf, head, (size_t)hl);
    memcpy(buf + hl, m->payload, m->len);
    const char *argv[3] = {"PUBLISH", chan, buf};
    size_t lens[3] = {7, strlen(chan), len};
    rds_command_argv(k->rds, on_published, s, 3, argv, lens);
    free(buf);
}

void clu_rosters_watch(srv_t *s)
{
    if (s->clu && !s->clu->stopping)
        rds_subscribe(s->clu->rds, ROSTER_CHAN);
}

void clu_roster_changed(srv_t *s, const char *class_id)
{
    clu_t *k = s->clu;
    if (!k || k->stopping)
        return;
    char msg[ST_REDIS_INSTANCE_ID + ST_ID + 2];
    int n = snprintf(msg, sizeof msg, "%s %s", k->inst, class_id);
    const char *argv[3] = {"PUBLISH", ROSTER_CHAN, msg};
    size_t lens[3] = {7, strlen(ROSTER_CHAN), (size_t)n};
    rds_command_argv(k->rds, on_published, s, 3, argv, lens);
}

void clu_room_opened(srv_t *s, const char *class_id)
{
    if (!s->clu || s->clu->stopping)
        return;
    char chan[ST_ID + 16];
    channel_of(class_id, chan, sizeof chan);
    rds_subscribe(s->clu->rds, chan);
}

void clu_room_closed(srv_t *s, const char *class_id)
{
    if (!s->clu || s->clu->stopping)
        return;
    char chan[ST_ID + 16];
    channel_of(class_id, chan, sizeof chan);
    rds_unsubscribe(s->clu->rds, chan);
}

/* ---- life cycle ---- */

int clu_start(srv_t *s)
{
    clu_t *k = brk_calloc(1, sizeof *k);
    k->srv = s;
    k->ttl_ms = (int64_t)s->cfg->presence_ttl * 1000;
    unsigned char rnd[16];
    if (brk_random(rnd, sizeof rnd) != 0) {
        free(k);
        return BRK_EIO;
    }
    brk_hex(rnd, sizeof rnd, k->inst);
    rds_opts_t o = {.on_up = on_up,
                    .on_down = on_down,
                    .on_message = on_message,
                    .ud = s,
                    .backoff_min_ms = 100,
                    .backoff_max_ms = 2000,
                    .connect_timeout_ms = 2000};
    int rc = rds_client_new(s->loop, s->cfg->redis_url, &o, &k->rds);
    if (rc) {
        free(k);
        return rc;
    }
    s->clu = k;
    s->st = st_redis_new(k->rds, k->inst);
    s->m.redis_enabled = 1;
    uv_timer_init(s->loop, &k->timer);
    k->timer.data = s;
    uint64_t every = (uint64_t)(k->ttl_ms / 3 > 100 ? k->ttl_ms / 3 : 100);
    uv_timer_start(&k->timer, on_timer, every, every);
    LOG(INFO, 0, "live state in redis", "instance=%s presence_ttl_s=%d", k->inst,
        s->cfg->presence_ttl);
    return 0;
}

static void on_timer_closed(uv_handle_t *h)
{
    (void)h;
}

static void on_rds_closed(void *ud)
{
    srv_t *s = ud;
    s->clu->rds = NULL;
}

void clu_stop(srv_t *s)
{
    clu_t *k = s->clu;
    if (!k || k->stopping)
        return;
    k->stopping = 1;
    k->up = 0;
    uv_timer_stop(&k->timer);
    uv_close((uv_handle_t *)&k->timer, on_timer_closed);
    rds_client_close(k->rds, on_rds_closed);
}

void clu_free(srv_t *s)
{
    if (!s->clu)
        return;
    BRK_ASSERT(s->clu->rds == NULL);
    free(s->clu);
    s->clu = NULL;
}

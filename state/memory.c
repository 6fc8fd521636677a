/* SPDX-License-Identifier: MIT */
/* The in-process live-state engine: a chained hash table of classes keyed by class_id, each
 * holding today's session and a student table sorted by student_id. It is the embedded
 * default for a single broker instance. Every operation runs on the loop thread, takes no
 * locks and invokes its callback synchronously, before the function returns; a callback may
 * call back into the engine. Days roll over lazily: an operation that sees a class whose
 * date is not today's (and whose session is not active) first turns it into a fresh day,
 * except that a session finalized after midnight stays readable that day (see is_past). */
#include "brk.h"
#include "state.h"
#include "state_int.h"

#include <stdlib.h>
#include <string.h>

/* Bounds one class's student table (about 3.5 MB at the limit); a new student past it gets
 * BRK_ENOMEM. */
#define ST_MAX_STUDENTS 10000
#define ST_MIN_BUCKETS 16

typedef struct cls {
    struct cls *next; /* hash chain */
    uint64_t hash;
    st_session_t session;   /* session.class_id is the key */
    st_student_t *students; /* sorted by student_id */
    size_t n, cap;
    int n_online; /* students with online > 0 */
} cls_t;

typedef struct mem_st {
    st_t base; /* first: the engine is reached through st_t */
    cls_t **buckets;
    size_t nbuckets; /* a power of two */
    size_t count;
    size_t max_classes;
} mem_st_t;


static uint64_t hash_str(const char *s)
{
    uint64_t h = 14695981039346656037ULL; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void today(int64_t now_ms, char out[11])
{
    brk_date(now_ms, out, 11);
}

static void mem_claim(st_t *base, const char *class_id, const char *session_id, st_claim_cb cb,
                      void *ud);
static const st_ops_t mem_ops;

st_t *st_memory_new(size_t max_classes)
{
    mem_st_t *st = brk_calloc(1, sizeof(*st));
    st->base.ops = &mem_ops;
    st->nbuckets = ST_MIN_BUCKETS;
    st->buckets = brk_calloc(st->nbuckets, sizeof(*st->buckets));
    st->max_classes = max_classes;
    return &st->base;
}

static void cls_free(cls_t *c)
{
    free(c->students);
    free(c);
}

static void mem_free(st_t *base)
{
    mem_st_t *st = (mem_st_t *)base;
    if (!st)
        return;
    for (size_t i = 0; i < st->nbuckets; i++) {
        cls_t *c = st->buckets[i];
        while (c) {
            cls_t *next = c->next;
            cls_free(c);
            c = next;
        }
    }
    free(st->buckets);
    free(st);
}

static cls_t *find_class(const mem_st_t *st, const char *class_id)
{
    uint64_t h = hash_str(class_id);
    for (cls_t *c = st->buckets[h & (st->nbuckets - 1)]; c; c = c->next)
        if (c->hash == h && strcmp(c->session.class_id, class_id) == 0)
            return c;
    return NULL;
}

static void unlink_class(mem_st_t *st, cls_t *victim)
{
    cls_t **pp = &st->buckets[victim->hash & (st->nbuckets - 1)];
    while (*pp != victim)
        pp = &(*pp)->next;
    *pp = victim->next;
    st->count--;
    cls_free(victim);
}

static void grow(mem_st_t *st)
{
    size_t nb = st->nbuckets * 2;
    cls_t **b = brk_calloc(nb, sizeof(*b));
    for (size_t i = 0; i < st->nbuckets; i++) {
        cls_t *c = st->buckets[i];
        while (c) {
            cls_t *next = c->next;
            c->next = b[c->hash & (nb - 1)];
            b[c->hash & (nb - 1)] = c;
            c = next;
        }
    }
    free(st->buckets);
    st->buckets = b;
    st->nbuckets = nb;
}

/* Whether the class belongs to a past day as of day. An active session keeps its date until
 * it is finalized, so a class running past midnight is finalized as the day it started.
 * Such a session, finalized after midnight, stays readable for the rest of the day it was
 * finalized on: DONE re-reads the view right after freezing the session, and must find the
 * frozen session rather than an empty new day. A write that needs today's session (open,
 * mark) passes for_write and starts the new day at once. */
static int is_past(const cls_t *c, const char *day, int for_write)
{
    const st_session_t *s = &c->session;
    if (s->state == ST_SESSION_ACTIVE || strcmp(s->date, day) == 0)
        return 0;
    if (s->state == ST_SESSION_FINALIZED && !for_write) {
        char ended[11];
        today(s->ended_at_ms, ended);
        return strcmp(ended, day) != 0;
    }
    return 1;
}

/* Starts a fresh day when the class belongs to a past one: online students stay with their
 * day's data cleared, everyone else is dropped. */
static void roll_over(cls_t *c, int64_t now_ms, int for_write)
{
    char day[11];
    today(now_ms, day);
    if (!is_past(c, day, for_write))
        return;

    char class_id[ST_ID];
    memcpy(class_id, c->session.class_id, ST_ID);
    memset(&c->session, 0, sizeof(c->session));
    memcpy(c->session.class_id, class_id, ST_ID);
    memcpy(c->session.date, day, sizeof(c->session.date));
    c->session.state = ST_SESSION_NONE;

    size_t kept = 0;
    for (size_t i = 0; i < c->n; i++) {
        st_student_t *s = &c->students[i];
        if (s->online <= 0)
            continue;
        st_student_t fresh = {0};
        memcpy(fresh.student_id, s->student_id, ST_ID);
        memcpy(fresh.name, s->name, ST_NAME);
        fresh.online = s->online;
        fresh.first_seen_ms = now_ms;
        c->students[kept++] = fresh; /* kept <= i, order is preserved */
    }
    c->n = kept;
}

/* A class that an operation would roll over to an empty day is indistinguishable from an
 * unknown class, so it may be reclaimed when the table is full. */
static int is_stale(const cls_t *c, const char *day)
{
    return is_past(c, day, 0) && c->n_online == 0;
}

static void reclaim_stale(mem_st_t *st, int64_t now_ms)
{
    char day[11];
    today(now_ms, day);
    for (size_t i = 0; i < st->nbuckets; i++) {
        cls_t *c = st->buckets[i];
        while (c) {
            cls_t *next = c->next;
            if (is_stale(c, day))
                unlink_class(st, c);
            c = next;
        }
    }
}

/* Returns the class rolled over to now_ms's day (see is_past for for_write), creating it
 * when create is set. *err is BRK_ENOMEM when the table is full; NULL with *err == 0 means
 * unknown and not created. */
static cls_t *get_class(mem_st_t *st, const char *class_id, int64_t now_ms, int create, int for_write,
                        int *err)
{
    *err = 0;
    cls_t *c = find_class(st, class_id);
    if (c) {
        roll_over(c, now_ms, for_write);
        return c;
    }
    if (!create)
        return NULL;
    if (st->count >= st->max_classes) {
        reclaim_stale(st, now_ms);
        if (st->count >= st->max_classes) {
            *err = BRK_ENOMEM;
            return NULL;
        }
    }
    if (st->count >= st->nbuckets)
        grow(st);
    c = brk_calloc(1, sizeof(*c));
    c->hash = hash_str(class_id);
    st__copy_str(c->session.class_id, ST_ID, class_id);
    today(now_ms, c->session.date);
    c->session.state = ST_SESSION_NONE;
    size_t b = c->hash & (st->nbuckets - 1);
    c->next = st->buckets[b];
    st->buckets[b] = c;
    st->count++;
    return c;
}

/* Binary search; returns the student or NULL and sets *pos to the insertion point. */
static st_student_t *find_student(const cls_t *c, const char *student_id, size_t *pos)
{
    size_t lo = 0, hi = c->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int r = strcmp(c->students[mid].student_id, student_id);
        if (r == 0) {
            *pos = mid;
            return &c->students[mid];
        }
        if (r < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return NULL;
}

/* Inserts a new student at pos (from find_student); NULL when the class is full. */
static st_student_t *insert_student(cls_t *c, size_t pos, const char *student_id, const char *name,
                                    int64_t now_ms)
{
    if (c->n >= ST_MAX_STUDENTS)
        return NULL;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        if (cap > ST_MAX_STUDENTS)
            cap = ST_MAX_STUDENTS;
        c->students = brk_realloc(c->students, cap * sizeof(*c->students));
        c->cap = cap;
    }
    memmove(&c->students[pos + 1], &c->students[pos], (c->n - pos) * sizeof(*c->students));
    c->n++;
    st_student_t *s = &c->students[pos];
    memset(s, 0, sizeof(*s));
    st__copy_str(s->student_id, ST_ID, student_id);
    st__copy_str(s->name, ST_NAME, name);
    s->first_seen_ms = now_ms;
    return s;
}

static int open_session(cls_t *c, const char *teacher_id, int64_t now_ms)
{
    unsigned char rnd[16];
    int rc = brk_random(rnd, sizeof(rnd));
    if (rc != 0)
        return rc;
    st_session_t *s = &c->session;
    brk_hex(rnd, sizeof(rnd), s->session_id);
    st__copy_str(s->teacher_id, ST_ID, teacher_id);
    s->state = ST_SESSION_ACTIVE;
    s->started_at_ms = now_ms;
    s->ended_at_ms = 0;
    return 0;
}

/* Callbacks get a copy of the session so that a callback re-entering the engine cannot
 * invalidate what it was handed. */
static void session_done(st_session_cb cb, void *ud, int err, const cls_t *c, int created)
{
    if (!cb)
        return;
    if (!c) {
        cb(err, NULL, created, ud);
        return;
    }
    st_session_t copy = c->session;
    cb(err, &copy, created, ud);
}

static void mem_session_open(st_t *base, const char *class_id, const char *teacher_id, int64_t now_ms,
                     st_session_cb cb, void *ud)
{
    mem_st_t *st = (mem_st_t *)base;
    if (!st__valid_id(class_id)) {
        session_done(cb, ud, BRK_EINVAL, NULL, 0);
        return;
    }
    int err;
    cls_t *c = get_class(st, class_id, now_ms, 1, 1, &err);
    if (!c) {
        session_done(cb, ud, err, NULL, 0);
        return;
    }
    switch (c->session.state) {
    case ST_SESSION_ACTIVE:
        session_done(cb, ud, 0, c, 0);
        return;
    case ST_SESSION_FINALIZED:
        session_done(cb, ud, BRK_ESTATE, c, 0);
        return;
    case ST_SESSION_NONE:
        break;
    }
    err = open_session(c, teacher_id, now_ms);
    session_done(cb, ud, err, err ? NULL : c, err ? 0 : 1);
}

static void mem_mark(st_t *base, const char *class_id, const char *student_id, const char *name,
             st_mark_t mark, const char *by, int64_t now_ms, st_session_cb cb, void *ud)
{
    mem_st_t *st = (mem_st_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) ||
        (mark != ST_MARK_PRESENT && mark != ST_MARK_ABSENT && mark != ST_MARK_LATE)) {
        session_done(cb, ud, BRK_EINVAL, NULL, 0);
        return;
    }
    int err;
    cls_t *c = get_class(st, class_id, now_ms, 1, 1, &err);
    if (!c) {
        session_done(cb, ud, err, NULL, 0);
        return;
    }
    if (c->session.state == ST_SESSION_FINALIZED) {
        session_done(cb, ud, BRK_ESTATE, c, 0);
        return;
    }
    /* Find or add the student before opening the session, so that a full class refuses the
     * mark without side effects. */
    size_t pos;
    st_student_t *s = find_student(c, student_id, &pos);
    if (!s) {
        s = insert_student(c, pos, student_id, name, now_ms);
        if (!s) {
            session_done(cb, ud, BRK_ENOMEM, NULL, 0);
            return;
        }
    } else if (name && name[0]) {
        st__copy_str(s->name, ST_NAME, name);
    }
    int created = 0;
    if (c->session.state == ST_SESSION_NONE) {
        err = open_session(c, by, now_ms);
        if (err) {
            session_done(cb, ud, err, NULL, 0);
            return;
        }
        created = 1;
    }
    s->mark = mark;
    st__copy_str(s->marked_by, ST_ID, by);
    s->marked_at_ms = now_ms;
    session_done(cb, ud, 0, c, created);
}

static void mem_presence(st_t *base, const char *class_id, const char *student_id, const char *name,
                 int delta, int64_t now_ms, st_presence_cb cb, void *ud)
{
    mem_st_t *st = (mem_st_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) || (delta != 1 && delta != -1)) {
        if (cb)
            cb(BRK_EINVAL, 0, 0, ud);
        return;
    }
    int err;
    /* A leave never creates a class: it can only concern a student already known. */
    cls_t *c = get_class(st, class_id, now_ms, delta > 0, 0, &err);
    if (!c) {
        if (cb)
            cb(err, 0, 0, ud);
        return;
    }
    size_t pos;
    st_student_t *s = find_student(c, student_id, &pos);
    int changed = 0;
    if (delta > 0) {
        if (!s) {
            s = insert_student(c, pos, student_id, name, now_ms);
            if (!s) {
                if (cb)
                    cb(BRK_ENOMEM, 0, c->n_online, ud);
                return;
            }
        }
        if (s->online++ == 0) {
            changed = 1;
            c->n_online++;
        }
    } else if (s && s->online > 0) {
        if (--s->online == 0) {
            changed = 1;
            c->n_online--;
        }
    }
    if (s && name && name[0])
        st__copy_str(s->name, ST_NAME, name);
    if (cb)
        cb(0, changed, c->n_online, ud);
}

static void mem_view(st_t *base, const char *class_id, int64_t now_ms, st_view_cb cb, void *ud)
{
    mem_st_t *st = (mem_st_t *)base;
    if (!cb)
        return;
    st_view_t v;
    memset(&v, 0, sizeof(v));
    if (!st__valid_id(class_id)) {
        cb(BRK_EINVAL, NULL, ud);
        return;
    }
    int err;
    cls_t *c = get_class(st, class_id, now_ms, 0, 0, &err);
    if (c) {
        v.session = c->session;
        v.n = c->n;
        v.students = c->students;
    } else {
        st__copy_str(v.session.class_id, ST_ID, class_id);
        today(now_ms, v.session.date);
        v.session.state = ST_SESSION_NONE;
    }
    cb(0, &v, ud);
}

static void on_view_session(int err, const st_view_t *v, void *ud)
{
    const struct {
        st_session_cb cb;
        void *ud;
    } *k = ud;
    k->cb(err, v ? &v->session : NULL, 0, k->ud);
}

static void mem_session_get(st_t *base, const char *class_id, int64_t now_ms, st_session_cb cb,
                            void *ud)
{
    if (!cb)
        return;
    struct {
        st_session_cb cb;
        void *ud;
    } k = {cb, ud};
    mem_view(base, class_id, now_ms, on_view_session, &k); /* synchronous */
}

static void mem_engage(st_t *base, const char *class_id, const char *student_id, const char *name,
                       const st_frame_t *f, int64_t now_ms, st_student_cb cb, void *ud)
{
    mem_st_t *st = (mem_st_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) || !st__valid_frame(f)) {
        if (cb)
            cb(BRK_EINVAL, NULL, NULL, ud);
        return;
    }
    int err;
    cls_t *c = get_class(st, class_id, now_ms, 0, 0, &err);
    if (!c || c->session.state != ST_SESSION_ACTIVE) {
        if (cb)
            cb(c ? BRK_ESTATE : (err ? err : BRK_ESTATE), NULL, NULL, ud);
        return;
    }
    size_t pos;
    st_student_t *s = find_student(c, student_id, &pos);
    if (!s) {
        s = insert_student(c, pos, student_id, name, now_ms);
        if (!s) {
            if (cb)
                cb(BRK_ENOMEM, NULL, NULL, ud);
            return;
        }
    }
    s->engaged_seconds += st__frame_credit(f, s->last_frame_ms);
    s->frames_analyzed++;
    if (f->at_ms > s->last_frame_ms)
        s->last_frame_ms = f->at_ms;
    switch (f->viol) {
    case ST_VIOL_NO_FACE:
        s->violations_no_face++;
        break;
    case ST_VIOL_MULTI_FACE:
        s->violations_multi_face++;
        break;
    case ST_VIOL_LOOKING_AWAY:
        s->violations_looking_away++;
        break;
    case ST_VIOL_NONE:
        break;
    }
    if (cb) {
        st_session_t sc = c->session;
        st_student_t copy = *s;
        cb(0, &sc, &copy, ud);
    }
}

/* No roll-over here: a repeated finalize of yesterday's session must still find it. */
static void mem_finalized(st_t *base, const char *class_id, const char *session_id, int64_t ended_at_ms,
                  st_session_cb cb, void *ud)
{
    mem_st_t *st = (mem_st_t *)base;
    if (!st__valid_id(class_id) || !session_id) {
        session_done(cb, ud, BRK_EINVAL, NULL, 0);
        return;
    }
    cls_t *c = find_class(st, class_id);
    if (!c) {
        if (cb) {
            st_session_t none;
            memset(&none, 0, sizeof(none));
            st__copy_str(none.class_id, ST_ID, class_id);
            today(ended_at_ms, none.date);
            cb(BRK_ESTATE, &none, 0, ud);
        }
        return;
    }
    st_session_t *s = &c->session;
    if (s->state == ST_SESSION_NONE || strcmp(s->session_id, session_id) != 0) {
        session_done(cb, ud, BRK_ESTATE, c, 0);
        return;
    }
    if (s->state == ST_SESSION_ACTIVE) {
        s->state = ST_SESSION_FINALIZED;
        s->ended_at_ms = ended_at_ms;
    }
    session_done(cb, ud, 0, c, 0);
}

/* One process is the only instance: the journal already tells a first finalize from a
 * repeated one, so every claim is granted. */
static void mem_claim(st_t *base, const char *class_id, const char *session_id, st_claim_cb cb,
                      void *ud)
{
    (void)base;
    (void)class_id;
    (void)session_id;
    if (cb)
        cb(0, 1, ud);
}

static const st_ops_t mem_ops = {
    .free = mem_free,
    .session_open = mem_session_open,
    .mark = mem_mark,
    .presence = mem_presence,
    .view = mem_view,
    .session_get = mem_session_get,
    .finalized = mem_finalized,
    .engage = mem_engage,
    .claim = mem_claim,
};

const char *st_mark_name(st_mark_t m)
{
    switch (m) {
    case ST_MARK_PRESENT:
        return "present";
    case ST_MARK_ABSENT:
        return "absent";
    case ST_MARK_LATE:
        return "late";
    case ST_MARK_NONE:
        break;
    }
    return "unmarked";
}

const char *st_violation_name(st_violation_t v)
{
    switch (v) {
    case ST_VIOL_NO_FACE:
        return "no_face";
    case ST_VIOL_MULTI_FACE:
        return "multi_face";
    case ST_VIOL_LOOKING_AWAY:
        return "looking_away";
    case ST_VIOL_NONE:
        break;
    }
    return "none";
}

int st_parse_mark(const char *s, st_mark_t *out)
{
    if (!s)
        return BRK_EINVAL;
    if (strcmp(s, "present") == 0)
        *out = ST_MARK_PRESENT;
    else if (strcmp(s, "absent") == 0)
        *out = ST_MARK_ABSENT;
    else if (strcmp(s, "late") == 0)
        *out = ST_MARK_LATE;
    else
        return BRK_EINVAL;
    return 0;
}

/* SPDX-License-Identifier: MIT */
/* The Redis live-state engine (see st_redis.h for the key layout). Each st_* operation is
 * one Lua script, so every decision that depends on what is stored (is the session frozen?
 * is this the first connection of the student anywhere?) is taken inside Redis, atomically
 * with the write. Day roll-over follows the memory engine (state/memory.c, is_past). The
 * scripts are the files of redis/lua, embedded at build time (st_redis_lua.h). This file
 * builds the key names and passes them in KEYS, the instance id in ARGV: no script builds
 * a key name itself. The sweep, which must first find out which keys it will touch, reads
 * them with plain commands and then runs one script per class (see "the sweep" below).
 * Every key of a class carries the hash tag {class_id}. */
#include "st_redis.h"

#include "brk.h"
#include "log.h"
#include "st_redis_lua.h"
#include "state_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scripts ---- */

/* The scripts this file runs, by their file name in redis/lua (see st_redis_lua.h). */
typedef enum {
    SC_OPEN = 0,
    SC_MARK,
    SC_PRESENCE,
    SC_VIEW,
    SC_FINALIZE,
    SC_ENGAGE,
    SC_SYNC,
    SC_HEARTBEAT,
    SC_SWEEP_CLASS,
    SC_SESSION,
    SC__COUNT
} script_t;

static const char *const script_name[SC__COUNT] = {
    [SC_OPEN] = "open",       [SC_MARK] = "mark",           [SC_PRESENCE] = "presence",
    [SC_VIEW] = "view",       [SC_FINALIZE] = "finalize",   [SC_ENGAGE] = "engage",
    [SC_SYNC] = "sync",       [SC_HEARTBEAT] = "heartbeat", [SC_SESSION] = "session",
    [SC_SWEEP_CLASS] = "sweep_class",
};

/* The keys a script declares, in KEYS order. Every class script starts with the three of
 * redis/lua/prelude/class.lua; presence.lua and sync.lua add the four presence keys of
 * their instance. */
enum { K_SESS, K_STU, K_ONLINE, K_PRES, K_INSTS, K_INST_CLASSES, K_INSTANCES, K__MAX };
#define CLASS_KEYS 3
#define KEY_LEN (ST_ID + ST_REDIS_INSTANCE_ID + 32)

typedef struct keys {
    char buf[K__MAX][KEY_LEN];
    const char *ptr[K__MAX];
} keys_t;

typedef struct rst {
    st_t base;
    rds_client_t *rds;
    char inst[ST_REDIS_INSTANCE_ID];
    const st_redis__script_t *script[SC__COUNT]; /* from st_redis__scripts[] */
} rst_t;

typedef enum { OP_OPEN, OP_MARK, OP_SESSION, OP_PRESENCE, OP_VIEW, OP_FINAL, OP_ENGAGE, OP_CLAIM, OP_HB,
               OP_SWEEP_CLASS, OP_SYNC } op_t;

typedef struct rreq {
    rst_t *e;
    op_t op;
    script_t script;
    int retried;
    int argc;
    int args_at; /* the index in argv of ARGV[1] */
    char **argv; /* EVALSHA sha numkeys keys... args... (owned copies) */
    size_t *lens;
    union {
        st_session_cb ses;
        st_presence_cb pres;
        st_view_cb view;
        st_student_cb stu;
        st_claim_cb claim;
        st_redis_heartbeat_cb hb;
        st_redis_changes_cb changes;
    } cb;
    /* OP_SWEEP_CLASS: ud is the sweep's class record (sweep_class_t). */
    void *ud;
    char class_id[ST_ID];
    int64_t now_ms;
} rreq_t;

/* ---- helpers ---- */

static void today(int64_t now_ms, char out[11])
{
    brk_date(now_ms, out, 11);
}

static void req_free(rreq_t *q)
{
    for (int i = 0; i < q->argc; i++)
        free(q->argv[i]);
    free(q->argv);
    free(q->lens);
    free(q);
}

static rreq_t *req_new(rst_t *e, op_t op, const char *class_id, int64_t now_ms, void *ud)
{
    rreq_t *q = brk_calloc(1, sizeof *q);
    q->e = e;
    q->op = op;
    q->ud = ud;
    q->now_ms = now_ms;
    st__copy_str(q->class_id, sizeof q->class_id, class_id);
    return q;
}

static void on_reply(const redisReply *reply, const char *err, void *ud);

static void send_req(rreq_t *q)
{
    rds_command_argv(q->e->rds, on_reply, q, q->argc, (const char **)q->argv, q->lens);
}

/* Runs script sc through EVALSHA with nkeys keys and nargs args (C strings, copied). */
static void run_script(rreq_t *q, script_t sc, int nkeys, const char *const *keys, int nargs,
                       const char *const *args)
{
    rst_t *e = q->e;
    char nk[16];
    snprintf(nk, sizeof nk, "%d", nkeys);
    q->script = sc;
    q->args_at = 3 + nkeys;
    q->argc = q->args_at + nargs;
    q->argv = brk_calloc((size_t)q->argc, sizeof *q->argv);
    q->lens = brk_calloc((size_t)q->argc, sizeof *q->lens);
    q->argv[0] = brk_strdup("EVALSHA");
    q->argv[1] = brk_strdup(e->script[sc]->sha);
    q->argv[2] = brk_strdup(nk);
    for (int i = 0; i < nkeys; i++)
        q->argv[3 + i] = brk_strdup(keys[i]);
    for (int i = 0; i < nargs; i++)
        q->argv[q->args_at + i] = brk_strdup(args[i]);
    for (int i = 0; i < q->argc; i++)
        q->lens[i] = strlen(q->argv[i]);
    send_req(q);
}

/* Fills k with the keys of class_id that every class script declares first
 * (redis/lua/prelude/class.lua) and, when inst is not NULL, the presence keys of instance
 * inst that presence.lua and sync.lua declare next. Returns how many. */
static int class_keys(keys_t *k, const char *class_id, const char *inst)
{
    snprintf(k->buf[K_SESS], KEY_LEN, "rc:{%s}:sess", class_id);
    snprintf(k->buf[K_STU], KEY_LEN, "rc:{%s}:stu", class_id);
    snprintf(k->buf[K_ONLINE], KEY_LEN, "rc:{%s}:online", class_id);
    int n = CLASS_KEYS;
    if (inst) {
        snprintf(k->buf[K_PRES], KEY_LEN, "rc:{%s}:pres:%s", class_id, inst);
        snprintf(k->buf[K_INSTS], KEY_LEN, "rc:{%s}:insts", class_id);
        snprintf(k->buf[K_INST_CLASSES], KEY_LEN, "rc:inst:%s:classes", inst);
        snprintf(k->buf[K_INSTANCES], KEY_LEN, "rc:instances");
        n = K__MAX;
    }
    for (int i = 0; i < n; i++)
        k->ptr[i] = k->buf[i];
    return n;
}

static int64_t int_of(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return (int64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return (int64_t)strtoll(r->str, NULL, 10);
    return 0;
}

static const char *str_of(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? r->str : "";
}

static int code_err(int64_t code)
{
    switch (code) {
    case 0: return 0;
    case -1: return BRK_ESTATE;
    case -2: return BRK_ENOMEM;
    default: return BRK_EIO;
    }
}

/* Fills s from a packed session {date, state, id, teacher, started, ended}. */
static int parse_session(const redisReply *p, const char *class_id, int64_t now_ms,
                         st_session_t *s)
{
    memset(s, 0, sizeof *s);
    st__copy_str(s->class_id, sizeof s->class_id, class_id);
    if (!p || p->type != REDIS_REPLY_ARRAY || p->elements < 6)
        return BRK_EIO;
    st__copy_str(s->date, sizeof s->date, str_of(p->element[0]));
    if (!s->date[0])
        today(now_ms, s->date);
    int64_t state = int_of(p->element[1]);
    s->state = state == 1 ? ST_SESSION_ACTIVE
                          : state == 2 ? ST_SESSION_FINALIZED : ST_SESSION_NONE;
    if (s->state != ST_SESSION_NONE) {
        st__copy_str(s->session_id, sizeof s->session_id, str_of(p->element[2]));
        st__copy_str(s->teacher_id, sizeof s->teacher_id, str_of(p->element[3]));
        s->started_at_ms = int_of(p->element[4]);
        s->ended_at_ms = int_of(p->element[5]);
    }
    return 0;
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? (int64_t)json_number_value(v) : 0;
}

/* Fills st from a stored student record. */
static int parse_student(const char *sid, const char *json, size_t len, int64_t online,
                         st_student_t *st)
{
    memset(st, 0, sizeof *st);
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return BRK_EIO;
    }
    st__copy_str(st->student_id, sizeof st->student_id, sid);
    st__copy_str(st->name, sizeof st->name, json_string_value(json_object_get(o, "n")));
    int64_t m = jint(o, "m");
    st->mark = m >= ST_MARK_PRESENT && m <= ST_MARK_LATE ? (st_mark_t)m : ST_MARK_NONE;
    st__copy_str(st->marked_by, sizeof st->marked_by, json_string_value(json_object_get(o, "mb")));
    st->marked_at_ms = jint(o, "ma");
    st->online = (int)online;
    st->first_seen_ms = jint(o, "fs");
    const json_t *e = json_object_get(o, "e");
    st->engaged_seconds = json_is_number(e) ? json_number_value(e) : 0.0;
    st->frames_analyzed = jint(o, "f");
    st->last_frame_ms = jint(o, "lf");
    st->violations_no_face = (int32_t)jint(o, "v1");
    st->violations_multi_face = (int32_t)jint(o, "v2");
    st->violations_looking_away = (int32_t)jint(o, "v3");
    json_decref(o);
    return 0;
}

static int cmp_student(const void *a, const void *b)
{
    return strcmp(((const st_student_t *)a)->student_id, ((const st_student_t *)b)->student_id);
}

/* ---- replies ---- */

static void on_class_swept(void *ud, const redisReply *r, int err);

static void fail_req(rreq_t *q, int err)
{
    switch (q->op) {
    case OP_OPEN:
    case OP_MARK:
    case OP_SESSION:
    case OP_FINAL:
        if (q->cb.ses)
            q->cb.ses(err, NULL, 0, q->ud);
        break;
    case OP_PRESENCE:
        if (q->cb.pres)
            q->cb.pres(err, 0, 0, q->ud);
        break;
    case OP_VIEW:
        if (q->cb.view)
            q->cb.view(err, NULL, q->ud);
        break;
    case OP_ENGAGE:
        if (q->cb.stu)
            q->cb.stu(err, NULL, NULL, q->ud);
        break;
    case OP_CLAIM:
        if (q->cb.claim)
            q->cb.claim(err, 0, q->ud);
        break;
    case OP_HB:
        if (q->cb.hb)
            q->cb.hb(err, 0, q->ud);
        break;
    case OP_SYNC:
        if (q->cb.changes)
            q->cb.changes(err, NULL, 0, q->ud);
        break;
    case OP_SWEEP_CLASS:
        on_class_swept(q->ud, NULL, err);
        break;
    }
}

static void done_session(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
        fail_req(q, BRK_EIO);
        return;
    }
    int err = code_err(int_of(r->element[0]));
    st_session_t s;
    int perr = parse_session(r->element[1], q->class_id, q->now_ms, &s);
    if (perr) {
        fail_req(q, perr);
        return;
    }
    if (q->cb.ses)
        q->cb.ses(err, err == BRK_ENOMEM ? NULL : &s, (int)int_of(r->element[2]), q->ud);
}

static void done_view(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[2]->type != REDIS_REPLY_ARRAY) {
        fail_req(q, BRK_EIO);
        return;
    }
    st_view_t v;
    memset(&v, 0, sizeof v);
    if (parse_session(r->element[1], q->class_id, q->now_ms, &v.session) != 0) {
        fail_req(q, BRK_EIO);
        return;
    }
    const redisReply *a = r->element[2];
    size_t n = a->elements / 3;
    st_student_t *studs = n ? brk_calloc(n, sizeof *studs) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *sid = a->element[3 * i], *js = a->element[3 * i + 1];
        if (sid->type != REDIS_REPLY_STRING || js->type != REDIS_REPLY_STRING)
            continue;
        if (parse_student(sid->str, js->str, js->len, int_of(a->element[3 * i + 2]),
                          &studs[k]) == 0)
            k++;
    }
    if (k > 1)
        qsort(studs, k, sizeof *studs, cmp_student);
    v.n = k;
    v.students = studs;
    if (q->cb.view)
        q->cb.view(0, &v, q->ud);
    free(studs);
}

static void done_engage(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        fail_req(q, BRK_EIO);
        return;
    }
    int err = code_err(int_of(r->element[0]));
    if (err || r->elements < 4 || r->element[2]->type != REDIS_REPLY_STRING) {
        fail_req(q, err ? err : BRK_EIO);
        return;
    }
    st_session_t s;
    st_student_t st;
    if (parse_session(r->element[1], q->class_id, q->now_ms, &s) != 0 ||
        parse_student(q->argv[q->args_at + 1], r->element[2]->str, r->element[2]->len,
                      int_of(r->element[3]), &st) != 0) {
        fail_req(q, BRK_EIO);
        return;
    }
    if (q->cb.stu)
        q->cb.stu(0, &s, &st, q->ud);
}

/* A flat list of (class, student, name, online, online_students) quintuples. */
static void done_changes(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY) {
        fail_req(q, BRK_EIO);
        return;
    }
    size_t n = r->elements / 5;
    st_redis_change_t *ch = n ? brk_calloc(n, sizeof *ch) : NULL;
    for (size_t i = 0; i < n; i++) {
        redisReply **el = &r->element[5 * i];
        ch[i].class_id = str_of(el[0]);
        ch[i].student_id = str_of(el[1]);
        ch[i].name = str_of(el[2]);
        ch[i].online = (int)int_of(el[3]);
        ch[i].online_students = (int)int_of(el[4]);
    }
    if (q->cb.changes)
        q->cb.changes(0, ch, n, q->ud);
    free(ch);
}

static void on_reply(const redisReply *reply, const char *err, void *ud)
{
    rreq_t *q = ud;
    if (!reply) {
        LOG(DEBUG, 0, "redis state op failed", "err=\"%s\"", err ? err : "");
        fail_req(q, BRK_ECLOSED);
        req_free(q);
        return;
    }
    if (err) {
        /* The script cache is empty after a Redis restart (or on a new server): send the
         * text once; Redis caches it again. */
        if (!q->retried && q->argc >= 2 && strncmp(err, "NOSCRIPT", 8) == 0) {
            q->retried = 1;
            free(q->argv[0]);
            free(q->argv[1]);
            q->argv[0] = brk_strdup("EVAL");
            q->argv[1] = brk_strdup(q->e->script[q->script]->text);
            q->lens[0] = 4;
            q->lens[1] = strlen(q->argv[1]);
            send_req(q);
            return;
        }
        LOG(ERROR, 0, "redis state op refused", "err=\"%s\"", err);
        fail_req(q, BRK_EIO);
        req_free(q);
        return;
    }
    switch (q->op) {
    case OP_OPEN:
    case OP_MARK:
    case OP_SESSION:
    case OP_FINAL:
        done_session(q, reply);
        break;
    case OP_PRESENCE:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
            fail_req(q, BRK_EIO);
        else if (q->cb.pres)
            q->cb.pres(code_err(int_of(reply->element[0])), (int)int_of(reply->element[1]),
                       (int)int_of(reply->element[2]), q->ud);
        break;
    case OP_VIEW:
        done_view(q, reply);
        break;
    case OP_ENGAGE:
        done_engage(q, reply);
        break;
    case OP_CLAIM:
        if (q->cb.claim)
            q->cb.claim(0, reply->type == REDIS_REPLY_STATUS, q->ud);
        break;
    case OP_HB:
        if (q->cb.hb)
            q->cb.hb(0, int_of(reply) == 1, q->ud);
        break;
    case OP_SYNC:
        done_changes(q, reply);
        break;
    case OP_SWEEP_CLASS:
        on_class_swept(q->ud, reply, 0);
        break;
    }
    req_free(q);
}

/* ---- operations ---- */

static int new_session_id(char out[33])
{
    unsigned char rnd[16];
    int rc = brk_random(rnd, sizeof rnd);
    if (rc == 0)
        brk_hex(rnd, sizeof rnd, out);
    return rc;
}

static void r_session_open(st_t *base, const char *class_id, const char *teacher_id,
                           int64_t now_ms, st_session_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    char now[24], day[11], sid[33];
    if (!st__valid_id(class_id)) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    int rc = new_session_id(sid);
    if (rc) {
        if (cb)
            cb(rc, NULL, 0, ud);
        return;
    }
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_OPEN, class_id, now_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, teacher_id ? teacher_id : "", now, day, sid};
    keys_t k;
    int nk = class_keys(&k, class_id, NULL);
    run_script(q, SC_OPEN, nk, k.ptr, 5, args);
}

static void r_mark(st_t *base, const char *class_id, const char *student_id, const char *name,
                   st_mark_t mark, const char *by, int64_t now_ms, st_session_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) ||
        (mark != ST_MARK_PRESENT && mark != ST_MARK_ABSENT && mark != ST_MARK_LATE)) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char now[24], day[11], sid[33], m[4], nm[ST_NAME];
    int rc = new_session_id(sid);
    if (rc) {
        if (cb)
            cb(rc, NULL, 0, ud);
        return;
    }
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(m, sizeof m, "%d", (int)mark);
    st__copy_str(nm, sizeof nm, name);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_MARK, class_id, now_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, student_id, nm, m, by ? by : "", now, day, sid};
    keys_t k;
    int nk = class_keys(&k, class_id, NULL);
    run_script(q, SC_MARK, nk, k.ptr, 8, args);
}

static void r_presence(st_t *base, const char *class_id, const char *student_id,
                       const char *name, int delta, int64_t now_ms, st_presence_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) || (delta != 1 && delta != -1)) {
        if (cb)
            cb(BRK_EINVAL, 0, 0, ud);
        return;
    }
    char now[24], day[11], nm[ST_NAME];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    st__copy_str(nm, sizeof nm, name);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_PRESENCE, class_id, now_ms, ud);
    q->cb.pres = cb;
    const char *args[] = {class_id, student_id, nm, delta > 0 ? "1" : "-1", now, day, e->inst};
    keys_t k;
    int nk = class_keys(&k, class_id, e->inst);
    run_script(q, SC_PRESENCE, nk, k.ptr, 7, args);
}

static void r_view(st_t *base, const char *class_id, int64_t now_ms, st_view_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!cb)
        return;
    if (!st__valid_id(class_id)) {
        cb(BRK_EINVAL, NULL, ud);
        return;
    }
    char now[24], day[11];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_VIEW, class_id, now_ms, ud);
    q->cb.view = cb;
    const char *args[] = {class_id, now, day};
    keys_t k;
    int nk = class_keys(&k, class_id, NULL);
    run_script(q, SC_VIEW, nk, k.ptr, 3, args);
}

static void r_session_get(st_t *base, const char *class_id, int64_t now_ms, st_session_cb cb,
                          void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!cb)
        return;
    if (!st__valid_id(class_id)) {
        cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char now[24], day[11];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_SESSION, class_id, now_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, now, day};
    keys_t k;
    int nk = class_keys(&k, class_id, NULL);
    run_script(q, SC_SESSION, nk, k.ptr, 3, args);
}

static void r_finalized(st_t *base, const char *class_id, const char *session_id,
                        int64_t ended_at_ms, st_session_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !session_id) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char at[24], day[11];
    snprintf(at, sizeof at, "%lld", (long long)ended_at_ms);
    today(ended_at_ms, day);
    rreq_t *q = req_new(e, OP_FINAL, class_id, ended_at_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, session_id, at, day};
    keys_t k;
    int nk = class_keys(&k, class_id, NULL);
    run_script(q, SC_FINALIZE, nk, k.ptr, 4, args);
}

static void r_engage(st_t *base, const char *class_id, const char *student_id, const char *name,
                     const st_frame_t *f, int64_t now_ms, st_student_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) || !st__valid_frame(f)) {
        if (cb)
            cb(BRK_EINVAL, NULL, NULL, ud);
        return;
    }
    char now[24], at[24], day[11], cap[40], v[4], nm[ST_NAME];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(at, sizeof at, "%lld", (long long)f->at_ms);
    snprintf(cap, sizeof cap, "%.17g", f->cap_s);
    snprintf(v, sizeof v, "%d", (int)f->viol);
    st__copy_str(nm, sizeof nm, name);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_ENGAGE, class_id, now_ms, ud);
    q->cb.stu = cb;
    /* ARGV[2] (the student id) is read back by done_engage. */
    const char *args[] = {class_id, student_id, nm, f->engaged ? "1" : "0", cap, v, at, now, day};
    keys_t k;
    int nk = class_keys(&k, class_id, NULL);
    run_script(q, SC_ENGAGE, nk, k.ptr, 9, args);
}

static void r_claim(st_t *base, const char *class_id, const char *session_id, st_claim_cb cb,
                    void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(session_id)) {
        if (cb)
            cb(BRK_EINVAL, 0, ud);
        return;
    }
    char key[2 * ST_ID + 32];
    snprintf(key, sizeof key, "rc:{%s}:ann:%s", class_id, session_id);
    rreq_t *q = req_new(e, OP_CLAIM, class_id, 0, ud);
    q->cb.claim = cb;
    rds_command(e->rds, on_reply, q, "SET %s %s NX EX 180000", key, e->inst);
}

void st_redis_heartbeat(st_t *base, int64_t ttl_ms, st_redis_heartbeat_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    rreq_t *q = req_new(e, OP_HB, "", 0, ud);
    q->cb.hb = cb;
    char beat[KEY_LEN], swept[KEY_LEN];
    snprintf(beat, sizeof beat, "rc:inst:%s", e->inst);
    snprintf(swept, sizeof swept, "rc:inst:%s:swept", e->inst);
    const char *keys[] = {"rc:instances", beat, swept};
    const char *args[] = {e->inst, ttl};
    run_script(q, SC_HEARTBEAT, 3, keys, 2, args);
}

/* ---- the sweep ----
 *
 * Which instances are dead, and in which classes each counted presence, is known only by
 * reading, so the sweep reads first and then writes what it found, each write declaring
 * its keys:
 *   1. SMEMBERS rc:instances; EXISTS rc:inst:<X> for every other instance X; for each X
 *      whose heartbeat is gone, SMEMBERS rc:inst:<X>:classes. Plain reads.
 *   2. sweep_class.lua once per (X, class C), with the four keys of C it touches (one hash
 *      slot): it removes X's presence from C atomically and returns the students who went
 *      offline. The first sweeper to run it for (X, C) empties rc:{C}:pres:<X>; any other
 *      sweeper that also took X for dead finds nothing, so each student is reported once.
 *   3. Once every class script of X answered: SET rc:inst:<X>:swept (expiring as the
 *      engine's other keys do), SREM the swept classes from rc:inst:<X>:classes, and SREM X
 *      from rc:instances. Plain commands, sent only after step 2 answered.
 * Step 3 needs no atomicity: each command is idempotent, so two sweepers sending them in any
 * interleaving leave the same result, and one that never runs leaves X registered, to be
 * swept again (harmlessly) by the next sweep. What matters is that it comes after step 2.
 * X may come back (its heartbeat key exists again) at any moment of a sweep that already
 * took it for dead, and step 2 then removes presence that X holds for real. The mark
 * repairs that: the next heartbeat of X finds it, answers "not known" and clears it
 * (heartbeat.lua), and X re-asserts every connection it holds (broker/cluster.c,
 * on_heartbeat -> sync_rooms). A heartbeat of X that ran before the mark answered "known",
 * but the next one, a third of the TTL later, finds the mark. Leaving rc:instances is not
 * that signal: presence.lua registers X again at X's next connection change, which may
 * reach Redis before X's next heartbeat. Classes X registered after step 1 stay in its set:
 * they were not swept.
 *
 * A class whose script failed stays in X's set, and X then stays in rc:instances, so the
 * next sweep tries that class again; the mark is set all the same if another class of X was
 * swept. If the sweeper loses Redis between step 2 and the mark, a come-back X is not told:
 * when Redis itself went away, X lost it too and re-asserts everything on reconnecting
 * (cluster.c, on_up); only a sweeper cut off alone at that moment, while X comes back,
 * leaves X's swept presence missing until those students reconnect. */

#define KEY_TTL_S "180000" /* redis/lua/prelude/online.lua's TTL: 50 h */

typedef struct sweep sweep_t;
typedef struct sweep_inst sweep_inst_t;

typedef struct sweep_class {
    sweep_inst_t *inst;
    char class_id[ST_ID];
    int swept; /* its script answered with success */
} sweep_class_t;

struct sweep_inst {
    sweep_t *sw;
    char id[ST_REDIS_INSTANCE_ID];
    sweep_class_t *classes;
    size_t n_classes;
    size_t n_left;  /* scripts not answered yet */
    size_t n_swept; /* scripts answered with success */
};

/* A change, with copies of its strings (a reply is valid only inside its callback). */
typedef struct sweep_change {
    char class_id[ST_ID];
    char student_id[ST_ID];
    char name[ST_NAME];
    int online_students;
} sweep_change_t;

struct sweep {
    rst_t *e;
    st_redis_changes_cb cb;
    void *ud;
    int pending; /* commands sent and not answered yet; the sweep ends at 0 */
    int err;     /* the first error, 0 when none */
    sweep_inst_t *insts;
    size_t n_insts;
    sweep_change_t *ch;
    size_t n_ch, cap_ch;
};

static void sweep_fail(sweep_t *sw, int err, const char *what, const char *why)
{
    LOG(DEBUG, 0, "presence sweep step failed", "step=%s err=\"%s\"", what, why ? why : "");
    if (!sw->err)
        sw->err = err;
}

/* Sends a plain command of the sweep (argv borrowed for the call). */
static void sweep_send(sweep_t *sw, rds_reply_cb cb, void *ud, int argc, const char **argv)
{
    sw->pending++;
    rds_command_argv(sw->e->rds, cb, ud, argc, argv, NULL);
}

/* 0 when a plain command answered with a reply of type `type`; otherwise records why not
 * (BRK_ECLOSED without an answer, BRK_EIO for an error or an unexpected reply). */
static int sweep_reply_ok(sweep_t *sw, const redisReply *r, const char *err, int type,
                          const char *what)
{
    if (!r) {
        sweep_fail(sw, BRK_ECLOSED, what, err);
        return -1;
    }
    if (err || r->type != type) {
        sweep_fail(sw, BRK_EIO, what, err ? err : "unexpected reply");
        return -1;
    }
    return 0;
}

/* Ends the sweep once nothing is in flight: one callback with every change found. */
static void sweep_end_if_idle(sweep_t *sw)
{
    if (sw->pending > 0)
        return;
    st_redis_change_t *ch = sw->n_ch ? brk_calloc(sw->n_ch, sizeof *ch) : NULL;
    for (size_t i = 0; i < sw->n_ch; i++) {
        ch[i].class_id = sw->ch[i].class_id;
        ch[i].student_id = sw->ch[i].student_id;
        ch[i].name = sw->ch[i].name;
        ch[i].online = 0;
        ch[i].online_students = sw->ch[i].online_students;
    }
    if (sw->cb)
        sw->cb(sw->err, ch, sw->n_ch, sw->ud);
    free(ch);
    for (size_t i = 0; i < sw->n_insts; i++)
        free(sw->insts[i].classes);
    free(sw->insts);
    free(sw->ch);
    free(sw);
}

static void on_sweep_cleaned(const redisReply *r, const char *err, void *ud)
{
    sweep_t *sw = ud;
    sw->pending--;
    /* SET answers a status and SREM an integer: only a missing answer or an error counts. */
    if (!r)
        sweep_fail(sw, BRK_ECLOSED, "cleanup", err);
    else if (err)
        sweep_fail(sw, BRK_EIO, "cleanup", err);
    sweep_end_if_idle(sw);
}

/* Step 3 for one dead instance, once all its class scripts answered. */
static void sweep_clean_inst(sweep_inst_t *x)
{
    sweep_t *sw = x->sw;
    char key[KEY_LEN];
    if (x->n_swept > 0) {
        /* The mark goes first: of the three it is the one a come-back X needs, and a
         * sweeper cut off from Redis part way has then most likely sent it. */
        snprintf(key, sizeof key, "rc:inst:%s:swept", x->id);
        const char *mark[] = {"SET", key, "1", "EX", KEY_TTL_S};
        sweep_send(sw, on_sweep_cleaned, sw, 5, mark);
        snprintf(key, sizeof key, "rc:inst:%s:classes", x->id);
        const char **argv = brk_calloc(2 + x->n_swept, sizeof *argv);
        int argc = 0;
        argv[argc++] = "SREM";
        argv[argc++] = key;
        for (size_t i = 0; i < x->n_classes; i++)
            if (x->classes[i].swept)
                argv[argc++] = x->classes[i].class_id;
        sweep_send(sw, on_sweep_cleaned, sw, argc, argv);
        free(argv);
    }
    if (x->n_swept == x->n_classes) {
        const char *argv[] = {"SREM", "rc:instances", x->id};
        sweep_send(sw, on_sweep_cleaned, sw, 3, argv);
    }
}

static void sweep_add_change(sweep_t *sw, const char *class_id, const char *sid, const char *name,
                             int online_students)
{
    if (sw->n_ch == sw->cap_ch) {
        sw->cap_ch = sw->cap_ch ? 2 * sw->cap_ch : 8;
        sw->ch = brk_realloc(sw->ch, sw->cap_ch * sizeof *sw->ch);
    }
    sweep_change_t *c = &sw->ch[sw->n_ch++];
    st__copy_str(c->class_id, sizeof c->class_id, class_id);
    st__copy_str(c->student_id, sizeof c->student_id, sid);
    st__copy_str(c->name, sizeof c->name, name);
    c->online_students = online_students;
}

/* Step 2 answered for one (instance, class): r is sweep_class.lua's reply, or NULL with
 * err (called from on_reply and fail_req, after the EVAL fallback if there was one). */
static void on_class_swept(void *ud, const redisReply *r, int err)
{
    sweep_class_t *k = ud;
    sweep_inst_t *x = k->inst;
    sweep_t *sw = x->sw;
    sw->pending--;
    x->n_left--;
    if (!err && (r->type != REDIS_REPLY_ARRAY || r->elements < 1 || r->elements % 2 != 1))
        err = BRK_EIO;
    if (err) {
        sweep_fail(sw, err, "class", k->class_id);
    } else {
        k->swept = 1;
        x->n_swept++;
        int n = (int)int_of(r->element[0]);
        for (size_t i = 1; i + 1 < r->elements; i += 2)
            sweep_add_change(sw, k->class_id, str_of(r->element[i]), str_of(r->element[i + 1]), n);
    }
    if (x->n_left == 0)
        sweep_clean_inst(x);
    sweep_end_if_idle(sw);
}

/* Step 1 answered with a dead instance's classes: step 2 for each. */
static void on_sweep_classes(const redisReply *r, const char *err, void *ud)
{
    sweep_inst_t *x = ud;
    sweep_t *sw = x->sw;
    sw->pending--;
    if (sweep_reply_ok(sw, r, err, REDIS_REPLY_ARRAY, "classes") == 0) {
        x->classes = r->elements ? brk_calloc(r->elements, sizeof *x->classes) : NULL;
        /* Only register() in presence.lua and sync.lua writes this set, with valid ids;
         * anything else in it names no class and is left alone. */
        for (size_t i = 0; i < r->elements; i++) {
            const char *c = str_of(r->element[i]);
            if (!st__valid_id(c))
                continue;
            sweep_class_t *k = &x->classes[x->n_classes++];
            k->inst = x;
            st__copy_str(k->class_id, sizeof k->class_id, c);
        }
        x->n_left = x->n_classes;
        if (x->n_classes == 0)
            sweep_clean_inst(x);
        for (size_t i = 0; i < x->n_classes; i++) {
            sweep_class_t *k = &x->classes[i];
            char keys[4][KEY_LEN];
            snprintf(keys[0], KEY_LEN, "rc:{%s}:pres:%s", k->class_id, x->id);
            snprintf(keys[1], KEY_LEN, "rc:{%s}:insts", k->class_id);
            snprintf(keys[2], KEY_LEN, "rc:{%s}:online", k->class_id);
            snprintf(keys[3], KEY_LEN, "rc:{%s}:stu", k->class_id);
            const char *kp[] = {keys[0], keys[1], keys[2], keys[3]};
            const char *args[] = {x->id};
            rreq_t *q = req_new(sw->e, OP_SWEEP_CLASS, k->class_id, 0, k);
            sw->pending++;
            run_script(q, SC_SWEEP_CLASS, 4, kp, 1, args);
        }
    }
    sweep_end_if_idle(sw);
}

/* Step 1 answered whether one instance's heartbeat lives. */
static void on_sweep_alive(const redisReply *r, const char *err, void *ud)
{
    sweep_inst_t *x = ud;
    sweep_t *sw = x->sw;
    sw->pending--;
    if (sweep_reply_ok(sw, r, err, REDIS_REPLY_INTEGER, "exists") == 0 && r->integer == 0) {
        char key[KEY_LEN];
        snprintf(key, sizeof key, "rc:inst:%s:classes", x->id);
        const char *argv[] = {"SMEMBERS", key};
        sweep_send(sw, on_sweep_classes, x, 2, argv);
    }
    sweep_end_if_idle(sw);
}

/* Step 1 answered with every registered instance: ask after each other one. */
static void on_sweep_members(const redisReply *r, const char *err, void *ud)
{
    sweep_t *sw = ud;
    sw->pending--;
    if (sweep_reply_ok(sw, r, err, REDIS_REPLY_ARRAY, "instances") == 0) {
        sw->insts = r->elements ? brk_calloc(r->elements, sizeof *sw->insts) : NULL;
        for (size_t i = 0; i < r->elements; i++) {
            const char *id = str_of(r->element[i]);
            /* st_redis_new() keeps at most 32 characters of an instance id: a longer (or
             * empty) member was not registered by this engine. */
            if (!id[0] || strlen(id) >= ST_REDIS_INSTANCE_ID || strcmp(id, sw->e->inst) == 0)
                continue;
            sweep_inst_t *x = &sw->insts[sw->n_insts++];
            x->sw = sw;
            st__copy_str(x->id, sizeof x->id, id);
        }
        for (size_t i = 0; i < sw->n_insts; i++) {
            char key[KEY_LEN];
            snprintf(key, sizeof key, "rc:inst:%s", sw->insts[i].id);
            const char *argv[] = {"EXISTS", key};
            sweep_send(sw, on_sweep_alive, &sw->insts[i], 2, argv);
        }
    }
    sweep_end_if_idle(sw);
}

void st_redis_sweep(st_t *base, st_redis_changes_cb cb, void *ud)
{
    sweep_t *sw = brk_calloc(1, sizeof *sw);
    sw->e = (rst_t *)base;
    sw->cb = cb;
    sw->ud = ud;
    const char *argv[] = {"SMEMBERS", "rc:instances"};
    sweep_send(sw, on_sweep_members, sw, 2, argv);
}

void st_redis_sync(st_t *base, const char *class_id, size_t n, const char *const *student_ids,
                   const int *counts, const char *const *names, int64_t now_ms,
                   st_redis_changes_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id)) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char now[24], day[11];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    const char **args = brk_calloc(4 + 3 * n, sizeof *args);
    char (*cnt)[16] = n ? brk_calloc(n, sizeof *cnt) : NULL;
    args[0] = class_id;
    args[1] = e->inst;
    args[2] = now;
    args[3] = day;
    for (size_t i = 0; i < n; i++) {
        snprintf(cnt[i], sizeof cnt[i], "%d", counts[i]);
        args[4 + 3 * i] = student_ids[i];
        args[5 + 3 * i] = cnt[i];
        args[6 + 3 * i] = names[i] ? names[i] : "";
    }
    rreq_t *q = req_new(e, OP_SYNC, class_id, now_ms, ud);
    q->cb.changes = cb;
    keys_t k;
    int nk = class_keys(&k, class_id, e->inst);
    run_script(q, SC_SYNC, nk, k.ptr, (int)(4 + 3 * n), args);
    free(cnt);
    free(args);
}

static void r_free(st_t *base)
{
    free(base);
}

static const st_ops_t redis_ops = {
    .free = r_free,
    .session_open = r_session_open,
    .mark = r_mark,
    .presence = r_presence,
    .view = r_view,
    .session_get = r_session_get,
    .finalized = r_finalized,
    .engage = r_engage,
    .claim = r_claim,
};

st_t *st_redis_new(rds_client_t *rds, const char *instance_id)
{
    rst_t *e = brk_calloc(1, sizeof *e);
    e->base.ops = &redis_ops;
    e->rds = rds;
    st__copy_str(e->inst, sizeof e->inst, instance_id);
    /* A name without its file is a build mistake: the broker cannot run without it. */
    for (int i = 0; i < SC__COUNT; i++) {
        for (size_t j = 0; j < st_redis__n_scripts && !e->script[i]; j++)
            if (strcmp(st_redis__scripts[j].name, script_name[i]) == 0)
                e->script[i] = &st_redis__scripts[j];
        BRK_ASSERT(e->script[i] != NULL);
    }
    return &e->base;
}

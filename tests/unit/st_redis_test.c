/* SPDX-License-Identifier: MIT */
/* Tests of the Redis live-state engine (redis/st_redis.c) against a real redis-server
 * started by tests/support/redis_server.c: the behaviours of state_test.c that apply
 * (sessions, marks, presence, views, engagement, day roll-over), plus what only a shared
 * engine has: two instances counting one student once, a freeze and a claim won by exactly
 * one caller, the sweep of a dead instance's presence (two sweepers at once, an instance
 * coming back in the middle of a sweep, Redis failing in the middle of one), the EVAL
 * fallback after the script cache was flushed, and BRK_ECLOSED while Redis is down. Exits 77
 * when redis-server is not installed.
 *
 * Linked with -Wl,--wrap=rds_command_argv (tests/CMakeLists.txt): a test can run a hook just
 * before the engine sends a chosen command, to act between two steps of a sweep. */
#include "st_redis.h"

#include "brk.h"
#include "log.h"
#include "redis_server.h"
#include "st_redis_lua.h"
#include "test.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <stdarg.h>
#include <unistd.h>
#include <uv.h>

#define DAY1 1795305600000LL /* 2026-11-22T00:00:00Z */
#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T1 (DAY1 + 8 * HOUR)
#define T2 (DAY1 + DAY + 8 * HOUR)

static uv_loop_t loop;
static uv_timer_t tick;
static redis_server_t srv;
static rds_client_t *rds;
static int ups, closed, in_call;

static void on_alarm(int sig)
{
    static const char m[] = "FAIL: test timed out\n";
    (void)sig;
    (void)!write(2, m, sizeof m - 1);
    _exit(1);
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void on_up(void *ud)
{
    (void)ud;
    ups++;
}

static void on_closed(void *ud)
{
    (void)ud;
    closed++;
}

#define RUN_UNTIL(cond, ms)                                                                        \
    do {                                                                                           \
        uint64_t dl_ = uv_now(&loop) + (ms);                                                       \
        uv_timer_start(&tick, on_tick, 5, 5);                                                      \
        while (!(cond) && uv_now(&loop) < dl_)                                                     \
            uv_run(&loop, UV_RUN_ONCE);                                                            \
        uv_timer_stop(&tick);                                                                      \
    } while (0)

static void setup(void)
{
    signal(SIGALRM, on_alarm);
    alarm(40);
    ups = closed = 0;
    ASSERT_EQ(uv_loop_init(&loop), 0);
    ASSERT_EQ(uv_timer_init(&loop, &tick), 0);
    redis_server_opts_t o = {0};
    ASSERT_EQ(redis_server_start(&srv, &o), 0);
    char url[128];
    snprintf(url, sizeof url, "redis://127.0.0.1:%d", srv.port);
    rds_opts_t ro = {.on_up = on_up, .backoff_min_ms = 20, .backoff_max_ms = 200};
    ASSERT_EQ(rds_client_new(&loop, url, &ro, &rds), 0);
    RUN_UNTIL(ups > 0, 5000);
    ASSERT_EQ(ups, 1);
}

static void teardown(void)
{
    ASSERT_EQ(rds_client_close(rds, on_closed), 0);
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_EQ(closed, 1);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    redis_server_free(&srv);
    alarm(0);
}

/* ---- synchronous wrappers: submit, check it did not answer inline, run until it did ---- */

typedef struct {
    int calls, err, created, had;
    st_session_t s;
} ses_res_t;

static void on_session(int err, const st_session_t *s, int created, void *ud)
{
    ses_res_t *r = ud;
    ASSERT_EQ(in_call, 0);
    r->calls++;
    r->err = err;
    r->created = created;
    r->had = s != NULL;
    if (s)
        r->s = *s;
}

typedef struct {
    int calls, err, changed, online;
} pres_res_t;

static void on_presence(int err, int changed, int online, void *ud)
{
    pres_res_t *r = ud;
    r->calls++;
    r->err = err;
    r->changed = changed;
    r->online = online;
}

typedef struct {
    int calls, err;
    st_session_t session;
    size_t n;
    st_student_t students[16];
} view_res_t;

static void on_view(int err, const st_view_t *v, void *ud)
{
    view_res_t *r = ud;
    r->calls++;
    r->err = err;
    if (!v)
        return;
    r->session = v->session;
    r->n = v->n;
    for (size_t i = 0; i < v->n && i < BRK_ARRAY_LEN(r->students); i++)
        r->students[i] = v->students[i];
}

typedef struct {
    int calls, err;
    st_student_t st;
} stu_res_t;

static void on_student(int err, const st_session_t *s, const st_student_t *st, void *ud)
{
    stu_res_t *r = ud;
    (void)s;
    r->calls++;
    r->err = err;
    if (st)
        r->st = *st;
}

typedef struct {
    int calls, err, first;
} claim_res_t;

static void on_claim(int err, int first, void *ud)
{
    claim_res_t *r = ud;
    r->calls++;
    r->err = err;
    r->first = first;
}

typedef struct {
    int calls, err;
    size_t n;
    char sid[8][ST_ID];
    char cls[8][ST_ID];
    int online[8];
    int online_students[8];
} chg_res_t;

static void on_changes(int err, const st_redis_change_t *ch, size_t n, void *ud)
{
    chg_res_t *r = ud;
    r->calls++;
    r->err = err;
    r->n = n;
    for (size_t i = 0; i < n && i < 8; i++) {
        snprintf(r->sid[i], ST_ID, "%s", ch[i].student_id);
        snprintf(r->cls[i], ST_ID, "%s", ch[i].class_id);
        r->online[i] = ch[i].online;
        r->online_students[i] = ch[i].online_students;
    }
}

static void on_done(int err, int known, void *ud)
{
    int *r = ud;
    *r = err ? -1 : known ? 2 : 1;
}

#define WAIT(res) RUN_UNTIL((res).calls > 0, 3000)

static ses_res_t do_open(st_t *st, const char *cls, const char *t, int64_t now)
{
    ses_res_t r = {0};
    in_call = 1;
    st_session_open(st, cls, t, now, on_session, &r);
    in_call = 0;
    ASSERT_EQ(r.calls, 0);
    WAIT(r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static ses_res_t do_mark(st_t *st, const char *cls, const char *sid, const char *name,
                         st_mark_t m, const char *by, int64_t now)
{
    ses_res_t r = {0};
    st_mark(st, cls, sid, name, m, by, now, on_session, &r);
    WAIT(r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static pres_res_t do_presence(st_t *st, const char *cls, const char *sid, const char *name,
                              int delta, int64_t now)
{
    pres_res_t r = {0};
    st_presence(st, cls, sid, name, delta, now, on_presence, &r);
    WAIT(r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static view_res_t do_view(st_t *st, const char *cls, int64_t now)
{
    view_res_t r;
    memset(&r, 0, sizeof r);
    st_view(st, cls, now, on_view, &r);
    WAIT(r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static ses_res_t do_finalized(st_t *st, const char *cls, const char *sid, int64_t at)
{
    ses_res_t r = {0};
    st_finalized(st, cls, sid, at, on_session, &r);
    WAIT(r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

/* One frame received at `at` (also used as now), credit capped at 6 s. */
static stu_res_t do_engage_on(st_t *st, const char *cls, const char *sid, int engaged,
                              st_violation_t v, int64_t at)
{
    stu_res_t r = {0};
    const st_frame_t f = {.engaged = engaged, .at_ms = at, .cap_s = 6.0, .viol = v};
    st_engage(st, cls, sid, "", &f, at, on_student, &r);
    WAIT(r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static int heartbeat(st_t *st, int64_t ttl)
{
    int r = 0;
    st_redis_heartbeat(st, ttl, on_done, &r);
    RUN_UNTIL(r != 0, 3000);
    return r;
}

static chg_res_t do_sweep(st_t *st)
{
    chg_res_t r;
    memset(&r, 0, sizeof r);
    st_redis_sweep(st, on_changes, &r);
    WAIT(r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

/* Lets st's heartbeat key lapse: st is dead to the others' sweeps. */
static void let_die(st_t *st)
{
    ASSERT_EQ(heartbeat(st, 50), 2);
    usleep(120 * 1000);
}

/* The index of (class, student) among r's changes, or -1. */
static int change_at(const chg_res_t *r, const char *cls, const char *sid)
{
    for (size_t i = 0; i < r->n && i < 8; i++)
        if (strcmp(r->cls[i], cls) == 0 && strcmp(r->sid[i], sid) == 0)
            return (int)i;
    return -1;
}

/* ---- a second, blocking connection, to read and break the stored state directly ---- */

static redisContext *raw;

static void raw_open(void)
{
    raw = redisConnect("127.0.0.1", srv.port);
    ASSERT(raw != NULL && raw->err == 0);
}

static void raw_close(void)
{
    redisFree(raw);
    raw = NULL;
}

/* Runs a command; returns its integer reply (an array's length, a string's value), or -1 for
 * an error reply and -2 for a nil. */
static long long raw_cmd(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    redisReply *r = redisvCommand(raw, fmt, ap);
    va_end(ap);
    ASSERT_NOT_NULL(r);
    long long v = r->type == REDIS_REPLY_INTEGER  ? r->integer
                  : r->type == REDIS_REPLY_ARRAY  ? (long long)r->elements
                  : r->type == REDIS_REPLY_STRING ? strtoll(r->str, NULL, 10)
                  : r->type == REDIS_REPLY_NIL    ? -2
                  : r->type == REDIS_REPLY_ERROR  ? -1
                                                  : 0;
    freeReplyObject(r);
    return v;
}

/* ---- a hook between two commands of the engine ---- */

typedef int (*cmd_match_fn)(int argc, const char **argv);

static cmd_match_fn hook_when; /* armed while not NULL; disarmed when it fires */
static void (*hook_fn)(void);
static int sweep_class_runs; /* sweep_class.lua scripts sent, counted while hooked or not */

void __real_rds_command_argv(rds_client_t *c, rds_reply_cb cb, void *ud, int argc,
                             const char **argv, const size_t *argvlen);
void __wrap_rds_command_argv(rds_client_t *c, rds_reply_cb cb, void *ud, int argc,
                             const char **argv, const size_t *argvlen);

static int is_sweep_class(int argc, const char **argv)
{
    static const char *sha;
    for (size_t i = 0; !sha && i < st_redis__n_scripts; i++)
        if (strcmp(st_redis__scripts[i].name, "sweep_class") == 0)
            sha = st_redis__scripts[i].sha;
    return argc > 1 && sha && strcmp(argv[0], "EVALSHA") == 0 && strcmp(argv[1], sha) == 0;
}

/* The first command of a sweep's step 3: the mark that tells the swept instance. */
static int is_swept_mark(int argc, const char **argv)
{
    size_t n = argc > 1 ? strlen(argv[1]) : 0;
    return argc > 2 && strcmp(argv[0], "SET") == 0 && n > 6 &&
           strcmp(argv[1] + n - 6, ":swept") == 0;
}

void __wrap_rds_command_argv(rds_client_t *c, rds_reply_cb cb, void *ud, int argc,
                             const char **argv, const size_t *argvlen)
{
    if (is_sweep_class(argc, argv))
        sweep_class_runs++;
    if (hook_when && hook_when(argc, argv)) {
        hook_when = NULL;
        hook_fn(); /* its own commands, if any, go out first */
    }
    __real_rds_command_argv(c, cb, ud, argc, argv, argvlen);
}

static void hook(cmd_match_fn when, void (*fn)(void))
{
    hook_fn = fn;
    hook_when = when;
}

/* ---- tests ---- */

static void test_sessions_and_marks(void)
{
    setup();
    st_t *st = st_redis_new(rds, "aaaa");
    ses_res_t o = do_open(st, "c1", "t1", T1);
    ASSERT_EQ(o.err, 0);
    ASSERT_EQ(o.created, 1);
    ASSERT_EQ(o.s.state, ST_SESSION_ACTIVE);
    ASSERT_STR_EQ(o.s.date, "2026-11-22");
    ASSERT_EQ(strlen(o.s.session_id), 32);
    ASSERT_EQ(o.s.started_at_ms, T1);
    ses_res_t again = do_open(st, "c1", "t2", T1 + 5);
    ASSERT_EQ(again.created, 0);
    ASSERT_STR_EQ(again.s.session_id, o.s.session_id);
    ASSERT_STR_EQ(again.s.teacher_id, "t1");

    /* A mark on a class without a session opens it. */
    ses_res_t m = do_mark(st, "c2", "s9", "Nine", ST_MARK_LATE, "t1", T1);
    ASSERT_EQ(m.err, 0);
    ASSERT_EQ(m.created, 1);
    m = do_mark(st, "c2", "s1", "", ST_MARK_PRESENT, "t1", T1 + 1);
    ASSERT_EQ(m.created, 0);
    view_res_t v = do_view(st, "c2", T1 + 2);
    ASSERT_EQ(v.err, 0);
    ASSERT_EQ(v.session.state, ST_SESSION_ACTIVE);
    ASSERT_EQ(v.n, 2);
    ASSERT_STR_EQ(v.students[0].student_id, "s1"); /* sorted */
    ASSERT_EQ(v.students[0].mark, ST_MARK_PRESENT);
    ASSERT_STR_EQ(v.students[1].name, "Nine");
    ASSERT_EQ(v.students[1].mark, ST_MARK_LATE);
    ASSERT_STR_EQ(v.students[1].marked_by, "t1");
    ASSERT_EQ(v.students[1].marked_at_ms, T1);

    /* Two finalize calls: exactly one freezes; marks and opens are refused after. */
    ses_res_t f1 = {0}, f2 = {0};
    st_finalized(st, "c2", m.s.session_id, T1 + 100, on_session, &f1);
    st_finalized(st, "c2", m.s.session_id, T1 + 200, on_session, &f2);
    RUN_UNTIL(f1.calls && f2.calls, 3000);
    ASSERT_EQ(f1.err, 0);
    ASSERT_EQ(f2.err, 0);
    ASSERT_EQ(f1.created + f2.created, 1);
    ASSERT_EQ(f2.s.ended_at_ms, T1 + 100);
    ASSERT_EQ(f2.s.state, ST_SESSION_FINALIZED);
    ASSERT_EQ(do_mark(st, "c2", "s1", "", ST_MARK_ABSENT, "t1", T1 + 300).err, BRK_ESTATE);
    ASSERT_EQ(do_open(st, "c2", "t1", T1 + 300).err, BRK_ESTATE);
    ASSERT_EQ(do_finalized(st, "c2", "nope", T1 + 300).err, BRK_ESTATE);
    ASSERT_EQ(do_finalized(st, "zz", "nope", T1 + 300).err, BRK_ESTATE);
    v = do_view(st, "c2", T1 + 400);
    ASSERT_EQ(v.students[0].mark, ST_MARK_PRESENT);

    /* The next day starts fresh: no session, nobody offline kept. */
    v = do_view(st, "c2", T2);
    ASSERT_EQ(v.session.state, ST_SESSION_NONE);
    ASSERT_STR_EQ(v.session.date, "2026-11-23");
    ASSERT_EQ(v.n, 0);
    ASSERT_EQ(do_mark(st, "c2", "s1", "", ST_MARK_ABSENT, "t1", T2).created, 1);

    /* Invalid arguments are refused without a round trip. */
    ses_res_t bad = {0};
    st_mark(st, "c1", "", "", ST_MARK_PRESENT, "t1", T1, on_session, &bad);
    ASSERT_EQ(bad.calls, 1);
    ASSERT_EQ(bad.err, BRK_EINVAL);
    st_free(st);
    teardown();
}

static void test_presence_two_instances(void)
{
    setup();
    st_t *a = st_redis_new(rds, "inst-a");
    st_t *b = st_redis_new(rds, "inst-b");
    ASSERT_EQ(heartbeat(a, 60000), 1); /* 1: not known yet */
    ASSERT_EQ(heartbeat(b, 60000), 1);
    ASSERT_EQ(heartbeat(b, 60000), 2); /* 2: registered */
    pres_res_t p = do_presence(a, "c1", "s1", "Ann", 1, T1);
    ASSERT_EQ(p.err, 0);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 1);
    /* The second tab, on the other instance, is the same student. */
    p = do_presence(b, "c1", "s1", "Ann", 1, T1);
    ASSERT_EQ(p.changed, 0);
    ASSERT_EQ(p.online, 1);
    p = do_presence(b, "c1", "s2", "Bob", 1, T1);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 2);
    p = do_presence(a, "c1", "s1", "", -1, T1);
    ASSERT_EQ(p.changed, 0);
    view_res_t v = do_view(a, "c1", T1);
    ASSERT_EQ(v.n, 2);
    ASSERT_EQ(v.students[0].online, 1);
    ASSERT_STR_EQ(v.students[0].name, "Ann");
    p = do_presence(b, "c1", "s1", "", -1, T1);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 1);
    /* A leave on an instance that holds no connection changes nothing. */
    p = do_presence(a, "c1", "s2", "", -1, T1);
    ASSERT_EQ(p.changed, 0);
    ASSERT_EQ(p.online, 1);
    p = do_presence(a, "nowhere", "s2", "", -1, T1);
    ASSERT_EQ(p.err, 0);
    ASSERT_EQ(p.changed, 0);

    /* Instance b dies: its heartbeat lapses and a's sweep reports its students gone, once. */
    p = do_presence(b, "c1", "s3", "Cy", 1, T1);
    p = do_presence(a, "c1", "s3", "Cy", 1, T1); /* s3 also on a: stays online */
    ASSERT_EQ(heartbeat(b, 50), 2);
    usleep(120 * 1000);
    chg_res_t sw = {0};
    st_redis_sweep(a, on_changes, &sw);
    WAIT(sw);
    ASSERT_EQ(sw.err, 0);
    ASSERT_EQ(sw.n, 1);
    ASSERT_STR_EQ(sw.sid[0], "s2");
    ASSERT_STR_EQ(sw.cls[0], "c1");
    ASSERT_EQ(sw.online[0], 0);
    ASSERT_EQ(sw.online_students[0], 1);
    chg_res_t sw2 = {0};
    st_redis_sweep(a, on_changes, &sw2);
    WAIT(sw2);
    ASSERT_EQ(sw2.n, 0);
    v = do_view(a, "c1", T1);
    ASSERT_EQ(v.students[1].online, 0);
    ASSERT_EQ(v.students[2].online, 1);

    /* b comes back and re-asserts its connections: s2 is online again. */
    const char *ids[] = {"s2"};
    const int counts[] = {1};
    const char *names[] = {"Bob"};
    chg_res_t sy = {0};
    ASSERT_EQ(heartbeat(b, 60000), 1); /* swept: b learns it must re-assert its presence */
    st_redis_sync(b, "c1", 1, ids, counts, names, T1, on_changes, &sy);
    WAIT(sy);
    ASSERT_EQ(sy.err, 0);
    ASSERT_EQ(sy.n, 1);
    ASSERT_STR_EQ(sy.sid[0], "s2");
    ASSERT_EQ(sy.online[0], 1);
    ASSERT_EQ(sy.online_students[0], 2);
    st_free(a);
    st_free(b);
    teardown();
}

/* Two instances sweep the same dead instance at once: every student it held is reported
 * once in all, and each class loses all of its contribution. */
static void test_sweep_race(void)
{
    setup();
    raw_open();
    st_t *a = st_redis_new(rds, "inst-a");
    st_t *b = st_redis_new(rds, "inst-b");
    st_t *d = st_redis_new(rds, "inst-d");
    ASSERT_EQ(heartbeat(a, 60000), 1);
    ASSERT_EQ(heartbeat(b, 60000), 1);
    ASSERT_EQ(heartbeat(d, 60000), 1);
    do_presence(d, "c1", "s1", "Ann", 1, T1);
    do_presence(d, "c1", "s1", "Ann", 1, T1); /* two tabs on d: still one student */
    do_presence(d, "c1", "s2", "Bob", 1, T1);
    do_presence(a, "c1", "s2", "Bob", 1, T1); /* s2 is also on a: stays online */
    do_presence(d, "c2", "s1", "Ann", 1, T1);
    do_presence(d, "c2", "s3", "Cy", 1, T1);
    do_presence(d, "c3", "s4", "Di", 1, T1);
    let_die(d);

    /* Both sweeps go out before either is answered, on one connection, so Redis runs their
     * steps interleaved: both read d as dead and d's classes before either removes
     * anything, and both run the script of every class (3 classes, 2 sweepers). */
    chg_res_t ra, rb;
    memset(&ra, 0, sizeof ra);
    memset(&rb, 0, sizeof rb);
    sweep_class_runs = 0;
    st_redis_sweep(a, on_changes, &ra);
    st_redis_sweep(b, on_changes, &rb);
    RUN_UNTIL(ra.calls && rb.calls, 3000);
    RUN_UNTIL(0, 100); /* time for a second callback that must not come */
    ASSERT_EQ(ra.calls, 1);
    ASSERT_EQ(rb.calls, 1);
    ASSERT_EQ(ra.err, 0);
    ASSERT_EQ(rb.err, 0);
    ASSERT_EQ(sweep_class_runs, 6);
    ASSERT_EQ(ra.n + rb.n, 4);
    static const char *const gone[][2] = {{"c1", "s1"}, {"c2", "s1"}, {"c2", "s3"}, {"c3", "s4"}};
    for (size_t i = 0; i < BRK_ARRAY_LEN(gone); i++) {
        int ia = change_at(&ra, gone[i][0], gone[i][1]),
            ib = change_at(&rb, gone[i][0], gone[i][1]);
        if ((ia >= 0) == (ib >= 0))
            TEST_FAIL("%s/%s reported by %s", gone[i][0], gone[i][1], ia >= 0 ? "both" : "neither");
        const chg_res_t *r = ia >= 0 ? &ra : &rb;
        int at = ia >= 0 ? ia : ib;
        ASSERT_EQ(r->online[at], 0);
        /* The count after the whole class was swept: only a's s2 in c1. */
        ASSERT_EQ(r->online_students[at], strcmp(gone[i][0], "c1") == 0 ? 1 : 0);
    }
    view_res_t v = do_view(a, "c1", T1);
    ASSERT_EQ(v.n, 2);
    ASSERT_EQ(v.students[0].online, 0);
    ASSERT_EQ(v.students[1].online, 1);
    ASSERT_EQ(raw_cmd("EXISTS rc:{c1}:pres:inst-d"), 0);
    ASSERT_EQ(raw_cmd("SISMEMBER rc:{c1}:insts inst-d"), 0);
    ASSERT_EQ(raw_cmd("SISMEMBER rc:instances inst-d"), 0);
    ASSERT_EQ(raw_cmd("EXISTS rc:inst:inst-d:classes"), 0);
    ASSERT_EQ(raw_cmd("SCARD rc:instances"), 2);
    ASSERT(raw_cmd("TTL rc:inst:inst-d:swept") > 0); /* the mark, for d's next heartbeat */
    ASSERT_EQ(do_sweep(b).n, 0);
    raw_close();
    st_free(a);
    st_free(b);
    st_free(d);
    teardown();
}

static st_t *hooked_st; /* the instance whose heartbeat a hook sends */
static int hooked_beat; /* on_done's result for it: 2 known, 1 not known */

static void beat_now(void)
{
    st_redis_heartbeat(hooked_st, 60000, on_done, &hooked_beat);
}

/* b comes back (a heartbeat) at `when`, inside a's sweep that took it for dead. The sweep
 * removes b's presence all the same; b's next heartbeat answers "not known", so b re-asserts
 * its connections and its students are online again. */
static void sweep_while_coming_back(cmd_match_fn when)
{
    setup();
    st_t *a = st_redis_new(rds, "inst-a");
    st_t *b = st_redis_new(rds, "inst-b");
    ASSERT_EQ(heartbeat(a, 60000), 1);
    ASSERT_EQ(heartbeat(b, 60000), 1);
    do_presence(b, "c1", "s1", "Ann", 1, T1);
    do_presence(b, "c2", "s2", "Bob", 1, T1);
    let_die(b);

    hooked_st = b;
    hooked_beat = 0;
    hook(when, beat_now);
    chg_res_t sw = do_sweep(a);
    ASSERT_NULL(hook_when); /* the hook ran */
    RUN_UNTIL(hooked_beat != 0, 3000);
    ASSERT_EQ(hooked_beat, 2); /* b was still registered when it came back */
    ASSERT_EQ(sw.err, 0);
    ASSERT_EQ(sw.n, 2);
    ASSERT(change_at(&sw, "c1", "s1") >= 0);
    ASSERT(change_at(&sw, "c2", "s2") >= 0);
    ASSERT_EQ(do_view(a, "c1", T1).students[0].online, 0);

    /* b's next heartbeat: not known, so b syncs what it holds (broker/cluster.c does this in
     * on_heartbeat). */
    ASSERT_EQ(heartbeat(b, 60000), 1);
    const char *ids1[] = {"s1"}, *ids2[] = {"s2"};
    const char *names1[] = {"Ann"}, *names2[] = {"Bob"};
    const int one[] = {1};
    chg_res_t sy1 = {0}, sy2 = {0};
    st_redis_sync(b, "c1", 1, ids1, one, names1, T1, on_changes, &sy1);
    st_redis_sync(b, "c2", 1, ids2, one, names2, T1, on_changes, &sy2);
    RUN_UNTIL(sy1.calls && sy2.calls, 3000);
    ASSERT_EQ(sy1.n, 1);
    ASSERT_EQ(sy1.online[0], 1);
    ASSERT_EQ(sy2.n, 1);
    ASSERT_EQ(sy2.online[0], 1);
    ASSERT_EQ(heartbeat(b, 60000), 2);
    ASSERT_EQ(do_view(a, "c1", T1).students[0].online, 1);
    ASSERT_EQ(do_view(a, "c2", T1).students[0].online, 1);
    /* b lives: a's sweeps leave it alone now. */
    ASSERT_EQ(do_sweep(a).n, 0);
    ASSERT_EQ(do_view(a, "c2", T1).students[0].online, 1);
    st_free(a);
    st_free(b);
    teardown();
}

/* Back after the sweep read b's heartbeat (gone) and b's classes, before any class script. */
static void test_sweep_back_before_classes(void)
{
    sweep_while_coming_back(is_sweep_class);
}

/* Back after b's presence was removed, before the sweep marked b as swept and removed it
 * from rc:instances. */
static void test_sweep_back_before_cleanup(void)
{
    sweep_while_coming_back(is_swept_mark);
}

/* b was swept while alive (a stall longer than the TTL, say), and its next command to
 * reach Redis is not its heartbeat but a student's connection: presence.lua registers b
 * again (it must, or a death of b right then would leave that presence to nobody). b's
 * next heartbeat must still answer "not known", or b never re-asserts the presence swept. */
static void test_sweep_then_presence_before_heartbeat(void)
{
    setup();
    st_t *a = st_redis_new(rds, "inst-a");
    st_t *b = st_redis_new(rds, "inst-b");
    ASSERT_EQ(heartbeat(a, 60000), 1);
    ASSERT_EQ(heartbeat(b, 60000), 1);
    do_presence(b, "c1", "s1", "Ann", 1, T1);
    let_die(b);
    chg_res_t sw = do_sweep(a);
    ASSERT_EQ(sw.n, 1);
    ASSERT_STR_EQ(sw.sid[0], "s1");
    pres_res_t p = do_presence(b, "c1", "s2", "Bob", 1, T1);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(heartbeat(b, 60000), 1); /* not known: b syncs */
    ASSERT_EQ(heartbeat(b, 60000), 2); /* and only once */
    st_free(a);
    st_free(b);
    teardown();
}

static void kill_redis(void)
{
    redis_server_stop(&srv, SIGKILL);
}

/* Redis dies in the middle of a sweep: one callback, with BRK_ECLOSED and the changes made
 * before (reported nowhere else); nothing leaks (the sanitizer builds check). */
static void test_sweep_redis_gone(void)
{
    setup();
    st_t *a = st_redis_new(rds, "inst-a");
    st_t *b = st_redis_new(rds, "inst-b");
    ASSERT_EQ(heartbeat(a, 60000), 1);
    ASSERT_EQ(heartbeat(b, 60000), 1);
    do_presence(b, "c1", "s1", "Ann", 1, T1);
    do_presence(b, "c2", "s2", "Bob", 1, T1);
    let_die(b);

    /* Before any class script: nothing changed, nothing reported. */
    hook(is_sweep_class, kill_redis);
    chg_res_t sw = do_sweep(a);
    RUN_UNTIL(0, 100);
    ASSERT_EQ(sw.calls, 1);
    ASSERT_EQ(sw.err, BRK_ECLOSED);
    ASSERT_EQ(sw.n, 0);
    /* While Redis is down, the first command already fails. */
    sw = do_sweep(a);
    ASSERT_EQ(sw.err, BRK_ECLOSED);
    ASSERT_EQ(sw.n, 0);

    /* Persistence is off: the restarted server is empty. Build the same state again and
     * let Redis die after the class scripts, before the cleanup. */
    ASSERT_EQ(redis_server_restart(&srv), 0);
    RUN_UNTIL(rds_is_up(rds), 5000);
    ASSERT_EQ(rds_is_up(rds), 1);
    ASSERT_EQ(heartbeat(a, 60000), 1);
    ASSERT_EQ(heartbeat(b, 60000), 1);
    do_presence(b, "c1", "s1", "Ann", 1, T1);
    do_presence(b, "c2", "s2", "Bob", 1, T1);
    let_die(b);
    hook(is_swept_mark, kill_redis);
    sw = do_sweep(a);
    RUN_UNTIL(0, 100);
    ASSERT_EQ(sw.calls, 1);
    ASSERT_EQ(sw.err, BRK_ECLOSED);
    ASSERT_EQ(sw.n, 2);
    ASSERT(change_at(&sw, "c1", "s1") >= 0);
    ASSERT(change_at(&sw, "c2", "s2") >= 0);
    st_free(a);
    st_free(b);
    teardown();
}

/* A class script refused (here: a key of the wrong type): the other classes are swept and
 * reported with the error, the dead instance stays registered with the class that failed,
 * and the next sweep finishes it. */
static void test_sweep_class_refused(void)
{
    setup();
    raw_open();
    st_t *a = st_redis_new(rds, "inst-a");
    st_t *b = st_redis_new(rds, "inst-b");
    ASSERT_EQ(heartbeat(a, 60000), 1);
    ASSERT_EQ(heartbeat(b, 60000), 1);
    do_presence(b, "c1", "s1", "Ann", 1, T1);
    do_presence(b, "c2", "s2", "Bob", 1, T1);
    let_die(b);
    ASSERT_EQ(raw_cmd("DEL rc:{c2}:insts"), 1);
    ASSERT_EQ(raw_cmd("SET rc:{c2}:insts broken"), 0);

    chg_res_t sw = do_sweep(a);
    ASSERT_EQ(sw.err, BRK_EIO);
    ASSERT_EQ(sw.n, 1);
    ASSERT_STR_EQ(sw.cls[0], "c1");
    ASSERT_STR_EQ(sw.sid[0], "s1");
    ASSERT_EQ(raw_cmd("SISMEMBER rc:instances inst-b"), 1);
    ASSERT_EQ(raw_cmd("SISMEMBER rc:inst:inst-b:classes c1"), 0);
    ASSERT_EQ(raw_cmd("SISMEMBER rc:inst:inst-b:classes c2"), 1);
    ASSERT_EQ(raw_cmd("HGET rc:{c2}:pres:inst-b s2"), 1); /* untouched */
    ASSERT_EQ(do_view(a, "c2", T1).students[0].online, 1);

    ASSERT_EQ(raw_cmd("DEL rc:{c2}:insts"), 1);
    sw = do_sweep(a);
    ASSERT_EQ(sw.err, 0);
    ASSERT_EQ(sw.n, 1);
    ASSERT_STR_EQ(sw.cls[0], "c2");
    ASSERT_STR_EQ(sw.sid[0], "s2");
    ASSERT_EQ(sw.online_students[0], 0);
    ASSERT_EQ(raw_cmd("SISMEMBER rc:instances inst-b"), 0);
    ASSERT_EQ(raw_cmd("EXISTS rc:inst:inst-b:classes"), 0);
    ASSERT_EQ(do_sweep(a).n, 0);
    raw_close();
    st_free(a);
    st_free(b);
    teardown();
}

static void test_engage_and_claim(void)
{
    setup();
    st_t *st = st_redis_new(rds, "e1");
    ASSERT_EQ(do_engage_on(st, "c1", "s1", 1, ST_VIOL_NONE, T1).err, BRK_ESTATE);
    ses_res_t o = do_open(st, "c1", "t1", T1);
    /* A second instance on the same Redis: the student's frames arrive on both (two tabs,
     * balanced to two brokers). Each gap is earned once, whichever instance sees it. */
    st_t *st2 = st_redis_new(rds, "e2");
    stu_res_t r = do_engage_on(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 3000); /* first: 0 */
    ASSERT_EQ(r.err, 0);
    ASSERT_DOUBLE_NEAR(r.st.engaged_seconds, 0.0, 1e-9);
    r = do_engage_on(st2, "c1", "s1", 1, ST_VIOL_NONE, T1 + 4500);          /* +1.5 */
    ASSERT_EQ(r.err, 0);
    r = do_engage_on(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 6000);           /* +1.5 */
    ASSERT_DOUBLE_NEAR(r.st.engaged_seconds, 3.0, 1e-9);
    r = do_engage_on(st2, "c1", "s1", 1, ST_VIOL_NONE, T1 + 5000);          /* older: 0 */
    ASSERT_DOUBLE_NEAR(r.st.engaged_seconds, 3.0, 1e-9);
    ASSERT_EQ(r.st.last_frame_ms, T1 + 6000);
    r = do_engage_on(st, "c1", "s1", 0, ST_VIOL_LOOKING_AWAY, T1 + 9000);   /* not engaged */
    r = do_engage_on(st2, "c1", "s1", 1, ST_VIOL_NONE, T1 + 30000);         /* capped: +6 */
    r = do_engage_on(st, "c1", "s1", 0, ST_VIOL_NO_FACE, T1 + 33000);
    ASSERT_EQ(r.st.frames_analyzed, 7);
    ASSERT_EQ(r.st.last_frame_ms, T1 + 33000);
    ASSERT_EQ(r.st.violations_looking_away, 1);
    ASSERT_EQ(r.st.violations_no_face, 1);
    ASSERT_EQ(r.st.violations_multi_face, 0);
    ASSERT_DOUBLE_NEAR(r.st.engaged_seconds, 9.0, 1e-9);
    st_free(st2);
    stu_res_t bad = {0};
    const st_frame_t neg = {.engaged = 1, .at_ms = T1 + 34000, .cap_s = -1.0, .viol = ST_VIOL_NONE};
    st_engage(st, "c1", "s1", "", &neg, T1 + 34000, on_student, &bad);
    ASSERT_EQ(bad.err, BRK_EINVAL);

    claim_res_t c1 = {0}, c2 = {0};
    st_claim(st, "c1", o.s.session_id, on_claim, &c1);
    st_claim(st, "c1", o.s.session_id, on_claim, &c2);
    RUN_UNTIL(c1.calls && c2.calls, 3000);
    ASSERT_EQ(c1.err, 0);
    ASSERT_EQ(c2.err, 0);
    ASSERT_EQ(c1.first, 1);
    ASSERT_EQ(c2.first, 0);

    /* After a flush of the script cache (as after a Redis restart) EVAL takes over. */
    int flushed = 0;
    rds_command(rds, NULL, NULL, "SCRIPT FLUSH");
    st_redis_heartbeat(st, 1000, on_done, &flushed);
    RUN_UNTIL(flushed != 0, 3000);
    view_res_t v = do_view(st, "c1", T1 + 34000);
    ASSERT_EQ(v.err, 0);
    ASSERT_EQ(v.n, 1);
    ASSERT_EQ(v.students[0].frames_analyzed, 7);
    ASSERT_EQ(do_finalized(st, "c1", o.s.session_id, T1 + 40000).err, 0);
    ASSERT_EQ(do_engage_on(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 41000).err, BRK_ESTATE);
    st_free(st);
    teardown();
}

static void test_unavailable(void)
{
    setup();
    st_t *st = st_redis_new(rds, "u1");
    ASSERT_EQ(do_open(st, "c1", "t1", T1).err, 0);
    ASSERT_EQ(redis_server_stop(&srv, SIGKILL), 0);
    RUN_UNTIL(!rds_is_up(rds), 3000);
    ses_res_t m = do_mark(st, "c1", "s1", "", ST_MARK_PRESENT, "t1", T1);
    ASSERT_EQ(m.err, BRK_ECLOSED);
    ASSERT_EQ(m.had, 0);
    view_res_t v = do_view(st, "c1", T1);
    ASSERT_EQ(v.err, BRK_ECLOSED);
    ASSERT_EQ(redis_server_restart(&srv), 0);
    RUN_UNTIL(rds_is_up(rds), 5000);
    ASSERT_EQ(rds_is_up(rds), 1);
    /* A fresh server (no persistence here): the scripts load again through EVAL. */
    m = do_mark(st, "c1", "s1", "", ST_MARK_PRESENT, "t1", T1);
    ASSERT_EQ(m.err, 0);
    st_free(st);
    teardown();
}

static const test_case_t tests[] = {
    {"sessions_and_marks", test_sessions_and_marks},
    {"presence_two_instances", test_presence_two_instances},
    {"sweep_race", test_sweep_race},
    {"sweep_back_before_classes", test_sweep_back_before_classes},
    {"sweep_back_before_cleanup", test_sweep_back_before_cleanup},
    {"sweep_then_presence_before_heartbeat", test_sweep_then_presence_before_heartbeat},
    {"sweep_redis_gone", test_sweep_redis_gone},
    {"sweep_class_refused", test_sweep_class_refused},
    {"engage_and_claim", test_engage_and_claim},
    {"unavailable", test_unavailable},
};

int main(void)
{
    log_level = LOG_OFF;
    signal(SIGPIPE, SIG_IGN);
    if (!redis_server_available()) {
        printf("skipped: redis-server not installed (%s)\n", REDIS_SERVER_BIN);
        return 77;
    }
    return test_run_all(tests, BRK_ARRAY_LEN(tests));
}

/* SPDX-License-Identifier: MIT */
/* Unit tests of the in-process live-state engine: sessions, marks, presence counting, the
 * class bound, lazy day roll-over and sorted views. */
#include "brk.h"
#include "state.h"
#include "test.h"

#define DAY1 1795305600000LL /* 2026-11-22T00:00:00Z */
#define HOUR 3600000LL
#define DAY (24 * HOUR)
#define T1 (DAY1 + 8 * HOUR)       /* 2026-11-22 08:00 */
#define T2 (DAY1 + DAY + 8 * HOUR) /* 2026-11-23 08:00 */

/* What a session callback saw. */
typedef struct {
    int calls;
    int err;
    int created;
    int had_session;
    st_session_t s;
} ses_res_t;

static void on_session(int err, const st_session_t *s, int created, void *ud)
{
    ses_res_t *r = ud;
    r->calls++;
    r->err = err;
    r->created = created;
    r->had_session = s != NULL;
    if (s)
        r->s = *s;
    else
        memset(&r->s, 0, sizeof(r->s));
}

typedef struct {
    int calls;
    int err;
    int changed;
    int online;
} pres_res_t;

static void on_presence(int err, int changed, int online_students, void *ud)
{
    pres_res_t *r = ud;
    r->calls++;
    r->err = err;
    r->changed = changed;
    r->online = online_students;
}

/* A deep copy of a view, taken inside the callback (views are borrowed). */
typedef struct {
    int calls;
    int err;
    st_session_t session;
    size_t n;
    st_student_t students[64];
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

static ses_res_t do_open(st_t *st, const char *cls, const char *teacher, int64_t now)
{
    ses_res_t r = {0};
    st_session_open(st, cls, teacher, now, on_session, &r);
    ASSERT_EQ(r.calls, 1); /* synchronous */
    return r;
}

static ses_res_t do_mark(st_t *st, const char *cls, const char *student, const char *name,
                         st_mark_t m, const char *by, int64_t now)
{
    ses_res_t r = {0};
    st_mark(st, cls, student, name, m, by, now, on_session, &r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static pres_res_t do_presence(st_t *st, const char *cls, const char *student, const char *name,
                              int delta, int64_t now)
{
    pres_res_t r = {0};
    st_presence(st, cls, student, name, delta, now, on_presence, &r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static view_res_t *do_view(st_t *st, const char *cls, int64_t now)
{
    static view_res_t r;
    memset(&r, 0, sizeof(r));
    st_view(st, cls, now, on_view, &r);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.err, 0);
    return &r;
}

static ses_res_t do_finalized(st_t *st, const char *cls, const char *sid, int64_t at)
{
    ses_res_t r = {0};
    st_finalized(st, cls, sid, at, on_session, &r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static int is_hex32(const char *s)
{
    if (strlen(s) != 32)
        return 0;
    for (; *s; s++)
        if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
            return 0;
    return 1;
}

static void test_open_idempotent_and_finalized(void)
{
    st_t *st = st_memory_new(8);
    ses_res_t a = do_open(st, "c1", "t1", T1);
    ASSERT_EQ(a.err, 0);
    ASSERT_EQ(a.created, 1);
    ASSERT_EQ(a.s.state, ST_SESSION_ACTIVE);
    ASSERT_STR_EQ(a.s.class_id, "c1");
    ASSERT_STR_EQ(a.s.teacher_id, "t1");
    ASSERT_STR_EQ(a.s.date, "2026-11-22");
    ASSERT_EQ(a.s.started_at_ms, T1);
    ASSERT_EQ(a.s.ended_at_ms, 0);
    ASSERT(is_hex32(a.s.session_id));

    /* A second open returns the same session, not a new one. */
    ses_res_t b = do_open(st, "c1", "t2", T1 + 1000);
    ASSERT_EQ(b.err, 0);
    ASSERT_EQ(b.created, 0);
    ASSERT_STR_EQ(b.s.session_id, a.s.session_id);
    ASSERT_STR_EQ(b.s.teacher_id, "t1");
    ASSERT_EQ(b.s.started_at_ms, T1);

    /* Another class gets its own session id. */
    ses_res_t other = do_open(st, "c2", "t1", T1);
    ASSERT_EQ(other.created, 1);
    ASSERT(strcmp(other.s.session_id, a.s.session_id) != 0);

    /* Finalizing the wrong id is refused; the right one works and is idempotent. */
    ses_res_t w = do_finalized(st, "c1", "deadbeef", T1 + HOUR);
    ASSERT_EQ(w.err, BRK_ESTATE);
    ASSERT_EQ(w.s.state, ST_SESSION_ACTIVE);
    ses_res_t f = do_finalized(st, "c1", a.s.session_id, T1 + HOUR);
    ASSERT_EQ(f.err, 0);
    ASSERT_EQ(f.s.state, ST_SESSION_FINALIZED);
    ASSERT_EQ(f.s.ended_at_ms, T1 + HOUR);
    ses_res_t f2 = do_finalized(st, "c1", a.s.session_id, T1 + 2 * HOUR);
    ASSERT_EQ(f2.err, 0);
    ASSERT_EQ(f2.s.state, ST_SESSION_FINALIZED);
    ASSERT_EQ(f2.s.ended_at_ms, T1 + HOUR); /* the first end time stays */

    /* The day's session is closed for good: opening again is refused. */
    ses_res_t c = do_open(st, "c1", "t1", T1 + 2 * HOUR);
    ASSERT_EQ(c.err, BRK_ESTATE);
    ASSERT_EQ(c.s.state, ST_SESSION_FINALIZED);
    ASSERT_STR_EQ(c.s.session_id, a.s.session_id);

    /* Finalizing a class without a session, or an unknown class, is refused. */
    ASSERT_EQ(do_finalized(st, "c3", a.s.session_id, T1).err, BRK_ESTATE);
    do_presence(st, "c4", "s1", "", 1, T1);
    ASSERT_EQ(do_finalized(st, "c4", "", T1).err, BRK_ESTATE);
    st_free(st);
}

static void test_mark_auto_opens(void)
{
    st_t *st = st_memory_new(8);
    ses_res_t m = do_mark(st, "c1", "s2", "Bea", ST_MARK_LATE, "t9", T1);
    ASSERT_EQ(m.err, 0);
    ASSERT_EQ(m.created, 1);
    ASSERT_EQ(m.s.state, ST_SESSION_ACTIVE);
    ASSERT_STR_EQ(m.s.teacher_id, "t9");
    ASSERT(is_hex32(m.s.session_id));

    /* The next mark uses the open session. */
    ses_res_t m2 = do_mark(st, "c1", "s1", "", ST_MARK_PRESENT, "t8", T1 + 5000);
    ASSERT_EQ(m2.err, 0);
    ASSERT_EQ(m2.created, 0);
    ASSERT_STR_EQ(m2.s.session_id, m.s.session_id);

    /* An explicit open after an auto-open is the same session. */
    ses_res_t o = do_open(st, "c1", "t1", T1 + 6000);
    ASSERT_EQ(o.created, 0);
    ASSERT_STR_EQ(o.s.session_id, m.s.session_id);

    view_res_t *v = do_view(st, "c1", T1 + 7000);
    ASSERT_EQ(v->n, 2);
    ASSERT_STR_EQ(v->students[0].student_id, "s1");
    ASSERT_STR_EQ(v->students[0].name, "");
    ASSERT_EQ(v->students[0].mark, ST_MARK_PRESENT);
    ASSERT_STR_EQ(v->students[0].marked_by, "t8");
    ASSERT_EQ(v->students[0].marked_at_ms, T1 + 5000);
    ASSERT_EQ(v->students[0].online, 0);
    ASSERT_STR_EQ(v->students[1].student_id, "s2");
    ASSERT_STR_EQ(v->students[1].name, "Bea");
    ASSERT_EQ(v->students[1].mark, ST_MARK_LATE);
    ASSERT_STR_EQ(v->students[1].marked_by, "t9");
    ASSERT_EQ(v->students[1].first_seen_ms, T1);

    /* Re-marking overrides; an empty name keeps the known one. */
    do_mark(st, "c1", "s2", "", ST_MARK_ABSENT, "t1", T1 + 8000);
    v = do_view(st, "c1", T1 + 9000);
    ASSERT_EQ(v->n, 2);
    ASSERT_EQ(v->students[1].mark, ST_MARK_ABSENT);
    ASSERT_STR_EQ(v->students[1].marked_by, "t1");
    ASSERT_STR_EQ(v->students[1].name, "Bea");

    /* After finalize, marks are refused and change nothing. */
    ASSERT_EQ(do_finalized(st, "c1", m.s.session_id, T1 + HOUR).err, 0);
    ses_res_t late = do_mark(st, "c1", "s3", "Cy", ST_MARK_PRESENT, "t1", T1 + HOUR + 1);
    ASSERT_EQ(late.err, BRK_ESTATE);
    ASSERT_EQ(late.s.state, ST_SESSION_FINALIZED);
    v = do_view(st, "c1", T1 + HOUR + 2);
    ASSERT_EQ(v->n, 2);
    ASSERT_EQ(v->session.state, ST_SESSION_FINALIZED);

    /* A non-mark value and bad ids are refused. */
    ASSERT_EQ(do_mark(st, "c2", "s1", "", ST_MARK_NONE, "t1", T1).err, BRK_EINVAL);
    ASSERT_EQ(do_mark(st, "c2", "", "", ST_MARK_PRESENT, "t1", T1).err, BRK_EINVAL);
    ASSERT_EQ(do_view(st, "c2", T1)->session.state, ST_SESSION_NONE);
    st_free(st);
}

static void test_presence_two_tabs(void)
{
    st_t *st = st_memory_new(8);
    pres_res_t p = do_presence(st, "c1", "s1", "Ann", 1, T1);
    ASSERT_EQ(p.err, 0);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 1);

    /* A second tab of the same student is not a new student. */
    p = do_presence(st, "c1", "s1", "", 1, T1 + 1);
    ASSERT_EQ(p.changed, 0);
    ASSERT_EQ(p.online, 1);

    p = do_presence(st, "c1", "s2", "Ben", 1, T1 + 2);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 2);

    /* Closing one tab keeps the student online. */
    p = do_presence(st, "c1", "s1", "", -1, T1 + 3);
    ASSERT_EQ(p.err, 0);
    ASSERT_EQ(p.changed, 0);
    ASSERT_EQ(p.online, 2);
    view_res_t *v = do_view(st, "c1", T1 + 3);
    ASSERT_EQ(v->students[0].online, 1);

    p = do_presence(st, "c1", "s1", "", -1, T1 + 4);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 1);

    /* Extra leaves are clamped: never negative, no change. */
    p = do_presence(st, "c1", "s1", "", -1, T1 + 5);
    ASSERT_EQ(p.err, 0);
    ASSERT_EQ(p.changed, 0);
    ASSERT_EQ(p.online, 1);
    p = do_presence(st, "c1", "nobody", "", -1, T1 + 5);
    ASSERT_EQ(p.changed, 0);
    ASSERT_EQ(p.online, 1);

    /* Students who left stay in today's view (they appeared today), offline. */
    v = do_view(st, "c1", T1 + 6);
    ASSERT_EQ(v->session.state, ST_SESSION_NONE);
    ASSERT_EQ(v->n, 2);
    ASSERT_STR_EQ(v->students[0].student_id, "s1");
    ASSERT_STR_EQ(v->students[0].name, "Ann");
    ASSERT_EQ(v->students[0].online, 0);
    ASSERT_EQ(v->students[0].first_seen_ms, T1);
    ASSERT_STR_EQ(v->students[1].name, "Ben");
    ASSERT_EQ(v->students[1].online, 1);

    /* Coming back is a change again, and a given name replaces the old one. */
    p = do_presence(st, "c1", "s1", "Ann B.", 1, T1 + 7);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 2);
    v = do_view(st, "c1", T1 + 8);
    ASSERT_STR_EQ(v->students[0].name, "Ann B.");

    /* A leave on an unknown class does not create it; bad deltas are refused. */
    p = do_presence(st, "c9", "s1", "", -1, T1);
    ASSERT_EQ(p.err, 0);
    ASSERT_EQ(p.changed, 0);
    ASSERT_EQ(p.online, 0);
    ASSERT_EQ(do_presence(st, "c1", "s1", "", 2, T1).err, BRK_EINVAL);
    ASSERT_EQ(do_presence(st, "c1", "s1", "", 0, T1).err, BRK_EINVAL);
    st_free(st);
}

static void test_unknown_class_view_and_max_classes(void)
{
    st_t *st = st_memory_new(2);
    /* Viewing unknown classes must not use up the class budget. */
    for (int i = 0; i < 10; i++) {
        char id[16];
        snprintf(id, sizeof(id), "ghost%d", i);
        view_res_t *v = do_view(st, id, T1);
        ASSERT_EQ(v->session.state, ST_SESSION_NONE);
        ASSERT_STR_EQ(v->session.class_id, id);
        ASSERT_STR_EQ(v->session.date, "2026-11-22");
        ASSERT_STR_EQ(v->session.session_id, "");
        ASSERT_EQ(v->n, 0);
    }
    ASSERT_EQ(do_open(st, "a", "t", T1).err, 0);
    ASSERT_EQ(do_presence(st, "b", "s1", "", 1, T1).err, 0);

    /* A third class is refused by every creating operation. */
    ses_res_t r = do_open(st, "c", "t", T1);
    ASSERT_EQ(r.err, BRK_ENOMEM);
    ASSERT_EQ(r.had_session, 0);
    ASSERT_EQ(do_mark(st, "c", "s1", "", ST_MARK_PRESENT, "t", T1).err, BRK_ENOMEM);
    ASSERT_EQ(do_presence(st, "c", "s1", "", 1, T1).err, BRK_ENOMEM);

    /* Existing classes keep working. */
    ASSERT_EQ(do_mark(st, "a", "s1", "", ST_MARK_PRESENT, "t", T1).err, 0);
    ASSERT_EQ(do_presence(st, "b", "s2", "", 1, T1).err, 0);
    st_free(st);
}

static void test_stale_classes_reclaimed(void)
{
    st_t *st = st_memory_new(2);
    ses_res_t a = do_open(st, "a", "t", T1);
    ASSERT_EQ(do_finalized(st, "a", a.s.session_id, T1 + HOUR).err, 0);
    do_open(st, "b", "t", T1);
    ASSERT_EQ(do_open(st, "c", "t", T1).err, BRK_ENOMEM);

    /* Next day "a" is finished and empty, so it makes room; "b" is still active. */
    ASSERT_EQ(do_open(st, "c", "t", T2).err, 0);
    ASSERT_EQ(do_open(st, "d", "t", T2).err, BRK_ENOMEM);
    ASSERT_EQ(do_view(st, "b", T2)->session.state, ST_SESSION_ACTIVE);
    st_free(st);
}

static void test_max_students(void)
{
    st_t *st = st_memory_new(1);
    char id[16];
    for (int i = 0; i < 10000; i++) {
        snprintf(id, sizeof(id), "s%05d", i);
        pres_res_t p = {0};
        st_presence(st, "c", id, "", 1, T1, on_presence, &p);
        if (p.err != 0)
            TEST_FAIL("student %d refused: %d", i, p.err);
    }
    ASSERT_EQ(do_presence(st, "c", "zzz", "", 1, T1).err, BRK_ENOMEM);
    ASSERT_EQ(do_mark(st, "c", "zzz", "", ST_MARK_PRESENT, "t", T1).err, BRK_ENOMEM);
    /* The refused mark did not open a session as a side effect. */
    ASSERT_EQ(do_view(st, "c", T1)->session.state, ST_SESSION_NONE);
    /* Known students can still be marked. */
    ASSERT_EQ(do_mark(st, "c", "s00042", "", ST_MARK_PRESENT, "t", T1).err, 0);
    st_free(st);
}

static void test_day_rollover_after_finalize(void)
{
    st_t *st = st_memory_new(4);
    ses_res_t o = do_open(st, "c1", "t1", T1);
    do_presence(st, "c1", "on", "Online", 1, T1);
    do_presence(st, "c1", "off", "Offline", 1, T1);
    do_presence(st, "c1", "off", "", -1, T1 + 1000);
    do_mark(st, "c1", "on", "", ST_MARK_LATE, "t1", T1 + 2000);
    do_mark(st, "c1", "marked", "Marked", ST_MARK_PRESENT, "t1", T1 + 2000);
    ASSERT_EQ(do_finalized(st, "c1", o.s.session_id, T1 + HOUR).err, 0);

    /* Still day 1: the finalized session stays. */
    ASSERT_EQ(do_view(st, "c1", T1 + 2 * HOUR)->session.state, ST_SESSION_FINALIZED);

    /* Day 2: a fresh day; only the online student remains, with day 1's data cleared. */
    view_res_t *v = do_view(st, "c1", T2);
    ASSERT_EQ(v->session.state, ST_SESSION_NONE);
    ASSERT_STR_EQ(v->session.date, "2026-11-23");
    ASSERT_STR_EQ(v->session.class_id, "c1");
    ASSERT_STR_EQ(v->session.session_id, "");
    ASSERT_STR_EQ(v->session.teacher_id, "");
    ASSERT_EQ(v->session.started_at_ms, 0);
    ASSERT_EQ(v->session.ended_at_ms, 0);
    ASSERT_EQ(v->n, 1);
    ASSERT_STR_EQ(v->students[0].student_id, "on");
    ASSERT_STR_EQ(v->students[0].name, "Online");
    ASSERT_EQ(v->students[0].mark, ST_MARK_NONE);
    ASSERT_STR_EQ(v->students[0].marked_by, "");
    ASSERT_EQ(v->students[0].marked_at_ms, 0);
    ASSERT_EQ(v->students[0].online, 1);
    ASSERT_EQ(v->students[0].first_seen_ms, T2);

    /* The online count carried over: a second student makes two. */
    pres_res_t p = do_presence(st, "c1", "new", "", 1, T2 + 1);
    ASSERT_EQ(p.changed, 1);
    ASSERT_EQ(p.online, 2);

    /* Day 2 gets its own session. */
    ses_res_t o2 = do_open(st, "c1", "t2", T2 + 2);
    ASSERT_EQ(o2.err, 0);
    ASSERT_EQ(o2.created, 1);
    ASSERT_STR_EQ(o2.s.date, "2026-11-23");
    ASSERT(strcmp(o2.s.session_id, o.s.session_id) != 0);

    /* Day 2's session replaced day 1's, so day 1's id no longer matches. */
    ASSERT_EQ(do_finalized(st, "c1", o.s.session_id, T2 + 3).err, BRK_ESTATE);
    st_free(st);
}

static void test_day_rollover_without_session(void)
{
    st_t *st = st_memory_new(4);
    do_presence(st, "c1", "a", "", 1, T1);
    do_presence(st, "c1", "b", "", 1, T1);
    do_presence(st, "c1", "b", "", -1, T1);
    /* A presence op on day 2 rolls the class over too. */
    pres_res_t p = do_presence(st, "c1", "c", "", 1, T2);
    ASSERT_EQ(p.online, 2);
    view_res_t *v = do_view(st, "c1", T2);
    ASSERT_STR_EQ(v->session.date, "2026-11-23");
    ASSERT_EQ(v->n, 2);
    ASSERT_STR_EQ(v->students[0].student_id, "a");
    ASSERT_STR_EQ(v->students[1].student_id, "c");
    st_free(st);
}

static void test_active_session_survives_midnight(void)
{
    st_t *st = st_memory_new(4);
    ses_res_t o = do_open(st, "c1", "t1", T1);
    do_presence(st, "c1", "off", "", 1, T1);
    do_presence(st, "c1", "off", "", -1, T1);
    do_mark(st, "c1", "m", "", ST_MARK_ABSENT, "t1", T1);

    view_res_t *v = do_view(st, "c1", T2);
    ASSERT_EQ(v->session.state, ST_SESSION_ACTIVE);
    ASSERT_STR_EQ(v->session.date, "2026-11-22");
    ASSERT_STR_EQ(v->session.session_id, o.s.session_id);
    ASSERT_EQ(v->n, 2); /* nobody dropped while the session runs */
    ASSERT_EQ(v->students[0].mark, ST_MARK_ABSENT);

    ses_res_t again = do_open(st, "c1", "t1", T2);
    ASSERT_EQ(again.created, 0);
    ASSERT_STR_EQ(again.s.session_id, o.s.session_id);
    ses_res_t m = do_mark(st, "c1", "x", "", ST_MARK_PRESENT, "t1", T2);
    ASSERT_EQ(m.err, 0);
    ASSERT_STR_EQ(m.s.session_id, o.s.session_id);

    /* Finalized on day 2, it is still day 1's session. */
    ses_res_t f = do_finalized(st, "c1", o.s.session_id, T2 + 1);
    ASSERT_EQ(f.err, 0);
    ASSERT_STR_EQ(f.s.date, "2026-11-22");

    /* DONE re-reads the view right after freezing: it must still see the frozen session and
     * its students, and so must reads and presence for the rest of day 2. */
    v = do_view(st, "c1", T2 + 2);
    ASSERT_EQ(v->session.state, ST_SESSION_FINALIZED);
    ASSERT_STR_EQ(v->session.session_id, o.s.session_id);
    ASSERT_EQ(v->session.ended_at_ms, T2 + 1);
    ASSERT_EQ(v->n, 3);
    ASSERT_EQ(do_presence(st, "c1", "p", "", 1, T2 + 3).online, 1);
    v = do_view(st, "c1", T2 + 4);
    ASSERT_EQ(v->session.state, ST_SESSION_FINALIZED);
    ASSERT_EQ(v->n, 4);

    /* A write that needs a session starts day 2 at once; only online students stay. */
    ses_res_t m2 = do_mark(st, "c1", "x", "", ST_MARK_LATE, "t2", T2 + 5);
    ASSERT_EQ(m2.err, 0);
    ASSERT_EQ(m2.created, 1);
    ASSERT_STR_EQ(m2.s.date, "2026-11-23");
    ASSERT(strcmp(m2.s.session_id, o.s.session_id) != 0);
    v = do_view(st, "c1", T2 + 6);
    ASSERT_EQ(v->session.state, ST_SESSION_ACTIVE);
    ASSERT_EQ(v->n, 2);
    ASSERT_STR_EQ(v->students[0].student_id, "p");
    ASSERT_EQ(v->students[0].online, 1);
    ASSERT_STR_EQ(v->students[1].student_id, "x");
    ASSERT_EQ(v->students[1].mark, ST_MARK_LATE);
    ASSERT_EQ(v->students[1].online, 0);
    st_free(st);
}

static void test_late_finalized_session_rolls_next_day(void)
{
    st_t *st = st_memory_new(4);
    ses_res_t o = do_open(st, "c1", "t1", T1 + 15 * HOUR); /* 23:00 */
    do_presence(st, "c1", "s", "", 1, T1);
    ASSERT_EQ(do_finalized(st, "c1", o.s.session_id, T2 - 7 * HOUR).err, 0); /* 01:00 */
    /* An open on day 2 starts day 2 instead of being refused as finalized. */
    ses_res_t o2 = do_open(st, "c1", "t1", T2);
    ASSERT_EQ(o2.err, 0);
    ASSERT_EQ(o2.created, 1);
    ASSERT_STR_EQ(o2.s.date, "2026-11-23");
    ASSERT_EQ(do_finalized(st, "c1", o2.s.session_id, T2 + HOUR).err, 0);

    /* Finalized on its own day: the next day starts with any op, reads included. */
    view_res_t *v = do_view(st, "c1", T2 + DAY);
    ASSERT_EQ(v->session.state, ST_SESSION_NONE);
    ASSERT_STR_EQ(v->session.date, "2026-11-24");
    ASSERT_EQ(v->n, 1);

    /* Reclaiming a full table follows the same rule. */
    st_t *st2 = st_memory_new(1);
    ses_res_t a = do_open(st2, "a", "t", T1 + 15 * HOUR);
    do_finalized(st2, "a", a.s.session_id, T2 - 7 * HOUR);
    ASSERT_EQ(do_open(st2, "b", "t", T2).err, BRK_ENOMEM); /* "a" is still readable today */
    ASSERT_EQ(do_open(st2, "b", "t", T2 + DAY).err, 0);
    st_free(st2);
    st_free(st);
}

static void test_view_sorted(void)
{
    st_t *st = st_memory_new(4);
    static const char *ids[] = {"m", "b", "z", "a", "k", "c", "y", "aa", "b1", "0"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(ids); i++) {
        if (i % 2)
            do_presence(st, "c1", ids[i], "", 1, T1);
        else
            do_mark(st, "c1", ids[i], "", ST_MARK_PRESENT, "t", T1);
    }
    /* Repeats do not duplicate. */
    do_presence(st, "c1", "m", "", 1, T1);
    do_mark(st, "c1", "b", "", ST_MARK_LATE, "t", T1);
    view_res_t *v = do_view(st, "c1", T1);
    ASSERT_EQ(v->n, BRK_ARRAY_LEN(ids));
    for (size_t i = 1; i < v->n; i++)
        if (strcmp(v->students[i - 1].student_id, v->students[i].student_id) >= 0)
            TEST_FAIL("not sorted at %zu: %s, %s", i, v->students[i - 1].student_id,
                      v->students[i].student_id);
    ASSERT_STR_EQ(v->students[0].student_id, "0");
    ASSERT_STR_EQ(v->students[v->n - 1].student_id, "z");
    st_free(st);
}

static void test_many_classes(void)
{
    /* Enough classes to grow the hash table several times; each keeps its own state. */
    st_t *st = st_memory_new(1000);
    char cls[16];
    static char ids[1000][ST_ID];
    for (int i = 0; i < 1000; i++) {
        snprintf(cls, sizeof(cls), "class-%d", i);
        ses_res_t r = do_open(st, cls, "t", T1);
        if (r.err != 0 || !r.created)
            TEST_FAIL("open %s: %d", cls, r.err);
        memcpy(ids[i], r.s.session_id, ST_ID);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(cls, sizeof(cls), "class-%d", i);
        view_res_t *v = do_view(st, cls, T1);
        ASSERT_EQ(v->session.state, ST_SESSION_ACTIVE);
        ASSERT_STR_EQ(v->session.session_id, ids[i]);
    }
    ASSERT_EQ(do_open(st, "one-more", "t", T1).err, BRK_ENOMEM);
    st_free(st);
}

static void test_long_ids(void)
{
    st_t *st = st_memory_new(4);
    char id64[65], id65[66], name[300];
    memset(id64, 'x', 64);
    id64[64] = '\0';
    memset(id65, 'y', 65);
    id65[65] = '\0';
    memset(name, 'n', 299);
    name[299] = '\0';
    ASSERT_EQ(do_presence(st, id64, id64, name, 1, T1).err, 0);
    ASSERT_EQ(do_presence(st, id65, "s", "", 1, T1).err, BRK_EINVAL);
    ASSERT_EQ(do_mark(st, id64, id65, "", ST_MARK_PRESENT, "t", T1).err, BRK_EINVAL);
    view_res_t *v = do_view(st, id64, T1);
    ASSERT_EQ(v->n, 1);
    ASSERT_STR_EQ(v->students[0].student_id, id64);
    ASSERT_EQ(strlen(v->students[0].name), ST_NAME - 1); /* truncated, terminated */
    st_free(st);
}

/* A callback may re-enter the engine (the memory engine calls back synchronously). */
static st_t *reenter_st;
static void on_reenter(int err, const st_session_t *s, int created, void *ud)
{
    view_res_t *r = ud;
    (void)err;
    (void)created;
    st_view(reenter_st, s->class_id, T1, on_view, r);
}

static void test_reentrant_callback(void)
{
    st_t *st = st_memory_new(4);
    reenter_st = st;
    view_res_t r;
    memset(&r, 0, sizeof(r));
    st_mark(st, "c1", "s1", "", ST_MARK_PRESENT, "t", T1, on_reenter, &r);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.session.state, ST_SESSION_ACTIVE);
    ASSERT_EQ(r.n, 1);
    /* NULL callbacks are allowed for fire-and-forget calls. */
    st_presence(st, "c1", "s1", "", 1, T1, NULL, NULL);
    st_presence(st, "c1", "s1", "", -1, T1, NULL, NULL);
    st_free(st);
    st_free(NULL);
}

static void test_mark_names(void)
{
    st_mark_t m = ST_MARK_NONE;
    ASSERT_EQ(st_parse_mark("present", &m), 0);
    ASSERT_EQ(m, ST_MARK_PRESENT);
    ASSERT_EQ(st_parse_mark("absent", &m), 0);
    ASSERT_EQ(m, ST_MARK_ABSENT);
    ASSERT_EQ(st_parse_mark("late", &m), 0);
    ASSERT_EQ(m, ST_MARK_LATE);
    ASSERT_EQ(st_parse_mark("Present", &m), BRK_EINVAL);
    ASSERT_EQ(st_parse_mark("unmarked", &m), BRK_EINVAL);
    ASSERT_EQ(st_parse_mark("", &m), BRK_EINVAL);
    ASSERT_EQ(st_parse_mark(NULL, &m), BRK_EINVAL);
    ASSERT_EQ(m, ST_MARK_LATE);
    ASSERT_STR_EQ(st_mark_name(ST_MARK_PRESENT), "present");
    ASSERT_STR_EQ(st_mark_name(ST_MARK_ABSENT), "absent");
    ASSERT_STR_EQ(st_mark_name(ST_MARK_LATE), "late");
    ASSERT_STR_EQ(st_mark_name(ST_MARK_NONE), "unmarked");
}

typedef struct {
    int calls;
    int err;
    int had_student;
    st_session_t s;
    st_student_t st;
} eng_res_t;

static void on_engage(int err, const st_session_t *s, const st_student_t *student, void *ud)
{
    eng_res_t *r = ud;
    r->calls++;
    r->err = err;
    r->had_student = student != NULL;
    if (s)
        r->s = *s;
    if (student)
        r->st = *student;
}

/* One frame received at `at` (also used as now), credit capped at 6 s. */
static eng_res_t do_engage(st_t *st, const char *cls, const char *student, int engaged,
                           st_violation_t v, int64_t at)
{
    eng_res_t r;
    memset(&r, 0, sizeof(r));
    const st_frame_t f = {.engaged = engaged, .at_ms = at, .cap_s = 6.0, .viol = v};
    st_engage(st, cls, student, "Stu", &f, at, on_engage, &r);
    ASSERT_EQ(r.calls, 1);
    return r;
}

static void test_engage_accrues_only_in_active_session(void)
{
    st_t *st = st_memory_new(4);
    /* No session yet: nothing is counted and the student is not added. */
    eng_res_t r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1);
    ASSERT_EQ(r.err, BRK_ESTATE);
    ASSERT_EQ(r.had_student, 0);
    view_res_t *v = do_view(st, "c1", T1);
    ASSERT_EQ(v->n, 0);

    do_open(st, "c1", "t1", T1);
    /* The first frame earns nothing: there is no gap to measure. */
    r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 3000);
    ASSERT_EQ(r.err, 0);
    ASSERT_EQ(r.s.state, ST_SESSION_ACTIVE);
    ASSERT_STR_EQ(r.st.student_id, "s1");
    ASSERT_STR_EQ(r.st.name, "Stu");
    ASSERT_EQ(r.st.frames_analyzed, 1);
    ASSERT_EQ(r.st.last_frame_ms, T1 + 3000);
    ASSERT(r.st.engaged_seconds == 0.0);
    r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 6000); /* +3 */
    ASSERT(r.st.engaged_seconds > 2.99 && r.st.engaged_seconds < 3.01);
    /* A second tab of the same student interleaves its frames: each gap is earned once,
     * so two tabs earn the wall time, not twice it. */
    r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 7500); /* +1.5 */
    r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 9000); /* +1.5 */
    ASSERT(r.st.engaged_seconds > 5.99 && r.st.engaged_seconds < 6.01);
    /* A frame older than the newest (analyzed late) earns nothing and moves nothing back. */
    r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 8000);
    ASSERT(r.st.engaged_seconds > 5.99 && r.st.engaged_seconds < 6.01);
    ASSERT_EQ(r.st.last_frame_ms, T1 + 9000);
    /* Not engaged: no credit, but the gap is consumed. */
    r = do_engage(st, "c1", "s1", 0, ST_VIOL_LOOKING_AWAY, T1 + 12000);
    /* After a long gap (a reconnect), the gap earns at most the cap. */
    r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 30000); /* +6 */
    r = do_engage(st, "c1", "s1", 0, ST_VIOL_MULTI_FACE, T1 + 33000);
    r = do_engage(st, "c1", "s1", 0, ST_VIOL_NO_FACE, T1 + 36000);
    ASSERT_EQ(r.err, 0);
    ASSERT_EQ(r.st.frames_analyzed, 9);
    ASSERT(r.st.engaged_seconds > 11.99 && r.st.engaged_seconds < 12.01);
    ASSERT_EQ(r.st.last_frame_ms, T1 + 36000);
    ASSERT_EQ(r.st.violations_no_face, 1);
    ASSERT_EQ(r.st.violations_multi_face, 1);
    ASSERT_EQ(r.st.violations_looking_away, 1);
    /* The view holds the same totals. */
    v = do_view(st, "c1", T1 + 36000);
    ASSERT_EQ(v->n, 1);
    ASSERT_EQ(v->students[0].frames_analyzed, 9);
    ASSERT(v->students[0].engaged_seconds > 11.99);

    /* Invalid input changes nothing. */
    eng_res_t bad;
    memset(&bad, 0, sizeof bad);
    const st_frame_t neg = {.engaged = 1, .at_ms = T1 + 37000, .cap_s = -1.0, .viol = ST_VIOL_NONE};
    st_engage(st, "c1", "s1", "Stu", &neg, T1 + 37000, on_engage, &bad);
    ASSERT_EQ(bad.err, BRK_EINVAL);
    st_engage(st, "c1", "s1", "Stu", NULL, T1 + 37000, on_engage, &bad);
    ASSERT_EQ(bad.err, BRK_EINVAL);
    ASSERT_EQ(do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, 0).err, BRK_EINVAL);
    ASSERT_EQ(do_engage(st, "c1", "", 1, ST_VIOL_NONE, T1).err, BRK_EINVAL);
    ASSERT_EQ(do_engage(st, "c1", "s1", 1, (st_violation_t)9, T1).err, BRK_EINVAL);

    /* Once finalized, frames no longer count. */
    ASSERT_EQ(do_finalized(st, "c1", r.s.session_id, T1 + 40000).err, 0);
    r = do_engage(st, "c1", "s1", 1, ST_VIOL_NONE, T1 + 41000);
    ASSERT_EQ(r.err, BRK_ESTATE);
    v = do_view(st, "c1", T1 + 41000);
    ASSERT_EQ(v->students[0].frames_analyzed, 9);
    ASSERT_STR_EQ(st_violation_name(ST_VIOL_LOOKING_AWAY), "looking_away");
    ASSERT_STR_EQ(st_violation_name(ST_VIOL_NO_FACE), "no_face");
    ASSERT_STR_EQ(st_violation_name(ST_VIOL_MULTI_FACE), "multi_face");
    st_free(st);
}

static void on_claim(int err, int first, void *ud)
{
    int *r = ud;
    *r = err ? -1 : first;
}

static void test_session_get_and_claim(void)
{
    st_t *st = st_memory_new(4);
    ses_res_t r = {0};
    st_session_get(st, "c1", T1, on_session, &r);
    ASSERT_EQ(r.calls, 1);
    ASSERT_EQ(r.err, 0);
    ASSERT_EQ(r.s.state, ST_SESSION_NONE);
    ASSERT_STR_EQ(r.s.date, "2026-11-22");
    ses_res_t o = do_open(st, "c1", "t1", T1);
    memset(&r, 0, sizeof r);
    st_session_get(st, "c1", T1 + 1, on_session, &r);
    ASSERT_EQ(r.s.state, ST_SESSION_ACTIVE);
    ASSERT_STR_EQ(r.s.session_id, o.s.session_id);
    ASSERT_EQ(r.created, 0);
    memset(&r, 0, sizeof r);
    st_session_get(st, "", T1, on_session, &r);
    ASSERT_EQ(r.err, BRK_EINVAL);
    /* One instance: every claim is granted (the journal tells repeats apart). */
    int first = 0;
    st_claim(st, "c1", o.s.session_id, on_claim, &first);
    ASSERT_EQ(first, 1);
    st_free(st);
}

static const test_case_t tests[] = {
    {"session_get_and_claim", test_session_get_and_claim},
    {"engage_accrues_only_in_active_session", test_engage_accrues_only_in_active_session},
    {"open_idempotent_and_finalized", test_open_idempotent_and_finalized},
    {"mark_auto_opens", test_mark_auto_opens},
    {"presence_two_tabs", test_presence_two_tabs},
    {"unknown_class_view_and_max_classes", test_unknown_class_view_and_max_classes},
    {"stale_classes_reclaimed", test_stale_classes_reclaimed},
    {"max_students", test_max_students},
    {"day_rollover_after_finalize", test_day_rollover_after_finalize},
    {"day_rollover_without_session", test_day_rollover_without_session},
    {"active_session_survives_midnight", test_active_session_survives_midnight},
    {"late_finalized_session_rolls_next_day", test_late_finalized_session_rolls_next_day},
    {"view_sorted", test_view_sorted},
    {"many_classes", test_many_classes},
    {"long_ids", test_long_ids},
    {"reentrant_callback", test_reentrant_callback},
    {"mark_names", test_mark_names},
};

TEST_MAIN(tests)

/* SPDX-License-Identifier: MIT */
/* Unit tests of the attendance decision at DONE (fin_compute): manual marks against
 * engagement, the threshold boundary, caps, zero-length sessions and the daily summary. */
#include "brk.h"
#include "finalize.h"
#include "scoring.h"
#include "test.h"

#include <stdlib.h>

#define START 1795334400000LL /* 2026-11-22T08:00:00Z */
#define HOUR_MS 3600000LL

static st_session_t session(int64_t started)
{
    st_session_t s;
    memset(&s, 0, sizeof(s));
    snprintf(s.class_id, sizeof(s.class_id), "cls-1");
    snprintf(s.date, sizeof(s.date), "2026-11-22");
    s.state = ST_SESSION_ACTIVE;
    snprintf(s.session_id, sizeof(s.session_id), "0123456789abcdef0123456789abcdef");
    snprintf(s.teacher_id, sizeof(s.teacher_id), "teacher-7");
    s.started_at_ms = started;
    return s;
}

static st_student_t student(const char *id, const char *name, st_mark_t mark, double engaged)
{
    st_student_t s;
    memset(&s, 0, sizeof(s));
    snprintf(s.student_id, sizeof(s.student_id), "%s", id);
    snprintf(s.name, sizeof(s.name), "%s", name);
    s.mark = mark;
    if (mark != ST_MARK_NONE)
        snprintf(s.marked_by, sizeof(s.marked_by), "teacher-7");
    s.engaged_seconds = engaged;
    s.frames_analyzed = (int64_t)(engaged / 3);
    return s;
}

static st_view_t view_of(st_session_t ses, const st_student_t *st, size_t n)
{
    st_view_t v;
    memset(&v, 0, sizeof(v));
    v.session = ses;
    v.students = st;
    v.n = n;
    return v;
}

static void test_record_fields(void)
{
    st_student_t st[] = {student("s1", "Ann", ST_MARK_NONE, 3000)};
    st_view_t v = view_of(session(START), st, 1);
    jr_daily_t d;
    jr_record_t *r = NULL;
    size_t n = 0;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(n, 1);
    ASSERT_NOT_NULL(r);
    ASSERT_STR_EQ(r[0].student_id, "s1");
    ASSERT_STR_EQ(r[0].student_name, "Ann");
    ASSERT_STR_EQ(r[0].class_id, "cls-1");
    ASSERT_STR_EQ(r[0].session_id, "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(r[0].started_at_ms, START);
    ASSERT_EQ(r[0].ended_at_ms, START + HOUR_MS);
    ASSERT_EQ(r[0].finalized_at_ms, START + HOUR_MS);
    ASSERT_DOUBLE_NEAR(r[0].total_class_duration_seconds, 3600.0, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_duration_seconds, 3000.0, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_percentage, 83.33, 1e-9);
    ASSERT_EQ(r[0].frames_analyzed, 1000);
    ASSERT_STR_EQ(r[0].status, "present");
    ASSERT_STR_EQ(r[0].source, "engagement");

    ASSERT_STR_EQ(d.class_id, "cls-1");
    ASSERT_STR_EQ(d.teacher_id, "teacher-7");
    ASSERT_STR_EQ(d.date, "2026-11-22");
    ASSERT_STR_EQ(d.session_id, "0123456789abcdef0123456789abcdef");
    ASSERT_EQ(d.present, 1);
    ASSERT_EQ(d.absent, 0);
    ASSERT_EQ(d.late, 0);
    ASSERT_EQ(d.total, 1);
    ASSERT_DOUBLE_NEAR(d.percentage, 100.0, 1e-9);
    ASSERT_EQ(d.finalized_at_ms, START + HOUR_MS);
    free(r);
}

static void test_manual_marks_win(void)
{
    st_student_t st[] = {
        student("a", "", ST_MARK_ABSENT, 3600), /* fully engaged, marked absent */
        student("b", "", ST_MARK_PRESENT, 0),   /* never engaged, marked present */
        student("c", "", ST_MARK_LATE, 3600),
        student("d", "", ST_MARK_NONE, 0),
    };
    st_view_t v = view_of(session(START), st, 4);
    jr_daily_t d;
    jr_record_t *r;
    size_t n;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(n, 4);
    ASSERT_STR_EQ(r[0].status, "absent");
    ASSERT_STR_EQ(r[0].source, "manual");
    /* The engagement figures are still reported alongside the manual decision. */
    ASSERT_DOUBLE_NEAR(r[0].engagement_percentage, 100.0, 1e-9);
    ASSERT_STR_EQ(r[1].status, "present");
    ASSERT_STR_EQ(r[1].source, "manual");
    ASSERT_DOUBLE_NEAR(r[1].engagement_percentage, 0.0, 1e-9);
    ASSERT_STR_EQ(r[2].status, "late");
    ASSERT_STR_EQ(r[2].source, "manual");
    ASSERT_STR_EQ(r[3].status, "absent");
    ASSERT_STR_EQ(r[3].source, "engagement");
    ASSERT_EQ(d.present, 1);
    ASSERT_EQ(d.absent, 2);
    ASSERT_EQ(d.late, 1);
    ASSERT_EQ(d.total, 4);
    ASSERT_DOUBLE_NEAR(d.percentage, 50.0, 1e-9); /* (1 present + 1 late) / 4 */
    free(r);
}

static void test_threshold_boundary(void)
{
    st_student_t st[] = {
        student("exact", "", ST_MARK_NONE, 2700),        /* 75.00 % */
        student("below", "", ST_MARK_NONE, 2699.64),     /* 74.99 % */
        student("rounds-up", "", ST_MARK_NONE, 2699.86), /* 74.996 % shows as 75.00 */
        student("above", "", ST_MARK_NONE, 2700.36),     /* 75.01 % */
    };
    st_view_t v = view_of(session(START), st, 4);
    jr_daily_t d;
    jr_record_t *r;
    size_t n;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(n, 4);
    ASSERT_DOUBLE_NEAR(r[0].engagement_percentage, 75.0, 1e-9);
    ASSERT_STR_EQ(r[0].status, "present");
    ASSERT_DOUBLE_NEAR(r[1].engagement_percentage, 74.99, 1e-9);
    ASSERT_STR_EQ(r[1].status, "absent");
    /* The status agrees with the percentage shown to the teacher. */
    ASSERT_DOUBLE_NEAR(r[2].engagement_percentage, 75.0, 1e-9);
    ASSERT_STR_EQ(r[2].status, "present");
    ASSERT_DOUBLE_NEAR(r[3].engagement_percentage, 75.01, 1e-9);
    ASSERT_STR_EQ(r[3].status, "present");
    ASSERT_EQ(d.present, 3);
    ASSERT_EQ(d.absent, 1);
    free(r);

    /* The threshold is a parameter, not a constant. */
    fin_compute(&v, 80, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(d.present, 0);
    ASSERT_EQ(d.absent, 4);
    free(r);
    fin_compute(&v, 0, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(d.present, 4);
    free(r);
}

static void test_late_counts_toward_percentage(void)
{
    st_student_t st[] = {
        student("a", "", ST_MARK_LATE, 0),
        student("b", "", ST_MARK_LATE, 0),
        student("c", "", ST_MARK_NONE, 0),
    };
    st_view_t v = view_of(session(START), st, 3);
    jr_daily_t d;
    jr_record_t *r;
    size_t n;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(d.present, 0);
    ASSERT_EQ(d.late, 2);
    ASSERT_EQ(d.absent, 1);
    ASSERT_EQ(d.total, 3);
    ASSERT_DOUBLE_NEAR(d.percentage, 66.67, 1e-9);
    free(r);
}

static void test_daily_rounding(void)
{
    st_student_t st[] = {
        student("a", "", ST_MARK_PRESENT, 0),
        student("b", "", ST_MARK_ABSENT, 0),
        student("c", "", ST_MARK_ABSENT, 0),
    };
    st_view_t v = view_of(session(START), st, 3);
    jr_daily_t d;
    jr_record_t *r;
    size_t n;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_DOUBLE_NEAR(d.percentage, 33.33, 1e-9);
    free(r);

    /* 1/8 = 12.5 exactly; 1/7 = 14.2857... -> 14.29; 6/7 = 85.714... -> 85.71 */
    st_student_t many[8];
    for (int i = 0; i < 8; i++) {
        char id[8];
        snprintf(id, sizeof(id), "s%d", i);
        many[i] = student(id, "", i == 0 ? ST_MARK_PRESENT : ST_MARK_ABSENT, 0);
    }
    v = view_of(session(START), many, 8);
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_DOUBLE_NEAR(d.percentage, 12.5, 1e-9);
    free(r);
    v = view_of(session(START), many, 7);
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(d.total, 7);
    ASSERT_DOUBLE_NEAR(d.percentage, 14.29, 1e-9);
    free(r);
    for (int i = 0; i < 7; i++)
        many[i].mark = i == 0 ? ST_MARK_ABSENT : ST_MARK_LATE;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(d.late, 6);
    ASSERT_DOUBLE_NEAR(d.percentage, 85.71, 1e-9);
    free(r);
}

static void test_engagement_capped(void)
{
    st_student_t st[] = {
        student("over", "", ST_MARK_NONE, 5000),
        student("negative", "", ST_MARK_NONE, -10),
    };
    st_view_t v = view_of(session(START), st, 2);
    jr_daily_t d;
    jr_record_t *r;
    size_t n;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_DOUBLE_NEAR(r[0].engagement_duration_seconds, 3600.0, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_percentage, 100.0, 1e-9);
    ASSERT_STR_EQ(r[0].status, "present");
    ASSERT_DOUBLE_NEAR(r[1].engagement_duration_seconds, 0.0, 1e-9);
    ASSERT_DOUBLE_NEAR(r[1].engagement_percentage, 0.0, 1e-9);
    ASSERT_STR_EQ(r[1].status, "absent");
    free(r);
}

static void test_zero_duration(void)
{
    st_student_t st[] = {
        student("a", "", ST_MARK_NONE, 10),
        student("b", "", ST_MARK_PRESENT, 10),
    };
    st_view_t v = view_of(session(START), st, 2);
    jr_daily_t d;
    jr_record_t *r;
    size_t n;
    fin_compute(&v, 75, START, &d, &r, &n);
    ASSERT_DOUBLE_NEAR(r[0].total_class_duration_seconds, 0.0, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_duration_seconds, 0.0, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_percentage, 0.0, 1e-9);
    ASSERT_STR_EQ(r[0].status, "absent");
    ASSERT_STR_EQ(r[1].status, "present");
    ASSERT_DOUBLE_NEAR(d.percentage, 50.0, 1e-9);
    free(r);

    /* An end before the start (clock stepped back) is zero, never negative. */
    fin_compute(&v, 75, START - 5000, &d, &r, &n);
    ASSERT_DOUBLE_NEAR(r[0].total_class_duration_seconds, 0.0, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_percentage, 0.0, 1e-9);
    free(r);

    /* Sub-second sessions keep their fraction. */
    fin_compute(&v, 75, START + 1500, &d, &r, &n);
    ASSERT_DOUBLE_NEAR(r[0].total_class_duration_seconds, 1.5, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_duration_seconds, 1.5, 1e-9);
    ASSERT_DOUBLE_NEAR(r[0].engagement_percentage, 100.0, 1e-9);
    free(r);
}

static void test_empty_view(void)
{
    st_view_t v = view_of(session(START), NULL, 0);
    jr_daily_t d;
    jr_record_t *r = (jr_record_t *)&d; /* must be overwritten */
    size_t n = 99;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(r);
    ASSERT_EQ(d.total, 0);
    ASSERT_EQ(d.present + d.absent + d.late, 0);
    ASSERT_DOUBLE_NEAR(d.percentage, 0.0, 1e-9);
    ASSERT_STR_EQ(d.class_id, "cls-1");
    ASSERT_STR_EQ(d.teacher_id, "teacher-7");
    ASSERT_STR_EQ(d.date, "2026-11-22");
}

static void test_long_strings_truncated_safely(void)
{
    st_student_t st[1];
    memset(st, 'x', sizeof(st)); /* fill every byte: fields are full, terminators set below */
    st[0].student_id[ST_ID - 1] = '\0';
    st[0].name[ST_NAME - 1] = '\0';
    st[0].marked_by[ST_ID - 1] = '\0';
    st[0].mark = ST_MARK_NONE;
    st[0].engaged_seconds = 0;
    st[0].frames_analyzed = 0;
    st_session_t ses = session(START);
    memset(ses.class_id, 'c', ST_ID - 1);
    ses.class_id[ST_ID - 1] = '\0';
    st_view_t v = view_of(ses, st, 1);
    jr_daily_t d;
    jr_record_t *r;
    size_t n;
    fin_compute(&v, 75, START + HOUR_MS, &d, &r, &n);
    ASSERT_EQ(strlen(r[0].student_id), 64);
    ASSERT_EQ(strlen(r[0].student_name), 128);
    ASSERT_EQ(strlen(r[0].class_id), 64);
    ASSERT_EQ(strlen(d.class_id), 64);
    free(r);
}

static void test_trust_score(void)
{
    st_student_t s;
    memset(&s, 0, sizeof s);
    ASSERT_EQ(sc_trust_score(&s), 100);
    s.violations_no_face = 1;
    ASSERT_EQ(sc_trust_score(&s), 90);
    s.violations_multi_face = 2;
    ASSERT_EQ(sc_trust_score(&s), 60);
    s.violations_looking_away = 3;
    ASSERT_EQ(sc_trust_score(&s), 45);
    s.violations_looking_away = 1000000;
    ASSERT_EQ(sc_trust_score(&s), 0);
    s.violations_no_face = INT32_MAX;
    s.violations_multi_face = INT32_MAX;
    s.violations_looking_away = INT32_MAX;
    ASSERT_EQ(sc_trust_score(&s), 0);
}

static const test_case_t tests[] = {
    {"trust_score", test_trust_score},
    {"record_fields", test_record_fields},
    {"manual_marks_win", test_manual_marks_win},
    {"threshold_boundary", test_threshold_boundary},
    {"late_counts_toward_percentage", test_late_counts_toward_percentage},
    {"daily_rounding", test_daily_rounding},
    {"engagement_capped", test_engagement_capped},
    {"zero_duration", test_zero_duration},
    {"empty_view", test_empty_view},
    {"long_strings_truncated_safely", test_long_strings_truncated_safely},
};

TEST_MAIN(tests)

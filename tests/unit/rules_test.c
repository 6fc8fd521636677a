/* SPDX-License-Identifier: MIT */
/* Unit tests for the handlers' pure rules: the proctoring state machine (violations.c) and
 * the engagement percentage with its one rounding rule (scoring.c), which live summaries,
 * frame results, engagement updates and finalized records all use. */
#include "scoring.h"
#include "test.h"
#include "violations.h"

#include <string.h>

#define T0 1700000000000LL /* a frame time, ms since the epoch */
#define HOLD 10.0          /* seconds a condition must hold */

/* --- violations ------------------------------------------------------------------------ */

static void test_violation_after_hold(void)
{
    viol_track_t t;
    memset(&t, 0, sizeof t);
    ASSERT_EQ(viol_track(&t, 0, 0, T0, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 0, 0, T0 + 5000, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 0, 0, T0 + 9999, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 0, 0, T0 + 10000, HOLD), ST_VIOL_NO_FACE);
    /* Once per episode: the condition still holds, nothing more is raised. */
    ASSERT_EQ(viol_track(&t, 0, 0, T0 + 20000, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 0, 0, T0 + 60000, HOLD), ST_VIOL_NONE);
}

static void test_episode_ends_and_restarts(void)
{
    viol_track_t t;
    memset(&t, 0, sizeof t);
    ASSERT_EQ(viol_track(&t, 2, 1, T0, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 2, 1, T0 + 10000, HOLD), ST_VIOL_MULTI_FACE);
    /* One good frame ends the episode and its clock. */
    ASSERT_EQ(viol_track(&t, 1, 1, T0 + 11000, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 2, 1, T0 + 12000, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 2, 1, T0 + 21999, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 2, 1, T0 + 22000, HOLD), ST_VIOL_MULTI_FACE);
}

static void test_interrupted_condition_does_not_raise(void)
{
    viol_track_t t;
    memset(&t, 0, sizeof t);
    /* Looking away for 9 s, back for a frame, away for 9 s: never 10 s in a row. */
    ASSERT_EQ(viol_track(&t, 1, 0, T0, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 1, 0, T0 + 9000, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 1, 1, T0 + 9500, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 1, 0, T0 + 10000, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 1, 0, T0 + 19000, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 1, 0, T0 + 20000, HOLD), ST_VIOL_LOOKING_AWAY);
}

static void test_one_violation_per_frame(void)
{
    viol_track_t t;
    memset(&t, 0, sizeof t);
    /* Two faces, neither looking: several faces and looking away hold together. Both fall
     * due on the same frame; the first in order goes now, the other with the next frame. */
    ASSERT_EQ(viol_track(&t, 2, 0, T0, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 2, 0, T0 + 10000, HOLD), ST_VIOL_MULTI_FACE);
    ASSERT_EQ(viol_track(&t, 2, 0, T0 + 11000, HOLD), ST_VIOL_LOOKING_AWAY);
    ASSERT_EQ(viol_track(&t, 2, 0, T0 + 12000, HOLD), ST_VIOL_NONE);
}

static void test_no_face_is_not_looking_away(void)
{
    viol_track_t t;
    memset(&t, 0, sizeof t);
    ASSERT_EQ(viol_track(&t, 0, 0, T0, HOLD), ST_VIOL_NONE);
    ASSERT_EQ(viol_track(&t, 0, 0, T0 + 10000, HOLD), ST_VIOL_NO_FACE);
    ASSERT_EQ(t.since_ms[ST_VIOL_LOOKING_AWAY], 0);
    ASSERT_EQ(t.since_ms[ST_VIOL_MULTI_FACE], 0);
}

static void test_zero_hold_raises_at_once(void)
{
    viol_track_t t;
    memset(&t, 0, sizeof t);
    ASSERT_EQ(viol_track(&t, 0, 0, T0, 0.0), ST_VIOL_NO_FACE);
    ASSERT_EQ(viol_track(&t, 0, 0, T0 + 1, 0.0), ST_VIOL_NONE);
}

/* --- scoring ---------------------------------------------------------------------------- */

static void test_round2_half_away_from_zero(void)
{
    ASSERT_DOUBLE_NEAR(sc_round2(74.996), 75.0, 1e-9);
    ASSERT_DOUBLE_NEAR(sc_round2(74.994), 74.99, 1e-9);
    ASSERT_DOUBLE_NEAR(sc_round2(0.125), 0.13, 1e-9);
    ASSERT_DOUBLE_NEAR(sc_round2(-12.345678), -12.35, 1e-9);
    ASSERT_DOUBLE_NEAR(sc_round2(0.0), 0.0, 1e-12);
}

static void test_engagement_pct(void)
{
    /* 45 of 60 minutes. */
    ASSERT_DOUBLE_NEAR(sc_engagement_pct(2700.0, T0, T0 + 3600000), 75.0, 1e-9);
    /* 1 of 3 seconds: 33.333... rounds to 33.33. */
    ASSERT_DOUBLE_NEAR(sc_engagement_pct(1.0, T0, T0 + 3000), 33.33, 1e-9);
    /* Credit from before SESSION_START is clamped to the session: never over 100. */
    ASSERT_DOUBLE_NEAR(sc_engagement_pct(500.0, T0, T0 + 100000), 100.0, 1e-9);
    /* Negative credit (a stray engine value) counts as none. */
    ASSERT_DOUBLE_NEAR(sc_engagement_pct(-5.0, T0, T0 + 100000), 0.0, 1e-12);
    /* No session, no length, a clock that went backwards: 0, not a division. */
    ASSERT_DOUBLE_NEAR(sc_engagement_pct(10.0, 0, T0), 0.0, 1e-12);
    ASSERT_DOUBLE_NEAR(sc_engagement_pct(10.0, T0, T0), 0.0, 1e-12);
    ASSERT_DOUBLE_NEAR(sc_engagement_pct(10.0, T0, T0 - 1000), 0.0, 1e-12);
}

static void test_session_pct_live_and_ended(void)
{
    st_session_t s;
    st_student_t st;
    memset(&s, 0, sizeof s);
    memset(&st, 0, sizeof st);
    st.engaged_seconds = 30.0;
    /* No session: 0 whatever the credit. */
    ASSERT_DOUBLE_NEAR(sc_session_pct(&s, &st, T0 + 60000), 0.0, 1e-12);
    s.state = ST_SESSION_ACTIVE;
    s.started_at_ms = T0;
    /* Live: measured up to now. */
    ASSERT_DOUBLE_NEAR(sc_session_pct(&s, &st, T0 + 60000), 50.0, 1e-9);
    ASSERT_DOUBLE_NEAR(sc_session_pct(&s, &st, T0 + 120000), 25.0, 1e-9);
    /* Ended: up to the end, however late it is asked. */
    s.state = ST_SESSION_FINALIZED;
    s.ended_at_ms = T0 + 40000;
    ASSERT_DOUBLE_NEAR(sc_session_pct(&s, &st, T0 + 999999), 75.0, 1e-9);
}

static const test_case_t tests[] = {
    {"violation_after_hold", test_violation_after_hold},
    {"episode_ends_and_restarts", test_episode_ends_and_restarts},
    {"interrupted_condition_does_not_raise", test_interrupted_condition_does_not_raise},
    {"one_violation_per_frame", test_one_violation_per_frame},
    {"no_face_is_not_looking_away", test_no_face_is_not_looking_away},
    {"zero_hold_raises_at_once", test_zero_hold_raises_at_once},
    {"round2_half_away_from_zero", test_round2_half_away_from_zero},
    {"engagement_pct", test_engagement_pct},
    {"session_pct_live_and_ended", test_session_pct_live_and_ended},
};

TEST_MAIN(tests)

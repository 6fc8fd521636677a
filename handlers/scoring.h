/* SPDX-License-Identifier: MIT */
/* The numbers a teacher and a student are shown, each computed in one place: the
 * engagement percentage (live summaries, frame results, engagement updates and the
 * finalized records all call sc_engagement_pct), the trust score, and the one rounding rule
 * (2 decimals, half away from zero). Pure functions, no I/O. */
#ifndef BRK_SCORING_H
#define BRK_SCORING_H

#include "state.h"

#include <stdint.h>

/* x rounded to 2 decimals, halves away from zero (74.995 -> 75.00, -1.005 -> -1.01 up to
 * the binary representation of x). */
double sc_round2(double x);

/* Engaged seconds as a percentage of a session that started at started_ms (ms since the
 * epoch) and ended, or is measured, at end_ms: engaged seconds are clamped to [0, session
 * length], the result rounded with sc_round2, so it is always in [0, 100]. 0 when the
 * session never started (started_ms <= 0) or has no length yet. */
double sc_engagement_pct(double engaged_seconds, int64_t started_ms, int64_t end_ms);

/* The same for a student of a live session: up to the session's end when it ended, else
 * up to now_ms; 0 when the class has no session. */
double sc_session_pct(const st_session_t *s, const st_student_t *st, int64_t now_ms);

/* The trust score of a student, 0..100: 100 minus 10 per no-face violation, 15 per
 * several-faces violation and 5 per looking-away violation, never below 0. */
int sc_trust_score(const st_student_t *s);

#endif

/* SPDX-License-Identifier: MIT */
#include "scoring.h"

#include <math.h>

double sc_round2(double x)
{
    return round(x * 100.0) / 100.0;
}

double sc_engagement_pct(double engaged_seconds, int64_t started_ms, int64_t end_ms)
{
    if (started_ms <= 0 || end_ms <= started_ms)
        return 0.0;
    double total = (double)(end_ms - started_ms) / 1000.0;
    double engaged = engaged_seconds > 0 ? engaged_seconds : 0;
    if (engaged > total)
        engaged = total; /* frames credited before SESSION_START */
    return sc_round2(engaged / total * 100.0);
}

double sc_session_pct(const st_session_t *s, const st_student_t *st, int64_t now_ms)
{
    if (s->state == ST_SESSION_NONE)
        return 0.0;
    int64_t end = s->ended_at_ms > 0 ? s->ended_at_ms : now_ms;
    return sc_engagement_pct(st->engaged_seconds, s->started_at_ms, end);
}

int sc_trust_score(const st_student_t *s)
{
    int64_t penalty = 10 * (int64_t)s->violations_no_face + 15 * (int64_t)s->violations_multi_face +
                      5 * (int64_t)s->violations_looking_away;
    return penalty >= 100 ? 0 : (int)(100 - (penalty > 0 ? penalty : 0));
}

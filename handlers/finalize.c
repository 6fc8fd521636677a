/* SPDX-License-Identifier: MIT */
/* The attendance decision at DONE: a pure function from a class view to one record per
 * student and the class's daily summary. It does no I/O and keeps no state, so the DONE
 * handler can compute, persist through the journal, and only then publish. */
#include "finalize.h"

#include "scoring.h"

#include "brk.h"

#include <stdlib.h>
#include <string.h>

static void copy_str(char *dst, size_t size, const char *src)
{
    size_t len = src ? strnlen(src, size - 1) : 0;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

void fin_compute(const st_view_t *view, int threshold_pct, int64_t ended_at_ms, jr_daily_t *daily,
                 jr_record_t **recs, size_t *n)
{
    BRK_ASSERT(view && daily && recs && n);
    const st_session_t *ses = &view->session;

    /* A view without a started session (started_at 0) or a clock that went backwards gives
     * a zero-length session rather than decades of class time. */
    double total = 0;
    if (ses->started_at_ms > 0 && ended_at_ms > ses->started_at_ms)
        total = (double)(ended_at_ms - ses->started_at_ms) / 1000.0;

    memset(daily, 0, sizeof(*daily));
    copy_str(daily->class_id, sizeof(daily->class_id), ses->class_id);
    copy_str(daily->teacher_id, sizeof(daily->teacher_id), ses->teacher_id);
    copy_str(daily->date, sizeof(daily->date), ses->date);
    copy_str(daily->session_id, sizeof(daily->session_id), ses->session_id);
    daily->finalized_at_ms = ended_at_ms;

    *n = view->n;
    *recs = NULL;
    if (view->n == 0)
        return;
    jr_record_t *out = brk_calloc(view->n, sizeof(*out));

    for (size_t i = 0; i < view->n; i++) {
        const st_student_t *s = &view->students[i];
        jr_record_t *r = &out[i];
        copy_str(r->student_id, sizeof(r->student_id), s->student_id);
        copy_str(r->student_name, sizeof(r->student_name), s->name);
        copy_str(r->class_id, sizeof(r->class_id), ses->class_id);
        copy_str(r->session_id, sizeof(r->session_id), ses->session_id);
        r->started_at_ms = ses->started_at_ms;
        r->ended_at_ms = ended_at_ms;
        r->finalized_at_ms = ended_at_ms;
        r->total_class_duration_seconds = total;

        /* Engaged time can exceed the session when frames arrived before SESSION_START. */
        double engaged = s->engaged_seconds > 0 ? s->engaged_seconds : 0;
        if (engaged > total)
            engaged = total;
        r->engagement_duration_seconds = engaged;
        /* Decided on the rounded value, so the status always agrees with the percentage the
         * teacher is shown (74.996 shows as 75.00 and counts as 75). */
        double pct = sc_engagement_pct(s->engaged_seconds, ses->started_at_ms, ended_at_ms);
        r->engagement_percentage = pct;
        r->frames_analyzed = s->frames_analyzed;
        r->trust_score = sc_trust_score(s);

        /* Anything but a real mark (an engine might hand over a stray value) leaves the
         * decision to engagement. */
        st_mark_t outcome = s->mark;
        if (outcome == ST_MARK_PRESENT || outcome == ST_MARK_ABSENT || outcome == ST_MARK_LATE) {
            copy_str(r->source, sizeof(r->source), "manual");
        } else {
            outcome = pct >= (double)threshold_pct ? ST_MARK_PRESENT : ST_MARK_ABSENT;
            copy_str(r->source, sizeof(r->source), "engagement");
        }
        copy_str(r->status, sizeof(r->status), st_mark_name(outcome));
        if (outcome == ST_MARK_PRESENT)
            daily->present++;
        else if (outcome == ST_MARK_LATE)
            daily->late++;
        else
            daily->absent++;
    }
    daily->total = (int)view->n;
    daily->percentage = sc_round2((double)(daily->present + daily->late) / daily->total * 100.0);
    *recs = out;
}

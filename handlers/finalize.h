/* SPDX-License-Identifier: MIT */
/* The attendance decision at DONE, as a pure function over a class view: every student
 * who appeared today (connected or marked) gets present, absent or late. A manual mark
 * wins (source "manual"); otherwise engagement decides (source "engagement"): present
 * when engaged seconds / session seconds * 100 >= threshold, else absent. No I/O. */
#ifndef BRK_FINALIZE_H
#define BRK_FINALIZE_H

#include "journal.h"
#include "state.h"

/* Computes the records and the daily summary for view (which must have a session) ended at
 * ended_at_ms. *recs is a new array of *n records (caller frees; NULL when n is 0).
 * total_class_duration_seconds = (ended_at - started_at) / 1000, never negative;
 * engagement_percentage is clamped to [0, 100] and rounded to 2 decimals;
 * daily.percentage = (present + late) / total * 100 rounded to 2 decimals, 0 when total
 * is 0; daily.teacher_id is the session's teacher_id. */
void fin_compute(const st_view_t *view, int threshold_pct, int64_t ended_at_ms,
                 jr_daily_t *daily, jr_record_t **recs, size_t *n);

#endif

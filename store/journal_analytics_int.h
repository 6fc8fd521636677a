/* SPDX-License-Identifier: MIT */
/* Shared by the journal (journal_analytics.c) and the MongoDB sink (mongo.c): the checked
 * analytics query, and a scratch database with the journal's schema in memory. The sink
 * loads the documents a query needs into a scratch database and runs the journal's own SQL
 * on it, so both sources compute every figure with the same code. Worker threads only,
 * except jr_query_new() and friends (journal.h). */
#ifndef BRK_JOURNAL_ANALYTICS_INT_H
#define BRK_JOURNAL_ANALYTICS_INT_H

#include "journal.h"

#include <stddef.h>

/* Checked on the calling thread by jr_query_new(). from and to are date bounds compared as
 * strings; an open end holds a bound below or above every date, and a month range holds its
 * first month's first day and "YYYY-MM-31" for its last month. */
struct jr_query {
    jr_query_kind_t kind;
    char student_id[JR_ID]; /* history */
    char class_id[JR_ID];   /* "" for a history across classes and for at risk */
    char from[11];
    char to[11];
    unsigned limit;
    char (*class_ids)[JR_ID]; /* at risk: owned */
    size_t n_classes;
    double threshold_pct;
};

/* A deep copy of q (returns new reference). */
jr_query_t *jr__query_dup(const jr_query_t *q);

/* An in-memory SQLite database created by the journal's own migration. */
typedef struct jr_scratch jr_scratch_t;

/* Opens one, with a write transaction open for the loads below. Returns 0 and *out, or
 * BRK_EIO with a reason in err. */
int jr__scratch_new(jr_scratch_t **out, char *err, size_t errlen);
/* Loads one daily summary or record (borrowed), as a finalize writes it. Returns 0, or
 * BRK_EIO with a reason in err (a row the journal's constraints refuse). */
int jr__scratch_add_daily(jr_scratch_t *s, const jr_daily_t *d, char *err, size_t errlen);
int jr__scratch_add_record(jr_scratch_t *s, const jr_record_t *r, char *err, size_t errlen);
/* Commits the loads and runs q on them; the answer goes into res (as jr_analytics()). */
void jr__scratch_run(jr_scratch_t *s, const jr_query_t *q, jr_result_t *res);
void jr__scratch_free(jr_scratch_t *s);

#endif

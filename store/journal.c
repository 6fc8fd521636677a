/* SPDX-License-Identifier: MIT */
/* The durable local journal (journal.h): its public API, the jobs the loop thread queues and
 * their delivery back on the loop. The database runs on the one worker thread of a job queue
 * (base/jobq.h): jobs run in submission order and the queue hands each finished one back on
 * the loop thread, where its callback runs. The schema and opening are in journal_schema.c,
 * the SQL each job runs in journal_query.c. */
#include "journal.h"

#include "brk.h"
#include "journal_int.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void on_run(jobq_job_t *jj, void *state, void *ud)
{
    (void)state;
    jr_t *j = ud;
    job_t *job = (job_t *)jj;
    if (job->kind == JOB_FINALIZE)
        jr__do_finalize(j, job);
    else if (job->kind == JOB_OUTBOX_NEXT)
        jr__do_outbox_next(j, job);
    else if (job->kind == JOB_MARK_SHIPPED)
        jr__do_mark_shipped(j, job);
    else if (JR__IS_ANALYTICS(job->kind))
        jr__do_analytics(j, job);
    else if (job->kind != JOB_BACKLOG)
        jr__do_report(j, job);

    if (atomic_load(&j->outbox) &&
        (job->kind == JOB_BACKLOG || job->kind == JOB_MARK_SHIPPED ||
         job->kind == JOB_OUTBOX_NEXT ||
         (job->kind == JOB_FINALIZE && !job->res->err && !job->res->already)))
        jr__count_backlog(j, job);
}

/* ---- loop thread ----------------------------------------------------------------------- */

static void job_free(job_t *job)
{
    free(job->recs);
    free(job->class_id);
    free(job->session_id);
    jr_query_free(job->query);
    free(job);
}

static void count(jr_t *j, const job_t *job)
{
    const jr_result_t *res = job->res;
    if (job->has_backlog)
        j->stats.backlog = job->backlog;
    if (job->kind != JOB_FINALIZE) {
        if (job->kind == JOB_REPORT || job->kind == JOB_REPORT_DAY)
            j->stats.reports++;
        else if (JR__IS_ANALYTICS(job->kind))
            j->stats.analytics++;
    } else if (res->err) {
        j->stats.finalize_failed++;
    } else if (res->already) {
        j->stats.finalize_already++;
    } else {
        j->stats.finalize_ok++;
        j->stats.records_written += res->n;
    }
}

/* Loop thread: a finished job, or one refused after the shutdown. A refused job may come
 * back after jr_free(): it touches nothing but the job. */
static void on_done(jobq_job_t *jj, void *ud)
{
    job_t *job = (job_t *)jj;
    if (jj->status == JOBQ_REFUSED) {
        job->cb(job->res, job->ud);
        job_free(job);
        return;
    }
    jr_t *j = ud;
    count(j, job);
    if (job->res->err && job->res->err != BRK_ENOTFOUND)
        LOG(WARN, 0, "journal job failed", "op=%s err=%d reason=\"%s\"",
            job->kind == JOB_FINALIZE                                       ? "finalize"
            : job->kind == JOB_OUTBOX_NEXT || job->kind == JOB_MARK_SHIPPED ? "outbox"
            : JR__IS_ANALYTICS(job->kind)                                   ? "analytics"
                                                                            : "report",
            job->res->err, job->res->errmsg);
    int committed = job->kind == JOB_FINALIZE && !job->res->err && !job->res->already;
    job->cb(job->res, job->ud);
    if (committed && j->commit_hook)
        j->commit_hook(j->hook_ud);
    job_free(job);
}

/* Results the loop never delivered (jr_free() without running the loop to the end): their
 * callbacks cannot run now, as their owners may already be freed. */
static void on_discard(jobq_job_t *jj, void *ud)
{
    jr_t *j = ud;
    job_t *job = (job_t *)jj;
    jr_result_free(job->res);
    job_free(job);
    j->dropped++;
}

void jr__submit(jr_t *j, job_t *job)
{
    job->res = brk_calloc(1, sizeof *job->res);
    if (j->closed || jobq_submit(j->q, &job->base, NULL) != 0) {
        /* Refused after jr_shutdown() (the queue is unbounded). The callback runs on a later
         * loop iteration, never inside the submitting call, so callers need no re-entrancy
         * guard. */
        job->res->err = BRK_ECLOSED;
        snprintf(job->res->errmsg, sizeof job->res->errmsg, "journal is shut down");
        if (job->kind == JOB_FINALIZE)
            j->stats.finalize_failed++;
        jobq_refuse_later(j->q, &job->base);
    }
}

int jr_open(uv_loop_t *loop, const char *dir, jr_t **out, char *err, size_t errlen)
{
    BRK_ASSERT(loop && dir && out);
    jr_t *j = NULL;
    size_t plen;
    int rc;

    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (dir[0] == '\0') {
        jr__set_err(err, errlen, "journal", "empty directory path");
        return BRK_EIO;
    }
    if ((rc = jr__make_dirs(dir, err, errlen)) != 0)
        return rc;

    j = brk_calloc(1, sizeof *j);
    plen = strlen(dir) + sizeof "/journal.db";
    j->path = brk_malloc(plen);
    snprintf(j->path, plen, "%s/journal.db", dir);
    if ((rc = jr__open_db(j->path, &j->db, &j->st, err, errlen)) != 0)
        goto cleanup;

    /* One worker: SQLite's connection is used by one thread, and jobs run in order. At
     * shutdown the jobs already queued still run (their callbacks still fire). */
    jobq_config_t qc = {
        .threads = 1,
        .on_shutdown = JOBQ_DRAIN,
        .run = on_run,
        .done = on_done,
        .discard = on_discard,
        .ud = j,
    };
    char qerr[160];
    if (jobq_new(loop, &qc, &j->q, qerr, sizeof qerr) != 0) {
        jr__set_err(err, errlen, "journal", qerr);
        rc = BRK_EIO;
        goto cleanup;
    }
    LOG(INFO, 0, "journal open", "path=%s schema_version=%d", j->path, JR_SCHEMA_VERSION);
    *out = j;
    return 0;

cleanup:
    if (j->db) {
        jr__stmts_finalize(&j->st);
        sqlite3_close(j->db);
    }
    free(j->path);
    free(j);
    return rc;
}

void jr_finalize(jr_t *j, const jr_daily_t *daily, const jr_record_t *recs, size_t n, jr_done_cb cb,
                 void *ud)
{
    BRK_ASSERT(j && daily && cb && (recs || n == 0));
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_FINALIZE;
    job->daily = *daily;
    if (n) {
        job->recs = brk_malloc(n * sizeof *recs);
        memcpy(job->recs, recs, n * sizeof *recs);
    }
    job->n = n;
    job->cb = cb;
    job->ud = ud;
    jr__submit(j, job);
}

void jr_report(jr_t *j, const char *class_id, const char *session_id, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && class_id && session_id && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_REPORT;
    job->class_id = brk_strdup(class_id);
    job->session_id = brk_strdup(session_id);
    job->cb = cb;
    job->ud = ud;
    jr__submit(j, job);
}

void jr_report_day(jr_t *j, const char *class_id, const char *date, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && class_id && date && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_REPORT_DAY;
    job->class_id = brk_strdup(class_id);
    job->session_id = brk_strdup(date);
    job->cb = cb;
    job->ud = ud;
    jr__submit(j, job);
}

void jr_result_free(jr_result_t *res)
{
    if (!res)
        return;
    free(res->records);
    jr__rows_free(res);
    free(res);
}

void jr_get_stats(const jr_t *j, jr_stats_t *out)
{
    *out = j->stats;
    out->queued = jobq_pending(j->q);
}

void jr_shutdown(jr_t *j)
{
    if (j->closed)
        return;
    j->closed = 1;
    /* Jobs still queued run; the handle closes after the last one came back. */
    jobq_shutdown(j->q);
}

void jr_free(jr_t *j)
{
    if (!j)
        return;
    /* Normally jr_shutdown() ran and the loop delivered everything. Without it, the worker
     * finishes the job in hand and whatever is queued, then exits; results not delivered
     * are discarded (on_discard). */
    j->closed = 1;
    jobq_free(j->q);
    if (j->dropped)
        LOG(WARN, 0, "journal freed with undelivered results", "count=%zu", j->dropped);

    jr__stmts_finalize(&j->st);
    if (sqlite3_close(j->db) != SQLITE_OK)
        LOG(WARN, 0, "journal close failed", "reason=\"%s\"", sqlite3_errmsg(j->db));
    free(j->path);
    free(j);
}

static void on_backlog_counted(jr_result_t *res, void *ud)
{
    (void)ud;
    jr_result_free(res);
}

void jr_outbox_enable(jr_t *j)
{
    atomic_store(&j->outbox, 1);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_BACKLOG;
    job->cb = on_backlog_counted;
    jr__submit(j, job);
}

void jr_set_commit_hook(jr_t *j, void (*hook)(void *ud), void *ud)
{
    j->commit_hook = hook;
    j->hook_ud = ud;
}

void jr_outbox_next(jr_t *j, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_OUTBOX_NEXT;
    job->cb = cb;
    job->ud = ud;
    jr__submit(j, job);
}

void jr_outbox_mark_shipped(jr_t *j, const char *class_id, const char *session_id,
                            int64_t shipped_at_ms, jr_done_cb cb, void *ud)
{
    BRK_ASSERT(j && class_id && session_id && cb);
    job_t *job = brk_calloc(1, sizeof *job);
    job->kind = JOB_MARK_SHIPPED;
    job->class_id = brk_strdup(class_id);
    job->session_id = brk_strdup(session_id);
    job->shipped_at_ms = shipped_at_ms;
    job->cb = cb;
    job->ud = ud;
    jr__submit(j, job);
}

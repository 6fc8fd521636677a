/* SPDX-License-Identifier: MIT */
/* The accounts service on its own job queue (base/jobq.c). Each worker owns one store
 * connection, opened at start-up; the hasher is shared (it is immutable). */
#include "acct_service.h"

#include "brk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct acct_svc {
    jobq_t *q;
    acct_pw_t *pw;
    acct_store_t **stores; /* one per worker */
    unsigned n_stores;
    acct_mint_fn mint;
    void *mint_ud;
};

static void wipe(void *p, size_t len)
{
    volatile unsigned char *b = p;
    for (size_t i = 0; i < len; i++)
        b[i] = 0;
}

static void wipe_free(char *p, size_t len)
{
    if (p) {
        wipe(p, len);
        free(p);
    }
}

acct_req_t *acct_req_new(acct_req_kind_t kind)
{
    acct_req_t *r = brk_calloc(1, sizeof *r);
    r->kind = kind;
    return r;
}

static char *copy_bytes(const char *s, size_t len)
{
    char *p = brk_malloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void acct_req_set_email(acct_req_t *r, const char *s, size_t len)
{
    free(r->email);
    r->email = copy_bytes(s, len);
}

void acct_req_set_name(acct_req_t *r, const char *s, size_t len)
{
    free(r->name);
    r->name = copy_bytes(s, len);
}

void acct_req_set_password(acct_req_t *r, const char *s, size_t len)
{
    wipe_free(r->password, r->password_len);
    r->password = copy_bytes(s, len);
    r->password_len = len;
}

void acct_req_set_new_password(acct_req_t *r, const char *s, size_t len)
{
    wipe_free(r->new_password, r->new_password_len);
    r->new_password = copy_bytes(s, len);
    r->new_password_len = len;
}

void acct_req_free(acct_req_t *r)
{
    if (!r)
        return;
    free(r->email);
    free(r->name);
    wipe_free(r->password, r->password_len);
    wipe_free(r->new_password, r->new_password_len);
    if (r->token)
        wipe_free(r->token, strlen(r->token));
    wipe(r->acct.password_hash, sizeof r->acct.password_hash);
    free(r);
}

/* ---- worker threads --------------------------------------------------------------------- */

static void fail(acct_req_t *r, int err, const char *msg)
{
    r->err = err;
    snprintf(r->errmsg, sizeof r->errmsg, "%s", msg);
}

/* The message for a password acct_pw_hash refused. */
static void password_refused(acct_req_t *r, int rc)
{
    if (rc == BRK_ETOOBIG)
        fail(r, rc, "the password is longer than 511 bytes");
    else if (rc == BRK_EINVAL)
        fail(r, rc, "the password must be at least 8 bytes, without NUL characters");
    else
        fail(r, BRK_EIO, "hashing failed");
}

static void store_refused(acct_req_t *r, int rc)
{
    switch (rc) {
    case BRK_EEXIST: fail(r, rc, "an account with this email exists"); break;
    case BRK_EINVAL: fail(r, rc, "invalid email or name"); break;
    case BRK_ETOOBIG: fail(r, rc, "email or name too long"); break;
    case BRK_ENOTFOUND: fail(r, BRK_EAUTH, "the account no longer exists"); break;
    default: fail(r, BRK_EIO, "the account store failed"); break;
    }
}

static void give_token(acct_svc_t *s, acct_req_t *r)
{
    r->token = s->mint(&r->acct, NULL, 0, &r->expires_in, s->mint_ud);
    if (!r->token)
        fail(r, BRK_EIO, "signing the token failed");
}

static void do_register(acct_svc_t *s, acct_store_t *st, acct_req_t *r)
{
    char hash[ACCT_HASH_SIZE];
    int rc = acct_pw_hash(s->pw, r->password, r->password_len, hash, sizeof hash);
    if (rc != 0) {
        password_refused(r, rc);
        return;
    }
    /* The hash comes first, so that a taken email answers no faster than a new one. */
    rc = acct_store_create(st, r->email, r->name, r->role, hash, &r->acct);
    wipe(hash, sizeof hash);
    if (rc != 0) {
        store_refused(r, rc);
        return;
    }
    if (r->want_token)
        give_token(s, r);
}

static void do_login(acct_svc_t *s, acct_store_t *st, acct_req_t *r)
{
    int found = acct_store_find_by_email(st, r->email, &r->acct);
    /* Unknown email or not: the same verify runs (against the dummy hash when there is no
     * account), so the answer takes the same time. */
    int rc = acct_pw_verify(s->pw, r->password, r->password_len,
                            found == 0 ? r->acct.password_hash : NULL);
    if (found != 0 && found != BRK_ENOTFOUND) {
        fail(r, BRK_EIO, "the account store failed");
        return;
    }
    if (rc != 0) {
        memset(&r->acct, 0, sizeof r->acct);
        fail(r, BRK_EAUTH, "wrong email or password");
        return;
    }
    if (acct_pw_needs_rehash(s->pw, r->acct.password_hash)) {
        /* A hash of an older cost is brought up to this one; a failure leaves the old
         * hash, which still verifies. */
        char hash[ACCT_HASH_SIZE];
        if (acct_pw_hash(s->pw, r->password, r->password_len, hash, sizeof hash) == 0)
            (void)acct_store_update_password(st, r->acct.id, hash);
        wipe(hash, sizeof hash);
    }
    give_token(s, r);
}

static void do_password(acct_svc_t *s, acct_store_t *st, acct_req_t *r)
{
    int found = acct_store_find_by_id(st, r->id, &r->acct);
    if (found != 0) {
        store_refused(r, found);
        return;
    }
    if (acct_pw_verify(s->pw, r->password, r->password_len, r->acct.password_hash) != 0) {
        fail(r, BRK_EAUTH, "the current password is wrong");
        return;
    }
    char hash[ACCT_HASH_SIZE];
    int rc = acct_pw_hash(s->pw, r->new_password, r->new_password_len, hash, sizeof hash);
    if (rc != 0) {
        password_refused(r, rc);
        return;
    }
    rc = acct_store_update_password(st, r->id, hash);
    wipe(hash, sizeof hash);
    if (rc != 0)
        store_refused(r, rc);
}

static void on_run(jobq_job_t *job, void *state, void *ud)
{
    acct_svc_t *s = ud;
    acct_store_t *st = state;
    acct_req_t *r = (acct_req_t *)job;
    int rc;
    switch (r->kind) {
    case ACCT_REQ_REGISTER: do_register(s, st, r); break;
    case ACCT_REQ_LOGIN: do_login(s, st, r); break;
    case ACCT_REQ_PASSWORD: do_password(s, st, r); break;
    case ACCT_REQ_RENAME:
        rc = acct_store_update_name(st, r->id, r->name);
        if (rc == 0)
            rc = acct_store_find_by_id(st, r->id, &r->acct);
        if (rc != 0)
            store_refused(r, rc);
        break;
    case ACCT_REQ_GET:
        rc = acct_store_find_by_id(st, r->id, &r->acct);
        if (rc != 0)
            store_refused(r, rc);
        else if (r->want_token)
            give_token(s, r);
        break;
    }
    wipe(r->acct.password_hash, sizeof r->acct.password_hash);
}

static void *on_thread_start(unsigned index, void *ud)
{
    acct_svc_t *s = ud;
    return index < s->n_stores ? s->stores[index] : NULL;
}

/* ---- loop thread ----------------------------------------------------------------------- */

static void on_done(jobq_job_t *job, void *ud)
{
    (void)ud;
    acct_req_t *r = (acct_req_t *)job;
    if (job->status == JOBQ_STALE) {
        fail(r, BRK_EIO, "the accounts service is overloaded");
    } else if (job->status != JOBQ_DONE) {
        if (r->err == 0)
            fail(r, BRK_EFULL, "the accounts service is busy");
    }
    r->done(r, r->ud);
}

static void on_discard(jobq_job_t *job, void *ud)
{
    (void)ud;
    acct_req_free((acct_req_t *)job);
}

int acct_svc_new(uv_loop_t *loop, const acct_svc_config_t *cfg, acct_svc_t **out, char *err,
                 size_t errlen)
{
    BRK_ASSERT(cfg->mint && cfg->threads >= 1);
    acct_svc_t *s = brk_calloc(1, sizeof *s);
    s->mint = cfg->mint;
    s->mint_ud = cfg->mint_ud;
    int rc = acct_pw_new(cfg->cost, &s->pw);
    if (rc != 0) {
        snprintf(err, errlen, "accounts: password hasher at cost %u: %s", cfg->cost,
                 brk_strerror(rc));
        goto fail;
    }
    s->stores = brk_calloc(cfg->threads, sizeof *s->stores);
    for (; s->n_stores < cfg->threads; s->n_stores++) {
        rc = acct_store_open(cfg->data_dir, &s->stores[s->n_stores], err, errlen);
        if (rc != 0)
            goto fail;
    }
    jobq_config_t qc = {
        .threads = cfg->threads,
        .max_waiting = cfg->max_waiting,
        .max_wait_ns = cfg->max_wait_ms * 1000000ULL,
        .on_shutdown = JOBQ_DRAIN,
        .thread_start = on_thread_start,
        .run = on_run,
        .done = on_done,
        .discard = on_discard,
        .ud = s,
    };
    char qerr[160];
    rc = jobq_new(loop, &qc, &s->q, qerr, sizeof qerr);
    if (rc != 0) {
        snprintf(err, errlen, "accounts: %s", qerr);
        goto fail;
    }
    *out = s;
    return 0;

fail:
    acct_svc_free(s);
    return rc ? rc : BRK_EIO;
}

void acct_svc_submit(acct_svc_t *s, acct_req_t *r, acct_done_cb done, void *ud)
{
    r->done = done;
    r->ud = ud;
    r->err = 0;
    if (jobq_submit(s->q, &r->job, NULL) != 0) {
        fail(r, BRK_EFULL, "the accounts service is busy");
        jobq_refuse_later(s->q, &r->job);
    }
}

size_t acct_svc_pending(const acct_svc_t *s)
{
    return jobq_pending(s->q);
}

void acct_svc_shutdown(acct_svc_t *s)
{
    if (s && s->q)
        jobq_shutdown(s->q);
}

void acct_svc_free(acct_svc_t *s)
{
    if (!s)
        return;
    jobq_free(s->q); /* joins the workers before their stores close */
    for (unsigned i = 0; i < s->n_stores; i++)
        acct_store_close(s->stores[i]);
    free(s->stores);
    acct_pw_free(s->pw);
    free(s);
}

/* SPDX-License-Identifier: MIT */
/* The accounts service on its own job queue (base/jobq.c). Each worker owns one connection
 * to the storage backend (acct_backend.h: SQLite, or MongoDB when a URI is configured),
 * opened at start-up; the hasher is shared (it is immutable). */
#include "acct_service.h"

#include "acct_backend.h"
#include "brk.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What one worker owns: its connection to the backend. */
typedef struct worker_db {
    const acct_backend_ops_t *ops;
    void *db;
} worker_db_t;

struct acct_svc {
    jobq_t *q;
    acct_pw_t *pw;
    const acct_backend_ops_t *ops;
    void *shared; /* the backend's, for every connection */
    worker_db_t *dbs; /* one per worker */
    unsigned n_dbs;
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

void acct_req_set_description(acct_req_t *r, const char *s, size_t len)
{
    free(r->description);
    r->description = copy_bytes(s, len);
}

void acct_req_set_schedule(acct_req_t *r, const char *s, size_t len)
{
    free(r->schedule);
    r->schedule = copy_bytes(s, len);
}

void acct_req_free(acct_req_t *r)
{
    if (!r)
        return;
    free(r->email);
    free(r->name);
    free(r->description);
    free(r->schedule);
    free(r->memberships);
    free(r->roster);
    for (size_t i = 0; i < r->n_rosters; i++)
        free(r->rosters[i].members);
    free(r->rosters);
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

/* The account's token, naming every class it belongs to now. */
static void give_token(acct_svc_t *s, worker_db_t *db, acct_req_t *r)
{
    char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1];
    const char *list[CLASS_MAX_PER_ACCOUNT];
    int n = 0;
    int rc = db->ops->class_class_ids(db->db, r->acct.id, ids, &n);
    if (rc != 0 && rc != BRK_EFULL) {
        fail(r, BRK_EIO, "the class store failed");
        return;
    }
    for (int i = 0; i < n; i++)
        list[i] = ids[i];
    r->token = s->mint(&r->acct, list, (size_t)n, &r->expires_in, s->mint_ud);
    if (!r->token)
        fail(r, BRK_EIO, "signing the token failed");
}

static void do_register(acct_svc_t *s, worker_db_t *db, acct_req_t *r)
{
    char hash[ACCT_HASH_SIZE];
    int rc = acct_pw_hash(s->pw, r->password, r->password_len, hash, sizeof hash);
    if (rc != 0) {
        password_refused(r, rc);
        return;
    }
    /* The hash comes first, so that a taken email answers no faster than a new one. */
    rc = db->ops->acct_create(db->db, r->email, r->name, r->role, hash, &r->acct);
    wipe(hash, sizeof hash);
    if (rc != 0) {
        store_refused(r, rc);
        return;
    }
    if (r->want_token)
        give_token(s, db, r);
}

static void do_login(acct_svc_t *s, worker_db_t *db, acct_req_t *r)
{
    int found = db->ops->acct_find_by_email(db->db, r->email, &r->acct);
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
            (void)db->ops->acct_update_password(db->db, r->acct.id, hash);
        wipe(hash, sizeof hash);
    }
    give_token(s, db, r);
}

static void do_password(acct_svc_t *s, worker_db_t *db, acct_req_t *r)
{
    int found = db->ops->acct_find_by_id(db->db, r->id, &r->acct);
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
    rc = db->ops->acct_update_password(db->db, r->id, hash);
    wipe(hash, sizeof hash);
    if (rc != 0)
        store_refused(r, rc);
}

/* ---- classes ---------------------------------------------------------------------------- */

static void class_refused(acct_req_t *r, int rc)
{
    switch (rc) {
    case BRK_ENOTFOUND: fail(r, rc, "no such class"); break;
    case BRK_EINVAL: fail(r, rc, "invalid name, description or schedule"); break;
    case BRK_ETOOBIG: fail(r, rc, "name, description or schedule too long"); break;
    case BRK_EFULL: /* told apart from a full queue (BRK_EFULL) */
        fail(r, BRK_ENOMEM, "an account may belong to at most 64 classes");
        break;
    case BRK_EEXIST: fail(r, rc, "already a member of this class"); break;
    default: fail(r, BRK_EIO, "the class store failed"); break;
    }
}

/* The class's members into r->roster. */
static int load_roster(worker_db_t *db, acct_req_t *r, const char *class_id)
{
    free(r->roster);
    r->roster = NULL;
    r->n_roster = 0;
    int rc = db->ops->class_roster(db->db, class_id, &r->roster, &r->n_roster);
    r->roster_valid = rc == 0;
    return rc;
}

/* The caller's standing in r->class_id: 0 with r->cls and r->class_role/is_staff, or an
 * error answered (a class the caller is not in does not exist for it; admins are in all). */
static int standing(worker_db_t *db, acct_req_t *r)
{
    int rc = db->ops->class_get(db->db, r->class_id, &r->cls);
    if (rc == 0 && r->acct.role == ACCT_ROLE_ADMIN) {
        r->class_role = CLASS_ROLE_TEACHER;
        r->is_staff = 1;
        return 0;
    }
    if (rc == 0)
        rc = db->ops->class_membership(db->db, r->class_id, r->acct.id, &r->class_role);
    if (rc != 0) {
        memset(&r->cls, 0, sizeof r->cls);
        class_refused(r, rc);
        return rc;
    }
    r->is_staff = r->class_role == CLASS_ROLE_TEACHER;
    return 0;
}

static int need_staff(acct_req_t *r)
{
    if (r->is_staff)
        return 0;
    /* Forbidden: the caller is known and in the class, the act is not theirs. */
    fail(r, BRK_ESTATE, "only the class's teachers may do this");
    return -1;
}

static void do_class(acct_svc_t *s, worker_db_t *db, acct_req_t *r)
{
    int rc;
    switch (r->kind) {
    case ACCT_REQ_CLASS_CREATE:
        if (r->acct.role == ACCT_ROLE_STUDENT) {
            fail(r, BRK_ESTATE, "only teachers and admins create classes");
            return;
        }
        rc = db->ops->class_create(db->db, r->acct.id, r->name, r->description, r->schedule,
                                   &r->cls);
        if (rc != 0) {
            class_refused(r, rc);
            return;
        }
        snprintf(r->class_id, sizeof r->class_id, "%s", r->cls.id);
        r->class_role = CLASS_ROLE_TEACHER;
        r->is_staff = 1;
        if (load_roster(db, r, r->cls.id) != 0)
            fail(r, BRK_EIO, "the class store failed");
        else
            give_token(s, db, r);
        return;
    case ACCT_REQ_CLASS_LIST:
        rc = db->ops->class_list_for_account(db->db, r->acct.id, &r->memberships,
                                             &r->n_memberships);
        if (rc != 0)
            class_refused(r, rc);
        return;
    case ACCT_REQ_CLASS_GET:
        if (standing(db, r) == 0 && r->is_staff && load_roster(db, r, r->class_id) != 0)
            fail(r, BRK_EIO, "the class store failed");
        return;
    case ACCT_REQ_CLASS_UPDATE:
        if (standing(db, r) != 0 || need_staff(r) != 0)
            return;
        rc = db->ops->class_update(db->db, r->class_id, r->name, r->description, r->schedule,
                                   r->clear_schedule, &r->cls);
        if (rc != 0)
            class_refused(r, rc);
        return;
    case ACCT_REQ_CLASS_CODE:
        if (standing(db, r) != 0 || need_staff(r) != 0)
            return;
        rc = db->ops->class_regenerate_code(db->db, r->class_id, r->cls.join_code,
                                            sizeof r->cls.join_code);
        if (rc != 0)
            class_refused(r, rc);
        return;
    case ACCT_REQ_CLASS_JOIN:
        if (r->acct.role != ACCT_ROLE_STUDENT) {
            fail(r, BRK_ESTATE, "only students join a class with its code");
            return;
        }
        rc = db->ops->class_find_by_code(db->db, r->code, &r->cls);
        if (rc == 0) {
            snprintf(r->class_id, sizeof r->class_id, "%s", r->cls.id);
            rc = db->ops->class_add_member(db->db, r->class_id, r->acct.id, CLASS_ROLE_STUDENT,
                                           NULL);
        }
        if (rc == BRK_ENOTFOUND) {
            fail(r, rc, "no class has this code");
            return;
        }
        if (rc != 0 && rc != BRK_EEXIST) { /* joining twice is not an error */
            class_refused(r, rc);
            return;
        }
        r->class_role = CLASS_ROLE_STUDENT;
        if (load_roster(db, r, r->class_id) != 0)
            fail(r, BRK_EIO, "the class store failed");
        else
            give_token(s, db, r);
        return;
    case ACCT_REQ_CLASS_LEAVE:
        if (standing(db, r) != 0)
            return;
        if (r->class_role != CLASS_ROLE_STUDENT || r->acct.role == ACCT_ROLE_ADMIN) {
            fail(r, BRK_ESTATE, "only students leave a class");
            return;
        }
        rc = db->ops->class_remove_member(db->db, r->class_id, r->acct.id);
        if (rc != 0 || load_roster(db, r, r->class_id) != 0)
            class_refused(r, rc ? rc : BRK_EIO);
        return;
    case ACCT_REQ_CLASS_REMOVE: {
        if (standing(db, r) != 0 || need_staff(r) != 0)
            return;
        class_role_t role;
        rc = db->ops->class_membership(db->db, r->class_id, r->student_id, &role);
        if (rc == 0 && role != CLASS_ROLE_STUDENT) {
            fail(r, BRK_ESTATE, "only students are removed from a class");
            return;
        }
        if (rc == 0)
            rc = db->ops->class_remove_member(db->db, r->class_id, r->student_id);
        if (rc == BRK_ENOTFOUND) {
            fail(r, rc, "no such student in this class");
            return;
        }
        if (rc != 0 || load_roster(db, r, r->class_id) != 0)
            class_refused(r, rc ? rc : BRK_EIO);
        return;
    }
    default: return;
    }
}

/* The registry's reads: a class's roster, or every class's. */
static void do_roster_read(worker_db_t *db, acct_req_t *r)
{
    int rc;
    if (r->kind == ACCT_REQ_ROSTER_READ) {
        rc = db->ops->class_get(db->db, r->class_id, &r->cls);
        if (rc == 0)
            rc = load_roster(db, r, r->class_id);
        if (rc != 0)
            class_refused(r, rc);
        return;
    }
    class_uid_t *ids = NULL;
    size_t n = 0;
    rc = db->ops->class_all_ids(db->db, &ids, &n);
    r->rosters = n ? brk_calloc(n, sizeof *r->rosters) : NULL;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        acct_class_roster_t *cr = &r->rosters[i];
        rc = db->ops->class_get(db->db, ids[i].id, &cr->cls);
        if (rc == 0)
            rc = db->ops->class_roster(db->db, ids[i].id, &cr->members, &cr->n);
        r->n_rosters = i + 1;
    }
    free(ids);
    if (rc != 0)
        class_refused(r, rc == BRK_ENOTFOUND ? BRK_EIO : rc);
}

static void on_run(jobq_job_t *job, void *state, void *ud)
{
    acct_svc_t *s = ud;
    worker_db_t *db = state;
    acct_req_t *r = (acct_req_t *)job;
    int rc;
    if (db->ops->ready && db->ops->ready(db->db) != 0) {
        fail(r, BRK_EIO, "the account store is unavailable");
        return;
    }
    switch (r->kind) {
    case ACCT_REQ_REGISTER: do_register(s, db, r); break;
    case ACCT_REQ_LOGIN: do_login(s, db, r); break;
    case ACCT_REQ_PASSWORD: do_password(s, db, r); break;
    case ACCT_REQ_RENAME:
        rc = db->ops->acct_update_name(db->db, r->id, r->name);
        if (rc == 0)
            rc = db->ops->acct_find_by_id(db->db, r->id, &r->acct);
        if (rc != 0)
            store_refused(r, rc);
        break;
    case ACCT_REQ_GET:
        rc = db->ops->acct_find_by_id(db->db, r->id, &r->acct);
        if (rc != 0)
            store_refused(r, rc);
        else if (r->want_token)
            give_token(s, db, r);
        break;
    case ACCT_REQ_ROSTER_READ:
    case ACCT_REQ_ROSTERS_READ: do_roster_read(db, r); break;
    default:
        /* Class requests act for an account that must still exist. */
        rc = db->ops->acct_find_by_id(db->db, r->id, &r->acct);
        if (rc != 0)
            store_refused(r, rc);
        else
            do_class(s, db, r);
        break;
    }
    wipe(r->acct.password_hash, sizeof r->acct.password_hash);
}

static void *on_thread_start(unsigned index, void *ud)
{
    acct_svc_t *s = ud;
    BRK_ASSERT(index < s->n_dbs);
    return &s->dbs[index];
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
    acct_backend_conf_t bc = {
        .data_dir = cfg->data_dir,
        .mongodb_uri = cfg->mongodb_uri,
        .mongodb_database = cfg->mongodb_database,
        .max_conns = cfg->threads,
    };
    s->ops = acct_backend_for(&bc);
    if ((rc = s->ops->setup(&bc, &s->shared, err, errlen)) != 0)
        goto fail;
    s->dbs = brk_calloc(cfg->threads, sizeof *s->dbs);
    for (; s->n_dbs < cfg->threads; s->n_dbs++) {
        worker_db_t *db = &s->dbs[s->n_dbs];
        db->ops = s->ops;
        if ((rc = s->ops->open(s->shared, &db->db, err, errlen)) != 0)
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

int acct_svc_load_rosters(acct_svc_t *s,
                          void (*cb)(const class_info_t *cls, const class_member_t *m,
                                     size_t n, void *ud),
                          void *ud)
{
    /* Before any request: worker 0's connection is idle until the queue hands it a job, and
     * the caller runs this before the first submit. */
    BRK_ASSERT(jobq_pending(s->q) == 0);
    const worker_db_t *db = &s->dbs[0];
    class_uid_t *ids = NULL;
    size_t n = 0;
    int rc = db->ops->class_all_ids(db->db, &ids, &n);
    class_info_t *info = brk_malloc(sizeof *info);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        class_member_t *m = NULL;
        size_t nm = 0;
        rc = db->ops->class_get(db->db, ids[i].id, info);
        if (rc == 0)
            rc = db->ops->class_roster(db->db, ids[i].id, &m, &nm);
        if (rc == 0)
            cb(info, m, nm, ud);
        free(m);
    }
    free(info);
    free(ids);
    return rc == 0 ? 0 : BRK_EIO;
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
    for (unsigned i = 0; i < s->n_dbs; i++)
        s->ops->close(s->dbs[i].db);
    free(s->dbs);
    if (s->ops)
        s->ops->teardown(s->shared);
    acct_pw_free(s->pw);
    free(s);
}

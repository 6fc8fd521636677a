/* SPDX-License-Identifier: MIT */
/* Unit tests for accounts/acct_service.c, the accounts and classes operations on worker
 * threads: every request comes back on the loop thread with its result, the slow work
 * (hashing, minting) runs on a worker and never on the loop, tokens name the account's
 * classes, a full queue answers BRK_EFULL without running anything, and passwords are not
 * left in a freed request. Also built with TSan (scripts/test.sh). */
#include "acct_service.h"

#include "brk.h"
#include "test.h"

#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[64];
static pthread_t loop_thread;
static int minted_on_loop;   /* written by workers: read after the loop ended */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rollcall-svc-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(tmpdir));
    loop_thread = pthread_self();
}

static void teardown(void)
{
    nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* "tok:<sub>:<class,class,...>", so the test can read what the token would carry. */
static char *mint(const acct_t *a, const char *const *classes, size_t n, int64_t *expires_in,
                  void *ud)
{
    (void)ud;
    pthread_mutex_lock(&mu);
    if (pthread_equal(pthread_self(), loop_thread))
        minted_on_loop = 1;
    pthread_mutex_unlock(&mu);
    char buf[4096];
    int len = snprintf(buf, sizeof buf, "tok:%s:", a->id);
    for (size_t i = 0; i < n; i++)
        len += snprintf(buf + len, sizeof buf - (size_t)len, "%s%s", i ? "," : "", classes[i]);
    *expires_in = 3600;
    return brk_strdup(buf);
}

typedef struct results {
    int done;
    acct_req_t *got[64];
} results_t;

static void on_done(acct_req_t *r, void *ud)
{
    ASSERT(pthread_equal(pthread_self(), loop_thread));
    results_t *res = ud;
    res->got[res->done++] = r;
}

static acct_svc_t *start(uv_loop_t *loop, size_t max_waiting)
{
    acct_svc_config_t cfg = {.data_dir = tmpdir,
                             .cost = 1,
                             .threads = 2,
                             .max_waiting = max_waiting,
                             .max_wait_ms = 10000,
                             .mint = mint};
    acct_svc_t *s = NULL;
    char err[256] = "";
    ASSERT_EQ(uv_loop_init(loop), 0);
    if (acct_svc_new(loop, &cfg, &s, err, sizeof err) != 0)
        TEST_FAIL("acct_svc_new: %s", err);
    return s;
}

static void stop(uv_loop_t *loop, acct_svc_t *s)
{
    acct_svc_shutdown(s);
    uv_run(loop, UV_RUN_DEFAULT);
    acct_svc_free(s);
    ASSERT_EQ(uv_loop_close(loop), 0);
}

/* Submits r and runs the loop until it comes back; returns it (the caller frees it). */
static acct_req_t *run_one(uv_loop_t *loop, acct_svc_t *s, acct_req_t *r)
{
    results_t res = {0};
    acct_svc_submit(s, r, on_done, &res);
    while (res.done == 0)
        uv_run(loop, UV_RUN_ONCE);
    return res.got[0];
}

static acct_req_t *reg(const char *email, const char *name, acct_role_t role, const char *pw)
{
    acct_req_t *r = acct_req_new(ACCT_REQ_REGISTER);
    acct_req_set_email(r, email, strlen(email));
    acct_req_set_name(r, name, strlen(name));
    acct_req_set_password(r, pw, strlen(pw));
    r->role = role;
    r->want_token = 1;
    return r;
}

static acct_req_t *login(const char *email, const char *pw)
{
    acct_req_t *r = acct_req_new(ACCT_REQ_LOGIN);
    acct_req_set_email(r, email, strlen(email));
    acct_req_set_password(r, pw, strlen(pw));
    return r;
}

static acct_req_t *as(acct_req_kind_t kind, const char *id)
{
    acct_req_t *r = acct_req_new(kind);
    snprintf(r->id, sizeof r->id, "%s", id);
    return r;
}

static void test_accounts_round_trip(void)
{
    setup();
    uv_loop_t loop;
    acct_svc_t *s = start(&loop, 16);

    acct_req_t *r = run_one(&loop, s, reg("Ann@School.example", "Ann", ACCT_ROLE_TEACHER,
                                          "correct horse"));
    ASSERT_EQ(r->err, 0);
    ASSERT_STR_EQ(r->acct.email, "ann@school.example");
    ASSERT_EQ(r->acct.password_hash[0], '\0'); /* the hash never comes back */
    char id[ACCT_ID_SIZE], want[128];
    snprintf(id, sizeof id, "%s", r->acct.id);
    snprintf(want, sizeof want, "tok:%s:", id);
    ASSERT_STR_EQ(r->token, want); /* no class yet */
    acct_req_free(r);

    r = run_one(&loop, s, reg("ann@school.example", "Ann 2", ACCT_ROLE_STUDENT,
                              "another phrase"));
    ASSERT_EQ(r->err, BRK_EEXIST);
    acct_req_free(r);
    r = run_one(&loop, s, reg("bo@school.example", "Bo", ACCT_ROLE_STUDENT, "short"));
    ASSERT_EQ(r->err, BRK_EINVAL);
    acct_req_free(r);

    r = run_one(&loop, s, login("ANN@school.example", "correct horse"));
    ASSERT_EQ(r->err, 0);
    ASSERT_STR_EQ(r->acct.id, id);
    ASSERT_NOT_NULL(r->token);
    acct_req_free(r);
    /* Wrong password and unknown email: one answer. */
    acct_req_t *w = run_one(&loop, s, login("ann@school.example", "wrong horse"));
    acct_req_t *u = run_one(&loop, s, login("nobody@school.example", "wrong horse"));
    ASSERT_EQ(w->err, BRK_EAUTH);
    ASSERT_EQ(u->err, BRK_EAUTH);
    ASSERT_STR_EQ(w->errmsg, u->errmsg);
    ASSERT_NULL(w->token);
    ASSERT_EQ(w->acct.id[0], '\0'); /* nothing of the account leaks from a failure */
    acct_req_free(w);
    acct_req_free(u);

    r = as(ACCT_REQ_RENAME, id);
    acct_req_set_name(r, "Ann B", 5);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, 0);
    ASSERT_STR_EQ(r->acct.name, "Ann B");
    acct_req_free(r);

    r = as(ACCT_REQ_PASSWORD, id);
    acct_req_set_password(r, "correct horse", 13);
    acct_req_set_new_password(r, "battery staple", 14);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, 0);
    acct_req_free(r);
    r = run_one(&loop, s, login("ann@school.example", "correct horse"));
    ASSERT_EQ(r->err, BRK_EAUTH);
    acct_req_free(r);
    r = run_one(&loop, s, login("ann@school.example", "battery staple"));
    ASSERT_EQ(r->err, 0);
    acct_req_free(r);

    /* A sub that is no account. */
    r = run_one(&loop, s, as(ACCT_REQ_GET, "0123456789abcdef0123456789abcdef"));
    ASSERT_EQ(r->err, BRK_EAUTH);
    acct_req_free(r);

    stop(&loop, s);
    ASSERT_EQ(minted_on_loop, 0);
    teardown();
}

static void test_classes_and_tokens(void)
{
    setup();
    uv_loop_t loop;
    acct_svc_t *s = start(&loop, 16);
    acct_req_t *r = run_one(&loop, s, reg("t@school.example", "T", ACCT_ROLE_TEACHER, "pw pw pw pw"));
    char tid[ACCT_ID_SIZE];
    snprintf(tid, sizeof tid, "%s", r->acct.id);
    acct_req_free(r);
    r = run_one(&loop, s, reg("s@school.example", "S", ACCT_ROLE_STUDENT, "pw pw pw pw"));
    char sid[ACCT_ID_SIZE];
    snprintf(sid, sizeof sid, "%s", r->acct.id);
    acct_req_free(r);

    r = as(ACCT_REQ_CLASS_CREATE, tid);
    acct_req_set_name(r, "Bio", 3);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, 0);
    char cid[CLASS_ID_SIZE], code[CLASS_CODE_SIZE], want[256];
    snprintf(cid, sizeof cid, "%s", r->cls.id);
    snprintf(code, sizeof code, "%s", r->cls.join_code);
    snprintf(want, sizeof want, "tok:%s:%s", tid, cid);
    ASSERT_STR_EQ(r->token, want);
    ASSERT_EQ(r->roster_valid, 1);
    ASSERT_EQ(r->n_roster, 1); /* the creator, as its teacher */
    acct_req_free(r);

    /* A student may not create; a teacher may not join by code. */
    r = as(ACCT_REQ_CLASS_CREATE, sid);
    acct_req_set_name(r, "X", 1);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, BRK_ESTATE);
    acct_req_free(r);
    r = as(ACCT_REQ_CLASS_JOIN, tid);
    snprintf(r->code, sizeof r->code, "%s", code);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, BRK_ESTATE);
    acct_req_free(r);

    r = as(ACCT_REQ_CLASS_JOIN, sid);
    snprintf(r->code, sizeof r->code, "%s", code);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, 0);
    snprintf(want, sizeof want, "tok:%s:%s", sid, cid);
    ASSERT_STR_EQ(r->token, want);
    ASSERT_EQ(r->n_roster, 2);
    acct_req_free(r);

    /* The student reads the class without its roster; the teacher with it. */
    r = as(ACCT_REQ_CLASS_GET, sid);
    snprintf(r->class_id, sizeof r->class_id, "%s", cid);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, 0);
    ASSERT_EQ(r->is_staff, 0);
    ASSERT_EQ(r->n_roster, 0);
    acct_req_free(r);
    r = as(ACCT_REQ_CLASS_GET, tid);
    snprintf(r->class_id, sizeof r->class_id, "%s", cid);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->is_staff, 1);
    ASSERT_EQ(r->n_roster, 2);
    acct_req_free(r);

    /* Removed: the roster shrinks, the next token names no class. */
    r = as(ACCT_REQ_CLASS_REMOVE, tid);
    snprintf(r->class_id, sizeof r->class_id, "%s", cid);
    snprintf(r->student_id, sizeof r->student_id, "%s", sid);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, 0);
    ASSERT_EQ(r->n_roster, 1);
    acct_req_free(r);
    r = as(ACCT_REQ_GET, sid);
    r->want_token = 1;
    r = run_one(&loop, s, r);
    snprintf(want, sizeof want, "tok:%s:", sid);
    ASSERT_STR_EQ(r->token, want);
    acct_req_free(r);
    r = as(ACCT_REQ_CLASS_GET, sid);
    snprintf(r->class_id, sizeof r->class_id, "%s", cid);
    r = run_one(&loop, s, r);
    ASSERT_EQ(r->err, BRK_ENOTFOUND);
    acct_req_free(r);

    stop(&loop, s);
    teardown();
}

static void test_full_queue_answers_efull(void)
{
    setup();
    uv_loop_t loop;
    acct_svc_t *s = start(&loop, 1);
    results_t res = {0};
    char email[64];
    /* Two workers and one place in line: of 12 at once, most are refused unrun. */
    for (int i = 0; i < 12; i++) {
        snprintf(email, sizeof email, "u%d@school.example", i);
        acct_svc_submit(s, reg(email, "U", ACCT_ROLE_STUDENT, "pw pw pw pw"), on_done, &res);
    }
    while (res.done < 12)
        uv_run(&loop, UV_RUN_ONCE);
    int ok = 0, full = 0;
    for (int i = 0; i < 12; i++) {
        if (res.got[i]->err == 0)
            ok++;
        else if (res.got[i]->err == BRK_EFULL)
            full++;
        acct_req_free(res.got[i]);
    }
    ASSERT(ok >= 1 && ok <= 3);
    ASSERT_EQ(ok + full, 12);
    stop(&loop, s);
    teardown();
}

static const test_case_t tests[] = {
    {"accounts_round_trip", test_accounts_round_trip},
    {"classes_and_tokens", test_classes_and_tokens},
    {"full_queue_answers_efull", test_full_queue_answers_efull},
};

TEST_MAIN(tests)

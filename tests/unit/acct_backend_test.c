/* SPDX-License-Identifier: MIT */
/* Conformance of the accounts storage backends (accounts/acct_backend.h): every case runs
 * against the SQLite backend (a temporary data directory) and against the MongoDB backend
 * (the project's wire-protocol test server, tests/support/mongo_server.c, on a free loopback
 * port), and expects the same answers: codes, normalization, list orders, limits. Then the
 * MongoDB backend's own matters (two instances on one database, settings refused at set-up)
 * and two accounts services sharing one MongoDB server, as two broker instances would.
 *
 * The random source is wrapped (--wrap=brk_random), to force join code collisions: a draw of
 * CODE_DRAW bytes is a join code's (class ids take 10, account ids 16). */
#include "acct_backend.h"
#include "acct_service.h"
#include "brk.h"
#include "mongo_server.h"
#include "test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CODE_DRAW 12

int __real_brk_random(void *out, size_t n);
int __wrap_brk_random(void *out, size_t n);

static int zero_code_draws; /* code draws still to fill with zeros ("AAAAAA") */

int __wrap_brk_random(void *out, size_t n)
{
    if (n == CODE_DRAW && zero_code_draws > 0) {
        zero_code_draws--;
        memset(out, 0, n);
        return 0;
    }
    return __real_brk_random(out, n);
}

/* ---- fixtures -------------------------------------------------------------------------- */

static const acct_backend_ops_t *ops;
static void *shared, *db;
static char tmpdir[64];
static char uri[128];
static mongo_server_t *fake;

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static acct_backend_conf_t conf_for(const acct_backend_ops_t *which)
{
    acct_backend_conf_t c = {.data_dir = tmpdir, .timeout_ms = 1000, .max_conns = 4};
    if (which == &acct_backend_mongo)
        c.mongodb_uri = uri;
    return c;
}

static void setup(const acct_backend_ops_t *which)
{
    char err[256] = "";
    zero_code_draws = 0;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rollcall-backend-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(tmpdir));
    if (which == &acct_backend_mongo) {
        ASSERT_EQ(mongo_server_start(0, &fake), 0);
        snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/acct_test", mongo_server_port(fake));
    }
    acct_backend_conf_t c = conf_for(which);
    ASSERT(acct_backend_for(&c) == which);
    ops = which;
    if (ops->setup(&c, &shared, err, sizeof err) != 0)
        TEST_FAIL("setup: %s", err);
    if (ops->open(shared, &db, err, sizeof err) != 0)
        TEST_FAIL("open: %s", err);
}

static void teardown(void)
{
    ops->close(db);
    db = NULL;
    ops->teardown(shared);
    shared = NULL;
    mongo_server_free(fake);
    fake = NULL;
    nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

/* Each case runs once per backend. */
#define BOTH(fn)                                                                                   \
    static void sqlite_##fn(void)                                                                  \
    {                                                                                              \
        setup(&acct_backend_sqlite);                                                               \
        fn();                                                                                      \
        teardown();                                                                                \
    }                                                                                              \
    static void mongo_##fn(void)                                                                   \
    {                                                                                              \
        setup(&acct_backend_mongo);                                                                \
        fn();                                                                                      \
        teardown();                                                                                \
    }

static acct_t new_account(const char *email, const char *name, acct_role_t role)
{
    acct_t a;
    ASSERT_EQ(ops->acct_create(db, email, name, role, "$y$hash", &a), 0);
    return a;
}

static class_info_t new_class(const char *creator, const char *name)
{
    class_info_t c;
    ASSERT_EQ(ops->class_create(db, creator, name, NULL, NULL, &c), 0);
    return c;
}

/* ---- cases ----------------------------------------------------------------------------- */

static void accounts(void)
{
    acct_t a, b;
    ASSERT_EQ(ops->acct_create(db, "  Ada@School.Example ", "Ada L", ACCT_ROLE_TEACHER,
                               "$y$j9T$hash", &a),
              0);
    ASSERT_EQ(strlen(a.id), ACCT_ID_SIZE - 1);
    ASSERT_STR_EQ(a.email, "ada@school.example");
    ASSERT_STR_EQ(a.name, "Ada L");
    ASSERT_EQ(a.role, ACCT_ROLE_TEACHER);
    ASSERT_STR_EQ(a.password_hash, "$y$j9T$hash");
    ASSERT(a.created_at_ms > 0 && a.created_at_ms == a.updated_at_ms);

    ASSERT_EQ(ops->acct_find_by_id(db, a.id, &b), 0);
    ASSERT_STR_EQ(b.id, a.id);
    ASSERT_STR_EQ(b.email, a.email);
    ASSERT_STR_EQ(b.name, a.name);
    ASSERT_EQ(b.role, a.role);
    ASSERT_STR_EQ(b.password_hash, a.password_hash);
    ASSERT_EQ(b.created_at_ms, a.created_at_ms);
    ASSERT_EQ(b.updated_at_ms, a.updated_at_ms);
    memset(&b, 0, sizeof b);
    ASSERT_EQ(ops->acct_find_by_email(db, "ADA@school.EXAMPLE\t", &b), 0);
    ASSERT_STR_EQ(b.id, a.id);
    ASSERT_EQ(ops->acct_find_by_email(db, "ada@school.example", NULL), 0);

    /* The same mailbox, however typed, is taken. */
    ASSERT_EQ(ops->acct_create(db, "ada@school.example", "X", ACCT_ROLE_STUDENT, "h", NULL),
              BRK_EEXIST);
    ASSERT_EQ(ops->acct_create(db, " ADA@SCHOOL.EXAMPLE", "X", ACCT_ROLE_ADMIN, "h", NULL),
              BRK_EEXIST);

    /* Refused values. */
    char longname[ACCT_NAME_MAX + 2];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    char longmail[ACCT_EMAIL_MAX + 8];
    memset(longmail, 'm', sizeof longmail - 1);
    longmail[sizeof longmail - 1] = '\0';
    longmail[3] = '@';
    ASSERT_EQ(ops->acct_create(db, NULL, "X", ACCT_ROLE_STUDENT, "h", NULL), BRK_EINVAL);
    ASSERT_EQ(ops->acct_create(db, "no-at-sign", "X", ACCT_ROLE_STUDENT, "h", NULL), BRK_EINVAL);
    ASSERT_EQ(ops->acct_create(db, longmail, "X", ACCT_ROLE_STUDENT, "h", NULL), BRK_ETOOBIG);
    ASSERT_EQ(ops->acct_create(db, "b@x.y", "", ACCT_ROLE_STUDENT, "h", NULL), BRK_EINVAL);
    ASSERT_EQ(ops->acct_create(db, "b@x.y", "a\nb", ACCT_ROLE_STUDENT, "h", NULL), BRK_EINVAL);
    ASSERT_EQ(ops->acct_create(db, "b@x.y", longname, ACCT_ROLE_STUDENT, "h", NULL), BRK_ETOOBIG);
    ASSERT_EQ(ops->acct_create(db, "b@x.y", "B", ACCT_ROLE_STUDENT, "", NULL), BRK_EINVAL);
    ASSERT_EQ(ops->acct_create(db, "b@x.y", "B", (acct_role_t)7, "h", NULL), BRK_EINVAL);
    ASSERT_EQ(ops->acct_find_by_email(db, "b@x.y", NULL), BRK_ENOTFOUND);

    /* Unknown. */
    ASSERT_EQ(ops->acct_find_by_id(db, "nobody", &b), BRK_ENOTFOUND);
    ASSERT_EQ(ops->acct_find_by_id(db, NULL, &b), BRK_ENOTFOUND);
    ASSERT_EQ(ops->acct_find_by_email(db, "nobody@school.example", &b), BRK_ENOTFOUND);
    ASSERT_EQ(ops->acct_find_by_email(db, "not an email", &b), BRK_ENOTFOUND);
    ASSERT_EQ(ops->acct_find_by_email(db, NULL, &b), BRK_ENOTFOUND);

    /* Updates. */
    usleep(2000);
    ASSERT_EQ(ops->acct_update_name(db, a.id, "Ada Lovelace"), 0);
    ASSERT_EQ(ops->acct_update_password(db, a.id, "$y$new"), 0);
    ASSERT_EQ(ops->acct_find_by_id(db, a.id, &b), 0);
    ASSERT_STR_EQ(b.name, "Ada Lovelace");
    ASSERT_STR_EQ(b.password_hash, "$y$new");
    ASSERT_STR_EQ(b.email, "ada@school.example");
    ASSERT(b.updated_at_ms > a.updated_at_ms);
    ASSERT_EQ(b.created_at_ms, a.created_at_ms);
    ASSERT_EQ(ops->acct_update_name(db, a.id, ""), BRK_EINVAL);
    ASSERT_EQ(ops->acct_update_name(db, a.id, longname), BRK_ETOOBIG);
    ASSERT_EQ(ops->acct_update_password(db, a.id, ""), BRK_EINVAL);
    ASSERT_EQ(ops->acct_update_name(db, "nobody", "N"), BRK_ENOTFOUND);
    ASSERT_EQ(ops->acct_update_password(db, "nobody", "h"), BRK_ENOTFOUND);
    ASSERT_EQ(ops->acct_update_name(db, NULL, "N"), BRK_ENOTFOUND);

    /* A second account. */
    b = new_account("grace@school.example", "Grace", ACCT_ROLE_STUDENT);
    ASSERT(strcmp(a.id, b.id) != 0);
}
BOTH(accounts)

static void classes(void)
{
    class_info_t c, x;
    char code[CLASS_CODE_SIZE], lower[16];
    ASSERT_EQ(ops->class_create(db, "t-1", "Biology", "Cells.\nAnd more cells.",
                                "{\"days\":[\"mon\"]}", &c),
              0);
    ASSERT_EQ(strlen(c.id), CLASS_ID_SIZE - 1);
    ASSERT_EQ(c.id[0], 'c');
    ASSERT_EQ(strlen(c.join_code), CLASS_CODE_LEN);
    ASSERT_EQ(strspn(c.join_code, CLASS_CODE_ALPHABET), CLASS_CODE_LEN);
    ASSERT_STR_EQ(c.created_by, "t-1");
    ASSERT(c.created_at_ms > 0 && c.created_at_ms == c.updated_at_ms);

    ASSERT_EQ(ops->class_get(db, c.id, &x), 0);
    ASSERT_STR_EQ(x.id, c.id);
    ASSERT_STR_EQ(x.name, "Biology");
    ASSERT_STR_EQ(x.description, "Cells.\nAnd more cells.");
    ASSERT_EQ(x.has_schedule, 1);
    ASSERT_STR_EQ(x.schedule, "{\"days\":[\"mon\"]}");
    ASSERT_STR_EQ(x.join_code, c.join_code);
    ASSERT_STR_EQ(x.created_by, "t-1");
    ASSERT_EQ(x.created_at_ms, c.created_at_ms);
    ASSERT_EQ(x.updated_at_ms, c.updated_at_ms);

    /* The creator is its teacher. */
    class_role_t role = CLASS_ROLE_STUDENT;
    ASSERT_EQ(ops->class_membership(db, c.id, "t-1", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_TEACHER);

    /* Found by code, as typed (case, blanks). */
    for (int i = 0; i < CLASS_CODE_LEN; i++)
        lower[i] = (char)(c.join_code[i] >= 'A' && c.join_code[i] <= 'Z' ? c.join_code[i] + 32
                                                                         : c.join_code[i]);
    lower[CLASS_CODE_LEN] = '\0';
    char typed[24];
    snprintf(typed, sizeof typed, "  %s\n", lower);
    memset(&x, 0, sizeof x);
    ASSERT_EQ(ops->class_find_by_code(db, typed, &x), 0);
    ASSERT_STR_EQ(x.id, c.id);
    ASSERT_EQ(ops->class_find_by_code(db, "ZZZZZZ", &x), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_find_by_code(db, "ABC", &x), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_find_by_code(db, "O0O0O0", &x), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_find_by_code(db, NULL, &x), BRK_ENOTFOUND);

    /* Without description and schedule. */
    class_info_t d;
    ASSERT_EQ(ops->class_create(db, "t-1", "Chemistry", NULL, NULL, &d), 0);
    ASSERT(strcmp(d.id, c.id) != 0 && strcmp(d.join_code, c.join_code) != 0);
    ASSERT_EQ(ops->class_get(db, d.id, &x), 0);
    ASSERT_STR_EQ(x.description, "");
    ASSERT_EQ(x.has_schedule, 0);
    ASSERT_STR_EQ(x.schedule, "");

    /* Refused. */
    char longdesc[CLASS_DESC_MAX + 2];
    memset(longdesc, 'd', sizeof longdesc - 1);
    longdesc[sizeof longdesc - 1] = '\0';
    ASSERT_EQ(ops->class_create(db, "bad id", "X", NULL, NULL, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_create(db, NULL, "X", NULL, NULL, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_create(db, "t-1", NULL, NULL, NULL, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_create(db, "t-1", "", NULL, NULL, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_create(db, "t-1", "a\tb", NULL, NULL, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_create(db, "t-1", "X", "bell\a", NULL, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_create(db, "t-1", "X", longdesc, NULL, NULL), BRK_ETOOBIG);

    /* Updates: only the fields given. */
    usleep(2000);
    ASSERT_EQ(ops->class_update(db, c.id, "Biology II", NULL, NULL, 0, &x), 0);
    ASSERT_STR_EQ(x.name, "Biology II");
    ASSERT_STR_EQ(x.description, "Cells.\nAnd more cells.");
    ASSERT_EQ(x.has_schedule, 1);
    ASSERT_STR_EQ(x.join_code, c.join_code);
    ASSERT(x.updated_at_ms > c.updated_at_ms);
    ASSERT_EQ(x.created_at_ms, c.created_at_ms);
    ASSERT_EQ(ops->class_update(db, c.id, NULL, "", "{}", 0, &x), 0);
    ASSERT_STR_EQ(x.name, "Biology II");
    ASSERT_STR_EQ(x.description, "");
    ASSERT_STR_EQ(x.schedule, "{}");
    ASSERT_EQ(ops->class_update(db, c.id, NULL, NULL, NULL, 1, NULL), 0);
    ASSERT_EQ(ops->class_get(db, c.id, &x), 0);
    ASSERT_EQ(x.has_schedule, 0);
    ASSERT_EQ(ops->class_update(db, c.id, NULL, NULL, "{}", 1, &x), BRK_EINVAL);
    ASSERT_EQ(ops->class_update(db, c.id, "a\nb", NULL, NULL, 0, &x), BRK_EINVAL);
    ASSERT_EQ(ops->class_update(db, c.id, NULL, longdesc, NULL, 0, &x), BRK_ETOOBIG);
    ASSERT_EQ(ops->class_update(db, "cnothere", "N", NULL, NULL, 0, &x), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_update(db, NULL, "N", NULL, NULL, 0, &x), BRK_ENOTFOUND);

    /* A new join code: the old one stops finding the class. */
    ASSERT_EQ(ops->class_regenerate_code(db, c.id, code, sizeof code), 0);
    ASSERT_EQ(strlen(code), CLASS_CODE_LEN);
    ASSERT(strcmp(code, c.join_code) != 0);
    ASSERT_EQ(ops->class_find_by_code(db, c.join_code, &x), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_find_by_code(db, code, &x), 0);
    ASSERT_STR_EQ(x.id, c.id);
    ASSERT_STR_EQ(x.join_code, code);
    ASSERT_EQ(ops->class_regenerate_code(db, "cnothere", code, sizeof code), BRK_ENOTFOUND);
    ASSERT_STR_EQ(code, "");
    ASSERT_EQ(ops->class_regenerate_code(db, NULL, code, sizeof code), BRK_ENOTFOUND);

    ASSERT_EQ(ops->class_get(db, "cnothere", &x), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_get(db, NULL, &x), BRK_ENOTFOUND);
}
BOTH(classes)

/* A join code taken already is drawn again, on create and on a new code. */
static void join_code_collisions(void)
{
    class_info_t a, b, x;
    char code[CLASS_CODE_SIZE];
    zero_code_draws = 1;
    a = new_class("t-1", "A");
    ASSERT_STR_EQ(a.join_code, "AAAAAA");
    zero_code_draws = 1; /* B's first code collides with A's */
    b = new_class("t-1", "B");
    ASSERT_EQ(zero_code_draws, 0);
    ASSERT(strcmp(b.join_code, "AAAAAA") != 0);
    ASSERT_EQ(ops->class_find_by_code(db, "aaaaaa", &x), 0);
    ASSERT_STR_EQ(x.id, a.id);
    zero_code_draws = 1; /* B's new code collides with A's */
    ASSERT_EQ(ops->class_regenerate_code(db, b.id, code, sizeof code), 0);
    ASSERT_EQ(zero_code_draws, 0);
    ASSERT(strcmp(code, "AAAAAA") != 0 && strcmp(code, b.join_code) != 0);
    /* Every try collides: BRK_EIO, and nothing changed. */
    zero_code_draws = 1000;
    ASSERT_EQ(ops->class_create(db, "t-1", "C", NULL, NULL, NULL), BRK_EIO);
    ASSERT_EQ(ops->class_regenerate_code(db, b.id, code, sizeof code), BRK_EIO);
    zero_code_draws = 0;
    ASSERT_EQ(ops->class_get(db, b.id, &x), 0);
    ASSERT(strcmp(x.join_code, "AAAAAA") != 0);
    class_uid_t *ids = NULL;
    size_t n = 0;
    ASSERT_EQ(ops->class_all_ids(db, &ids, &n), 0);
    ASSERT_EQ(n, 2);
    free(ids);
    class_membership_t *ms = NULL;
    ASSERT_EQ(ops->class_list_for_account(db, "t-1", &ms, &n), 0);
    ASSERT_EQ(n, 2);
    free(ms);
}
BOTH(join_code_collisions)

static void members(void)
{
    class_info_t c = new_class("t-1", "Physics");
    class_role_t role = CLASS_ROLE_TEACHER;
    ASSERT_EQ(ops->class_add_member(db, c.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(ops->class_membership(db, c.id, "s-1", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_STUDENT);
    ASSERT_EQ(ops->class_membership(db, c.id, "s-1", NULL), 0);
    /* Twice: the existing role is told, unchanged. */
    role = CLASS_ROLE_STUDENT;
    ASSERT_EQ(ops->class_add_member(db, c.id, "s-1", CLASS_ROLE_TEACHER, &role), BRK_EEXIST);
    ASSERT_EQ(role, CLASS_ROLE_STUDENT);
    ASSERT_EQ(ops->class_add_member(db, c.id, "t-1", CLASS_ROLE_STUDENT, &role), BRK_EEXIST);
    ASSERT_EQ(role, CLASS_ROLE_TEACHER);
    ASSERT_EQ(ops->class_add_member(db, c.id, "t-2", CLASS_ROLE_TEACHER, NULL), 0);

    ASSERT_EQ(ops->class_add_member(db, "cnothere", "s-2", CLASS_ROLE_STUDENT, NULL),
              BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_add_member(db, NULL, "s-2", CLASS_ROLE_STUDENT, NULL), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_add_member(db, c.id, "bad id", CLASS_ROLE_STUDENT, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_add_member(db, c.id, NULL, CLASS_ROLE_STUDENT, NULL), BRK_EINVAL);
    ASSERT_EQ(ops->class_add_member(db, c.id, "s-2", (class_role_t)5, NULL), BRK_EINVAL);

    ASSERT_EQ(ops->class_membership(db, c.id, "s-2", &role), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_membership(db, "cnothere", "s-1", &role), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_membership(db, NULL, "s-1", &role), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_membership(db, c.id, NULL, &role), BRK_ENOTFOUND);

    ASSERT_EQ(ops->class_remove_member(db, c.id, "s-1"), 0);
    ASSERT_EQ(ops->class_remove_member(db, c.id, "s-1"), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_membership(db, c.id, "s-1", &role), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_remove_member(db, "cnothere", "t-1"), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_remove_member(db, NULL, "t-1"), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_remove_member(db, c.id, NULL), BRK_ENOTFOUND);
    /* Back in after leaving. */
    ASSERT_EQ(ops->class_add_member(db, c.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    /* The last teacher may go: policy is the caller's. */
    ASSERT_EQ(ops->class_remove_member(db, c.id, "t-1"), 0);
    ASSERT_EQ(ops->class_remove_member(db, c.id, "t-2"), 0);
    class_member_t *m = NULL;
    size_t n = 0;
    ASSERT_EQ(ops->class_roster(db, c.id, &m, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(m[0].account_id, "s-1");
    free(m);
}
BOTH(members)

static void class_limit(void)
{
    char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1];
    char made[CLASS_MAX_PER_ACCOUNT][CLASS_ID_SIZE];
    int n = 0;
    for (int i = 0; i < CLASS_MAX_PER_ACCOUNT; i++) {
        char name[16];
        snprintf(name, sizeof name, "K%02d", i);
        class_info_t c = new_class("t-1", name);
        memcpy(made[i], c.id, sizeof made[i]);
        ASSERT_EQ(ops->class_add_member(db, c.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    }
    /* The creator and the student are at the limit. */
    ASSERT_EQ(ops->class_create(db, "t-1", "One more", NULL, NULL, NULL), BRK_EFULL);
    class_info_t other = new_class("t-2", "Other");
    ASSERT_EQ(ops->class_add_member(db, other.id, "s-1", CLASS_ROLE_STUDENT, NULL), BRK_EFULL);
    ASSERT_EQ(ops->class_add_member(db, other.id, "t-1", CLASS_ROLE_TEACHER, NULL), BRK_EFULL);
    /* Still a member of one of them: EEXIST comes before the limit. */
    ASSERT_EQ(ops->class_add_member(db, made[3], "s-1", CLASS_ROLE_STUDENT, NULL), BRK_EEXIST);

    ASSERT_EQ(ops->class_class_ids(db, "s-1", ids, &n), 0);
    ASSERT_EQ(n, CLASS_MAX_PER_ACCOUNT);
    for (int i = 1; i < n; i++)
        ASSERT(strcmp(ids[i - 1], ids[i]) < 0);
    for (int i = 0; i < CLASS_MAX_PER_ACCOUNT; i++) {
        int found = 0;
        for (int k = 0; k < n; k++)
            found |= strcmp(ids[k], made[i]) == 0;
        ASSERT(found);
    }
    /* Leaving one makes room again. */
    ASSERT_EQ(ops->class_remove_member(db, made[0], "s-1"), 0);
    ASSERT_EQ(ops->class_add_member(db, other.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
}
BOTH(class_limit)

/* Rosters and lists, in the SQLite store's orders: roster teachers first, then by name with
 * ASCII case folded, then by name's bytes, then by id; lists by class name likewise, then
 * id; ids by bytes. */
static void lists_and_order(void)
{
    acct_t t = new_account("zed@x.y", "Zed", ACCT_ROLE_TEACHER);
    acct_t t2 = new_account("amy@x.y", "amy", ACCT_ROLE_TEACHER);
    acct_t bob = new_account("bob@x.y", "bob", ACCT_ROLE_STUDENT);
    acct_t al1 = new_account("al1@x.y", "alice", ACCT_ROLE_STUDENT);
    acct_t al2 = new_account("al2@x.y", "Alice", ACCT_ROLE_STUDENT);
    acct_t b1 = new_account("b1@x.y", "Bo", ACCT_ROLE_STUDENT);
    acct_t b2 = new_account("b2@x.y", "Bo", ACCT_ROLE_STUDENT);
    acct_t alic = new_account("alic@x.y", "Alic", ACCT_ROLE_STUDENT);

    class_info_t c = new_class(t.id, "Main");
    ASSERT_EQ(ops->class_add_member(db, c.id, t2.id, CLASS_ROLE_TEACHER, NULL), 0);
    const acct_t *studs[] = {&bob, &al1, &al2, &b1, &b2, &alic};
    for (size_t i = 0; i < BRK_ARRAY_LEN(studs); i++)
        ASSERT_EQ(ops->class_add_member(db, c.id, studs[i]->id, CLASS_ROLE_STUDENT, NULL), 0);
    /* A member without an account: nameless, so first among the students. */
    ASSERT_EQ(ops->class_add_member(db, c.id, "ghost-1", CLASS_ROLE_STUDENT, NULL), 0);

    class_member_t *m = NULL;
    size_t n = 0;
    ASSERT_EQ(ops->class_roster(db, c.id, &m, &n), 0);
    ASSERT_EQ(n, 9);
    const acct_t *blo = strcmp(b1.id, b2.id) < 0 ? &b1 : &b2;
    const acct_t *bhi = blo == &b1 ? &b2 : &b1;
    const char *want[] = {t2.id,  t.id,    "ghost-1", alic.id, al2.id,
                          al1.id, blo->id, bhi->id,   bob.id};
    for (size_t i = 0; i < n; i++)
        ASSERT_STR_EQ(m[i].account_id, want[i]);
    ASSERT_EQ(m[0].role, CLASS_ROLE_TEACHER);
    ASSERT_EQ(m[1].role, CLASS_ROLE_TEACHER);
    ASSERT_EQ(m[2].role, CLASS_ROLE_STUDENT);
    ASSERT_STR_EQ(m[0].name, "amy");
    ASSERT_STR_EQ(m[0].email, "amy@x.y");
    ASSERT_STR_EQ(m[2].name, "");
    ASSERT_STR_EQ(m[2].email, "");
    ASSERT_STR_EQ(m[4].name, "Alice");
    ASSERT(m[8].joined_at_ms > 0);
    free(m);

    class_uid_t *u = NULL;
    ASSERT_EQ(ops->class_student_ids(db, c.id, &u, &n), 0);
    ASSERT_EQ(n, 7);
    for (size_t i = 1; i < n; i++)
        ASSERT(strcmp(u[i - 1].id, u[i].id) < 0);
    for (size_t i = 0; i < n; i++)
        ASSERT(strcmp(u[i].id, t.id) != 0 && strcmp(u[i].id, t2.id) != 0);
    free(u);

    /* An empty class and no class. */
    class_info_t e = new_class(t.id, "Empty");
    ASSERT_EQ(ops->class_remove_member(db, e.id, t.id), 0);
    ASSERT_EQ(ops->class_roster(db, e.id, &m, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(m);
    ASSERT_EQ(ops->class_student_ids(db, e.id, &u, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(u);
    ASSERT_EQ(ops->class_roster(db, "cnothere", &m, &n), BRK_ENOTFOUND);
    ASSERT_NULL(m);
    ASSERT_EQ(ops->class_roster(db, NULL, &m, &n), BRK_ENOTFOUND);
    ASSERT_EQ(ops->class_student_ids(db, "cnothere", &u, &n), BRK_ENOTFOUND);
    ASSERT_NULL(u);

    /* An account's classes by name. */
    class_info_t k[5];
    const char *names[] = {"b", "B", "a", "C", "b"};
    for (int i = 0; i < 5; i++) {
        k[i] = new_class(t2.id, names[i]);
        ASSERT_EQ(ops->class_add_member(db, k[i].id, bob.id, CLASS_ROLE_STUDENT, NULL), 0);
    }
    class_membership_t *ms = NULL;
    ASSERT_EQ(ops->class_list_for_account(db, bob.id, &ms, &n), 0);
    ASSERT_EQ(n, 6);
    const class_info_t *blo2 = strcmp(k[0].id, k[4].id) < 0 ? &k[0] : &k[4];
    const class_info_t *bhi2 = blo2 == &k[0] ? &k[4] : &k[0];
    const char *wantc[] = {k[2].id, k[1].id, blo2->id, bhi2->id, k[3].id, c.id};
    for (size_t i = 0; i < n; i++) {
        ASSERT_STR_EQ(ms[i].cls.id, wantc[i]);
        ASSERT_EQ(ms[i].role, CLASS_ROLE_STUDENT);
        ASSERT(ms[i].joined_at_ms > 0);
    }
    ASSERT_STR_EQ(ms[0].cls.join_code, k[2].join_code);
    ASSERT_STR_EQ(ms[5].cls.name, "Main");
    free(ms);
    ASSERT_EQ(ops->class_list_for_account(db, t2.id, &ms, &n), 0);
    ASSERT_EQ(n, 6);
    ASSERT_EQ(ms[5].role, CLASS_ROLE_TEACHER);
    free(ms);
    ASSERT_EQ(ops->class_list_for_account(db, "nobody", &ms, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(ms);
    ASSERT_EQ(ops->class_list_for_account(db, NULL, &ms, &n), 0);
    ASSERT_EQ(n, 0);

    char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1];
    int ni = -1;
    ASSERT_EQ(ops->class_class_ids(db, bob.id, ids, &ni), 0);
    ASSERT_EQ(ni, 6);
    for (int i = 1; i < ni; i++)
        ASSERT(strcmp(ids[i - 1], ids[i]) < 0);
    ASSERT_EQ(ops->class_class_ids(db, "nobody", ids, &ni), 0);
    ASSERT_EQ(ni, 0);
    ASSERT_EQ(ops->class_class_ids(db, NULL, ids, &ni), 0);
    ASSERT_EQ(ni, 0);

    ASSERT_EQ(ops->class_all_ids(db, &u, &n), 0);
    ASSERT_EQ(n, 7);
    for (size_t i = 1; i < n; i++)
        ASSERT(strcmp(u[i - 1].id, u[i].id) < 0);
    free(u);
}
BOTH(lists_and_order)

static void empty_store(void)
{
    class_uid_t *u = (class_uid_t *)&u;
    size_t n = 9;
    ASSERT_EQ(ops->class_all_ids(db, &u, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(u);
}
BOTH(empty_store)

/* ---- MongoDB only ---------------------------------------------------------------------- */

static int count_docs(const char *coll)
{
    return mongo_server_count(fake, "acct_test", coll);
}

/* Two instances (two set-ups, two connections each) on one database share one set of
 * accounts and classes; the unique indexes hold between them. */
static void mongo_two_instances(void)
{
    setup(&acct_backend_mongo);
    char err[256];
    void *shared2 = NULL, *db2 = NULL, *db3 = NULL;
    acct_backend_conf_t c = conf_for(&acct_backend_mongo);
    ASSERT_EQ(ops->setup(&c, &shared2, err, sizeof err), 0);
    ASSERT_EQ(ops->open(shared2, &db2, err, sizeof err), 0);
    ASSERT_EQ(ops->open(shared2, &db3, err, sizeof err), 0);
    ASSERT(mongo_server_commands(fake, "createIndexes") >= 4);

    acct_t a, b;
    ASSERT_EQ(ops->acct_create(db, "ada@x.y", "Ada", ACCT_ROLE_TEACHER, "h", &a), 0);
    ASSERT_EQ(ops->acct_find_by_email(db2, "ADA@x.y", &b), 0);
    ASSERT_STR_EQ(b.id, a.id);
    ASSERT_EQ(ops->acct_create(db3, "Ada@X.Y", "Ada 2", ACCT_ROLE_STUDENT, "h", NULL), BRK_EEXIST);
    ASSERT_EQ(count_docs("accounts"), 1);

    class_info_t k, x;
    ASSERT_EQ(ops->class_create(db2, a.id, "Shared", NULL, NULL, &k), 0);
    ASSERT_EQ(ops->class_find_by_code(db, k.join_code, &x), 0);
    ASSERT_STR_EQ(x.id, k.id);
    ASSERT_EQ(ops->class_add_member(db, k.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(ops->class_add_member(db3, k.id, "s-1", CLASS_ROLE_STUDENT, NULL), BRK_EEXIST);

    /* The documents' shapes. */
    bson_t *docs = mongo_server_docs(fake, "acct_test", "class_members");
    bson_iter_t it, d;
    char want[128];
    snprintf(want, sizeof want, "%s/s-1", k.id);
    int seen = 0;
    ASSERT(bson_iter_init(&it, docs));
    while (bson_iter_next(&it)) {
        ASSERT(BSON_ITER_HOLDS_DOCUMENT(&it));
        ASSERT(bson_iter_recurse(&it, &d));
        ASSERT(bson_iter_find(&d, "_id"));
        if (strcmp(bson_iter_utf8(&d, NULL), want) == 0)
            seen = 1;
    }
    bson_destroy(docs);
    ASSERT(seen);
    docs = mongo_server_docs(fake, "acct_test", "classes");
    ASSERT(bson_iter_init(&it, docs) && bson_iter_next(&it) && bson_iter_recurse(&it, &d));
    ASSERT(bson_iter_find(&d, "schedule") && BSON_ITER_HOLDS_NULL(&d));
    bson_destroy(docs);

    ops->close(db3);
    ops->close(db2);
    ops->teardown(shared2);
    teardown();
}

static void mongo_setup_refusals(void)
{
    char err[256];
    void *sh = NULL;
    ASSERT_EQ(mongo_server_start(0, &fake), 0);
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/", mongo_server_port(fake));
    acct_backend_conf_t c = {.mongodb_uri = "http://nope", .timeout_ms = 300};
    ASSERT_EQ(acct_backend_mongo.setup(&c, &sh, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_MONGODB_URI"));
    c.mongodb_uri = uri;
    c.mongodb_database = "bad.name";
    ASSERT_EQ(acct_backend_mongo.setup(&c, &sh, err, sizeof err), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(err, "ROLLCALL_MONGODB_DATABASE"));
    /* No database anywhere: "rollcall". */
    c.mongodb_database = NULL;
    ASSERT_EQ(acct_backend_mongo.setup(&c, &sh, err, sizeof err), 0);
    acct_backend_mongo.teardown(sh);
    sh = NULL;
    ASSERT_EQ(mongo_server_count(fake, "rollcall", "accounts"), 0);
    bson_t *docs = mongo_server_docs(fake, "rollcall", "accounts");
    bson_destroy(docs);
    /* Unreachable at start: set-up succeeds (the broker must start; finalized records go
     * to the journal), fast, and every connection answers "not ready" until the server is
     * back and the indexes exist. */
    uint64_t before = mongo_server_commands(fake, "createIndexes");
    ASSERT_EQ(mongo_server_set_down(fake, 1), 0);
    int64_t t0 = brk_now_ms();
    ASSERT_EQ(acct_backend_mongo.setup(&c, &sh, err, sizeof err), 0);
    ASSERT(brk_now_ms() - t0 < 5000);
    void *conn = NULL;
    ASSERT_EQ(acct_backend_mongo.open(sh, &conn, err, sizeof err), 0);
    ASSERT_NOT_NULL(acct_backend_mongo.ready);
    ASSERT_EQ(acct_backend_mongo.ready(conn), BRK_EIO);
    ASSERT_EQ(mongo_server_commands(fake, "createIndexes"), before);
    ASSERT_EQ(mongo_server_set_down(fake, 0), 0);
    /* The pool's monitor notices the server again within its heartbeat. */
    int64_t until = brk_now_ms() + 15000;
    while (acct_backend_mongo.ready(conn) != 0 && brk_now_ms() < until)
        usleep(100 * 1000);
    ASSERT_EQ(acct_backend_mongo.ready(conn), 0);
    uint64_t after = mongo_server_commands(fake, "createIndexes");
    ASSERT(after > before);
    ASSERT_EQ(acct_backend_mongo.ready(conn), 0); /* once ready, no more round trips */
    ASSERT_EQ(mongo_server_commands(fake, "createIndexes"), after);
    acct_backend_mongo.close(conn);
    acct_backend_mongo.teardown(sh);
    mongo_server_free(fake);
    fake = NULL;
}

/* ---- two accounts services on one MongoDB ---------------------------------------------- */

static char *mint(const acct_t *a, const char *const *classes, size_t n, int64_t *expires_in,
                  void *ud)
{
    (void)ud;
    char buf[4096];
    int len = snprintf(buf, sizeof buf, "tok:%s:", a->id);
    for (size_t i = 0; i < n; i++)
        len += snprintf(buf + len, sizeof buf - (size_t)len, "%s%s", i ? "," : "", classes[i]);
    *expires_in = 3600;
    return brk_strdup(buf);
}

static void on_done(acct_req_t *r, void *ud)
{
    *(acct_req_t **)ud = r;
}

static acct_req_t *run(uv_loop_t *loop, acct_svc_t *s, acct_req_t *r)
{
    acct_req_t *got = NULL;
    acct_svc_submit(s, r, on_done, &got);
    while (!got)
        uv_run(loop, UV_RUN_ONCE);
    return got;
}

static acct_req_t *req(acct_req_kind_t kind, const char *id)
{
    acct_req_t *r = acct_req_new(kind);
    if (id)
        snprintf(r->id, sizeof r->id, "%s", id);
    return r;
}

static acct_req_t *reg(const char *email, const char *name, acct_role_t role)
{
    acct_req_t *r = req(ACCT_REQ_REGISTER, NULL);
    acct_req_set_email(r, email, strlen(email));
    acct_req_set_name(r, name, strlen(name));
    acct_req_set_password(r, "pw pw pw pw", 11);
    r->role = role;
    r->want_token = 1;
    return r;
}

static void on_roster(const class_info_t *cls, const class_member_t *m, size_t n, void *ud)
{
    (void)cls;
    (void)m;
    *(size_t *)ud += n;
}

static void two_services_share_mongo(void)
{
    uv_loop_t loop;
    acct_svc_t *one = NULL, *two = NULL;
    char err[256] = "";
    ASSERT_EQ(mongo_server_start(0, &fake), 0);
    snprintf(uri, sizeof uri, "mongodb://127.0.0.1:%d/", mongo_server_port(fake));
    ASSERT_EQ(uv_loop_init(&loop), 0);
    acct_svc_config_t cfg = {.data_dir = "/nonexistent",
                             .mongodb_uri = uri,
                             .mongodb_database = "school",
                             .cost = 1,
                             .threads = 2,
                             .max_waiting = 16,
                             .max_wait_ms = 10000,
                             .mint = mint};
    if (acct_svc_new(&loop, &cfg, &one, err, sizeof err) != 0)
        TEST_FAIL("acct_svc_new: %s", err);
    if (acct_svc_new(&loop, &cfg, &two, err, sizeof err) != 0)
        TEST_FAIL("acct_svc_new: %s", err);

    /* Registered on one, logged in on the other. */
    acct_req_t *r = run(&loop, one, reg("Teach@School.Example", "Teach", ACCT_ROLE_TEACHER));
    ASSERT_EQ(r->err, 0);
    char teacher[ACCT_ID_SIZE];
    snprintf(teacher, sizeof teacher, "%s", r->acct.id);
    acct_req_free(r);
    r = req(ACCT_REQ_LOGIN, NULL);
    acct_req_set_email(r, "teach@school.example", 20);
    acct_req_set_password(r, "pw pw pw pw", 11);
    r = run(&loop, two, r);
    ASSERT_EQ(r->err, 0);
    ASSERT_STR_EQ(r->acct.id, teacher);
    ASSERT_STR_EQ(r->acct.password_hash, "");
    acct_req_free(r);
    r = run(&loop, two, reg("teach@school.example", "Again", ACCT_ROLE_STUDENT));
    ASSERT_EQ(r->err, BRK_EEXIST);
    acct_req_free(r);

    /* A class created on one, joined through the other. */
    r = req(ACCT_REQ_CLASS_CREATE, teacher);
    acct_req_set_name(r, "Shared class", 12);
    r = run(&loop, one, r);
    ASSERT_EQ(r->err, 0);
    class_info_t cls = r->cls;
    acct_req_free(r);
    r = run(&loop, two, reg("stu@school.example", "Stu", ACCT_ROLE_STUDENT));
    ASSERT_EQ(r->err, 0);
    char student[ACCT_ID_SIZE];
    snprintf(student, sizeof student, "%s", r->acct.id);
    acct_req_free(r);
    r = req(ACCT_REQ_CLASS_JOIN, student);
    snprintf(r->code, sizeof r->code, "%s", cls.join_code);
    r = run(&loop, two, r);
    ASSERT_EQ(r->err, 0);
    ASSERT_STR_EQ(r->cls.id, cls.id);
    ASSERT_NOT_NULL(strstr(r->token, cls.id));
    ASSERT_EQ(r->n_roster, 2);
    acct_req_free(r);

    /* Both list the same roster. */
    acct_svc_t *svcs[] = {one, two};
    for (int i = 0; i < 2; i++) {
        r = req(ACCT_REQ_CLASS_GET, teacher);
        snprintf(r->class_id, sizeof r->class_id, "%s", cls.id);
        r = run(&loop, svcs[i], r);
        ASSERT_EQ(r->err, 0);
        ASSERT_EQ(r->is_staff, 1);
        ASSERT_EQ(r->n_roster, 2);
        ASSERT_STR_EQ(r->roster[0].account_id, teacher);
        ASSERT_STR_EQ(r->roster[1].account_id, student);
        ASSERT_STR_EQ(r->roster[1].name, "Stu");
        acct_req_free(r);
        r = run(&loop, svcs[i], req(ACCT_REQ_CLASS_LIST, student));
        ASSERT_EQ(r->err, 0);
        ASSERT_EQ(r->n_memberships, 1);
        ASSERT_STR_EQ(r->memberships[0].cls.id, cls.id);
        acct_req_free(r);
    }
    size_t members = 0;
    ASSERT_EQ(acct_svc_load_rosters(two, on_roster, &members), 0);
    ASSERT_EQ(members, 2);
    ASSERT_EQ(mongo_server_count(fake, "school", "accounts"), 2);

    acct_svc_shutdown(one);
    acct_svc_shutdown(two);
    uv_run(&loop, UV_RUN_DEFAULT);
    acct_svc_free(one);
    acct_svc_free(two);
    ASSERT_EQ(uv_loop_close(&loop), 0);
    mongo_server_free(fake);
    fake = NULL;
}

static const test_case_t tests[] = {
    {"sqlite.accounts", sqlite_accounts},
    {"mongo.accounts", mongo_accounts},
    {"sqlite.classes", sqlite_classes},
    {"mongo.classes", mongo_classes},
    {"sqlite.join_code_collisions", sqlite_join_code_collisions},
    {"mongo.join_code_collisions", mongo_join_code_collisions},
    {"sqlite.members", sqlite_members},
    {"mongo.members", mongo_members},
    {"sqlite.class_limit", sqlite_class_limit},
    {"mongo.class_limit", mongo_class_limit},
    {"sqlite.lists_and_order", sqlite_lists_and_order},
    {"mongo.lists_and_order", mongo_lists_and_order},
    {"sqlite.empty_store", sqlite_empty_store},
    {"mongo.empty_store", mongo_empty_store},
    {"mongo.two_instances", mongo_two_instances},
    {"mongo.setup_refusals", mongo_setup_refusals},
    {"two_services_share_mongo", two_services_share_mongo},
};

TEST_MAIN(tests)

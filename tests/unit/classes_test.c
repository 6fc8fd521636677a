/* SPDX-License-Identifier: MIT */
/* accounts/class_store: classes (create, get, update, bad input), join codes (alphabet,
 * length, uniform draw by rejection, collisions retried, regeneration, lookup ignoring case
 * and blanks), members (add, duplicate, remove, the 64-class limit), the account's list, the
 * roster joined with accounts, the ids for tokens and live enforcement, and the upgrade of a
 * version 4 file. Each test works in a mkdtemp() directory of its own.
 *
 * brk_random is wrapped (-Wl,--wrap=brk_random, tests/CMakeLists.txt) so that a test can
 * script the bytes a join code is drawn from, or make the source fail. Class ids take 10
 * bytes (class_store.h); every other draw of the store is a join code's. */
#include "acct_store.h"
#include "brk.h"
#include "class_store.h"
#include "test.h"

#include <ftw.h>
#include <sqlite3.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#define ID_DRAW 10

static char tmpdir[64];

/* ---- the random source -------------------------------------------------------------- */

int __real_brk_random(void *out, size_t n);
int __wrap_brk_random(void *out, size_t n);

static int fail_random;             /* every draw fails */
static int zero_code_draws;         /* code draws still to fill with zeros ("AAAAAA") */
static int code_draws;              /* code draws made */
static const unsigned char *script; /* bytes for the next code draws, then the OS's */
static size_t script_len;

int __wrap_brk_random(void *out, size_t n)
{
    if (fail_random)
        return BRK_EIO;
    if (n == ID_DRAW)
        return __real_brk_random(out, n);
    code_draws++;
    if (zero_code_draws > 0) {
        zero_code_draws--;
        memset(out, 0, n);
        return 0;
    }
    size_t k = n < script_len ? n : script_len;
    if (k) {
        memcpy(out, script, k);
        script += k;
        script_len -= k;
    }
    return k < n ? __real_brk_random((unsigned char *)out + k, n - k) : 0;
}

/* ---- fixtures ------------------------------------------------------------------------- */

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void setup(void)
{
    fail_random = 0;
    zero_code_draws = 0;
    code_draws = 0;
    script = NULL;
    script_len = 0;
    snprintf(tmpdir, sizeof tmpdir, "/tmp/rollcall-classes-XXXXXX");
    ASSERT_NOT_NULL(mkdtemp(tmpdir));
}

static void teardown(void)
{
    nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static class_store_t *open_ok(void)
{
    class_store_t *s = NULL;
    char err[256];
    int rc = class_store_open(tmpdir, &s, err, sizeof err);
    if (rc != 0)
        TEST_FAIL("class_store_open: %d %s", rc, err);
    return s;
}

static long long query_int(const char *sql)
{
    char path[128];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long long v = -1;
    snprintf(path, sizeof path, "%s/journal.db", tmpdir);
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* Tests that keep a few classes on the stack keep them here instead: a class_info_t holds a
 * schedule's worth of text. */
static class_info_t ca, cb, cc, cx;

static int code_ok(const char *code)
{
    if (strlen(code) != CLASS_CODE_LEN)
        return 0;
    for (const char *p = code; *p; p++)
        if (!strchr(CLASS_CODE_ALPHABET, *p))
            return 0;
    return 1;
}

static void make_class(class_store_t *s, const char *creator, const char *name, class_info_t *out)
{
    int rc = class_store_create(s, creator, name, NULL, NULL, out);
    if (rc != 0)
        TEST_FAIL("create \"%s\" by %s: %d", name, creator, rc);
}

/* ---- classes -------------------------------------------------------------------------- */

static void test_create_get_update(void)
{
    class_role_t role = CLASS_ROLE_STUDENT;
    setup();
    class_store_t *s = open_ok();
    int64_t before = brk_now_ms();
    ASSERT_EQ(class_store_create(s, "t-1", "Biology 101", "Cells.\nAnd more cells.",
                                 "{\"days\":[\"mon\",\"wed\"],\"start\":\"08:10\"}", &ca),
              0);
    /* The id: "c" and 20 lowercase hex characters, a usable token id. */
    ASSERT_EQ(strlen(ca.id), 21);
    ASSERT_EQ(ca.id[0], 'c');
    for (int i = 1; i < 21; i++)
        ASSERT(strchr("0123456789abcdef", ca.id[i]) != NULL);
    ASSERT(brk_id_ok(ca.id, strlen(ca.id), CLASS_TOKEN_ID_MAX));
    ASSERT(code_ok(ca.join_code));
    ASSERT_STR_EQ(ca.name, "Biology 101");
    ASSERT_STR_EQ(ca.created_by, "t-1");
    ASSERT(ca.created_at_ms >= before && ca.updated_at_ms == ca.created_at_ms);

    /* What get reads back is what create returned. */
    ASSERT_EQ(class_store_get(s, ca.id, &cx), 0);
    ASSERT_STR_EQ(cx.id, ca.id);
    ASSERT_STR_EQ(cx.name, "Biology 101");
    ASSERT_STR_EQ(cx.description, "Cells.\nAnd more cells.");
    ASSERT_EQ(cx.has_schedule, 1);
    ASSERT_STR_EQ(cx.schedule, "{\"days\":[\"mon\",\"wed\"],\"start\":\"08:10\"}");
    ASSERT_STR_EQ(cx.join_code, ca.join_code);
    ASSERT_STR_EQ(cx.created_by, "t-1");
    ASSERT_EQ(cx.created_at_ms, ca.created_at_ms);
    /* The creator is the class's teacher. */
    ASSERT_EQ(class_store_membership(s, ca.id, "t-1", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_TEACHER);

    /* Without description and schedule: "" and none (NULL in the table). */
    ASSERT_EQ(class_store_create(s, "t-1", "Chemistry", NULL, NULL, &cb), 0);
    ASSERT(strcmp(cb.id, ca.id) != 0);
    ASSERT(strcmp(cb.join_code, ca.join_code) != 0);
    ASSERT_EQ(class_store_get(s, cb.id, &cx), 0);
    ASSERT_STR_EQ(cx.description, "");
    ASSERT_EQ(cx.has_schedule, 0);
    ASSERT_STR_EQ(cx.schedule, "");
    ASSERT_EQ(query_int("SELECT count(*) FROM classes WHERE schedule IS NULL"), 1);
    ASSERT_EQ(class_store_get(s, "c0000", &cx), BRK_ENOTFOUND);
    ASSERT_EQ(class_store_get(s, NULL, &cx), BRK_ENOTFOUND);

    /* Update one field at a time; the others stay. */
    usleep(2000);
    ASSERT_EQ(class_store_update(s, ca.id, "Biology 102", NULL, NULL, 0, &cx), 0);
    ASSERT_STR_EQ(cx.name, "Biology 102");
    ASSERT_STR_EQ(cx.description, "Cells.\nAnd more cells.");
    ASSERT_EQ(cx.has_schedule, 1);
    ASSERT_STR_EQ(cx.join_code, ca.join_code);
    ASSERT(cx.updated_at_ms > ca.updated_at_ms);
    ASSERT_EQ(cx.created_at_ms, ca.created_at_ms);
    ASSERT_EQ(class_store_update(s, ca.id, NULL, "", "{\"days\":[]}", 0, NULL), 0);
    ASSERT_EQ(class_store_get(s, ca.id, &cx), 0);
    ASSERT_STR_EQ(cx.name, "Biology 102");
    ASSERT_STR_EQ(cx.description, "");
    ASSERT_STR_EQ(cx.schedule, "{\"days\":[]}");
    ASSERT_EQ(class_store_update(s, ca.id, NULL, NULL, NULL, 1, &cx), 0);
    ASSERT_EQ(cx.has_schedule, 0);
    ASSERT_EQ(query_int("SELECT count(*) FROM classes WHERE schedule IS NULL"), 2);
    /* Both a schedule and its removal: refused, nothing changed. */
    ASSERT_EQ(class_store_update(s, cb.id, NULL, NULL, "{}", 1, NULL), BRK_EINVAL);
    ASSERT_EQ(class_store_update(s, "c-missing", "X", NULL, NULL, 0, NULL), BRK_ENOTFOUND);
    ASSERT_EQ(class_store_update(s, cb.id, "", NULL, NULL, 0, NULL), BRK_EINVAL);
    ASSERT_EQ(class_store_update(s, cb.id, "a\x1b[31m", NULL, NULL, 0, NULL), BRK_EINVAL);
    ASSERT_EQ(class_store_get(s, cb.id, &cx), 0);
    ASSERT_STR_EQ(cx.name, "Chemistry");
    ASSERT_EQ(cx.has_schedule, 0);
    class_store_close(s);

    /* Durable: there after a reopen. */
    s = open_ok();
    ASSERT_EQ(class_store_get(s, ca.id, &cx), 0);
    ASSERT_STR_EQ(cx.name, "Biology 102");
    ASSERT_EQ(class_store_membership(s, cb.id, "t-1", &role), 0);
    class_store_close(s);
    ASSERT_EQ(query_int("PRAGMA user_version"), 5);
    teardown();
}

static void test_bad_input(void)
{
    static char big[CLASS_SCHEDULE_MAX + 2];
    setup();
    class_store_t *s = open_ok();
    ASSERT_EQ(class_store_create(s, "t-1", "", NULL, NULL, &cx), BRK_EINVAL);
    ASSERT_EQ(class_store_create(s, "t-1", NULL, NULL, NULL, &cx), BRK_EINVAL);
    ASSERT_EQ(class_store_create(s, "t-1", "a\tb", NULL, NULL, &cx), BRK_EINVAL);
    ASSERT_EQ(class_store_create(s, "t-1", "a\nb", NULL, NULL, &cx), BRK_EINVAL);
    ASSERT_EQ(class_store_create(s, "t-1", "del\x7f", NULL, NULL, &cx), BRK_EINVAL);
    ASSERT_EQ(class_store_create(s, "t-1", "ok", "bell\a", NULL, &cx), BRK_EINVAL);
    /* The creator must be a usable token id. */
    ASSERT_EQ(class_store_create(s, "t 1", "ok", NULL, NULL, &cx), BRK_EINVAL);
    ASSERT_EQ(class_store_create(s, "", "ok", NULL, NULL, &cx), BRK_EINVAL);
    ASSERT_EQ(class_store_create(s, NULL, "ok", NULL, NULL, &cx), BRK_EINVAL);
    memset(big, 'x', CLASS_TOKEN_ID_MAX + 1);
    big[CLASS_TOKEN_ID_MAX + 1] = '\0';
    ASSERT_EQ(class_store_create(s, big, "ok", NULL, NULL, &cx), BRK_EINVAL);

    /* Lengths: each limit passes, one byte more does not. */
    memset(big, 'n', sizeof big - 1);
    big[CLASS_NAME_MAX + 1] = '\0';
    ASSERT_EQ(class_store_create(s, "t-1", big, NULL, NULL, &cx), BRK_ETOOBIG);
    big[CLASS_NAME_MAX] = '\0';
    ASSERT_EQ(class_store_create(s, "t-1", big, NULL, NULL, &cx), 0);
    ASSERT_EQ(strlen(cx.name), CLASS_NAME_MAX);
    memset(big, 'd', sizeof big - 1);
    big[CLASS_DESC_MAX + 1] = '\0';
    ASSERT_EQ(class_store_create(s, "t-1", "ok", big, NULL, &cx), BRK_ETOOBIG);
    big[CLASS_DESC_MAX] = '\0';
    ASSERT_EQ(class_store_create(s, "t-1", "ok", big, NULL, &cx), 0);
    ASSERT_EQ(class_store_get(s, cx.id, &cx), 0);
    ASSERT_EQ(strlen(cx.description), CLASS_DESC_MAX);
    memset(big, ' ', sizeof big - 1);
    big[0] = '"';
    big[CLASS_SCHEDULE_MAX] = '"';
    big[CLASS_SCHEDULE_MAX + 1] = '\0';
    ASSERT_EQ(class_store_create(s, "t-1", "ok", NULL, big, &cx), BRK_ETOOBIG);
    ASSERT_EQ(class_store_update(s, cx.id, NULL, NULL, big, 0, NULL), BRK_ETOOBIG);
    big[CLASS_SCHEDULE_MAX - 1] = '"';
    big[CLASS_SCHEDULE_MAX] = '\0';
    ASSERT_EQ(class_store_create(s, "t-1", "ok", NULL, big, &cx), 0);
    ASSERT_EQ(class_store_get(s, cx.id, &cx), 0);
    ASSERT_EQ(strlen(cx.schedule), CLASS_SCHEDULE_MAX);
    ASSERT_EQ(class_store_update(s, cx.id, NULL, big, NULL, 0, NULL), BRK_ETOOBIG);

    /* Only the three good ones were written, each with its teacher. */
    ASSERT_EQ(query_int("SELECT count(*) FROM classes"), 3);
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members WHERE role = 'teacher'"), 3);

    /* A random source that fails writes nothing. */
    fail_random = 1;
    ASSERT_EQ(class_store_create(s, "t-1", "no luck", NULL, NULL, &cx), BRK_EIO);
    fail_random = 0;
    ASSERT_EQ(query_int("SELECT count(*) FROM classes"), 3);
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members"), 3);
    class_store_close(s);
    teardown();
}

/* ---- join codes ----------------------------------------------------------------------- */

static void test_code_normalize(void)
{
    char out[CLASS_CODE_SIZE];
    ASSERT_EQ(class_code_normalize("ABC234", out, sizeof out), 0);
    ASSERT_STR_EQ(out, "ABC234");
    ASSERT_EQ(class_code_normalize(" \tabc234\r\n", out, sizeof out), 0);
    ASSERT_STR_EQ(out, "ABC234");
    ASSERT_EQ(class_code_normalize("xYz789", out, sizeof out), 0);
    ASSERT_STR_EQ(out, "XYZ789");
    /* Too short or long, blanks or '-' inside, look-alikes (0, O, 1, I, l), a control
     * character, a non-ASCII letter ("\303\211" is "É" in UTF-8: 6 bytes in all). */
    static const char *const bad[] = {"",       "      ",    "ABC23",       "ABC2345", "ABC 23",
                                      "ABC-23", "ABC230",    "ABCO23",      "ABC123",  "ABCI23",
                                      "abcl23", "ABC23\x01", "\303\211BC23"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(bad); i++) {
        strcpy(out, "junk");
        if (class_code_normalize(bad[i], out, sizeof out) != BRK_EINVAL)
            TEST_FAIL("bad[%zu] \"%s\" accepted", i, bad[i]);
        ASSERT_STR_EQ(out, "");
    }
    ASSERT_EQ(class_code_normalize(NULL, out, sizeof out), BRK_EINVAL);
    /* The alphabet has no look-alikes, and 31 characters. */
    ASSERT_EQ(strlen(CLASS_CODE_ALPHABET), 31);
    ASSERT_NULL(strpbrk(CLASS_CODE_ALPHABET, "0O1IL"));
}

/* Many codes from the real source: six characters of the alphabet each, every character of
 * the alphabet turns up (each is missing from 1200 uniform draws with probability e^-39),
 * and each regeneration retires the code before it. */
static void test_codes_over_many(void)
{
    enum { ROUNDS = 200 };
    int seen[256] = {0};
    char code[CLASS_CODE_SIZE], prev[CLASS_CODE_SIZE];
    setup();
    class_store_t *s = open_ok();
    make_class(s, "t-1", "Physics", &ca);
    ASSERT(code_ok(ca.join_code));
    snprintf(prev, sizeof prev, "%s", ca.join_code);
    for (int i = 0; i < ROUNDS; i++) {
        ASSERT_EQ(class_store_regenerate_code(s, ca.id, code, sizeof code), 0);
        if (!code_ok(code))
            TEST_FAIL("round %d: bad code \"%s\"", i, code);
        ASSERT(strcmp(code, prev) != 0);
        for (const char *p = code; *p; p++)
            seen[(unsigned char)*p]++;
        if (i % 40 == 0) {
            ASSERT_EQ(class_store_find_by_code(s, prev, &cx), BRK_ENOTFOUND);
            ASSERT_EQ(class_store_find_by_code(s, code, &cx), 0);
            ASSERT_STR_EQ(cx.id, ca.id);
            ASSERT_STR_EQ(cx.join_code, code);
        }
        snprintf(prev, sizeof prev, "%s", code);
    }
    int total = 0;
    for (int c = 0; c < 256; c++) {
        if (seen[c] && !strchr(CLASS_CODE_ALPHABET, c))
            TEST_FAIL("'%c' is no code character", c);
        total += seen[c];
    }
    for (const char *p = CLASS_CODE_ALPHABET; *p; p++)
        if (!seen[(unsigned char)*p])
            TEST_FAIL("'%c' never drawn", *p);
    ASSERT_EQ(total, ROUNDS * CLASS_CODE_LEN);
    /* The stored code is the last one, and the updated time moved on. */
    ASSERT_EQ(class_store_get(s, ca.id, &cx), 0);
    ASSERT_STR_EQ(cx.join_code, prev);
    ASSERT(cx.updated_at_ms >= ca.updated_at_ms);
    ASSERT_EQ(class_store_regenerate_code(s, "c-missing", code, sizeof code), BRK_ENOTFOUND);
    ASSERT_STR_EQ(code, "");
    class_store_close(s);
    teardown();
}

/* Bytes at or above 248 (the largest multiple of 31 a byte holds) are drawn again, not
 * folded: 248 % 31 would be 'A', and 'A'..'H' would come up 9 times in 256 instead of 8. */
static void test_code_rejection_sampling(void)
{
    static const unsigned char bytes[] = {255, 248, 0, 31, 247, 250, 1, 62, 30};
    setup();
    class_store_t *s = open_ok();
    script = bytes;
    script_len = sizeof bytes;
    make_class(s, "t-1", "Scripted", &ca);
    ASSERT_STR_EQ(ca.join_code, "AA9BA9");
    ASSERT_EQ(script_len, 0);
    class_store_close(s);
    teardown();
}

/* A code already taken is drawn again; when every try collides, the write fails and leaves
 * nothing behind. */
static void test_code_collisions(void)
{
    char code[CLASS_CODE_SIZE];
    setup();
    class_store_t *s = open_ok();
    zero_code_draws = 1;
    make_class(s, "t-1", "First", &ca);
    ASSERT_STR_EQ(ca.join_code, "AAAAAA");

    zero_code_draws = 1;
    code_draws = 0;
    make_class(s, "t-1", "Second", &cb);
    ASSERT_EQ(code_draws, 2); /* "AAAAAA" collided, the next one did not */
    ASSERT(code_ok(cb.join_code));
    ASSERT(strcmp(cb.join_code, "AAAAAA") != 0);

    zero_code_draws = 1000;
    code_draws = 0;
    ASSERT_EQ(class_store_create(s, "t-1", "Third", NULL, NULL, &cc), BRK_EIO);
    ASSERT(code_draws > 1 && code_draws < 100); /* a few tries, then it gave up */
    ASSERT_EQ(query_int("SELECT count(*) FROM classes"), 2);
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members"), 2);

    /* Regeneration: onto a taken code, or its own, it fails and the code stays. */
    ASSERT_EQ(class_store_regenerate_code(s, cb.id, code, sizeof code), BRK_EIO);
    ASSERT_EQ(class_store_get(s, cb.id, &cx), 0);
    ASSERT_STR_EQ(cx.join_code, cb.join_code);
    ASSERT_EQ(class_store_regenerate_code(s, ca.id, code, sizeof code), BRK_EIO);
    ASSERT_EQ(class_store_find_by_code(s, "AAAAAA", &cx), 0);
    ASSERT_STR_EQ(cx.id, ca.id);
    zero_code_draws = 0;
    ASSERT_EQ(class_store_regenerate_code(s, ca.id, code, sizeof code), 0);
    ASSERT(strcmp(code, "AAAAAA") != 0);
    ASSERT_EQ(class_store_find_by_code(s, "AAAAAA", &cx), BRK_ENOTFOUND);
    class_store_close(s);
    teardown();
}

static void test_find_by_code(void)
{
    char lower[CLASS_CODE_SIZE + 8];
    setup();
    class_store_t *s = open_ok();
    make_class(s, "t-1", "Art", &ca);
    make_class(s, "t-1", "Music", &cb);
    ASSERT_EQ(class_store_find_by_code(s, ca.join_code, &cx), 0);
    ASSERT_STR_EQ(cx.id, ca.id);
    ASSERT_STR_EQ(cx.name, "Art");
    /* Lower case, with blanks around. */
    snprintf(lower, sizeof lower, "  %s\n", cb.join_code);
    for (char *p = lower; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    ASSERT_EQ(class_store_find_by_code(s, lower, &cx), 0);
    ASSERT_STR_EQ(cx.id, cb.id);
    /* Not codes, or nobody's. */
    ASSERT_EQ(class_store_find_by_code(s, "", &cx), BRK_ENOTFOUND);
    ASSERT_EQ(class_store_find_by_code(s, NULL, &cx), BRK_ENOTFOUND);
    ASSERT_EQ(class_store_find_by_code(s, "' OR 1=1 --", &cx), BRK_ENOTFOUND);
    snprintf(lower, sizeof lower, "%.3s-%.3s", ca.join_code, ca.join_code + 3);
    ASSERT_EQ(class_store_find_by_code(s, lower, &cx), BRK_ENOTFOUND);
    snprintf(lower, sizeof lower, "%s", ca.join_code);
    lower[0] = lower[0] == 'B' ? 'C' : 'B';
    if (strcmp(lower, cb.join_code) != 0)
        ASSERT_EQ(class_store_find_by_code(s, lower, &cx), BRK_ENOTFOUND);
    class_store_close(s);
    teardown();
}

/* ---- members -------------------------------------------------------------------------- */

static void test_members(void)
{
    class_role_t role;
    setup();
    class_store_t *s = open_ok();
    make_class(s, "t-1", "History", &ca);
    ASSERT_EQ(class_store_add_member(s, ca.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(class_store_add_member(s, ca.id, "t-2", CLASS_ROLE_TEACHER, NULL), 0);
    ASSERT_EQ(class_store_membership(s, ca.id, "s-1", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_STUDENT);
    ASSERT_EQ(class_store_membership(s, ca.id, "t-2", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_TEACHER);

    /* Twice: refused with the role the member has, which stays. */
    role = CLASS_ROLE_STUDENT;
    ASSERT_EQ(class_store_add_member(s, ca.id, "t-1", CLASS_ROLE_STUDENT, &role), BRK_EEXIST);
    ASSERT_EQ(role, CLASS_ROLE_TEACHER);
    role = CLASS_ROLE_TEACHER;
    ASSERT_EQ(class_store_add_member(s, ca.id, "s-1", CLASS_ROLE_TEACHER, &role), BRK_EEXIST);
    ASSERT_EQ(role, CLASS_ROLE_STUDENT);
    ASSERT_EQ(class_store_membership(s, ca.id, "s-1", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_STUDENT);

    /* No class, bad account ids, bad roles. */
    ASSERT_EQ(class_store_add_member(s, "c-missing", "s-2", CLASS_ROLE_STUDENT, NULL),
              BRK_ENOTFOUND);
    ASSERT_EQ(class_store_add_member(s, ca.id, "s 2", CLASS_ROLE_STUDENT, NULL), BRK_EINVAL);
    ASSERT_EQ(class_store_add_member(s, ca.id, "", CLASS_ROLE_STUDENT, NULL), BRK_EINVAL);
    ASSERT_EQ(class_store_add_member(s, ca.id, "s-2", (class_role_t)5, NULL), BRK_EINVAL);
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members"), 3);

    /* Removal. */
    ASSERT_EQ(class_store_remove_member(s, ca.id, "s-1"), 0);
    ASSERT_EQ(class_store_membership(s, ca.id, "s-1", &role), BRK_ENOTFOUND);
    ASSERT_EQ(class_store_remove_member(s, ca.id, "s-1"), BRK_ENOTFOUND);
    ASSERT_EQ(class_store_remove_member(s, "c-missing", "t-1"), BRK_ENOTFOUND);
    ASSERT_EQ(class_store_membership(s, "c-missing", "t-1", &role), BRK_ENOTFOUND);
    /* And back, as a teacher this time. */
    ASSERT_EQ(class_store_add_member(s, ca.id, "s-1", CLASS_ROLE_TEACHER, NULL), 0);
    ASSERT_EQ(class_store_membership(s, ca.id, "s-1", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_TEACHER);
    class_store_close(s);

    /* The roles are stored by name. */
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members WHERE role = 'teacher'"), 3);
    ASSERT_STR_EQ(class_role_name(CLASS_ROLE_STUDENT), "student");
    ASSERT_EQ(class_role_parse("teacher", &role), 0);
    ASSERT_EQ(role, CLASS_ROLE_TEACHER);
    ASSERT_EQ(class_role_parse("admin", &role), BRK_EINVAL);
    teardown();
}

/* An account belongs to 64 classes at most, what a token can carry: joining, or creating,
 * a 65th is refused; leaving one makes room. */
static void test_class_limit(void)
{
    static class_info_t many[CLASS_MAX_PER_ACCOUNT];
    static char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1];
    char name[32];
    class_role_t role;
    int n = -1;
    setup();
    class_store_t *s = open_ok();
    for (int i = 0; i < CLASS_MAX_PER_ACCOUNT; i++) {
        snprintf(name, sizeof name, "Class %02d", i);
        make_class(s, "t-1", name, &many[i]);
        ASSERT_EQ(class_store_add_member(s, many[i].id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    }
    /* The teacher, who created all 64, cannot create another. */
    ASSERT_EQ(class_store_create(s, "t-1", "One too many", NULL, NULL, &cx), BRK_EFULL);
    make_class(s, "t-2", "Elsewhere", &cb);
    ASSERT_EQ(class_store_add_member(s, cb.id, "s-1", CLASS_ROLE_STUDENT, NULL), BRK_EFULL);
    ASSERT_EQ(class_store_add_member(s, cb.id, "t-1", CLASS_ROLE_TEACHER, NULL), BRK_EFULL);
    ASSERT_EQ(class_store_create(s, "s-1", "My own", NULL, NULL, &cx), BRK_EFULL);
    /* Already a member wins over full. */
    ASSERT_EQ(class_store_add_member(s, many[3].id, "s-1", CLASS_ROLE_STUDENT, &role), BRK_EEXIST);
    ASSERT_EQ(query_int("SELECT count(*) FROM classes"), CLASS_MAX_PER_ACCOUNT + 1);

    /* The ids, all 64, in order, as a token would carry them. */
    ASSERT_EQ(class_store_class_ids(s, "s-1", ids, &n), 0);
    ASSERT_EQ(n, CLASS_MAX_PER_ACCOUNT);
    for (int i = 1; i < n; i++)
        ASSERT(strcmp(ids[i - 1], ids[i]) < 0);
    for (int i = 0; i < CLASS_MAX_PER_ACCOUNT; i++) {
        int hit = 0;
        for (int j = 0; j < n; j++)
            hit += strcmp(ids[j], many[i].id) == 0;
        ASSERT_EQ(hit, 1);
    }

    ASSERT_EQ(class_store_remove_member(s, many[10].id, "s-1"), 0);
    ASSERT_EQ(class_store_add_member(s, cb.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(class_store_class_ids(s, "s-1", ids, &n), 0);
    ASSERT_EQ(n, CLASS_MAX_PER_ACCOUNT);
    for (int j = 0; j < n; j++)
        ASSERT(strcmp(ids[j], many[10].id) != 0);
    ASSERT_EQ(class_store_class_ids(s, "nobody", ids, &n), 0);
    ASSERT_EQ(n, 0);
    class_store_close(s);
    teardown();
}

/* ---- lists ---------------------------------------------------------------------------- */

static void test_list_for_account(void)
{
    class_membership_t *list = NULL;
    size_t n = 99;
    setup();
    class_store_t *s = open_ok();
    make_class(s, "t-1", "biology", &ca);
    make_class(s, "t-2", "Algebra", &cb);
    make_class(s, "t-2", "Civics", &cc);
    make_class(s, "t-2", "algebra", &cx); /* the same name but for case: bytes decide */
    ASSERT_EQ(class_store_add_member(s, ca.id, "u-1", CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(class_store_add_member(s, cb.id, "u-1", CLASS_ROLE_TEACHER, NULL), 0);
    ASSERT_EQ(class_store_add_member(s, cc.id, "u-1", CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(class_store_add_member(s, cx.id, "u-1", CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(class_store_update(s, cc.id, NULL, "civics!", "{\"room\":7}", 0, NULL), 0);

    ASSERT_EQ(class_store_list_for_account(s, "u-1", &list, &n), 0);
    ASSERT_EQ(n, 4);
    ASSERT_NOT_NULL(list);
    ASSERT_STR_EQ(list[0].cls.name, "Algebra");
    ASSERT_STR_EQ(list[0].cls.id, cb.id);
    ASSERT_EQ(list[0].role, CLASS_ROLE_TEACHER);
    ASSERT_STR_EQ(list[1].cls.name, "algebra");
    ASSERT_EQ(list[1].role, CLASS_ROLE_STUDENT);
    ASSERT_STR_EQ(list[2].cls.name, "biology");
    ASSERT_STR_EQ(list[2].cls.created_by, "t-1");
    ASSERT_STR_EQ(list[2].cls.join_code, ca.join_code);
    ASSERT_STR_EQ(list[3].cls.name, "Civics");
    ASSERT_STR_EQ(list[3].cls.description, "civics!");
    ASSERT_EQ(list[3].cls.has_schedule, 1);
    ASSERT_STR_EQ(list[3].cls.schedule, "{\"room\":7}");
    for (size_t i = 0; i < n; i++)
        ASSERT(list[i].joined_at_ms >= list[i].cls.created_at_ms);
    free(list);

    /* The creator sees theirs as teacher; an unknown account sees none. */
    ASSERT_EQ(class_store_list_for_account(s, "t-2", &list, &n), 0);
    ASSERT_EQ(n, 3);
    for (size_t i = 0; i < n; i++)
        ASSERT_EQ(list[i].role, CLASS_ROLE_TEACHER);
    free(list);
    ASSERT_EQ(class_store_list_for_account(s, "nobody", &list, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(list);
    class_store_close(s);
    teardown();
}

static void test_roster_and_students(void)
{
    acct_store_t *as = NULL;
    acct_t tz, tb, sa, sb, sc;
    class_member_t *r = NULL;
    class_uid_t *ids = NULL;
    size_t n = 99;
    char err[256];
    setup();
    ASSERT_EQ(acct_store_open(tmpdir, &as, err, sizeof err), 0);
    ASSERT_EQ(acct_store_create(as, "zed@school.edu", "Zed", ACCT_ROLE_TEACHER, "$y$x", &tz), 0);
    ASSERT_EQ(acct_store_create(as, "bea@school.edu", "bea", ACCT_ROLE_TEACHER, "$y$x", &tb), 0);
    ASSERT_EQ(acct_store_create(as, "al@school.edu", "Al", ACCT_ROLE_STUDENT, "$y$x", &sa), 0);
    ASSERT_EQ(acct_store_create(as, "cy@school.edu", "cy", ACCT_ROLE_STUDENT, "$y$x", &sc), 0);
    ASSERT_EQ(acct_store_create(as, "bo@school.edu", "Bo", ACCT_ROLE_STUDENT, "$y$x", &sb), 0);
    class_store_t *s = open_ok();
    int64_t before = brk_now_ms();
    make_class(s, tz.id, "Geography", &ca);
    ASSERT_EQ(class_store_add_member(s, ca.id, sc.id, CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(class_store_add_member(s, ca.id, sa.id, CLASS_ROLE_STUDENT, NULL), 0);
    ASSERT_EQ(class_store_add_member(s, ca.id, tb.id, CLASS_ROLE_TEACHER, NULL), 0);
    ASSERT_EQ(class_store_add_member(s, ca.id, sb.id, CLASS_ROLE_STUDENT, NULL), 0);
    /* A member without an account row (an external identity, or a removed account). */
    ASSERT_EQ(class_store_add_member(s, ca.id, "ext:ghost", CLASS_ROLE_STUDENT, NULL), 0);
    /* A student of another class only. */
    make_class(s, tb.id, "Other", &cb);
    ASSERT_EQ(class_store_add_member(s, cb.id, "s-elsewhere", CLASS_ROLE_STUDENT, NULL), 0);
    /* A rename shows on the roster: names come from accounts, not copies. */
    ASSERT_EQ(acct_store_update_name(as, sc.id, "Cy"), 0);

    ASSERT_EQ(class_store_roster(s, ca.id, &r, &n), 0);
    ASSERT_EQ(n, 6);
    /* Teachers first (by name, case folded), then students; the nameless one sorts first. */
    static const char *const names[] = {"bea", "Zed", "", "Al", "Bo", "Cy"};
    for (size_t i = 0; i < n; i++)
        ASSERT_STR_EQ(r[i].name, names[i]);
    ASSERT_STR_EQ(r[0].account_id, tb.id);
    ASSERT_STR_EQ(r[0].email, "bea@school.edu");
    ASSERT_EQ(r[0].role, CLASS_ROLE_TEACHER);
    ASSERT_STR_EQ(r[1].account_id, tz.id);
    ASSERT_EQ(r[1].role, CLASS_ROLE_TEACHER);
    ASSERT_STR_EQ(r[2].account_id, "ext:ghost");
    ASSERT_STR_EQ(r[2].email, "");
    ASSERT_EQ(r[2].role, CLASS_ROLE_STUDENT);
    ASSERT_STR_EQ(r[3].account_id, sa.id);
    ASSERT_STR_EQ(r[3].email, "al@school.edu");
    ASSERT_STR_EQ(r[5].account_id, sc.id);
    for (size_t i = 2; i < n; i++)
        ASSERT_EQ(r[i].role, CLASS_ROLE_STUDENT);
    for (size_t i = 0; i < n; i++)
        ASSERT(r[i].joined_at_ms >= before && r[i].joined_at_ms <= brk_now_ms());
    free(r);

    /* The students, by id, for bsearch. */
    ASSERT_EQ(class_store_student_ids(s, ca.id, &ids, &n), 0);
    ASSERT_EQ(n, 4);
    for (size_t i = 1; i < n; i++)
        ASSERT(strcmp(ids[i - 1].id, ids[i].id) < 0);
    const char *want[] = {sa.id, sb.id, sc.id, "ext:ghost"};
    for (size_t w = 0; w < BRK_ARRAY_LEN(want); w++) {
        int hit = 0;
        for (size_t i = 0; i < n; i++)
            hit += strcmp(ids[i].id, want[w]) == 0;
        ASSERT_EQ(hit, 1);
    }
    free(ids);

    /* No such class; a class left with no students, then with nobody. */
    ASSERT_EQ(class_store_roster(s, "c-missing", &r, &n), BRK_ENOTFOUND);
    ASSERT_NULL(r);
    ASSERT_EQ(n, 0);
    ASSERT_EQ(class_store_student_ids(s, "c-missing", &ids, &n), BRK_ENOTFOUND);
    ASSERT_NULL(ids);
    ASSERT_EQ(class_store_remove_member(s, cb.id, "s-elsewhere"), 0);
    ASSERT_EQ(class_store_student_ids(s, cb.id, &ids, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(ids);
    ASSERT_EQ(class_store_roster(s, cb.id, &r, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(r[0].name, "bea");
    free(r);
    ASSERT_EQ(class_store_remove_member(s, cb.id, tb.id), 0);
    n = 99;
    ASSERT_EQ(class_store_roster(s, cb.id, &r, &n), 0);
    ASSERT_EQ(n, 0);
    ASSERT_NULL(r);
    class_store_close(s);
    acct_store_close(as);
    teardown();
}

/* ---- the file ------------------------------------------------------------------------- */

/* A version 4 file (accounts, no classes) is upgraded in place when the class store opens
 * it, and keeps its accounts. */
static void test_upgrade_from_v4(void)
{
    char path[128], err[256];
    sqlite3 *db = NULL;
    acct_store_t *as = NULL;
    acct_t a, b;
    class_member_t *r = NULL;
    size_t n = 0;
    setup();
    ASSERT_EQ(acct_store_open(tmpdir, &as, err, sizeof err), 0);
    ASSERT_EQ(acct_store_create(as, "old@school.edu", "Old Timer", ACCT_ROLE_TEACHER, "$y$x", &a),
              0);
    acct_store_close(as);
    snprintf(path, sizeof path, "%s/journal.db", tmpdir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "DROP TABLE class_members; DROP TABLE classes;"
                           "PRAGMA user_version = 4",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(query_int("SELECT count(*) FROM sqlite_schema WHERE name IN"
                        " ('classes', 'class_members', 'class_members_by_account')"),
              0);
    ASSERT_EQ(query_int("PRAGMA user_version"), 4);

    class_store_t *s = open_ok();
    ASSERT_EQ(query_int("PRAGMA user_version"), 5);
    ASSERT_EQ(query_int("SELECT count(*) FROM sqlite_schema WHERE name IN"
                        " ('classes', 'class_members', 'class_members_by_account')"),
              3);
    ASSERT_EQ(query_int("SELECT count(*) FROM accounts"), 1);
    make_class(s, a.id, "After the upgrade", &ca);
    ASSERT_EQ(class_store_roster(s, ca.id, &r, &n), 0);
    ASSERT_EQ(n, 1);
    ASSERT_STR_EQ(r[0].name, "Old Timer");
    ASSERT_STR_EQ(r[0].email, "old@school.edu");
    free(r);
    class_store_close(s);

    /* The accounts store still works on the upgraded file. */
    ASSERT_EQ(acct_store_open(tmpdir, &as, err, sizeof err), 0);
    ASSERT_EQ(acct_store_find_by_email(as, "old@school.edu", &b), 0);
    ASSERT_STR_EQ(b.id, a.id);
    acct_store_close(as);
    /* The join code is unique in the table itself, and the roster's role is checked there. */
    ASSERT_EQ(query_int("SELECT count(*) FROM pragma_index_list('classes') WHERE \"unique\""
                        " AND origin = 'u'"),
              1);
    ASSERT_EQ(query_int("SELECT count(*) FROM pragma_foreign_key_list('class_members')"
                        " WHERE \"table\" = 'classes' AND on_delete = 'CASCADE'"),
              1);
    teardown();
}

/* The tables' own constraints, for any writer with foreign keys on (as the store's
 * connection has them): no member of a class that is not there, no role but the two, and
 * a deleted class takes its roster with it. */
static void test_table_constraints(void)
{
    char path[128], sql[160];
    sqlite3 *db = NULL;
    setup();
    class_store_t *s = open_ok();
    make_class(s, "t-1", "Doomed", &ca);
    ASSERT_EQ(class_store_add_member(s, ca.id, "s-1", CLASS_ROLE_STUDENT, NULL), 0);
    class_store_close(s);
    snprintf(path, sizeof path, "%s/journal.db", tmpdir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL), SQLITE_OK);
    ASSERT_NE(sqlite3_exec(db, "INSERT INTO class_members VALUES ('c-none', 's-1', 'student', 1)",
                           NULL, NULL, NULL),
              SQLITE_OK);
    snprintf(sql, sizeof sql, "INSERT INTO class_members VALUES ('%s', 's-2', 'pupil', 1)", ca.id);
    ASSERT_NE(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    snprintf(sql, sizeof sql, "INSERT INTO class_members VALUES ('%s', 's-2', 'student', 1)",
             ca.id);
    ASSERT_EQ(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK); /* the control */
    sqlite3_close(db);
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members"), 3);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db, "PRAGMA foreign_keys = ON; DELETE FROM classes", NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members"), 0);
    teardown();
}

/* The class and its teacher are one transaction: when the teacher's row cannot be written
 * (a trigger refuses it here), the class is not left behind without one. */
static void test_create_is_atomic(void)
{
    char path[128];
    sqlite3 *db = NULL;
    setup();
    class_store_t *s = open_ok();
    make_class(s, "t-1", "Kept", &ca);
    snprintf(path, sizeof path, "%s/journal.db", tmpdir);
    ASSERT_EQ(sqlite3_open(path, &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TRIGGER refuse BEFORE INSERT ON class_members"
                           " WHEN NEW.account_id = 't-refused'"
                           " BEGIN SELECT RAISE(ABORT, 'refused'); END",
                           NULL, NULL, NULL),
              SQLITE_OK);
    sqlite3_close(db);
    ASSERT_EQ(class_store_create(s, "t-refused", "Lost", NULL, NULL, &cx), BRK_EIO);
    ASSERT_EQ(query_int("SELECT count(*) FROM classes"), 1);
    ASSERT_EQ(class_store_add_member(s, ca.id, "t-refused", CLASS_ROLE_TEACHER, NULL), BRK_EIO);
    ASSERT_EQ(query_int("SELECT count(*) FROM class_members"), 1);
    /* The store is still usable: the failed transactions were rolled back, not left open. */
    make_class(s, "t-2", "Next", &cb);
    ASSERT_EQ(query_int("SELECT count(*) FROM classes"), 2);
    class_store_close(s);
    teardown();
}

static void test_open_fails(void)
{
    class_store_t *s = NULL;
    char err[256];
    ASSERT_EQ(class_store_open("", &s, err, sizeof err), BRK_EIO);
    ASSERT_NULL(s);
    ASSERT_EQ(class_store_open("/proc/rollcall-no-such/dir", &s, err, sizeof err), BRK_EIO);
    ASSERT_NULL(s);
    ASSERT(err[0] != '\0');
}

static const test_case_t tests[] = {
    {"create_get_update", test_create_get_update},
    {"bad_input", test_bad_input},
    {"code_normalize", test_code_normalize},
    {"codes_over_many", test_codes_over_many},
    {"code_rejection_sampling", test_code_rejection_sampling},
    {"code_collisions", test_code_collisions},
    {"find_by_code", test_find_by_code},
    {"members", test_members},
    {"class_limit", test_class_limit},
    {"list_for_account", test_list_for_account},
    {"roster_and_students", test_roster_and_students},
    {"upgrade_from_v4", test_upgrade_from_v4},
    {"table_constraints", test_table_constraints},
    {"create_is_atomic", test_create_is_atomic},
    {"open_fails", test_open_fails},
};

TEST_MAIN(tests)

/* SPDX-License-Identifier: MIT */
/* Classes and rosters (class_store.h) on a connection of their own to the journal's file.
 * The tables are version 5 of the journal's schema (store/journal_schema.c says why they are
 * not a schema of this module's own). Every write runs in one BEGIN IMMEDIATE transaction:
 * the checks it makes first (the class exists, the account is not yet a member, the account
 * is under its class limit) then hold when its rows are written, even against another
 * process writing the same file. Statements are prepared per call, as in acct_store.c: class
 * operations are rare, and a handful of prepares costs little next to the fsync of a
 * commit. Values only ever reach SQLite as bound parameters. */
#include "class_store.h"

#include "acct_int.h"
#include "brk.h"
#include "journal.h"
#include "log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct class_store {
    sqlite3 *db;
};

static const char *const role_names[] = {"student", "teacher"};

const char *class_role_name(class_role_t role)
{
    return (unsigned)role < BRK_ARRAY_LEN(role_names) ? role_names[role] : "?";
}

int class_role_parse(const char *s, class_role_t *out)
{
    for (size_t i = 0; s && i < BRK_ARRAY_LEN(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (class_role_t)i;
            return 0;
        }
    }
    return BRK_EINVAL;
}

static int is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int class_code_normalize(const char *in, char *out, size_t outlen)
{
    BRK_ASSERT(out && outlen >= CLASS_CODE_SIZE);
    out[0] = '\0';
    if (!in)
        return BRK_EINVAL;
    size_t len = strlen(in);
    while (len > 0 && is_blank(in[0])) {
        in++;
        len--;
    }
    while (len > 0 && is_blank(in[len - 1]))
        len--;
    if (len != CLASS_CODE_LEN)
        return BRK_EINVAL;
    char code[CLASS_CODE_SIZE];
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        /* c == '\0' cannot occur (len came from strlen), and strchr would match the NUL. */
        if (!strchr(CLASS_CODE_ALPHABET, c))
            return BRK_EINVAL;
        code[i] = c;
    }
    code[len] = '\0';
    memcpy(out, code, sizeof code);
    return 0;
}

/* Logs an SQLite failure (never a value) and maps it to BRK_EIO. */
static int sql_fail(class_store_t *s, const char *op)
{
    LOG(WARN, 0, "class store failed", "op=%s reason=\"%s\"", op, sqlite3_errmsg(s->db));
    return BRK_EIO;
}

static int prepare(class_store_t *s, const char *sql, sqlite3_stmt **st, const char *op)
{
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return sql_fail(s, op);
    return 0;
}

static int tx_begin(class_store_t *s, const char *op)
{
    /* IMMEDIATE takes the write lock now, so that what the transaction reads before it
     * writes cannot change under it (a DEFERRED one could fail with SQLITE_BUSY at its first
     * write instead of waiting out the busy timeout). */
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(s, op);
    return 0;
}

/* Commits when rc is 0, else rolls back; returns rc, or BRK_EIO when the commit fails. */
static int tx_end(class_store_t *s, int rc, const char *op)
{
    if (rc == 0 && sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        rc = sql_fail(s, op);
    if (!sqlite3_get_autocommit(s->db))
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

static int parse_role(const unsigned char *text, class_role_t *out)
{
    /* The table's CHECK makes a failure unreachable, short of another writer's damage. */
    return class_role_parse((const char *)text, out) == 0 ? 0 : BRK_EIO;
}

#define CLASS_COLUMNS                                                                              \
    "c.id, c.name, c.description, c.schedule, c.join_code, c.created_by, c.created_at_ms,"         \
    " c.updated_at_ms"
#define CLASS_NCOLS 8

/* Reads CLASS_COLUMNS, starting at column 0 of the current row of st. */
static void read_class(sqlite3_stmt *st, class_info_t *c)
{
    memset(c, 0, sizeof *c);
    copy_text(c->id, sizeof c->id, sqlite3_column_text(st, 0));
    copy_text(c->name, sizeof c->name, sqlite3_column_text(st, 1));
    copy_text(c->description, sizeof c->description, sqlite3_column_text(st, 2));
    c->has_schedule = sqlite3_column_type(st, 3) != SQLITE_NULL;
    if (c->has_schedule)
        copy_text(c->schedule, sizeof c->schedule, sqlite3_column_text(st, 3));
    copy_text(c->join_code, sizeof c->join_code, sqlite3_column_text(st, 4));
    copy_text(c->created_by, sizeof c->created_by, sqlite3_column_text(st, 5));
    c->created_at_ms = sqlite3_column_int64(st, 6);
    c->updated_at_ms = sqlite3_column_int64(st, 7);
}

/* The one class that sql (a SELECT of CLASS_COLUMNS by id or by join_code, one parameter)
 * finds for value. */
static int get_by(class_store_t *s, const char *sql, const char *value, class_info_t *out,
                  const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, sql, &st, op);
    if (rc != 0)
        return rc;
    /* Copied: value may be out->id, which read_class overwrites. */
    sqlite3_bind_text(st, 1, value, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = 0;
        if (out)
            read_class(st, out);
    } else if (rc == SQLITE_DONE) {
        rc = BRK_ENOTFOUND;
    } else {
        rc = sql_fail(s, op);
    }
    sqlite3_finalize(st);
    return rc;
}

static const char get_sql[] = "SELECT " CLASS_COLUMNS " FROM classes c WHERE c.id = ?";

int class_store_open(const char *dir, class_store_t **out, char *err, size_t errlen)
{
    BRK_ASSERT(dir && out);
    sqlite3 *db = NULL;
    *out = NULL;
    int rc = jr_db_open(dir, &db, err, errlen);
    if (rc != 0)
        return rc;
    /* Per connection, and off by default: on, a member row can never name a class that is
     * not there, whatever this module's own checks miss. */
    if (sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) != SQLITE_OK) {
        if (err && errlen)
            snprintf(err, errlen, "journal.db: %s", sqlite3_errmsg(db));
        sqlite3_close(db);
        return BRK_EIO;
    }
    class_store_t *s = brk_calloc(1, sizeof *s);
    s->db = db;
    *out = s;
    return 0;
}

void class_store_close(class_store_t *s)
{
    if (!s)
        return;
    if (sqlite3_close(s->db) != SQLITE_OK)
        LOG(WARN, 0, "class store close failed", "reason=\"%s\"", sqlite3_errmsg(s->db));
    free(s);
}

/* How many classes account_id belongs to, into *n. */
static int count_classes(class_store_t *s, const char *account_id, int *n, const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s, "SELECT count(*) FROM class_members WHERE account_id = ?", &st, op);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        *n = sqlite3_column_int(st, 0);
        rc = 0;
    } else {
        rc = sql_fail(s, op);
    }
    sqlite3_finalize(st);
    return rc;
}

static int insert_member(class_store_t *s, const char *class_id, const char *account_id,
                         class_role_t role, int64_t now, const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s,
                     "INSERT INTO class_members (class_id, account_id, role, joined_at_ms)"
                     " VALUES (?, ?, ?, ?)",
                     &st, op);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, class_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, class_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, now);
    rc = sqlite3_step(st) == SQLITE_DONE ? 0 : sql_fail(s, op);
    sqlite3_finalize(st);
    return rc;
}

/* Inserts c (every field but id and join_code filled), drawing a fresh id and code for each
 * try until one is free. A failed INSERT undoes only itself, not the transaction around it. */
static int insert_class(class_store_t *s, class_info_t *c, const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(s,
                     "INSERT INTO classes (id, name, description, schedule, join_code,"
                     " created_by, created_at_ms, updated_at_ms) VALUES (?,?,?,?,?,?,?,?)",
                     &st, op);
    if (rc != 0)
        return rc;
    rc = BRK_EIO;
    int i;
    for (i = 0; i < ACCT__CODE_TRIES; i++) {
        if (acct__new_class_id(c->id) != 0 || acct__new_join_code(c->join_code) != 0) {
            LOG(WARN, 0, "class store failed", "op=%s reason=\"no random bytes\"", op);
            break;
        }
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, c->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, c->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, c->description, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 4, c->has_schedule ? c->schedule : NULL, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, c->join_code, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, c->created_by, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 7, c->created_at_ms);
        sqlite3_bind_int64(st, 8, c->updated_at_ms);
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE) {
            rc = 0;
            break;
        }
        /* The join code's UNIQUE index (or, never in practice, the id's PRIMARY KEY):
         * draw both again. */
        if (step != SQLITE_CONSTRAINT_UNIQUE && step != SQLITE_CONSTRAINT_PRIMARYKEY) {
            rc = sql_fail(s, op);
            break;
        }
    }
    if (i == ACCT__CODE_TRIES)
        LOG(WARN, 0, "class store failed", "op=%s reason=\"no free join code\" tries=%d", op,
            ACCT__CODE_TRIES);
    sqlite3_finalize(st);
    return rc;
}

int class_store_create(class_store_t *s, const char *creator_id, const char *name,
                       const char *description, const char *schedule_json, class_info_t *out)
{
    BRK_ASSERT(s);
    int rc, n = 0;
    class_info_t *c = NULL;
    if ((rc = acct__new_class(creator_id, name, description, schedule_json, &c)) != 0)
        return rc;

    if ((rc = tx_begin(s, "create")) != 0)
        goto cleanup;
    if ((rc = count_classes(s, creator_id, &n, "create")) == 0 && n >= CLASS_MAX_PER_ACCOUNT)
        rc = BRK_EFULL;
    if (rc == 0)
        rc = insert_class(s, c, "create");
    if (rc == 0)
        rc = insert_member(s, c->id, creator_id, CLASS_ROLE_TEACHER, c->created_at_ms, "create");
    rc = tx_end(s, rc, "create");
    if (rc == 0 && out)
        *out = *c;
cleanup:
    free(c);
    return rc;
}

int class_store_get(class_store_t *s, const char *class_id, class_info_t *out)
{
    BRK_ASSERT(s);
    if (!class_id)
        return BRK_ENOTFOUND;
    return get_by(s, get_sql, class_id, out, "get");
}

int class_store_find_by_code(class_store_t *s, const char *code, class_info_t *out)
{
    BRK_ASSERT(s);
    char norm[CLASS_CODE_SIZE];
    if (class_code_normalize(code, norm, sizeof norm) != 0)
        return BRK_ENOTFOUND;
    return get_by(s, "SELECT " CLASS_COLUMNS " FROM classes c WHERE c.join_code = ?", norm, out,
                  "find_by_code");
}

int class_store_update(class_store_t *s, const char *class_id, const char *name,
                       const char *description, const char *schedule_json, int clear_schedule,
                       class_info_t *out)
{
    BRK_ASSERT(s);
    sqlite3_stmt *st = NULL;
    int rc;
    if (clear_schedule && schedule_json)
        return BRK_EINVAL;
    if ((rc = acct__check_class_fields(name, description, schedule_json)) != 0)
        return rc;
    if (!class_id)
        return BRK_ENOTFOUND;
    if ((rc = tx_begin(s, "update")) != 0)
        return rc;
    /* A NULL bound for a field leaves it as it is; binding a NULL pointer binds SQL NULL. */
    rc = prepare(s,
                 "UPDATE classes SET name = coalesce(?1, name),"
                 " description = coalesce(?2, description),"
                 " schedule = CASE WHEN ?4 THEN NULL ELSE coalesce(?3, schedule) END,"
                 " updated_at_ms = ?5 WHERE id = ?6",
                 &st, "update");
    if (rc != 0)
        goto cleanup;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, description, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, schedule_json, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, clear_schedule ? 1 : 0);
    sqlite3_bind_int64(st, 5, brk_now_ms());
    sqlite3_bind_text(st, 6, class_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(s, "update");
    else if (sqlite3_changes(s->db) != 1)
        rc = BRK_ENOTFOUND;
    else if (out)
        rc = get_by(s, get_sql, class_id, out, "update");
cleanup:
    sqlite3_finalize(st);
    return tx_end(s, rc, "update");
}

int class_store_regenerate_code(class_store_t *s, const char *class_id, char *code, size_t codelen)
{
    BRK_ASSERT(s && code && codelen >= CLASS_CODE_SIZE);
    sqlite3_stmt *st = NULL;
    class_info_t *c = NULL;
    char fresh[CLASS_CODE_SIZE];
    int rc, i;
    code[0] = '\0';
    if (!class_id)
        return BRK_ENOTFOUND;
    if ((rc = tx_begin(s, "regenerate_code")) != 0)
        return rc;
    /* The current code, so that the new one is sure to differ from it: the same code again
     * would pass the UNIQUE index (same row) and leave the old code working. */
    c = brk_malloc(sizeof *c);
    if ((rc = get_by(s, get_sql, class_id, c, "regenerate_code")) != 0)
        goto cleanup;
    if ((rc = prepare(s, "UPDATE classes SET join_code = ?, updated_at_ms = ? WHERE id = ?", &st,
                      "regenerate_code")) != 0)
        goto cleanup;
    rc = BRK_EIO;
    for (i = 0; i < ACCT__CODE_TRIES; i++) {
        if (acct__new_join_code(fresh) != 0) {
            LOG(WARN, 0, "class store failed", "op=regenerate_code reason=\"no random bytes\"");
            break;
        }
        if (strcmp(fresh, c->join_code) == 0)
            continue;
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, fresh, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, brk_now_ms());
        sqlite3_bind_text(st, 3, class_id, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step == SQLITE_DONE) {
            rc = 0;
            break;
        }
        if (step != SQLITE_CONSTRAINT_UNIQUE) {
            rc = sql_fail(s, "regenerate_code");
            break;
        }
    }
    if (i == ACCT__CODE_TRIES)
        LOG(WARN, 0, "class store failed",
            "op=regenerate_code reason=\"no free join code\" tries=%d", ACCT__CODE_TRIES);
cleanup:
    sqlite3_finalize(st);
    free(c);
    rc = tx_end(s, rc, "regenerate_code");
    if (rc == 0)
        memcpy(code, fresh, sizeof fresh);
    return rc;
}

/* The role of account_id in class_id into *role: 0 or BRK_ENOTFOUND. */
static int find_role(class_store_t *s, const char *class_id, const char *account_id,
                     class_role_t *role, const char *op)
{
    sqlite3_stmt *st = NULL;
    int rc =
        prepare(s, "SELECT role FROM class_members WHERE class_id = ? AND account_id = ?", &st, op);
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, class_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account_id, -1, SQLITE_STATIC);
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        class_role_t r;
        rc = parse_role(sqlite3_column_text(st, 0), &r);
        if (rc == 0 && role)
            *role = r;
    } else {
        rc = step == SQLITE_DONE ? BRK_ENOTFOUND : sql_fail(s, op);
    }
    sqlite3_finalize(st);
    return rc;
}

int class_store_add_member(class_store_t *s, const char *class_id, const char *account_id,
                           class_role_t role, class_role_t *existing)
{
    BRK_ASSERT(s);
    int rc, n = 0;
    if (!acct__member_id_ok(account_id) || (unsigned)role >= BRK_ARRAY_LEN(role_names))
        return BRK_EINVAL;
    if (!class_id)
        return BRK_ENOTFOUND;
    if ((rc = tx_begin(s, "add_member")) != 0)
        return rc;
    rc = get_by(s, get_sql, class_id, NULL, "add_member");
    if (rc == 0) {
        rc = find_role(s, class_id, account_id, existing, "add_member");
        if (rc == 0)
            rc = BRK_EEXIST;
        else if (rc == BRK_ENOTFOUND)
            rc = 0;
    }
    if (rc == 0 && (rc = count_classes(s, account_id, &n, "add_member")) == 0 &&
        n >= CLASS_MAX_PER_ACCOUNT)
        rc = BRK_EFULL;
    if (rc == 0)
        rc = insert_member(s, class_id, account_id, role, brk_now_ms(), "add_member");
    return tx_end(s, rc, "add_member");
}

int class_store_remove_member(class_store_t *s, const char *class_id, const char *account_id)
{
    BRK_ASSERT(s);
    sqlite3_stmt *st = NULL;
    if (!class_id || !account_id)
        return BRK_ENOTFOUND;
    /* One statement: SQLite runs it in a transaction of its own. */
    int rc = prepare(s, "DELETE FROM class_members WHERE class_id = ? AND account_id = ?", &st,
                     "remove_member");
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, class_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account_id, -1, SQLITE_STATIC);
    if (sqlite3_step(st) != SQLITE_DONE)
        rc = sql_fail(s, "remove_member");
    else
        rc = sqlite3_changes(s->db) == 1 ? 0 : BRK_ENOTFOUND;
    sqlite3_finalize(st);
    return rc;
}

int class_store_membership(class_store_t *s, const char *class_id, const char *account_id,
                           class_role_t *role)
{
    BRK_ASSERT(s);
    if (!class_id || !account_id)
        return BRK_ENOTFOUND;
    return find_role(s, class_id, account_id, role, "membership");
}

/* Grows *arr (of elements of size) to hold at least one more than n; *cap is its capacity. */
static void *grow(void *arr, size_t size, size_t n, size_t *cap)
{
    if (n < *cap)
        return arr;
    *cap = *cap ? 2 * *cap : 16;
    return brk_realloc(arr, *cap * size);
}

int class_store_list_for_account(class_store_t *s, const char *account_id, class_membership_t **out,
                                 size_t *n)
{
    BRK_ASSERT(s && out && n);
    sqlite3_stmt *st = NULL;
    class_membership_t *arr = NULL;
    size_t count = 0, cap = 0;
    int rc, step;
    *out = NULL;
    *n = 0;
    if (!account_id)
        return 0;
    rc = prepare(s,
                 "SELECT " CLASS_COLUMNS ", m.role, m.joined_at_ms FROM class_members m"
                 " JOIN classes c ON c.id = m.class_id WHERE m.account_id = ?"
                 " ORDER BY c.name COLLATE NOCASE, c.name, c.id",
                 &st, "list_for_account");
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        arr = grow(arr, sizeof *arr, count, &cap);
        class_membership_t *m = &arr[count];
        read_class(st, &m->cls);
        if ((rc = parse_role(sqlite3_column_text(st, CLASS_NCOLS), &m->role)) != 0)
            goto cleanup;
        m->joined_at_ms = sqlite3_column_int64(st, CLASS_NCOLS + 1);
        count++;
    }
    if (step != SQLITE_DONE) {
        rc = sql_fail(s, "list_for_account");
        goto cleanup;
    }
    *out = arr;
    *n = count;
    arr = NULL;
cleanup:
    sqlite3_finalize(st);
    free(arr);
    return rc;
}

int class_store_roster(class_store_t *s, const char *class_id, class_member_t **out, size_t *n)
{
    BRK_ASSERT(s && out && n);
    sqlite3_stmt *st = NULL;
    class_member_t *arr = NULL;
    size_t count = 0, cap = 0;
    int rc, step, found = 0;
    *out = NULL;
    *n = 0;
    if (!class_id)
        return BRK_ENOTFOUND;
    /* From classes, outer-joined, so that one statement (one snapshot) tells a class without
     * members (a row of NULLs) from no class (no row); and outer-joined to accounts, so that
     * a member whose account row is gone stays on the roster, nameless. */
    rc = prepare(s,
                 "SELECT m.account_id, coalesce(a.name, ''), coalesce(a.email, ''), m.role,"
                 " m.joined_at_ms FROM classes c"
                 " LEFT JOIN class_members m ON m.class_id = c.id"
                 " LEFT JOIN accounts a ON a.id = m.account_id WHERE c.id = ?"
                 " ORDER BY m.role = 'teacher' DESC, coalesce(a.name, '') COLLATE NOCASE,"
                 " coalesce(a.name, ''), m.account_id",
                 &st, "roster");
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, class_id, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        found = 1;
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            continue;
        arr = grow(arr, sizeof *arr, count, &cap);
        class_member_t *m = &arr[count];
        memset(m, 0, sizeof *m);
        copy_text(m->account_id, sizeof m->account_id, sqlite3_column_text(st, 0));
        copy_text(m->name, sizeof m->name, sqlite3_column_text(st, 1));
        copy_text(m->email, sizeof m->email, sqlite3_column_text(st, 2));
        if ((rc = parse_role(sqlite3_column_text(st, 3), &m->role)) != 0)
            goto cleanup;
        m->joined_at_ms = sqlite3_column_int64(st, 4);
        count++;
    }
    if (step != SQLITE_DONE) {
        rc = sql_fail(s, "roster");
        goto cleanup;
    }
    if (!found) {
        rc = BRK_ENOTFOUND;
        goto cleanup;
    }
    *out = arr;
    *n = count;
    arr = NULL;
cleanup:
    sqlite3_finalize(st);
    free(arr);
    return rc;
}

int class_store_class_ids(class_store_t *s, const char *account_id,
                          char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1], int *n)
{
    BRK_ASSERT(s && ids && n);
    sqlite3_stmt *st = NULL;
    int rc, step, count = 0;
    *n = 0;
    if (!account_id)
        return 0;
    rc = prepare(s, "SELECT class_id FROM class_members WHERE account_id = ? ORDER BY class_id",
                 &st, "class_ids");
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (count == CLASS_MAX_PER_ACCOUNT) {
            /* Only a writer that bypassed add_member's limit gets here. */
            LOG(WARN, 0, "class store: account over the class limit", "limit=%d",
                CLASS_MAX_PER_ACCOUNT);
            rc = BRK_EFULL;
            break;
        }
        copy_text(ids[count], CLASS_TOKEN_ID_MAX + 1, sqlite3_column_text(st, 0));
        count++;
    }
    if (rc == 0 && step != SQLITE_DONE)
        rc = sql_fail(s, "class_ids");
    sqlite3_finalize(st);
    if (rc == 0 || rc == BRK_EFULL)
        *n = count;
    return rc;
}

int class_store_student_ids(class_store_t *s, const char *class_id, class_uid_t **out, size_t *n)
{
    BRK_ASSERT(s && out && n);
    sqlite3_stmt *st = NULL;
    class_uid_t *arr = NULL;
    size_t count = 0, cap = 0;
    int rc, step, found = 0;
    *out = NULL;
    *n = 0;
    if (!class_id)
        return BRK_ENOTFOUND;
    /* As in the roster: the outer join tells an empty class from none. */
    rc = prepare(s,
                 "SELECT m.account_id FROM classes c LEFT JOIN class_members m"
                 " ON m.class_id = c.id AND m.role = 'student' WHERE c.id = ?"
                 " ORDER BY m.account_id",
                 &st, "student_ids");
    if (rc != 0)
        return rc;
    sqlite3_bind_text(st, 1, class_id, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        found = 1;
        if (sqlite3_column_type(st, 0) == SQLITE_NULL)
            continue;
        arr = grow(arr, sizeof *arr, count, &cap);
        copy_text(arr[count].id, sizeof arr[count].id, sqlite3_column_text(st, 0));
        count++;
    }
    if (step != SQLITE_DONE)
        rc = sql_fail(s, "student_ids");
    else if (!found)
        rc = BRK_ENOTFOUND;
    if (rc == 0) {
        *out = arr;
        *n = count;
        arr = NULL;
    }
    sqlite3_finalize(st);
    free(arr);
    return rc;
}

int class_store_all_ids(class_store_t *s, class_uid_t **out, size_t *n)
{
    BRK_ASSERT(s && out && n);
    sqlite3_stmt *st = NULL;
    class_uid_t *arr = NULL;
    size_t count = 0, cap = 0;
    int step;
    *out = NULL;
    *n = 0;
    int rc = prepare(s, "SELECT id FROM classes ORDER BY id", &st, "all_ids");
    if (rc != 0)
        return rc;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        arr = grow(arr, sizeof *arr, count, &cap);
        copy_text(arr[count].id, sizeof arr[count].id, sqlite3_column_text(st, 0));
        count++;
    }
    if (step != SQLITE_DONE) {
        rc = sql_fail(s, "all_ids");
        free(arr);
    } else {
        *out = arr;
        *n = count;
    }
    sqlite3_finalize(st);
    return rc;
}

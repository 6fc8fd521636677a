/* SPDX-License-Identifier: MIT */
/* The accounts table (acct_store.h) on a connection of its own to the journal's file. The
 * table is part of the journal's schema rather than a schema of this module's own in the same
 * file: one PRAGMA user_version then describes the whole file and one migrate() upgrades it
 * (store/journal_schema.c, version 4, which says more). Statements are prepared per call:
 * account operations are rare next to the cost of a password hash. */
#include "acct_store.h"

#include "acct_int.h"
#include "brk.h"
#include "journal.h"
#include "log.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct acct_store {
    sqlite3 *db;
};

static const char *const role_names[] = {"student", "teacher", "admin"};

const char *acct_role_name(acct_role_t role)
{
    return (unsigned)role < BRK_ARRAY_LEN(role_names) ? role_names[role] : "?";
}

int acct_role_parse(const char *s, acct_role_t *out)
{
    for (size_t i = 0; s && i < BRK_ARRAY_LEN(role_names); i++) {
        if (strcmp(s, role_names[i]) == 0) {
            *out = (acct_role_t)i;
            return 0;
        }
    }
    return BRK_EINVAL;
}

int acct_store_open(const char *dir, acct_store_t **out, char *err, size_t errlen)
{
    BRK_ASSERT(dir && out);
    sqlite3 *db = NULL;
    *out = NULL;
    int rc = jr_db_open(dir, &db, err, errlen);
    if (rc != 0)
        return rc;
    acct_store_t *s = brk_calloc(1, sizeof *s);
    s->db = db;
    *out = s;
    return 0;
}

void acct_store_close(acct_store_t *s)
{
    if (!s)
        return;
    if (sqlite3_close(s->db) != SQLITE_OK)
        LOG(WARN, 0, "accounts store close failed", "reason=\"%s\"", sqlite3_errmsg(s->db));
    free(s);
}

/* Logs an SQLite failure (never a value: no hash, no email) and maps it to BRK_EIO. */
static int sql_fail(acct_store_t *s, const char *op)
{
    LOG(WARN, 0, "accounts store failed", "op=%s reason=\"%s\"", op, sqlite3_errmsg(s->db));
    return BRK_EIO;
}

static void copy_text(char *dst, size_t size, const unsigned char *src)
{
    snprintf(dst, size, "%s", src ? (const char *)src : "");
}

#define COLUMNS "id, email, name, role, password_hash, created_at_ms, updated_at_ms"

/* Reads the one row of st (bound already) into *out. */
static int find(acct_store_t *s, sqlite3_stmt *st, acct_t *out, const char *op)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return BRK_ENOTFOUND;
    if (rc != SQLITE_ROW)
        return sql_fail(s, op);
    acct_t a = {0};
    copy_text(a.id, sizeof a.id, sqlite3_column_text(st, 0));
    copy_text(a.email, sizeof a.email, sqlite3_column_text(st, 1));
    copy_text(a.name, sizeof a.name, sqlite3_column_text(st, 2));
    if (acct_role_parse((const char *)sqlite3_column_text(st, 3), &a.role) != 0)
        return BRK_EIO; /* the table's CHECK makes this unreachable */
    copy_text(a.password_hash, sizeof a.password_hash, sqlite3_column_text(st, 4));
    a.created_at_ms = sqlite3_column_int64(st, 5);
    a.updated_at_ms = sqlite3_column_int64(st, 6);
    if (out)
        *out = a;
    explicit_bzero(&a, sizeof a);
    return 0;
}

int acct_store_create(acct_store_t *s, const char *email, const char *name, acct_role_t role,
                      const char *password_hash, acct_t *out)
{
    BRK_ASSERT(s);
    acct_t a = {0};
    sqlite3_stmt *st = NULL;
    int rc;
    if (!email)
        return BRK_EINVAL;
    if ((rc = acct_email_normalize(email, strlen(email), a.email, sizeof a.email)) != 0)
        return rc;
    if ((rc = acct__check_name(name)) != 0 || (rc = acct__check_hash(password_hash)) != 0)
        return rc;
    if ((unsigned)role >= BRK_ARRAY_LEN(role_names))
        return BRK_EINVAL;
    if (acct__new_account_id(a.id) != 0)
        return BRK_EIO;
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.password_hash, sizeof a.password_hash, "%s", password_hash);
    a.role = role;
    a.created_at_ms = a.updated_at_ms = brk_now_ms();

    if (sqlite3_prepare_v2(s->db, "INSERT INTO accounts (" COLUMNS ") VALUES (?,?,?,?,?,?,?)", -1,
                           &st, NULL) != SQLITE_OK) {
        rc = sql_fail(s, "create");
        goto cleanup;
    }
    sqlite3_bind_text(st, 1, a.id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a.email, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a.name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, acct_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a.password_hash, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, a.created_at_ms);
    sqlite3_bind_int64(st, 7, a.updated_at_ms);
    rc = sqlite3_step(st);
    /* The email's UNIQUE index is what makes a duplicate impossible even between two
     * processes; the extended code tells it from an id collision (PRIMARY KEY). */
    if (rc == SQLITE_CONSTRAINT_UNIQUE) {
        rc = BRK_EEXIST;
    } else if (rc != SQLITE_DONE) {
        rc = sql_fail(s, "create");
    } else {
        rc = 0;
        if (out)
            *out = a;
    }
cleanup:
    sqlite3_finalize(st);
    explicit_bzero(&a, sizeof a);
    return rc;
}

int acct_store_find_by_email(acct_store_t *s, const char *email, acct_t *out)
{
    BRK_ASSERT(s);
    char norm[ACCT_EMAIL_SIZE];
    sqlite3_stmt *st = NULL;
    if (!email || acct_email_normalize(email, strlen(email), norm, sizeof norm) != 0)
        return BRK_ENOTFOUND;
    if (sqlite3_prepare_v2(s->db, "SELECT " COLUMNS " FROM accounts WHERE email = ?", -1, &st,
                           NULL) != SQLITE_OK)
        return sql_fail(s, "find_by_email");
    sqlite3_bind_text(st, 1, norm, -1, SQLITE_STATIC);
    int rc = find(s, st, out, "find_by_email");
    sqlite3_finalize(st);
    return rc;
}

int acct_store_find_by_id(acct_store_t *s, const char *id, acct_t *out)
{
    BRK_ASSERT(s);
    sqlite3_stmt *st = NULL;
    if (!id)
        return BRK_ENOTFOUND;
    if (sqlite3_prepare_v2(s->db, "SELECT " COLUMNS " FROM accounts WHERE id = ?", -1, &st, NULL) !=
        SQLITE_OK)
        return sql_fail(s, "find_by_id");
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    int rc = find(s, st, out, "find_by_id");
    sqlite3_finalize(st);
    return rc;
}

/* UPDATE accounts SET <column> = value, updated_at_ms = now WHERE id. column is one of ours. */
static int update(acct_store_t *s, const char *id, const char *sql, const char *value,
                  const char *op)
{
    sqlite3_stmt *st = NULL;
    if (!id)
        return BRK_ENOTFOUND;
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return sql_fail(s, op);
    sqlite3_bind_text(st, 1, value, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, brk_now_ms());
    sqlite3_bind_text(st, 3, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_DONE)
        rc = sql_fail(s, op);
    else
        rc = sqlite3_changes(s->db) == 1 ? 0 : BRK_ENOTFOUND;
    sqlite3_finalize(st);
    return rc;
}

int acct_store_update_name(acct_store_t *s, const char *id, const char *name)
{
    BRK_ASSERT(s);
    int rc = acct__check_name(name);
    if (rc != 0)
        return rc;
    return update(s, id, "UPDATE accounts SET name = ?, updated_at_ms = ? WHERE id = ?", name,
                  "update_name");
}

int acct_store_update_password(acct_store_t *s, const char *id, const char *password_hash)
{
    BRK_ASSERT(s);
    int rc = acct__check_hash(password_hash);
    if (rc != 0)
        return rc;
    return update(s, id, "UPDATE accounts SET password_hash = ?, updated_at_ms = ? WHERE id = ?",
                  password_hash, "update_password");
}

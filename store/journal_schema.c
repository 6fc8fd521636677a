/* SPDX-License-Identifier: MIT */
/* The journal's database file: creating its directory, opening SQLite in WAL mode with
 * synchronous commits, and creating or upgrading the schema (PRAGMA user_version). Runs on
 * the loop thread in jr_open(), before the worker starts, and in jr_db_open() for the other
 * durable records kept in the same file (accounts/). */
#include "brk.h"
#include "journal_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define JR_BUSY_TIMEOUT_MS 5000

/* Column names follow the MongoDB records (DESIGN.md); started_at, ended_at, finalized_at and
 * shipped_at are INTEGER milliseconds since the epoch. shipped_at stays NULL until the MongoDB
 * outbox has the row acknowledged. */
static const char schema_v1[] =
    "CREATE TABLE IF NOT EXISTS attendance ("
    " session_id TEXT NOT NULL,"
    " student_id TEXT NOT NULL,"
    " student_name TEXT NOT NULL,"
    " class_id TEXT NOT NULL,"
    " started_at INTEGER NOT NULL,"
    " ended_at INTEGER NOT NULL,"
    " total_class_duration_seconds REAL NOT NULL,"
    " engagement_duration_seconds REAL NOT NULL,"
    " engagement_percentage REAL NOT NULL,"
    " frames_analyzed INTEGER NOT NULL,"
    " status TEXT NOT NULL CHECK (status IN ('present', 'absent', 'late')),"
    " source TEXT NOT NULL CHECK (source IN ('engagement', 'manual')),"
    " finalized_at INTEGER NOT NULL,"
    " shipped_at INTEGER,"
    " PRIMARY KEY (session_id, student_id));"
    "CREATE INDEX IF NOT EXISTS attendance_by_class_session"
    " ON attendance (class_id, session_id, student_id);"
    "CREATE TABLE IF NOT EXISTS attendance_daily ("
    " class_id TEXT NOT NULL,"
    " date TEXT NOT NULL,"
    " teacher_id TEXT NOT NULL,"
    " session_id TEXT NOT NULL UNIQUE,"
    " present INTEGER NOT NULL,"
    " absent INTEGER NOT NULL,"
    " late INTEGER NOT NULL,"
    " total INTEGER NOT NULL,"
    " percentage REAL NOT NULL,"
    " finalized_at INTEGER NOT NULL,"
    " shipped_at INTEGER,"
    " PRIMARY KEY (class_id, date));";

/* Version 2: the MongoDB outbox finds the rows still to ship, and counts them, through
 * partial indexes that hold only those rows. */
static const char upgrade_v2[] = "CREATE INDEX IF NOT EXISTS attendance_daily_unshipped"
                                 " ON attendance_daily (finalized_at) WHERE shipped_at IS NULL;"
                                 "CREATE INDEX IF NOT EXISTS attendance_unshipped"
                                 " ON attendance (class_id, session_id) WHERE shipped_at IS NULL;";

/* Version 3: each record carries the student's proctoring trust score (0..100); records
 * written before it existed had no violations to count, hence 100. */
static const char upgrade_v3[] = "ALTER TABLE attendance ADD COLUMN trust_score INTEGER NOT NULL"
                                 " DEFAULT 100 CHECK (trust_score BETWEEN 0 AND 100);";

/* Version 4: accounts (accounts/acct_store.c reads and writes them). They live in this file
 * because the issue wants them where finalized attendance is, and their table is one more
 * step of this one migrate() rather than a second version table in the same file: one
 * PRAGMA user_version says what the whole file holds, the steps run in order inside one
 * transaction, and a build that predates accounts refuses the file (newer schema) instead of
 * running beside records it does not know. email is the normalized address (acct_email.h),
 * unique; the times are milliseconds since the epoch. */
static const char upgrade_v4[] =
    "CREATE TABLE IF NOT EXISTS accounts ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " email TEXT NOT NULL UNIQUE,"
    " name TEXT NOT NULL,"
    " role TEXT NOT NULL CHECK (role IN ('teacher', 'student', 'admin')),"
    " password_hash TEXT NOT NULL,"
    " created_at_ms INTEGER NOT NULL,"
    " updated_at_ms INTEGER NOT NULL);";

/* Version 5: classes with rosters (accounts/class_store.c reads and writes them), one more
 * step of the same migrate() for the reasons version 4 gives. A class belongs to no
 * instance: its id is what tokens carry and what live rooms are named after. join_code is
 * the short code students type to join; the table's UNIQUE constraint is what keeps two
 * classes from sharing one, whoever writes. schedule is JSON text that the caller checked,
 * or NULL. class_members is the roster: a member's role in the class (not the account's
 * role), and the index answers "which classes is this account in" for tokens and listings.
 * account_id is not a foreign key to accounts: a roster may outlive an account it names,
 * and the roster's readers join accounts themselves. The cascade takes effect only on a
 * connection with PRAGMA foreign_keys = ON (the class store's; the journal's has them off,
 * and SQLite's default is off). */
static const char upgrade_v5[] =
    "CREATE TABLE IF NOT EXISTS classes ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " name TEXT NOT NULL,"
    " description TEXT NOT NULL DEFAULT '',"
    " schedule TEXT,"
    " join_code TEXT NOT NULL UNIQUE,"
    " created_by TEXT NOT NULL,"
    " created_at_ms INTEGER NOT NULL,"
    " updated_at_ms INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS class_members ("
    " class_id TEXT NOT NULL REFERENCES classes (id) ON DELETE CASCADE,"
    " account_id TEXT NOT NULL,"
    " role TEXT NOT NULL CHECK (role IN ('teacher', 'student')),"
    " joined_at_ms INTEGER NOT NULL,"
    " PRIMARY KEY (class_id, account_id));"
    "CREATE INDEX IF NOT EXISTS class_members_by_account ON class_members (account_id);"
    /* a student's history (journal_analytics.c) looks records up by student */
    "CREATE INDEX IF NOT EXISTS attendance_by_student ON attendance (student_id);";

void jr__set_err(char *err, size_t errlen, const char *what, const char *why)
{
    if (err && errlen)
        snprintf(err, errlen, "%s: %s", what, why);
}

/* mkdir -p: creates every missing component with mode 0700; existing ones are left as
 * they are. */
int jr__make_dirs(const char *dir, char *err, size_t errlen)
{
    char *p = brk_strdup(dir);
    int rc = 0;
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/')
        p[--len] = '\0';
    for (char *s = p + 1;; s++) {
        if (*s != '/' && *s != '\0')
            continue;
        char saved = *s;
        *s = '\0';
        if (mkdir(p, 0700) != 0 && errno != EEXIST) {
            jr__set_err(err, errlen, p, strerror(errno));
            rc = BRK_EIO;
            goto cleanup;
        }
        *s = saved;
        if (saved == '\0')
            break;
    }
    struct stat sb;
    if (stat(p, &sb) != 0) {
        jr__set_err(err, errlen, p, strerror(errno));
        rc = BRK_EIO;
    } else if (!S_ISDIR(sb.st_mode)) {
        jr__set_err(err, errlen, p, "not a directory");
        rc = BRK_EIO;
    }
cleanup:
    free(p);
    return rc;
}

static int pragma_int(sqlite3 *db, const char *sql, int *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates or upgrades the schema inside one write transaction, so two processes opening the
 * same file at once cannot both migrate it. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
    int version = 0;
    char sql[64];
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (pragma_int(db, "PRAGMA user_version", &version) != SQLITE_OK)
        goto fail;
    if (version > JR_SCHEMA_VERSION) {
        char why[96];
        snprintf(why, sizeof why, "schema_version %d is newer than this build's %d", version,
                 JR_SCHEMA_VERSION);
        jr__set_err(err, errlen, "journal.db", why);
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
        return BRK_EIO;
    }
    if (version < 1 && sqlite3_exec(db, schema_v1, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (version < 2 && sqlite3_exec(db, upgrade_v2, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (version < 3 && sqlite3_exec(db, upgrade_v3, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (version < 4 && sqlite3_exec(db, upgrade_v4, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (version < 5 && sqlite3_exec(db, upgrade_v5, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    snprintf(sql, sizeof sql, "PRAGMA user_version = %d", JR_SCHEMA_VERSION);
    if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    return 0;
fail:
    jr__set_err(err, errlen, "journal.db schema", sqlite3_errmsg(db));
    if (!sqlite3_get_autocommit(db))
        sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return BRK_EIO;
}

int jr__open_file(const char *path, sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *jm = NULL;
    int rc = BRK_EIO;
    /* NOMUTEX: the connection is used by one thread at a time (this one, then the worker,
     * then jr_free after the join), so SQLite's per-connection mutex is pure overhead. */
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        jr__set_err(err, errlen, path, db ? sqlite3_errmsg(db) : "out of memory");
        goto cleanup;
    }
    sqlite3_extended_result_codes(db, 1);
    if (sqlite3_busy_timeout(db, JR_BUSY_TIMEOUT_MS) != SQLITE_OK)
        goto sqlfail;
    /* journal_mode answers with the mode actually in force; some file systems refuse WAL
     * and SQLite then silently keeps the old mode, which we do not accept. */
    if (sqlite3_prepare_v2(db, "PRAGMA journal_mode = WAL", -1, &jm, NULL) != SQLITE_OK)
        goto sqlfail;
    if (sqlite3_step(jm) != SQLITE_ROW)
        goto sqlfail;
    const char *mode = (const char *)sqlite3_column_text(jm, 0);
    int wal = mode && strcmp(mode, "wal") == 0;
    /* A statement left mid-step would keep the migration's COMMIT from completing. */
    sqlite3_finalize(jm);
    jm = NULL;
    if (!wal) {
        jr__set_err(err, errlen, path, "cannot switch to WAL journal mode");
        goto cleanup;
    }
    /* FULL makes every COMMIT fsync the WAL, so a commit that returned is durable; the
     * broker acknowledges a DONE only after that. */
    if (sqlite3_exec(db, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = OFF", NULL, NULL,
                     NULL) != SQLITE_OK)
        goto sqlfail;
    if (migrate(db, err, errlen) != 0)
        goto cleanup;
    *out = db;
    db = NULL;
    rc = 0;
    goto cleanup;
sqlfail:
    jr__set_err(err, errlen, path, sqlite3_errmsg(db));
cleanup:
    sqlite3_finalize(jm);
    if (db)
        sqlite3_close(db);
    return rc;
}

int jr__open_memory(sqlite3 **out, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    /* NOMUTEX: one worker thread owns the connection from open to close. */
    int flags =
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_MEMORY;
    if (sqlite3_open_v2(":memory:", &db, flags, NULL) != SQLITE_OK) {
        jr__set_err(err, errlen, "scratch database", db ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return BRK_EIO;
    }
    sqlite3_extended_result_codes(db, 1);
    /* The same migration as the file's, so the analytics SQL finds the same tables, columns
     * and constraints; foreign keys stay off as on the journal's own connection. */
    if (sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL) != SQLITE_OK) {
        jr__set_err(err, errlen, "scratch database", sqlite3_errmsg(db));
        sqlite3_close(db);
        return BRK_EIO;
    }
    if (migrate(db, err, errlen) != 0) {
        sqlite3_close(db);
        return BRK_EIO;
    }
    *out = db;
    return 0;
}

int jr__open_db(const char *path, sqlite3 **out, stmts_t *st, char *err, size_t errlen)
{
    sqlite3 *db = NULL;
    int rc = jr__open_file(path, &db, err, errlen);
    if (rc != 0)
        return rc;
    if (jr__stmts_prepare(db, st) != SQLITE_OK) {
        jr__set_err(err, errlen, path, sqlite3_errmsg(db));
        jr__stmts_finalize(st);
        sqlite3_close(db);
        return BRK_EIO;
    }
    *out = db;
    return 0;
}

int jr_db_open(const char *dir, sqlite3 **out, char *err, size_t errlen)
{
    BRK_ASSERT(dir && out);
    *out = NULL;
    if (err && errlen)
        err[0] = '\0';
    if (dir[0] == '\0') {
        jr__set_err(err, errlen, "journal", "empty directory path");
        return BRK_EIO;
    }
    int rc = jr__make_dirs(dir, err, errlen);
    if (rc != 0)
        return rc;
    size_t plen = strlen(dir) + sizeof "/journal.db";
    char *path = brk_malloc(plen);
    snprintf(path, plen, "%s/journal.db", dir);
    rc = jr__open_file(path, out, err, errlen);
    free(path);
    return rc;
}

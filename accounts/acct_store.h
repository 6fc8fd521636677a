/* SPDX-License-Identifier: MIT */
/* Accounts as durable records: the accounts table of the data directory's database file,
 * dir/journal.db, whose schema (version 4 on) the journal's migrate() creates and upgrades
 * (store/journal_schema.c); this module opens its own connection to the file with
 * jr_db_open(). Every function blocks on SQLite (and fsync on writes): run them on a worker
 * thread, never on the loop, and on one thread at a time per store (the connection is not
 * shared between threads). */
#ifndef RC_ACCT_STORE_H
#define RC_ACCT_STORE_H

#include "acct_email.h"
#include "acct_password.h"

#include <stddef.h>
#include <stdint.h>

#define ACCT_ID_SIZE 33   /* 32 hex characters (16 random bytes) and the NUL */
#define ACCT_NAME_MAX 128 /* bytes */

typedef enum {
    ACCT_ROLE_STUDENT = 0,
    ACCT_ROLE_TEACHER,
    ACCT_ROLE_ADMIN,
} acct_role_t;

typedef struct acct {
    char id[ACCT_ID_SIZE];
    char email[ACCT_EMAIL_SIZE]; /* normalized */
    char name[ACCT_NAME_MAX + 1];
    acct_role_t role;
    char password_hash[ACCT_HASH_SIZE];
    int64_t created_at_ms;
    int64_t updated_at_ms;
} acct_t;

typedef struct acct_store acct_store_t;

/* "student", "teacher", "admin"; acct_role_parse returns 0 and *out, or BRK_EINVAL. */
const char *acct_role_name(acct_role_t role);
int acct_role_parse(const char *s, acct_role_t *out);

/* Opens dir/journal.db (creating both, migrating the schema). Returns 0 and *out, or BRK_EIO
 * with a reason in err. */
int acct_store_open(const char *dir, acct_store_t **out, char *err, size_t errlen);
void acct_store_close(acct_store_t *s);

/* Creates an account with a new random id, email normalized (acct_email_normalize), name as
 * given, password_hash as acct_pw_hash wrote it (borrowed). Fills *out (may be NULL).
 * Returns 0; BRK_EEXIST when an account has that normalized email already; BRK_EINVAL for a
 * bad email, an empty name or one with control characters, or an empty hash; BRK_ETOOBIG for
 * an email or name over its limit; BRK_EIO when SQLite fails. */
int acct_store_create(acct_store_t *s, const char *email, const char *name, acct_role_t role,
                      const char *password_hash, acct_t *out);

/* Fill *out. Return 0, BRK_ENOTFOUND (also for an email that does not normalize), or BRK_EIO.
 * by_email normalizes email first. */
int acct_store_find_by_email(acct_store_t *s, const char *email, acct_t *out);
int acct_store_find_by_id(acct_store_t *s, const char *id, acct_t *out);

/* Set one field and updated_at_ms. Return 0, BRK_ENOTFOUND, BRK_EINVAL/BRK_ETOOBIG for a bad
 * value (as create), or BRK_EIO. */
int acct_store_update_name(acct_store_t *s, const char *id, const char *name);
int acct_store_update_password(acct_store_t *s, const char *id, const char *password_hash);

#endif

/* SPDX-License-Identifier: MIT */
/* Where accounts and classes are stored: a table of operations the accounts service calls,
 * with two implementations. SQLite (acct_backend_sqlite.c) keeps them in the data
 * directory's database file through acct_store.h and class_store.h, for one instance.
 * MongoDB (acct_backend_mongo.c) keeps them in the collections accounts, classes and
 * class_members, so that several instances sharing a Redis see the same accounts and
 * classes.
 *
 * Every operation has the arguments, return codes and semantics of the acct_store_* or
 * class_store_* function of the same name (acct_store.h, class_store.h), with the store
 * replaced by a connection, void *db. Both backends share the validation, the id and join
 * code generators and the list orders (acct_int.h).
 *
 * Lifetimes: setup() once (what the connections share: for MongoDB the client pool and the
 * indexes), then open() one connection per thread that uses the backend; close() each, then
 * teardown(). A connection is used by one thread at a time (it may be handed from one thread
 * to another with a happens-before between them, e.g. through a job queue). setup() and
 * open() block (SQLite opens the file; MongoDB waits for the server, bounded by its
 * server-selection timeout): call them at start-up. Every operation blocks: worker threads
 * only. */
#ifndef RC_ACCT_BACKEND_H
#define RC_ACCT_BACKEND_H

#include "acct_store.h"
#include "class_store.h"

#include <stddef.h>

typedef struct acct_backend_conf {
    const char *data_dir;         /* SQLite: the data directory (borrowed) */
    const char *mongodb_uri;      /* MongoDB when not NULL or "" (borrowed; may hold a
                                   * password: never logged) */
    const char *mongodb_database; /* NULL or "": the URI's database, else "rollcall" */
    int timeout_ms;               /* MongoDB serverSelection/connect timeout when the URI sets
                                   * none; 0: 2000 */
    unsigned max_conns;           /* MongoDB: the pool's size, at least the open()s; 0: 16 */
} acct_backend_conf_t;

typedef struct acct_backend_ops {
    const char *name; /* "sqlite", "mongodb" */

    /* Returns 0 and *shared (new; free with teardown), or BRK_EINVAL (a bad setting) or
     * BRK_EIO (unreachable, refused) with a reason in err that never holds the URI. */
    int (*setup)(const acct_backend_conf_t *conf, void **shared, char *err, size_t errlen);
    void (*teardown)(void *shared); /* NULL is a no-op; after every close() */
    /* A connection of shared's: 0 and *db, or BRK_EIO with err. */
    int (*open)(void *shared, void **db, char *err, size_t errlen);
    void (*close)(void *db); /* NULL is a no-op */
    /* Optional (NULL: always ready): 0 when the store can serve requests, or BRK_EIO. The
     * service asks before every request. MongoDB is ready once its indexes exist: a server
     * unreachable at start does not stop the broker (finalized records still go to the
     * journal and the outbox); the accounts answer "unavailable" until it is reachable. */
    int (*ready)(void *db);

    /* Accounts: acct_store.h. */
    int (*acct_create)(void *db, const char *email, const char *name, acct_role_t role,
                       const char *password_hash, acct_t *out);
    int (*acct_find_by_email)(void *db, const char *email, acct_t *out);
    int (*acct_find_by_id)(void *db, const char *id, acct_t *out);
    int (*acct_update_name)(void *db, const char *id, const char *name);
    int (*acct_update_password)(void *db, const char *id, const char *password_hash);

    /* Classes: class_store.h. */
    int (*class_create)(void *db, const char *creator_id, const char *name, const char *description,
                        const char *schedule_json, class_info_t *out);
    int (*class_get)(void *db, const char *class_id, class_info_t *out);
    int (*class_find_by_code)(void *db, const char *code, class_info_t *out);
    int (*class_update)(void *db, const char *class_id, const char *name, const char *description,
                        const char *schedule_json, int clear_schedule, class_info_t *out);
    int (*class_regenerate_code)(void *db, const char *class_id, char *code, size_t codelen);
    int (*class_add_member)(void *db, const char *class_id, const char *account_id,
                            class_role_t role, class_role_t *existing);
    int (*class_remove_member)(void *db, const char *class_id, const char *account_id);
    int (*class_membership)(void *db, const char *class_id, const char *account_id,
                            class_role_t *role);
    int (*class_list_for_account)(void *db, const char *account_id, class_membership_t **out,
                                  size_t *n);
    int (*class_roster)(void *db, const char *class_id, class_member_t **out, size_t *n);
    int (*class_class_ids)(void *db, const char *account_id,
                           char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1], int *n);
    /* Not called by the service today; here for the live registry's enforcement. */
    int (*class_student_ids)(void *db, const char *class_id, class_uid_t **out, size_t *n);
    int (*class_all_ids)(void *db, class_uid_t **out, size_t *n);
} acct_backend_ops_t;

extern const acct_backend_ops_t acct_backend_sqlite;
extern const acct_backend_ops_t acct_backend_mongo;

/* The backend conf asks for: MongoDB when conf->mongodb_uri is set and not empty, else
 * SQLite. Borrowed, static. */
const acct_backend_ops_t *acct_backend_for(const acct_backend_conf_t *conf);

#endif

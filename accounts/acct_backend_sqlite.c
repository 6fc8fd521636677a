/* SPDX-License-Identifier: MIT */
/* The SQLite backend (acct_backend.h): a connection is one accounts store and one class
 * store on the data directory's database file, and each operation is the store function of
 * the same name. Nothing is shared between connections but the directory's name. */
#include "acct_backend.h"
#include "brk.h"

#include <stdlib.h>
#include <string.h>

typedef struct sqlite_shared {
    char *dir;
} sqlite_shared_t;

typedef struct sqlite_db {
    acct_store_t *acct;
    class_store_t *cls;
} sqlite_db_t;

static int sq_setup(const acct_backend_conf_t *conf, void **shared, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    BRK_ASSERT(conf && conf->data_dir && shared);
    sqlite_shared_t *sh = brk_calloc(1, sizeof *sh);
    sh->dir = brk_strdup(conf->data_dir);
    *shared = sh;
    return 0;
}

static void sq_teardown(void *shared)
{
    sqlite_shared_t *sh = shared;
    if (!sh)
        return;
    free(sh->dir);
    free(sh);
}

static void sq_close(void *db)
{
    sqlite_db_t *d = db;
    if (!d)
        return;
    acct_store_close(d->acct);
    class_store_close(d->cls);
    free(d);
}

static int sq_open(void *shared, void **db, char *err, size_t errlen)
{
    sqlite_shared_t *sh = shared;
    sqlite_db_t *d = brk_calloc(1, sizeof *d);
    *db = NULL;
    int rc = acct_store_open(sh->dir, &d->acct, err, errlen);
    if (rc == 0)
        rc = class_store_open(sh->dir, &d->cls, err, errlen);
    if (rc != 0) {
        sq_close(d);
        return rc;
    }
    *db = d;
    return 0;
}

#define ACCT(db) (((sqlite_db_t *)(db))->acct)
#define CLS(db) (((sqlite_db_t *)(db))->cls)

static int sq_acct_create(void *db, const char *email, const char *name, acct_role_t role,
                          const char *password_hash, acct_t *out)
{
    return acct_store_create(ACCT(db), email, name, role, password_hash, out);
}

static int sq_acct_find_by_email(void *db, const char *email, acct_t *out)
{
    return acct_store_find_by_email(ACCT(db), email, out);
}

static int sq_acct_find_by_id(void *db, const char *id, acct_t *out)
{
    return acct_store_find_by_id(ACCT(db), id, out);
}

static int sq_acct_update_name(void *db, const char *id, const char *name)
{
    return acct_store_update_name(ACCT(db), id, name);
}

static int sq_acct_update_password(void *db, const char *id, const char *password_hash)
{
    return acct_store_update_password(ACCT(db), id, password_hash);
}

static int sq_class_create(void *db, const char *creator_id, const char *name,
                           const char *description, const char *schedule_json, class_info_t *out)
{
    return class_store_create(CLS(db), creator_id, name, description, schedule_json, out);
}

static int sq_class_get(void *db, const char *class_id, class_info_t *out)
{
    return class_store_get(CLS(db), class_id, out);
}

static int sq_class_find_by_code(void *db, const char *code, class_info_t *out)
{
    return class_store_find_by_code(CLS(db), code, out);
}

static int sq_class_update(void *db, const char *class_id, const char *name,
                           const char *description, const char *schedule_json, int clear_schedule,
                           class_info_t *out)
{
    return class_store_update(CLS(db), class_id, name, description, schedule_json, clear_schedule,
                              out);
}

static int sq_class_regenerate_code(void *db, const char *class_id, char *code, size_t codelen)
{
    return class_store_regenerate_code(CLS(db), class_id, code, codelen);
}

static int sq_class_add_member(void *db, const char *class_id, const char *account_id,
                               class_role_t role, class_role_t *existing)
{
    return class_store_add_member(CLS(db), class_id, account_id, role, existing);
}

static int sq_class_remove_member(void *db, const char *class_id, const char *account_id)
{
    return class_store_remove_member(CLS(db), class_id, account_id);
}

static int sq_class_membership(void *db, const char *class_id, const char *account_id,
                               class_role_t *role)
{
    return class_store_membership(CLS(db), class_id, account_id, role);
}

static int sq_class_list_for_account(void *db, const char *account_id, class_membership_t **out,
                                     size_t *n)
{
    return class_store_list_for_account(CLS(db), account_id, out, n);
}

static int sq_class_roster(void *db, const char *class_id, class_member_t **out, size_t *n)
{
    return class_store_roster(CLS(db), class_id, out, n);
}

static int sq_class_class_ids(void *db, const char *account_id,
                              char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1], int *n)
{
    return class_store_class_ids(CLS(db), account_id, ids, n);
}

static int sq_class_student_ids(void *db, const char *class_id, class_uid_t **out, size_t *n)
{
    return class_store_student_ids(CLS(db), class_id, out, n);
}

static int sq_class_all_ids(void *db, class_uid_t **out, size_t *n)
{
    return class_store_all_ids(CLS(db), out, n);
}

const acct_backend_ops_t acct_backend_sqlite = {
    .name = "sqlite",
    .setup = sq_setup,
    .teardown = sq_teardown,
    .open = sq_open,
    .close = sq_close,
    .acct_create = sq_acct_create,
    .acct_find_by_email = sq_acct_find_by_email,
    .acct_find_by_id = sq_acct_find_by_id,
    .acct_update_name = sq_acct_update_name,
    .acct_update_password = sq_acct_update_password,
    .class_create = sq_class_create,
    .class_get = sq_class_get,
    .class_find_by_code = sq_class_find_by_code,
    .class_update = sq_class_update,
    .class_regenerate_code = sq_class_regenerate_code,
    .class_add_member = sq_class_add_member,
    .class_remove_member = sq_class_remove_member,
    .class_membership = sq_class_membership,
    .class_list_for_account = sq_class_list_for_account,
    .class_roster = sq_class_roster,
    .class_class_ids = sq_class_class_ids,
    .class_student_ids = sq_class_student_ids,
    .class_all_ids = sq_class_all_ids,
};

const acct_backend_ops_t *acct_backend_for(const acct_backend_conf_t *conf)
{
    if (conf && conf->mongodb_uri && conf->mongodb_uri[0])
        return &acct_backend_mongo;
    return &acct_backend_sqlite;
}

/* SPDX-License-Identifier: MIT */
/* The MongoDB backend (acct_backend.h): accounts and classes in the collections accounts,
 * classes and class_members, shared by every instance that names the same database. One
 * mongoc_client_pool_t is shared by the connections; each connection pops one client at
 * open() and keeps it until close(), since a mongoc_client_t serves one thread at a time.
 *
 * Documents:
 *   accounts      {_id: id, email, name, role, password_hash, created_at_ms, updated_at_ms}
 *   classes       {_id: id, name, description, schedule (string or null), join_code,
 *                  created_by, created_at_ms, updated_at_ms}
 *   class_members {_id: "<class_id>/<account_id>", class_id, account_id, role, joined_at_ms}
 * Unique indexes on accounts.email and classes.join_code make a taken email or code fail in
 * the server (E11000) even between instances; a member's _id makes a second membership of
 * the same account in the same class fail the same way. class_members has an index on
 * account_id and one on class_id, for an account's classes and a class's roster.
 *
 * The semantics are the SQLite stores' (acct_store.h, class_store.h): the same validation,
 * generators and list orders (acct_int.h; the orders are applied here in C, not by the
 * server), the same error codes. What SQLite does in one transaction is done here as a few
 * single-document writes, each atomic on its own; where that matters, the function says how.
 * Only equality filters, $in, $set and createIndexes are used, which the project's test
 * server (tests/support/mongo_server.c) supports. */
#include "acct_backend.h"
#include "acct_int.h"
#include "brk.h"
#include "log.h"
#include "mongo.h"

#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_TIMEOUT_MS 2000
#define DEFAULT_DATABASE "rollcall"
#define DEFAULT_MAX_CONNS 16
/* Account ids per $in query of a roster: a class of thousands takes a few round trips,
 * not thousands, and no query comes near the 16 MB document limit. */
#define IN_BATCH 256
/* "<class_id>/<account_id>": neither holds a '/' (brk_id_ok's alphabet). */
#define MEMBER_KEY_SIZE (CLASS_TOKEN_ID_MAX + 1 + CLASS_TOKEN_ID_MAX + 1)

typedef struct mongo_shared {
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    char *db;
    pthread_mutex_t mu;   /* guards the creation of the indexes after a late start */
    atomic_int indexes_ok; /* the unique indexes exist: writes may go */
} mongo_shared_t;

typedef struct mongo_db {
    mongo_shared_t *sh;
    mongoc_client_t *client;
    mongoc_collection_t *accounts, *classes, *members;
} mongo_db_t;

/* ---- errors ----------------------------------------------------------------------------- */

static int is_dup(const bson_error_t *e)
{
    return e->code == 11000;
}

/* A duplicate key on the named index. The server names it in its message ("... index:
 * email_1 dup key: ..."); the reply's keyPattern is not sent by every server version. */
static int dup_on(const bson_error_t *e, const char *index)
{
    char pat[64];
    snprintf(pat, sizeof pat, "index: %s ", index);
    return is_dup(e) && strstr(e->message, pat) != NULL;
}

/* Logs a driver failure (never a value: duplicate-key messages, which quote the key, are
 * answered and not logged) and maps it to BRK_EIO. */
static int mongo_fail(const char *op, const bson_error_t *e)
{
    char msg[200];
    snprintf(msg, sizeof msg, "%.180s", e->message);
    for (char *p = msg; *p; p++)
        if (*p == '"' || *p == '\n')
            *p = '\'';
    LOG(WARN, 0, "accounts mongodb failed", "op=%s domain=%u code=%u reason=\"%s\"", op, e->domain,
        e->code, msg);
    return BRK_EIO;
}

static int corrupt(const char *op)
{
    LOG(WARN, 0, "accounts mongodb failed",
        "op=%s reason=\"a stored document lacks a field"
        " or has a wrong type\"",
        op);
    return BRK_EIO;
}

/* ---- documents -------------------------------------------------------------------------- */

/* Copies the string field key of doc into dst (cap bytes); a missing field, another type or
 * a value too long for dst sets *bad. */
static void get_str(const bson_t *doc, const char *key, char *dst, size_t cap, int *bad)
{
    bson_iter_t it;
    uint32_t len = 0;
    dst[0] = '\0';
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_UTF8(&it)) {
        *bad = 1;
        return;
    }
    const char *s = bson_iter_utf8(&it, &len);
    if (len >= cap || strlen(s) != len) {
        *bad = 1;
        return;
    }
    memcpy(dst, s, (size_t)len + 1);
}

static int64_t get_i64(const bson_t *doc, const char *key, int *bad)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, doc, key) || !BSON_ITER_HOLDS_NUMBER(&it)) {
        *bad = 1;
        return 0;
    }
    return bson_iter_as_int64(&it);
}

static int read_account(const bson_t *doc, acct_t *out)
{
    char role[16];
    int bad = 0;
    acct_t a;
    memset(&a, 0, sizeof a);
    get_str(doc, "_id", a.id, sizeof a.id, &bad);
    get_str(doc, "email", a.email, sizeof a.email, &bad);
    get_str(doc, "name", a.name, sizeof a.name, &bad);
    get_str(doc, "role", role, sizeof role, &bad);
    get_str(doc, "password_hash", a.password_hash, sizeof a.password_hash, &bad);
    a.created_at_ms = get_i64(doc, "created_at_ms", &bad);
    a.updated_at_ms = get_i64(doc, "updated_at_ms", &bad);
    if (!bad && acct_role_parse(role, &a.role) != 0)
        bad = 1;
    if (!bad && out)
        *out = a;
    explicit_bzero(&a, sizeof a);
    return bad ? BRK_EIO : 0;
}

static int read_class(const bson_t *doc, class_info_t *c)
{
    bson_iter_t it;
    int bad = 0;
    memset(c, 0, sizeof *c);
    get_str(doc, "_id", c->id, sizeof c->id, &bad);
    get_str(doc, "name", c->name, sizeof c->name, &bad);
    get_str(doc, "description", c->description, sizeof c->description, &bad);
    if (bson_iter_init_find(&it, doc, "schedule") && BSON_ITER_HOLDS_UTF8(&it)) {
        c->has_schedule = 1;
        get_str(doc, "schedule", c->schedule, sizeof c->schedule, &bad);
    }
    get_str(doc, "join_code", c->join_code, sizeof c->join_code, &bad);
    get_str(doc, "created_by", c->created_by, sizeof c->created_by, &bad);
    c->created_at_ms = get_i64(doc, "created_at_ms", &bad);
    c->updated_at_ms = get_i64(doc, "updated_at_ms", &bad);
    return bad ? BRK_EIO : 0;
}

/* One membership document: the ids, the role and the join time. */
typedef struct member_doc {
    char class_id[CLASS_TOKEN_ID_MAX + 1];
    char account_id[CLASS_TOKEN_ID_MAX + 1];
    class_role_t role;
    int64_t joined_at_ms;
} member_doc_t;

static int read_member(const bson_t *doc, member_doc_t *m)
{
    char role[16];
    int bad = 0;
    memset(m, 0, sizeof *m);
    get_str(doc, "class_id", m->class_id, sizeof m->class_id, &bad);
    get_str(doc, "account_id", m->account_id, sizeof m->account_id, &bad);
    get_str(doc, "role", role, sizeof role, &bad);
    m->joined_at_ms = get_i64(doc, "joined_at_ms", &bad);
    if (!bad && class_role_parse(role, &m->role) != 0)
        bad = 1;
    return bad ? BRK_EIO : 0;
}

static void member_key(char out[MEMBER_KEY_SIZE], const char *class_id, const char *account_id)
{
    snprintf(out, MEMBER_KEY_SIZE, "%s/%s", class_id, account_id);
}

/* ---- queries ---------------------------------------------------------------------------- */

/* Called for each document found: 0 to go on, > 0 to stop there, < 0 for a document that
 * cannot be read (another writer's damage). */
typedef int (*each_fn)(const bson_t *doc, void *ud);

/* Runs find(filter, opts) on coll and calls each for every document. Returns 0, or BRK_EIO
 * when the driver failed or a document could not be read (both logged). */
static int find_each(mongoc_collection_t *coll, const bson_t *filter, const bson_t *opts,
                     each_fn each, void *ud, const char *op)
{
    const bson_t *doc;
    bson_error_t err;
    int rc = 0;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, opts, NULL);
    while (rc == 0 && mongoc_cursor_next(cur, &doc))
        rc = each(doc, ud);
    if (rc < 0)
        rc = corrupt(op);
    else if (mongoc_cursor_error(cur, &err))
        rc = mongo_fail(op, &err);
    else
        rc = 0;
    mongoc_cursor_destroy(cur);
    return rc;
}

typedef struct one {
    int (*read)(const bson_t *doc, void *out);
    void *out;
    int found, rc;
} one_t;

static int on_one(const bson_t *doc, void *ud)
{
    one_t *o = ud;
    o->found = 1;
    o->rc = o->read(doc, o->out);
    return 1; /* one is enough */
}

/* The one document of coll that filter finds, read into out: 0, BRK_ENOTFOUND or BRK_EIO. */
static int find_one(mongoc_collection_t *coll, const bson_t *filter,
                    int (*read)(const bson_t *, void *), void *out, const char *op)
{
    one_t o = {.read = read, .out = out};
    bson_t *opts = BCON_NEW("limit", BCON_INT64(1));
    int rc = find_each(coll, filter, opts, on_one, &o, op);
    bson_destroy(opts);
    if (rc < 0)
        return rc;
    if (!o.found)
        return BRK_ENOTFOUND;
    return o.rc == 0 ? 0 : corrupt(op);
}

static int read_account_v(const bson_t *doc, void *out)
{
    return read_account(doc, out);
}

static int read_class_v(const bson_t *doc, void *out)
{
    return out ? read_class(doc, out) : 0;
}

static int read_member_v(const bson_t *doc, void *out)
{
    return read_member(doc, out);
}

/* update_one(filter, update): 0 when it matched a document, BRK_ENOTFOUND when none, or
 * *err filled and BRK_EIO (the caller tells a duplicate key apart). */
static int update_one(mongoc_collection_t *coll, const bson_t *filter, const bson_t *update,
                      bson_error_t *err)
{
    bson_t reply;
    bson_iter_t it;
    int rc;
    if (!mongoc_collection_update_one(coll, filter, update, NULL, &reply, err))
        rc = BRK_EIO;
    else if (bson_iter_init_find(&it, &reply, "matchedCount") && BSON_ITER_HOLDS_NUMBER(&it))
        rc = bson_iter_as_int64(&it) == 1 ? 0 : BRK_ENOTFOUND;
    else
        rc = BRK_ENOTFOUND;
    bson_destroy(&reply);
    return rc;
}

/* delete_one(filter): 0 when it removed a document, BRK_ENOTFOUND, or BRK_EIO. */
static int delete_one(mongoc_collection_t *coll, const bson_t *filter, const char *op)
{
    bson_t reply;
    bson_iter_t it;
    bson_error_t err;
    int rc;
    if (!mongoc_collection_delete_one(coll, filter, NULL, &reply, &err))
        rc = mongo_fail(op, &err);
    else if (bson_iter_init_find(&it, &reply, "deletedCount") && BSON_ITER_HOLDS_NUMBER(&it))
        rc = bson_iter_as_int64(&it) == 1 ? 0 : BRK_ENOTFOUND;
    else
        rc = BRK_ENOTFOUND;
    bson_destroy(&reply);
    return rc;
}

/* A growing array of fixed-size elements. */
typedef struct vec {
    void *v;
    size_t n, cap, size;
} vec_t;

static void *vec_push(vec_t *a)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 16;
        a->v = brk_realloc(a->v, a->cap * a->size);
    }
    void *p = (char *)a->v + a->n++ * a->size;
    memset(p, 0, a->size);
    return p;
}

static int on_member(const bson_t *doc, void *ud)
{
    member_doc_t *m = vec_push(ud);
    return read_member(doc, m) == 0 ? 0 : BRK_EIO;
}

/* Every membership filter finds into *out (a vec of member_doc_t). 0 or BRK_EIO. */
static int find_members(mongo_db_t *d, const bson_t *filter, vec_t *out, const char *op)
{
    out->size = sizeof(member_doc_t);
    return find_each(d->members, filter, NULL, on_member, out, op);
}

typedef struct counter {
    int n;
} counter_t;

static int on_count(const bson_t *doc, void *ud)
{
    (void)doc;
    ((counter_t *)ud)->n++;
    return 0;
}

/* How many classes account_id belongs to, counted up to CLASS_MAX_PER_ACCOUNT, into *n. */
static int count_classes(mongo_db_t *d, const char *account_id, int *n, const char *op)
{
    counter_t c = {0};
    bson_t *filter = BCON_NEW("account_id", BCON_UTF8(account_id));
    bson_t *opts = BCON_NEW("projection", "{", "_id", BCON_INT32(1), "}", "limit",
                            BCON_INT64(CLASS_MAX_PER_ACCOUNT));
    int rc = find_each(d->members, filter, opts, on_count, &c, op);
    bson_destroy(opts);
    bson_destroy(filter);
    *n = c.n;
    return rc;
}

/* Appends {field: {$in: [ids[0..n)]}} to filter; ids are strings at stride bytes apart. */
static void append_in(bson_t *filter, const char *field, const char *ids, size_t stride, size_t n)
{
    bson_t doc, arr;
    char key[16];
    const char *k;
    BSON_APPEND_DOCUMENT_BEGIN(filter, field, &doc);
    BSON_APPEND_ARRAY_BEGIN(&doc, "$in", &arr);
    for (size_t i = 0; i < n; i++) {
        bson_uint32_to_string((uint32_t)i, &k, key, sizeof key);
        bson_append_utf8(&arr, k, -1, ids + i * stride, -1);
    }
    bson_append_array_end(&doc, &arr);
    bson_append_document_end(filter, &doc);
}

/* ---- set-up and connections ------------------------------------------------------------- */

static int valid_db_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 63 && strpbrk(s, "/\\. \"$") == NULL;
}

static int ensure_indexes(mongo_shared_t *sh, mongoc_client_t *c, bson_error_t *err)
{
    static const struct {
        const char *coll, *key, *name;
        int unique;
    } ix[] = {
        {"accounts", "email", "email_1", 1},
        {"classes", "join_code", "join_code_1", 1},
        {"class_members", "account_id", "account_id_1", 0},
        {"class_members", "class_id", "class_id_1", 0},
    };
    bson_t *ping = BCON_NEW("ping", BCON_INT32(1));
    int ok = mongoc_client_command_simple(c, "admin", ping, NULL, NULL, err);
    bson_destroy(ping);
    mongoc_database_t *db = mongoc_client_get_database(c, sh->db);
    for (size_t i = 0; ok && i < BRK_ARRAY_LEN(ix); i++) {
        /* createIndexes is a no-op for an index that already exists with this spec, so every
         * instance may run it at start. */
        bson_t *cmd = BCON_NEW("createIndexes", BCON_UTF8(ix[i].coll), "indexes", "[", "{", "key",
                               "{", ix[i].key, BCON_INT32(1), "}", "name", BCON_UTF8(ix[i].name),
                               "unique", BCON_BOOL(ix[i].unique != 0), "}", "]");
        ok = mongoc_database_write_command_with_opts(db, cmd, NULL, NULL, err);
        bson_destroy(cmd);
    }
    mongoc_database_destroy(db);
    return ok;
}

static void mo_teardown(void *shared)
{
    mongo_shared_t *sh = shared;
    if (!sh)
        return;
    if (sh->pool)
        mongoc_client_pool_destroy(sh->pool);
    if (sh->uri)
        mongoc_uri_destroy(sh->uri);
    free(sh->db);
    pthread_mutex_destroy(&sh->mu);
    free(sh);
}

static int mo_setup(const acct_backend_conf_t *conf, void **shared, char *err, size_t errlen)
{
    BRK_ASSERT(conf && conf->mongodb_uri && shared);
    bson_error_t berr;
    int rc = BRK_EINVAL;
    *shared = NULL;
    mg_install_log_handler(); /* mongoc_init() once, and the driver's lines into our log */
    mongo_shared_t *sh = brk_calloc(1, sizeof *sh);
    pthread_mutex_init(&sh->mu, NULL);
    sh->uri = mongoc_uri_new_with_error(conf->mongodb_uri, &berr);
    if (!sh->uri) {
        /* The URI itself is never echoed: it may hold a password. */
        snprintf(err, errlen, "invalid ROLLCALL_MONGODB_URI: %.150s", berr.message);
        goto fail;
    }
    const char *from_uri = mongoc_uri_get_database(sh->uri);
    const char *db = conf->mongodb_database && conf->mongodb_database[0] ? conf->mongodb_database
                     : from_uri && from_uri[0]                           ? from_uri
                                                                         : DEFAULT_DATABASE;
    if (!valid_db_name(db)) {
        snprintf(err, errlen, "invalid MongoDB database name in %s",
                 conf->mongodb_database && conf->mongodb_database[0] ? "ROLLCALL_MONGODB_DATABASE"
                                                                     : "ROLLCALL_MONGODB_URI");
        goto fail;
    }
    sh->db = brk_strdup(db);
    int timeout = conf->timeout_ms > 0 ? conf->timeout_ms : DEFAULT_TIMEOUT_MS;
    /* A down server must fail a request fast (the client gets an error and may retry), not
     * after the driver's 30 s default; a URI that sets its own values keeps them. */
    if (!mongoc_uri_has_option(sh->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(sh->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS, timeout);
    if (!mongoc_uri_has_option(sh->uri, MONGOC_URI_CONNECTTIMEOUTMS))
        mongoc_uri_set_option_as_int32(sh->uri, MONGOC_URI_CONNECTTIMEOUTMS, timeout);
    if (!mongoc_uri_has_option(sh->uri, MONGOC_URI_APPNAME))
        mongoc_uri_set_option_as_utf8(sh->uri, MONGOC_URI_APPNAME, "rollcall-accounts");
    sh->pool = mongoc_client_pool_new_with_error(sh->uri, &berr);
    if (!sh->pool) {
        snprintf(err, errlen, "invalid ROLLCALL_MONGODB_URI: %.150s", berr.message);
        goto fail;
    }
    mongoc_client_pool_set_error_api(sh->pool, MONGOC_ERROR_API_VERSION_2);
    /* Every connection keeps its client: a pool smaller than the connections would block the
     * open() past it. One more for this set-up's round trip. */
    unsigned max = conf->max_conns ? conf->max_conns : DEFAULT_MAX_CONNS;
    mongoc_client_pool_max_size(sh->pool, (uint32_t)max + 1);

    /* The indexes first: without the unique ones, two instances could create two accounts
     * with one email. A server that cannot be reached now is tried again before each
     * request (mo_ready), which fails until the indexes exist; refused credentials or a
     * refused command stop the start. */
    mongoc_client_t *c = mongoc_client_pool_pop(sh->pool);
    memset(&berr, 0, sizeof berr);
    int ok = ensure_indexes(sh, c, &berr);
    mongoc_client_pool_push(sh->pool, c);
    if (!ok && berr.domain != MONGOC_ERROR_SERVER_SELECTION &&
        berr.domain != MONGOC_ERROR_STREAM) {
        snprintf(err, errlen, "accounts: MongoDB (database %.63s) failed: %.150s", sh->db,
                 berr.message);
        rc = BRK_EIO;
        goto fail;
    }
    atomic_store(&sh->indexes_ok, ok);
    if (ok)
        LOG(INFO, 0, "accounts on mongodb", "db=%s indexes=ok", sh->db);
    else
        LOG(WARN, 0, "accounts: mongodb unreachable at start; accounts unavailable until it is",
            "db=%s err=\"%.150s\"", sh->db, berr.message);
    *shared = sh;
    return 0;

fail:
    mo_teardown(sh);
    return rc;
}

static void mo_close(void *db)
{
    mongo_db_t *d = db;
    if (!d)
        return;
    mongoc_collection_destroy(d->accounts);
    mongoc_collection_destroy(d->classes);
    mongoc_collection_destroy(d->members);
    mongoc_client_pool_push(d->sh->pool, d->client);
    free(d);
}

static int mo_ready(void *db)
{
    mongo_db_t *d = db;
    mongo_shared_t *sh = d->sh;
    if (atomic_load(&sh->indexes_ok))
        return 0;
    pthread_mutex_lock(&sh->mu);
    int ok = atomic_load(&sh->indexes_ok);
    if (!ok) {
        bson_error_t berr;
        memset(&berr, 0, sizeof berr);
        ok = ensure_indexes(sh, d->client, &berr);
        if (ok)
            LOG(INFO, 0, "accounts on mongodb", "db=%s indexes=ok late=1", sh->db);
        atomic_store(&sh->indexes_ok, ok);
    }
    pthread_mutex_unlock(&sh->mu);
    return ok ? 0 : BRK_EIO;
}

static int mo_open(void *shared, void **db, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    mongo_shared_t *sh = shared;
    mongo_db_t *d = brk_calloc(1, sizeof *d);
    d->sh = sh;
    /* Connects lazily: set-up has just reached the server. */
    d->client = mongoc_client_pool_pop(sh->pool);
    d->accounts = mongoc_client_get_collection(d->client, sh->db, "accounts");
    d->classes = mongoc_client_get_collection(d->client, sh->db, "classes");
    d->members = mongoc_client_get_collection(d->client, sh->db, "class_members");
    *db = d;
    return 0;
}

/* ---- accounts --------------------------------------------------------------------------- */

static int mo_acct_create(void *db, const char *email, const char *name, acct_role_t role,
                          const char *password_hash, acct_t *out)
{
    mongo_db_t *d = db;
    bson_error_t err;
    acct_t a;
    int rc;
    memset(&a, 0, sizeof a);
    if (!email)
        return BRK_EINVAL;
    if ((rc = acct_email_normalize(email, strlen(email), a.email, sizeof a.email)) != 0)
        return rc;
    if ((rc = acct__check_name(name)) != 0 || (rc = acct__check_hash(password_hash)) != 0)
        return rc;
    if ((unsigned)role > ACCT_ROLE_ADMIN)
        return BRK_EINVAL;
    a.role = role;
    if (acct__new_account_id(a.id) != 0)
        return BRK_EIO;
    snprintf(a.name, sizeof a.name, "%s", name);
    snprintf(a.password_hash, sizeof a.password_hash, "%s", password_hash);
    a.created_at_ms = a.updated_at_ms = brk_now_ms();

    bson_t *doc = BCON_NEW(
        "_id", BCON_UTF8(a.id), "email", BCON_UTF8(a.email), "name", BCON_UTF8(a.name), "role",
        BCON_UTF8(acct_role_name(role)), "password_hash", BCON_UTF8(a.password_hash),
        "created_at_ms", BCON_INT64(a.created_at_ms), "updated_at_ms", BCON_INT64(a.updated_at_ms));
    /* The email's unique index is what makes a duplicate impossible even between two
     * instances; the index's name tells it from an id collision (_id, never in practice). */
    if (mongoc_collection_insert_one(d->accounts, doc, NULL, NULL, &err))
        rc = 0;
    else if (dup_on(&err, "email_1"))
        rc = BRK_EEXIST;
    else
        rc = mongo_fail("create", &err);
    /* The document held the hash: wipe our copy of it. */
    explicit_bzero((void *)bson_get_data(doc), doc->len);
    bson_destroy(doc);
    if (rc == 0 && out)
        *out = a;
    explicit_bzero(&a, sizeof a);
    return rc;
}

static int mo_acct_find_by_email(void *db, const char *email, acct_t *out)
{
    mongo_db_t *d = db;
    char norm[ACCT_EMAIL_SIZE];
    if (!email || acct_email_normalize(email, strlen(email), norm, sizeof norm) != 0)
        return BRK_ENOTFOUND;
    bson_t *filter = BCON_NEW("email", BCON_UTF8(norm));
    int rc = find_one(d->accounts, filter, read_account_v, out, "find_by_email");
    bson_destroy(filter);
    return rc;
}

static int mo_acct_find_by_id(void *db, const char *id, acct_t *out)
{
    mongo_db_t *d = db;
    if (!id)
        return BRK_ENOTFOUND;
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
    int rc = find_one(d->accounts, filter, read_account_v, out, "find_by_id");
    bson_destroy(filter);
    return rc;
}

/* $set {field: value, updated_at_ms: now} on the account id. */
static int acct_set(mongo_db_t *d, const char *id, const char *field, const char *value,
                    const char *op)
{
    bson_error_t err;
    if (!id)
        return BRK_ENOTFOUND;
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(id));
    bson_t *update = BCON_NEW("$set", "{", field, BCON_UTF8(value), "updated_at_ms",
                              BCON_INT64(brk_now_ms()), "}");
    int rc = update_one(d->accounts, filter, update, &err);
    if (rc == BRK_EIO)
        rc = mongo_fail(op, &err);
    explicit_bzero((void *)bson_get_data(update), update->len); /* may hold a hash */
    bson_destroy(update);
    bson_destroy(filter);
    return rc;
}

static int mo_acct_update_name(void *db, const char *id, const char *name)
{
    int rc = acct__check_name(name);
    return rc != 0 ? rc : acct_set(db, id, "name", name, "update_name");
}

static int mo_acct_update_password(void *db, const char *id, const char *password_hash)
{
    int rc = acct__check_hash(password_hash);
    return rc != 0 ? rc : acct_set(db, id, "password_hash", password_hash, "update_password");
}

/* ---- classes ---------------------------------------------------------------------------- */

static int get_class(mongo_db_t *d, const char *class_id, class_info_t *out, const char *op)
{
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(class_id));
    int rc = find_one(d->classes, filter, read_class_v, out, op);
    bson_destroy(filter);
    return rc;
}

static int insert_member(mongo_db_t *d, const char *class_id, const char *account_id,
                         class_role_t role, int64_t now, bson_error_t *err)
{
    char key[MEMBER_KEY_SIZE];
    member_key(key, class_id, account_id);
    bson_t *doc = BCON_NEW("_id", BCON_UTF8(key), "class_id", BCON_UTF8(class_id), "account_id",
                           BCON_UTF8(account_id), "role", BCON_UTF8(class_role_name(role)),
                           "joined_at_ms", BCON_INT64(now));
    int ok = mongoc_collection_insert_one(d->members, doc, NULL, NULL, err);
    bson_destroy(doc);
    return ok ? 0 : BRK_EIO;
}

/* Inserts c (every field but id and join_code filled), drawing a fresh id and code for each
 * try until one is free, as the SQLite store does. */
static int insert_class(mongo_db_t *d, class_info_t *c, const char *op)
{
    bson_error_t err;
    int rc = BRK_EIO, i;
    for (i = 0; i < ACCT__CODE_TRIES; i++) {
        if (acct__new_class_id(c->id) != 0 || acct__new_join_code(c->join_code) != 0) {
            LOG(WARN, 0, "accounts mongodb failed", "op=%s reason=\"no random bytes\"", op);
            break;
        }
        bson_t *doc =
            BCON_NEW("_id", BCON_UTF8(c->id), "name", BCON_UTF8(c->name), "description",
                     BCON_UTF8(c->description), "join_code", BCON_UTF8(c->join_code), "created_by",
                     BCON_UTF8(c->created_by), "created_at_ms", BCON_INT64(c->created_at_ms),
                     "updated_at_ms", BCON_INT64(c->updated_at_ms));
        if (c->has_schedule)
            BSON_APPEND_UTF8(doc, "schedule", c->schedule);
        else
            BSON_APPEND_NULL(doc, "schedule");
        int ok = mongoc_collection_insert_one(d->classes, doc, NULL, NULL, &err);
        bson_destroy(doc);
        if (ok) {
            rc = 0;
            break;
        }
        /* The join code's unique index (or, never in practice, the id): draw both again. */
        if (!is_dup(&err)) {
            rc = mongo_fail(op, &err);
            break;
        }
    }
    if (i == ACCT__CODE_TRIES)
        LOG(WARN, 0, "accounts mongodb failed", "op=%s reason=\"no free join code\" tries=%d", op,
            ACCT__CODE_TRIES);
    return rc;
}

/* SQLite writes the class and its teacher's membership in one transaction. Here they are two
 * inserts in order: the class, then the membership; when the second fails, the first is
 * deleted again, so that no class is left without its creator. (A crash between the two
 * leaves such a class: it has no member, so no one lists it, and only all_ids sees it.) The
 * class limit is checked before, not atomically with, the insert: two creations at once by
 * one account at its 63rd class can both pass, and class_ids then reports BRK_EFULL. */
static int mo_class_create(void *db, const char *creator_id, const char *name,
                           const char *description, const char *schedule_json, class_info_t *out)
{
    mongo_db_t *d = db;
    bson_error_t err;
    int rc, n = 0;
    class_info_t *c = NULL;
    if ((rc = acct__new_class(creator_id, name, description, schedule_json, &c)) != 0)
        return rc;

    if ((rc = count_classes(d, creator_id, &n, "create")) == 0 && n >= CLASS_MAX_PER_ACCOUNT)
        rc = BRK_EFULL;
    if (rc == 0)
        rc = insert_class(d, c, "create");
    if (rc == 0 &&
        insert_member(d, c->id, creator_id, CLASS_ROLE_TEACHER, c->created_at_ms, &err) != 0) {
        rc = mongo_fail("create", &err);
        bson_t *filter = BCON_NEW("_id", BCON_UTF8(c->id));
        if (delete_one(d->classes, filter, "create") == BRK_EIO)
            LOG(WARN, 0, "accounts mongodb: a class without its teacher remains", "class=%s",
                c->id);
        bson_destroy(filter);
    }
    if (rc == 0 && out)
        *out = *c;
    free(c);
    return rc;
}

static int mo_class_get(void *db, const char *class_id, class_info_t *out)
{
    if (!class_id)
        return BRK_ENOTFOUND;
    return get_class(db, class_id, out, "get");
}

static int mo_class_find_by_code(void *db, const char *code, class_info_t *out)
{
    mongo_db_t *d = db;
    char norm[CLASS_CODE_SIZE];
    if (class_code_normalize(code, norm, sizeof norm) != 0)
        return BRK_ENOTFOUND;
    bson_t *filter = BCON_NEW("join_code", BCON_UTF8(norm));
    int rc = find_one(d->classes, filter, read_class_v, out, "find_by_code");
    bson_destroy(filter);
    return rc;
}

/* One $set of the fields given; then the class as it now is (a second read: another writer
 * may come between, as it could not in SQLite's transaction; what is returned is then that
 * writer's, which is as current). */
static int mo_class_update(void *db, const char *class_id, const char *name,
                           const char *description, const char *schedule_json, int clear_schedule,
                           class_info_t *out)
{
    mongo_db_t *d = db;
    bson_error_t err;
    bson_t set;
    int rc;
    if (clear_schedule && schedule_json)
        return BRK_EINVAL;
    if ((rc = acct__check_class_fields(name, description, schedule_json)) != 0)
        return rc;
    if (!class_id)
        return BRK_ENOTFOUND;
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(class_id));
    bson_t *update = bson_new();
    BSON_APPEND_DOCUMENT_BEGIN(update, "$set", &set);
    if (name)
        BSON_APPEND_UTF8(&set, "name", name);
    if (description)
        BSON_APPEND_UTF8(&set, "description", description);
    if (clear_schedule)
        BSON_APPEND_NULL(&set, "schedule");
    else if (schedule_json)
        BSON_APPEND_UTF8(&set, "schedule", schedule_json);
    BSON_APPEND_INT64(&set, "updated_at_ms", brk_now_ms());
    bson_append_document_end(update, &set);
    rc = update_one(d->classes, filter, update, &err);
    if (rc == BRK_EIO)
        rc = mongo_fail("update", &err);
    if (rc == 0 && out)
        rc = get_class(d, class_id, out, "update");
    bson_destroy(update);
    bson_destroy(filter);
    return rc;
}

static int mo_class_regenerate_code(void *db, const char *class_id, char *code, size_t codelen)
{
    BRK_ASSERT(code && codelen >= CLASS_CODE_SIZE);
    mongo_db_t *d = db;
    char fresh[CLASS_CODE_SIZE] = "";
    bson_error_t err;
    int rc, i;
    code[0] = '\0';
    if (!class_id)
        return BRK_ENOTFOUND;
    /* The current code, so that the new one is sure to differ from it: the same code again
     * would pass the unique index (same document) and leave the old code working. */
    class_info_t *c = brk_malloc(sizeof *c);
    if ((rc = get_class(d, class_id, c, "regenerate_code")) != 0)
        goto cleanup;
    bson_t *filter = BCON_NEW("_id", BCON_UTF8(class_id));
    rc = BRK_EIO;
    for (i = 0; i < ACCT__CODE_TRIES; i++) {
        if (acct__new_join_code(fresh) != 0) {
            LOG(WARN, 0, "accounts mongodb failed",
                "op=regenerate_code reason=\"no random bytes\"");
            break;
        }
        if (strcmp(fresh, c->join_code) == 0)
            continue;
        bson_t *update = BCON_NEW("$set", "{", "join_code", BCON_UTF8(fresh), "updated_at_ms",
                                  BCON_INT64(brk_now_ms()), "}");
        rc = update_one(d->classes, filter, update, &err);
        bson_destroy(update);
        if (rc != BRK_EIO)
            break; /* done, or the class went meanwhile (BRK_ENOTFOUND) */
        if (!is_dup(&err)) {
            rc = mongo_fail("regenerate_code", &err);
            break;
        }
    }
    if (i == ACCT__CODE_TRIES)
        LOG(WARN, 0, "accounts mongodb failed",
            "op=regenerate_code reason=\"no free join code\" tries=%d", ACCT__CODE_TRIES);
    bson_destroy(filter);
cleanup:
    free(c);
    if (rc == 0)
        memcpy(code, fresh, sizeof fresh);
    return rc;
}

/* The role of account_id in class_id into *role (may be NULL): 0 or BRK_ENOTFOUND. */
static int find_role(mongo_db_t *d, const char *class_id, const char *account_id,
                     class_role_t *role, const char *op)
{
    member_doc_t m;
    bson_t *filter = BCON_NEW("class_id", BCON_UTF8(class_id), "account_id", BCON_UTF8(account_id));
    int rc = find_one(d->members, filter, read_member_v, &m, op);
    bson_destroy(filter);
    if (rc == 0 && role)
        *role = m.role;
    return rc;
}

/* The checks SQLite makes inside its transaction (the class exists, no membership yet, the
 * account under its limit) are made here before the insert. The member's _id keeps a second
 * membership out even when two adds race; the limit can be passed by one in such a race
 * (see mo_class_create). */
static int mo_class_add_member(void *db, const char *class_id, const char *account_id,
                               class_role_t role, class_role_t *existing)
{
    mongo_db_t *d = db;
    bson_error_t err;
    int rc, n = 0;
    if (!acct__member_id_ok(account_id) || (unsigned)role > CLASS_ROLE_TEACHER)
        return BRK_EINVAL;
    if (!class_id)
        return BRK_ENOTFOUND;
    rc = get_class(d, class_id, NULL, "add_member");
    if (rc == 0) {
        rc = find_role(d, class_id, account_id, existing, "add_member");
        if (rc == 0)
            rc = BRK_EEXIST;
        else if (rc == BRK_ENOTFOUND)
            rc = 0;
    }
    if (rc == 0 && (rc = count_classes(d, account_id, &n, "add_member")) == 0 &&
        n >= CLASS_MAX_PER_ACCOUNT)
        rc = BRK_EFULL;
    if (rc != 0)
        return rc;
    if (insert_member(d, class_id, account_id, role, brk_now_ms(), &err) == 0)
        return 0;
    if (!is_dup(&err))
        return mongo_fail("add_member", &err);
    /* Another add of the same membership came first. */
    rc = find_role(d, class_id, account_id, existing, "add_member");
    return rc == 0 ? BRK_EEXIST : rc == BRK_ENOTFOUND ? BRK_EIO : rc;
}

static int mo_class_remove_member(void *db, const char *class_id, const char *account_id)
{
    mongo_db_t *d = db;
    if (!class_id || !account_id)
        return BRK_ENOTFOUND;
    bson_t *filter = BCON_NEW("class_id", BCON_UTF8(class_id), "account_id", BCON_UTF8(account_id));
    int rc = delete_one(d->members, filter, "remove_member");
    bson_destroy(filter);
    return rc;
}

static int mo_class_membership(void *db, const char *class_id, const char *account_id,
                               class_role_t *role)
{
    if (!class_id || !account_id)
        return BRK_ENOTFOUND;
    return find_role(db, class_id, account_id, role, "membership");
}

static int cmp_membership(const void *pa, const void *pb)
{
    const class_membership_t *a = pa, *b = pb;
    int c = acct__name_cmp(a->cls.name, b->cls.name);
    return c ? c : strcmp(a->cls.id, b->cls.id);
}

typedef struct class_join {
    const member_doc_t *m; /* sorted by class_id */
    size_t nm;
    vec_t *out; /* class_membership_t */
    int bad;
} class_join_t;

static int cmp_member_class(const void *pa, const void *pb)
{
    return strcmp(((const member_doc_t *)pa)->class_id, ((const member_doc_t *)pb)->class_id);
}

static int on_class_of_member(const bson_t *doc, void *ud)
{
    class_join_t *j = ud;
    class_info_t *c = brk_malloc(sizeof *c);
    int rc = read_class(doc, c);
    if (rc == 0) {
        member_doc_t key;
        snprintf(key.class_id, sizeof key.class_id, "%s", c->id);
        const member_doc_t *m = bsearch(&key, j->m, j->nm, sizeof *j->m, cmp_member_class);
        if (m) {
            class_membership_t *cm = vec_push(j->out);
            cm->cls = *c;
            cm->role = m->role;
            cm->joined_at_ms = m->joined_at_ms;
        }
    }
    free(c);
    return rc;
}

/* The account's memberships, then their classes in one $in query (an account has at most
 * CLASS_MAX_PER_ACCOUNT); a membership whose class is gone is left out, as SQLite's join
 * leaves it out. Sorted here as the SQLite store's ORDER BY sorts. */
static int mo_class_list_for_account(void *db, const char *account_id, class_membership_t **out,
                                     size_t *n)
{
    BRK_ASSERT(out && n);
    mongo_db_t *d = db;
    vec_t members = {0}, list = {.size = sizeof(class_membership_t)};
    int rc;
    *out = NULL;
    *n = 0;
    if (!account_id)
        return 0;
    bson_t *filter = BCON_NEW("account_id", BCON_UTF8(account_id));
    rc = find_members(d, filter, &members, "list_for_account");
    bson_destroy(filter);
    if (rc == 0 && members.n > 0) {
        qsort(members.v, members.n, sizeof(member_doc_t), cmp_member_class);
        class_join_t j = {.m = members.v, .nm = members.n, .out = &list};
        for (size_t i = 0; rc == 0 && i < members.n; i += IN_BATCH) {
            size_t k = members.n - i < IN_BATCH ? members.n - i : IN_BATCH;
            bson_t q = BSON_INITIALIZER;
            append_in(&q, "_id", ((member_doc_t *)members.v)[i].class_id, sizeof(member_doc_t), k);
            rc = find_each(d->classes, &q, NULL, on_class_of_member, &j, "list_for_account");
            bson_destroy(&q);
        }
    }
    if (rc != 0) {
        free(list.v);
    } else {
        if (list.n > 1)
            qsort(list.v, list.n, sizeof(class_membership_t), cmp_membership);
        *out = list.n ? list.v : NULL;
        *n = list.n;
        if (!list.n)
            free(list.v);
    }
    free(members.v);
    return rc;
}

static int cmp_roster(const void *pa, const void *pb)
{
    const class_member_t *a = pa, *b = pb;
    if (a->role != b->role)
        return a->role == CLASS_ROLE_TEACHER ? -1 : 1;
    int c = acct__name_cmp(a->name, b->name);
    return c ? c : strcmp(a->account_id, b->account_id);
}

static int cmp_roster_id(const void *pa, const void *pb)
{
    return strcmp(((const class_member_t *)pa)->account_id,
                  ((const class_member_t *)pb)->account_id);
}

typedef struct roster_join {
    class_member_t *m; /* sorted by account_id */
    size_t nm;
} roster_join_t;

static int on_member_account(const bson_t *doc, void *ud)
{
    roster_join_t *j = ud;
    acct_t *a = brk_malloc(sizeof *a);
    int rc = read_account(doc, a);
    if (rc == 0) {
        class_member_t key;
        snprintf(key.account_id, sizeof key.account_id, "%s", a->id);
        class_member_t *m = bsearch(&key, j->m, j->nm, sizeof *j->m, cmp_roster_id);
        if (m) {
            snprintf(m->name, sizeof m->name, "%s", a->name);
            snprintf(m->email, sizeof m->email, "%s", a->email);
        }
    }
    explicit_bzero(a, sizeof *a);
    free(a);
    return rc;
}

/* The class (BRK_ENOTFOUND without it), its memberships, then their accounts' names and
 * emails by $in in batches of IN_BATCH; a member without an account stays on the roster,
 * nameless, as with SQLite's outer join. Three reads, not SQLite's one snapshot: a member
 * added meanwhile may or may not appear, as if the roster were read a moment earlier or
 * later. */
static int mo_class_roster(void *db, const char *class_id, class_member_t **out, size_t *n)
{
    BRK_ASSERT(out && n);
    mongo_db_t *d = db;
    vec_t members = {0};
    class_member_t *arr = NULL;
    int rc;
    *out = NULL;
    *n = 0;
    if (!class_id)
        return BRK_ENOTFOUND;
    if ((rc = get_class(d, class_id, NULL, "roster")) != 0)
        return rc;
    bson_t *filter = BCON_NEW("class_id", BCON_UTF8(class_id));
    rc = find_members(d, filter, &members, "roster");
    bson_destroy(filter);
    if (rc != 0 || members.n == 0)
        goto cleanup;
    arr = brk_calloc(members.n, sizeof *arr);
    for (size_t i = 0; i < members.n; i++) {
        const member_doc_t *m = &((const member_doc_t *)members.v)[i];
        memcpy(arr[i].account_id, m->account_id, sizeof arr[i].account_id);
        arr[i].role = m->role;
        arr[i].joined_at_ms = m->joined_at_ms;
    }
    qsort(arr, members.n, sizeof *arr, cmp_roster_id);
    roster_join_t j = {.m = arr, .nm = members.n};
    for (size_t i = 0; rc == 0 && i < members.n; i += IN_BATCH) {
        size_t k = members.n - i < IN_BATCH ? members.n - i : IN_BATCH;
        bson_t q = BSON_INITIALIZER;
        append_in(&q, "_id", arr[i].account_id, sizeof *arr, k);
        rc = find_each(d->accounts, &q, NULL, on_member_account, &j, "roster");
        bson_destroy(&q);
    }
    if (rc != 0)
        goto cleanup;
    qsort(arr, members.n, sizeof *arr, cmp_roster);
    *out = arr;
    *n = members.n;
    arr = NULL;
cleanup:
    free(arr);
    free(members.v);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

typedef struct id_list {
    vec_t v; /* class_uid_t */
    const char *field;
} id_list_t;

static int on_id(const bson_t *doc, void *ud)
{
    id_list_t *l = ud;
    int bad = 0;
    class_uid_t *u = vec_push(&l->v);
    get_str(doc, l->field, u->id, sizeof u->id, &bad);
    return bad ? BRK_EIO : 0;
}

/* The string field of every document filter finds in coll, sorted by strcmp(). */
static int find_ids(mongoc_collection_t *coll, const bson_t *filter, const char *field,
                    id_list_t *l, const char *op)
{
    l->v.size = sizeof(class_uid_t);
    l->field = field;
    bson_t *opts = BCON_NEW("projection", "{", field, BCON_INT32(1), "}");
    int rc = find_each(coll, filter, opts, on_id, l, op);
    bson_destroy(opts);
    if (rc != 0)
        return rc;
    if (l->v.n > 1)
        qsort(l->v.v, l->v.n, sizeof(class_uid_t), cmp_str);
    return 0;
}

static int mo_class_class_ids(void *db, const char *account_id,
                              char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1], int *n)
{
    BRK_ASSERT(ids && n);
    mongo_db_t *d = db;
    id_list_t l = {0};
    *n = 0;
    if (!account_id)
        return 0;
    bson_t *filter = BCON_NEW("account_id", BCON_UTF8(account_id));
    int rc = find_ids(d->members, filter, "class_id", &l, "class_ids");
    bson_destroy(filter);
    if (rc == 0) {
        size_t count = l.v.n;
        if (count > CLASS_MAX_PER_ACCOUNT) {
            /* Only a race past add_member's limit (see mo_class_create) gets here. */
            LOG(WARN, 0, "accounts mongodb: account over the class limit", "limit=%d",
                CLASS_MAX_PER_ACCOUNT);
            count = CLASS_MAX_PER_ACCOUNT;
            rc = BRK_EFULL;
        }
        for (size_t i = 0; i < count; i++)
            memcpy(ids[i], ((class_uid_t *)l.v.v)[i].id, CLASS_TOKEN_ID_MAX + 1);
        *n = (int)count;
    }
    free(l.v.v);
    return rc;
}

/* Returns the list in *out (NULL when empty) or frees it on failure. */
static int give_ids(id_list_t *l, int rc, class_uid_t **out, size_t *n)
{
    if (rc == 0 && l->v.n > 0) {
        *out = l->v.v;
        *n = l->v.n;
    } else {
        free(l->v.v);
    }
    return rc;
}

static int mo_class_student_ids(void *db, const char *class_id, class_uid_t **out, size_t *n)
{
    BRK_ASSERT(out && n);
    mongo_db_t *d = db;
    id_list_t l = {0};
    *out = NULL;
    *n = 0;
    if (!class_id)
        return BRK_ENOTFOUND;
    int rc = get_class(d, class_id, NULL, "student_ids");
    if (rc != 0)
        return rc;
    bson_t *filter = BCON_NEW("class_id", BCON_UTF8(class_id), "role",
                              BCON_UTF8(class_role_name(CLASS_ROLE_STUDENT)));
    rc = find_ids(d->members, filter, "account_id", &l, "student_ids");
    bson_destroy(filter);
    return give_ids(&l, rc, out, n);
}

static int mo_class_all_ids(void *db, class_uid_t **out, size_t *n)
{
    BRK_ASSERT(out && n);
    mongo_db_t *d = db;
    id_list_t l = {0};
    bson_t filter = BSON_INITIALIZER;
    *out = NULL;
    *n = 0;
    int rc = find_ids(d->classes, &filter, "_id", &l, "all_ids");
    bson_destroy(&filter);
    return give_ids(&l, rc, out, n);
}

const acct_backend_ops_t acct_backend_mongo = {
    .name = "mongodb",
    .setup = mo_setup,
    .teardown = mo_teardown,
    .open = mo_open,
    .close = mo_close,
    .ready = mo_ready,
    .acct_create = mo_acct_create,
    .acct_find_by_email = mo_acct_find_by_email,
    .acct_find_by_id = mo_acct_find_by_id,
    .acct_update_name = mo_acct_update_name,
    .acct_update_password = mo_acct_update_password,
    .class_create = mo_class_create,
    .class_get = mo_class_get,
    .class_find_by_code = mo_class_find_by_code,
    .class_update = mo_class_update,
    .class_regenerate_code = mo_class_regenerate_code,
    .class_add_member = mo_class_add_member,
    .class_remove_member = mo_class_remove_member,
    .class_membership = mo_class_membership,
    .class_list_for_account = mo_class_list_for_account,
    .class_roster = mo_class_roster,
    .class_class_ids = mo_class_class_ids,
    .class_student_ids = mo_class_student_ids,
    .class_all_ids = mo_class_all_ids,
};

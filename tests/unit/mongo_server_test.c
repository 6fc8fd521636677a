/* SPDX-License-Identifier: MIT */
/* The wire-protocol test server speaks the protocol the way libmongoc 1.23 expects: these
 * tests drive it with the driver itself (handshake, insert, find, unique violation, upsert,
 * outage, dropped replies, write errors, refused authentication). */
#include "mongo_server.h"
#include "test.h"

#include <mongoc/mongoc.h>
#include <unistd.h>

static mongo_server_t *srv;
static mongoc_client_t *cli;

static void quiet_log(mongoc_log_level_t l, const char *d, const char *m, void *u)
{
    (void)l, (void)d, (void)m, (void)u;
}

static mongoc_client_t *client_for(const char *userinfo)
{
    char uri[256];
    snprintf(uri, sizeof uri,
             "mongodb://%s127.0.0.1:%d/?serverSelectionTimeoutMS=400&connectTimeoutMS=400"
             "&serverSelectionTryOnce=false",
             userinfo, mongo_server_port(srv));
    mongoc_client_t *c = mongoc_client_new(uri);
    ASSERT_NOT_NULL(c);
    mongoc_client_set_error_api(c, MONGOC_ERROR_API_VERSION_2);
    return c;
}

static void setup(void)
{
    ASSERT_EQ(mongo_server_start(0, &srv), 0);
    cli = client_for("");
}

static void teardown(void)
{
    mongoc_client_destroy(cli);
    cli = NULL;
    mongo_server_free(srv);
    srv = NULL;
}

static int ping(mongoc_client_t *c, bson_error_t *err)
{
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    bool ok = mongoc_client_command_simple(c, "admin", cmd, NULL, NULL, err);
    bson_destroy(cmd);
    return ok;
}

static void test_handshake_op_query_then_op_msg(void)
{
    setup();
    bson_error_t err;
    ASSERT(ping(cli, &err));
    uint64_t q, m;
    mongo_server_opcounts(srv, &q, &m);
    /* The handshake came as a legacy OP_QUERY; the ping itself as OP_MSG. */
    ASSERT(q >= 1);
    ASSERT(m >= 1);
    /* Every connection (the monitor's and the one for commands) opened with OP_QUERY. */
    uint64_t fq, fm;
    mongo_server_first_opcodes(srv, &fq, &fm);
    ASSERT(fq >= 1);
    ASSERT_EQ(fm, 0);
    ASSERT(q <= fq); /* OP_QUERY only for those first messages */
    ASSERT(mongo_server_commands(srv, "isMaster") + mongo_server_commands(srv, "hello") >= 1);
    ASSERT_EQ(mongo_server_commands(srv, "ping"), 1);
    teardown();
}

static void test_insert_find_unique(void)
{
    setup();
    bson_error_t err;
    mongoc_collection_t *c = mongoc_client_get_collection(cli, "db1", "people");
    bson_t *idx = BCON_NEW("createIndexes", BCON_UTF8("people"), "indexes", "[", "{", "key", "{",
                           "name", BCON_INT32(1), "}", "name", BCON_UTF8("name_1"), "unique",
                           BCON_BOOL(true), "}", "]");
    ASSERT(mongoc_collection_write_command_with_opts(c, idx, NULL, NULL, &err));
    bson_destroy(idx);

    bson_t *a = BCON_NEW("name", BCON_UTF8("ann"), "age", BCON_INT32(30));
    bson_t *b = BCON_NEW("name", BCON_UTF8("ben"), "when", BCON_DATE_TIME(1700000000000));
    ASSERT(mongoc_collection_insert_one(c, a, NULL, NULL, &err));
    ASSERT(mongoc_collection_insert_one(c, b, NULL, NULL, &err));
    /* A second "ann" violates the unique index: error 11000, nothing stored. */
    ASSERT(!mongoc_collection_insert_one(c, a, NULL, NULL, &err));
    ASSERT_EQ(err.code, 11000);
    ASSERT_EQ(mongo_server_count(srv, "db1", "people"), 2);

    bson_t *filter = BCON_NEW("name", BCON_UTF8("ben"));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c, filter, NULL, NULL);
    const bson_t *doc;
    int n = 0;
    while (mongoc_cursor_next(cur, &doc)) {
        bson_iter_t it;
        ASSERT(bson_iter_init_find(&it, doc, "when"));
        ASSERT(BSON_ITER_HOLDS_DATE_TIME(&it));
        ASSERT_EQ(bson_iter_date_time(&it), 1700000000000LL);
        ASSERT(bson_iter_init_find(&it, doc, "_id"));
        ASSERT(BSON_ITER_HOLDS_OID(&it));
        n++;
    }
    ASSERT(!mongoc_cursor_error(cur, &err));
    ASSERT_EQ(n, 1);
    mongoc_cursor_destroy(cur);

    /* listIndexes shows the unique index. */
    mongoc_cursor_t *ix = mongoc_collection_find_indexes_with_opts(c, NULL);
    int unique = 0;
    while (mongoc_cursor_next(ix, &doc)) {
        bson_iter_t it;
        if (bson_iter_init_find(&it, doc, "unique") && bson_iter_as_bool(&it))
            unique++;
    }
    mongoc_cursor_destroy(ix);
    ASSERT_EQ(unique, 1);

    bson_destroy(filter);
    bson_destroy(a);
    bson_destroy(b);
    mongoc_collection_destroy(c);
    teardown();
}

static void test_upsert_replace_is_idempotent(void)
{
    setup();
    bson_error_t err;
    mongoc_collection_t *c = mongoc_client_get_collection(cli, "db1", "att");
    bson_t *q = BCON_NEW("k", BCON_UTF8("x"));
    bson_t *u = BCON_NEW("k", BCON_UTF8("x"), "v", BCON_DOUBLE(1.5));
    bson_t *opts = BCON_NEW("upsert", BCON_BOOL(true));
    for (int i = 0; i < 3; i++) {
        bson_t reply;
        ASSERT(mongoc_collection_replace_one(c, q, u, opts, &reply, &err));
        bson_destroy(&reply);
    }
    ASSERT_EQ(mongo_server_count(srv, "db1", "att"), 1);
    /* A bulk of upserts goes out as an OP_MSG document sequence. */
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(c, NULL);
    bson_t *q2 = BCON_NEW("k", BCON_UTF8("y"));
    ASSERT(mongoc_bulk_operation_replace_one_with_opts(bulk, q, u, opts, &err));
    ASSERT(mongoc_bulk_operation_replace_one_with_opts(bulk, q2, u, opts, &err));
    bson_t reply;
    /* The second replacement would give "y" the value "x" again: a unique conflict only
     * with an index; without one it just stores a second document. */
    ASSERT(mongoc_bulk_operation_execute(bulk, &reply, &err));
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    ASSERT_EQ(mongo_server_count(srv, "db1", "att"), 2);
    bson_destroy(q2);
    bson_destroy(q);
    bson_destroy(u);
    bson_destroy(opts);
    mongoc_collection_destroy(c);
    teardown();
}

static void test_down_refuses_then_recovers(void)
{
    setup();
    bson_error_t err;
    ASSERT(ping(cli, &err));
    ASSERT_EQ(mongo_server_set_down(srv, 1), 0);
    ASSERT(!ping(cli, &err));
    ASSERT_EQ(mongo_server_set_down(srv, 0), 0);
    int ok = 0;
    for (int i = 0; i < 20 && !ok; i++) {
        ok = ping(cli, &err);
        if (!ok)
            usleep(100 * 1000);
    }
    ASSERT(ok);
    teardown();
}

static void test_drop_applies_but_no_reply(void)
{
    setup();
    bson_error_t err;
    ASSERT(ping(cli, &err));
    mongoc_collection_t *c = mongoc_client_get_collection(cli, "db1", "t");
    bson_t *d = BCON_NEW("a", BCON_INT32(1));
    mongo_server_drop_next(srv, 1, "insert");
    ASSERT(!mongoc_collection_insert_one(c, d, NULL, NULL, &err));
    ASSERT_EQ(mongo_server_count(srv, "db1", "t"), 1); /* applied, reply lost */
    bson_destroy(d);
    mongoc_collection_destroy(c);
    teardown();
}

static void test_write_errors(void)
{
    setup();
    bson_error_t err;
    mongoc_collection_t *c = mongoc_client_get_collection(cli, "db1", "t");
    bson_t *d = BCON_NEW("a", BCON_INT32(1));
    mongo_server_write_errors(srv, 121, "Document failed validation", 2);
    ASSERT(!mongoc_collection_insert_one(c, d, NULL, NULL, &err));
    ASSERT_EQ(err.code, 121);
    ASSERT(strstr(err.message, "Document failed validation") != NULL);
    ASSERT(!mongoc_collection_insert_one(c, d, NULL, NULL, &err));
    ASSERT(mongoc_collection_insert_one(c, d, NULL, NULL, &err));
    ASSERT_EQ(mongo_server_count(srv, "db1", "t"), 1);
    bson_destroy(d);
    mongoc_collection_destroy(c);
    teardown();
}

static void test_auth_refused(void)
{
    setup();
    mongo_server_require_auth(srv, 1);
    mongoc_client_t *c = client_for("user:wrong@");
    bson_error_t err;
    ASSERT(!ping(c, &err));
    ASSERT_EQ(err.domain, MONGOC_ERROR_CLIENT);
    ASSERT_EQ(err.code, MONGOC_ERROR_CLIENT_AUTHENTICATE);
    mongoc_client_destroy(c);
    teardown();
}

static void test_large_bulk_document_sequence(void)
{
    setup();
    bson_error_t err;
    mongoc_collection_t *c = mongoc_client_get_collection(cli, "db1", "many");
    mongoc_bulk_operation_t *bulk = mongoc_collection_create_bulk_operation_with_opts(c, NULL);
    for (int i = 0; i < 1500; i++) {
        bson_t *d = BCON_NEW("i", BCON_INT32(i));
        mongoc_bulk_operation_insert(bulk, d);
        bson_destroy(d);
    }
    bson_t reply;
    ASSERT(mongoc_bulk_operation_execute(bulk, &reply, &err));
    bson_destroy(&reply);
    mongoc_bulk_operation_destroy(bulk);
    ASSERT_EQ(mongo_server_count(srv, "db1", "many"), 1500);
    mongoc_collection_destroy(c);
    teardown();
}

static const test_case_t tests[] = {
    {"large_bulk_document_sequence", test_large_bulk_document_sequence},
    {"handshake_op_query_then_op_msg", test_handshake_op_query_then_op_msg},
    {"insert_find_unique", test_insert_find_unique},
    {"upsert_replace_is_idempotent", test_upsert_replace_is_idempotent},
    {"down_refuses_then_recovers", test_down_refuses_then_recovers},
    {"drop_applies_but_no_reply", test_drop_applies_but_no_reply},
    {"write_errors", test_write_errors},
    {"auth_refused", test_auth_refused},
};

int main(void)
{
    mongoc_init();
    mongoc_log_set_handler(quiet_log, NULL);
    int rc = test_run_all(tests, sizeof tests / sizeof tests[0]);
    mongoc_cleanup();
    return rc;
}

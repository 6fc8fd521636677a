/* SPDX-License-Identifier: MIT */
/* Test helper: a small MongoDB wire-protocol server on libbson, for tests only. It answers
 * libmongoc's handshake (a legacy OP_QUERY isMaster/hello answered with OP_REPLY, then
 * OP_MSG), and the commands the broker's sink and the accounts backend send: insert, update
 * (replacement and $set, with upsert), delete, find (equality and $in filters, one sort key),
 * getMore, killCursors,
 * createIndexes, listIndexes, drop, dropDatabase, ping, buildInfo, endSessions. Documents
 * live in memory; unique indexes are enforced (E11000). Faults on request: down (the
 * listener is closed, so connects are refused, and open connections are cut), drop (the
 * next commands are applied but the connection is closed instead of the reply), delay,
 * write errors, and refused authentication.
 *
 * One thread serves every connection (poll). Every function below is thread-safe and may
 * be called from any thread other than the server's own. Blocking; tests only. */
#ifndef RC_TEST_MONGO_SERVER_H
#define RC_TEST_MONGO_SERVER_H

#include <bson/bson.h>
#include <stdint.h>

typedef struct mongo_server mongo_server_t;

/* Listens on 127.0.0.1:port (0 = a free port) and starts the server thread. Returns 0 and
 * *out, or -1 (reason on stderr). */
int mongo_server_start(int port, mongo_server_t **out);

/* Stops the thread, closes every socket and frees everything. */
void mongo_server_free(mongo_server_t *s);

int mongo_server_port(const mongo_server_t *s);

/* down = 1: close the listener and every connection (clients get ECONNREFUSED);
 * down = 0: listen again on the same port. Returns 0, or -1 when the port cannot be bound. */
int mongo_server_set_down(mongo_server_t *s, int down);

/* The next n data commands (anything but the handshake, ping and session commands) named
 * only (any when NULL) are carried out, but the connection is closed instead of sending the
 * reply. */
void mongo_server_drop_next(mongo_server_t *s, int n, const char *only);

/* Every reply is delayed by ms milliseconds (0 = none). */
void mongo_server_set_delay(mongo_server_t *s, int ms);

/* The next n insert/update commands (n < 0: all until cleared with n = 0) fail as a whole
 * with a write error {index 0, code, errmsg} and change nothing. */
void mongo_server_write_errors(mongo_server_t *s, int code, const char *errmsg, int n);

/* When on, the handshake offers SCRAM mechanisms, saslStart fails with code 18
 * (AuthenticationFailed) and every other command fails with 13 (Unauthorized). */
void mongo_server_require_auth(mongo_server_t *s, int on);

/* Copies of the documents of db.coll (every database when db is NULL) as the elements of a
 * new array document, in insertion order. The caller owns it (bson_destroy). */
bson_t *mongo_server_docs(mongo_server_t *s, const char *db, const char *coll);

/* Number of documents in db.coll (every database when db is NULL). */
int mongo_server_count(mongo_server_t *s, const char *db, const char *coll);

/* How many commands named name were received (e.g. "update", "hello", "isMaster"). */
uint64_t mongo_server_commands(mongo_server_t *s, const char *name);

/* How many requests arrived as OP_QUERY and as OP_MSG. */
void mongo_server_opcounts(mongo_server_t *s, uint64_t *op_query, uint64_t *op_msg);

/* How many connections opened with an OP_QUERY and how many with an OP_MSG. */
void mongo_server_first_opcodes(mongo_server_t *s, uint64_t *op_query, uint64_t *op_msg);

/* Writes every document of every collection to f, one canonical extended JSON line each:
 * {"db": "...", "coll": "...", "doc": {...}}. */
void mongo_server_dump_json(mongo_server_t *s, FILE *f);

#endif

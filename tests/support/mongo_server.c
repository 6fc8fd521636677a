/* SPDX-License-Identifier: MIT */
/* The MongoDB wire-protocol test server: framing (OP_QUERY/OP_REPLY, OP_MSG), a command
 * dispatcher over an in-memory document store, and fault injection. One poll() thread; a
 * mutex guards the store and the fault settings so tests may inspect and steer it from
 * their own thread; a self-pipe wakes the poll when the listener must close or reopen. */
#include "mongo_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define OP_REPLY 1
#define OP_QUERY 2004
#define OP_MSG 2013
#define MAX_CONNS 64
#define MAX_MSG (48 * 1000 * 1000)
#define MAX_NAMES 64

typedef struct uindex {
    char name[64];
    bson_t *key; /* {field: 1, ...} */
    int unique;
} uindex_t;

typedef struct coll {
    struct coll *next;
    char db[64], name[64];
    bson_t **docs;
    size_t n, cap;
    uindex_t idx[8];
    size_t nidx;
} coll_t;

typedef struct conn {
    int fd;
    uint64_t nmsgs; /* messages handled on this connection */
    uint8_t *buf;
    size_t len, cap;
} mconn_t;

struct mongo_server {
    pthread_t thread;
    pthread_mutex_t mu;
    int port;
    int lfd;                  /* listener, -1 while down (under mu) */
    int wake[2];              /* self-pipe */
    int stopping;             /* under mu */
    int want_down;            /* under mu: the server thread closes connections when it sees it */
    mconn_t conns[MAX_CONNS]; /* server thread only */
    int32_t next_request_id;
    int64_t next_conn_id;

    /* Under mu. */
    coll_t *colls;
    int drop_n, delay_ms, werr_n, werr_code, auth;
    char drop_only[32];
    char werr_msg[128];
    struct {
        char name[32];
        uint64_t n;
    } counts[MAX_NAMES];
    uint64_t op_query, op_msg;
    uint64_t first_query, first_msg; /* connections whose first message was OP_QUERY/OP_MSG */
};

/* ---- sockets --------------------------------------------------------------------------- */

static int listen_on(int port, int *out_port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    socklen_t alen = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(fd, 64) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &alen) != 0) {
        close(fd);
        return -1;
    }
    *out_port = ntohs(a.sin_port);
    return fd;
}

static void wake(mongo_server_t *s)
{
    char c = 1;
    ssize_t rc = write(s->wake[1], &c, 1);
    (void)rc;
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void conn_close(mconn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    c->nmsgs = 0;
}

/* ---- little-endian helpers -------------------------------------------------------------- */

static int32_t rd32(const uint8_t *p)
{
    return (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                     (uint32_t)p[3] << 24);
}

static void wr32(uint8_t *p, int32_t v)
{
    uint32_t u = (uint32_t)v;
    p[0] = (uint8_t)u;
    p[1] = (uint8_t)(u >> 8);
    p[2] = (uint8_t)(u >> 16);
    p[3] = (uint8_t)(u >> 24);
}

/* ---- store ------------------------------------------------------------------------------ */

static void count_cmd(mongo_server_t *s, const char *name)
{
    for (int i = 0; i < MAX_NAMES; i++) {
        if (s->counts[i].name[0] == '\0') {
            snprintf(s->counts[i].name, sizeof s->counts[i].name, "%s", name);
            s->counts[i].n = 1;
            return;
        }
        if (strcmp(s->counts[i].name, name) == 0) {
            s->counts[i].n++;
            return;
        }
    }
}

static coll_t *find_coll(mongo_server_t *s, const char *db, const char *name, int create)
{
    for (coll_t *c = s->colls; c; c = c->next)
        if (strcmp(c->db, db) == 0 && strcmp(c->name, name) == 0)
            return c;
    if (!create)
        return NULL;
    coll_t *c = calloc(1, sizeof *c);
    snprintf(c->db, sizeof c->db, "%s", db);
    snprintf(c->name, sizeof c->name, "%s", name);
    /* The implicit _id index, so listIndexes looks like a real server's. */
    snprintf(c->idx[0].name, sizeof c->idx[0].name, "_id_");
    c->idx[0].key = BCON_NEW("_id", BCON_INT32(1));
    c->idx[0].unique = 1;
    c->nidx = 1;
    coll_t **pp = &s->colls;
    while (*pp)
        pp = &(*pp)->next;
    *pp = c;
    return c;
}

static void coll_free(coll_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        bson_destroy(c->docs[i]);
    free(c->docs);
    for (size_t i = 0; i < c->nidx; i++)
        bson_destroy(c->idx[i].key);
    free(c);
}

static void drop_colls(mongo_server_t *s, const char *db, const char *name)
{
    for (coll_t **pp = &s->colls; *pp;) {
        coll_t *c = *pp;
        if (strcmp(c->db, db) == 0 && (!name || strcmp(c->name, name) == 0)) {
            *pp = c->next;
            coll_free(c);
        } else {
            pp = &c->next;
        }
    }
}

static int is_num(bson_type_t t)
{
    return t == BSON_TYPE_INT32 || t == BSON_TYPE_INT64 || t == BSON_TYPE_DOUBLE;
}

static double num(const bson_value_t *v)
{
    switch (v->value_type) {
    case BSON_TYPE_INT32:
        return v->value.v_int32;
    case BSON_TYPE_INT64:
        return (double)v->value.v_int64;
    case BSON_TYPE_DOUBLE:
        return v->value.v_double;
    default:
        return 0;
    }
}

/* Orders two values the way a sort or an equality match needs for the types tests use:
 * numbers by value, strings bytewise, dates, booleans, ObjectIds; other types by raw bytes
 * when of the same type. Returns <0, 0, >0; different non-numeric types compare by type. */
static int val_cmp(const bson_value_t *a, const bson_value_t *b)
{
    if (is_num(a->value_type) && is_num(b->value_type)) {
        double x = num(a), y = num(b);
        return x < y ? -1 : x > y;
    }
    if (a->value_type != b->value_type)
        return (int)a->value_type - (int)b->value_type;
    switch (a->value_type) {
    case BSON_TYPE_UTF8: {
        uint32_t n =
            a->value.v_utf8.len < b->value.v_utf8.len ? a->value.v_utf8.len : b->value.v_utf8.len;
        int c = memcmp(a->value.v_utf8.str, b->value.v_utf8.str, n);
        if (c)
            return c;
        return a->value.v_utf8.len < b->value.v_utf8.len   ? -1
               : a->value.v_utf8.len > b->value.v_utf8.len ? 1
                                                           : 0;
    }
    case BSON_TYPE_DATE_TIME:
        return a->value.v_datetime < b->value.v_datetime   ? -1
               : a->value.v_datetime > b->value.v_datetime ? 1
                                                           : 0;
    case BSON_TYPE_BOOL:
        return (int)a->value.v_bool - (int)b->value.v_bool;
    case BSON_TYPE_OID:
        return bson_oid_compare(&a->value.v_oid, &b->value.v_oid);
    case BSON_TYPE_NULL:
        return 0;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        uint32_t la = a->value.v_doc.data_len, lb = b->value.v_doc.data_len;
        if (la != lb)
            return la < lb ? -1 : 1;
        return memcmp(a->value.v_doc.data, b->value.v_doc.data, la);
    }
    default:
        return 1;
    }
}

/* When fv is {$in: [...]}: 1 and *any set to whether v (NULL: a missing field, which
 * matches null) equals one of the array's values. Otherwise 0. */
static int in_match(const bson_value_t *fv, const bson_value_t *v, int *any)
{
    bson_t op;
    bson_iter_t it, a;
    if (fv->value_type != BSON_TYPE_DOCUMENT ||
        !bson_init_static(&op, fv->value.v_doc.data, fv->value.v_doc.data_len) ||
        !bson_iter_init(&it, &op) || !bson_iter_next(&it) ||
        strcmp(bson_iter_key(&it), "$in") != 0 || !BSON_ITER_HOLDS_ARRAY(&it) ||
        !bson_iter_recurse(&it, &a))
        return 0;
    *any = 0;
    while (!*any && bson_iter_next(&a)) {
        const bson_value_t *x = bson_iter_value(&a);
        *any = v ? val_cmp(v, x) == 0 : x->value_type == BSON_TYPE_NULL;
    }
    return 1;
}

/* 1 when doc matches filter: every top-level key of filter equals doc's (a missing field
 * matches null), or, for a value {$in: [...]}, equals one of the array's (added for the
 * accounts backend, which reads a roster's accounts in one query). Other operators are not
 * supported: a key starting with '$' never matches. */
static int matches(const bson_t *doc, const bson_t *filter)
{
    bson_iter_t f, d;
    if (!filter || !bson_iter_init(&f, filter))
        return 1;
    while (bson_iter_next(&f)) {
        const char *k = bson_iter_key(&f);
        const bson_value_t *fv = bson_iter_value(&f);
        int any;
        if (k[0] == '$')
            return 0;
        int has = bson_iter_init_find(&d, doc, k);
        if (in_match(fv, has ? bson_iter_value(&d) : NULL, &any)) {
            if (!any)
                return 0;
            continue;
        }
        if (!has) {
            if (fv->value_type != BSON_TYPE_NULL)
                return 0;
            continue;
        }
        if (val_cmp(bson_iter_value(&d), fv) != 0)
            return 0;
    }
    return 1;
}

/* Index of a document (other than skip) that has the same values as doc on every key of a
 * unique index, or -1; *which names the index. */
static long unique_conflict(const coll_t *c, const bson_t *doc, long skip, const uindex_t **which)
{
    for (size_t x = 0; x < c->nidx; x++) {
        const uindex_t *ix = &c->idx[x];
        if (!ix->unique)
            continue;
        for (size_t i = 0; i < c->n; i++) {
            if ((long)i == skip)
                continue;
            bson_iter_t k;
            bson_iter_init(&k, ix->key);
            int same = 1;
            while (same && bson_iter_next(&k)) {
                bson_iter_t a, b;
                int ha = bson_iter_init_find(&a, doc, bson_iter_key(&k));
                int hb = bson_iter_init_find(&b, c->docs[i], bson_iter_key(&k));
                if (ha != hb)
                    same = 0;
                else if (ha && val_cmp(bson_iter_value(&a), bson_iter_value(&b)) != 0)
                    same = 0;
            }
            if (same) {
                *which = ix;
                return (long)i;
            }
        }
    }
    return -1;
}

static void dup_error(bson_t *werrs, int index, const coll_t *c, const uindex_t *ix,
                      const bson_t *doc)
{
    char msg[1024], key[24];
    char *dk = bson_as_relaxed_extended_json(doc, NULL);
    snprintf(msg, sizeof msg,
             "E11000 duplicate key error collection: %s.%s index: %s dup key: %.300s", c->db,
             c->name, ix->name, dk ? dk : "{}");
    bson_free(dk);
    snprintf(key, sizeof key, "%u", bson_count_keys(werrs));
    bson_t e;
    bson_append_document_begin(werrs, key, -1, &e);
    BSON_APPEND_INT32(&e, "index", index);
    BSON_APPEND_INT32(&e, "code", 11000);
    BSON_APPEND_UTF8(&e, "errmsg", msg);
    bson_append_document_end(werrs, &e);
}

static void coll_push(coll_t *c, bson_t *doc)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 16;
        c->docs = realloc(c->docs, c->cap * sizeof *c->docs);
    }
    c->docs[c->n++] = doc;
}

/* Returns a new document: doc with an _id first (an ObjectId when it had none). */
static bson_t *with_id(const bson_t *doc, const bson_value_t *id)
{
    bson_t *out = bson_new();
    bson_iter_t it;
    if (bson_iter_init_find(&it, doc, "_id")) {
        bson_append_value(out, "_id", 3, bson_iter_value(&it));
    } else if (id) {
        bson_append_value(out, "_id", 3, id);
    } else {
        bson_oid_t oid;
        bson_oid_init(&oid, NULL);
        BSON_APPEND_OID(out, "_id", &oid);
    }
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it))
        if (strcmp(bson_iter_key(&it), "_id") != 0)
            bson_append_value(out, bson_iter_key(&it), -1, bson_iter_value(&it));
    return out;
}

/* doc with the fields of set replaced or added (top-level keys only). */
static bson_t *apply_set(const bson_t *doc, const bson_t *set)
{
    bson_t *out = bson_new();
    bson_iter_t it, f;
    bson_iter_init(&it, doc);
    while (bson_iter_next(&it)) {
        const char *k = bson_iter_key(&it);
        if (bson_iter_init_find(&f, set, k))
            bson_append_value(out, k, -1, bson_iter_value(&f));
        else
            bson_append_value(out, k, -1, bson_iter_value(&it));
    }
    bson_iter_init(&f, set);
    while (bson_iter_next(&f))
        if (!bson_has_field(doc, bson_iter_key(&f)))
            bson_append_value(out, bson_iter_key(&f), -1, bson_iter_value(&f));
    return out;
}

/* ---- commands --------------------------------------------------------------------------- */

static void cmd_error(bson_t *reply, int code, const char *name, const char *msg)
{
    BSON_APPEND_DOUBLE(reply, "ok", 0.0);
    BSON_APPEND_UTF8(reply, "errmsg", msg);
    BSON_APPEND_INT32(reply, "code", code);
    BSON_APPEND_UTF8(reply, "codeName", name);
}

static int get_doc(const bson_t *b, const char *key, bson_t *out)
{
    bson_iter_t it;
    uint32_t len;
    const uint8_t *data;
    if (!bson_iter_init_find(&it, b, key) ||
        (!BSON_ITER_HOLDS_DOCUMENT(&it) && !BSON_ITER_HOLDS_ARRAY(&it)))
        return 0;
    if (BSON_ITER_HOLDS_DOCUMENT(&it))
        bson_iter_document(&it, &len, &data);
    else
        bson_iter_array(&it, &len, &data);
    return bson_init_static(out, data, len);
}

/* One document of an OP_MSG document sequence: a view into the message. (A bson_t made by
 * bson_init_static() points into itself, so it cannot be copied or moved by value.) */
typedef struct rawdoc {
    const uint8_t *data;
    size_t len;
} rawdoc_t;

/* Fills *out with the documents of the array field key of body, or of the OP_MSG document
 * sequence named key. Returns the number, or -1 when there is neither. */
static int get_list(const bson_t *body, const rawdoc_t *seq, int nseq, const char *seqname,
                    const char *key, bson_t **out)
{
    bson_t arr;
    if (get_doc(body, key, &arr)) {
        int n = (int)bson_count_keys(&arr), i = 0;
        *out = calloc((size_t)n + 1, sizeof **out);
        bson_iter_t it;
        bson_iter_init(&it, &arr);
        while (bson_iter_next(&it) && i < n) {
            uint32_t len;
            const uint8_t *data;
            if (!BSON_ITER_HOLDS_DOCUMENT(&it))
                continue;
            bson_iter_document(&it, &len, &data);
            bson_init_static(&(*out)[i++], data, len);
        }
        return i;
    }
    if (seqname && strcmp(seqname, key) == 0) {
        *out = calloc((size_t)nseq + 1, sizeof **out);
        for (int i = 0; i < nseq; i++)
            if (!bson_init_static(&(*out)[i], seq[i].data, seq[i].len))
                return i;
        return nseq;
    }
    *out = NULL;
    return -1;
}

static int take_write_error(mongo_server_t *s, bson_t *reply)
{
    if (s->werr_n == 0)
        return 0;
    if (s->werr_n > 0)
        s->werr_n--;
    BSON_APPEND_INT32(reply, "n", 0);
    bson_t arr, e;
    BSON_APPEND_ARRAY_BEGIN(reply, "writeErrors", &arr);
    BSON_APPEND_DOCUMENT_BEGIN(&arr, "0", &e);
    BSON_APPEND_INT32(&e, "index", 0);
    BSON_APPEND_INT32(&e, "code", s->werr_code);
    BSON_APPEND_UTF8(&e, "errmsg", s->werr_msg);
    bson_append_document_end(&arr, &e);
    bson_append_array_end(reply, &arr);
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    return 1;
}

static void do_insert(mongo_server_t *s, const char *db, const char *cname, bson_t *docs, int n,
                      bson_t *reply)
{
    if (take_write_error(s, reply))
        return;
    coll_t *c = find_coll(s, db, cname, 1);
    bson_t werrs = BSON_INITIALIZER;
    int ok = 0;
    for (int i = 0; i < n; i++) {
        bson_t *doc = with_id(&docs[i], NULL);
        const uindex_t *ix;
        if (unique_conflict(c, doc, -1, &ix) >= 0) {
            dup_error(&werrs, i, c, ix, doc);
            bson_destroy(doc);
            break; /* ordered */
        }
        coll_push(c, doc);
        ok++;
    }
    BSON_APPEND_INT32(reply, "n", ok);
    if (!bson_empty(&werrs))
        BSON_APPEND_ARRAY(reply, "writeErrors", &werrs);
    bson_destroy(&werrs);
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static void do_update(mongo_server_t *s, const char *db, const char *cname, bson_t *ups, int n,
                      bson_t *reply)
{
    if (take_write_error(s, reply))
        return;
    coll_t *c = find_coll(s, db, cname, 1);
    bson_t werrs = BSON_INITIALIZER, upserted = BSON_INITIALIZER;
    int matched = 0, modified = 0;
    for (int i = 0; i < n; i++) {
        bson_t q, u;
        bson_iter_t it;
        int upsert = bson_iter_init_find(&it, &ups[i], "upsert") && bson_iter_as_bool(&it);
        if (!get_doc(&ups[i], "q", &q) || !get_doc(&ups[i], "u", &u)) {
            bson_destroy(&werrs);
            bson_destroy(&upserted);
            cmd_error(reply, 9, "FailedToParse", "update needs q and u documents");
            return;
        }
        bson_iter_init(&it, &u);
        int is_set = bson_iter_next(&it) && bson_iter_key(&it)[0] == '$';
        bson_t set;
        if (is_set && (!get_doc(&u, "$set", &set) || bson_count_keys(&u) != 1)) {
            bson_destroy(&werrs);
            bson_destroy(&upserted);
            cmd_error(reply, 9, "FailedToParse", "only $set updates are supported");
            return;
        }
        long hit = -1;
        for (size_t d = 0; d < c->n && hit < 0; d++)
            if (matches(c->docs[d], &q))
                hit = (long)d;
        bson_t *next;
        if (hit >= 0) {
            bson_iter_t idit;
            bson_iter_init_find(&idit, c->docs[hit], "_id");
            next = is_set ? apply_set(c->docs[hit], &set) : with_id(&u, bson_iter_value(&idit));
        } else if (upsert) {
            /* The new document takes the equality fields of the filter, then the update. */
            bson_t *base = bson_new();
            bson_iter_init(&it, &q);
            while (bson_iter_next(&it))
                if (bson_iter_key(&it)[0] != '$')
                    bson_append_value(base, bson_iter_key(&it), -1, bson_iter_value(&it));
            bson_t *merged = is_set ? apply_set(base, &set) : apply_set(base, &u);
            next = with_id(merged, NULL);
            bson_destroy(base);
            bson_destroy(merged);
        } else {
            continue;
        }
        const uindex_t *ix;
        if (unique_conflict(c, next, hit, &ix) >= 0) {
            dup_error(&werrs, i, c, ix, next);
            bson_destroy(next);
            break; /* ordered */
        }
        if (hit >= 0) {
            matched++;
            if (!bson_equal(c->docs[hit], next))
                modified++;
            bson_destroy(c->docs[hit]);
            c->docs[hit] = next;
        } else {
            char key[24];
            bson_t e;
            bson_iter_t idit;
            bson_iter_init_find(&idit, next, "_id");
            snprintf(key, sizeof key, "%u", bson_count_keys(&upserted));
            bson_append_document_begin(&upserted, key, -1, &e);
            BSON_APPEND_INT32(&e, "index", i);
            bson_append_value(&e, "_id", 3, bson_iter_value(&idit));
            bson_append_document_end(&upserted, &e);
            coll_push(c, next);
        }
    }
    BSON_APPEND_INT32(reply, "n", matched + (int)bson_count_keys(&upserted));
    BSON_APPEND_INT32(reply, "nModified", modified);
    if (!bson_empty(&upserted))
        BSON_APPEND_ARRAY(reply, "upserted", &upserted);
    if (!bson_empty(&werrs))
        BSON_APPEND_ARRAY(reply, "writeErrors", &werrs);
    bson_destroy(&werrs);
    bson_destroy(&upserted);
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static void do_delete(mongo_server_t *s, const char *db, const char *cname, bson_t *dels, int n,
                      bson_t *reply)
{
    coll_t *c = find_coll(s, db, cname, 0);
    int removed = 0;
    for (int i = 0; c && i < n; i++) {
        bson_t q;
        bson_iter_t it;
        int limit1 = bson_iter_init_find(&it, &dels[i], "limit") && bson_iter_as_int64(&it) == 1;
        if (!get_doc(&dels[i], "q", &q))
            continue;
        for (size_t d = 0; d < c->n;) {
            if (matches(c->docs[d], &q)) {
                bson_destroy(c->docs[d]);
                memmove(&c->docs[d], &c->docs[d + 1], (c->n - d - 1) * sizeof *c->docs);
                c->n--;
                removed++;
                if (limit1)
                    break;
            } else {
                d++;
            }
        }
    }
    BSON_APPEND_INT32(reply, "n", removed);
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static const char *sort_key;
static int sort_dir;

static int cmp_docs(const void *pa, const void *pb)
{
    const bson_t *a = *(const bson_t *const *)pa, *b = *(const bson_t *const *)pb;
    bson_iter_t x, y;
    int hx = bson_iter_init_find(&x, a, sort_key), hy = bson_iter_init_find(&y, b, sort_key);
    if (!hx || !hy)
        return (hx - hy) * sort_dir;
    return val_cmp(bson_iter_value(&x), bson_iter_value(&y)) * sort_dir;
}

static void do_find(mongo_server_t *s, const char *db, const char *cname, const bson_t *cmd,
                    bson_t *reply)
{
    bson_t filter, sort;
    int has_filter = get_doc(cmd, "filter", &filter);
    bson_iter_t it;
    int64_t limit = 0;
    if (bson_iter_init_find(&it, cmd, "limit"))
        limit = bson_iter_as_int64(&it);
    if (limit < 0)
        limit = -limit;
    coll_t *c = find_coll(s, db, cname, 0);
    size_t n = 0;
    const bson_t **hits = calloc(c ? c->n + 1 : 1, sizeof *hits);
    for (size_t i = 0; c && i < c->n; i++)
        if (matches(c->docs[i], has_filter ? &filter : NULL))
            hits[n++] = c->docs[i];
    if (get_doc(cmd, "sort", &sort) && bson_iter_init(&it, &sort) && bson_iter_next(&it)) {
        /* The server thread is the only caller: the file-scope sort state is safe. */
        sort_key = bson_iter_key(&it);
        sort_dir = bson_iter_as_int64(&it) < 0 ? -1 : 1;
        qsort(hits, n, sizeof *hits, cmp_docs);
    }
    if (limit > 0 && (size_t)limit < n)
        n = (size_t)limit;
    char ns[160];
    snprintf(ns, sizeof ns, "%s.%s", db, cname);
    bson_t cur, batch;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cur);
    BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
    for (size_t i = 0; i < n; i++) {
        char key[24];
        snprintf(key, sizeof key, "%zu", i);
        BSON_APPEND_DOCUMENT(&batch, key, hits[i]);
    }
    bson_append_array_end(&cur, &batch);
    BSON_APPEND_INT64(&cur, "id", 0); /* everything in the first batch */
    BSON_APPEND_UTF8(&cur, "ns", ns);
    bson_append_document_end(reply, &cur);
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    free(hits);
}

static void do_create_indexes(mongo_server_t *s, const char *db, const char *cname,
                              const bson_t *cmd, bson_t *reply)
{
    coll_t *c = find_coll(s, db, cname, 1);
    int before = (int)c->nidx;
    bson_t list;
    bson_iter_t it;
    if (!get_doc(cmd, "indexes", &list)) {
        cmd_error(reply, 9, "FailedToParse", "createIndexes needs indexes");
        return;
    }
    bson_iter_init(&it, &list);
    while (bson_iter_next(&it)) {
        bson_t spec, key;
        uint32_t len;
        const uint8_t *data;
        if (!BSON_ITER_HOLDS_DOCUMENT(&it))
            continue;
        bson_iter_document(&it, &len, &data);
        bson_init_static(&spec, data, len);
        if (!get_doc(&spec, "key", &key))
            continue;
        bson_iter_t f;
        const char *name = bson_iter_init_find(&f, &spec, "name") ? bson_iter_utf8(&f, NULL) : "";
        int unique = bson_iter_init_find(&f, &spec, "unique") && bson_iter_as_bool(&f);
        int exists = 0;
        for (size_t i = 0; i < c->nidx; i++)
            if (strcmp(c->idx[i].name, name) == 0 || bson_equal(c->idx[i].key, &key))
                exists = 1;
        if (exists || c->nidx == sizeof c->idx / sizeof c->idx[0])
            continue;
        uindex_t *ix = &c->idx[c->nidx];
        snprintf(ix->name, sizeof ix->name, "%s", name);
        ix->key = bson_copy(&key);
        ix->unique = unique;
        const uindex_t *other;
        int dup = 0;
        for (size_t d = 0; unique && d < c->n && !dup; d++) {
            c->nidx++; /* checked with the new index in place */
            dup = unique_conflict(c, c->docs[d], (long)d, &other) >= 0;
            c->nidx--;
        }
        if (dup) {
            bson_destroy(ix->key);
            cmd_error(reply, 11000, "DuplicateKey", "E11000 duplicate key error building index");
            return;
        }
        c->nidx++;
    }
    BSON_APPEND_INT32(reply, "numIndexesBefore", before);
    BSON_APPEND_INT32(reply, "numIndexesAfter", (int)c->nidx);
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static void do_list_indexes(mongo_server_t *s, const char *db, const char *cname, bson_t *reply)
{
    coll_t *c = find_coll(s, db, cname, 0);
    if (!c) {
        cmd_error(reply, 26, "NamespaceNotFound", "ns does not exist");
        return;
    }
    char ns[160];
    snprintf(ns, sizeof ns, "%s.%s", db, cname);
    bson_t cur, batch;
    BSON_APPEND_DOCUMENT_BEGIN(reply, "cursor", &cur);
    BSON_APPEND_ARRAY_BEGIN(&cur, "firstBatch", &batch);
    for (size_t i = 0; i < c->nidx; i++) {
        char key[24];
        bson_t e;
        snprintf(key, sizeof key, "%zu", i);
        bson_append_document_begin(&batch, key, -1, &e);
        BSON_APPEND_INT32(&e, "v", 2);
        BSON_APPEND_DOCUMENT(&e, "key", c->idx[i].key);
        BSON_APPEND_UTF8(&e, "name", c->idx[i].name);
        if (c->idx[i].unique && i > 0)
            BSON_APPEND_BOOL(&e, "unique", true);
        bson_append_document_end(&batch, &e);
    }
    bson_append_array_end(&cur, &batch);
    BSON_APPEND_INT64(&cur, "id", 0);
    BSON_APPEND_UTF8(&cur, "ns", ns);
    bson_append_document_end(reply, &cur);
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

static void hello_reply(mongo_server_t *s, const bson_t *cmd, int legacy_name, bson_t *reply)
{
    BSON_APPEND_BOOL(reply, "helloOk", true);
    BSON_APPEND_BOOL(reply, legacy_name ? "ismaster" : "isWritablePrimary", true);
    BSON_APPEND_INT32(reply, "maxBsonObjectSize", 16 * 1024 * 1024);
    BSON_APPEND_INT32(reply, "maxMessageSizeBytes", MAX_MSG);
    BSON_APPEND_INT32(reply, "maxWriteBatchSize", 100000);
    BSON_APPEND_DATE_TIME(reply, "localTime", (int64_t)time(NULL) * 1000);
    BSON_APPEND_INT64(reply, "connectionId", ++s->next_conn_id);
    BSON_APPEND_INT32(reply, "minWireVersion", 0);
    BSON_APPEND_INT32(reply, "maxWireVersion", 13); /* MongoDB 5.0 */
    BSON_APPEND_BOOL(reply, "readOnly", false);
    if (s->auth && bson_has_field(cmd, "saslSupportedMechs")) {
        bson_t mechs;
        BSON_APPEND_ARRAY_BEGIN(reply, "saslSupportedMechs", &mechs);
        BSON_APPEND_UTF8(&mechs, "0", "SCRAM-SHA-256");
        BSON_APPEND_UTF8(&mechs, "1", "SCRAM-SHA-1");
        bson_append_array_end(reply, &mechs);
    }
    BSON_APPEND_DOUBLE(reply, "ok", 1.0);
}

/* Runs one command. Returns 1 when the reply must be dropped (connection closed instead). */
static int run_command(mongo_server_t *s, const char *db, const bson_t *cmd, const rawdoc_t *seq,
                       int nseq, const char *seqname, bson_t *reply)
{
    bson_iter_t it;
    if (!bson_iter_init(&it, cmd) || !bson_iter_next(&it)) {
        cmd_error(reply, 59, "CommandNotFound", "empty command");
        return 0;
    }
    const char *name = bson_iter_key(&it);
    const char *target = BSON_ITER_HOLDS_UTF8(&it) ? bson_iter_utf8(&it, NULL) : "";
    int drop = 0;

    pthread_mutex_lock(&s->mu);
    count_cmd(s, name);
    int hello = strcasecmp(name, "isMaster") == 0 || strcmp(name, "hello") == 0;
    int control = hello || strcmp(name, "ping") == 0 || strcmp(name, "endSessions") == 0 ||
                  strcmp(name, "buildInfo") == 0 || strcmp(name, "buildinfo") == 0 ||
                  strcmp(name, "saslStart") == 0 || strcmp(name, "saslContinue") == 0;
    bson_t *list = NULL;
    int n;
    if (hello) {
        hello_reply(s, cmd, strcmp(name, "hello") != 0, reply);
    } else if (strcmp(name, "saslStart") == 0 || strcmp(name, "saslContinue") == 0) {
        cmd_error(reply, 18, "AuthenticationFailed", "Authentication failed.");
    } else if (s->auth) {
        cmd_error(reply, 13, "Unauthorized", "command requires authentication");
    } else if (strcmp(name, "ping") == 0 || strcmp(name, "endSessions") == 0) {
        BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    } else if (strcasecmp(name, "buildInfo") == 0) {
        BSON_APPEND_UTF8(reply, "version", "5.0.0-rollcall-test");
        BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    } else if (strcmp(name, "insert") == 0 &&
               (n = get_list(cmd, seq, nseq, seqname, "documents", &list)) >= 0) {
        do_insert(s, db, target, list, n, reply);
    } else if (strcmp(name, "update") == 0 &&
               (n = get_list(cmd, seq, nseq, seqname, "updates", &list)) >= 0) {
        do_update(s, db, target, list, n, reply);
    } else if (strcmp(name, "delete") == 0 &&
               (n = get_list(cmd, seq, nseq, seqname, "deletes", &list)) >= 0) {
        do_delete(s, db, target, list, n, reply);
    } else if (strcmp(name, "find") == 0) {
        do_find(s, db, target, cmd, reply);
    } else if (strcmp(name, "getMore") == 0) {
        cmd_error(reply, 43, "CursorNotFound", "cursor not found");
    } else if (strcmp(name, "killCursors") == 0) {
        BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    } else if (strcmp(name, "createIndexes") == 0) {
        do_create_indexes(s, db, target, cmd, reply);
    } else if (strcmp(name, "listIndexes") == 0) {
        do_list_indexes(s, db, target, reply);
    } else if (strcmp(name, "drop") == 0) {
        drop_colls(s, db, target);
        BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    } else if (strcmp(name, "dropDatabase") == 0) {
        drop_colls(s, db, NULL);
        BSON_APPEND_DOUBLE(reply, "ok", 1.0);
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "no such command: '%s'", name);
        cmd_error(reply, 59, "CommandNotFound", msg);
    }
    free(list);
    if (!control && s->drop_n > 0 && (!s->drop_only[0] || strcmp(s->drop_only, name) == 0)) {
        s->drop_n--;
        drop = 1;
    }
    int delay = s->delay_ms;
    pthread_mutex_unlock(&s->mu);
    if (delay > 0)
        usleep((useconds_t)delay * 1000);
    return drop;
}

/* ---- framing ---------------------------------------------------------------------------- */

static int send_reply(mongo_server_t *s, int fd, int32_t response_to, int opcode, const bson_t *doc)
{
    size_t hdr = opcode == OP_REPLY ? 16 + 20 : 16 + 5;
    size_t total = hdr + doc->len;
    uint8_t *m = malloc(total);
    wr32(m, (int32_t)total);
    wr32(m + 4, ++s->next_request_id);
    wr32(m + 8, response_to);
    wr32(m + 12, opcode);
    if (opcode == OP_REPLY) {
        memset(m + 16, 0, 20); /* flags, cursorID (8), startingFrom */
        wr32(m + 32, 1);       /* numberReturned */
    } else {
        memset(m + 16, 0, 4); /* flagBits */
        m[20] = 0;            /* section kind 0 */
    }
    memcpy(m + hdr, bson_get_data(doc), doc->len);
    int rc = send_all(fd, m, total);
    free(m);
    return rc;
}

/* Handles one complete message. Returns -1 to close the connection. */
static int handle_message(mongo_server_t *s, mconn_t *c, const uint8_t *m, size_t len)
{
    int32_t request_id = rd32(m + 4);
    int32_t opcode = rd32(m + 12);
    bson_t body, reply = BSON_INITIALIZER;
    char db[64] = "admin";
    int drop = 0, rc = 0;
    rawdoc_t *seq = NULL; /* OP_MSG document sequence (views into m) */
    size_t seqcap = 0;

    pthread_mutex_lock(&s->mu);
    if (c->nmsgs++ == 0) {
        if (opcode == OP_QUERY)
            s->first_query++;
        else if (opcode == OP_MSG)
            s->first_msg++;
    }
    pthread_mutex_unlock(&s->mu);
    if (opcode == OP_QUERY) {
        /* flags, fullCollectionName, numberToSkip, numberToReturn, query */
        const uint8_t *p = m + 20, *end = m + len;
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        if (!nul || end - (nul + 9) < 5)
            goto bad;
        const char *ns = (const char *)p;
        const char *dot = strchr(ns, '.');
        snprintf(db, sizeof db, "%.*s", dot ? (int)(dot - ns) : (int)strlen(ns), ns);
        p = nul + 9;
        int32_t dl = rd32(p);
        if (dl < 5 || dl > end - p || !bson_init_static(&body, p, (size_t)dl))
            goto bad;
        bson_t inner;
        if (get_doc(&body, "$query", &inner) &&
            !bson_init_static(&body, bson_get_data(&inner), inner.len))
            goto bad;
        pthread_mutex_lock(&s->mu);
        s->op_query++;
        pthread_mutex_unlock(&s->mu);
        drop = run_command(s, db, &body, NULL, 0, NULL, &reply);
        if (!drop)
            rc = send_reply(s, c->fd, request_id, OP_REPLY, &reply);
    } else if (opcode == OP_MSG) {
        uint32_t flags = (uint32_t)rd32(m + 16);
        const uint8_t *p = m + 20, *end = m + len - ((flags & 1) ? 4 : 0);
        int have_body = 0, nseq = 0;
        char seqname[64] = "";
        while (p < end) {
            uint8_t kind = *p++;
            if (end - p < 5)
                goto bad;
            int32_t sl = rd32(p);
            if (sl < 5 || sl > end - p)
                goto bad;
            if (kind == 0) {
                if (!bson_init_static(&body, p, (size_t)sl))
                    goto bad;
                have_body = 1;
            } else if (kind == 1) {
                const uint8_t *q = p + 4, *send_ = p + sl;
                const uint8_t *nul = memchr(q, 0, (size_t)(send_ - q));
                if (!nul)
                    goto bad;
                snprintf(seqname, sizeof seqname, "%s", (const char *)q);
                q = nul + 1;
                while (q < send_) {
                    if ((size_t)nseq == seqcap) {
                        seqcap = seqcap ? seqcap * 2 : 64;
                        seq = realloc(seq, seqcap * sizeof *seq);
                    }
                    int32_t dl = rd32(q);
                    if (dl < 5 || dl > send_ - q)
                        goto bad;
                    seq[nseq].data = q;
                    seq[nseq].len = (size_t)dl;
                    nseq++;
                    q += dl;
                }
            } else {
                goto bad;
            }
            p += sl;
        }
        if (!have_body)
            goto bad;
        bson_iter_t it;
        if (bson_iter_init_find(&it, &body, "$db") && BSON_ITER_HOLDS_UTF8(&it))
            snprintf(db, sizeof db, "%s", bson_iter_utf8(&it, NULL));
        pthread_mutex_lock(&s->mu);
        s->op_msg++;
        pthread_mutex_unlock(&s->mu);
        drop = run_command(s, db, &body, seq, nseq, seqname[0] ? seqname : NULL, &reply);
        if (!drop && !(flags & 2)) /* moreToCome: the client wants no reply */
            rc = send_reply(s, c->fd, request_id, OP_MSG, &reply);
    } else {
        goto bad;
    }
    bson_destroy(&reply);
    free(seq);
    return drop ? -1 : rc;
bad:
    bson_destroy(&reply);
    free(seq);
    fprintf(stderr, "mongo_server: malformed or unsupported message (opcode %d)\n", opcode);
    return -1;
}

static void on_readable(mongo_server_t *s, mconn_t *c)
{
    if (c->cap - c->len < 65536) {
        c->cap = c->cap ? c->cap * 2 : 131072;
        c->buf = realloc(c->buf, c->cap);
    }
    ssize_t r = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
    if (r <= 0) {
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            return;
        conn_close(c);
        return;
    }
    c->len += (size_t)r;
    while (c->len >= 16) {
        int32_t ml = rd32(c->buf);
        if (ml < 21 || ml > MAX_MSG) {
            conn_close(c);
            return;
        }
        if (c->len < (size_t)ml) {
            if (c->cap < (size_t)ml) {
                c->cap = (size_t)ml;
                c->buf = realloc(c->buf, c->cap);
            }
            return;
        }
        if (handle_message(s, c, c->buf, (size_t)ml) != 0) {
            conn_close(c);
            return;
        }
        memmove(c->buf, c->buf + ml, c->len - (size_t)ml);
        c->len -= (size_t)ml;
    }
}

static void *server_main(void *arg)
{
    mongo_server_t *s = arg;
    struct pollfd pf[MAX_CONNS + 2];
    for (;;) {
        pthread_mutex_lock(&s->mu);
        int stop = s->stopping, down = s->want_down, lfd = s->lfd;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        if (down) {
            for (int i = 0; i < MAX_CONNS; i++)
                if (s->conns[i].fd >= 0)
                    conn_close(&s->conns[i]);
        }
        int n = 0;
        pf[n++] = (struct pollfd){.fd = s->wake[0], .events = POLLIN};
        if (lfd >= 0)
            pf[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
        int first_conn = n;
        int map[MAX_CONNS];
        for (int i = 0; i < MAX_CONNS; i++) {
            if (s->conns[i].fd >= 0) {
                map[n - first_conn] = i;
                pf[n++] = (struct pollfd){.fd = s->conns[i].fd, .events = POLLIN};
            }
        }
        int pr = poll(pf, (nfds_t)n, 1000);
        if (pr < 0 && errno != EINTR)
            break;
        if (pr <= 0)
            continue;
        if (pf[0].revents) {
            char tmp[64];
            ssize_t rr = read(s->wake[0], tmp, sizeof tmp);
            (void)rr;
            continue; /* re-read the settings before touching any descriptor */
        }
        if (lfd >= 0 && pf[1].revents) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                int slot = -1;
                for (int i = 0; i < MAX_CONNS && slot < 0; i++)
                    if (s->conns[i].fd < 0)
                        slot = i;
                if (slot < 0) {
                    close(fd);
                } else {
                    int one = 1;
                    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    s->conns[slot].fd = fd;
                }
            }
        }
        for (int k = first_conn; k < n; k++)
            if (pf[k].revents)
                on_readable(s, &s->conns[map[k - first_conn]]);
    }
    for (int i = 0; i < MAX_CONNS; i++)
        conn_close(&s->conns[i]);
    return NULL;
}

/* ---- public API ------------------------------------------------------------------------- */

int mongo_server_start(int port, mongo_server_t **out)
{
    mongo_server_t *s = calloc(1, sizeof *s);
    for (int i = 0; i < MAX_CONNS; i++)
        s->conns[i].fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    s->lfd = listen_on(port, &s->port);
    if (s->lfd < 0) {
        fprintf(stderr, "mongo_server: cannot listen on 127.0.0.1:%d: %s\n", port, strerror(errno));
        goto fail;
    }
    if (pipe2(s->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        close(s->lfd);
        goto fail;
    }
    /* The thread blocks every signal so that the test's own handlers stay on its thread. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int perr = pthread_create(&s->thread, NULL, server_main, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (perr != 0) {
        close(s->lfd);
        close(s->wake[0]);
        close(s->wake[1]);
        goto fail;
    }
    *out = s;
    return 0;
fail:
    pthread_mutex_destroy(&s->mu);
    free(s);
    return -1;
}

void mongo_server_free(mongo_server_t *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    pthread_mutex_unlock(&s->mu);
    wake(s);
    pthread_join(s->thread, NULL);
    if (s->lfd >= 0)
        close(s->lfd);
    close(s->wake[0]);
    close(s->wake[1]);
    while (s->colls) {
        coll_t *c = s->colls;
        s->colls = c->next;
        coll_free(c);
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

int mongo_server_port(const mongo_server_t *s)
{
    return s->port;
}

int mongo_server_set_down(mongo_server_t *s, int down)
{
    int rc = 0;
    pthread_mutex_lock(&s->mu);
    s->want_down = down;
    if (down && s->lfd >= 0) {
        /* Closed here, while the poll may still watch it: the wake below makes the thread
         * rebuild its set before it could accept on a reused descriptor number. */
        shutdown(s->lfd, SHUT_RDWR);
        close(s->lfd);
        s->lfd = -1;
    } else if (!down && s->lfd < 0) {
        int p;
        s->lfd = listen_on(s->port, &p);
        rc = s->lfd >= 0 ? 0 : -1;
    }
    pthread_mutex_unlock(&s->mu);
    wake(s);
    /* Give the thread a moment to cut the open connections before the caller moves on. */
    if (down)
        usleep(50 * 1000);
    return rc;
}

void mongo_server_drop_next(mongo_server_t *s, int n, const char *only)
{
    pthread_mutex_lock(&s->mu);
    s->drop_n = n;
    snprintf(s->drop_only, sizeof s->drop_only, "%s", only ? only : "");
    pthread_mutex_unlock(&s->mu);
}

void mongo_server_set_delay(mongo_server_t *s, int ms)
{
    pthread_mutex_lock(&s->mu);
    s->delay_ms = ms;
    pthread_mutex_unlock(&s->mu);
}

void mongo_server_write_errors(mongo_server_t *s, int code, const char *errmsg, int n)
{
    pthread_mutex_lock(&s->mu);
    s->werr_code = code;
    snprintf(s->werr_msg, sizeof s->werr_msg, "%s", errmsg ? errmsg : "write error");
    s->werr_n = n;
    pthread_mutex_unlock(&s->mu);
}

void mongo_server_require_auth(mongo_server_t *s, int on)
{
    pthread_mutex_lock(&s->mu);
    s->auth = on;
    pthread_mutex_unlock(&s->mu);
}

bson_t *mongo_server_docs(mongo_server_t *s, const char *db, const char *coll)
{
    bson_t *out = bson_new();
    unsigned k = 0;
    pthread_mutex_lock(&s->mu);
    for (coll_t *c = s->colls; c; c = c->next) {
        if ((db && strcmp(c->db, db) != 0) || strcmp(c->name, coll) != 0)
            continue;
        for (size_t i = 0; i < c->n; i++) {
            char key[24];
            snprintf(key, sizeof key, "%u", k++);
            BSON_APPEND_DOCUMENT(out, key, c->docs[i]);
        }
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

int mongo_server_count(mongo_server_t *s, const char *db, const char *coll)
{
    int n = 0;
    pthread_mutex_lock(&s->mu);
    for (coll_t *c = s->colls; c; c = c->next)
        if ((!db || strcmp(c->db, db) == 0) && strcmp(c->name, coll) == 0)
            n += (int)c->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

uint64_t mongo_server_commands(mongo_server_t *s, const char *name)
{
    uint64_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (int i = 0; i < MAX_NAMES; i++)
        if (strcmp(s->counts[i].name, name) == 0)
            n = s->counts[i].n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void mongo_server_opcounts(mongo_server_t *s, uint64_t *op_query, uint64_t *op_msg)
{
    pthread_mutex_lock(&s->mu);
    *op_query = s->op_query;
    *op_msg = s->op_msg;
    pthread_mutex_unlock(&s->mu);
}

void mongo_server_first_opcodes(mongo_server_t *s, uint64_t *op_query, uint64_t *op_msg)
{
    pthread_mutex_lock(&s->mu);
    *op_query = s->first_query;
    *op_msg = s->first_msg;
    pthread_mutex_unlock(&s->mu);
}

void mongo_server_dump_json(mongo_server_t *s, FILE *f)
{
    pthread_mutex_lock(&s->mu);
    for (coll_t *c = s->colls; c; c = c->next) {
        for (size_t i = 0; i < c->n; i++) {
            char *j = bson_as_canonical_extended_json(c->docs[i], NULL);
            fprintf(f, "{\"db\": \"%s\", \"coll\": \"%s\", \"doc\": %s}\n", c->db, c->name, j);
            bson_free(j);
        }
    }
    pthread_mutex_unlock(&s->mu);
}

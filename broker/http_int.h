/* SPDX-License-Identifier: MIT */
/* What the HTTP endpoint files share (http.c, http_accounts.c): one exchange per request,
 * its request body, its prepared response, and the list of exchanges that wait for a worker
 * thread. Loop thread only. */
#ifndef BRK_HTTP_INT_H
#define BRK_HTTP_INT_H

#include "auth.h"
#include "srv.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct lws;

#define HTTP_MAX_BODY (16 * 1024) /* request bodies: JSON of a few fields */
#define HTTP_DISCARD_MAX (1024 * 1024) /* a larger body closes the connection (413) */

typedef enum { HM_GET, HM_POST, HM_PUT, HM_DELETE, HM_PATCH, HM_OTHER } http_method_t;

typedef struct http_tx {
    uint64_t id;
    srv_t *srv;
    struct lws *wsi;
    http_method_t method;
    char path[1024];
    char addr[64]; /* the client's address, for rate limits and logs */

    /* request body (POST, PUT, PATCH) */
    char *in;
    size_t in_len, in_expected;
    int dispatched; /* handed to its endpoint (once) */

    /* response */
    int status;
    const char *content_type;
    char *out;
    size_t out_len;
    int ready;           /* response prepared */
    const char *source;  /* reports: x-rollcall-report-source */
    const char *www_auth; /* 401: the WWW-Authenticate value */
    const char *cache_control; /* static; NULL: no-store */
    const char *csp;           /* Content-Security-Policy (static), or NULL */
    char *disposition;   /* Content-Disposition, owned (freed with the exchange), or NULL */
    int retry_after_s;   /* 429/503: Retry-After, 0 for none */
    int close_after;     /* the request body was not read: close after the answer */
    int headers_sent;
    struct http_tx *next; /* exchanges waiting for a worker */
} http_tx_t;

void http_respond(http_tx_t *tx, int status, const char *ctype, char *body, size_t len);
/* Takes the reference to doc. */
void http_respond_json(http_tx_t *tx, int status, json_t *doc);
/* {"status": status, "error": message} */
void http_respond_error(http_tx_t *tx, int status, const char *message);

/* Exchanges waiting for a worker's answer: the answer finds its exchange again by id, so
 * one whose client hung up meanwhile is simply not found. */
void http_pending_add(http_tx_t *tx);
http_tx_t *http_pending_take(uint64_t id);

/* Verifies the request's Authorization: Bearer token. Returns 0 and *id, or BRK_EAUTH and
 * the reason; the header's copy is wiped. */
int http_bearer(http_tx_t *tx, unsigned flags, auth_identity_t *id, const char **why);

/* One stored record as the reports show it (http.c): every field of the attendance record,
 * times in ISO 8601. Returns a new reference, or NULL when a stored text is not UTF-8. */
json_t *http_record_json(const jr_record_t *r);

/* The history and analytics endpoints (http_reports.c): handles tx when its path is one of
 * them (/history/students/..., /analytics/at-risk, /classes/{id}/sessions, /monthly,
 * /monthly/students, /records), returns 1 then, else 0. Runs before http_classes_route,
 * which answers every other /classes path. */
int http_reports_route(http_tx_t *tx);

/* The pages and their assets (http_web.c): handles tx when its path is one of them and the
 * pages are on (ROLLCALL_WEB), returns 1 then, else 0. */
int http_web_route(http_tx_t *tx);

/* The accounts endpoints (http_accounts.c): handles tx when its path is under /auth/,
 * returns 1 then, else 0. body is the request body (NUL-terminated, len bytes). */
int http_accounts_route(http_tx_t *tx, const char *body, size_t len);

#endif

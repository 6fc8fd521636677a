/* SPDX-License-Identifier: MIT */
/* HTTP endpoints: health, readiness, metrics and the finalized-attendance report. */
#include "http.h"
#include "http_acct.h"
#include "http_int.h"

#include "brk.h"
#include "cluster.h"
#include "journal.h"
#include "hdl.h"
#include "log.h"

#include <jansson.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

/* Exchanges waiting for a worker; an answer finds its exchange by id, so a client that hung
 * up meanwhile is simply not found. */
static http_tx_t *pending;
static uint64_t next_tx_id;

static void unlink_pending(http_tx_t *tx)
{
    for (http_tx_t **pp = &pending; *pp; pp = &(*pp)->next) {
        if (*pp == tx) {
            *pp = tx->next;
            return;
        }
    }
}

void http_pending_add(http_tx_t *tx)
{
    tx->next = pending;
    pending = tx;
}

http_tx_t *http_pending_take(uint64_t id)
{
    http_tx_t *tx = pending;
    while (tx && tx->id != id)
        tx = tx->next;
    if (tx)
        unlink_pending(tx);
    return tx;
}

static void tx_free(http_tx_t *tx)
{
    unlink_pending(tx);
    free(tx->in);
    free(tx->out);
    free(tx->disposition);
    free(tx);
}

void http_on_closed(srv_t *s, ws_pss_t *pss)
{
    if (pss->http) {
        tx_free(pss->http);
        pss->http = NULL;
    }
}

void http_respond(http_tx_t *tx, int status, const char *ctype, char *body, size_t len)
{
    tx->status = status;
    tx->content_type = ctype;
    free(tx->out);
    tx->out = body;
    tx->out_len = len;
    tx->ready = 1;
    lws_callback_on_writable(tx->wsi);
}

static void respond_text(http_tx_t *tx, int status, const char *text)
{
    http_respond(tx, status, "text/plain; charset=utf-8", brk_strdup(text), strlen(text));
}

void http_respond_json(http_tx_t *tx, int status, json_t *doc)
{
    char *body = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    BRK_ASSERT(body);
    http_respond(tx, status, "application/json", body, strlen(body));
}

void http_respond_error(http_tx_t *tx, int status, const char *message)
{
    http_respond_json(tx, status, json_pack("{s:i, s:s}", "status", status, "error", message));
}

static const char *status_text(int status)
{
    switch (status) {
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 503: return "Service Unavailable";
    default: return "Error";
    }
}

int http_refuse(struct lws *wsi, int status, const char *www_authenticate, const char *body)
{
    /* Written by hand: in the upgrade phase lws labels its own status line HTTP/1.0, which
     * strict WebSocket clients reject before they read the status. */
    unsigned char buf[LWS_PRE + 1024];
    char *start = (char *)buf + LWS_PRE;
    size_t cap = sizeof buf - LWS_PRE;
    int n = snprintf(start, cap,
                     "HTTP/1.1 %d %s\r\n%s%s%scontent-type: text/plain; charset=utf-8\r\n"
                     "content-length: %zu\r\nconnection: close\r\ncache-control: no-store\r\n"
                     "\r\n%s",
                     status, status_text(status), www_authenticate ? "www-authenticate: " : "",
                     www_authenticate ? www_authenticate : "", www_authenticate ? "\r\n" : "",
                     strlen(body), body);
    if (n > 0 && (size_t)n < cap)
        lws_write(wsi, (unsigned char *)start, (size_t)n, LWS_WRITE_HTTP_HEADERS);
    return 1;
}

/* Ids in report paths: the alphabet tokens allow (brk_id_ok). */
static int id_ok(const char *s, size_t n)
{
    return brk_id_ok(s, n, AUTH_MAX_ID);
}

json_t *http_record_json(const jr_record_t *r)
{
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:o, s:o, s:f, s:f, s:f, s:I, s:s, s:s, s:o}", "student_id",
        r->student_id, "student_name", r->student_name, "class_id", r->class_id, "session_id",
        r->session_id, "started_at", json_null(), "ended_at", json_null(),
        "total_class_duration_seconds", r->total_class_duration_seconds,
        "engagement_duration_seconds", r->engagement_duration_seconds, "engagement_percentage",
        r->engagement_percentage, "frames_analyzed", (json_int_t)r->frames_analyzed, "status",
        r->status, "source", r->source, "finalized_at", json_null());
    json_object_set_new(o, "trust_score", json_integer(r->trust_score));
    char buf[32];
    brk_iso8601(r->started_at_ms, buf, sizeof buf);
    json_object_set_new(o, "started_at", json_string(buf));
    brk_iso8601(r->ended_at_ms, buf, sizeof buf);
    json_object_set_new(o, "ended_at", json_string(buf));
    brk_iso8601(r->finalized_at_ms, buf, sizeof buf);
    json_object_set_new(o, "finalized_at", json_string(buf));
    return o;
}

typedef struct report_req {
    srv_t *srv;
    uint64_t tx_id;
    char class_id[65], session_id[65];
} report_req_t;

static void on_report(jr_result_t *res, void *ud)
{
    report_req_t *rq = ud;
    http_tx_t *tx = http_pending_take(rq->tx_id);
    if (tx) {
        if (!tx->source)
            tx->source = "journal";
        if (res->err == BRK_ENOTFOUND) {
            http_respond_error(tx, 404, "no finalized session with that id in that class");
        } else if (res->err) {
            LOG(ERROR, 0, "report failed", "err=\"%s\"", res->errmsg);
            http_respond_error(tx, 503, "the journal is unavailable");
        } else {
            const jr_daily_t *d = &res->daily;
            json_t *records = json_array();
            for (size_t i = 0; i < res->n; i++)
                json_array_append_new(records, http_record_json(&res->records[i]));
            char fin[32];
            brk_iso8601(d->finalized_at_ms, fin, sizeof fin);
            http_respond_json(tx, 200,
                         json_pack("{s:s, s:s, s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:f}, s:o}",
                                   "class_id", d->class_id, "session_id", d->session_id, "date",
                                   d->date, "teacher_id", d->teacher_id, "finalized_at", fin,
                                   "summary", "present", d->present, "absent", d->absent,
                                   "late", d->late, "total", d->total, "percentage",
                                   d->percentage, "records", records));
        }
    }
    jr_result_free(res);
    free(rq);
}

/* A report read from MongoDB. A session MongoDB does not hold (yet: its day may still wait
 * in the outbox) or a failed read is answered from the local journal, which holds every
 * finalized record; both give the same JSON. */
static void on_report_mongo(jr_result_t *res, void *ud)
{
    report_req_t *rq = ud;
    http_tx_t *tx = http_pending_take(rq->tx_id);
    if (tx && res->err == 0) {
        tx->source = "mongodb";
        http_pending_add(tx);
        on_report(res, rq);
        return;
    }
    if (res->err && res->err != BRK_ENOTFOUND)
        LOG(WARN, 0, "mongodb report failed; reading the journal", "err=\"%s\"", res->errmsg);
    jr_result_free(res);
    if (!tx) {
        free(rq);
        return;
    }
    http_pending_add(tx);
    jr_report(rq->srv->jr, rq->class_id, rq->session_id, on_report, rq);
}

static void report(srv_t *s, struct lws *wsi, http_tx_t *tx, const char *path)
{
    /* path is "{class_id}/{session_id}" */
    const char *slash = strchr(path, '/');
    if (!slash || !id_ok(path, (size_t)(slash - path)) || !id_ok(slash + 1, strlen(slash + 1))) {
        http_respond_error(tx, 404, "expected /attendance/report/{class_id}/{session_id}");
        return;
    }
    char class_id[65], session_id[65];
    snprintf(class_id, sizeof class_id, "%.*s", (int)(slash - path), path);
    snprintf(session_id, sizeof session_id, "%s", slash + 1);

    (void)wsi;
    auth_identity_t id;
    const char *why = NULL;
    if (http_bearer(tx, 0, &id, &why) != 0) {
        LOG(INFO, 0, "report refused", "status=401 reason=\"%s\"", why);
        http_respond_error(tx, 401, "a valid Bearer token is required");
        return;
    }
    if (id.role == ROLE_STUDENT || !auth_has_class(&id, class_id)) {
        LOG(INFO, 0, "report refused", "status=403 sub=%s class=%s", id.sub, class_id);
        http_respond_error(tx, 403, "only a teacher or admin of this class may read its report");
        return;
    }
    http_pending_add(tx);
    report_req_t *rq = brk_malloc(sizeof *rq);
    rq->srv = s;
    rq->tx_id = tx->id;
    snprintf(rq->class_id, sizeof rq->class_id, "%s", class_id);
    snprintf(rq->session_id, sizeof rq->session_id, "%s", session_id);
    ob_stats_t os = {.healthy = 1};
    if (s->ob)
        ob_get_stats(s->ob, &os);
    /* While shipping fails MongoDB is most likely unreachable: the journal answers at once
     * instead of after a server-selection timeout. */
    if (s->mg && os.healthy)
        mg_report(s->mg, class_id, session_id, on_report_mongo, rq);
    else
        jr_report(s->jr, class_id, session_id, on_report, rq);
}

/* /readyz with MongoDB configured. A growing backlog does not make the broker unready: it
 * still accepts DONE (records are durable in the journal) and serves everything else, and
 * taking it out of a load balancer would not bring MongoDB back. The body states the
 * backlog so an operator sees it; the status follows the broker alone. */
static void respond_readyz_outbox(srv_t *s, http_tx_t *tx, int ready)
{
    jr_stats_t js;
    ob_stats_t os;
    jr_get_stats(s->jr, &js);
    ob_get_stats(s->ob, &os);
    int64_t now = brk_now_ms();
    double age = js.backlog.oldest_ms ? (double)(now - js.backlog.oldest_ms) / 1000.0 : 0.0;
    char *text = NULL;
    int n = asprintf(&text,
                     "%s\nmongodb_backlog_records=%llu mongodb_backlog_days=%llu "
                     "mongodb_backlog_oldest_age_seconds=%.1f mongodb_shipping=%s "
                     "mongodb_last_error=\"%s\"\n",
                     ready ? "ready" : "not ready", (unsigned long long)js.backlog.records,
                     (unsigned long long)js.backlog.days, age < 0 ? 0.0 : age,
                     os.healthy ? "ok" : "failing", os.last_error);
    BRK_ASSERT(n >= 0);
    http_respond(tx, ready ? 200 : 503, "text/plain; charset=utf-8", text, (size_t)n);
}

int http_bearer(http_tx_t *tx, unsigned flags, auth_identity_t *id, const char **why)
{
    char auth[8192 + 8];
    int n = lws_hdr_copy(tx->wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION);
    int rc = BRK_EAUTH;
    *why = "missing token";
    if (n > 7 && strncasecmp(auth, "Bearer ", 7) == 0)
        rc = auth_verify_ex(tx->srv->auth, auth + 7, (size_t)n - 7, brk_now_ms() / 1000, flags,
                            id, why);
    else if (n >= (int)sizeof auth - 1)
        *why = "too long";
    memset(auth, 0, sizeof auth);
    return rc;
}

static http_method_t method_of(struct lws *wsi)
{
    if (lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) > 0)
        return HM_GET;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0)
        return HM_POST;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PUT_URI) > 0)
        return HM_PUT;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_DELETE_URI) > 0)
        return HM_DELETE;
    if (lws_hdr_total_length(wsi, WSI_TOKEN_PATCH_URI) > 0)
        return HM_PATCH;
    return HM_OTHER;
}

/* The built-in GET endpoints. Returns 1 when path is one of them. */
static int route_builtin(srv_t *s, http_tx_t *tx)
{
    static const char report_prefix[] = "/attendance/report/";
    const char *uri = tx->path;
    int known = strcmp(uri, "/healthz") == 0 || strcmp(uri, "/readyz") == 0 ||
                strcmp(uri, "/metrics") == 0 ||
                strncmp(uri, report_prefix, sizeof report_prefix - 1) == 0;
    if (!known)
        return 0;
    if (tx->method != HM_GET) {
        http_respond_error(tx, 405, "only GET is served here");
        return 1;
    }
    if (strcmp(uri, "/healthz") == 0) {
        respond_text(tx, 200, "ok\n");
    } else if (strcmp(uri, "/readyz") == 0) {
        int ready = s->ready && !s->draining && clu_ready(s) && hdl_ready(s->hdl);
        if (s->ob) {
            respond_readyz_outbox(s, tx, ready);
        } else {
            respond_text(tx, ready ? 200 : 503, ready ? "ready\n" : "not ready\n");
        }
    } else if (strcmp(uri, "/metrics") == 0) {
        jr_stats_t js;
        jr_get_stats(s->jr, &js);
        size_t len;
        hdl_sync_stats(s->hdl);
        char *text = metrics_render(&s->m, &js,
                                    s->ready && !s->draining && clu_ready(s) &&
                                        hdl_ready(s->hdl),
                                    &len);
        if (s->ob) {
            ob_stats_t os;
            ob_get_stats(s->ob, &os);
            size_t olen;
            char *more = metrics_render_outbox(&os, &js.backlog, brk_now_ms(), &olen);
            text = brk_realloc(text, len + olen + 1);
            memcpy(text + len, more, olen + 1);
            len += olen;
            free(more);
        }
        http_respond(tx, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
    } else {
        report(s, tx->wsi, tx, uri + sizeof report_prefix - 1);
    }
    return 1;
}

/* A whole request (its body read, when it has one). */
static void dispatch(srv_t *s, http_tx_t *tx)
{
    /* Once: lws also reports the end of an explicitly empty POST body after the request. */
    if (tx->dispatched)
        return;
    tx->dispatched = 1;
    const char *body = tx->in ? tx->in : "";
    /* The reports before the classes: both serve paths under /classes/. */
    if (route_builtin(s, tx) || http_web_route(tx) || http_reports_route(tx) ||
        http_accounts_route(tx, body, tx->in_len) || http_classes_route(tx, body, tx->in_len))
        return;
    http_respond_error(tx, 404, "not found");
}

int http_on_request(srv_t *s, struct lws *wsi, ws_pss_t *pss, const char *uri)
{
    s->m.http_requests++;
    if (pss->http)
        http_on_closed(s, pss);
    http_tx_t *tx = brk_calloc(1, sizeof *tx);
    tx->id = ++next_tx_id;
    tx->srv = s;
    tx->wsi = wsi;
    tx->method = method_of(wsi);
    pss->http = tx;
    if (strlen(uri) >= sizeof tx->path) {
        http_respond_error(tx, 404, "not found");
        return 0;
    }
    snprintf(tx->path, sizeof tx->path, "%s", uri);
    lws_get_peer_simple(wsi, tx->addr, sizeof tx->addr);

    if (tx->method == HM_OTHER) {
        http_respond_error(tx, 405, "method not allowed");
        return 0;
    }
    if (tx->method == HM_POST || tx->method == HM_PUT || tx->method == HM_PATCH) {
        char cl[24];
        int n = lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH);
        char *end = NULL;
        unsigned long long want = n > 0 ? strtoull(cl, &end, 10) : 0;
        if (n <= 0 || !end || *end || cl[0] == '-' ||
            lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
            /* lws reads a body without a length as up to 100 MiB, and a chunked one is not
             * read here: refuse both and close rather than misread what follows. */
            tx->close_after = 1;
            http_respond_error(tx, 411, "a Content-Length is required");
            return 0;
        }
        if (want > HTTP_MAX_BODY) {
            /* Up to 1 MiB the body is read and dropped (lws discards what the answer left
             * unread), so that the client reads the answer; beyond, the connection closes. */
            tx->close_after = want > HTTP_DISCARD_MAX;
            http_respond_error(tx, 413, "request body larger than 16 KiB");
            return 0;
        }
        if (want > 0) {
            tx->in_expected = (size_t)want;
            tx->in = brk_malloc(tx->in_expected + 1);
            tx->in[0] = '\0';
            return 0; /* the body follows: http_on_body, then http_on_body_done */
        }
    }
    dispatch(s, tx);
    return 0;
}

int http_on_body(srv_t *s, ws_pss_t *pss, const void *in, size_t len)
{
    (void)s;
    http_tx_t *tx = pss ? pss->http : NULL;
    if (!tx || !tx->in)
        return 0; /* no body expected (explicit zero length), or one lws is dropping */
    if (len > tx->in_expected - tx->in_len)
        return -1; /* more than Content-Length said */
    memcpy(tx->in + tx->in_len, in, len);
    tx->in_len += len;
    tx->in[tx->in_len] = '\0';
    return 0;
}

int http_on_body_done(srv_t *s, ws_pss_t *pss)
{
    http_tx_t *tx = pss ? pss->http : NULL;
    if (tx)
        dispatch(s, tx);
    return 0;
}

static int add_header(struct lws *wsi, const char *name, const char *value, unsigned char **p,
                      unsigned char *end)
{
    return lws_add_http_header_by_name(wsi, (const unsigned char *)name,
                                       (const unsigned char *)value, (int)strlen(value), p, end);
}

int http_on_writeable(srv_t *s, struct lws *wsi, ws_pss_t *pss)
{
    (void)s;
    http_tx_t *tx = pss->http;
    if (!tx || !tx->ready)
        return 0;
    if (!tx->headers_sent) {
        unsigned char buf[LWS_PRE + 2048];
        unsigned char *start = buf + LWS_PRE, *p = start, *end = buf + sizeof buf;
        char retry[24];
        snprintf(retry, sizeof retry, "%d", tx->retry_after_s);
        const char *cache = tx->cache_control ? tx->cache_control : "no-store";
        if (lws_add_http_common_headers(wsi, (unsigned)tx->status, tx->content_type,
                                        tx->out_len, &p, end) ||
            lws_add_http_header_by_token(wsi, WSI_TOKEN_HTTP_CACHE_CONTROL,
                                         (const unsigned char *)cache, (int)strlen(cache), &p,
                                         end) ||
            add_header(wsi, "x-content-type-options:", "nosniff", &p, end) ||
            add_header(wsi, "referrer-policy:", "no-referrer", &p, end) ||
            (tx->csp && add_header(wsi, "content-security-policy:", tx->csp, &p, end)) ||
            (tx->source && add_header(wsi, "x-rollcall-report-source:", tx->source, &p, end)) ||
            (tx->www_auth && add_header(wsi, "www-authenticate:", tx->www_auth, &p, end)) ||
            (tx->disposition &&
             add_header(wsi, "content-disposition:", tx->disposition, &p, end)) ||
            (tx->retry_after_s > 0 && add_header(wsi, "retry-after:", retry, &p, end)) ||
            (tx->close_after && add_header(wsi, "connection:", "close", &p, end)) ||
            lws_finalize_write_http_header(wsi, start, &p, end))
            return -1;
        tx->headers_sent = 1;
        lws_callback_on_writable(wsi);
        return 0;
    }
    /* lws_write needs LWS_PRE bytes of headroom before the data. */
    unsigned char *out = brk_malloc(LWS_PRE + tx->out_len + 1);
    memcpy(out + LWS_PRE, tx->out, tx->out_len);
    int n = lws_write(wsi, out + LWS_PRE, tx->out_len, LWS_WRITE_HTTP_FINAL);
    free(out);
    int close_after = tx->close_after;
    tx_free(tx);
    pss->http = NULL;
    if (n < 0 || close_after)
        return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

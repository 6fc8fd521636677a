/* SPDX-License-Identifier: MIT */
/* History and analytics over HTTP, read from MongoDB when it is configured and the outbox is
 * healthy (mongo.h mg_analytics: every instance's finalized days), else from the local journal
 * (journal.h), which also answers when MongoDB fails:
 *   GET /history/students/{student_id}    a student's records, newest first
 *   GET /classes/{id}/sessions            a class's finalized sessions: its trend
 *   GET /classes/{id}/monthly             a class's months
 *   GET /classes/{id}/monthly/students    a class's students per month
 *   GET /classes/{id}/records             a class's records, as JSON or CSV
 *   GET /analytics/at-risk                the caller's classes below a threshold
 * Who reads what follows the session report: a class's figures and records go to the
 * teachers and admins of that class (a token with that class and a staff role); a student
 * reads only their own history. The rules need nothing but the Bearer token, so these
 * endpoints work whether accounts are on or off. Every answer goes to the caller only.
 * Loop thread only. */
#include "http_int.h"

#include "brk.h"
#include "journal.h"
#include "log.h"
#include "mongo.h"
#include "outbox.h"
#include "report_csv.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define HISTORY_DEFAULT_LIMIT 100
#define DEFAULT_RANGE_DAYS 30   /* sessions, records, at-risk: the last 30 days */
#define DEFAULT_RANGE_MONTHS 12 /* monthly figures: the last 12 months */
#define MAX_PARAMS 16
#define MAX_PARAM_LEN 128

static const char bearer_challenge[] = "Bearer realm=\"rollcall\"";

/* ---- dates ----------------------------------------------------------------------------------- */

/* Reads exactly n decimal digits. */
static int read_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

/* "YYYY-MM": 1 and the month's index (year * 12 + month - 1), or 0. */
static int month_index(const char *s, int *index)
{
    int y, m;
    if (strlen(s) != 7 || s[4] != '-' || !read_digits(s, 4, &y) || !read_digits(s + 5, 2, &m) ||
        m < 1 || m > 12)
        return 0;
    *index = y * 12 + m - 1;
    return 1;
}

static void month_text(int index, char out[8])
{
    BRK_ASSERT(index >= 0);
    snprintf(out, 8, "%04u-%02u", (unsigned)(index / 12) % 10000u, (unsigned)(index % 12 + 1));
}

/* "YYYY-MM-DD" of a day that exists: 1 and the day's number (days since 1970-01-01), or 0. */
static int day_number(const char *s, int64_t *day)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int idx, d;
    if (strlen(s) != 10 || s[7] != '-' || !read_digits(s + 8, 2, &d))
        return 0;
    char ym[8];
    memcpy(ym, s, 7);
    ym[7] = '\0';
    if (!month_index(ym, &idx))
        return 0;
    int y = idx / 12, m = idx % 12 + 1;
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d < 1 || d > mdays[m - 1] + (m == 2 && leap))
        return 0;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = 12};
    *day = (int64_t)timegm(&tm) / 86400;
    return 1;
}

static void day_text(int64_t day, char out[11])
{
    time_t t = (time_t)(day * 86400 + 43200);
    struct tm tm;
    gmtime_r(&t, &tm);
    /* Unsigned and reduced so that the compiler sees the text fit in 10 characters. */
    unsigned y = (unsigned)(tm.tm_year + 1900) % 10000u, m = (unsigned)(tm.tm_mon + 1) % 100u,
             d = (unsigned)tm.tm_mday % 100u;
    snprintf(out, 11, "%04u-%02u-%02u", y, m, d);
}

/* Today's date, UTC (the date DONE gives a session). */
static void today_text(char out[11])
{
    brk_date(brk_now_ms(), out, 11);
}

/* ---- the query string ------------------------------------------------------------------------ */

enum {
    P_CLASS = 1u << 0,
    P_FROM = 1u << 1,
    P_TO = 1u << 2,
    P_LIMIT = 1u << 3,
    P_THRESHOLD = 1u << 4,
    P_FORMAT = 1u << 5,
};

typedef struct query {
    unsigned seen;
    char class_id[AUTH_MAX_ID + 1];
    char from[11], to[11]; /* a date, or a month for the monthly endpoints */
    unsigned limit;
    double threshold;
    int csv;  /* format=csv */
    int json; /* format=json */
} query_t;

/* Whole unsigned decimal of at most max_digits digits. */
static int parse_uint(const char *s, int max_digits, unsigned *out)
{
    size_t n = strlen(s);
    int v;
    if (n < 1 || n > (size_t)max_digits || !read_digits(s, (int)n, &v))
        return 0;
    *out = (unsigned)v;
    return 1;
}

/* A percentage: up to three digits, optionally a point and up to six more; 0..100. Written by hand
 * rather than with strtod alone, which also takes "nan", "1e2", "0x10" and spaces. */
static int parse_pct(const char *s, double *out)
{
    const char *dot = strchr(s, '.');
    size_t whole = dot ? (size_t)(dot - s) : strlen(s);
    int v;
    if (whole < 1 || whole > 3 || !read_digits(s, (int)whole, &v))
        return 0;
    if (dot) {
        size_t frac = strlen(dot + 1);
        if (frac < 1 || frac > 6 || !read_digits(dot + 1, (int)frac, &v))
            return 0;
    }
    double x = strtod(s, NULL);
    if (!(x >= 0.0 && x <= 100.0))
        return 0;
    *out = x;
    return 1;
}

/* Checks one name=value against the endpoint's parameters. Returns 0, or -1 after answering 400
 * naming the parameter. */
static int take_param(http_tx_t *tx, query_t *q, unsigned allowed, int months, char *arg)
{
    static const struct {
        const char *name;
        unsigned bit;
    } names[] = {{"class_id", P_CLASS}, {"from", P_FROM},           {"to", P_TO},
                 {"limit", P_LIMIT},    {"threshold", P_THRESHOLD}, {"format", P_FORMAT}};
    char msg[160];
    char *eq = strchr(arg, '=');
    const char *val = eq ? eq + 1 : "";
    if (eq)
        *eq = '\0';
    unsigned bit = 0;
    for (size_t i = 0; i < BRK_ARRAY_LEN(names); i++)
        if (strcmp(arg, names[i].name) == 0)
            bit = names[i].bit;
    if (!eq && !(bit & allowed))
        return 0; /* a bare word: lws 4.1 even turns a trailing '&' into an argument "/" */
    if (!(bit & allowed)) {
        /* Refused rather than ignored: a misspelt "form=" would otherwise quietly give the
         * default range. The name is echoed only when it is plainly printable. */
        if (brk_id_ok(arg, strlen(arg), 32))
            snprintf(msg, sizeof msg, "unknown parameter %s", arg);
        else
            snprintf(msg, sizeof msg, "unknown parameter");
        http_respond_error(tx, 400, msg);
        return -1;
    }
    if (q->seen & bit) {
        snprintf(msg, sizeof msg, "parameter %s given twice", arg);
        http_respond_error(tx, 400, msg);
        return -1;
    }
    q->seen |= bit;
    int ok = 1;
    int idx;
    int64_t day;
    switch (bit) {
    case P_CLASS:
        ok = brk_id_ok(val, strlen(val), AUTH_MAX_ID);
        if (ok)
            snprintf(q->class_id, sizeof q->class_id, "%s", val);
        break;
    case P_FROM:
    case P_TO:
        ok = months ? month_index(val, &idx) : day_number(val, &day);
        if (ok)
            snprintf(bit == P_FROM ? q->from : q->to, sizeof q->from, "%s", val);
        break;
    case P_LIMIT:
        ok = parse_uint(val, 4, &q->limit) && q->limit >= 1 && q->limit <= JR_HISTORY_MAX;
        break;
    case P_THRESHOLD:
        ok = parse_pct(val, &q->threshold);
        break;
    default: /* P_FORMAT */
        q->csv = strcmp(val, "csv") == 0;
        q->json = strcmp(val, "json") == 0;
        ok = q->csv || q->json;
        break;
    }
    if (!ok) {
        const char *want = "";
        switch (bit) {
        case P_CLASS:
            want = "a class id";
            break;
        case P_FROM:
        case P_TO:
            want = months ? "a month YYYY-MM" : "a date YYYY-MM-DD";
            break;
        case P_LIMIT:
            want = "an integer from 1 to 1000";
            break;
        case P_THRESHOLD:
            want = "a number from 0 to 100";
            break;
        default:
            want = "json or csv";
            break;
        }
        snprintf(msg, sizeof msg, "%s must be %s", arg, want);
        http_respond_error(tx, 400, msg);
        return -1;
    }
    return 0;
}

/* Reads the query string (lws keeps each argument URL-decoded as one fragment of
 * WSI_TOKEN_HTTP_URI_ARGS). Returns 0, or -1 after answering 400. */
static int read_query(http_tx_t *tx, query_t *q, unsigned allowed, int months)
{
    memset(q, 0, sizeof *q);
    int total = lws_hdr_total_length(tx->wsi, WSI_TOKEN_HTTP_URI_ARGS);
    int used = 0;
    /* The total counts every fragment and one separator between two fragments; adding the
     * same up keeps the loop from depending on how lws reports a fragment past the last. */
    for (int i = 0; used < total; i++) {
        if (i == MAX_PARAMS) {
            http_respond_error(tx, 400, "too many query parameters");
            return -1;
        }
        int len = lws_hdr_fragment_length(tx->wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
        used += (len > 0 ? len : 0) + (i > 0);
        if (len <= 0)
            continue;
        char arg[MAX_PARAM_LEN + 1];
        if (len > MAX_PARAM_LEN || lws_hdr_copy_fragment(tx->wsi, arg, (int)sizeof arg,
                                                         WSI_TOKEN_HTTP_URI_ARGS, i) != len) {
            http_respond_error(tx, 400, "a query parameter is too long");
            return -1;
        }
        if (take_param(tx, q, allowed, months, arg) != 0)
            return -1;
    }
    return 0;
}

/* Fills in a missing end of a date range (to: today, UTC; from: DEFAULT_RANGE_DAYS days up to to)
 * and checks its order and length. Returns 0, or -1 after answering 400. */
static int date_range(http_tx_t *tx, query_t *q)
{
    int64_t a = 0, b = 0;
    if (!(q->seen & P_TO))
        today_text(q->to);
    int ok = day_number(q->to, &b);
    if (!(q->seen & P_FROM)) {
        /* Not before year 0000, which dates cannot write. */
        int64_t first = 0;
        ok = ok && day_number("0000-01-01", &first);
        day_text(b - (DEFAULT_RANGE_DAYS - 1) < first ? first : b - (DEFAULT_RANGE_DAYS - 1),
                 q->from);
    }
    ok = ok && day_number(q->from, &a);
    BRK_ASSERT(ok); /* given ones were checked by take_param, the defaults are made so */
    if (a > b) {
        http_respond_error(tx, 400, "from must not be after to");
        return -1;
    }
    if (b - a + 1 > JR_RANGE_MAX_DAYS) {
        http_respond_error(tx, 400, "from..to spans more than 366 days");
        return -1;
    }
    return 0;
}

/* The same for months: to defaults to this month, from to DEFAULT_RANGE_MONTHS months up to to. */
static int month_range(http_tx_t *tx, query_t *q)
{
    int a = 0, b = 0;
    if (!(q->seen & P_TO)) {
        char today[11];
        today_text(today);
        snprintf(q->to, sizeof q->to, "%.7s", today);
    }
    int ok = month_index(q->to, &b);
    if (!(q->seen & P_FROM))
        month_text(b < DEFAULT_RANGE_MONTHS - 1 ? 0 : b - (DEFAULT_RANGE_MONTHS - 1), q->from);
    ok = ok && month_index(q->from, &a);
    BRK_ASSERT(ok);
    if (a > b) {
        http_respond_error(tx, 400, "from must not be after to");
        return -1;
    }
    if (b - a + 1 > JR_MONTHS_MAX) {
        http_respond_error(tx, 400, "from..to spans more than 24 months");
        return -1;
    }
    return 0;
}

/* ---- who may read ---------------------------------------------------------------------------- */

/* Verifies the Bearer token (one without classes is fine: a student who has joined no class yet
 * still has a history). Returns 0 and *id, or -1 after answering 401. */
static int caller(http_tx_t *tx, auth_identity_t *id)
{
    const char *why = NULL;
    if (http_bearer(tx, AUTH_ALLOW_NO_CLASS, id, &why) != 0) {
        LOG(INFO, 0, "history request refused", "status=401 path=%s reason=\"%s\"", tx->path, why);
        tx->www_auth = bearer_challenge;
        http_respond_error(tx, 401, "a valid Bearer token is required");
        return -1;
    }
    return 0;
}

static int is_staff_of(const auth_identity_t *id, const char *class_id)
{
    return id->role != ROLE_STUDENT && auth_has_class(id, class_id);
}

static void forbid(http_tx_t *tx, const auth_identity_t *id, const char *message)
{
    LOG(INFO, 0, "history request refused", "status=403 path=%s sub=%s", tx->path, id->sub);
    http_respond_error(tx, 403, message);
}

/* ---- answers --------------------------------------------------------------------------------- */

/* What a query waiting for the journal needs to answer: its exchange's id, the answer's object so
 * far (the query echoed) and where the rows go in it; for a CSV answer, its Content-Disposition. */
typedef struct rep_req {
    uint64_t tx_id;
    srv_t *srv;
    jr_query_t *query; /* kept for the journal when MongoDB fails */
    jr_rows_kind_t kind;
    const char *rows_key;
    json_t *doc;
    int csv;
    char *disposition;
} rep_req_t;

static json_t *dated_json(const jr_dated_record_t *r)
{
    json_t *o = http_record_json(&r->rec);
    json_object_set_new(o, "date", json_string(r->date));
    return o;
}

static json_t *session_json(const jr_session_stat_t *r)
{
    return json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f}", "date", r->date, "session_id",
                     r->session_id, "present", r->present, "late", r->late, "absent", r->absent,
                     "total", r->total, "attendance_percentage", r->attendance_pct,
                     "average_engagement", r->avg_engagement_pct);
}

static json_t *month_json(const jr_month_stat_t *r)
{
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f}", "month", r->month, "sessions",
                     r->sessions, "present", r->present, "late", r->late, "absent", r->absent,
                     "records", r->records, "attendance_percentage", r->attendance_pct,
                     "average_engagement", r->avg_engagement_pct);
}

static json_t *student_month_json(const jr_student_month_t *r)
{
    return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:i, s:f, s:f}", "student_id", r->student_id,
                     "student_name", r->student_name, "month", r->month, "sessions", r->sessions,
                     "attended", r->attended, "late", r->late, "absent", r->absent,
                     "attendance_percentage", r->attendance_pct, "average_engagement",
                     r->avg_engagement_pct);
}

static json_t *class_json(const jr_class_stat_t *r)
{
    return json_pack("{s:s, s:i, s:i, s:i, s:i, s:i, s:f, s:f}", "class_id", r->class_id,
                     "sessions", r->sessions, "present", r->present, "late", r->late, "absent",
                     r->absent, "total", r->total, "attendance_percentage", r->attendance_pct,
                     "average_engagement", r->avg_engagement_pct);
}

/* The rows as a JSON array, or NULL when a stored text is not valid UTF-8. */
static json_t *rows_json(const jr_result_t *res)
{
    json_t *a = json_array();
    for (size_t i = 0; i < res->rows_n; i++) {
        json_t *o = NULL;
        switch (res->rows_kind) {
        case JR_ROWS_DATED:
            o = dated_json(&res->rows.dated[i]);
            break;
        case JR_ROWS_SESSIONS:
            o = session_json(&res->rows.sessions[i]);
            break;
        case JR_ROWS_MONTHS:
            o = month_json(&res->rows.months[i]);
            break;
        case JR_ROWS_STUDENT_MONTHS:
            o = student_month_json(&res->rows.student_months[i]);
            break;
        case JR_ROWS_CLASSES:
            o = class_json(&res->rows.classes[i]);
            break;
        case JR_ROWS_NONE:
            break;
        }
        if (!o) {
            /* jansson refuses text that is not UTF-8: a row the broker did not write. */
            json_decref(a);
            return NULL;
        }
        json_array_append_new(a, o);
    }
    return a;
}

static void answer(http_tx_t *tx, rep_req_t *rq, jr_result_t *res, const char *source)
{
    tx->source = source;
    if (res->err == BRK_ETOOBIG) {
        http_respond_error(tx, 400,
                           strcmp(source, "mongodb") == 0
                               ? "more than 200000 stored documents for this query in MongoDB"
                               : "more than 100000 records from..to: ask for a shorter range");
        return;
    }
    if (res->err) {
        LOG(ERROR, 0, "history query failed", "path=%s err=\"%s\"", tx->path, res->errmsg);
        tx->retry_after_s = 1;
        http_respond_error(tx, 503, "the journal is unavailable");
        return;
    }
    BRK_ASSERT(res->rows_kind == rq->kind);
    if (rq->csv) {
        size_t len;
        char *text = jr_csv_records(res->rows.dated, res->rows_n, &len);
        tx->disposition = rq->disposition;
        rq->disposition = NULL;
        http_respond(tx, 200, "text/csv; charset=utf-8", text, len);
        return;
    }
    json_t *rows = rows_json(res);
    if (!rows) {
        LOG(ERROR, 0, "history query failed", "path=%s err=\"a stored text is not UTF-8\"",
            tx->path);
        http_respond_error(tx, 500, "a stored record cannot be shown as JSON");
        return;
    }
    json_object_set_new(rq->doc, rq->rows_key, rows);
    http_respond_json(tx, 200, json_incref(rq->doc));
}

static void req_free(rep_req_t *rq)
{
    jr_query_free(rq->query);
    json_decref(rq->doc);
    free(rq->disposition);
    free(rq);
}

static void on_rows(jr_result_t *res, void *ud)
{
    rep_req_t *rq = ud;
    http_tx_t *tx = http_pending_take(rq->tx_id);
    if (tx)
        answer(tx, rq, res, "journal");
    jr_result_free(res);
    req_free(rq);
}

/* MongoDB's answer. Rows, or a query too big to read there, are the answer; any other error
 * asks the journal instead, which has at least this instance's own sessions. */
static void on_rows_mongo(jr_result_t *res, void *ud)
{
    rep_req_t *rq = ud;
    http_tx_t *tx = http_pending_take(rq->tx_id);
    if (tx && (res->err == 0 || res->err == BRK_ETOOBIG)) {
        answer(tx, rq, res, "mongodb");
        jr_result_free(res);
        req_free(rq);
        return;
    }
    if (res->err)
        LOG(WARN, 0, "mongodb analytics failed; reading the journal", "path=%s err=\"%s\"",
            tx ? tx->path : "-", res->errmsg);
    jr_result_free(res);
    if (!tx) {
        req_free(rq);
        return;
    }
    http_pending_add(tx);
    jr_analytics(rq->srv->jr, rq->query, on_rows, rq);
}

/* A query for tx whose rows of kind go under rows_key in doc (taken). */
static rep_req_t *new_req(http_tx_t *tx, jr_rows_kind_t kind, const char *rows_key, json_t *doc)
{
    rep_req_t *rq = brk_calloc(1, sizeof *rq);
    rq->tx_id = tx->id;
    rq->srv = tx->srv;
    rq->kind = kind;
    rq->rows_key = rows_key;
    rq->doc = doc;
    return rq;
}

/* Checks req and runs it, on MongoDB when it is configured and the outbox last shipped
 * fine (as the session report does), else on the journal, parking the exchange until the
 * answer. Inputs the checks above let through but the query refuses (they should not) answer
 * 400 at once. */
static void submit(http_tx_t *tx, rep_req_t *rq, const jr_analytics_req_t *req)
{
    srv_t *s = tx->srv;
    if (jr_query_new(req, &rq->query) != 0) {
        req_free(rq);
        http_respond_error(tx, 400, "bad parameters");
        return;
    }
    BRK_ASSERT(jr_query_rows_kind(rq->query) == rq->kind);
    http_pending_add(tx);
    ob_stats_t os = {0};
    if (s->ob)
        ob_get_stats(s->ob, &os);
    if (s->mg && s->ob && os.healthy)
        mg_analytics(s->mg, rq->query, on_rows_mongo, rq);
    else
        jr_analytics(s->jr, rq->query, on_rows, rq);
}

/* ---- the endpoints --------------------------------------------------------------------------- */

static void history(http_tx_t *tx, const auth_identity_t *id, const char *student_id)
{
    query_t q;
    if (read_query(tx, &q, P_CLASS | P_FROM | P_TO | P_LIMIT, 0) != 0)
        return;
    int64_t a, b;
    if ((q.seen & (P_FROM | P_TO)) == (P_FROM | P_TO) && day_number(q.from, &a) &&
        day_number(q.to, &b) && a > b) {
        http_respond_error(tx, 400, "from must not be after to");
        return;
    }
    const char *class_id = (q.seen & P_CLASS) ? q.class_id : NULL;
    if (id->role == ROLE_STUDENT) {
        if (strcmp(id->sub, student_id) != 0) {
            forbid(tx, id, "a student may read only their own history");
            return;
        }
        if (class_id && !auth_has_class(id, class_id)) {
            forbid(tx, id, "class_id is not one of your token's classes");
            return;
        }
    } else {
        if (!class_id) {
            http_respond_error(tx, 400, "class_id is required for teachers and admins");
            return;
        }
        if (!auth_has_class(id, class_id)) {
            forbid(tx, id,
                   "only a teacher or admin of this class may read its students' "
                   "history");
            return;
        }
    }
    unsigned limit = (q.seen & P_LIMIT) ? q.limit : HISTORY_DEFAULT_LIMIT;
    const char *from = (q.seen & P_FROM) ? q.from : NULL;
    const char *to = (q.seen & P_TO) ? q.to : NULL;
    json_t *doc = json_pack("{s:s, s:o, s:o, s:o, s:i}", "student_id", student_id, "class_id",
                            class_id ? json_string(class_id) : json_null(), "from",
                            from ? json_string(from) : json_null(), "to",
                            to ? json_string(to) : json_null(), "limit", (int)limit);
    rep_req_t *rq = new_req(tx, JR_ROWS_DATED, "records", doc);
    jr_analytics_req_t req = {.kind = JR_Q_HISTORY,
                              .student_id = student_id,
                              .class_id = class_id,
                              .from = from,
                              .to = to,
                              .limit = limit};
    submit(tx, rq, &req);
}

/* Whether the client asked for CSV: format=csv, or text/csv in Accept with a weight above zero
 * (format=json wins over Accept). */
static int wants_csv(http_tx_t *tx, const query_t *q)
{
    if (q->csv || q->json)
        return q->csv;
    char accept[512];
    if (lws_hdr_copy(tx->wsi, accept, sizeof accept, WSI_TOKEN_HTTP_ACCEPT) <= 0)
        return 0;
    char *save = NULL;
    for (char *item = strtok_r(accept, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        char *params = strchr(item, ';');
        size_t n = params ? (size_t)(params - item) : strlen(item);
        while (n > 0 && (item[n - 1] == ' ' || item[n - 1] == '\t'))
            n--;
        if (n != 8 || strncasecmp(item, "text/csv", 8) != 0)
            continue;
        /* q=0 (0, 0.0, 0.00, 0.000) means "not this type". */
        const char *qp = params ? strstr(params, "q=") : NULL;
        if (qp && strtod(qp + 2, NULL) <= 0.0)
            continue;
        return 1;
    }
    return 0;
}

/* The four class endpoints: rest is "/sessions", "/monthly", "/monthly/students" or "/records". */
static void class_endpoint(http_tx_t *tx, const auth_identity_t *id, const char *class_id,
                           const char *rest)
{
    int months = strncmp(rest, "/monthly", 8) == 0;
    int records = strcmp(rest, "/records") == 0;
    query_t q;
    if (read_query(tx, &q, P_FROM | P_TO | (records ? P_FORMAT : 0), months) != 0)
        return;
    if (months ? month_range(tx, &q) != 0 : date_range(tx, &q) != 0)
        return;
    if (!is_staff_of(id, class_id)) {
        forbid(tx, id, "only a teacher or admin of this class may read its figures");
        return;
    }
    json_t *doc = json_pack("{s:s, s:s, s:s}", "class_id", class_id, "from", q.from, "to", q.to);
    jr_analytics_req_t req = {.class_id = class_id, .from = q.from, .to = q.to};
    rep_req_t *rq;
    if (strcmp(rest, "/sessions") == 0) {
        rq = new_req(tx, JR_ROWS_SESSIONS, "sessions", doc);
        req.kind = JR_Q_CLASS_SESSIONS;
    } else if (strcmp(rest, "/monthly") == 0) {
        rq = new_req(tx, JR_ROWS_MONTHS, "months", doc);
        req.kind = JR_Q_CLASS_MONTHLY;
    } else if (months) {
        rq = new_req(tx, JR_ROWS_STUDENT_MONTHS, "students", doc);
        req.kind = JR_Q_STUDENT_MONTHLY;
    } else {
        rq = new_req(tx, JR_ROWS_DATED, "records", doc);
        rq->csv = wants_csv(tx, &q);
        if (rq->csv) {
            /* Class ids and dates are of the token id alphabet and digits: nothing in them
             * needs quoting inside the quoted filename. */
            int n = asprintf(&rq->disposition, "attachment; filename=\"%s-%s-%s.csv\"", class_id,
                             q.from, q.to);
            BRK_ASSERT(n > 0);
        }
        req.kind = JR_Q_EXPORT;
    }
    submit(tx, rq, &req);
}

static void at_risk(http_tx_t *tx, const auth_identity_t *id)
{
    query_t q;
    if (read_query(tx, &q, P_FROM | P_TO | P_THRESHOLD, 0) != 0 || date_range(tx, &q) != 0)
        return;
    if (id->role == ROLE_STUDENT) {
        forbid(tx, id, "only teachers and admins may read the classes at risk");
        return;
    }
    double threshold = (q.seen & P_THRESHOLD) ? q.threshold : JR_AT_RISK_DEFAULT_PCT;
    json_t *doc = json_pack("{s:s, s:s, s:f}", "from", q.from, "to", q.to, "threshold", threshold);
    if (id->n_classes == 0) {
        /* A token without classes has none at risk; the journal wants at least one. */
        json_object_set_new(doc, "classes", json_array());
        http_respond_json(tx, 200, doc);
        return;
    }
    const char *ids[AUTH_MAX_CLASSES];
    for (int i = 0; i < id->n_classes; i++)
        ids[i] = id->classes[i];
    rep_req_t *rq = new_req(tx, JR_ROWS_CLASSES, "classes", doc);
    jr_analytics_req_t req = {.kind = JR_Q_AT_RISK,
                              .class_ids = ids,
                              .n_classes = (size_t)id->n_classes,
                              .from = q.from,
                              .to = q.to,
                              .threshold_pct = threshold};
    submit(tx, rq, &req);
}

/* "/classes/{id}/rest" with a token id and one of the sub-paths served here: 1 with the id and
 * rest, else 0 (the path belongs to the class management endpoints, http_classes.c). */
static int class_subpath(const char *path, char *class_id, const char **rest)
{
    static const char *const mine[] = {"/sessions", "/monthly", "/monthly/students", "/records"};
    const char *p = path + strlen("/classes/");
    const char *slash = strchr(p, '/');
    if (!slash || !brk_id_ok(p, (size_t)(slash - p), AUTH_MAX_ID))
        return 0;
    for (size_t i = 0; i < BRK_ARRAY_LEN(mine); i++) {
        if (strcmp(slash, mine[i]) == 0) {
            memcpy(class_id, p, (size_t)(slash - p));
            class_id[slash - p] = '\0';
            *rest = slash;
            return 1;
        }
    }
    return 0;
}

int http_reports_route(http_tx_t *tx)
{
    static const char history_prefix[] = "/history/students/";
    const char *path = tx->path;
    char class_id[AUTH_MAX_ID + 1];
    const char *rest = NULL;
    int is_history = strncmp(path, history_prefix, sizeof history_prefix - 1) == 0;
    int is_at_risk = strcmp(path, "/analytics/at-risk") == 0;
    if (!is_history && !is_at_risk &&
        !(strncmp(path, "/classes/", 9) == 0 && class_subpath(path, class_id, &rest)))
        return 0;
    if (tx->method != HM_GET) {
        http_respond_error(tx, 405, "use GET");
        return 1;
    }
    auth_identity_t id;
    if (caller(tx, &id) != 0)
        return 1;
    if (is_history) {
        const char *student_id = path + sizeof history_prefix - 1;
        if (!brk_id_ok(student_id, strlen(student_id), AUTH_MAX_ID)) {
            http_respond_error(tx, 404, "expected /history/students/{student_id}");
            return 1;
        }
        history(tx, &id, student_id);
    } else if (is_at_risk) {
        at_risk(tx, &id);
    } else {
        class_endpoint(tx, &id, class_id, rest);
    }
    return 1;
}

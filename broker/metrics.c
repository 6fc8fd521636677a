/* SPDX-License-Identifier: MIT */
/* Prometheus text exposition of the broker's counters. */
#include "metrics.h"
#include "state.h"

#include "auth.h"
#include "brk.h"
#include "journal.h"
#include "outbox.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *buf;
    size_t len, cap;
} sbuf_t;

__attribute__((format(printf, 2, 3))) static void put(sbuf_t *b, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        BRK_ASSERT(n >= 0);
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        b->cap = b->cap * 2 + (size_t)n;
        b->buf = brk_realloc(b->buf, b->cap);
    }
}

static void head(sbuf_t *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

char *metrics_render(const metrics_t *m, const struct jr_stats *js, int ready, size_t *len)
{
    sbuf_t b = {brk_malloc(4096), 0, 4096};
    static const auth_role_t roles[] = {ROLE_STUDENT, ROLE_TEACHER, ROLE_ADMIN};

    head(&b, "rollcall_up", "gauge", "1 while the process runs");
    put(&b, "rollcall_up 1\n");
    head(&b, "rollcall_ready", "gauge", "1 when ready to serve, 0 while starting or draining");
    put(&b, "rollcall_ready %d\n", ready ? 1 : 0);

    head(&b, "rollcall_connections", "gauge", "Open WebSocket connections by role");
    for (size_t i = 0; i < BRK_ARRAY_LEN(roles); i++)
        put(&b, "rollcall_connections{role=\"%s\"} %llu\n", auth_role_name(roles[i]),
            (unsigned long long)m->connections[roles[i]]);
    head(&b, "rollcall_connections_total", "counter", "Accepted WebSocket connections by role");
    for (size_t i = 0; i < BRK_ARRAY_LEN(roles); i++)
        put(&b, "rollcall_connections_total{role=\"%s\"} %llu\n", auth_role_name(roles[i]),
            (unsigned long long)m->connections_total[roles[i]]);
    head(&b, "rollcall_upgrades_refused_total", "counter", "Upgrades refused, by reason");
    put(&b, "rollcall_upgrades_refused_total{reason=\"auth\"} %llu\n",
        (unsigned long long)m->auth_refused);
    put(&b, "rollcall_upgrades_refused_total{reason=\"unavailable\"} %llu\n",
        (unsigned long long)m->conn_refused_full);
    head(&b, "rollcall_jwt_key_reloads_total", "counter",
         "JWT key files read again on SIGHUP, by result (failed: the old keys stayed)");
    put(&b, "rollcall_jwt_key_reloads_total{result=\"ok\"} %llu\n",
        (unsigned long long)m->jwt_key_reloads[0]);
    put(&b, "rollcall_jwt_key_reloads_total{result=\"failed\"} %llu\n",
        (unsigned long long)m->jwt_key_reloads[1]);
    head(&b, "rollcall_token_expired_closes_total", "counter",
         "Connections closed with 4003 because their token expired (exp plus the leeway)");
    put(&b, "rollcall_token_expired_closes_total %llu\n",
        (unsigned long long)m->hdl.token_expired_closes);
    head(&b, "rollcall_token_renewals_total", "counter", "AUTH token renewals, by result");
    put(&b, "rollcall_token_renewals_total{result=\"ok\"} %llu\n",
        (unsigned long long)m->hdl.token_renewals[0]);
    put(&b, "rollcall_token_renewals_total{result=\"refused\"} %llu\n",
        (unsigned long long)m->hdl.token_renewals[1]);

    head(&b, "rollcall_messages_in_total", "counter", "Client messages received, by event");
    for (int i = 0; i < EVT__COUNT; i++)
        put(&b, "rollcall_messages_in_total{event=\"%s\"} %llu\n",
            env_type_name((evt_type_t)i), (unsigned long long)m->messages_in[i]);
    put(&b, "rollcall_messages_in_total{event=\"binary\"} %llu\n",
        (unsigned long long)m->messages_in_binary);
    head(&b, "rollcall_messages_out_total", "counter",
         "Messages queued to connections (one per recipient), by event");
    for (int i = 0; i < OUT__COUNT; i++)
        put(&b, "rollcall_messages_out_total{event=\"%s\"} %llu\n", msg_type_name((out_type_t)i),
            (unsigned long long)m->messages_out[i]);
    head(&b, "rollcall_errors_total", "counter", "ERROR replies sent, by code");
    for (int i = 0; i < ERR__COUNT; i++)
        put(&b, "rollcall_errors_total{code=\"%s\"} %llu\n", err_code_name((err_code_t)i),
            (unsigned long long)m->errors[i]);
    head(&b, "rollcall_ws_io_uring", "gauge",
         "1 when a loop turn's writes go out in one io_uring submission, 0 for send(2) each");
    put(&b, "rollcall_ws_io_uring %d\n", m->io_uring);
    head(&b, "rollcall_ws_writes_total", "counter",
         "Sends of queued WebSocket frames; frames waiting together share one send");
    put(&b, "rollcall_ws_writes_total %llu\n", (unsigned long long)m->write_calls);
    head(&b, "rollcall_ws_write_deferrals_total", "counter",
         "Sends the kernel took only part of; the rest went out when the socket drained");
    put(&b, "rollcall_ws_write_deferrals_total %llu\n",
        (unsigned long long)m->write_deferrals);
    head(&b, "rollcall_queue_drops_total", "counter",
         "Outbound messages discarded because their consumer was too slow");
    put(&b, "rollcall_queue_drops_total %llu\n", (unsigned long long)m->queue_drops);
    head(&b, "rollcall_slow_consumer_closes_total", "counter",
         "Connections closed with 4001 because their outbound queue passed its limit");
    put(&b, "rollcall_slow_consumer_closes_total %llu\n",
        (unsigned long long)m->slow_consumer_closes);
    head(&b, "rollcall_idle_closes_total", "counter",
         "Connections closed with 1001 after ROLLCALL_IDLE_TIMEOUT seconds without traffic");
    put(&b, "rollcall_idle_closes_total %llu\n", (unsigned long long)m->idle_closes);
    head(&b, "rollcall_abuse_closes_total", "counter",
         "Connections closed with 1008 or 1009 for abusive input");
    put(&b, "rollcall_abuse_closes_total %llu\n", (unsigned long long)m->abuse_closes);
    head(&b, "rollcall_http_requests_total", "counter", "Plain HTTP requests served");
    put(&b, "rollcall_http_requests_total %llu\n", (unsigned long long)m->http_requests);
    head(&b, "rollcall_logins_total", "counter",
         "POST /auth/login answers: ok, failed (wrong email or password)");
    put(&b, "rollcall_logins_total{result=\"ok\"} %llu\n", (unsigned long long)m->logins_ok);
    put(&b, "rollcall_logins_total{result=\"failed\"} %llu\n",
        (unsigned long long)m->logins_failed);
    head(&b, "rollcall_auth_rate_limited_total", "counter",
         "Password requests refused with 429 (per account or per client address)");
    put(&b, "rollcall_auth_rate_limited_total %llu\n", (unsigned long long)m->logins_limited);

    head(&b, "rollcall_frames_total", "counter", "Student frames, by outcome");
    static const char *const outcomes[] = {"received", "refused", "analyzed", "failed",
                                           "skipped",  "replaced", "stale"};
    const uint64_t counts[] = {m->hdl.frames_received, m->hdl.frames_refused, m->hdl.frames_analyzed,
                               m->hdl.frames_failed,   m->hdl.frames_skipped, m->hdl.frames_replaced,
                               m->hdl.frames_stale};
    for (size_t i = 0; i < BRK_ARRAY_LEN(outcomes); i++)
        put(&b, "rollcall_frames_total{outcome=\"%s\"} %llu\n", outcomes[i],
            (unsigned long long)counts[i]);
    head(&b, "rollcall_analyzer_queue", "gauge", "Frames waiting for an analyzer worker");
    put(&b, "rollcall_analyzer_queue %llu\n", (unsigned long long)m->hdl.frames_queued);
    head(&b, "rollcall_analyzer_busy", "gauge", "Analyzer workers analyzing a frame now");
    put(&b, "rollcall_analyzer_busy %llu\n", (unsigned long long)m->hdl.frames_busy);
    head(&b, "rollcall_analysis_seconds_total", "counter", "Time spent analyzing frames");
    put(&b, "rollcall_analysis_seconds_total %.6f\n", m->hdl.analysis_seconds_total);
    head(&b, "rollcall_engagement_updates_total", "counter",
         "ENGAGEMENT_UPDATE messages built (each shared by a class's teachers)");
    put(&b, "rollcall_engagement_updates_total %llu\n", (unsigned long long)m->hdl.engagement_updates);
    head(&b, "rollcall_violations_total", "counter", "Proctoring violations raised, by kind");
    for (int k = ST_VIOL_NO_FACE; k <= ST_VIOL_LOOKING_AWAY; k++)
        put(&b, "rollcall_violations_total{kind=\"%s\"} %llu\n",
            st_violation_name((st_violation_t)k), (unsigned long long)m->hdl.violations[k]);

    if (m->redis_enabled) {
        head(&b, "rollcall_redis_up", "gauge", "1 while Redis (live state, fan-out) is reachable");
        put(&b, "rollcall_redis_up %d\n", m->redis_up ? 1 : 0);
        head(&b, "rollcall_redis_outages_total", "counter", "Times Redis became unreachable");
        put(&b, "rollcall_redis_outages_total %llu\n", (unsigned long long)m->redis_outages);
        head(&b, "rollcall_redis_publish_failed_total", "counter",
             "Events Redis did not take for the other instances");
        put(&b, "rollcall_redis_publish_failed_total %llu\n",
            (unsigned long long)m->redis_publish_failed);
        head(&b, "rollcall_redis_messages_in_total", "counter",
             "Events received from the other instances");
        put(&b, "rollcall_redis_messages_in_total %llu\n",
            (unsigned long long)m->redis_messages_in);
        head(&b, "rollcall_presence_swept_total", "counter",
             "Students reported offline because their instance died");
        put(&b, "rollcall_presence_swept_total %llu\n",
            (unsigned long long)m->redis_presence_swept);
    }
    if (js) {
        head(&b, "rollcall_journal_writes_total", "counter",
             "Journal finalize transactions, by result");
        put(&b, "rollcall_journal_writes_total{result=\"ok\"} %llu\n",
            (unsigned long long)js->finalize_ok);
        put(&b, "rollcall_journal_writes_total{result=\"already\"} %llu\n",
            (unsigned long long)js->finalize_already);
        put(&b, "rollcall_journal_writes_total{result=\"failed\"} %llu\n",
            (unsigned long long)js->finalize_failed);
        head(&b, "rollcall_journal_records_total", "counter", "Attendance records written");
        put(&b, "rollcall_journal_records_total %llu\n", (unsigned long long)js->records_written);
        head(&b, "rollcall_journal_queue", "gauge", "Journal jobs waiting or running");
        put(&b, "rollcall_journal_queue %zu\n", js->queued);
    }
    *len = b.len;
    return b.buf;
}

/* Writes s as a Prometheus label value: backslash, quote and newline escaped. */
static void put_label(sbuf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            put(b, "\\%c", *s);
        else if (*s == '\n')
            put(b, "\\n");
        else
            put(b, "%c", *s);
    }
}

char *metrics_render_outbox(const struct ob_stats *os, const struct jr_backlog *bl, int64_t now_ms,
                            size_t *len)
{
    sbuf_t b = {brk_malloc(2048), 0, 2048};
    static const char *const kinds[] = {"", "unreachable", "write", "other"};
    double age = bl->oldest_ms ? (double)(now_ms - bl->oldest_ms) / 1000.0 : 0.0;

    head(&b, "rollcall_mongodb_backlog_records", "gauge",
         "Finalized attendance records durable in the journal, not yet acknowledged by MongoDB");
    put(&b, "rollcall_mongodb_backlog_records %llu\n", (unsigned long long)bl->records);
    head(&b, "rollcall_mongodb_backlog_days", "gauge", "Finalized class days not yet shipped");
    put(&b, "rollcall_mongodb_backlog_days %llu\n", (unsigned long long)bl->days);
    head(&b, "rollcall_mongodb_backlog_oldest_age_seconds", "gauge",
         "Age of the oldest day waiting to be shipped, 0 when none waits");
    put(&b, "rollcall_mongodb_backlog_oldest_age_seconds %.3f\n", age < 0 ? 0.0 : age);
    head(&b, "rollcall_mongodb_shipped_records_total", "counter",
         "Records acknowledged by MongoDB and marked shipped");
    put(&b, "rollcall_mongodb_shipped_records_total %llu\n",
        (unsigned long long)os->shipped_records);
    head(&b, "rollcall_mongodb_shipped_days_total", "counter", "Class days shipped");
    put(&b, "rollcall_mongodb_shipped_days_total %llu\n", (unsigned long long)os->shipped_days);
    head(&b, "rollcall_mongodb_ship_attempts_total", "counter", "Attempts to ship a day");
    put(&b, "rollcall_mongodb_ship_attempts_total %llu\n", (unsigned long long)os->attempts);
    head(&b, "rollcall_mongodb_ship_failures_total", "counter",
         "Failed attempts, by kind (unreachable, write: refused by the server, other)");
    for (int i = 1; i < 4; i++)
        put(&b, "rollcall_mongodb_ship_failures_total{kind=\"%s\"} %llu\n", kinds[i],
            (unsigned long long)os->failures[i]);
    head(&b, "rollcall_mongodb_up", "gauge",
         "1 when the last attempt to reach MongoDB succeeded (or none was needed yet)");
    put(&b, "rollcall_mongodb_up %d\n", os->healthy ? 1 : 0);
    head(&b, "rollcall_mongodb_retry_backoff_seconds", "gauge",
         "Current retry delay before jitter, 0 when not backing off");
    put(&b, "rollcall_mongodb_retry_backoff_seconds %.3f\n", os->backoff_ms / 1000.0);
    if (os->last_error[0]) {
        head(&b, "rollcall_mongodb_last_error_timestamp_seconds", "gauge",
             "When the last shipping error happened; the label holds its message");
        put(&b, "rollcall_mongodb_last_error_timestamp_seconds{error=\"");
        put_label(&b, os->last_error);
        put(&b, "\"} %.3f\n", os->last_error_at_ms / 1000.0);
    }
    *len = b.len;
    return b.buf;
}

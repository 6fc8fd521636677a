/* SPDX-License-Identifier: MIT */
/* CSV text of attendance records (report_csv.h): RFC 4180 quoting, CRLF line ends, and text
 * fields defused against spreadsheet formula injection. Builds the text in one growing
 * buffer; touches nothing else. */
#include "report_csv.h"

#include "brk.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct buf {
    char *p;
    size_t len, cap;
} buf_t;

static void put(buf_t *b, const char *s, size_t n)
{
    if (b->cap - b->len < n + 1) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap - b->len < n + 1)
            cap *= 2;
        b->p = brk_realloc(b->p, cap);
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put_str(buf_t *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A text field, read up to cap bytes (a stored field is always terminated; a row built by
 * hand may not be). */
static void put_text(buf_t *b, const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    /* Spreadsheets evaluate a cell that starts with one of these as a formula (OWASP's "CSV
     * injection"); the quote makes them show it as text. */
    int defuse = n > 0 && strchr("=+-@\t\r", s[0]) != NULL;
    int quote = memchr(s, ',', n) || memchr(s, '"', n) || memchr(s, '\r', n) || memchr(s, '\n', n);
    if (quote)
        put(b, "\"", 1);
    if (defuse)
        put(b, "'", 1);
    if (!quote) {
        put(b, s, n);
    } else {
        for (size_t i = 0; i < n; i++)
            put(b, s[i] == '"' ? "\"\"" : &s[i], s[i] == '"' ? 2 : 1);
        put(b, "\"", 1);
    }
}

#define TEXT(b, field) put_text((b), (field), sizeof(field))

/* A real number with the given decimals, or nothing when it is not finite. */
static void put_real(buf_t *b, double x, int decimals)
{
    char num[512]; /* DBL_MAX written with %.3f takes 313 */
    if (!isfinite(x))
        return;
    int n = snprintf(num, sizeof num, "%.*f", decimals, x);
    if (n > 0 && (size_t)n < sizeof num)
        put(b, num, (size_t)n);
}

static void put_int(buf_t *b, int64_t v)
{
    char num[24];
    int n = snprintf(num, sizeof num, "%" PRId64, v);
    put(b, num, (size_t)n);
}

/* The date of a day number (days since 1970-01-01), proleptic Gregorian: the inverse of the
 * journal's day count (H. Hinnant's civil_from_days). */
static void civil(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

/* Milliseconds since the epoch as ISO 8601 UTC. Done here rather than with gmtime: negative
 * times round down to the earlier second, and a year past 9999 (ended_at can be anything a
 * caller stored) is left empty instead of overflowing struct tm. */
static void put_time(buf_t *b, int64_t ms)
{
    /* Floor division, so -1 ms is 23:59:59.999 of the day before the epoch. */
    int64_t secs = ms / 1000 - (ms % 1000 < 0);
    int64_t milli = ms - secs * 1000;
    int64_t days = secs / 86400 - (secs % 86400 < 0);
    int64_t sod = secs - days * 86400;
    int64_t y;
    int m, d;
    char out[32];
    civil(days, &y, &m, &d);
    if (y < 0 || y > 9999)
        return;
    int n = snprintf(out, sizeof out, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (int)y, m, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), (int)milli);
    put(b, out, (size_t)n);
}

char *jr_csv_records(const jr_dated_record_t *rows, size_t n, size_t *len)
{
    BRK_ASSERT(rows || n == 0);
    buf_t b = {0};
    put_str(&b, "date,session_id,class_id,student_id,student_name,status,source,"
                "engagement_percentage,engagement_duration_seconds,"
                "total_class_duration_seconds,frames_analyzed,trust_score,started_at,ended_at,"
                "finalized_at\r\n");
    for (size_t i = 0; i < n; i++) {
        const jr_record_t *r = &rows[i].rec;
        TEXT(&b, rows[i].date);
        put(&b, ",", 1);
        TEXT(&b, r->session_id);
        put(&b, ",", 1);
        TEXT(&b, r->class_id);
        put(&b, ",", 1);
        TEXT(&b, r->student_id);
        put(&b, ",", 1);
        TEXT(&b, r->student_name);
        put(&b, ",", 1);
        TEXT(&b, r->status);
        put(&b, ",", 1);
        TEXT(&b, r->source);
        put(&b, ",", 1);
        put_real(&b, r->engagement_percentage, 2);
        put(&b, ",", 1);
        put_real(&b, r->engagement_duration_seconds, 3);
        put(&b, ",", 1);
        put_real(&b, r->total_class_duration_seconds, 3);
        put(&b, ",", 1);
        put_int(&b, r->frames_analyzed);
        put(&b, ",", 1);
        put_int(&b, r->trust_score);
        put(&b, ",", 1);
        put_time(&b, r->started_at_ms);
        put(&b, ",", 1);
        put_time(&b, r->ended_at_ms);
        put(&b, ",", 1);
        put_time(&b, r->finalized_at_ms);
        put(&b, "\r\n", 2);
    }
    if (len)
        *len = b.len;
    return b.p;
}

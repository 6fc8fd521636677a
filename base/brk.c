/* SPDX-License-Identifier: MIT */
/* Allocation, assertion, error strings and clock helpers shared by every module. */
#include "brk.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <uv.h>

const char *brk_strerror(int err)
{
    switch (err) {
    case BRK_OK: return "ok";
    case BRK_EINVAL: return "invalid value";
    case BRK_ENOMEM: return "resource limit reached";
    case BRK_EAUTH: return "authentication failed";
    case BRK_ENOTFOUND: return "not found";
    case BRK_EEXIST: return "already exists";
    case BRK_EIO: return "input/output error";
    case BRK_ESTATE: return "invalid state";
    case BRK_ECLOSED: return "closed";
    case BRK_EFULL: return "queue full";
    case BRK_ETOOBIG: return "too large";
    default: break;
    }
    if (err < 0 && err > -4096)
        return uv_strerror(err);
    return "unknown error";
}

static void oom(size_t n)
{
    fprintf(stderr, "level=fatal msg=\"out of memory\" bytes=%zu\n", n);
    abort();
}

void *brk_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *brk_calloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        oom(n * size);
    return p;
}

void *brk_realloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *brk_strdup(const char *s)
{
    return brk_strndup(s, strlen(s));
}

char *brk_strndup(const char *s, size_t n)
{
    char *p = brk_malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void brk_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "level=fatal msg=\"assertion failed\" expr=\"%s\" at=%s:%d\n", expr, file,
            line);
    abort();
}

int64_t brk_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t brk_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void brk_iso8601(int64_t ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void brk_date(int64_t ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(out, outlen, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

int brk_random(void *out, size_t n)
{
    unsigned char *p = out;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            return BRK_EIO;
        }
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

void brk_hex(const void *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *p = in;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int brk_id_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':' || c == '@'))
            return 0;
    }
    return 1;
}

/* SPDX-License-Identifier: MIT */
/* Parser for ROLLCALL_REDIS_URL. Takes a string and fills an rds_url_t; touches no socket
 * and performs no name lookup. Host names other than "localhost" are refused rather than
 * resolved, because hiredis would resolve them with a blocking getaddrinfo() on the loop. */
#include "rds.h"

#include "brk.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t errlen, const char *fmt,
                                                      ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return BRK_EINVAL;
}

/* Parses the n decimal digits at s (no sign, no spaces) into *out, refusing values over
 * max. Returns 0 or -1. */
static int parse_uint(const char *s, size_t n, long max, long *out)
{
    long v = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decodes n bytes at s into out (size outlen, NUL-terminated). Returns 0, or -1 on
 * a bad escape, an encoded NUL, or overflow. */
static int pct_decode(const char *s, size_t n, char *out, size_t outlen)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '%') {
            if (i + 2 >= n)
                return -1;
            int hi = hexval(s[i + 1]);
            int lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            ch = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = ch;
    }
    out[o] = '\0';
    return 0;
}

static int parse_db(const char *s, size_t n, rds_url_t *out, char *err, size_t errlen)
{
    long v;
    if (parse_uint(s, n, 2147483647L, &v) != 0)
        return fail(err, errlen, "invalid database number \"%.*s\" (expected 0 or more)",
                    (int)(n > 32 ? 32 : n), s);
    out->db = (int)v;
    return 0;
}

static int parse_unix(const char *rest, rds_url_t *out, char *err, size_t errlen)
{
    const char *q = strchr(rest, '?');
    size_t plen = q ? (size_t)(q - rest) : strlen(rest);
    if (plen == 0)
        return fail(err, errlen, "missing socket path in unix:// URL (expected unix:///path)");
    if (rest[0] != '/')
        return fail(err, errlen, "unix socket path must be absolute (expected unix:///path)");
    if (plen >= sizeof out->path)
        return fail(err, errlen, "unix socket path too long (%zu bytes, at most %zu)", plen,
                    sizeof out->path - 1);
    memcpy(out->path, rest, plen);
    out->path[plen] = '\0';
    if (!q)
        return 0;
    const char *p = q + 1;
    if (*p == '\0')
        return 0;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t len = amp ? (size_t)(amp - p) : strlen(p);
        if (len > 3 && strncmp(p, "db=", 3) == 0) {
            int rc = parse_db(p + 3, len - 3, out, err, errlen);
            if (rc)
                return rc;
        } else if (len >= 3 && strncmp(p, "db=", 3) == 0) {
            return fail(err, errlen, "empty db parameter in unix:// URL");
        } else {
            return fail(err, errlen, "unknown parameter \"%.*s\" in unix:// URL (only db=N)",
                        (int)(len > 32 ? 32 : len), p);
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}

static int parse_userinfo(const char *s, size_t n, rds_url_t *out, char *err, size_t errlen)
{
    const char *colon = memchr(s, ':', n);
    if (!colon)
        return fail(err, errlen, "credentials must be \":password@\" or \"user:password@\"");
    size_t ulen = (size_t)(colon - s);
    size_t plen = n - ulen - 1;
    if (plen == 0)
        return fail(err, errlen, "empty password in Redis URL");
    if (pct_decode(s, ulen, out->user, sizeof out->user) != 0)
        return fail(err, errlen, "invalid user name in Redis URL (bad %%-escape or too long)");
    if (pct_decode(colon + 1, plen, out->password, sizeof out->password) != 0)
        return fail(err, errlen, "invalid password in Redis URL (bad %%-escape or too long)");
    out->has_password = 1;
    return 0;
}

static int parse_host(const char *s, size_t n, rds_url_t *out, char *err, size_t errlen)
{
    const char *portp = NULL;
    size_t portlen = 0;
    char host[RDS_HOST_MAX];

    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            return fail(err, errlen, "unterminated IPv6 address (missing \"]\")");
        size_t hlen = (size_t)(close - s - 1);
        if (hlen == 0 || hlen >= sizeof host)
            return fail(err, errlen, "invalid IPv6 address in Redis URL");
        memcpy(host, s + 1, hlen);
        host[hlen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, host, &a6) != 1)
            return fail(err, errlen, "invalid IPv6 address \"%s\"", host);
        const char *after = close + 1;
        size_t left = n - (size_t)(after - s);
        if (left > 0) {
            if (*after != ':')
                return fail(err, errlen, "unexpected \"%.*s\" after IPv6 address",
                            (int)(left > 32 ? 32 : left), after);
            portp = after + 1;
            portlen = left - 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        size_t hlen = colon ? (size_t)(colon - s) : n;
        if (hlen == 0)
            return fail(err, errlen, "missing host in Redis URL");
        if (colon) {
            portp = colon + 1;
            portlen = n - hlen - 1;
        }
        if (hlen == 9 && strncasecmp(s, "localhost", 9) == 0) {
            strcpy(host, "127.0.0.1");
        } else {
            struct in_addr a4;
            if (hlen < sizeof host) {
                memcpy(host, s, hlen);
                host[hlen] = '\0';
            }
            if (hlen >= sizeof host || inet_pton(AF_INET, host, &a4) != 1)
                return fail(err, errlen,
                            "host \"%.*s\" is not an IP address or localhost (names are not "
                            "resolved: the lookup would block the event loop)",
                            (int)(hlen > 64 ? 64 : hlen), s);
        }
    }
    snprintf(out->host, sizeof out->host, "%s", host);
    out->port = RDS_DEFAULT_PORT;
    if (portp) {
        long v;
        if (parse_uint(portp, portlen, 65535, &v) != 0 || v == 0)
            return fail(err, errlen, "invalid port \"%.*s\" (expected 1-65535)",
                        (int)(portlen > 32 ? 32 : portlen), portp);
        out->port = (int)v;
    }
    return 0;
}

static int parse_tcp(const char *rest, rds_url_t *out, char *err, size_t errlen)
{
    size_t alen = strcspn(rest, "/?#");
    const char *at = NULL;
    for (size_t i = 0; i < alen; i++)
        if (rest[i] == '@')
            at = rest + i;
    const char *hostp = rest;
    if (at) {
        int rc = parse_userinfo(rest, (size_t)(at - rest), out, err, errlen);
        if (rc)
            return rc;
        hostp = at + 1;
    }
    int rc = parse_host(hostp, alen - (size_t)(hostp - rest), out, err, errlen);
    if (rc)
        return rc;

    const char *p = rest + alen;
    if (*p == '/') {
        p++;
        size_t dlen = strcspn(p, "?#");
        if (dlen > 0) {
            rc = parse_db(p, dlen, out, err, errlen);
            if (rc)
                return rc;
        }
        p += dlen;
    }
    if (*p != '\0')
        return fail(err, errlen, "unexpected \"%.32s\" in Redis URL (expected /db at the end)", p);
    return 0;
}

int rds_url_parse(const char *url, rds_url_t *out, char *err, size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    memset(out, 0, sizeof *out);
    out->db = -1;
    if (!url || !*url)
        return fail(err, errlen, "empty Redis URL");
    if (strncasecmp(url, "redis://", 8) == 0)
        return parse_tcp(url + 8, out, err, errlen);
    if (strncasecmp(url, "unix://", 7) == 0) {
        out->is_unix = 1;
        return parse_unix(url + 7, out, err, errlen);
    }
    if (strncasecmp(url, "rediss://", 9) == 0)
        return fail(err, errlen, "TLS (rediss://) is not supported");
    return fail(err, errlen, "unknown scheme in Redis URL (expected redis:// or unix://)");
}

const char *rds_url_redacted(const rds_url_t *u, char *buf, size_t buflen)
{
    char db[24] = "";
    if (u->is_unix) {
        if (u->db >= 0)
            snprintf(db, sizeof db, "?db=%d", u->db);
        snprintf(buf, buflen, "unix://%s%s", u->path, db);
        return buf;
    }
    if (u->db >= 0)
        snprintf(db, sizeof db, "/%d", u->db);
    int v6 = strchr(u->host, ':') != NULL;
    snprintf(buf, buflen, "redis://%s%s%s%s%s%s:%d%s", u->user, u->has_password ? ":***" : "",
             u->has_password ? "@" : "", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, db);
    return buf;
}

/* SPDX-License-Identifier: MIT */
/* Shared basics for every module: error codes, allocation that aborts on OOM, assertions
 * that stay on in release builds, and clock helpers. */
#ifndef BRK_H
#define BRK_H

#include <stddef.h>
#include <stdint.h>

/* Errors are 0 or a negative BRK_E* code; libuv's UV_E* codes pass through unchanged and
 * never collide with these (they are small negative errno values). */
enum {
    BRK_OK = 0,
    BRK_EINVAL = -10001,   /* invalid argument or value */
    BRK_ENOMEM = -10002,   /* a bounded resource is full */
    BRK_EAUTH = -10003,    /* authentication failed */
    BRK_ENOTFOUND = -10004,
    BRK_EEXIST = -10005,
    BRK_EIO = -10006,      /* storage or system call failed */
    BRK_ESTATE = -10007,   /* operation not valid in the current state */
    BRK_ECLOSED = -10008,  /* the peer or component is gone */
    BRK_EFULL = -10009,    /* a queue passed its limit */
    BRK_ETOOBIG = -10010,
};

/* Returns a static description of any BRK_E* or UV_E* code. */
const char *brk_strerror(int err);

void *brk_malloc(size_t n);
void *brk_calloc(size_t n, size_t size);
void *brk_realloc(void *p, size_t n);
char *brk_strdup(const char *s);
char *brk_strndup(const char *s, size_t n);

#define BRK_FREE(p)                                                                                \
    do {                                                                                           \
        free(p);                                                                                   \
        (p) = NULL;                                                                                \
    } while (0)

void brk_assert_fail(const char *expr, const char *file, int line);
#define BRK_ASSERT(e) ((e) ? (void)0 : brk_assert_fail(#e, __FILE__, __LINE__))

#define BRK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* Wall clock in milliseconds since the epoch (CLOCK_REALTIME). */
int64_t brk_now_ms(void);
/* Monotonic clock in nanoseconds. */
uint64_t brk_mono_ns(void);
/* Formats ms since the epoch as "2026-11-22T08:10:00.123Z" into out (at least 25 bytes). */
void brk_iso8601(int64_t ms, char *out, size_t outlen);

/* 1 when s (len bytes) is a usable id: 1 to max bytes of letters, digits and - _ . : @.
 * User, class and student ids end up in log lines, Redis keys, file names and URL paths;
 * this alphabet needs quoting in none of them. */
int brk_id_ok(const char *s, size_t len, size_t max);
/* Formats the UTC date of ms as "2026-11-22" into out (at least 11 bytes). */
void brk_date(int64_t ms, char *out, size_t outlen);
/* Fills out with n random bytes from the OS; returns 0 or BRK_EIO. */
int brk_random(void *out, size_t n);
/* Writes 2*n lowercase hex characters and a NUL into out. */
void brk_hex(const void *in, size_t n, char *out);

#endif

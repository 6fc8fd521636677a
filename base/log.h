/* SPDX-License-Identifier: MIT */
/* Structured logging: one line per record on stderr, "ts=... level=... msg=... key=value".
 * LOG() checks the level before evaluating its arguments. Safe from any thread (one
 * fprintf per line). Never pass tokens or face data. */
#ifndef BRK_LOG_H
#define BRK_LOG_H

#include <stdint.h>

typedef enum { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF } log_level_t;

extern log_level_t log_level;

/* Parses "debug", "info", "warn", "error", "off"; returns 0 or BRK_EINVAL. */
int log_parse_level(const char *s, log_level_t *out);
const char *log_level_name(log_level_t l);

/* conn is the connection id, or 0 when the line is about no connection. fmt continues
 * the line after msg: pass key=value pairs, e.g. LOG(INFO, id, "conn open", "role=%s", r). */
void log_write(log_level_t level, uint64_t conn, const char *msg, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG(lvl, conn, msg, ...)                                                                   \
    do {                                                                                           \
        if (LOG_##lvl >= log_level)                                                                \
            log_write(LOG_##lvl, (conn), (msg), __VA_ARGS__);                                      \
    } while (0)

#endif

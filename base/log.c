/* SPDX-License-Identifier: MIT */
/* key=value log lines on stderr. */
#include "log.h"

#include "brk.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

log_level_t log_level = LOG_INFO;

static const char *const names[] = {"debug", "info", "warn", "error", "off"};

int log_parse_level(const char *s, log_level_t *out)
{
    for (size_t i = 0; i < BRK_ARRAY_LEN(names); i++) {
        if (strcmp(s, names[i]) == 0) {
            *out = (log_level_t)i;
            return 0;
        }
    }
    return BRK_EINVAL;
}

const char *log_level_name(log_level_t l)
{
    return (unsigned)l < BRK_ARRAY_LEN(names) ? names[l] : "?";
}

void log_write(log_level_t level, uint64_t conn, const char *msg, const char *fmt, ...)
{
    char ts[32];
    char line[1024];
    brk_iso8601(brk_now_ms(), ts, sizeof ts);
    int n = snprintf(line, sizeof line, "ts=%s level=%s msg=\"%s\"", ts, log_level_name(level),
                     msg);
    if (n < 0)
        return;
    if (conn && (size_t)n < sizeof line)
        n += snprintf(line + n, sizeof line - (size_t)n, " conn=%llu", (unsigned long long)conn);
    if (fmt && fmt[0] && (size_t)n + 1 < sizeof line) {
        line[n++] = ' ';
        va_list ap;
        va_start(ap, fmt);
        int m = vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
        if (m > 0)
            n += m;
    }
    if ((size_t)n >= sizeof line)
        n = (int)sizeof line - 1;
    line[n] = '\n';
    fwrite(line, 1, (size_t)n + 1, stderr);
}

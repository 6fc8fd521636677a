/* SPDX-License-Identifier: MIT */
/* The pages people open: GET / (index.html, the landing page), /teacher (teacher.html),
 * /student (student.html), and the directory's files under /static/, read from
 * ROLLCALL_WEB_DIR (off with ROLLCALL_WEB=off). Plain files, no build
 * step. Every page carries a Content-Security-Policy that lets it load only its own origin's
 * scripts, styles and images, and talk only to its own origin (its WebSocket included), and
 * that forbids inline script, framing, plugins and foreign form targets. Paths are checked
 * before the file system sees them: only [A-Za-z0-9._-] segments, none starting with a dot,
 * so nothing outside the directory (no "..", no hidden file) can be named. Who receives
 * what: anyone, without a token: the pages hold no data, they fetch it with the user's
 * token. Files are small and read on the loop thread on demand. */
#include "http_int.h"

#include "brk.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define WEB_MAX_FILE (4 * 1024 * 1024)

/* 'self' covers the page's own ws:// and wss:// origin in current browsers; media and
 * images may also be blob: (the camera preview, a frame drawn to a canvas). */
static const char page_csp[] =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob: data:; "
    "media-src 'self' blob: mediastream:; connect-src 'self'; font-src 'self'; "
    "manifest-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
    "object-src 'none'";

static const struct {
    const char *ext, *type;
} types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".json", "application/json"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".woff2", "font/woff2"},
    {".txt", "text/plain; charset=utf-8"},
};

static const char *type_of(const char *name)
{
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < BRK_ARRAY_LEN(types); i++)
        if (strcmp(dot, types[i].ext) == 0)
            return types[i].type;
    return NULL;
}

/* 1 when rel is segments of [A-Za-z0-9._-] separated by single slashes, none empty and none
 * starting with a dot. */
static int safe_path(const char *rel)
{
    size_t n = strlen(rel);
    if (n == 0 || n > 200)
        return 0;
    int seg_start = 1;
    for (size_t i = 0; i < n; i++) {
        char ch = rel[i];
        if (ch == '/') {
            if (seg_start)
                return 0; /* empty segment */
            seg_start = 1;
            continue;
        }
        if (seg_start && ch == '.')
            return 0;
        seg_start = 0;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return 0;
    }
    return !seg_start;
}

/* The file rel of the web directory, whole: 0 with *out (malloc'd) and *len, or -1. */
static int read_file(const char *dir, const char *rel, char **out, size_t *len)
{
    char path[1024];
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, rel) >= sizeof path)
        return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > WEB_MAX_FILE) {
        close(fd);
        return -1;
    }
    size_t want = (size_t)st.st_size, got = 0;
    char *buf = brk_malloc(want + 1);
    while (got < want) {
        ssize_t r = read(fd, buf + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != want) {
        free(buf);
        return -1;
    }
    *out = buf;
    *len = got;
    return 0;
}

int http_web_route(http_tx_t *tx)
{
    const cfg_t *cfg = tx->srv->cfg;
    if (!cfg->web)
        return 0;
    const char *path = tx->path, *rel = NULL;
    int page = 1;
    if (strcmp(path, "/") == 0 || strcmp(path, "/index.html") == 0)
        rel = "index.html";
    else if (strcmp(path, "/teacher") == 0)
        rel = "teacher.html";
    else if (strcmp(path, "/student") == 0)
        rel = "student.html";
    else if (strncmp(path, "/static/", 8) == 0) {
        rel = path + 8; /* /static/x is the directory's x: web/rollcall.js is /static/rollcall.js */
        page = 0;
    } else {
        return 0;
    }
    if (tx->method != HM_GET) {
        http_respond_error(tx, 405, "use GET");
        return 1;
    }
    const char *type = type_of(rel);
    char *body = NULL;
    size_t len = 0;
    if (!type || !safe_path(rel) || read_file(cfg->web_dir, rel, &body, &len) != 0) {
        http_respond_error(tx, 404, "not found");
        return 1;
    }
    /* Pages are checked every time (they name the assets); assets for an hour. */
    tx->cache_control = page ? "no-cache" : "public, max-age=3600";
    if (strncmp(type, "text/html", 9) == 0)
        tx->csp = page_csp;
    http_respond(tx, 200, type, body, len);
    return 1;
}

/* SPDX-License-Identifier: MIT */
/* rollcall's benchmark load generator. One process, one epoll loop, non-blocking sockets and
 * a minimal RFC 6455 client of its own (HTTP/1.1 upgrade, masked client frames, 16- and 64-bit
 * lengths, fragmented messages, PING answered with PONG, the close handshake), with HS256
 * tokens minted here from the broker's secret. Four scenarios: "connect" (idle connections,
 * connect rate, broker RSS per connection), "ping" (clients each keeping one PING event in
 * flight; round trips per second and their latency), "fanout" (one teacher sending ANNOUNCE to
 * the class at a fixed rate, every student of the class receiving each ANNOUNCEMENT; delivery
 * latency) and "frames" (students streaming a JPEG each interval; frame -> FRAME_RESULT and
 * frame -> teacher's ENGAGEMENT_UPDATE latency). connect, ping and fanout use only WELCOME,
 * PING/PONG, ANNOUNCE/ANNOUNCEMENT and ERROR, so they run against the Node reference server
 * of bench/ref as well as against the broker. Each run prints exactly one key=value result
 * line on stdout, starting with bench=<scenario>, and human progress lines on stderr. Loopback
 * only; every run is bounded in count and in time (--deadline) and stops by itself. See
 * bench/README.md. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_MESSAGE (16u << 20)     /* largest server message accepted (frame or reassembled) */
#define MAX_HTTP_HEAD 16384         /* largest upgrade response head */
#define MAX_CONNS 60000             /* one loopback destination: bounded by ephemeral ports */
#define MAX_MARKS 10000000ull       /* rate * duration */
#define MARK_STUDENTS 50            /* marks name students s0..s49 in turn */
#define CLOSE_WAIT_NS 2000000000ull /* how long the final close handshake may take */

/* ------------------------------------------------------------------------------------------ */
/* Options */

typedef struct opts {
    const char *scenario;
    char host[64];
    int family;
    int port;
    int port2; /* fanout: a second broker instance for every other student (0: none) */
    const char *path;
    char *secret;
    size_t secret_len;
    double deadline_s;
    int broker_pid;
    int broker2_pid; /* fanout with --port2: the second instance, for its CPU time */
    char class_prefix[48];
    char label[48];
    char server[32]; /* printed as server=<name> when set */
    int inflight;
    double hs_timeout_s;
    /* connect */
    int conns;
    int classes;
    double settle_s;
    double hold_s;
    int ping_each; /* connect: each connection sends one PING, gets its PONG before RSS */
    /* ping */
    int clients;
    /* fanout */
    int students;
    double rate;
    double duration_s;
    double drain_s;
    double start_settle_s;
    /* frames */
    double interval_s;
    const char *image;
} opts_t;

/* ------------------------------------------------------------------------------------------ */
/* Histogram: log-linear buckets over nanoseconds, 128 sub-buckets per power of two, so any
 * reported percentile is within 0.8% of the true sample; min, max and mean are exact. */

#define H_SUB 7
#define H_BUCKETS ((64 - H_SUB + 1) << H_SUB)

typedef struct hist {
    uint64_t *b;
    uint64_t n, min, max;
    double sum;
} hist_t;

static void hist_init(hist_t *h)
{
    h->b = calloc(H_BUCKETS, sizeof *h->b);
    if (!h->b) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(1);
    }
    h->n = 0;
    h->min = UINT64_MAX;
    h->max = 0;
    h->sum = 0;
}

static unsigned hist_index(uint64_t v)
{
    if (v < (1u << H_SUB))
        return (unsigned)v;
    unsigned msb = 63u - (unsigned)__builtin_clzll(v);
    unsigned shift = msb - H_SUB;
    return ((shift + 1) << H_SUB) + (unsigned)((v >> shift) - (1u << H_SUB));
}

static uint64_t hist_value(unsigned idx)
{
    unsigned g = idx >> H_SUB;
    if (g == 0)
        return idx;
    unsigned shift = g - 1;
    uint64_t low = (uint64_t)((idx & ((1u << H_SUB) - 1)) + (1u << H_SUB)) << shift;
    return low + (((uint64_t)1 << shift) - 1) / 2;
}

static void hist_add(hist_t *h, uint64_t v)
{
    h->b[hist_index(v)]++;
    h->n++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
}

/* The q-quantile in nanoseconds (nearest rank), 0 when empty. */
static uint64_t hist_q(const hist_t *h, double q)
{
    if (h->n == 0)
        return 0;
    uint64_t rank = (uint64_t)(q * (double)h->n + 0.999999);
    if (rank < 1)
        rank = 1;
    if (rank > h->n)
        rank = h->n;
    uint64_t cum = 0;
    for (unsigned i = 0; i < H_BUCKETS; i++) {
        cum += h->b[i];
        if (cum >= rank) {
            uint64_t v = hist_value(i);
            if (v > h->max)
                v = h->max;
            if (v < h->min)
                v = h->min;
            return v;
        }
    }
    return h->max;
}

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

/* ------------------------------------------------------------------------------------------ */
/* Connections */

enum { CS_IDLE, CS_CONNECTING, CS_HANDSHAKE, CS_OPEN, CS_CLOSING, CS_DONE };
enum { ROLE_STUDENT, ROLE_TEACHER };

typedef struct conn {
    int fd;
    int idx;
    uint8_t state;
    uint8_t role;
    bool close_sent;
    bool infrag;
    bool welcome;
    uint8_t mop;
    uint32_t ev;
    uint64_t t_start;
    uint64_t t_closing;
    uint64_t got; /* ATTENDANCE_MARKED broadcasts received (students) */
    /* frames: send times of this student's frames; answered ones are [ans, nsent) */
    uint64_t *fsend;
    uint32_t nsent, ans;
    uint64_t *analyzed_ns; /* send time of the frame counted as analyzed frame k (1-based) */
    uint64_t seen;         /* frames_analyzed last seen in an ENGAGEMENT_UPDATE */
    /* ping: the one PING event in flight on this connection */
    bool ping_out;
    uint64_t ping_seq, ping_ns;
    char key[32];
    uint8_t *rbuf; /* bytes of a partial frame or response head carried to the next read */
    size_t rlen, rcap;
    uint8_t *wbuf;
    size_t woff, wlen, wcap;
    uint8_t *msg; /* a fragmented message being reassembled */
    size_t mlen, mcap;
} conn_t;

static struct {
    opts_t o;
    int ep;
    int tfd;
    struct sockaddr_storage addr;
    struct sockaddr_storage addr2; /* --port2 */
    socklen_t addrlen;
    char hosthdr[96];
    uint64_t rng;
    uint64_t t_begin, t_deadline;
    /* When the last epoll_wait returned: the receive time of every message read in that
     * batch (it was in the socket by then), so the loadgen's own time spent reading the
     * sockets before it does not count as the server's latency. */
    uint64_t t_ready;
    /* fanout: students' sockets carry the kernel's receive time (SO_TIMESTAMPNS), taken when
     * the server's send put the bytes into the loopback path, before this process read them.
     * t_arrive is the stamp of the last recv (0: none), on CLOCK_MONOTONIC; rt_off is
     * CLOCK_REALTIME minus CLOCK_MONOTONIC, read once when the scenario starts. */
    bool rx_stamps;
    uint64_t t_arrive;
    int64_t rt_off;
    bool deadline_hit;
    volatile sig_atomic_t interrupted;

    conn_t *conns;
    int nconns;
    int next_start; /* next connection to open */
    int upto;       /* the current phase opens connections [0, upto) */
    int inflight;   /* connecting or waiting for the 101 */
    int open;       /* in CS_OPEN */

    /* connection outcomes */
    int established, failed;
    int f_socket, f_http, f_timeout, f_eof;
    int last_http_status;
    int bad_accept;
    int welcomes;
    uint64_t t_last_established;
    int dropped; /* open connections the broker closed or lost while we did not ask */
    int close_frames, close_1000, close_1001, close_1008, close_1009, close_4001, close_other;
    int eof_no_close;
    int proto_errors;
    uint64_t pings, pongs, fragmented, binary, bad_json;
    hist_t hs; /* handshake latency: connect() to 101 */

    /* fanout */
    conn_t *teacher;
    bool sending; /* the send phase is on */
    uint64_t *send_ns;
    uint64_t total_marks, sent;
    uint64_t t_first_send, t_last_delivery, t_sched0, period_ns;
    uint64_t send_lag_max;
    size_t teacher_backlog_max;
    uint64_t delivered, extra, order_errors;
    uint64_t delivered2; /* of delivered: to students on the second instance (--port2) */
    uint64_t replies, reply_errors, reply_unmatched;
    bool frozen;        /* the measurement window is over: count nothing more */
    uint64_t after_window; /* marks and replies that arrived while closing (not counted) */
    hist_t lat, reply;
    hist_t wire; /* fanout: teacher's send -> the student's socket (kernel receive stamp) */

    /* frames */
    uint8_t *img;
    size_t img_len;
    uint32_t max_frames;
    uint64_t f_sent, f_results, f_skipped, f_errors, f_updates, f_rows, f_unmatched;
    uint64_t f_first_err_logged;
    bool session_started;
    hist_t flat; /* frame sent -> FRAME_RESULT */

    /* ping (and connect --ping-each): PING events, not WebSocket ping frames */
    bool ping_window; /* the measurement window is open: answer each PONG with a PING */
    uint64_t ping_sent, pong_events, pongs_window, ping_errors, ping_unmatched;

    uint8_t gbuf[1 << 16];
} G;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t s_to_ns(double s)
{
    return s <= 0 ? 0 : (uint64_t)(s * 1e9);
}

static void info(const char *fmt, ...)
{
    va_list ap;
    double t = (double)(now_ns() - G.t_begin) / 1e9;
    fprintf(stderr, "[%7.3f] ", t);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void die(const char *fmt, ...)
{
    va_list ap;
    fputs("loadgen: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die("out of memory (%zu bytes)", n);
    return q;
}

static void reserve(uint8_t **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return;
    size_t c = *cap ? *cap : 256;
    while (c < need)
        c *= 2;
    *buf = xrealloc(*buf, c);
    *cap = c;
}

/* xorshift64*: masking keys and Sec-WebSocket-Key need no cryptographic strength here. */
static uint64_t rnd(void)
{
    G.rng ^= G.rng >> 12;
    G.rng ^= G.rng << 25;
    G.rng ^= G.rng >> 27;
    return G.rng * 2685821657736338717ull;
}

static bool expired(void)
{
    if (G.interrupted || now_ns() >= G.t_deadline) {
        G.deadline_hit = G.deadline_hit || !G.interrupted;
        return true;
    }
    return false;
}

/* ------------------------------------------------------------------------------------------ */
/* Base64 and the HS256 token */

static size_t b64(char *out, const uint8_t *in, size_t n, bool url)
{
    const char *t = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        out[o++] = t[v >> 6 & 63];
        out[o++] = t[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = t[v >> 18 & 63];
        out[o++] = t[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = t[v >> 6 & 63];
        else if (!url)
            out[o++] = '=';
        if (!url)
            out[o++] = '=';
    }
    out[o] = '\0';
    return o;
}

/* Writes header.claims.signature into out (at least 1024 bytes). */
static void mint_token(char *out, size_t cap, const char *sub, const char *role,
                       const char *class_id)
{
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char claims[384];
    long long iat = (long long)time(NULL);
    long long exp = iat + 3600 + (long long)G.o.deadline_s;
    int cl = snprintf(claims, sizeof claims,
                      "{\"sub\":\"%s\",\"role\":\"%s\",\"class_id\":\"%s\",\"iat\":%lld,"
                      "\"exp\":%lld}",
                      sub, role, class_id, iat, exp);
    if (cl < 0 || (size_t)cl >= sizeof claims || cap < 1024)
        die("token claims too long");
    size_t o = b64(out, (const uint8_t *)header, sizeof header - 1, true);
    out[o++] = '.';
    o += b64(out + o, (const uint8_t *)claims, (size_t)cl, true);
    uint8_t mac[EVP_MAX_MD_SIZE];
    unsigned maclen = 0;
    if (!HMAC(EVP_sha256(), G.o.secret, (int)G.o.secret_len, (const uint8_t *)out, o, mac,
              &maclen))
        die("HMAC-SHA256 failed");
    out[o++] = '.';
    b64(out + o, mac, maclen, true);
}

/* ------------------------------------------------------------------------------------------ */
/* Minimal JSON access: finds a top-level key of an object and returns its raw value span. */

static const char *j_ws(const char *p, const char *e)
{
    while (p < e && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *j_str_end(const char *p, const char *e)
{
    for (p++; p < e; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return NULL;
}

static const char *j_val_end(const char *p, const char *e)
{
    if (p >= e)
        return NULL;
    if (*p == '"')
        return j_str_end(p, e);
    if (*p == '{' || *p == '[') {
        int depth = 0;
        while (p < e) {
            if (*p == '"') {
                p = j_str_end(p, e);
                if (!p)
                    return NULL;
                continue;
            }
            if (*p == '{' || *p == '[') {
                depth++;
            } else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return NULL;
    }
    while (p < e && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' &&
           *p != '\r' && *p != '\t')
        p++;
    return p;
}

static bool j_get(const char *p, const char *e, const char *key, const char **vs,
                  const char **ve)
{
    size_t kl = strlen(key);
    p = j_ws(p, e);
    if (p >= e || *p != '{')
        return false;
    p = j_ws(p + 1, e);
    if (p < e && *p == '}')
        return false;
    for (;;) {
        p = j_ws(p, e);
        if (p >= e || *p != '"')
            return false;
        const char *ks = p + 1, *kend = j_str_end(p, e);
        if (!kend)
            return false;
        p = j_ws(kend, e);
        if (p >= e || *p != ':')
            return false;
        p = j_ws(p + 1, e);
        const char *vend = j_val_end(p, e);
        if (!vend)
            return false;
        if ((size_t)(kend - 1 - ks) == kl && memcmp(ks, key, kl) == 0) {
            *vs = p;
            *ve = vend;
            return true;
        }
        p = j_ws(vend, e);
        if (p >= e || *p != ',')
            return false;
        p++;
    }
}

static bool j_is_str(const char *vs, const char *ve, const char *lit)
{
    size_t l = strlen(lit);
    return (size_t)(ve - vs) == l + 2 && vs[0] == '"' && memcmp(vs + 1, lit, l) == 0;
}

/* Parses a non-negative integer value; false for anything else. */
static bool j_uint(const char *vs, const char *ve, uint64_t *out)
{
    uint64_t v = 0;
    if (vs >= ve)
        return false;
    for (const char *p = vs; p < ve; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    *out = v;
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* Socket plumbing */

static void conn_set_events(conn_t *c, uint32_t want)
{
    if (c->fd < 0 || c->ev == want)
        return;
    struct epoll_event e = {.events = want, .data.ptr = c};
    if (epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
        c->ev = want;
}

static void conn_close_fd(conn_t *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    c->rlen = 0;
    c->woff = c->wlen = 0;
    c->mlen = 0;
    c->infrag = false;
}

/* The connection failed before it was established. */
static void conn_fail(conn_t *c, int *counter)
{
    if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) {
        G.inflight--;
        G.failed++;
        (*counter)++;
    }
    conn_close_fd(c);
    c->state = CS_DONE;
}

/* An established connection ended: either we were closing it, or it was lost. */
static void conn_end(conn_t *c)
{
    if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) {
        conn_fail(c, &G.f_eof);
        return;
    }
    if (c->state == CS_OPEN) {
        G.open--;
        G.dropped++;
    }
    conn_close_fd(c);
    c->state = CS_DONE;
}

static void proto_error(conn_t *c, const char *what)
{
    if (G.proto_errors++ < 5)
        info("protocol error on conn %d: %s", c->idx, what);
    conn_end(c);
}

static int conn_flush(conn_t *c)
{
    while (c->woff < c->wlen) {
        ssize_t n = send(c->fd, c->wbuf + c->woff, c->wlen - c->woff, MSG_NOSIGNAL);
        if (n > 0) {
            c->woff += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_set_events(c, EPOLLIN | EPOLLOUT);
            return 0;
        }
        if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE)
            conn_fail(c, &G.f_socket);
        else
            conn_end(c);
        return -1;
    }
    c->woff = c->wlen = 0;
    conn_set_events(c, EPOLLIN);
    return 0;
}

static int conn_write(conn_t *c, const void *data, size_t len)
{
    if (c->woff > 0 && c->woff == c->wlen)
        c->woff = c->wlen = 0;
    if (c->woff > (64u << 10) && c->woff > c->wlen / 2) {
        memmove(c->wbuf, c->wbuf + c->woff, c->wlen - c->woff);
        c->wlen -= c->woff;
        c->woff = 0;
    }
    reserve(&c->wbuf, &c->wcap, c->wlen + len);
    memcpy(c->wbuf + c->wlen, data, len);
    c->wlen += len;
    return conn_flush(c);
}

/* Queues one masked frame (FIN set) and flushes what the socket takes. */
static int ws_send(conn_t *c, unsigned op, const void *data, size_t len)
{
    uint8_t hdr[14];
    size_t h = 0;
    hdr[h++] = (uint8_t)(0x80u | op);
    if (len < 126) {
        hdr[h++] = (uint8_t)(0x80u | len);
    } else if (len <= 0xffff) {
        hdr[h++] = 0x80 | 126;
        hdr[h++] = (uint8_t)(len >> 8);
        hdr[h++] = (uint8_t)len;
    } else {
        hdr[h++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[h++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    uint32_t key = (uint32_t)(rnd() >> 32);
    uint8_t *mask = hdr + h;
    memcpy(mask, &key, 4);
    h += 4;

    if (c->woff > 0 && c->woff == c->wlen)
        c->woff = c->wlen = 0;
    reserve(&c->wbuf, &c->wcap, c->wlen + h + len);
    memcpy(c->wbuf + c->wlen, hdr, h);
    uint8_t *dst = c->wbuf + c->wlen + h;
    const uint8_t *src = data;
    for (size_t i = 0; i < len; i++)
        dst[i] = src[i] ^ mask[i & 3];
    c->wlen += h + len;
    return conn_flush(c);
}

static void ws_close(conn_t *c, unsigned code)
{
    uint8_t p[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    c->close_sent = true;
    ws_send(c, 0x8, p, code ? 2 : 0);
}

/* ------------------------------------------------------------------------------------------ */
/* Messages */

/* Time from t0 to the receive time now (the batch's ready time); a message sent after the
 * batch became ready and read in it anyway is timed by the clock instead. */
static uint64_t since(uint64_t now, uint64_t t0)
{
    if (now < t0)
        now = now_ns();
    return now > t0 ? now - t0 : 0;
}

static void on_mark_broadcast(conn_t *c, const char *p, const char *e, uint64_t now)
{
    uint64_t i = c->got++;
    if (i >= G.sent) {
        G.extra++;
        return;
    }
    hist_add(&G.lat, since(now, G.send_ns[i]));
    if (G.t_arrive)
        hist_add(&G.wire, G.t_arrive > G.send_ns[i] ? G.t_arrive - G.send_ns[i] : 0);
    G.delivered++;
    if (G.o.port2 && (c->idx & 1))
        G.delivered2++;
    G.t_last_delivery = now;

    /* Broadcasts are matched to sends by order; the text of each announcement (s<i % 50>)
     * catches a broker that drops or reorders without closing the connection. */
    const char *ds, *de, *ss, *se;
    uint64_t sid;
    if (!j_get(p, e, "data", &ds, &de) || !j_get(ds, de, "text", &ss, &se) ||
        se - ss < 4 || ss[1] != 's' || !j_uint(ss + 2, se - 1, &sid) ||
        sid != i % MARK_STUDENTS)
        G.order_errors++;
}

static void on_teacher_reply(const char *p, const char *e, bool error, uint64_t now)
{
    const char *is, *ie;
    uint64_t id;
    if (!j_get(p, e, "id", &is, &ie) || !j_uint(is, ie, &id) || id >= G.sent) {
        G.reply_unmatched++;
        return;
    }
    G.replies++;
    if (error) {
        if (G.reply_errors++ < 3)
            info("teacher got an ERROR reply: %.*s", (int)(e - p), p);
    }
    hist_add(&G.reply, since(now, G.send_ns[id]));
}

/* A student's reply to its oldest unanswered frame: FRAME_RESULT or ERROR. */
static void on_frame_reply(conn_t *c, const char *p, const char *e, bool error, uint64_t now)
{
    if (c->ans >= c->nsent) {
        G.f_unmatched++;
        return;
    }
    uint64_t sent = c->fsend[c->ans++];
    if (error) {
        const char *ds, *de, *cs, *ce;
        if (j_get(p, e, "data", &ds, &de) && j_get(ds, de, "code", &cs, &ce) &&
            j_is_str(cs, ce, "FRAME_SKIPPED")) {
            G.f_skipped++;
        } else {
            G.f_errors++;
            if (G.f_first_err_logged++ < 3)
                info("frames: a student got %.*s", (int)(e - p), p);
        }
        return;
    }
    G.f_results++;
    hist_add(&G.flat, since(now, sent));
    const char *ds, *de, *fs, *fe;
    uint64_t k;
    if (j_get(p, e, "data", &ds, &de) && j_get(ds, de, "frames_analyzed", &fs, &fe) &&
        j_uint(fs, fe, &k) && k >= 1 && k <= G.max_frames)
        c->analyzed_ns[k - 1] = sent;
}

/* ENGAGEMENT_UPDATE: each row names a student ("s<idx>") and its frames_analyzed; the row
 * is the first news of that frame when the count grew. Latency: that frame's send time to
 * now. */
static void on_engagement_update(const char *p, const char *e, uint64_t now)
{
    const char *ds, *de, *as, *ae;
    G.f_updates++;
    if (!j_get(p, e, "data", &ds, &de) || !j_get(ds, de, "students", &as, &ae) || *as != '[')
        return;
    const char *q = j_ws(as + 1, ae);
    while (q < ae && *q == '{') {
        const char *oe = j_val_end(q, ae);
        if (!oe)
            return;
        const char *ss, *se, *fs, *fe;
        uint64_t idx, k;
        G.f_rows++;
        if (j_get(q, oe, "student_id", &ss, &se) && se - ss >= 4 && ss[1] == 's' &&
            j_uint(ss + 2, se - 1, &idx) && idx < (uint64_t)G.nconns &&
            j_get(q, oe, "frames_analyzed", &fs, &fe) && j_uint(fs, fe, &k) && k >= 1 &&
            k <= G.max_frames) {
            conn_t *c = &G.conns[idx];
            if (k > c->seen) {
                c->seen = k;
                if (c->analyzed_ns && c->analyzed_ns[k - 1])
                    hist_add(&G.lat, since(now, c->analyzed_ns[k - 1]));
                else
                    G.f_unmatched++;
            }
        }
        q = j_ws(oe, ae);
        if (q < ae && *q == ',')
            q = j_ws(q + 1, ae);
    }
}

/* Sends the connection's next PING event; its id and data.ts are the connection's sequence
 * number, so the PONG that echoes them is matched without a table. */
static void send_ping(conn_t *c)
{
    char msg[96];
    uint64_t seq = ++c->ping_seq;
    int n = snprintf(msg, sizeof msg,
                     "{\"event\":\"PING\",\"id\":%" PRIu64 ",\"data\":{\"ts\":%" PRIu64 "}}",
                     seq, seq);
    c->ping_out = true;
    c->ping_ns = now_ns();
    G.ping_sent++;
    ws_send(c, 0x1, msg, (size_t)n);
}

/* The answer to the connection's PING: a PONG, or an ERROR naming its id. While the ping
 * window is open, the next PING goes out at once. */
static void on_pong(conn_t *c, const char *p, const char *e, bool error, uint64_t now)
{
    const char *is, *ie;
    uint64_t id;
    if (!c->ping_out || !j_get(p, e, "id", &is, &ie) || !j_uint(is, ie, &id) ||
        id != c->ping_seq) {
        if (G.ping_unmatched++ < 3)
            info("conn %d: unexpected answer %.*s", c->idx, (int)(e - p > 200 ? 200 : e - p), p);
        return;
    }
    c->ping_out = false;
    if (error) {
        if (G.ping_errors++ < 3)
            info("conn %d: PING answered with %.*s", c->idx, (int)(e - p), p);
    } else {
        G.pong_events++;
        hist_add(&G.lat, since(now, c->ping_ns));
        if (G.ping_window)
            G.pongs_window++;
    }
    if (G.ping_window && c->state == CS_OPEN)
        send_ping(c);
}

static void on_text(conn_t *c, const uint8_t *data, size_t len)
{
    const char *p = (const char *)data, *e = p + len, *vs, *ve;
    uint64_t now = G.t_ready ? G.t_ready : now_ns();
    if (!j_get(p, e, "event", &vs, &ve)) {
        G.bad_json++;
        return;
    }
    if (G.frozen) {
        /* While everything closes, an overloaded broker still works through the marks
         * queued in the teacher's socket; with the students gone those turn into fast
         * replies that would flatter the results. */
        if (j_is_str(vs, ve, "ANNOUNCEMENT") || j_is_str(vs, ve, "ERROR"))
            G.after_window++;
        return;
    }
    if (j_is_str(vs, ve, "PONG") || (c->ping_out && j_is_str(vs, ve, "ERROR"))) {
        on_pong(c, p, e, j_is_str(vs, ve, "ERROR"), now);
        return;
    }
    if (!strcmp(G.o.scenario, "frames")) {
        if (c->role == ROLE_STUDENT && j_is_str(vs, ve, "FRAME_RESULT"))
            on_frame_reply(c, p, e, false, now);
        else if (c->role == ROLE_STUDENT && j_is_str(vs, ve, "ERROR"))
            on_frame_reply(c, p, e, true, now);
        else if (c->role == ROLE_TEACHER && j_is_str(vs, ve, "ENGAGEMENT_UPDATE"))
            on_engagement_update(p, e, now);
        else if (c->role == ROLE_TEACHER && j_is_str(vs, ve, "SESSION_STARTED"))
            G.session_started = true;
        else if (j_is_str(vs, ve, "WELCOME") && !c->welcome) {
            c->welcome = true;
            G.welcomes++;
        }
        return;
    }
    if (j_is_str(vs, ve, "ANNOUNCEMENT")) {
        if (c->role == ROLE_STUDENT)
            on_mark_broadcast(c, p, e, now);
        else
            on_teacher_reply(p, e, false, now);
    } else if (j_is_str(vs, ve, "WELCOME")) {
        if (!c->welcome) {
            c->welcome = true;
            G.welcomes++;
        }
    } else if (j_is_str(vs, ve, "ERROR") && c->role == ROLE_TEACHER) {
        on_teacher_reply(p, e, true, now);
    }
    /* PRESENCE, PRESENCE_SNAPSHOT, SESSION_STARTED and anything else: ignored. */
}

static void on_message(conn_t *c, unsigned op, const uint8_t *data, size_t len)
{
    if (op == 0x1)
        on_text(c, data, len);
    else
        G.binary++;
}

static void on_close_frame(conn_t *c, const uint8_t *p, size_t len)
{
    unsigned code = len >= 2 ? (unsigned)p[0] << 8 | p[1] : 1005;
    G.close_frames++;
    switch (code) {
    case 1000: G.close_1000++; break;
    case 1001: G.close_1001++; break;
    case 1008: G.close_1008++; break;
    case 1009: G.close_1009++; break;
    case 4001: G.close_4001++; break;
    default: G.close_other++; break;
    }
    if (c->state == CS_OPEN) {
        if (G.dropped < 5)
            info("broker closed conn %d with %u: %.*s", c->idx, code,
                 (int)(len > 2 ? len - 2 : 0), len > 2 ? (const char *)p + 2 : "");
        G.open--;
        G.dropped++;
        c->state = CS_CLOSING;
        c->t_closing = now_ns();
    }
    if (!c->close_sent)
        ws_close(c, code == 1005 ? 0 : code);
    /* Now wait for the broker to close TCP (it should close first); the final sweep or the
     * end of the run closes it otherwise. */
}

/* Parses as many complete frames as [p, p+n) holds; returns the bytes consumed. */
static size_t ws_feed(conn_t *c, uint8_t *p, size_t n)
{
    size_t off = 0;
    while (c->fd >= 0 && n - off >= 2) {
        uint8_t *f = p + off;
        size_t avail = n - off, h = 2;
        bool fin = (f[0] & 0x80) != 0;
        unsigned op = f[0] & 0x0fu;
        uint64_t len = f[1] & 0x7fu;
        if (f[0] & 0x70) {
            proto_error(c, "RSV bits set without an extension");
            break;
        }
        if (f[1] & 0x80) {
            proto_error(c, "masked server frame");
            break;
        }
        if (len == 126) {
            if (avail < 4)
                break;
            len = (uint64_t)f[2] << 8 | f[3];
            h = 4;
        } else if (len == 127) {
            if (avail < 10)
                break;
            len = 0;
            for (int i = 0; i < 8; i++)
                len = len << 8 | f[2 + i];
            h = 10;
        }
        if (len > MAX_MESSAGE) {
            proto_error(c, "frame larger than 16 MiB");
            break;
        }
        if (avail - h < len)
            break;
        uint8_t *pl = f + h;
        size_t pn = (size_t)len;
        off += h + pn;

        switch (op) {
        case 0x0:
            if (!c->infrag) {
                proto_error(c, "continuation without a first fragment");
                break;
            }
            if (c->mlen + pn > MAX_MESSAGE) {
                proto_error(c, "message larger than 16 MiB");
                break;
            }
            reserve(&c->msg, &c->mcap, c->mlen + pn);
            memcpy(c->msg + c->mlen, pl, pn);
            c->mlen += pn;
            if (fin) {
                c->infrag = false;
                G.fragmented++;
                on_message(c, c->mop, c->msg, c->mlen);
                c->mlen = 0;
            }
            break;
        case 0x1:
        case 0x2:
            if (c->infrag) {
                proto_error(c, "new message inside a fragmented one");
                break;
            }
            if (fin) {
                on_message(c, op, pl, pn);
            } else {
                c->infrag = true;
                c->mop = (uint8_t)op;
                reserve(&c->msg, &c->mcap, pn);
                memcpy(c->msg, pl, pn);
                c->mlen = pn;
            }
            break;
        case 0x8:
            if (!fin || pn > 125 || pn == 1) {
                proto_error(c, "bad close frame");
                break;
            }
            on_close_frame(c, pl, pn);
            break;
        case 0x9:
            if (!fin || pn > 125) {
                proto_error(c, "bad ping frame");
                break;
            }
            G.pings++;
            if (!c->close_sent)
                ws_send(c, 0xA, pl, pn);
            break;
        case 0xA:
            G.pongs++;
            break;
        default:
            proto_error(c, "unknown opcode");
            break;
        }
    }
    return off;
}

/* Returns the length of the response head once complete, 0 while incomplete. */
static size_t handshake_feed(conn_t *c, uint8_t *p, size_t n)
{
    uint8_t *end = memmem(p, n, "\r\n\r\n", 4);
    if (!end) {
        if (n > MAX_HTTP_HEAD)
            conn_fail(c, &G.f_http);
        return 0;
    }
    size_t head = (size_t)(end - p) + 4;
    int status = 0;
    if (head > 12 && memcmp(p, "HTTP/1.", 7) == 0 && p[8] == ' ')
        status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
    if (status != 101) {
        G.last_http_status = status;
        if (G.f_http < 3)
            info("conn %d: upgrade refused with HTTP %d", c->idx, status);
        conn_fail(c, &G.f_http);
        return head;
    }

    /* Any 101 is accepted; a wrong Sec-WebSocket-Accept is only counted. */
    char src[64], want[40];
    uint8_t md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    int sl = snprintf(src, sizeof src, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", c->key);
    EVP_Digest(src, (size_t)sl, md, &mdlen, EVP_sha1(), NULL);
    b64(want, md, mdlen, false);
    const char *h = (const char *)p, *he = (const char *)end;
    bool ok = false;
    while (h < he) {
        const char *eol = memmem(h, (size_t)(he - h), "\r\n", 2);
        if (!eol)
            eol = he;
        static const char name[] = "sec-websocket-accept:";
        if ((size_t)(eol - h) > sizeof name - 1 && strncasecmp(h, name, sizeof name - 1) == 0) {
            const char *v = h + sizeof name - 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            ok = (size_t)(ve - v) == strlen(want) && memcmp(v, want, strlen(want)) == 0;
        }
        h = eol + 2;
    }
    if (!ok)
        G.bad_accept++;

    uint64_t now = now_ns();
    c->state = CS_OPEN;
    G.inflight--;
    G.open++;
    G.established++;
    G.t_last_established = now;
    hist_add(&G.hs, now - c->t_start);
    return head;
}

/* Feeds received bytes, carrying any incomplete frame or head over in c->rbuf. */
static void conn_feed(conn_t *c, uint8_t *p, size_t n)
{
    bool own = false;
    if (c->rlen > 0) {
        reserve(&c->rbuf, &c->rcap, c->rlen + n);
        memcpy(c->rbuf + c->rlen, p, n);
        c->rlen += n;
        p = c->rbuf;
        n = c->rlen;
        own = true;
    }
    size_t off = 0;
    if (c->state == CS_HANDSHAKE) {
        off = handshake_feed(c, p, n);
        if (c->fd < 0)
            return;
        if (c->state == CS_HANDSHAKE)
            off = 0;
    }
    if (c->state == CS_OPEN || c->state == CS_CLOSING)
        off += ws_feed(c, p + off, n - off);
    if (c->fd < 0)
        return;
    size_t rest = n - off;
    if (own) {
        if (rest && off)
            memmove(c->rbuf, c->rbuf + off, rest);
    } else if (rest) {
        reserve(&c->rbuf, &c->rcap, rest);
        memcpy(c->rbuf, p + off, rest);
    }
    c->rlen = rest;
}

static void conn_read(conn_t *c)
{
    for (int round = 0; round < 8 && c->fd >= 0; round++) {
        ssize_t n;
        G.t_arrive = 0;
        if (G.rx_stamps) {
            /* TCP reports the stamp of the last segment read: for messages read together,
             * the latest one, so the figure errs on the long side. */
            union {
                struct cmsghdr h;
                char b[CMSG_SPACE(sizeof(struct timespec))];
            } ctl;
            struct iovec iov = {.iov_base = G.gbuf, .iov_len = sizeof G.gbuf};
            struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b,
                                .msg_controllen = sizeof ctl.b};
            n = recvmsg(c->fd, &mh, 0);
            for (struct cmsghdr *cm = n > 0 ? CMSG_FIRSTHDR(&mh) : NULL; cm;
                 cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
                    struct timespec ts;
                    memcpy(&ts, CMSG_DATA(cm), sizeof ts);
                    int64_t rt = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
                    if (rt > G.rt_off)
                        G.t_arrive = (uint64_t)(rt - G.rt_off);
                }
            }
        } else {
            n = recv(c->fd, G.gbuf, sizeof G.gbuf, 0);
        }
        if (n > 0) {
            conn_feed(c, G.gbuf, (size_t)n);
            if ((size_t)n < sizeof G.gbuf)
                return;
            continue;
        }
        if (n == 0) {
            if (c->state == CS_OPEN && !c->close_sent)
                G.eof_no_close++;
            conn_end(c);
            return;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE)
            conn_fail(c, &G.f_socket);
        else
            conn_end(c);
        return;
    }
}

static void conn_send_upgrade(conn_t *c)
{
    char token[1024], cls[96], sub[32], req[1536];
    uint8_t raw[16];
    uint64_t r1 = rnd(), r2 = rnd();
    memcpy(raw, &r1, 8);
    memcpy(raw + 8, &r2, 8);
    b64(c->key, raw, sizeof raw, false);

    if (c->role == ROLE_TEACHER) {
        snprintf(cls, sizeof cls, "%s-c0", G.o.class_prefix);
        snprintf(sub, sizeof sub, "t%d", c->idx);
        mint_token(token, sizeof token, sub, "teacher", cls);
    } else {
        int k = G.o.classes > 0 ? c->idx % G.o.classes : 0;
        snprintf(cls, sizeof cls, "%s-c%d", G.o.class_prefix, k);
        snprintf(sub, sizeof sub, "s%d", c->idx);
        mint_token(token, sizeof token, sub, "student", cls);
    }
    int n = snprintf(req, sizeof req,
                     "GET %s%stoken=%s HTTP/1.1\r\n"
                     "Host: %s\r\n"
                     "Upgrade: websocket\r\n"
                     "Connection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\n"
                     "Sec-WebSocket-Version: 13\r\n"
                     "User-Agent: rollcall-loadgen\r\n"
                     "\r\n",
                     G.o.path, strchr(G.o.path, '?') ? "&" : "?", token, G.hosthdr, c->key);
    if (n < 0 || (size_t)n >= sizeof req)
        die("upgrade request too long");
    c->state = CS_HANDSHAKE;
    conn_write(c, req, (size_t)n);
}

static void conn_start(conn_t *c)
{
    c->t_start = now_ns();
    c->state = CS_CONNECTING;
    G.inflight++;
    c->fd = socket(G.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        if (G.f_socket < 3)
            info("socket: %s", strerror(errno));
        conn_fail(c, &G.f_socket);
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (G.rx_stamps && c->role == ROLE_STUDENT)
        setsockopt(c->fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
    struct epoll_event e = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
    if (epoll_ctl(G.ep, EPOLL_CTL_ADD, c->fd, &e) != 0)
        die("epoll_ctl: %s", strerror(errno));
    c->ev = e.events;
    /* With --port2, odd-numbered students connect to the second instance. */
    const struct sockaddr_storage *dst =
        G.o.port2 && c->role == ROLE_STUDENT && (c->idx & 1) ? &G.addr2 : &G.addr;
    if (connect(c->fd, (const struct sockaddr *)dst, G.addrlen) == 0) {
        conn_send_upgrade(c);
    } else if (errno != EINPROGRESS) {
        if (G.f_socket < 3)
            info("connect: %s", strerror(errno));
        conn_fail(c, &G.f_socket);
    }
}

static void conn_event(conn_t *c, uint32_t ev)
{
    if (c->state == CS_CONNECTING) {
        int err = 0;
        socklen_t l = sizeof err;
        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l) != 0)
            err = errno;
        if (err) {
            if (G.f_socket < 3)
                info("connect: %s", strerror(err));
            conn_fail(c, &G.f_socket);
            return;
        }
        if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
            return;
        conn_send_upgrade(c);
        return;
    }
    if (c->fd >= 0 && (ev & EPOLLOUT))
        conn_flush(c);
    if (c->fd >= 0 && (ev & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        conn_read(c);
}

/* ------------------------------------------------------------------------------------------ */
/* The loop */

static void send_due_marks(void);

/* Starts connections while fewer than --inflight handshakes are under way. */
static void pump_connects(int upto)
{
    while (G.next_start < upto && G.inflight < G.o.inflight && !G.interrupted)
        conn_start(&G.conns[G.next_start++]);
}

static void sweep_timeouts(uint64_t now)
{
    static uint64_t last;
    if (now - last < 100000000ull)
        return;
    last = now;
    uint64_t hs = s_to_ns(G.o.hs_timeout_s);
    for (int i = 0; i < G.next_start; i++) {
        conn_t *c = &G.conns[i];
        if ((c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) && now - c->t_start > hs)
            conn_fail(c, &G.f_timeout);
        else if (c->state == CS_CLOSING && c->t_closing && now - c->t_closing > CLOSE_WAIT_NS)
            conn_end(c);
    }
}

static void loop_once(int timeout_ms)
{
    static struct epoll_event evs[4096];
    int n = epoll_wait(G.ep, evs, 4096, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    G.t_ready = now_ns();
    for (int i = 0; i < n; i++) {
        if (evs[i].data.ptr == &G.tfd) {
            uint64_t ticks;
            if (read(G.tfd, &ticks, sizeof ticks) < 0 && errno != EAGAIN)
                die("timerfd read: %s", strerror(errno));
            send_due_marks();
            continue;
        }
        conn_event(evs[i].data.ptr, evs[i].events);
        /* A batch of busy connections can take milliseconds: keep the send rate steady. */
        if ((i & 63) == 63 && G.sending)
            send_due_marks();
    }
    sweep_timeouts(now_ns());
}

/* Runs the loop for up to `ns`, or until done() returns true or the deadline passes. */
static bool run_for(uint64_t ns, bool (*done)(void), int upto)
{
    uint64_t end = now_ns() + ns;
    G.upto = upto;
    for (;;) {
        pump_connects(upto);
        if (done && done())
            return true;
        if (expired())
            return false;
        uint64_t now = now_ns();
        if (now >= end)
            return false;
        uint64_t left = (end - now) / 1000000ull;
        loop_once(left > 10 ? 10 : (int)left);
    }
}

/* Sends a close frame on every open connection and waits (bounded) for the broker's side. */
static void close_all(void)
{
    uint64_t t0 = now_ns();
    int asked = 0;
    for (int i = 0; i < G.nconns; i++) {
        conn_t *c = &G.conns[i];
        if (c->state == CS_OPEN) {
            G.open--;
            c->state = CS_CLOSING;
            c->t_closing = t0;
            if (!c->close_sent)
                ws_close(c, 1000);
            asked++;
        } else if (c->state == CS_CONNECTING || c->state == CS_HANDSHAKE) {
            conn_fail(c, &G.f_timeout);
        }
    }
    G.next_start = G.nconns; /* start nothing more */
    uint64_t end = t0 + CLOSE_WAIT_NS;
    for (;;) {
        int left = 0;
        for (int i = 0; i < G.nconns; i++)
            left += G.conns[i].fd >= 0;
        if (left == 0 || now_ns() >= end || G.interrupted)
            break;
        loop_once(10);
    }
    int forced = 0;
    for (int i = 0; i < G.nconns; i++) {
        if (G.conns[i].fd >= 0) {
            forced++;
            conn_close_fd(&G.conns[i]);
            G.conns[i].state = CS_DONE;
        }
    }
    info("closed %d connections in %.3f s (%d without the broker's close)", asked,
         (double)(now_ns() - t0) / 1e9, forced);
}

/* ------------------------------------------------------------------------------------------ */
/* /proc readings of the broker */

static long proc_rss_kb(int pid)
{
    char path[64], line[256];
    long kb = -1;
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = strtol(line + 6, NULL, 10);
    fclose(f);
    return kb;
}

static double proc_cpu_s(int pid)
{
    char path[64], buf[1024];
    if (pid <= 0)
        return -1;
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    /* Fields after the command: state is field 3; utime and stime are 14 and 15. */
    unsigned long long ut = 0, st = 0;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu_s(void)
{
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 +
           (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
}

/* ------------------------------------------------------------------------------------------ */
/* Result line */

static char result[2048];
static size_t result_len;

static void res(const char *fmt, ...)
{
    va_list ap;
    if (result_len >= sizeof result)
        return;
    if (result_len)
        result[result_len++] = ' ';
    va_start(ap, fmt);
    int n = vsnprintf(result + result_len, sizeof result - result_len, fmt, ap);
    va_end(ap);
    if (n > 0)
        result_len += (size_t)n;
}

/* bench=<scenario>, then server=<name> and label=<label> when given. */
static void res_head(const char *scenario)
{
    res("bench=%s", scenario);
    if (G.o.server[0])
        res("server=%s", G.o.server);
    if (G.o.label[0])
        res("label=%s", G.o.label);
}

/* The server's CPU time in microseconds per unit of work over a window, or "na". */
static void res_cpu_per(const char *key, double cpu0, double cpu1, uint64_t units)
{
    if (cpu0 >= 0 && cpu1 >= 0 && units > 0)
        res("%s=%.2f", key, (cpu1 - cpu0) * 1e6 / (double)units);
    else
        res("%s=na", key);
}

static void res_common(void)
{
    res("handshake_p50_ms=%.3f", ms(hist_q(&G.hs, 0.50)));
    res("handshake_p99_ms=%.3f", ms(hist_q(&G.hs, 0.99)));
    res("failed_socket=%d failed_http=%d failed_timeout=%d failed_eof=%d", G.f_socket, G.f_http,
        G.f_timeout, G.f_eof);
    res("dropped=%d close_4001=%d close_1008=%d close_1009=%d close_1001=%d close_other=%d",
        G.dropped, G.close_4001, G.close_1008, G.close_1009, G.close_1001, G.close_other);
    res("eof_no_close=%d protocol_errors=%d pings=%" PRIu64, G.eof_no_close, G.proto_errors,
        G.pings);
}

static void res_print(int *status)
{
    if (G.deadline_hit || G.interrupted)
        *status = 2;
    res("deadline_hit=%d interrupted=%d", G.deadline_hit ? 1 : 0, G.interrupted ? 1 : 0);
    printf("%s\n", result);
    fflush(stdout);
}

/* ------------------------------------------------------------------------------------------ */
/* Scenario: connect */

/* Every connection of the current phase has been started and has its outcome. */
static bool all_connected(void)
{
    return G.next_start >= G.upto && G.inflight == 0;
}

static bool all_welcomed(void)
{
    return G.welcomes >= G.established;
}

/* No open connection waits for the answer to its PING. */
static bool all_ponged(void)
{
    for (int i = 0; i < G.nconns; i++)
        if (G.conns[i].state == CS_OPEN && G.conns[i].ping_out)
            return false;
    return true;
}

/* Allocates G.conns for n connections, the first `students` students and the rest
 * teachers, none connected yet. */
static void alloc_conns(int n, int students)
{
    G.nconns = n;
    G.conns = calloc((size_t)n, sizeof *G.conns);
    if (!G.conns)
        die("out of memory");
    for (int i = 0; i < n; i++) {
        G.conns[i].fd = -1;
        G.conns[i].idx = i;
        G.conns[i].role = i < students ? ROLE_STUDENT : ROLE_TEACHER;
    }
}

static int scenario_connect(void)
{
    const opts_t *o = &G.o;
    int status = 0;
    alloc_conns(o->conns, o->conns);

    long rss0 = proc_rss_kb(o->broker_pid);
    if (o->broker_pid > 0 && rss0 < 0)
        die("cannot read /proc/%d/status", o->broker_pid);
    info("connect: %d student connections over %d classes, %d handshakes in flight; broker "
         "RSS before %ld kB",
         G.nconns, o->classes, o->inflight, rss0);

    uint64_t t0 = now_ns();
    run_for(UINT64_MAX / 2, all_connected, G.nconns);
    uint64_t span = (G.t_last_established > t0 ? G.t_last_established : now_ns()) - t0;
    double rate = span ? (double)G.established / ((double)span / 1e9) : 0;
    info("connect: %d established, %d failed in %.3f s (%.0f conns/s)", G.established, G.failed,
         (double)span / 1e9, rate);

    /* With --ping-each, every connection has also sent one message and received its answer
     * when RSS is read: the footprint of a connection that has been used, not only opened. */
    if (o->ping_each) {
        run_for(s_to_ns(o->hs_timeout_s), all_welcomed, G.nconns);
        for (int i = 0; i < G.nconns; i++)
            if (G.conns[i].state == CS_OPEN)
                send_ping(&G.conns[i]);
        run_for(s_to_ns(o->hs_timeout_s), all_ponged, G.nconns);
        info("connect: %" PRIu64 " of %" PRIu64 " PINGs answered with PONG", G.pong_events,
             G.ping_sent);
    }

    /* Settle: WELCOMEs arrive and the broker's allocations come to rest before reading RSS. */
    run_for(s_to_ns(o->settle_s), NULL, G.nconns);
    long rss1 = proc_rss_kb(o->broker_pid);
    int open_at_rss = G.open;
    info("connect: %d welcomed; broker RSS after %ld kB with %d open", G.welcomes, rss1,
         open_at_rss);

    run_for(s_to_ns(o->hold_s), NULL, G.nconns);
    int open_after_hold = G.open;
    info("connect: held %.1f s, %d still open", o->hold_s, open_after_hold);
    close_all();

    res_head("connect");
    res("conns=%d classes=%d inflight=%d", G.nconns, o->classes, o->inflight);
    res("established=%d failed=%d", G.established, G.failed);
    res("connect_s=%.3f conns_per_s=%.0f", (double)span / 1e9, rate);
    res("welcomed=%d open_after_hold=%d", G.welcomes, open_after_hold);
    if (o->ping_each)
        res("pinged=%" PRIu64 " ping_errors=%" PRIu64, G.pong_events, G.ping_errors);
    if (rss0 >= 0 && rss1 >= 0 && open_at_rss > 0)
        res("rss_before_kb=%ld rss_after_kb=%ld rss_per_conn_kb=%.2f", rss0, rss1,
            (double)(rss1 - rss0) / (double)open_at_rss);
    else
        res("rss_before_kb=na rss_after_kb=na rss_per_conn_kb=na");
    res_common();
    if (G.failed || G.dropped || open_after_hold != G.established ||
        (o->ping_each && (G.pong_events < G.ping_sent || G.ping_errors)))
        status = 2;
    res_print(&status);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Scenario: ping */

static int scenario_ping(void)
{
    const opts_t *o = &G.o;
    int status = 0;
    alloc_conns(o->clients, o->clients);
    info("ping: %d student connections over %d classes, one PING in flight on each for %.1f s",
         G.nconns, o->classes, o->duration_s);

    uint64_t t0 = now_ns();
    run_for(UINT64_MAX / 2, all_connected, G.nconns);
    run_for(s_to_ns(o->hs_timeout_s), all_welcomed, G.nconns);
    int connected = G.open;
    info("ping: %d connected (%d failed, %d welcomed) in %.3f s", connected, G.failed,
         G.welcomes, (double)(now_ns() - t0) / 1e9);
    run_for(s_to_ns(o->start_settle_s), NULL, G.nconns);

    /* The window: every PONG that arrives in it is counted and answered with the next PING
     * on the same connection. The server's CPU time is read at both ends of it. */
    double bcpu0 = proc_cpu_s(o->broker_pid), scpu0 = self_cpu_s();
    uint64_t tw0 = now_ns();
    if (!expired()) {
        G.ping_window = true;
        for (int i = 0; i < G.nconns; i++)
            if (G.conns[i].state == CS_OPEN)
                send_ping(&G.conns[i]);
        run_for(s_to_ns(o->duration_s), NULL, G.nconns);
        G.ping_window = false;
    }
    uint64_t tw1 = now_ns();
    double bcpu1 = proc_cpu_s(o->broker_pid), scpu1 = self_cpu_s();
    uint64_t in_window = G.pongs_window;

    /* The PINGs still in flight get --drain s to be answered; their round trips count in
     * the percentiles, not in the rate. */
    run_for(s_to_ns(o->drain_s), all_ponged, G.nconns);
    int open_at_end = G.open;
    G.frozen = true;
    close_all();

    double win = (double)(tw1 - tw0) / 1e9;
    uint64_t answered = G.pong_events + G.ping_errors;
    uint64_t unanswered = G.ping_sent > answered ? G.ping_sent - answered : 0;
    res_head("ping");
    res("clients=%d connected=%d classes=%d duration_s=%.3f", G.nconns, connected, o->classes,
        win);
    res("sent=%" PRIu64 " pongs=%" PRIu64 " pongs_in_window=%" PRIu64 " ping_errors=%" PRIu64
        " unanswered=%" PRIu64 " unmatched=%" PRIu64,
        G.ping_sent, G.pong_events, in_window, G.ping_errors, unanswered, G.ping_unmatched);
    res("pings_per_s=%.0f", win > 0 ? (double)in_window / win : 0);
    res("rtt_p50_ms=%.3f rtt_p90_ms=%.3f rtt_p99_ms=%.3f rtt_p999_ms=%.3f rtt_max_ms=%.3f",
        ms(hist_q(&G.lat, 0.50)), ms(hist_q(&G.lat, 0.90)), ms(hist_q(&G.lat, 0.99)),
        ms(hist_q(&G.lat, 0.999)), ms(G.lat.n ? G.lat.max : 0));
    res("open_at_end=%d", open_at_end);
    if (bcpu0 >= 0 && bcpu1 >= 0 && win > 0)
        res("broker_cpu_pct=%.0f", 100.0 * (bcpu1 - bcpu0) / win);
    else
        res("broker_cpu_pct=na");
    res_cpu_per("cpu_us_per_ping", bcpu0, bcpu1, in_window);
    res("loadgen_cpu_pct=%.0f", win > 0 ? 100.0 * (scpu1 - scpu0) / win : 0);
    res_common();
    if (G.failed || G.dropped || unanswered || G.ping_errors || G.ping_unmatched ||
        in_window == 0)
        status = 2;
    res_print(&status);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Scenario: fanout */

static void send_due_frames(void);

static void send_due_marks(void)
{
    if (G.img) {
        send_due_frames();
        return;
    }
    conn_t *t = G.teacher;
    if (!G.sending || G.sent >= G.total_marks)
        return;
    uint64_t now = now_ns();
    if (t->state != CS_OPEN) {
        G.total_marks = G.sent; /* the teacher is gone: stop sending */
        return;
    }
    while (G.sent < G.total_marks) {
        uint64_t due = G.t_sched0 + G.sent * G.period_ns;
        if (due > now)
            break;
        if (now - due > G.send_lag_max)
            G.send_lag_max = now - due;
        char msg[160];
        uint64_t i = G.sent;
        int n = snprintf(msg, sizeof msg,
                         "{\"event\":\"ANNOUNCE\",\"id\":%" PRIu64
                         ",\"data\":{\"text\":\"s%" PRIu64 "\"}}",
                         i, i % MARK_STUDENTS);
        G.send_ns[i] = now_ns();
        if (i == 0)
            G.t_first_send = G.send_ns[0];
        G.sent++;
        if (ws_send(t, 0x1, msg, (size_t)n) != 0 || t->fd < 0) {
            info("fanout: the teacher's connection failed after %" PRIu64 " marks", G.sent);
            G.total_marks = G.sent;
            return;
        }
        size_t backlog = t->wlen - t->woff;
        if (backlog > G.teacher_backlog_max)
            G.teacher_backlog_max = backlog;
    }
}

static bool sending_done(void)
{
    return G.sent >= G.total_marks;
}

static bool drained(void)
{
    if (G.teacher && G.teacher->state == CS_OPEN && G.replies < G.sent)
        return false;
    for (int i = 0; i < G.nconns; i++) {
        const conn_t *c = &G.conns[i];
        if (c->role == ROLE_STUDENT && c->state == CS_OPEN && c->got < G.sent)
            return false;
    }
    return true;
}

static bool teacher_ready(void)
{
    return G.teacher->state == CS_DONE || (G.teacher->state == CS_OPEN && G.teacher->welcome);
}

static int scenario_fanout(void)
{
    const opts_t *o = &G.o;
    int status = 0;
    int k = o->students;
    G.o.classes = 1; /* one class: the teacher's */
    struct timespec rt, mono;
    clock_gettime(CLOCK_REALTIME, &rt);
    clock_gettime(CLOCK_MONOTONIC, &mono);
    G.rt_off = ((int64_t)rt.tv_sec - mono.tv_sec) * 1000000000 + (rt.tv_nsec - mono.tv_nsec);
    G.rx_stamps = true;
    alloc_conns(k + 1, k);
    G.teacher = &G.conns[k];
    G.total_marks = (uint64_t)(o->rate * o->duration_s + 0.5);
    if (G.total_marks < 1)
        G.total_marks = 1;
    G.send_ns = calloc(G.total_marks, sizeof *G.send_ns);
    if (!G.send_ns)
        die("out of memory");
    G.period_ns = (uint64_t)(1e9 / o->rate);
    if (G.period_ns < 1)
        G.period_ns = 1;

    info("fanout: %d students + 1 teacher in class %s-c0; %" PRIu64
         " marks at %.1f/s over %.1f s (offered %.0f deliveries/s)",
         k, o->class_prefix, G.total_marks, o->rate, o->duration_s, o->rate * (double)k);

    /* Students first, each joined (WELCOME) before the teacher: the teacher then gets one
     * PRESENCE_SNAPSHOT instead of K PRESENCE events, and every student is in the class when
     * the first mark goes out. */
    uint64_t t0 = now_ns();
    run_for(UINT64_MAX / 2, all_connected, k);
    run_for(s_to_ns(o->hs_timeout_s), all_welcomed, k);
    int students_open = G.open;
    info("fanout: %d students connected (%d failed, %d welcomed) in %.3f s", students_open,
         G.failed, G.welcomes, (double)(now_ns() - t0) / 1e9);
    pump_connects(G.nconns);
    run_for(s_to_ns(o->hs_timeout_s), teacher_ready, G.nconns);
    if (G.teacher->state != CS_OPEN) {
        info("fanout: the teacher could not connect");
        G.total_marks = 0;
    }
    run_for(s_to_ns(o->start_settle_s), NULL, G.nconns);

    double bcpu0 = proc_cpu_s(o->broker_pid), scpu0 = self_cpu_s();
    double b2cpu0 = o->broker2_pid ? proc_cpu_s(o->broker2_pid) : -1;
    uint64_t ts0 = now_ns();
    if (G.total_marks > 0 && !expired()) {
        G.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (G.tfd < 0)
            die("timerfd_create: %s", strerror(errno));
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &G.tfd};
        if (epoll_ctl(G.ep, EPOLL_CTL_ADD, G.tfd, &e) != 0)
            die("epoll_ctl(timerfd): %s", strerror(errno));
        /* The timer wakes the loop at the send rate (at most every 100 us); each wake-up
         * sends every mark that is due, so a late wake-up never lowers the rate. */
        uint64_t iv = G.period_ns < 100000 ? 100000 : G.period_ns;
        struct itimerspec its = {
            .it_interval = {(time_t)(iv / 1000000000ull), (long)(iv % 1000000000ull)},
            .it_value = {0, 1000},
        };
        G.t_sched0 = now_ns();
        G.sending = true;
        send_due_marks();
        timerfd_settime(G.tfd, 0, &its, NULL);
        run_for(UINT64_MAX / 2, sending_done, G.nconns);
        G.sending = false;
        struct itimerspec off = {{0, 0}, {0, 0}};
        timerfd_settime(G.tfd, 0, &off, NULL);
    }
    uint64_t ts1 = now_ns();
    info("fanout: sent %" PRIu64 " marks in %.3f s; %" PRIu64 " deliveries so far; draining up "
         "to %.1f s",
         G.sent, (double)(ts1 - ts0) / 1e9, G.delivered, o->drain_s);
    run_for(s_to_ns(o->drain_s), drained, G.nconns);
    uint64_t ts2 = now_ns();
    double bcpu1 = proc_cpu_s(o->broker_pid), scpu1 = self_cpu_s();
    double b2cpu1 = o->broker2_pid ? proc_cpu_s(o->broker2_pid) : -1;
    int students_at_end = 0;
    for (int i = 0; i < k; i++)
        students_at_end += G.conns[i].state == CS_OPEN;
    info("fanout: drained in %.3f s; %" PRIu64 " deliveries, %" PRIu64
         " teacher replies, %d students still open",
         (double)(ts2 - ts1) / 1e9, G.delivered, G.replies, students_at_end);
    G.frozen = true;
    close_all();
    if (G.after_window)
        info("fanout: %" PRIu64 " more marks/replies arrived while closing (not counted)",
             G.after_window);

    uint64_t expected = (uint64_t)students_open * G.sent;
    uint64_t lost = expected > G.delivered ? expected - G.delivered : 0;
    uint64_t span = G.t_last_delivery > G.t_first_send ? G.t_last_delivery - G.t_first_send : 0;
    double dps = span ? (double)G.delivered / ((double)span / 1e9) : 0;
    double wall = (double)(ts2 - ts0) / 1e9;

    res_head("fanout");
    res("students=%d connected=%d rate=%.1f duration_s=%.1f instances=%d", k, students_open,
        o->rate, o->duration_s, o->port2 ? 2 : 1);
    res("sent=%" PRIu64 " expected=%" PRIu64 " delivered=%" PRIu64 " lost=%" PRIu64, G.sent,
        expected, G.delivered, lost);
    res("offered_per_s=%.0f deliveries_per_s=%.0f", o->rate * (double)students_open, dps);
    res("lat_p50_ms=%.3f lat_p90_ms=%.3f lat_p99_ms=%.3f lat_p999_ms=%.3f lat_max_ms=%.3f",
        ms(hist_q(&G.lat, 0.50)), ms(hist_q(&G.lat, 0.90)), ms(hist_q(&G.lat, 0.99)),
        ms(hist_q(&G.lat, 0.999)), ms(G.lat.n ? G.lat.max : 0));
    res("wire_p50_ms=%.3f wire_p99_ms=%.3f wire_max_ms=%.3f wire_stamped=%" PRIu64,
        ms(hist_q(&G.wire, 0.50)), ms(hist_q(&G.wire, 0.99)),
        ms(G.wire.n ? G.wire.max : 0), G.wire.n);
    res("replies=%" PRIu64 " reply_errors=%" PRIu64 " reply_p50_ms=%.3f reply_p99_ms=%.3f "
        "reply_max_ms=%.3f",
        G.replies, G.reply_errors, ms(hist_q(&G.reply, 0.50)), ms(hist_q(&G.reply, 0.99)),
        ms(G.reply.n ? G.reply.max : 0));
    res("order_errors=%" PRIu64 " extra=%" PRIu64 " students_open_at_end=%d", G.order_errors,
        G.extra, students_at_end);
    res("send_lag_max_ms=%.3f teacher_backlog_max_b=%zu drain_s=%.3f", ms(G.send_lag_max),
        G.teacher_backlog_max, (double)(ts2 - ts1) / 1e9);
    if (bcpu0 >= 0 && bcpu1 >= 0 && wall > 0)
        res("broker_cpu_pct=%.0f", 100.0 * (bcpu1 - bcpu0) / wall);
    else
        res("broker_cpu_pct=na");
    res_cpu_per("cpu_us_per_delivery", bcpu0, bcpu1, G.delivered);
    if (o->port2) {
        /* Per instance: A's CPU over the deliveries to its own students (it also takes the
         * teacher's marks, replies and publishes them), B's over the deliveries it makes
         * from what Redis brings it. */
        res_cpu_per("a_cpu_us_per_delivery", bcpu0, bcpu1, G.delivered - G.delivered2);
        if (b2cpu0 >= 0 && b2cpu1 >= 0 && wall > 0)
            res("b_cpu_pct=%.0f", 100.0 * (b2cpu1 - b2cpu0) / wall);
        res_cpu_per("b_cpu_us_per_delivery", b2cpu0, b2cpu1, G.delivered2);
    }
    res("loadgen_cpu_pct=%.0f", wall > 0 ? 100.0 * (scpu1 - scpu0) / wall : 0);
    res_common();
    if (G.failed || lost || G.order_errors || G.extra || G.replies < G.sent || G.reply_errors ||
        G.sent < (uint64_t)(o->rate * o->duration_s + 0.5))
        status = 2;
    res_print(&status);
    free(G.send_ns);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Scenario: frames */

/* Student i sends its k-th frame at t_sched0 + (i / N + k) * interval: the class's frames
 * are spread evenly over each interval, as independent webcams would be. */
static void send_due_frames(void)
{
    if (!G.sending)
        return;
    uint64_t now = now_ns();
    uint64_t iv = s_to_ns(G.o.interval_s);
    int k = G.o.students;
    for (int i = 0; i < k; i++) {
        conn_t *c = &G.conns[i];
        if (c->state != CS_OPEN || c->nsent >= G.max_frames)
            continue;
        uint64_t due = G.t_sched0 + (uint64_t)i * iv / (uint64_t)k + (uint64_t)c->nsent * iv;
        if (due > now || due >= G.t_sched0 + s_to_ns(G.o.duration_s))
            continue;
        if (now - due > G.send_lag_max)
            G.send_lag_max = now - due;
        c->fsend[c->nsent++] = now_ns();
        G.f_sent++;
        ws_send(c, 0x2, G.img, G.img_len);
    }
}

static bool frames_sending_done(void)
{
    return now_ns() >= G.t_sched0 + s_to_ns(G.o.duration_s);
}

static bool frames_answered(void)
{
    for (int i = 0; i < G.o.students; i++) {
        const conn_t *c = &G.conns[i];
        if (c->state == CS_OPEN && c->ans < c->nsent)
            return false;
    }
    return true;
}

static bool session_ready(void)
{
    return G.session_started || G.teacher->state != CS_OPEN;
}

static int scenario_frames(void)
{
    const opts_t *o = &G.o;
    int status = 0;
    int k = o->students;
    FILE *f = fopen(o->image, "rb");
    if (!f)
        die("cannot open --image %s: %s", o->image, strerror(errno));
    G.img = malloc(MAX_MESSAGE);
    if (!G.img)
        die("out of memory");
    G.img_len = fread(G.img, 1, MAX_MESSAGE, f);
    fclose(f);
    if (G.img_len == 0)
        die("--image %s is empty", o->image);
    G.max_frames = (uint32_t)(o->duration_s / o->interval_s) + 2;
    G.o.classes = 1;
    alloc_conns(k + 1, k);
    for (int i = 0; i < k; i++) {
        conn_t *c = &G.conns[i];
        c->fsend = calloc(G.max_frames, sizeof *c->fsend);
        c->analyzed_ns = calloc(G.max_frames, sizeof *c->analyzed_ns);
        if (!c->fsend || !c->analyzed_ns)
            die("out of memory");
    }
    G.teacher = &G.conns[k];
    hist_init(&G.flat);
    info("frames: %d students + 1 teacher, one %zu-byte frame per student every %.2f s for "
         "%.1f s (offered %.1f frames/s)",
         k, G.img_len, o->interval_s, o->duration_s, (double)k / o->interval_s);

    uint64_t t0 = now_ns();
    run_for(UINT64_MAX / 2, all_connected, k);
    run_for(s_to_ns(o->hs_timeout_s), all_welcomed, k);
    int students_open = G.open;
    pump_connects(G.nconns);
    run_for(s_to_ns(o->hs_timeout_s), teacher_ready, G.nconns);
    if (G.teacher->state == CS_OPEN) {
        const char start[] = "{\"event\":\"SESSION_START\",\"id\":\"start\"}";
        ws_send(G.teacher, 0x1, start, sizeof start - 1);
        run_for(s_to_ns(10), session_ready, G.nconns);
    }
    info("frames: %d students connected in %.3f s; session %s", students_open,
         (double)(now_ns() - t0) / 1e9, G.session_started ? "started" : "NOT started");

    double bcpu0 = proc_cpu_s(o->broker_pid), scpu0 = self_cpu_s();
    uint64_t ts0 = now_ns();
    if (G.session_started && !expired()) {
        G.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        if (G.tfd < 0)
            die("timerfd_create: %s", strerror(errno));
        struct epoll_event e = {.events = EPOLLIN, .data.ptr = &G.tfd};
        if (epoll_ctl(G.ep, EPOLL_CTL_ADD, G.tfd, &e) != 0)
            die("epoll_ctl(timerfd): %s", strerror(errno));
        struct itimerspec its = {.it_interval = {0, 1000000}, .it_value = {0, 1000}};
        G.t_sched0 = now_ns();
        G.sending = true;
        timerfd_settime(G.tfd, 0, &its, NULL);
        run_for(UINT64_MAX / 2, frames_sending_done, G.nconns);
        G.sending = false;
        struct itimerspec off = {{0, 0}, {0, 0}};
        timerfd_settime(G.tfd, 0, &off, NULL);
    }
    uint64_t ts1 = now_ns();
    run_for(s_to_ns(o->drain_s), frames_answered, G.nconns);
    /* The last coalesced ENGAGEMENT_UPDATE trails the last result by up to its interval. */
    run_for(s_to_ns(1.5), NULL, G.nconns);
    uint64_t ts2 = now_ns();
    double bcpu1 = proc_cpu_s(o->broker_pid), scpu1 = self_cpu_s();
    G.frozen = true;
    close_all();

    uint64_t unanswered = G.f_sent - G.f_results - G.f_skipped - G.f_errors;
    double send_s = (double)(ts1 - ts0) / 1e9, wall = (double)(ts2 - ts0) / 1e9;
    res_head("frames");
    res("students=%d connected=%d interval_s=%.2f duration_s=%.1f frame_bytes=%zu", k,
        students_open, o->interval_s, o->duration_s, G.img_len);
    res("offered_fps=%.1f sent=%" PRIu64 " results=%" PRIu64 " skipped=%" PRIu64
        " errors=%" PRIu64 " unanswered=%" PRIu64,
        (double)k / o->interval_s, G.f_sent, G.f_results, G.f_skipped, G.f_errors, unanswered);
    res("analyzed_fps=%.1f", send_s > 0 ? (double)G.f_results / send_s : 0);
    res("result_p50_ms=%.1f result_p99_ms=%.1f result_max_ms=%.1f", ms(hist_q(&G.flat, 0.50)),
        ms(hist_q(&G.flat, 0.99)), ms(G.flat.n ? G.flat.max : 0));
    res("update_n=%" PRIu64 " update_p50_ms=%.1f update_p99_ms=%.1f update_max_ms=%.1f",
        G.lat.n, ms(hist_q(&G.lat, 0.50)), ms(hist_q(&G.lat, 0.99)),
        ms(G.lat.n ? G.lat.max : 0));
    res("engagement_updates=%" PRIu64 " rows=%" PRIu64 " unmatched=%" PRIu64
        " send_lag_max_ms=%.1f",
        G.f_updates, G.f_rows, G.f_unmatched, ms(G.send_lag_max));
    if (bcpu0 >= 0 && bcpu1 >= 0 && wall > 0)
        res("broker_cpu_pct=%.0f", 100.0 * (bcpu1 - bcpu0) / wall);
    else
        res("broker_cpu_pct=na");
    res("loadgen_cpu_pct=%.0f", wall > 0 ? 100.0 * (scpu1 - scpu0) / wall : 0);
    res_common();
    if (G.failed || G.f_errors || unanswered || !G.session_started)
        status = 2;
    res_print(&status);
    for (int i = 0; i < k; i++) {
        free(G.conns[i].fsend);
        free(G.conns[i].analyzed_ns);
    }
    free(G.img);
    free(G.flat.b);
    return status;
}

/* ------------------------------------------------------------------------------------------ */
/* Command line */

static void usage(FILE *f)
{
    fputs(
        "usage: loadgen connect|ping|fanout|frames [options]\n"
        "  --host H              127.0.0.1 (default), ::1 or localhost; nothing else\n"
        "  --port N | --port-file F   the broker's port (required)\n"
        "  --path P              WebSocket path (default /ws)\n"
        "  --secret-file F       HS256 secret (default: $ROLLCALL_JWT_SECRET)\n"
        "  --broker-pid PID      read the server's VmRSS and CPU time from /proc\n"
        "  --deadline S          hard limit for the whole run (default 60)\n"
        "  --class-prefix S      class ids are <prefix>-c<k> (default bench<pid>)\n"
        "  --label S             add label=S to the result line\n"
        "  --server S            add server=S to the result line (which server is measured)\n"
        "  --inflight N          handshakes in flight (default 256)\n"
        "  --handshake-timeout S per connection (default 10)\n"
        " connect:\n"
        "  --conns N             idle student connections (default 1000)\n"
        "  --classes N           spread over N classes (default 10)\n"
        "  --settle S            wait before reading RSS (default 1)\n"
        "  --hold S              hold the connections, then close (default 2)\n"
        "  --ping-each 0|1       1: each connection sends one PING and gets its PONG before\n"
        "                        the second RSS reading (default 0)\n"
        " ping (also --classes, --duration, --drain):\n"
        "  --clients N           connections, each with one PING in flight (default 100)\n"
        " fanout:\n"
        "  --students K          students in the one class (default 100)\n"
        "  --rate R              teacher announcements per second (default 100)\n"
        "  --port2 N             a second instance (same Redis): odd students connect there\n"
        "  --broker2-pid PID     fanout with --port2: also read the second instance's CPU time\n"
        "  --duration D          seconds of sending (default 10)\n"
        "  --drain S             wait for stragglers after sending (default 5)\n"
        " frames (also --students, --duration, --drain):\n"
        "  --image F             JPEG sent as each binary frame (required)\n"
        "  --interval S          seconds between a student's frames (default 3)\n"
        "Prints one result line (bench=<scenario> key=value ...) on stdout. Exit status 0\n"
        "when the run was clean, 2 when it completed with failures or losses, 1 on errors.\n",
        f);
}

static double num_arg(const char *name, const char *v, double lo, double hi)
{
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || d < lo || d > hi)
        die("%s: expected a number in [%g, %g], got '%s'", name, lo, hi, v);
    return d;
}

static char *read_file_trim(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("%s: %s", path, strerror(errno));
    char *buf = xrealloc(NULL, 4097);
    size_t n = fread(buf, 1, 4096, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    buf[n] = '\0';
    *len = n;
    return buf;
}

static void parse_args(int argc, char **argv)
{
    opts_t *o = &G.o;
    const char *host = "127.0.0.1", *port_file = NULL, *secret_file = NULL;
    o->path = "/ws";
    o->deadline_s = 60;
    o->inflight = 256;
    o->hs_timeout_s = 10;
    o->conns = 1000;
    o->classes = 10;
    o->settle_s = 1;
    o->hold_s = 2;
    o->clients = 100;
    o->students = 100;
    o->rate = 100;
    o->duration_s = 10;
    o->drain_s = 5;
    o->interval_s = 3;
    o->start_settle_s = 0.5;
    snprintf(o->class_prefix, sizeof o->class_prefix, "bench%d", (int)getpid());

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        exit(argc < 2 ? 1 : 0);
    }
    o->scenario = argv[1];
    if (strcmp(o->scenario, "connect") != 0 && strcmp(o->scenario, "ping") != 0 &&
        strcmp(o->scenario, "fanout") != 0 && strcmp(o->scenario, "frames") != 0)
        die("unknown scenario '%s' (connect, ping, fanout or frames)", o->scenario);

    for (int i = 2; i < argc; i++) {
        char *a = argv[i], *v = NULL, name[64];
        if (strncmp(a, "--", 2) != 0)
            die("unexpected argument '%s'", a);
        char *eq = strchr(a, '=');
        if (eq) {
            snprintf(name, sizeof name, "%.*s", (int)(eq - a), a);
            v = eq + 1;
        } else {
            snprintf(name, sizeof name, "%s", a);
            if (strcmp(name, "--help") == 0) {
                usage(stdout);
                exit(0);
            }
            if (i + 1 >= argc)
                die("%s needs a value", name);
            v = argv[++i];
        }
        if (!strcmp(name, "--host"))
            host = v;
        else if (!strcmp(name, "--port"))
            o->port = (int)num_arg(name, v, 1, 65535);
        else if (!strcmp(name, "--port2"))
            o->port2 = (int)num_arg(name, v, 1, 65535);
        else if (!strcmp(name, "--port-file"))
            port_file = v;
        else if (!strcmp(name, "--path"))
            o->path = v;
        else if (!strcmp(name, "--secret-file"))
            secret_file = v;
        else if (!strcmp(name, "--broker-pid"))
            o->broker_pid = (int)num_arg(name, v, 1, 1 << 30);
        else if (!strcmp(name, "--broker2-pid"))
            o->broker2_pid = (int)num_arg(name, v, 1, 1 << 30);
        else if (!strcmp(name, "--deadline"))
            o->deadline_s = num_arg(name, v, 1, 3600);
        else if (!strcmp(name, "--class-prefix"))
            snprintf(o->class_prefix, sizeof o->class_prefix, "%s", v);
        else if (!strcmp(name, "--label"))
            snprintf(o->label, sizeof o->label, "%s", v);
        else if (!strcmp(name, "--server"))
            snprintf(o->server, sizeof o->server, "%s", v);
        else if (!strcmp(name, "--ping-each"))
            o->ping_each = (int)num_arg(name, v, 0, 1);
        else if (!strcmp(name, "--clients"))
            o->clients = (int)num_arg(name, v, 1, MAX_CONNS);
        else if (!strcmp(name, "--inflight"))
            o->inflight = (int)num_arg(name, v, 1, 10000);
        else if (!strcmp(name, "--handshake-timeout"))
            o->hs_timeout_s = num_arg(name, v, 0.1, 600);
        else if (!strcmp(name, "--conns"))
            o->conns = (int)num_arg(name, v, 1, MAX_CONNS);
        else if (!strcmp(name, "--classes"))
            o->classes = (int)num_arg(name, v, 1, MAX_CONNS);
        else if (!strcmp(name, "--settle"))
            o->settle_s = num_arg(name, v, 0, 600);
        else if (!strcmp(name, "--hold"))
            o->hold_s = num_arg(name, v, 0, 3600);
        else if (!strcmp(name, "--students"))
            o->students = (int)num_arg(name, v, 1, MAX_CONNS - 1);
        else if (!strcmp(name, "--rate"))
            o->rate = num_arg(name, v, 0.01, 1e6);
        else if (!strcmp(name, "--duration"))
            o->duration_s = num_arg(name, v, 0.01, 3600);
        else if (!strcmp(name, "--drain"))
            o->drain_s = num_arg(name, v, 0, 600);
        else if (!strcmp(name, "--interval"))
            o->interval_s = num_arg(name, v, 0.01, 600);
        else if (!strcmp(name, "--image"))
            o->image = v;
        else
            die("unknown option %s (see --help)", name);
    }

    /* Loopback only: this tool opens thousands of connections as fast as it can. */
    memset(&G.addr, 0, sizeof G.addr);
    if (!strcmp(host, "127.0.0.1") || !strcmp(host, "localhost")) {
        struct sockaddr_in *a = (struct sockaddr_in *)&G.addr;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        G.addrlen = sizeof *a;
        snprintf(o->host, sizeof o->host, "127.0.0.1");
    } else if (!strcmp(host, "::1")) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&G.addr;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        G.addrlen = sizeof *a;
        snprintf(o->host, sizeof o->host, "[::1]");
    } else {
        die("refusing --host '%s': loopback only (127.0.0.1, ::1 or localhost)", host);
    }

    if (port_file) {
        size_t l;
        char *p = read_file_trim(port_file, &l);
        o->port = (int)num_arg("--port-file", p, 1, 65535);
        free(p);
    }
    if (o->port <= 0)
        die("--port or --port-file is required");
    if (G.addr.ss_family == AF_INET)
        ((struct sockaddr_in *)&G.addr)->sin_port = htons((uint16_t)o->port);
    else
        ((struct sockaddr_in6 *)&G.addr)->sin6_port = htons((uint16_t)o->port);
    snprintf(G.hosthdr, sizeof G.hosthdr, "%s:%d", o->host, o->port);
    G.addr2 = G.addr;
    if (G.addr2.ss_family == AF_INET)
        ((struct sockaddr_in *)&G.addr2)->sin_port = htons((uint16_t)o->port2);
    else
        ((struct sockaddr_in6 *)&G.addr2)->sin6_port = htons((uint16_t)o->port2);

    if (secret_file) {
        o->secret = read_file_trim(secret_file, &o->secret_len);
    } else {
        const char *s = getenv("ROLLCALL_JWT_SECRET");
        if (!s || !*s)
            die("no secret: set ROLLCALL_JWT_SECRET or pass --secret-file");
        o->secret = strdup(s);
        o->secret_len = strlen(s);
    }
    if (o->path[0] != '/')
        die("--path must start with /");
    if (!strcmp(o->scenario, "frames") && !o->image)
        die("frames needs --image PATH (a JPEG)");
    if (!strcmp(o->scenario, "fanout") && o->rate * o->duration_s > (double)MAX_MARKS)
        die("--rate x --duration is over %llu marks", MAX_MARKS);
}

static void on_signal(int sig)
{
    if (sig == SIGALRM) {
        static const char m[] = "loadgen: hard deadline passed, exiting\n";
        ssize_t w = write(2, m, sizeof m - 1);
        (void)w;
        _exit(3);
    }
    G.interrupted = 1;
}

int main(int argc, char **argv)
{
    G.t_begin = now_ns();
    G.tfd = -1;
    parse_args(argc, argv);
    G.t_deadline = G.t_begin + s_to_ns(G.o.deadline_s);

    if (getrandom(&G.rng, sizeof G.rng, 0) != (ssize_t)sizeof G.rng || G.rng == 0)
        G.rng = G.t_begin | 1;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGALRM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* Backstop: the loop honours --deadline itself; this only fires if something hangs.
     * The closing handshake after the deadline may take CLOSE_WAIT_NS more. */
    alarm((unsigned)G.o.deadline_s + 10);

    int need = (!strcmp(G.o.scenario, "connect") ? G.o.conns
                : !strcmp(G.o.scenario, "ping")  ? G.o.clients
                                                 : G.o.students + 1) +
               32;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)need) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)need ? rl.rlim_max : (rlim_t)need;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t)need)
            die("need %d file descriptors, the limit is %llu: raise it with ulimit -n", need,
                (unsigned long long)rl.rlim_cur);
    }

    G.ep = epoll_create1(EPOLL_CLOEXEC);
    if (G.ep < 0)
        die("epoll_create1: %s", strerror(errno));
    hist_init(&G.hs);
    hist_init(&G.lat);
    hist_init(&G.wire);
    hist_init(&G.reply);

    int status = !strcmp(G.o.scenario, "connect")  ? scenario_connect()
                 : !strcmp(G.o.scenario, "ping")   ? scenario_ping()
                 : !strcmp(G.o.scenario, "frames") ? scenario_frames()
                                                   : scenario_fanout();

    if (G.bad_accept)
        info("warning: %d upgrades had a wrong Sec-WebSocket-Accept", G.bad_accept);
    if (G.bad_json)
        info("warning: %" PRIu64 " text messages without a top-level \"event\"", G.bad_json);
    if (G.fragmented || G.binary)
        info("%" PRIu64 " fragmented messages reassembled, %" PRIu64 " binary messages",
             G.fragmented, G.binary);
    for (int i = 0; i < G.nconns; i++) {
        free(G.conns[i].rbuf);
        free(G.conns[i].wbuf);
        free(G.conns[i].msg);
    }
    free(G.conns);
    free(G.hs.b);
    free(G.lat.b);
    free(G.wire.b);
    free(G.reply.b);
    free(G.o.secret);
    if (G.tfd >= 0)
        close(G.tfd);
    close(G.ep);
    return status;
}

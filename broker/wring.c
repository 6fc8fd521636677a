/* SPDX-License-Identifier: MIT */
/* Batched non-blocking sends over io_uring (liburing). */
#include "wring.h"

#include "brk.h"

#include <errno.h>
#include <stdint.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

struct wring {
    struct io_uring ring;
    unsigned cap, n;
    int broken; /* a submission failed: the caller goes back to send(2) */
    ssize_t *res;
};

wring_t *wring_new(unsigned capacity, char *err, size_t errlen)
{
    wring_t *w = brk_calloc(1, sizeof *w);
    int rc = io_uring_queue_init(capacity, &w->ring, 0);
    if (rc < 0) {
        snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
        free(w);
        return NULL;
    }
    w->cap = capacity;
    w->res = brk_calloc(capacity, sizeof *w->res);
    return w;
}

void wring_free(wring_t *w)
{
    if (!w)
        return;
    io_uring_queue_exit(&w->ring);
    free(w->res);
    free(w);
}

unsigned wring_room(const wring_t *w)
{
    return w->cap - w->n;
}

unsigned wring_add(wring_t *w, int fd, const void *buf, size_t len)
{
    BRK_ASSERT(w->n < w->cap);
    struct io_uring_sqe *sqe = io_uring_get_sqe(&w->ring);
    BRK_ASSERT(sqe); /* the ring has cap entries and at most cap are added per batch */
    io_uring_prep_send(sqe, fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, w->n);
    w->res[w->n] = -EAGAIN; /* what a send that never ran reports: nothing was taken */
    return w->n++;
}

int wring_broken(const wring_t *w)
{
    return w->broken;
}

unsigned wring_run(wring_t *w, const ssize_t **res)
{
    unsigned n = w->n;
    *res = w->res;
    w->n = 0;
    if (n == 0)
        return 0;
    int rc;
    do
        rc = io_uring_submit(&w->ring);
    while (rc == -EINTR);
    /* Sends not submitted keep -EAGAIN: the caller hands their bytes to lws, which sends
     * them itself, so nothing is lost; the ring is not used again. */
    unsigned want = rc < 0 ? 0 : (unsigned)rc < n ? (unsigned)rc : n;
    if (want < n)
        w->broken = 1;
    unsigned got = 0;
    while (got < want) {
        struct io_uring_cqe *cqe;
        /* Non-blocking sends complete during the submission, so this does not wait. */
        int wr = io_uring_wait_cqe(&w->ring, &cqe);
        if (wr == -EINTR)
            continue;
        if (wr < 0) {
            w->broken = 1;
            break;
        }
        uint64_t i = io_uring_cqe_get_data64(cqe);
        if (i < n)
            w->res[i] = cqe->res;
        io_uring_cqe_seen(&w->ring, cqe);
        got++;
    }
    return n;
}

/* SPDX-License-Identifier: MIT */
/* Sends to many sockets with one system call: a small io_uring of non-blocking send(2)s.
 * On this project's machines a system call costs about as much as the TCP work of a
 * 100-byte send, so a fan-out of one message to a class pays it once per batch instead of
 * once per student. Loop thread only. */
#ifndef BRK_WRING_H
#define BRK_WRING_H

#include <stddef.h>
#include <sys/types.h>

typedef struct wring wring_t;

/* A ring for up to capacity sends per batch. NULL (and a reason in err) when the kernel or
 * its sandbox does not offer io_uring: the caller then sends one by one. */
wring_t *wring_new(unsigned capacity, char *err, size_t errlen);
void wring_free(wring_t *w);

/* Sends a batch can still take. */
unsigned wring_room(const wring_t *w);

/* Adds a non-blocking send of len bytes of buf to fd; buf must stay valid until
 * wring_run returns. Returns the send's index in the batch. */
unsigned wring_add(wring_t *w, int fd, const void *buf, size_t len);

/* Submits the batch and collects every result: res[i] is the i-th send's byte count or a
 * negative errno (-EAGAIN when the socket was full, or when the send could not be
 * submitted). Returns the number of sends. The sends are MSG_DONTWAIT, so every one
 * completes during the submission. */
unsigned wring_run(wring_t *w, const ssize_t **res);

/* Whether a submission failed; the ring should not be used again. */
int wring_broken(const wring_t *w);

#endif

/* SPDX-License-Identifier: MIT */
/* wring.c: sends to many sockets in one submission, each send's own result (bytes taken,
 * -EAGAIN for a full socket, -EPIPE for a closed peer), the bytes arriving whole. */
#include "test.h"
#include "wring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define PAIRS 8

static void nonblock(int fd)
{
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static wring_t *ring_or_skip(unsigned cap)
{
    char err[160];
    wring_t *w = wring_new(cap, err, sizeof err);
    if (!w)
        TEST_SKIP("no io_uring here: %s", err);
    return w;
}

static void test_batch_to_many_sockets(void)
{
    wring_t *w = ring_or_skip(16);
    int sv[PAIRS][2];
    char msg[PAIRS][32];
    for (int i = 0; i < PAIRS; i++) {
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]), 0);
        nonblock(sv[i][0]);
        snprintf(msg[i], sizeof msg[i], "frame for socket %d", i);
    }
    ASSERT_EQ(wring_room(w), 16);
    for (int i = 0; i < PAIRS; i++)
        ASSERT_EQ(wring_add(w, sv[i][0], msg[i], strlen(msg[i])), i);
    ASSERT_EQ(wring_room(w), 16 - PAIRS);
    const ssize_t *res;
    ASSERT_EQ(wring_run(w, &res), PAIRS);
    ASSERT_EQ(wring_room(w), 16);
    for (int i = 0; i < PAIRS; i++) {
        ASSERT_EQ(res[i], (ssize_t)strlen(msg[i]));
        char got[64] = "";
        ASSERT_EQ(read(sv[i][1], got, sizeof got - 1), (ssize_t)strlen(msg[i]));
        ASSERT(strcmp(got, msg[i]) == 0);
    }
    /* An empty batch runs nothing. */
    ASSERT_EQ(wring_run(w, &res), 0);
    ASSERT(!wring_broken(w));
    for (int i = 0; i < PAIRS; i++) {
        close(sv[i][0]);
        close(sv[i][1]);
    }
    wring_free(w);
}

/* A full socket answers -EAGAIN (the send never waits); the others in the same batch go
 * through. (A send the kernel takes in part is tested end to end, test_write_path.py.) */
static void test_full_socket(void)
{
    wring_t *w = ring_or_skip(4);
    int full[2], ok[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, full), 0);
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, ok), 0);
    nonblock(full[0]);
    nonblock(ok[0]);
    static char big[1 << 16];
    memset(big, 'x', sizeof big);
    while (send(full[0], big, sizeof big, MSG_DONTWAIT) > 0) {
    }
    ASSERT_EQ(errno, EAGAIN);
    wring_add(w, full[0], "late", 4);
    wring_add(w, ok[0], "on time", 7);
    const ssize_t *res;
    ASSERT_EQ(wring_run(w, &res), 2);
    ASSERT_EQ(res[0], -EAGAIN);
    ASSERT_EQ(res[1], 7);

    close(full[0]);
    close(full[1]);
    close(ok[0]);
    close(ok[1]);
    wring_free(w);
}

/* A closed peer is an error of that send alone, not of the ring. */
static void test_closed_peer(void)
{
    wring_t *w = ring_or_skip(4);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    wring_add(w, sv[0], "gone", 4);
    const ssize_t *res;
    ASSERT_EQ(wring_run(w, &res), 1);
    ASSERT_EQ(res[0], -EPIPE);
    ASSERT(!wring_broken(w));
    close(sv[0]);
    wring_free(w);
}

static const test_case_t tests[] = {
    {"batch_to_many_sockets", test_batch_to_many_sockets},
    {"full_socket", test_full_socket},
    {"closed_peer", test_closed_peer},
};

TEST_MAIN(tests)

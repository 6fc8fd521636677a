/* SPDX-License-Identifier: MIT */
/* Unit tests for base/rlimit.c: token buckets by key. A key starts full, loses one token per
 * take, regains burst tokens per period, and says how long to wait when empty; keys do not
 * share buckets; at max_keys the least recently touched key is dropped. */
#include "rlimit.h"

#include "test.h"

#include <stdio.h>
#include <string.h>

#define K(s) (s), strlen(s)

static void test_burst_then_refused(void)
{
    rl_t *rl = rl_new(5, 15 * 60 * 1000, 16);
    uint64_t now = 1000000, retry = 0;
    for (int i = 0; i < 5; i++)
        ASSERT_EQ(rl_try_take(rl, K("ada@school.example"), now, &retry), 1);
    ASSERT_EQ(rl_try_take(rl, K("ada@school.example"), now, &retry), 0);
    /* 5 tokens per 900 s: one token comes back after 180 s. */
    ASSERT(retry >= 180000 && retry <= 180001);
    ASSERT_EQ(rl_allowed(rl, K("ada@school.example"), now + 179000, &retry), 0);
    ASSERT(retry >= 1000 && retry <= 1001);
    ASSERT_EQ(rl_allowed(rl, K("ada@school.example"), now + 180001, NULL), 1);
    /* A take when allowed again leaves it empty again. */
    ASSERT_EQ(rl_try_take(rl, K("ada@school.example"), now + 180001, NULL), 1);
    ASSERT_EQ(rl_allowed(rl, K("ada@school.example"), now + 180001, NULL), 0);
    rl_free(rl);
}

static void test_keys_are_separate(void)
{
    rl_t *rl = rl_new(2, 60000, 16);
    ASSERT_EQ(rl_try_take(rl, K("a"), 10, NULL), 1);
    ASSERT_EQ(rl_try_take(rl, K("a"), 10, NULL), 1);
    ASSERT_EQ(rl_try_take(rl, K("a"), 10, NULL), 0);
    ASSERT_EQ(rl_try_take(rl, K("b"), 10, NULL), 1);
    /* a prefix, and the same bytes with another length, are other keys */
    ASSERT_EQ(rl_try_take(rl, "ab", 1, 10, NULL), 0);
    ASSERT_EQ(rl_try_take(rl, K("ab"), 10, NULL), 1);
    ASSERT_EQ(rl_size(rl), 3);
    rl_free(rl);
}

static void test_allowed_takes_nothing_and_forget_refills(void)
{
    rl_t *rl = rl_new(1, 1000, 4);
    for (int i = 0; i < 10; i++)
        ASSERT_EQ(rl_allowed(rl, K("x"), 0, NULL), 1);
    ASSERT_EQ(rl_size(rl), 0);
    rl_take(rl, K("x"), 0);
    ASSERT_EQ(rl_allowed(rl, K("x"), 0, NULL), 0);
    rl_take(rl, K("x"), 0); /* stays at zero, does not go into debt */
    ASSERT_EQ(rl_allowed(rl, K("x"), 1001, NULL), 1);
    rl_take(rl, K("x"), 1001);
    rl_forget(rl, K("x"));
    ASSERT_EQ(rl_size(rl), 0);
    ASSERT_EQ(rl_allowed(rl, K("x"), 1001, NULL), 1);
    rl_free(rl);
}

static void test_bounded_least_recent_dropped(void)
{
    rl_t *rl = rl_new(1, 60000, 100);
    char key[32];
    for (int i = 0; i < 100; i++) {
        snprintf(key, sizeof key, "10.0.0.%d", i);
        rl_take(rl, K(key), 5);
    }
    ASSERT_EQ(rl_size(rl), 100);
    /* Touch key 0 so that key 1 is now the least recent. */
    rl_take(rl, K("10.0.0.0"), 6);
    for (int i = 100; i < 10000; i++) {
        snprintf(key, sizeof key, "10.0.%d.%d", i / 256, i % 256);
        rl_take(rl, K(key), 7);
        ASSERT(rl_size(rl) <= 100);
    }
    ASSERT_EQ(rl_size(rl), 100);
    /* The oldest keys were dropped and count as full again; the newest are still empty. */
    ASSERT_EQ(rl_allowed(rl, K("10.0.0.1"), 8, NULL), 1);
    ASSERT_EQ(rl_allowed(rl, K("10.0.39.15"), 8, NULL), 0); /* i = 9999 */
    rl_free(rl);
}

static void test_long_keys_are_cut(void)
{
    rl_t *rl = rl_new(1, 60000, 4);
    char a[RL_MAX_KEY + 50], b[RL_MAX_KEY + 50];
    memset(a, 'a', sizeof a);
    memcpy(b, a, sizeof b);
    b[sizeof b - 1] = 'b'; /* differs only past the cut */
    rl_take(rl, a, sizeof a, 0);
    ASSERT_EQ(rl_allowed(rl, b, sizeof b, 0, NULL), 0);
    rl_forget(rl, b, sizeof b);
    ASSERT_EQ(rl_size(rl), 0);
    rl_free(rl);
}

static const test_case_t tests[] = {
    {"burst_then_refused", test_burst_then_refused},
    {"keys_are_separate", test_keys_are_separate},
    {"allowed_takes_nothing_and_forget_refills", test_allowed_takes_nothing_and_forget_refills},
    {"bounded_least_recent_dropped", test_bounded_least_recent_dropped},
    {"long_keys_are_cut", test_long_keys_are_cut},
};

TEST_MAIN(tests)

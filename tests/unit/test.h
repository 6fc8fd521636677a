/* SPDX-License-Identifier: MIT */
/* A tiny unit-test harness: ASSERT_* macros that report file:line and abort the test,
 * TEST() registration through a table, and a summary line "N passed, N failed". */
#ifndef RC_TEST_H
#define RC_TEST_H

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static jmp_buf test__jmp;
static int test__failed_line;

#define TEST_FAIL(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__);                                          \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, "\n");                                                                     \
        test__failed_line = __LINE__;                                                              \
        longjmp(test__jmp, 1);                                                                     \
    } while (0)

#define ASSERT(c)                                                                                  \
    do {                                                                                           \
        if (!(c))                                                                                  \
            TEST_FAIL("assertion failed: %s", #c);                                                 \
    } while (0)
#define ASSERT_EQ(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ != b_)                                                                              \
            TEST_FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                                   \
    } while (0)
#define ASSERT_NE(a, b)                                                                            \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        if (a_ == b_)                                                                              \
            TEST_FAIL("%s != %s: both %lld", #a, #b, a_);                                          \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                                        \
    do {                                                                                           \
        const char *a_ = (a), *b_ = (b);                                                           \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                                     \
            TEST_FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                   \
                      b_ ? b_ : "(null)");                                                         \
    } while (0)
#define ASSERT_NULL(p) ASSERT((p) == NULL)
#define ASSERT_NOT_NULL(p) ASSERT((p) != NULL)
#define ASSERT_DOUBLE_NEAR(a, b, eps)                                                              \
    do {                                                                                           \
        double a_ = (a), b_ = (b);                                                                 \
        if (a_ - b_ > (eps) || b_ - a_ > (eps))                                                    \
            TEST_FAIL("%s ~= %s: %g != %g", #a, #b, a_, b_);                                       \
    } while (0)

typedef struct {
    const char *name;
    void (*fn)(void);
} test_case_t;

/* A test that cannot run in this configuration (for example one that needs the MongoDB
 * test server's fault injection, run against a real server) says so and stops: it is
 * reported as skipped, never as passed. Not for missing test data: that is a failure. */
#define TEST_SKIP(...)                                                                             \
    do {                                                                                           \
        printf("     (skipped: ");                                                                 \
        printf(__VA_ARGS__);                                                                       \
        printf(")\n");                                                                             \
        longjmp(test__jmp, 2);                                                                     \
    } while (0)

/* Each test file defines: static const test_case_t tests[] = {{"name", fn}, ...};
 * and ends with TEST_MAIN(tests). Fixtures shared by several tests are set up and torn down
 * by main() around test_run_all(), never registered as tests themselves. */
static inline int test_run_all(const test_case_t *tests, size_t n)
{
    volatile int passed = 0, failed = 0, skipped = 0;
    const char *only = getenv("TEST_ONLY");
    for (volatile size_t i = 0; i < n; i++) {
        if (only && strcmp(only, tests[i].name) != 0)
            continue;
        /* setjmp as a whole controlling expression, as C11 7.13.1.1 allows. */
        switch (setjmp(test__jmp)) {
        case 0:
            tests[i].fn();
            printf("ok   %s\n", tests[i].name);
            passed++;
            break;
        case 2:
            printf("skip %s\n", tests[i].name);
            skipped++;
            break;
        default:
            printf("FAIL %s (line %d)\n", tests[i].name, test__failed_line);
            failed++;
            break;
        }
        fflush(stdout);
    }
    if (skipped)
        printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
    else
        printf("%d passed, %d failed\n", passed, failed);
    return failed ? 1 : (passed ? 0 : 1);
}

/* Reads one photo of ../shared/data/faces (found from $ROLLCALL_TEST_DATA, the tests
 * folder). Returns a malloc'd buffer and *len, or NULL when it is missing or empty; path
 * (may be NULL) gets the path tried. */
static inline unsigned char *test_read_photo_at(const char *name, size_t *len, char *path,
                                                size_t pathlen)
{
    char own[1024];
    if (!path) {
        path = own;
        pathlen = sizeof own;
    }
    const char *tests = getenv("ROLLCALL_TEST_DATA");
    *len = 0;
    if (snprintf(path, pathlen, "%s/../../shared/data/faces/%s", tests ? tests : "tests",
                 name) >= (int)pathlen)
        return NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = NULL;
    long n = -1;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) > 0 && fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n);
        if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    fclose(f);
    *len = buf ? (size_t)n : 0;
    return buf;
}

/* Inside a test: the photo, or the test fails naming the missing file. The photos are part
 * of the project's test data; a test that passed without them would prove nothing. */
static inline unsigned char *test_photo(const char *name, size_t *len)
{
    char path[1024];
    unsigned char *b = test_read_photo_at(name, len, path, sizeof path);
    if (!b)
        TEST_FAIL("test photo %s missing or empty: the test data (../shared/data/faces next to "
                  "the checkout) is incomplete",
                  path);
    return b;
}

#define TEST_MAIN(table)                                                                           \
    int main(void)                                                                                 \
    {                                                                                              \
        return test_run_all(table, sizeof(table) / sizeof((table)[0]));                            \
    }

#endif

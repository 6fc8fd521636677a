/* SPDX-License-Identifier: MIT */
/* The rules shared by the storage backends (acct_int.h): validation, id and join code
 * generation, and list order. Moved here from the SQLite stores unchanged, so that the
 * MongoDB backend applies the very same ones. */
#include "acct_int.h"
#include "brk.h"

#include <stdio.h>
#include <string.h>

/* Random bytes drawn at a time for join codes; a code needs about 6.2 on average. */
#define CODE_DRAW 12
/* Random bytes of a class id and of an account id. */
#define CLASS_ID_BYTES 10
#define ACCOUNT_ID_BYTES 16

int acct__check_name(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0)
        return BRK_EINVAL;
    if (n > ACCT_NAME_MAX)
        return BRK_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return BRK_EINVAL;
    }
    return 0;
}

int acct__check_hash(const char *h)
{
    if (!h || h[0] == '\0')
        return BRK_EINVAL;
    return strlen(h) < ACCT_HASH_SIZE ? 0 : BRK_ETOOBIG;
}

int acct__new_account_id(char out[ACCT_ID_SIZE])
{
    unsigned char rnd[ACCOUNT_ID_BYTES];
    _Static_assert(2 * ACCOUNT_ID_BYTES + 1 == ACCT_ID_SIZE, "account id size");
    if (brk_random(rnd, sizeof rnd) != 0)
        return BRK_EIO;
    brk_hex(rnd, sizeof rnd, out);
    return 0;
}

/* Free text: up to max bytes, no control characters except, when multiline, tab, CR and LF
 * (a description has paragraphs; a name is one line). */
static int check_text(const char *t, size_t max, int multiline)
{
    size_t n = strlen(t);
    if (n > max)
        return BRK_ETOOBIG;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if (multiline && (c == '\t' || c == '\r' || c == '\n'))
            continue;
        if (c < 0x20 || c == 0x7f)
            return BRK_EINVAL;
    }
    return 0;
}

int acct__check_class_fields(const char *name, const char *description, const char *schedule)
{
    int rc;
    if (name && name[0] == '\0')
        return BRK_EINVAL;
    if (name && (rc = check_text(name, CLASS_NAME_MAX, 0)) != 0)
        return rc;
    if (description && (rc = check_text(description, CLASS_DESC_MAX, 1)) != 0)
        return rc;
    if (schedule && strlen(schedule) > CLASS_SCHEDULE_MAX)
        return BRK_ETOOBIG;
    return 0;
}

int acct__member_id_ok(const char *id)
{
    return id && brk_id_ok(id, strlen(id), CLASS_TOKEN_ID_MAX);
}

int acct__new_class_id(char out[CLASS_ID_SIZE])
{
    unsigned char rnd[CLASS_ID_BYTES];
    _Static_assert(1 + 2 * CLASS_ID_BYTES + 1 == CLASS_ID_SIZE, "class id size");
    if (brk_random(rnd, sizeof rnd) != 0)
        return BRK_EIO;
    out[0] = 'c';
    brk_hex(rnd, sizeof rnd, out + 1);
    return 0;
}

/* Each character uniform over the alphabet: a byte maps to a character only below the
 * largest multiple of the alphabet's size that fits in a byte (248 for 31); the others are
 * drawn again, since a plain byte % 31 would make the first 8 characters more likely. */
int acct__new_join_code(char out[CLASS_CODE_SIZE])
{
    static const char alphabet[] = CLASS_CODE_ALPHABET;
    const unsigned n = sizeof alphabet - 1;
    const unsigned limit = 256 - 256 % n;
    unsigned char rnd[CODE_DRAW];
    size_t used = sizeof rnd;
    int k = 0;
    while (k < CLASS_CODE_LEN) {
        if (used == sizeof rnd) {
            if (brk_random(rnd, sizeof rnd) != 0)
                return BRK_EIO;
            used = 0;
        }
        unsigned b = rnd[used++];
        if (b < limit)
            out[k++] = alphabet[b % n];
    }
    out[k] = '\0';
    return 0;
}

static unsigned char fold(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

int acct__name_cmp(const char *a, const char *b)
{
    const unsigned char *x = (const unsigned char *)a, *y = (const unsigned char *)b;
    size_t i = 0;
    for (; x[i] && y[i]; i++) {
        if (fold(x[i]) != fold(y[i]))
            return fold(x[i]) < fold(y[i]) ? -1 : 1;
    }
    if (x[i] || y[i])
        return x[i] ? 1 : -1;
    return strcmp(a, b);
}

int acct__new_class(const char *creator_id, const char *name, const char *description,
                    const char *schedule_json, class_info_t **out)
{
    int rc;
    if (!acct__member_id_ok(creator_id) || !name)
        return BRK_EINVAL;
    if ((rc = acct__check_class_fields(name, description, schedule_json)) != 0)
        return rc;
    class_info_t *c = brk_calloc(1, sizeof *c);
    snprintf(c->name, sizeof c->name, "%s", name);
    snprintf(c->description, sizeof c->description, "%s", description ? description : "");
    c->has_schedule = schedule_json != NULL;
    snprintf(c->schedule, sizeof c->schedule, "%s", schedule_json ? schedule_json : "");
    snprintf(c->created_by, sizeof c->created_by, "%s", creator_id);
    c->created_at_ms = c->updated_at_ms = brk_now_ms();
    *out = c;
    return 0;
}

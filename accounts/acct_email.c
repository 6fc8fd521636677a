/* SPDX-License-Identifier: MIT */
/* Email normalization (acct_email.h). Deliberately not a full RFC 5322 parser: the broker
 * needs a stable key for one mailbox and a refusal of what is plainly not an address; whether
 * the mailbox exists is for a confirmation mail to tell, not for a parser. */
#include "acct_email.h"

#include "brk.h"

#include <string.h>

static int is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int acct_email_normalize(const char *in, size_t len, char *out, size_t outlen)
{
    BRK_ASSERT((in || len == 0) && out && outlen >= ACCT_EMAIL_SIZE);
    out[0] = '\0';
    size_t b = 0, e = len;
    while (b < e && is_blank((unsigned char)in[b]))
        b++;
    while (e > b && is_blank((unsigned char)in[e - 1]))
        e--;
    size_t n = e - b;
    if (n > ACCT_EMAIL_MAX)
        return BRK_ETOOBIG;
    size_t at = n, ats = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[b + i];
        if (c < 0x20 || c == 0x7f || c == ' ')
            return BRK_EINVAL;
        if (c == '@') {
            at = i;
            ats++;
        }
    }
    if (ats != 1 || at == 0 || at == n - 1)
        return BRK_EINVAL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[b + i];
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    }
    out[n] = '\0';
    return 0;
}

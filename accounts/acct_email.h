/* SPDX-License-Identifier: MIT */
/* Email addresses of accounts: the canonical form an address is stored, compared and found
 * under, so that one mailbox cannot hold two accounts by changing case or adding blanks. Pure
 * function, any thread. */
#ifndef RC_ACCT_EMAIL_H
#define RC_ACCT_EMAIL_H

#include <stddef.h>

/* Longest address accepted, in bytes (RFC 5321's path limit less its angle brackets). */
#define ACCT_EMAIL_MAX 254
#define ACCT_EMAIL_SIZE (ACCT_EMAIL_MAX + 1)

/* Writes the canonical form of in (len bytes, borrowed) into out (outlen >= ACCT_EMAIL_SIZE,
 * NUL-terminated): blanks (space, tab, CR, LF) around it removed and every ASCII letter
 * lowercased, the local part included (mailbox providers that tell case apart are rare, and a
 * user who types their address in another case expects the same account). Bytes >= 0x80 are
 * kept as they are. Refused with BRK_EINVAL: no '@' or more than one, an empty local part or
 * domain, a control character (< 0x20 or 0x7f) or a blank inside; with BRK_ETOOBIG: longer
 * than ACCT_EMAIL_MAX once trimmed. Quoted local parts ("a b"@x) are not supported. On error
 * out is "". */
int acct_email_normalize(const char *in, size_t len, char *out, size_t outlen);

#endif

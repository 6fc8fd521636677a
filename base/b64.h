/* SPDX-License-Identifier: MIT */
/* The one base64 decoder: the standard alphabet (+ /), the URL-safe one (- _), or either.
 * Input is unpadded (callers strip trailing '=' where they tolerate it) and has no
 * whitespace. Used for JWT segments and JWK members (URL-safe) and for frames sent as
 * base64 text (either). */
#ifndef BRK_B64_H
#define BRK_B64_H

#include <stddef.h>
#include <stdint.h>

enum { B64_STD = 1, B64_URL = 2, B64_ANY = 3 };

/* The 6-bit value of c in the given alphabets, or -1. */
int b64_value(unsigned char c, int alphabets);

/* Bytes that len characters of unpadded base64 decode to; (size_t)-1 when no valid input
 * has that length (len % 4 == 1). */
size_t b64_decoded_len(size_t len);

/* Decodes len characters into out, which has room for b64_decoded_len(len) bytes. Returns
 * the number of bytes written, or -1 at a character outside the alphabets or an impossible
 * length. */
long b64_decode(const char *in, size_t len, int alphabets, uint8_t *out);

#endif

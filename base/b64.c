/* SPDX-License-Identifier: MIT */
#include "b64.h"

int b64_value(unsigned char c, int alphabets)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if ((alphabets & B64_STD) && (c == '+' || c == '/'))
        return c == '+' ? 62 : 63;
    if ((alphabets & B64_URL) && (c == '-' || c == '_'))
        return c == '-' ? 62 : 63;
    return -1;
}

size_t b64_decoded_len(size_t len)
{
    if (len % 4 == 1)
        return (size_t)-1;
    return len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
}

long b64_decode(const char *in, size_t len, int alphabets, uint8_t *out)
{
    if (len % 4 == 1)
        return -1;
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)in[i], alphabets);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (uint8_t)(acc >> bits);
        }
    }
    return (long)n;
}

/* SPDX-License-Identifier: MIT */
/* Frame intake without I/O (frame_decode.h). */
#include "frame_decode.h"

#include "engagement.h"

#include <stdlib.h>
#include <string.h>

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+' || ch == '-')
        return 62;
    if (ch == '/' || ch == '_')
        return 63;
    return -1;
}

/* Standard or URL-safe base64, padded or not; no whitespace. */
static int b64_decode(const char *s, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    if (len % 4 == 1)
        return FD_E_BASE64;
    size_t n = (len / 4) * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (n > max)
        return FD_E_BYTES;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return FD_E_BYTES;
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64_value((unsigned char)s[i]);
        if (v < 0) {
            free(buf);
            return FD_E_BASE64;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            buf[o++] = (uint8_t)(acc >> bits);
        }
    }
    *out = buf;
    *out_len = o;
    return FD_OK;
}

int fd_decode_field(const char *s, size_t len, size_t max_bytes, uint8_t **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    /* A data: URL as browsers produce it: data:image/jpeg;base64,<payload> */
    if (len >= 5 && memcmp(s, "data:", 5) == 0) {
        const char *comma = memchr(s, ',', len);
        if (!comma || (size_t)(comma - s) < 18 || memcmp(s, "data:image/", 11) != 0 ||
            memcmp(comma - 7, ";base64", 7) != 0)
            return FD_E_DATA_URL;
        len -= (size_t)(comma + 1 - s);
        s = comma + 1;
    }
    return b64_decode(s, len, max_bytes, out, n);
}

/* Whether the image ends as a whole file does: a JPEG with its end-of-image marker, a PNG
 * with its IEND chunk. The decoders would make a picture of a truncated file (the missing
 * part grey), which says nothing true about the student. */
static int image_complete(eng_img_format_t fmt, const uint8_t *b, size_t len)
{
    static const uint8_t iend[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};
    if (fmt == ENG_IMG_PNG)
        return len >= 12 && memcmp(b + len - 12, iend, 12) == 0;
    /* Some encoders pad after the marker: allow a few trailing zero bytes. */
    size_t end = len, pad = 0;
    while (end > 2 && b[end - 1] == 0 && pad < 16) {
        end--;
        pad++;
    }
    return end >= 4 && b[end - 2] == 0xff && b[end - 1] == 0xd9;
}

int fd_check_image(const uint8_t *b, size_t len, size_t max_bytes, uint64_t max_pixels,
                   uint32_t *w, uint32_t *h)
{
    *w = *h = 0;
    if (len == 0)
        return FD_E_EMPTY;
    if (len > max_bytes)
        return FD_E_BYTES;
    eng_img_format_t fmt;
    if (eng_probe_image(b, len, &fmt, w, h) != 0)
        return FD_E_FORMAT;
    if (!image_complete(fmt, b, len))
        return FD_E_TRUNCATED;
    if (*w == 0 || *h == 0 || (uint64_t)*w * *h > max_pixels)
        return FD_E_PIXELS;
    return FD_OK;
}

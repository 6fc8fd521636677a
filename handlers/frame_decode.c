/* SPDX-License-Identifier: MIT */
/* Frame intake without I/O (frame_decode.h). */
#include "frame_decode.h"

#include "b64.h"
#include "engagement.h"

#include <stdlib.h>
#include <string.h>

/* Standard or URL-safe base64, padded or not; no whitespace. */
static int decode_base64(const char *s, size_t len, size_t max, uint8_t **out, size_t *out_len)
{
    while (len > 0 && s[len - 1] == '=')
        len--;
    size_t n = b64_decoded_len(len);
    if (n == (size_t)-1)
        return FD_E_BASE64;
    if (n > max)
        return FD_E_BYTES;
    uint8_t *buf = malloc(n ? n : 1);
    if (!buf)
        return FD_E_BYTES;
    long got = b64_decode(s, len, B64_ANY, buf);
    if (got < 0) {
        free(buf);
        return FD_E_BASE64;
    }
    *out = buf;
    *out_len = (size_t)got;
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
    return decode_base64(s, len, max_bytes, out, n);
}

static uint32_t be16(const uint8_t *p)
{
    return ((uint32_t)p[0] << 8) | (uint32_t)p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
           (uint32_t)p[3];
}

/* Finds where a JPEG ends by walking it as a decoder reads it: marker segments by their
 * lengths (so an EXIF thumbnail's own end-of-image marker, inside APP1, is skipped with its
 * segment), and after each start-of-scan the entropy-coded data up to the next marker that is
 * not a stuffed 0xFF (0xFF00) or a restart (RST0..RST7). Progressive files have several
 * scans with table segments between them; the same walk covers them. On FD_OK *end is the
 * offset just past the EOI marker. Every step moves forward, so the work is linear in len
 * (it runs on the loop thread). */
static int jpeg_end(const uint8_t *b, size_t len, size_t *end)
{
    size_t i = 2; /* after SOI, which the probe checked */
    for (;;) {
        /* A marker: 0xFF, any number of 0xFF fill bytes, then its code. */
        if (i >= len)
            return FD_E_TRUNCATED;
        if (b[i] != 0xFF)
            return FD_E_MALFORMED;
        while (i < len && b[i] == 0xFF)
            i++;
        if (i >= len)
            return FD_E_TRUNCATED;
        const uint8_t m = b[i++];
        if (m == 0xD9) {
            *end = i;
            return FD_OK;
        }
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue; /* TEM and RSTn have no length */
        if (m == 0x00 || m == 0xD8)
            return FD_E_MALFORMED; /* a stuffed byte outside a scan, or a second SOI */
        if (len - i < 2)
            return FD_E_TRUNCATED;
        const size_t seg = be16(b + i);
        if (seg < 2)
            return FD_E_MALFORMED;
        if (seg > len - i)
            return FD_E_TRUNCATED;
        i += seg;
        if (m != 0xDA)
            continue;
        /* Entropy-coded data of the scan: skip to the 0xFF that starts the next marker. */
        for (;;) {
            const uint8_t *ff = memchr(b + i, 0xFF, len - i);
            if (!ff)
                return FD_E_TRUNCATED;
            size_t k = (size_t)(ff - b) + 1;
            while (k < len && b[k] == 0xFF)
                k++;
            if (k >= len)
                return FD_E_TRUNCATED;
            if (b[k] == 0x00 || (b[k] >= 0xD0 && b[k] <= 0xD7)) {
                i = k + 1;
                continue;
            }
            i = k - 1; /* the 0xFF just before the code: the marker loop reads it */
            break;
        }
    }
}

/* Finds where a PNG ends by walking its chunks (length, type, data, CRC) to the IEND chunk;
 * chunk data is never searched, so bytes that look like IEND inside a chunk do not count.
 * On FD_OK *end is the offset just past IEND's CRC. */
static int png_end(const uint8_t *b, size_t len, size_t *end)
{
    static const uint8_t iend_crc[4] = {0xae, 0x42, 0x60, 0x82};
    size_t i = 8; /* after the signature, which the probe checked */
    for (;;) {
        if (len - i < 12)
            return FD_E_TRUNCATED; /* not even a chunk's length, type and CRC */
        const uint32_t n = be32(b + i);
        if (n > 0x7fffffffu)
            return FD_E_MALFORMED; /* the PNG spec's limit */
        if (n > len - i - 12)
            return FD_E_TRUNCATED;
        if (memcmp(b + i + 4, "IEND", 4) == 0) {
            if (n != 0 || memcmp(b + i + 8, iend_crc, 4) != 0)
                return FD_E_MALFORMED;
            *end = i + 12;
            return FD_OK;
        }
        i += 12 + (size_t)n;
    }
}

int fd_check_image(const uint8_t *b, size_t len, size_t max_bytes, uint64_t max_pixels,
                   uint32_t *w, uint32_t *h, size_t *image_len)
{
    *w = *h = 0;
    *image_len = 0;
    if (len == 0)
        return FD_E_EMPTY;
    if (len > max_bytes)
        return FD_E_BYTES;
    eng_img_format_t fmt;
    if (eng_probe_image(b, len, &fmt, w, h) != 0)
        return FD_E_FORMAT;
    /* The header alone refuses a decompression bomb, before any walk through the file. */
    if (*w == 0 || *h == 0 || (uint64_t)*w * *h > max_pixels)
        return FD_E_PIXELS;
    /* The decoders would make a picture of a truncated file (the missing part grey), which
     * says nothing true about the student: the file must reach its end. Bytes after the end
     * are not part of the image (cameras and photo tools leave trailers there, and every
     * decoder ignores them). */
    size_t end = 0;
    int rc = fmt == ENG_IMG_PNG ? png_end(b, len, &end) : jpeg_end(b, len, &end);
    if (rc != FD_OK)
        return rc;
    *image_len = end;
    return FD_OK;
}

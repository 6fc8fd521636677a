/* SPDX-License-Identifier: MIT */
/* Image header probing: reads the width and height of a JPEG (from its SOFn segment) or a
 * PNG (from its IHDR chunk) without decoding anything, so that the analyzer can refuse a
 * decompression bomb before a decoder allocates a single row. Pure C, bounds-checked on
 * every read, safe on arbitrary bytes. */
#include "engagement.h"

#include <string.h>

static uint32_t be16(const uint8_t *p)
{
    return ((uint32_t)p[0] << 8) | (uint32_t)p[1];
}

static uint32_t be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) |
           (uint32_t)p[3];
}

static int probe_png(const uint8_t *b, size_t len, uint32_t *w, uint32_t *h)
{
    /* signature(8) + length(4) + "IHDR"(4) + width(4) + height(4) */
    if (len < 24 || be32(b + 8) != 13 || memcmp(b + 12, "IHDR", 4) != 0)
        return ENG_E_FORMAT;
    *w = be32(b + 16);
    *h = be32(b + 20);
    /* The PNG spec caps each dimension at 2^31-1 and forbids zero. */
    if (*w == 0 || *h == 0 || *w > 0x7fffffffu || *h > 0x7fffffffu)
        return ENG_E_FORMAT;
    return 0;
}

static int is_sof(uint8_t m)
{
    /* SOF0..SOF15 except DHT (C4), JPG (C8) and DAC (CC). */
    return m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
}

static int probe_jpeg(const uint8_t *b, size_t len, uint32_t *w, uint32_t *h)
{
    size_t i = 2; /* after SOI */
    for (;;) {
        /* Find the next marker: 0xFF followed by fill bytes (0xFF) and a marker code. */
        if (i >= len || b[i] != 0xFF)
            return ENG_E_FORMAT;
        while (i < len && b[i] == 0xFF)
            i++;
        if (i >= len)
            return ENG_E_FORMAT;
        uint8_t m = b[i++];
        if (m == 0x01 || (m >= 0xD0 && m <= 0xD7))
            continue; /* TEM and RSTn stand alone */
        if (m == 0xD8 || m == 0xD9 || m == 0xDA || m == 0x00)
            return ENG_E_FORMAT; /* SOI again, EOI or a scan before any frame header */
        if (i + 2 > len)
            return ENG_E_FORMAT;
        uint32_t seglen = be16(b + i);
        if (seglen < 2 || i + seglen > len)
            return ENG_E_FORMAT;
        if (is_sof(m)) {
            /* length(2) precision(1) height(2) width(2) */
            if (seglen < 7)
                return ENG_E_FORMAT;
            *h = be16(b + i + 3);
            *w = be16(b + i + 5);
            /* Height 0 means "defined by a later DNL marker": refuse rather than guess. */
            if (*w == 0 || *h == 0)
                return ENG_E_FORMAT;
            return 0;
        }
        i += seglen;
    }
}

int eng_probe_image(const uint8_t *bytes, size_t len, eng_img_format_t *fmt, uint32_t *w,
                    uint32_t *h)
{
    static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    eng_img_format_t f = ENG_IMG_UNKNOWN;
    uint32_t ww = 0, hh = 0;
    int rc;

    if (!bytes || len == 0)
        return ENG_E_EMPTY;
    if (len >= 8 && memcmp(bytes, png_sig, 8) == 0) {
        f = ENG_IMG_PNG;
        rc = probe_png(bytes, len, &ww, &hh);
    } else if (len >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
        f = ENG_IMG_JPEG;
        rc = probe_jpeg(bytes, len, &ww, &hh);
    } else {
        rc = ENG_E_FORMAT;
    }
    if (rc != 0)
        return rc;
    if (fmt)
        *fmt = f;
    if (w)
        *w = ww;
    if (h)
        *h = hh;
    return 0;
}

const char *eng_strerror(int code)
{
    switch (code) {
    case ENG_OK:
        return "success";
    case ENG_E_INVAL:
        return "invalid argument";
    case ENG_E_FORMAT:
        return "not a JPEG or PNG image, or a malformed header";
    case ENG_E_TOO_BIG_PIXELS:
        return "image dimensions exceed the limit";
    case ENG_E_DECODE:
        return "image data does not decode";
    case ENG_E_EMPTY:
        return "empty image";
    case ENG_E_TOO_BIG_BYTES:
        return "image is too many bytes";
    case ENG_E_MODEL:
        return "model missing or unloadable";
    case ENG_E_NOMEM:
        return "out of memory";
    case ENG_E_INTERNAL:
        return "internal analyzer error";
    default:
        return "unknown error";
    }
}

/* SPDX-License-Identifier: MIT */
/* The pure part of frame intake: the FRAME event's image field (base64, plain or URL-safe,
 * or a data: URL) to bytes, and the checks a frame passes before analysis (size, format,
 * header dimensions, a whole file). No I/O, no state: the frame handler and the frame fuzz
 * target share it. */
#ifndef BRK_FRAME_DECODE_H
#define BRK_FRAME_DECODE_H

#include <stddef.h>
#include <stdint.h>

enum {
    FD_OK = 0,
    FD_E_BASE64 = -1,    /* not base64 */
    FD_E_DATA_URL = -2,  /* a data: URL that is not data:image/...;base64, */
    FD_E_EMPTY = -3,     /* zero bytes */
    FD_E_BYTES = -4,     /* over the byte limit */
    FD_E_FORMAT = -5,    /* neither JPEG nor PNG */
    FD_E_TRUNCATED = -6, /* no JPEG end-of-image marker / PNG IEND chunk */
    FD_E_PIXELS = -7,    /* header dimensions over the pixel limit, or zero */
};

/* Decodes s (len bytes, not necessarily terminated). Returns FD_OK with *out (new buffer,
 * caller frees) and *n, or FD_E_DATA_URL, FD_E_BASE64, FD_E_BYTES (decoded size would pass
 * max_bytes). */
int fd_decode_field(const char *s, size_t len, size_t max_bytes, uint8_t **out, size_t *n);

/* Checks image bytes; on FD_OK sets *w and *h from the header. */
int fd_check_image(const uint8_t *b, size_t len, size_t max_bytes, uint64_t max_pixels,
                   uint32_t *w, uint32_t *h);

#endif

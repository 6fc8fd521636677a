/* SPDX-License-Identifier: MIT */
/* The pure part of frame intake: the FRAME event's image field (base64, plain or URL-safe,
 * or a data: URL) to bytes, and the checks a frame passes before analysis (size, format,
 * header dimensions, a whole file, and where the file ends). No I/O, no state: the frame
 * handler and the frame fuzz target share it. */
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
    FD_E_TRUNCATED = -6, /* the file stops before its JPEG end-of-image marker / PNG IEND */
    FD_E_PIXELS = -7,    /* header dimensions over the pixel limit, or zero */
    FD_E_MALFORMED = -8, /* JPEG marker segments or PNG chunks that do not parse */
};

/* Decodes s (len bytes, not necessarily terminated). Returns FD_OK with *out (new buffer,
 * caller frees) and *n, or FD_E_DATA_URL, FD_E_BASE64, FD_E_BYTES (decoded size would pass
 * max_bytes). */
int fd_decode_field(const char *s, size_t len, size_t max_bytes, uint8_t **out, size_t *n);

/* Checks image bytes (borrowed). On FD_OK sets *w and *h from the header and *image_len to
 * the length of the image proper: up to and including the JPEG end-of-image marker or the
 * PNG IEND chunk. Bytes after that (trailers that cameras and photo tools append) are
 * accepted and are not part of the image: hand only image_len bytes to the analyzer. The
 * JPEG is walked segment by segment and through its entropy-coded data, the PNG chunk by
 * chunk, in time linear in len. Returns FD_OK, FD_E_EMPTY, FD_E_BYTES, FD_E_FORMAT (no JPEG
 * or PNG header), FD_E_TRUNCATED, FD_E_MALFORMED or FD_E_PIXELS. Any thread. */
int fd_check_image(const uint8_t *b, size_t len, size_t max_bytes, uint64_t max_pixels,
                   uint32_t *w, uint32_t *h, size_t *image_len);

#endif

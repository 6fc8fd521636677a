/* SPDX-License-Identifier: MIT */
/* Unit tests of frame intake's whole-file check (handlers/frame_decode.h): a JPEG is whole
 * when its marker segments and entropy-coded data lead to an end-of-image marker, a PNG when
 * its chunks lead to IEND; bytes after the end are accepted and left out of the image; a
 * file cut anywhere before its end is refused, even where the cut leaves bytes that look
 * like an end (an EXIF thumbnail's EOI, IEND bytes inside a chunk). Synthetic files pin each
 * case; every real photo of ../shared/data/faces must pass, and cuts of real photos must
 * not. */
#include "frame_decode.h"
#include "test.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdint.h>
#include <time.h>

#define MAX_BYTES (4u * 1024u * 1024u)
#define MAX_PIXELS (8u * 1024u * 1024u)

typedef struct {
    uint8_t *b;
    size_t n, cap;
} buf_t;

static void put(buf_t *x, const void *p, size_t n)
{
    if (x->n + n > x->cap) {
        x->cap = (x->n + n) * 2 + 64;
        x->b = realloc(x->b, x->cap);
        ASSERT_NOT_NULL(x->b);
    }
    memcpy(x->b + x->n, p, n);
    x->n += n;
}

static void put_bytes(buf_t *x, int n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        uint8_t v = (uint8_t)va_arg(ap, int);
        put(x, &v, 1);
    }
    va_end(ap);
}

/* A marker segment: 0xFF, the marker, a big-endian length that counts itself, payload. */
static void put_seg(buf_t *x, uint8_t marker, const void *payload, size_t n)
{
    put_bytes(x, 4, 0xFF, marker, (int)((n + 2) >> 8), (int)((n + 2) & 0xFF));
    put(x, payload, n);
}

static void put_sof(buf_t *x, uint8_t marker, unsigned w, unsigned h)
{
    const uint8_t sof[] = {8, (uint8_t)(h >> 8), (uint8_t)h, (uint8_t)(w >> 8), (uint8_t)w, 1,
                           1, 0x11, 0};
    put_seg(x, marker, sof, sizeof sof);
}

static void put_sos(buf_t *x)
{
    const uint8_t sos[] = {1, 1, 0x00, 0, 63, 0};
    put_seg(x, 0xDA, sos, sizeof sos);
}

/* Entropy-coded data with everything a scan may hold: plain bytes, stuffed 0xFF (FF 00,
 * also after fill bytes), and restart markers (RST0..RST7). */
static void put_scan_data(buf_t *x)
{
    put_bytes(x, 22, 0x12, 0x34, 0xFF, 0x00, 0x56, 0xFF, 0xD0, 0x78, 0x9A, 0xFF, 0xFF, 0x00,
              0xBC, 0xFF, 0xD7, 0xDE, 0xFF, 0x00, 0xFF, 0x00, 0xF0, 0x0F);
}

/* A baseline JPEG: SOI, APP0, SOF0 (16x8), SOS, entropy data, EOI. Not decodable (no
 * tables), which the whole-file check does not need. */
static buf_t baseline_jpeg(void)
{
    buf_t x = {0};
    put_bytes(&x, 2, 0xFF, 0xD8);
    put_seg(&x, 0xE0, "JFIF\0\1\1\0\0\1\0\1\0\0", 14);
    put_sof(&x, 0xC0, 16, 8);
    put_sos(&x);
    put_scan_data(&x);
    put_bytes(&x, 2, 0xFF, 0xD9);
    return x;
}

/* A JPEG whose APP1 (EXIF) segment ends with a whole thumbnail JPEG, with its own SOI and
 * EOI: before the frame header, where cameras put it, or after it (also allowed; then a
 * file cut right after the thumbnail still has a readable header). Sets *thumb_end to the
 * offset just past the thumbnail's EOI. */
static buf_t exif_jpeg(int after_sof, size_t *thumb_end)
{
    buf_t thumb = baseline_jpeg();
    buf_t app1 = {0};
    put(&app1, "Exif\0\0MM\0*\0\0\0\x08", 14);
    put(&app1, thumb.b, thumb.n);
    buf_t x = {0};
    put_bytes(&x, 2, 0xFF, 0xD8);
    if (after_sof)
        put_sof(&x, 0xC0, 640, 480);
    put_seg(&x, 0xE1, app1.b, app1.n);
    *thumb_end = x.n;
    if (!after_sof)
        put_sof(&x, 0xC0, 640, 480);
    put_sos(&x);
    put_scan_data(&x);
    put_bytes(&x, 2, 0xFF, 0xD9);
    free(thumb.b);
    free(app1.b);
    return x;
}

/* A progressive JPEG: SOF2, then scans with table segments (DHT) and a DNL between them,
 * fill bytes before the final EOI. */
static buf_t progressive_jpeg(void)
{
    buf_t x = {0};
    put_bytes(&x, 2, 0xFF, 0xD8);
    put_sof(&x, 0xC2, 32, 32);
    for (int scan = 0; scan < 4; scan++) {
        const uint8_t dht[] = {0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05};
        put_seg(&x, 0xC4, dht, sizeof dht);
        put_sos(&x);
        put_scan_data(&x);
    }
    const uint8_t dnl[] = {0, 32};
    put_seg(&x, 0xDC, dnl, sizeof dnl);
    put_bytes(&x, 4, 0xFF, 0xFF, 0xFF, 0xD9);
    return x;
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1u)));
    }
    return c ^ 0xffffffffu;
}

static void put_chunk(buf_t *x, const char *type, const void *data, size_t n)
{
    put_bytes(x, 4, (int)(n >> 24), (int)((n >> 16) & 0xFF), (int)((n >> 8) & 0xFF),
              (int)(n & 0xFF));
    size_t at = x->n;
    put(x, type, 4);
    put(x, data, n);
    uint32_t c = crc32_of(x->b + at, n + 4);
    put_bytes(x, 4, (int)(c >> 24), (int)((c >> 16) & 0xFF), (int)((c >> 8) & 0xFF),
              (int)(c & 0xFF));
}

static const uint8_t IEND_CHUNK[12] = {0, 0, 0, 0, 'I', 'E', 'N', 'D', 0xae, 0x42, 0x60, 0x82};

/* A PNG: signature, IHDR (4x2), a tEXt chunk whose text holds a complete IEND chunk's 12
 * bytes (so a cut right after them looks whole to a tail check), IDAT, IEND. Sets
 * *fake_end just past the IEND bytes inside tEXt. */
static buf_t png_file(size_t *fake_end)
{
    buf_t x = {0};
    put(&x, "\x89PNG\r\n\x1a\n", 8);
    const uint8_t ihdr[13] = {0, 0, 0, 4, 0, 0, 0, 2, 8, 2, 0, 0, 0};
    put_chunk(&x, "IHDR", ihdr, sizeof ihdr);
    uint8_t text[32];
    memcpy(text, "Comment\0", 8);
    memcpy(text + 8, IEND_CHUNK, 12);
    memcpy(text + 20, "and more tex", 12);
    put_chunk(&x, "tEXt", text, sizeof text);
    *fake_end = x.n - 4 - 12; /* minus the CRC and the text after the IEND bytes */
    const uint8_t idat[] = {0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01};
    put_chunk(&x, "IDAT", idat, sizeof idat);
    put(&x, IEND_CHUNK, sizeof IEND_CHUNK);
    return x;
}

static int check(const uint8_t *b, size_t len, size_t *image_len)
{
    uint32_t w, h;
    return fd_check_image(b, len, MAX_BYTES, MAX_PIXELS, &w, &h, image_len);
}

/* Every proper prefix of b that still has a header is refused; returns how many cuts. */
static size_t assert_cuts_refused(const uint8_t *b, size_t end, size_t step)
{
    size_t cuts = 0;
    for (size_t cut = 1; cut < end; cut += step) {
        size_t il = 123;
        int rc = check(b, cut, &il);
        if (rc == FD_OK)
            TEST_FAIL("a file cut at %zu of %zu bytes was accepted", cut, end);
        ASSERT_EQ(il, 0);
        cuts++;
    }
    return cuts;
}

/* ---- JPEG ------------------------------------------------------------------------------ */

static void test_jpeg_whole_file_accepted(void)
{
    buf_t j = baseline_jpeg();
    size_t il = 0;
    ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
    ASSERT_EQ(il, j.n);
    buf_t p = progressive_jpeg();
    ASSERT_EQ(check(p.b, p.n, &il), FD_OK);
    ASSERT_EQ(il, p.n);
    free(j.b);
    free(p.b);
}

static void test_jpeg_trailing_bytes_accepted(void)
{
    buf_t j = baseline_jpeg();
    const size_t whole = j.n;
    size_t il = 0;
    /* The trailer a camera left on 12 of the test photos. */
    put_bytes(&j, 6, 0x86, 0x92, 0x85, 0x95, 0x00, 0x86);
    ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
    ASSERT_EQ(il, whole);
    /* A long trailer with 0xFF bytes and markers in it, and a second whole JPEG after the
     * first (as multi-picture files carry a preview): still the first file ends at its EOI. */
    j.n = whole;
    for (int i = 0; i < 5000; i++)
        put_bytes(&j, 1, (i * 37) & 0xFF);
    buf_t second = progressive_jpeg();
    put(&j, second.b, second.n);
    ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
    ASSERT_EQ(il, whole);
    free(second.b);
    free(j.b);
}

static void test_jpeg_cut_before_eoi_refused(void)
{
    buf_t j = baseline_jpeg();
    size_t il = 9;
    ASSERT_EQ(check(j.b, j.n - 2, &il), FD_E_TRUNCATED); /* no EOI at all */
    ASSERT_EQ(il, 0);
    ASSERT_EQ(check(j.b, j.n - 1, &il), FD_E_TRUNCATED); /* half an EOI */
    assert_cuts_refused(j.b, j.n, 1);
    buf_t p = progressive_jpeg();
    assert_cuts_refused(p.b, p.n, 1);
    /* The EOI replaced by zeros (the old tail check forgave a few zero bytes after an
     * EOI; these follow none). */
    memset(j.b + j.n - 2, 0, 2);
    ASSERT_EQ(check(j.b, j.n, &il), FD_E_TRUNCATED);
    free(j.b);
    free(p.b);
}

static void test_jpeg_exif_thumbnail_eoi_is_not_the_end(void)
{
    for (int after_sof = 1; after_sof >= 0; after_sof--) {
        size_t thumb_end = 0;
        buf_t j = exif_jpeg(after_sof, &thumb_end);
        size_t il = 0;
        /* The end is the main image's EOI, not the thumbnail's (which comes first). */
        ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
        ASSERT_EQ(il, j.n);
        /* The file stops right after the thumbnail's EOI: its last bytes are FF D9, but the
         * main image has no scan and no EOI. */
        ASSERT_EQ(j.b[thumb_end - 2], 0xFF);
        ASSERT_EQ(j.b[thumb_end - 1], 0xD9);
        ASSERT_EQ(check(j.b, thumb_end, &il),
                  after_sof ? FD_E_TRUNCATED : FD_E_FORMAT /* no frame header yet */);
        assert_cuts_refused(j.b, j.n, 1);
        /* With a trailer after the main EOI: the end is still the main image's. */
        const size_t whole = j.n;
        put_bytes(&j, 3, 0x01, 0x02, 0x03);
        ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
        ASSERT_EQ(il, whole);
        free(j.b);
    }
}

static void test_jpeg_eoi_bytes_in_a_segment_are_not_the_end(void)
{
    /* A comment holding FF D9, the file cut right after it. */
    buf_t j = {0};
    put_bytes(&j, 2, 0xFF, 0xD8);
    put_sof(&j, 0xC0, 8, 8);
    put_seg(&j, 0xFE, "hi\xff\xd9 there", 10);
    size_t cut = j.n - 6;
    put_sos(&j);
    put_scan_data(&j);
    put_bytes(&j, 2, 0xFF, 0xD9);
    size_t il = 0;
    ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
    ASSERT_EQ(check(j.b, cut, &il), FD_E_TRUNCATED);
    free(j.b);
}

static void test_jpeg_malformed_refused(void)
{
    size_t il = 0;
    /* A byte that is not a marker where a segment should start. */
    buf_t j = {0};
    put_bytes(&j, 2, 0xFF, 0xD8);
    put_sof(&j, 0xC0, 8, 8);
    put_bytes(&j, 1, 0x42);
    put_sos(&j);
    put_scan_data(&j);
    put_bytes(&j, 2, 0xFF, 0xD9);
    ASSERT_EQ(check(j.b, j.n, &il), FD_E_MALFORMED);
    /* A second SOI; a segment length below 2; a stuffed byte outside a scan. */
    const uint8_t bad[3][4] = {{0xFF, 0xD8, 0, 0}, {0xFF, 0xE2, 0x00, 0x01}, {0xFF, 0x00, 0, 0}};
    for (int k = 0; k < 3; k++) {
        buf_t x = {0};
        put_bytes(&x, 2, 0xFF, 0xD8);
        put_sof(&x, 0xC0, 8, 8);
        put(&x, bad[k], 4);
        put_sos(&x);
        put_scan_data(&x);
        put_bytes(&x, 2, 0xFF, 0xD9);
        ASSERT_EQ(check(x.b, x.n, &il), FD_E_MALFORMED);
        ASSERT_EQ(il, 0);
        free(x.b);
    }
    /* A segment whose length runs past the end of the file: cut short. */
    buf_t s = {0};
    put_bytes(&s, 2, 0xFF, 0xD8);
    put_sof(&s, 0xC0, 8, 8);
    put_bytes(&s, 6, 0xFF, 0xE1, 0x40, 0x00, 0xFF, 0xD9);
    ASSERT_EQ(check(s.b, s.n, &il), FD_E_TRUNCATED);
    free(s.b);
    free(j.b);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The walk is linear: a 4 MiB scan of nothing but stuffed bytes and restart markers (the
 * densest case), with and without an EOI, and a trailer of 0xFF bytes, take no time. */
static void test_jpeg_walk_is_linear(void)
{
    buf_t j = {0};
    put_bytes(&j, 2, 0xFF, 0xD8);
    put_sof(&j, 0xC0, 1024, 1024);
    put_sos(&j);
    while (j.n < MAX_BYTES - 8)
        put_bytes(&j, 4, 0xFF, 0x00, 0xFF, 0xD3);
    double t0 = now_s();
    size_t il = 0;
    ASSERT_EQ(check(j.b, j.n, &il), FD_E_TRUNCATED);
    const size_t whole = j.n + 2;
    put_bytes(&j, 2, 0xFF, 0xD9);
    ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
    ASSERT_EQ(il, whole);
    while (j.n < MAX_BYTES)
        put_bytes(&j, 1, 0xFF);
    ASSERT_EQ(check(j.b, j.n, &il), FD_OK);
    ASSERT_EQ(il, whole);
    double dt = now_s() - t0;
    printf("     three walks of 4 MiB: %.1f ms\n", dt * 1e3);
    ASSERT(dt < 2.0);
    free(j.b);
}

/* ---- PNG ------------------------------------------------------------------------------- */

static void test_png_trailing_bytes_accepted_cuts_refused(void)
{
    size_t fake_end = 0;
    buf_t p = png_file(&fake_end);
    const size_t whole = p.n;
    size_t il = 0;
    ASSERT_EQ(check(p.b, p.n, &il), FD_OK);
    ASSERT_EQ(il, whole);
    /* IEND's 12 bytes inside a tEXt chunk, the file cut right after them. */
    ASSERT(memcmp(p.b + fake_end - 12, IEND_CHUNK, 12) == 0);
    ASSERT_EQ(check(p.b, fake_end, &il), FD_E_TRUNCATED);
    assert_cuts_refused(p.b, p.n, 1);
    put(&p, "trailer after IEND\xff\xd9", 20);
    ASSERT_EQ(check(p.b, p.n, &il), FD_OK);
    ASSERT_EQ(il, whole);
    /* An IEND chunk with data is not an IEND the spec allows. */
    p.n = whole - 12;
    put_chunk(&p, "IEND", "x", 1);
    ASSERT_EQ(check(p.b, p.n, &il), FD_E_MALFORMED);
    /* A chunk length over 2^31-1. */
    p.n = 33; /* after the signature and IHDR */
    put_bytes(&p, 4, 0x80, 0, 0, 0);
    put(&p, "tEXt", 4);
    put(&p, IEND_CHUNK, 12);
    ASSERT_EQ(check(p.b, p.n, &il), FD_E_MALFORMED);
    free(p.b);
}

/* ---- the other checks still apply ------------------------------------------------------ */

static void test_limits_still_apply(void)
{
    buf_t j = baseline_jpeg();
    uint32_t w = 0, h = 0;
    size_t il = 0;
    ASSERT_EQ(fd_check_image(j.b, j.n, j.n - 1, MAX_PIXELS, &w, &h, &il), FD_E_BYTES);
    ASSERT_EQ(fd_check_image(j.b, j.n, MAX_BYTES, 16 * 8 - 1, &w, &h, &il), FD_E_PIXELS);
    ASSERT_EQ(il, 0);
    ASSERT_EQ(fd_check_image(j.b, j.n, MAX_BYTES, 16 * 8, &w, &h, &il), FD_OK);
    ASSERT_EQ(w, 16);
    ASSERT_EQ(h, 8);
    ASSERT_EQ(fd_check_image(j.b, 0, MAX_BYTES, MAX_PIXELS, &w, &h, &il), FD_E_EMPTY);
    ASSERT_EQ(fd_check_image((const uint8_t *)"GIF89a....", 10, MAX_BYTES, MAX_PIXELS, &w, &h,
                             &il),
              FD_E_FORMAT);
    free(j.b);
}

/* ---- real photos ----------------------------------------------------------------------- */

static void faces_dir(char *dir, size_t n)
{
    const char *tests = getenv("ROLLCALL_TEST_DATA");
    snprintf(dir, n, "%s/../../shared/data/faces", tests ? tests : "tests");
}

/* Every photo of the labeled set is a whole file, 12 of them with a 6-byte trailer after the
 * EOI; some of each kind, cut short, are refused. */
static void test_real_photos(void)
{
    char dir[1024];
    faces_dir(dir, sizeof dir);
    DIR *d = opendir(dir);
    if (!d)
        TEST_FAIL("cannot open the photo folder %s: the checkout is incomplete", dir);
    int photos = 0, trailers = 0;
    size_t cuts = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *dot = strrchr(e->d_name, '.');
        if (!dot || (strcmp(dot, ".jpg") != 0 && strcmp(dot, ".png") != 0))
            continue;
        size_t len = 0;
        uint8_t *b = test_photo(e->d_name, &len);
        size_t il = 0;
        int rc = check(b, len, &il);
        if (rc != FD_OK)
            TEST_FAIL("%s refused with %d", e->d_name, rc);
        ASSERT(il > 0 && il <= len);
        if (il < len) {
            trailers++;
            ASSERT_EQ(len - il, 6);
        }
        if (photos % 10 == 0 || il < len)
            cuts += assert_cuts_refused(b, il, len / 53 + 1);
        photos++;
        free(b);
    }
    closedir(d);
    printf("     %d photos whole, %d with a trailer; %zu cuts refused\n", photos, trailers,
           cuts);
    ASSERT(photos >= 150);
    ASSERT_EQ(trailers, 12);
}

static const test_case_t tests[] = {
    {"jpeg_whole_file_accepted", test_jpeg_whole_file_accepted},
    {"jpeg_trailing_bytes_accepted", test_jpeg_trailing_bytes_accepted},
    {"jpeg_cut_before_eoi_refused", test_jpeg_cut_before_eoi_refused},
    {"jpeg_exif_thumbnail_eoi_is_not_the_end", test_jpeg_exif_thumbnail_eoi_is_not_the_end},
    {"jpeg_eoi_bytes_in_a_segment_are_not_the_end",
     test_jpeg_eoi_bytes_in_a_segment_are_not_the_end},
    {"jpeg_malformed_refused", test_jpeg_malformed_refused},
    {"jpeg_walk_is_linear", test_jpeg_walk_is_linear},
    {"png_trailing_bytes_accepted_cuts_refused", test_png_trailing_bytes_accepted_cuts_refused},
    {"limits_still_apply", test_limits_still_apply},
    {"real_photos", test_real_photos},
};

TEST_MAIN(tests)

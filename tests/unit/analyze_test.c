/* SPDX-License-Identifier: MIT */
/* Robustness of the frame analyzer (engagement/): the header probe on hand-made JPEG and PNG
 * headers, refusal of huge dimensions before any decoding, and eng_analyze() on empty,
 * random, truncated and corrupted inputs, which must return 0 or a stable ENG_E_* code and
 * never crash. Images are built here (a stored-deflate PNG writer below); one real JPEG from
 * ../shared/data/faces is used for the corruption tests (missing, those tests fail), and is
 * re-encoded with libjpeg in other colour spaces (grey, CMYK) for the decoder's paths.
 * Sharing: two analyzers over one model set, on two threads at once, give the same answers
 * on every labeled photo as one analyzer over models of its own. */
#include "engagement.h"
#include "test.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jpeglib.h>
#include <pthread.h>

/* ---- a minimal PNG writer (grayscale, stored deflate blocks) --------------------------- */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends a chunk (length, type, data, CRC) at buf+*len. */
static void put_chunk(uint8_t *buf, size_t *len, const char *type, const uint8_t *data, uint32_t n)
{
    uint8_t *p = buf + *len;
    put32(p, n);
    memcpy(p + 4, type, 4);
    if (n)
        memcpy(p + 8, data, n);
    put32(p + 8 + n, crc32_of(p + 4, n + 4));
    *len += 12 + n;
}

/* A w x h 8-bit grayscale PNG with a diagonal gradient, declared as dw x dh in IHDR (pass
 * dw = w, dh = h for a valid image). Returns a malloc'ed buffer. */
static uint8_t *make_png(uint32_t w, uint32_t h, uint32_t dw, uint32_t dh, size_t *out_len)
{
    const size_t raw_len = (size_t)(w + 1) * h; /* filter byte per row */
    uint8_t *raw = malloc(raw_len);
    for (uint32_t y = 0; y < h; y++) {
        raw[(size_t)y * (w + 1)] = 0;
        for (uint32_t x = 0; x < w; x++)
            raw[(size_t)y * (w + 1) + 1 + x] = (uint8_t)((x + y) * 3);
    }
    /* zlib: header, stored blocks of at most 65535 bytes, Adler-32. */
    const size_t nblocks = raw_len / 65535 + 1;
    uint8_t *z = malloc(2 + raw_len + nblocks * 5 + 4);
    size_t zl = 0;
    z[zl++] = 0x78;
    z[zl++] = 0x01;
    size_t off = 0;
    do {
        size_t n = raw_len - off > 65535 ? 65535 : raw_len - off;
        z[zl++] = off + n == raw_len ? 1 : 0;
        z[zl++] = (uint8_t)n;
        z[zl++] = (uint8_t)(n >> 8);
        z[zl++] = (uint8_t)~n;
        z[zl++] = (uint8_t)(~n >> 8);
        memcpy(z + zl, raw + off, n);
        zl += n;
        off += n;
    } while (off < raw_len);
    uint32_t a = 1, b = 0;
    for (size_t i = 0; i < raw_len; i++) {
        a = (a + raw[i]) % 65521;
        b = (b + a) % 65521;
    }
    put32(z + zl, (b << 16) | a);
    zl += 4;

    uint8_t *png = malloc(8 + 25 + 12 + zl + 12);
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'};
    size_t len = 8;
    memcpy(png, sig, 8);
    uint8_t ihdr[13];
    put32(ihdr, dw);
    put32(ihdr + 4, dh);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 0;  /* grayscale */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    put_chunk(png, &len, "IHDR", ihdr, 13);
    put_chunk(png, &len, "IDAT", z, (uint32_t)zl);
    put_chunk(png, &len, "IEND", NULL, 0);
    free(raw);
    free(z);
    *out_len = len;
    return png;
}

/* A JPEG header only: SOI, APP0 (JFIF), DQT stub skipped, SOF0 with the given size. */
static size_t make_jpeg_header(uint8_t *b, uint16_t w, uint16_t h, uint8_t sof)
{
    size_t n = 0;
    b[n++] = 0xFF;
    b[n++] = 0xD8;
    /* APP0 JFIF, length 16 */
    static const uint8_t app0[] = {0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0,
                                   1,    1,    0,    0,    1,   0,   1,   0,   0};
    memcpy(b + n, app0, sizeof app0);
    n += sizeof app0;
    /* a fill byte before the marker is legal */
    b[n++] = 0xFF;
    b[n++] = 0xFF;
    b[n++] = sof;
    b[n++] = 0x00;
    b[n++] = 0x11; /* length 17: 3 components */
    b[n++] = 8;
    b[n++] = (uint8_t)(h >> 8);
    b[n++] = (uint8_t)h;
    b[n++] = (uint8_t)(w >> 8);
    b[n++] = (uint8_t)w;
    b[n++] = 3;
    for (int c = 0; c < 3; c++) {
        b[n++] = (uint8_t)(c + 1);
        b[n++] = 0x11;
        b[n++] = 0;
    }
    return n;
}

/* ---- fixtures -------------------------------------------------------------------------- */

/* One model set and one analyzer over it, shared by the tests that need models, made on
 * first use; main() frees them after the last test. */
static eng_models_t *models;
static eng_analyzer_t *shared;

static eng_models_t *shared_models(void)
{
    static int tried;
    if (!tried) {
        tried = 1;
        char err[512] = "";
        models = eng_models_load(NULL, err, sizeof err);
        if (!models)
            fprintf(stderr, "  models: %s (set ROLLCALL_MODEL_DIR; run "
                            "engagement/fetch_models.sh)\n", err);
    }
    return models;
}

static eng_analyzer_t *shared_analyzer(void)
{
    static int tried;
    if (!tried && shared_models()) {
        tried = 1;
        char err[512] = "";
        shared = eng_analyzer_new(models, NULL, err, sizeof err);
        if (!shared)
            fprintf(stderr, "  analyzer: %s\n", err);
    }
    return shared;
}

/* The real face photo the JPEG tests use; a test fails when it is missing. */
static uint8_t *face_photo(size_t *len)
{
    return test_photo("genki_file1231.jpg", len);
}

static int is_known_code(int rc)
{
    return rc == 0 || rc == ENG_E_FORMAT || rc == ENG_E_DECODE || rc == ENG_E_EMPTY ||
           rc == ENG_E_TOO_BIG_PIXELS || rc == ENG_E_TOO_BIG_BYTES;
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- probe ----------------------------------------------------------------------------- */

static void test_probe_png(void)
{
    size_t len;
    uint8_t *png = make_png(64, 48, 64, 48, &len);
    eng_img_format_t fmt;
    uint32_t w, h;
    ASSERT_EQ(eng_probe_image(png, len, &fmt, &w, &h), 0);
    ASSERT_EQ(fmt, ENG_IMG_PNG);
    ASSERT_EQ(w, 64);
    ASSERT_EQ(h, 48);
    /* Every truncation shorter than signature + IHDR is a format error, never a read past. */
    for (size_t n = 1; n < 24; n++)
        ASSERT_EQ(eng_probe_image(png, n, &fmt, &w, &h), ENG_E_FORMAT);
    free(png);
}

static void test_probe_jpeg(void)
{
    uint8_t b[64];
    static const uint8_t sofs[] = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC7, 0xC9, 0xCB, 0xCD, 0xCF};
    for (size_t i = 0; i < sizeof sofs; i++) {
        size_t n = make_jpeg_header(b, 640, 480, sofs[i]);
        eng_img_format_t fmt;
        uint32_t w = 0, h = 0;
        ASSERT_EQ(eng_probe_image(b, n, &fmt, &w, &h), 0);
        ASSERT_EQ(fmt, ENG_IMG_JPEG);
        ASSERT_EQ(w, 640);
        ASSERT_EQ(h, 480);
        for (size_t k = 1; k < n - 6; k++)
            ASSERT_EQ(eng_probe_image(b, k, &fmt, &w, &h), k == 0 ? ENG_E_EMPTY : ENG_E_FORMAT);
    }
    /* DHT (C4) is not a frame header; a scan (DA) before any SOF is malformed. */
    size_t n = make_jpeg_header(b, 640, 480, 0xC4);
    ASSERT_EQ(eng_probe_image(b, n, NULL, NULL, NULL), ENG_E_FORMAT);
    n = make_jpeg_header(b, 640, 0, 0xC0); /* height from a DNL marker: refused */
    ASSERT_EQ(eng_probe_image(b, n, NULL, NULL, NULL), ENG_E_FORMAT);
}

static void test_probe_garbage(void)
{
    uint8_t buf[4096];
    ASSERT_EQ(eng_probe_image(NULL, 0, NULL, NULL, NULL), ENG_E_EMPTY);
    ASSERT_EQ(eng_probe_image(buf, 0, NULL, NULL, NULL), ENG_E_EMPTY);
    srand(1234);
    for (int iter = 0; iter < 2000; iter++) {
        size_t n = (size_t)(rand() % (int)sizeof buf) + 1;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        if (iter % 3 == 0 && n >= 3) { /* a JPEG start followed by junk segments */
            buf[0] = 0xFF;
            buf[1] = 0xD8;
            buf[2] = 0xFF;
        }
        int rc = eng_probe_image(buf, n, NULL, NULL, NULL);
        ASSERT(rc == 0 || rc == ENG_E_FORMAT);
    }
    /* A segment length running past the end. */
    static const uint8_t bad[] = {0xFF, 0xD8, 0xFF, 0xE0, 0xFF, 0xF0, 0x00};
    ASSERT_EQ(eng_probe_image(bad, sizeof bad, NULL, NULL, NULL), ENG_E_FORMAT);
}

/* ---- analyzer -------------------------------------------------------------------------- */

static void test_new_rejects_bad_config(void)
{
    eng_config_t cfg;
    char err[256] = "";
    eng_models_t *m = shared_models();
    ASSERT_NOT_NULL(m);
    eng_config_default(&cfg);
    cfg.max_yaw_deg = -1;
    ASSERT_NULL(eng_analyzer_new(m, &cfg, err, sizeof err));
    ASSERT(strstr(err, "invalid") != NULL);
    eng_config_default(&cfg);
    err[0] = 0;
    ASSERT_NULL(eng_analyzer_new(NULL, &cfg, err, sizeof err));
    ASSERT(strstr(err, "no models") != NULL);
    cfg.model_dir = "/nonexistent/rollcall-models";
    err[0] = 0;
    ASSERT_NULL(eng_models_load(&cfg, err, sizeof err));
    ASSERT(strstr(err, "not found") != NULL);
    eng_analyzer_free(NULL);
    eng_models_unref(NULL);
    ASSERT(eng_models_ref(NULL) == NULL);
    ASSERT_STR_EQ(eng_strerror(ENG_E_TOO_BIG_PIXELS), "image dimensions exceed the limit");
    ASSERT_STR_EQ(eng_strerror(12345), "unknown error");
}

static void test_analyze_bad_args(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    eng_result_t r;
    uint8_t one = 0xFF;
    ASSERT_EQ(eng_analyze(a, NULL, 0, &r), ENG_E_EMPTY);
    ASSERT_EQ(eng_analyze(a, &one, 0, &r), ENG_E_EMPTY);
    ASSERT_EQ(eng_analyze(a, NULL, 10, &r), ENG_E_INVAL);
    ASSERT_EQ(eng_analyze(NULL, &one, 1, &r), ENG_E_INVAL);
    ASSERT_EQ(eng_analyze(a, &one, 1, NULL), ENG_E_INVAL);
    ASSERT_EQ(eng_analyze(a, &one, 1, &r), ENG_E_FORMAT);
    ASSERT_EQ(r.faces, 0);
    ASSERT_EQ(r.eyes, ENG_EYES_UNKNOWN);
}

static void test_analyze_valid_png_no_face(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    size_t len;
    uint8_t *png = make_png(160, 120, 160, 120, &len);
    eng_result_t r;
    int rc = eng_analyze(a, png, len, &r);
    free(png);
    ASSERT_EQ(rc, 0);
    ASSERT_EQ(r.width, 160);
    ASSERT_EQ(r.height, 120);
    ASSERT_EQ(r.faces, 0);
    ASSERT_EQ(r.looking, 0);
    ASSERT_EQ(r.has_pose, 0);
    ASSERT_EQ(r.eyes, ENG_EYES_UNKNOWN);
}

/* Headers that claim huge images, followed by nothing: refused by the header check (a
 * decoder would have answered ENG_E_DECODE), and fast. */
static void test_huge_dimensions_refused_before_decoding(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    eng_result_t r;
    size_t len;
    uint8_t *png = make_png(16, 16, 100000, 100000, &len); /* IHDR lies: 10 Gpx */
    double t0 = now_ms();
    ASSERT_EQ(eng_analyze(a, png, len, &r), ENG_E_TOO_BIG_PIXELS);
    free(png);
    png = make_png(16, 16, 5000, 16, &len); /* one side over max_side */
    ASSERT_EQ(eng_analyze(a, png, len, &r), ENG_E_TOO_BIG_PIXELS);
    free(png);
    png = make_png(16, 16, 0x7fffffffu, 1, &len);
    ASSERT_EQ(eng_analyze(a, png, len, &r), ENG_E_TOO_BIG_PIXELS);
    free(png);
    uint8_t b[64];
    size_t n = make_jpeg_header(b, 65535, 65535, 0xC2);
    ASSERT_EQ(eng_analyze(a, b, n, &r), ENG_E_TOO_BIG_PIXELS);
    /* Within max_side but over max_pixels. */
    eng_config_t cfg;
    eng_config_default(&cfg);
    n = make_jpeg_header(b, 4000, 4000, 0xC0);
    ASSERT_EQ(eng_analyze(a, b, n, &r), ENG_E_TOO_BIG_PIXELS);
    ASSERT(now_ms() - t0 < 100.0);
    /* A plausible size with no pixel data behind the header is a decode error instead. */
    n = make_jpeg_header(b, 640, 480, 0xC0);
    ASSERT_EQ(eng_analyze(a, b, n, &r), ENG_E_DECODE);
}

static void test_png_lying_or_broken(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    eng_result_t r;
    size_t len;
    /* IHDR says 64x64 but the data holds 64x16 rows: libpng fails. */
    uint8_t *png = make_png(64, 16, 64, 64, &len);
    ASSERT_EQ(eng_analyze(a, png, len, &r), ENG_E_DECODE);
    free(png);
    png = make_png(64, 64, 64, 64, &len);
    for (size_t cut = 33; cut < len; cut += 97) {
        int rc = eng_analyze(a, png, cut, &r);
        ASSERT(rc == ENG_E_DECODE || rc == 0);
    }
    /* Flip bytes inside IDAT: CRC or zlib errors, never a crash. */
    srand(99);
    for (int iter = 0; iter < 50; iter++) {
        uint8_t *c = malloc(len);
        memcpy(c, png, len);
        for (int k = 0; k < 4; k++)
            c[33 + (size_t)rand() % (len - 45)] ^= (uint8_t)(1 + rand() % 255);
        int rc = eng_analyze(a, c, len, &r);
        ASSERT(is_known_code(rc));
        free(c);
    }
    free(png);
}

static void test_random_bytes(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    eng_result_t r;
    uint8_t buf[2048];
    srand(7);
    for (int iter = 0; iter < 200; iter++) {
        size_t n = (size_t)(rand() % (int)sizeof buf) + 1;
        for (size_t i = 0; i < n; i++)
            buf[i] = (uint8_t)rand();
        if (iter % 2 == 0 && n > 40) /* a valid JPEG header, then garbage */
            make_jpeg_header(buf, 320, 240, 0xC0);
        int rc = eng_analyze(a, buf, n, &r);
        ASSERT(is_known_code(rc));
        if (iter % 2 == 1)
            ASSERT(rc != 0);
    }
}

static void test_too_many_bytes(void)
{
    eng_config_t cfg;
    eng_config_default(&cfg);
    cfg.max_bytes = 100;
    char err[256];
    /* Another analyzer over the same models, with settings of its own. */
    ASSERT_NOT_NULL(shared_models());
    eng_analyzer_t *a = eng_analyzer_new(models, &cfg, err, sizeof err);
    ASSERT_NOT_NULL(a);
    size_t len;
    uint8_t *png = make_png(64, 64, 64, 64, &len);
    eng_result_t r;
    ASSERT(len > 100);
    ASSERT_EQ(eng_analyze(a, png, len, &r), ENG_E_TOO_BIG_BYTES);
    free(png);
    eng_analyzer_free(a);
}

/* A real photo: truncated at many points and with random byte flips. libjpeg recovers from
 * some damage (a partial image is still an image), so 0 is allowed; crashes are not. */
static void test_corrupt_real_jpeg(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    size_t len = 0;
    uint8_t *jpg = face_photo(&len);
    eng_result_t r;
    ASSERT_EQ(eng_analyze(a, jpg, len, &r), 0);
    ASSERT_EQ(r.faces, 1);
    for (size_t cut = 1; cut < len; cut += len / 23 + 1) {
        int rc = eng_analyze(a, jpg, cut, &r);
        ASSERT(is_known_code(rc));
    }
    srand(2024);
    uint8_t *c = malloc(len);
    for (int iter = 0; iter < 60; iter++) {
        memcpy(c, jpg, len);
        for (int k = 0; k < 1 + iter % 8; k++)
            c[(size_t)rand() % len] = (uint8_t)rand();
        int rc = eng_analyze(a, c, len, &r);
        ASSERT(is_known_code(rc));
        ASSERT(r.faces >= 0);
    }
    free(c);
    free(jpg);
}

/* ---- JPEG colour spaces and damaged scans ------------------------------------------------ */

/* Decodes a JPEG to 8-bit samples in out_space (JCS_GRAYSCALE or JCS_RGB); returns malloc'd
 * pixels. Only for well-formed test inputs (libjpeg's default error handler exits). */
static uint8_t *jpeg_pixels(const uint8_t *jpg, size_t len, J_COLOR_SPACE out_space, int *w, int *h)
{
    struct jpeg_decompress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_decompress(&c);
    jpeg_mem_src(&c, jpg, (unsigned long)len);
    jpeg_read_header(&c, TRUE);
    c.out_color_space = out_space;
    jpeg_start_decompress(&c);
    *w = (int)c.output_width;
    *h = (int)c.output_height;
    const size_t stride = (size_t)c.output_width * (size_t)c.output_components;
    uint8_t *px = malloc(stride * c.output_height);
    while (c.output_scanline < c.output_height) {
        JSAMPROW row = px + stride * c.output_scanline;
        jpeg_read_scanlines(&c, &row, 1);
    }
    jpeg_finish_decompress(&c);
    jpeg_destroy_decompress(&c);
    return px;
}

/* scans: 0 baseline; 1 libjpeg's standard progression (10 scans); 2 a progression of one
 * coefficient per scan per component (190 scans), as a hostile sender could write. */
static uint8_t *jpeg_encode_scans(const uint8_t *px, int w, int h, int comps, J_COLOR_SPACE space, int scans,
                                  size_t *len)
{
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    unsigned char *buf = NULL;
    unsigned long n = 0;
    jpeg_mem_dest(&c, &buf, &n);
    c.image_width = (JDIMENSION)w;
    c.image_height = (JDIMENSION)h;
    c.input_components = comps;
    c.in_color_space = space;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    static jpeg_scan_info many[1 + 63 * 3];
    if (scans == 1)
        jpeg_simple_progression(&c);
    if (scans == 2) {
        int ns = 0;
        many[ns].comps_in_scan = c.num_components;
        for (int ci = 0; ci < c.num_components; ci++)
            many[ns].component_index[ci] = ci;
        many[ns].Ss = many[ns].Se = many[ns].Ah = many[ns].Al = 0;
        ns++;
        for (int ci = 0; ci < c.num_components; ci++)
            for (int k = 1; k < 64; k++, ns++) {
                many[ns].comps_in_scan = 1;
                many[ns].component_index[0] = ci;
                many[ns].Ss = many[ns].Se = k;
                many[ns].Ah = many[ns].Al = 0;
            }
        c.scan_info = many;
        c.num_scans = ns;
    }
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
        JSAMPROW row = (JSAMPROW)(px + (size_t)c.next_scanline * (size_t)w * (size_t)comps);
        jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    *len = n;
    return buf;
}

static uint8_t *jpeg_encode(const uint8_t *px, int w, int h, int comps, J_COLOR_SPACE space, size_t *len)
{
    return jpeg_encode_scans(px, w, h, comps, space, 0, len);
}

static void test_jpeg_color_spaces(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    size_t len = 0;
    uint8_t *jpg = face_photo(&len);
    int w = 0, h = 0;
    eng_result_t r;
    /* A greyscale JPEG of the same face: still one face. */
    uint8_t *grey = jpeg_pixels(jpg, len, JCS_GRAYSCALE, &w, &h);
    size_t glen = 0;
    uint8_t *gjpg = jpeg_encode(grey, w, h, 1, JCS_GRAYSCALE, &glen);
    ASSERT_EQ(eng_analyze(a, gjpg, glen, &r), 0);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    ASSERT_EQ(r.faces, 1);
    /* A CMYK JPEG (no webcam sends one, but it is a valid JPEG): decoded, not refused. */
    uint8_t *rgb = jpeg_pixels(jpg, len, JCS_RGB, &w, &h);
    uint8_t *cmyk = malloc((size_t)w * (size_t)h * 4);
    for (size_t i = 0; i < (size_t)w * (size_t)h; i++) {
        cmyk[4 * i] = (uint8_t)(255 - rgb[3 * i]);
        cmyk[4 * i + 1] = (uint8_t)(255 - rgb[3 * i + 1]);
        cmyk[4 * i + 2] = (uint8_t)(255 - rgb[3 * i + 2]);
        cmyk[4 * i + 3] = 0;
    }
    size_t clen = 0;
    uint8_t *cjpg = jpeg_encode(cmyk, w, h, 4, JCS_CMYK, &clen);
    ASSERT_EQ(eng_analyze(a, cjpg, clen, &r), 0);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    /* A scan cut short but closed with an end-of-image marker passes the whole-file check;
     * libjpeg would fill the rest with grey and carry on. Refused as undecodable instead. */
    uint8_t *cut = malloc(len);
    const size_t keep = len * 6 / 10;
    memcpy(cut, jpg, keep);
    cut[keep] = 0xFF;
    cut[keep + 1] = 0xD9;
    ASSERT_EQ(eng_analyze(a, cut, keep + 2, &r), ENG_E_DECODE);
    ASSERT_EQ(r.faces, 0);
    /* The intact file still decodes afterwards (the decoder recovered its state). */
    ASSERT_EQ(eng_analyze(a, jpg, len, &r), 0);
    ASSERT_EQ(r.faces, 1);
    free(cut);
    free(cjpg);
    free(cmyk);
    free(rgb);
    free(gjpg);
    free(grey);
    free(jpg);
}

/* Progressive JPEGs decode; one with far more scans than any encoder writes (each scan is a
 * pass over the image: a cheap way to make a decoder work for seconds) is refused. */
static void test_jpeg_progressive_scan_limit(void)
{
    eng_analyzer_t *a = shared_analyzer();
    ASSERT_NOT_NULL(a);
    size_t len = 0;
    uint8_t *jpg = face_photo(&len);
    int w = 0, h = 0;
    uint8_t *rgb = jpeg_pixels(jpg, len, JCS_RGB, &w, &h);
    eng_result_t r;
    size_t plen = 0, mlen = 0;
    uint8_t *prog = jpeg_encode_scans(rgb, w, h, 3, JCS_RGB, 1, &plen);
    ASSERT_EQ(eng_analyze(a, prog, plen, &r), 0);
    ASSERT_EQ(r.faces, 1);
    uint8_t *many = jpeg_encode_scans(rgb, w, h, 3, JCS_RGB, 2, &mlen);
    ASSERT_EQ(eng_analyze(a, many, mlen, &r), ENG_E_DECODE);
    ASSERT_EQ(r.faces, 0);
    free(many);
    free(prog);
    free(rgb);
    free(jpg);
}

/* ---- sharing the models ----------------------------------------------------------------- */

typedef struct {
    char name[128];
    uint8_t *bytes;
    size_t len;
} photo_t;

typedef struct {
    eng_analyzer_t *a;
    const photo_t *photos;
    size_t n;
    int reverse;       /* go through the photos last to first */
    int *rc;           /* per photo */
    eng_result_t *res; /* per photo */
} run_t;

static void *run_photos(void *arg)
{
    run_t *r = arg;
    for (size_t k = 0; k < r->n; k++) {
        size_t i = r->reverse ? r->n - 1 - k : k;
        r->rc[i] = eng_analyze(r->a, r->photos[i].bytes, r->photos[i].len, &r->res[i]);
    }
    return NULL;
}

/* The photos of labels.csv (first column). Returns how many were read (0: none). */
static size_t read_labeled_photos(photo_t *out, size_t max)
{
    char path[1024], line[4096];
    const char *tests = getenv("ROLLCALL_TEST_DATA");
    snprintf(path, sizeof path, "%s/../../shared/data/faces/labels.csv", tests ? tests : "tests");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = 0;
    if (fgets(line, sizeof line, f)) { /* header */
        while (n < max && fgets(line, sizeof line, f)) {
            line[strcspn(line, ",\r\n")] = 0;
            if (!line[0] || strlen(line) >= sizeof out[n].name)
                continue;
            snprintf(out[n].name, sizeof out[n].name, "%s", line);
            out[n].bytes = test_read_photo_at(line, &out[n].len, NULL, 0);
            if (out[n].bytes)
                n++;
        }
    }
    fclose(f);
    return n;
}

static int same_result(const eng_result_t *x, const eng_result_t *y)
{
    /* Bit for bit, doubles included: the same computation on the same inputs. */
    return x->faces == y->faces && x->looking == y->looking && x->eyes == y->eyes &&
           x->has_pose == y->has_pose && x->width == y->width && x->height == y->height &&
           memcmp(&x->yaw_deg, &y->yaw_deg, sizeof x->yaw_deg) == 0 &&
           memcmp(&x->pitch_deg, &y->pitch_deg, sizeof x->pitch_deg) == 0 &&
           memcmp(&x->ear, &y->ear, sizeof x->ear) == 0;
}

/* Two analyzers over one model set, each on its own thread, at the same time, go through the
 * labeled photos in opposite orders; every answer must equal that of one analyzer over a
 * model set of its own, run alone. Anything the analyzers wrongly shared (scratch buffers,
 * a detector's image pyramid, network activations) would mix two photos' state and change
 * an answer; and the results must not depend on which photos an analyzer saw before. */
static void test_shared_models_two_threads(void)
{
    enum { MAX_PHOTOS = 512 };
    static photo_t photos[MAX_PHOTOS];
    static int rc_ref[MAX_PHOTOS], rc_a[MAX_PHOTOS], rc_b[MAX_PHOTOS];
    static eng_result_t ref[MAX_PHOTOS], res_a[MAX_PHOTOS], res_b[MAX_PHOTOS];
    size_t n = read_labeled_photos(photos, MAX_PHOTOS);
    if (n < 100) {
        for (size_t i = 0; i < n; i++)
            free(photos[i].bytes);
        TEST_FAIL("only %zu labeled photos in ../shared/data/faces: the test data is incomplete",
                  n);
    }
    char err[512] = "";

    /* The reference: one analyzer, models of its own, one thread. */
    eng_models_t *own = eng_models_load(NULL, err, sizeof err);
    ASSERT_NOT_NULL(own);
    eng_analyzer_t *alone = eng_analyzer_new(own, NULL, err, sizeof err);
    eng_models_unref(own); /* the analyzer keeps them alive */
    ASSERT_NOT_NULL(alone);
    run_t r0 = {alone, photos, n, 0, rc_ref, ref};
    run_photos(&r0);
    eng_analyzer_free(alone);

    eng_models_t *m = shared_models();
    ASSERT_NOT_NULL(m);
    eng_analyzer_t *a = eng_analyzer_new(m, NULL, err, sizeof err);
    eng_analyzer_t *b = eng_analyzer_new(m, NULL, err, sizeof err);
    ASSERT_NOT_NULL(a);
    ASSERT_NOT_NULL(b);
    run_t ra = {a, photos, n, 0, rc_a, res_a}, rb = {b, photos, n, 1, rc_b, res_b};
    pthread_t ta, tb;
    ASSERT_EQ(pthread_create(&ta, NULL, run_photos, &ra), 0);
    ASSERT_EQ(pthread_create(&tb, NULL, run_photos, &rb), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    eng_analyzer_free(a);
    eng_analyzer_free(b);

    size_t faces = 0, mismatches = 0;
    for (size_t i = 0; i < n; i++) {
        if (rc_ref[i] == 0 && ref[i].faces > 0)
            faces++;
        int ok = rc_a[i] == rc_ref[i] && rc_b[i] == rc_ref[i] &&
                 (rc_ref[i] != 0 || (same_result(&res_a[i], &ref[i]) &&
                                     same_result(&res_b[i], &ref[i])));
        if (!ok) {
            mismatches++;
            fprintf(stderr,
                    "  %s: alone rc=%d faces=%d looking=%d yaw=%.17g ear=%.17g | "
                    "thread A rc=%d faces=%d looking=%d yaw=%.17g ear=%.17g | "
                    "thread B rc=%d faces=%d looking=%d yaw=%.17g ear=%.17g\n",
                    photos[i].name, rc_ref[i], ref[i].faces, ref[i].looking, ref[i].yaw_deg,
                    ref[i].ear, rc_a[i], res_a[i].faces, res_a[i].looking, res_a[i].yaw_deg,
                    res_a[i].ear, rc_b[i], res_b[i].faces, res_b[i].looking, res_b[i].yaw_deg,
                    res_b[i].ear);
        }
    }
    for (size_t i = 0; i < n; i++)
        free(photos[i].bytes);
    printf("     %zu photos, %zu with faces, %zu different answers\n", n, faces, mismatches);
    ASSERT(faces > n / 2); /* the photos did exercise the whole pipeline */
    ASSERT_EQ(mismatches, 0);
}

static const test_case_t tests[] = {
    {"probe_png", test_probe_png},
    {"probe_jpeg", test_probe_jpeg},
    {"probe_garbage", test_probe_garbage},
    {"new_rejects_bad_config", test_new_rejects_bad_config},
    {"analyze_bad_args", test_analyze_bad_args},
    {"analyze_valid_png_no_face", test_analyze_valid_png_no_face},
    {"huge_dimensions_refused_before_decoding", test_huge_dimensions_refused_before_decoding},
    {"png_lying_or_broken", test_png_lying_or_broken},
    {"random_bytes", test_random_bytes},
    {"too_many_bytes", test_too_many_bytes},
    {"corrupt_real_jpeg", test_corrupt_real_jpeg},
    {"jpeg_color_spaces", test_jpeg_color_spaces},
    {"jpeg_progressive_scan_limit", test_jpeg_progressive_scan_limit},
    {"shared_models_two_threads", test_shared_models_two_threads},
};

int main(void)
{
    crc_init();
    int rc = test_run_all(tests, sizeof(tests) / sizeof(tests[0]));
    eng_analyzer_free(shared);
    eng_models_unref(models);
    return rc;
}

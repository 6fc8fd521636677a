/* SPDX-License-Identifier: MIT */
/* A stand-in for the frame analyzer's C API (engagement.h) for the ThreadSanitizer build of
 * pool_test: OpenCV and dlib are not instrumented for TSan, and compiling the C++ island
 * under it takes long. The pool (engagement/pool.c, the code under test) links this instead;
 * the header probe (engagement/probe.c) is the real one. It behaves as the analyzer does
 * where the pool can tell: the models are loaded once (slowly) and read by every analyzer,
 * each analyzer is created and used by one worker thread, analysis takes a few
 * milliseconds, bad input gets the same ENG_E_* codes, and the answer for an image is the
 * one the test registered for its bytes. */
#ifndef RC_FAKE_ANALYZER_H
#define RC_FAKE_ANALYZER_H

#include "engagement.h"

/* Registers the result eng_analyze() gives for exactly these bytes (borrowed: they must
 * outlive every analyzer). Call before any analyzer exists; not thread-safe. An image that
 * probes well but was not registered gets ENG_E_DECODE. */
void fake_analyzer_answer(const uint8_t *bytes, size_t len, const eng_result_t *r);

/* How many times eng_models_load() ran so far (any thread). */
unsigned fake_analyzer_model_loads(void);

#endif

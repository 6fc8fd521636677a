/* SPDX-License-Identifier: MIT */
/* The analyzer pool's life cycle: started with the handlers (after checking the models are
 * there), stopped on drain without blocking, freed after the loop; its counters. */
#include "frame_int.h"

#include "brk.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

int hdl__frames_start(hdl_t *h)
{
    const cfg_t *cfg = h->cfg;
    /* Fail fast when the models were never fetched: the workers load them later. */
    char path[1200];
    snprintf(path, sizeof path, "%s/face_detection_front_128x128_barracuda.onnx",
             cfg->model_dir);
    if (access(path, R_OK) != 0) {
        fprintf(stderr,
                "rollcall: analyzer models not found in %s (ROLLCALL_MODEL_DIR); fetch them "
                "with engagement/fetch_models.sh %s\n",
                cfg->model_dir, cfg->model_dir);
        LOG(ERROR, 0, "analyzer models missing", "dir=\"%s\"", cfg->model_dir);
        return -1;
    }
    fp_config_t pc;
    memset(&pc, 0, sizeof pc);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    pc.threads = cfg->analyzer_threads > 0 ? (unsigned)cfg->analyzer_threads
                                           : (unsigned)(cores > 0 ? cores : 1);
    pc.max_queued = (size_t)cfg->analyzer_queue;
    /* A frame older than the expected interval is worth less than the next one. */
    pc.max_wait_ms = (int64_t)(cfg->frame_interval * 1000.0);
    if (pc.max_wait_ms < 1000)
        pc.max_wait_ms = 1000;
    pc.preload = cfg->analyzer_preload;
    eng_config_default(&pc.eng);
    pc.eng.model_dir = cfg->model_dir;
    pc.eng.max_yaw_deg = cfg->max_yaw;
    pc.eng.max_pitch_deg = cfg->max_pitch;
    pc.eng.max_bytes = (size_t)cfg->frame_max_bytes;
    pc.eng.max_pixels = (uint32_t)cfg->frame_max_pixels;
    if (pc.eng.max_side < 16384)
        pc.eng.max_side = 16384; /* the pixel limit is the one that matters */
    char err[256];
    if (fp_new(h->loop, &pc, hdl__frame_analyzed, h, &h->fp, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall: cannot start the analyzer: %s\n", err);
        return -1;
    }
    hdl__eng_updates_start(h);
    LOG(INFO, 0, "analyzer started", "threads=%u queue=%zu preload=%d models=\"%s\"", pc.threads,
        pc.max_queued, pc.preload, cfg->model_dir);
    return 0;
}

void hdl__frames_stop(hdl_t *h)
{
    if (h->fp)
        fp_shutdown(h->fp);
    hdl__eng_updates_stop(h);
}

void hdl__frames_free(hdl_t *h)
{
    fp_free(h->fp);
    h->fp = NULL;
    hdl__eng_updates_free(h);
}

int hdl_ready(const hdl_t *h)
{
    return h && h->fp && fp_ready(h->fp);
}

void hdl_sync_stats(hdl_t *h)
{
    if (!h || !h->fp)
        return;
    fp_stats_t st;
    fp_get_stats(h->fp, &st);
    h->stats->frames_analyzed = st.analyzed;
    h->stats->frames_failed = st.failed;
    h->stats->frames_skipped = st.skipped;
    h->stats->frames_replaced = st.replaced;
    h->stats->frames_stale = st.stale;
    h->stats->frames_queued = st.queued;
    h->stats->frames_busy = st.busy;
    h->stats->analysis_seconds_total = st.analyze_ms_total / 1000.0;
}

/* SPDX-License-Identifier: MIT */
/* Internals shared by the live-state engines: the operation table every engine fills in.
 * state.c dispatches the public st_* calls through it, so handlers never know which engine
 * runs. Each engine's own struct starts with an st_t. */
#ifndef BRK_STATE_INT_H
#define BRK_STATE_INT_H

#include "state.h"

#include <string.h>

typedef struct st_ops {
    void (*free)(st_t *st);
    void (*session_open)(st_t *st, const char *class_id, const char *teacher_id, int64_t now_ms,
                         st_session_cb cb, void *ud);
    void (*mark)(st_t *st, const char *class_id, const char *student_id, const char *name,
                 st_mark_t mark, const char *by, int64_t now_ms, st_session_cb cb, void *ud);
    void (*presence)(st_t *st, const char *class_id, const char *student_id, const char *name,
                     int delta, int64_t now_ms, st_presence_cb cb, void *ud);
    void (*view)(st_t *st, const char *class_id, int64_t now_ms, st_view_cb cb, void *ud);
    void (*session_get)(st_t *st, const char *class_id, int64_t now_ms, st_session_cb cb,
                        void *ud);
    void (*finalized)(st_t *st, const char *class_id, const char *session_id,
                      int64_t ended_at_ms, st_session_cb cb, void *ud);
    void (*engage)(st_t *st, const char *class_id, const char *student_id, const char *name,
                   const st_frame_t *frame, int64_t now_ms, st_student_cb cb,
                   void *ud);
    void (*claim)(st_t *st, const char *class_id, const char *session_id, st_claim_cb cb,
                  void *ud);
} st_ops_t;

struct st {
    const st_ops_t *ops;
};

/* Copies src into dst (size bytes), truncating; dst is always terminated. */
static inline void st__copy_str(char *dst, size_t size, const char *src)
{
    size_t len = src ? strnlen(src, size - 1) : 0;
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

/* Ids are keys: truncating one could merge two students or classes, so an empty or too long
 * id is refused instead. */
static inline int st__valid_id(const char *id)
{
    return id && id[0] != '\0' && strnlen(id, ST_ID) < ST_ID;
}

static inline int st__valid_frame(const st_frame_t *f)
{
    return f && f->at_ms > 0 && f->cap_s >= 0.0 && f->cap_s <= 86400.0 && f->viol >= ST_VIOL_NONE &&
           f->viol <= ST_VIOL_LOOKING_AWAY;
}

/* The credit st_engage gives frame f when the student's newest earlier frame arrived at
 * last_ms (0: none). The Redis engine's script applies the same rule. */
static inline double st__frame_credit(const st_frame_t *f, int64_t last_ms)
{
    if (!f->engaged || last_ms <= 0 || f->at_ms <= last_ms)
        return 0.0;
    double gap = (double)(f->at_ms - last_ms) / 1000.0;
    return gap < f->cap_s ? gap : f->cap_s;
}

#endif

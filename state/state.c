/* SPDX-License-Identifier: MIT */
/* The public live-state calls, dispatched to the engine that created the st_t. */
#include "state.h"

#include "state_int.h"

void st_free(st_t *st)
{
    if (st)
        st->ops->free(st);
}

void st_session_open(st_t *st, const char *class_id, const char *teacher_id, int64_t now_ms,
                     st_session_cb cb, void *ud)
{
    st->ops->session_open(st, class_id, teacher_id, now_ms, cb, ud);
}

void st_mark(st_t *st, const char *class_id, const char *student_id, const char *name,
             st_mark_t mark, const char *by, int64_t now_ms, st_session_cb cb, void *ud)
{
    st->ops->mark(st, class_id, student_id, name, mark, by, now_ms, cb, ud);
}

void st_presence(st_t *st, const char *class_id, const char *student_id, const char *name,
                 int delta, int64_t now_ms, st_presence_cb cb, void *ud)
{
    st->ops->presence(st, class_id, student_id, name, delta, now_ms, cb, ud);
}

void st_view(st_t *st, const char *class_id, int64_t now_ms, st_view_cb cb, void *ud)
{
    st->ops->view(st, class_id, now_ms, cb, ud);
}

void st_session_get(st_t *st, const char *class_id, int64_t now_ms, st_session_cb cb, void *ud)
{
    st->ops->session_get(st, class_id, now_ms, cb, ud);
}

void st_finalized(st_t *st, const char *class_id, const char *session_id, int64_t ended_at_ms,
                  st_session_cb cb, void *ud)
{
    st->ops->finalized(st, class_id, session_id, ended_at_ms, cb, ud);
}

void st_engage(st_t *st, const char *class_id, const char *student_id, const char *name,
               const st_frame_t *frame, int64_t now_ms, st_student_cb cb, void *ud)
{
    st->ops->engage(st, class_id, student_id, name, frame, now_ms, cb, ud);
}

void st_claim(st_t *st, const char *class_id, const char *session_id, st_claim_cb cb, void *ud)
{
    st->ops->claim(st, class_id, session_id, cb, ud);
}

/* SPDX-License-Identifier: MIT */
/* The live-state API: today's session, manual marks, presence and (later) engagement of
 * each class. Handlers talk only to this interface; the engine behind it is in-process
 * memory (memory.c, the default) or Redis (redis/st_redis.c). Every operation completes
 * through a callback because a remote engine answers later; the memory engine calls it
 * before returning. Loop thread only. Views passed to callbacks are borrowed: valid only
 * during the callback, copy what you keep. */
#ifndef BRK_STATE_H
#define BRK_STATE_H

#include <stddef.h>
#include <stdint.h>

#define ST_ID 65
#define ST_NAME 129

typedef enum { ST_MARK_NONE = 0, ST_MARK_PRESENT, ST_MARK_ABSENT, ST_MARK_LATE } st_mark_t;
typedef enum { ST_SESSION_NONE = 0, ST_SESSION_ACTIVE, ST_SESSION_FINALIZED } st_session_state_t;
/* Proctoring signals raised by frame analysis (one per sustained episode). */
typedef enum {
    ST_VIOL_NONE = 0,
    ST_VIOL_NO_FACE,
    ST_VIOL_MULTI_FACE,
    ST_VIOL_LOOKING_AWAY,
} st_violation_t;

typedef struct st_session {
    char class_id[ST_ID];
    char date[11]; /* UTC day the session belongs to, YYYY-MM-DD */
    st_session_state_t state;
    char session_id[ST_ID]; /* "" when state is NONE */
    char teacher_id[ST_ID]; /* who opened it */
    int64_t started_at_ms;
    int64_t ended_at_ms; /* 0 until finalized */
} st_session_t;

typedef struct st_student {
    char student_id[ST_ID];
    char name[ST_NAME];
    st_mark_t mark; /* manual mark, ST_MARK_NONE when none */
    char marked_by[ST_ID];
    int64_t marked_at_ms;
    int online; /* live connections of this student to the class */
    int64_t first_seen_ms;
    double engaged_seconds; /* engagement credit accrued by frame analysis */
    int64_t frames_analyzed;
    int64_t last_frame_ms; /* receive time of the newest analyzed frame, 0 when none */
    int32_t violations_no_face;
    int32_t violations_multi_face;
    int32_t violations_looking_away;
} st_student_t;

/* Everything known about a class today. students are sorted by student_id. */
typedef struct st_view {
    st_session_t session;
    size_t n;
    const st_student_t *students;
} st_view_t;

typedef struct st st_t;

/* err is 0 or a BRK_E* code:
 *  st_session_open: BRK_ESTATE when today's session is already finalized. created is 1
 *      when this call opened it, 0 when it was already active.
 *  st_mark: BRK_ESTATE when today's session is finalized; opens the session when none is
 *      active (created = 1 then).
 *  st_presence: changed is 1 when the student went online (first connection) or offline
 *      (last one closed); online_students is the class's online student count after.
 *  st_view: always 0 for the memory engine.
 *  st_finalized: BRK_ESTATE when the session is not the active one.
 *  st_engage: BRK_ESTATE when no session is active (the student is then untouched).
 * A remote engine may also answer BRK_ECLOSED (its backend is unreachable: nothing was
 * changed, or the change could not be confirmed) or BRK_EIO (the backend refused). The
 * Redis engine sets created = 1 in st_finalized when this very call froze the session (the
 * one winner among concurrent callers); the memory engine always passes 0 there. */
typedef void (*st_session_cb)(int err, const st_session_t *s, int created, void *ud);
typedef void (*st_presence_cb)(int err, int changed, int online_students, void *ud);
typedef void (*st_view_cb)(int err, const st_view_t *view, void *ud);
/* The session and one student's totals after an update (both NULL on error). */
typedef void (*st_student_cb)(int err, const st_session_t *s, const st_student_t *student,
                              void *ud);
/* first is 1 for exactly one claim of a (class, session) among every instance sharing the
 * engine (always 1 for the memory engine, which has only one instance). */
typedef void (*st_claim_cb)(int err, int first, void *ud);

/* The in-process engine. max_classes bounds memory (a new class past it gets BRK_ENOMEM). */
st_t *st_memory_new(size_t max_classes);
void st_free(st_t *st);

void st_session_open(st_t *st, const char *class_id, const char *teacher_id, int64_t now_ms,
                     st_session_cb cb, void *ud);
void st_mark(st_t *st, const char *class_id, const char *student_id, const char *name,
             st_mark_t mark, const char *by, int64_t now_ms, st_session_cb cb, void *ud);
/* delta is +1 when a student connection joins the class, -1 when it leaves. name may be
 * "" (keeps a known name). */
void st_presence(st_t *st, const char *class_id, const char *student_id, const char *name,
                 int delta, int64_t now_ms, st_presence_cb cb, void *ud);
void st_view(st_t *st, const char *class_id, int64_t now_ms, st_view_cb cb, void *ud);
/* Today's session of class_id alone, as st_view would show it (err 0, created 0): a cheap
 * check for handlers that need no student. */
void st_session_get(st_t *st, const char *class_id, int64_t now_ms, st_session_cb cb, void *ud);
/* Marks session_id of class_id finalized at ended_at_ms (after the journal stored it). */
void st_finalized(st_t *st, const char *class_id, const char *session_id, int64_t ended_at_ms,
                  st_session_cb cb, void *ud);

/* One analyzed frame of a student, for st_engage. */
typedef struct {
    int engaged;         /* the frame showed the student engaged */
    int64_t at_ms;       /* when the broker received the frame (> 0) */
    double cap_s;        /* the most one gap between frames may earn (>= 0) */
    st_violation_t viol; /* a proctoring violation raised with this frame, or ST_VIOL_NONE */
} st_frame_t;

/* Counts one analyzed frame of a student in today's active session: one frame, viol when it
 * is not ST_VIOL_NONE, and engagement credit. Credit is per student, not per connection: an
 * engaged frame earns the time since the student's newest earlier frame (from any of its
 * connections, on any instance sharing the engine), at most cap_s; the first frame and a
 * frame older than the newest earn nothing. Two tabs streaming at once thus earn the wall
 * time once, and a reconnected student's first frame earns its gap. last_frame_ms becomes
 * the newest at_ms. Adds the student (name may be "") when unknown. */
void st_engage(st_t *st, const char *class_id, const char *student_id, const char *name,
               const st_frame_t *frame, int64_t now_ms, st_student_cb cb, void *ud);

/* Claims the announcement of a finalized session: the DONE that gets first = 1 broadcasts
 * ATTENDANCE_FINALIZED, every other one only replies (already_finalized). */
void st_claim(st_t *st, const char *class_id, const char *session_id, st_claim_cb cb, void *ud);

const char *st_mark_name(st_mark_t m);
const char *st_violation_name(st_violation_t v); /* "no_face", "multi_face", "looking_away" */ /* "present", "absent", "late", "unmarked" */
int st_parse_mark(const char *s, st_mark_t *out); /* present|absent|late */

#endif

/* SPDX-License-Identifier: MIT */
/* Inside the handlers: the hdl_t object, the request that outlives a handler call, and the
 * helpers every handler file shares. Only the handlers' own .c files include this. */
#ifndef BRK_HDL_INT_H
#define BRK_HDL_INT_H

#include "hdl.h"

#include "expiry.h"

#include <jansson.h>
#include <stdint.h>
#include <uv.h>

struct fp;
typedef struct eng_updates eng_updates_t;

struct hdl {
    uv_loop_t *loop;
    const cfg_t *cfg;
    st_t *st;
    jr_t *jr;
    auth_verifier_t *const *auth; /* *auth is the current verifier */
    const hdl_host_t *host;
    hdl_stats_t *stats;
    const int *draining;
    int clustered;
    const struct roster_reg *rosters; /* NULL: no class has a roster */

    /* frames: the analyzer pool (frame_pool.c) and the coalesced engagement updates
     * (frame_updates.c) */
    struct fp *fp;
    eng_updates_t *upd;

    /* token lifetimes (token.c): every connection by its next token deadline, one timer
     * armed at the earliest */
    exp_heap_t tok_heap;
    uv_timer_t tok_timer;
    int tok_timer_on;     /* initialized and not yet closed */
    int64_t tok_armed_ms; /* the deadline the timer is armed for, INT64_MIN when idle */
};

/* --- the host, in short ------------------------------------------------------------------ */

static inline void hx_reply(hdl_t *h, peer_t *p, out_type_t t, json_t *data, const json_t *id)
{
    h->host->reply(h->host->ud, p, t, data, id);
}

/* An error the client caused (counted towards its error-rate close). */
static inline void hx_error(hdl_t *h, peer_t *p, err_code_t code, const char *msg,
                            const json_t *id)
{
    h->host->error(h->host->ud, p, code, msg, id, 1);
}

/* An error the client did not cause (an overloaded analyzer, a dependency down). */
static inline void hx_error_soft(hdl_t *h, peer_t *p, err_code_t code, const char *msg,
                                 const json_t *id)
{
    h->host->error(h->host->ud, p, code, msg, id, 0);
}

/* Publishes to the class (to: HOST_TO_*), takes data. */
static inline void hx_publish(hdl_t *h, const char *class_id, int to, const peer_t *except,
                              out_type_t t, json_t *data)
{
    h->host->publish(h->host->ud, class_id, NULL, to, except, t, data);
}

/* Publishes an event about one student: to may add HOST_TO_SUBJECT. Takes data. */
static inline void hx_publish_about(hdl_t *h, const char *class_id, const char *student_id,
                                    int to, const peer_t *except, out_type_t t, json_t *data)
{
    h->host->publish(h->host->ud, class_id, student_id, to, except, t, data);
}

static inline peer_t *hx_find(hdl_t *h, uint64_t id)
{
    return h->host->find(h->host->ud, id);
}

/* --- requests that outlive the handler call --------------------------------------------- */

typedef struct hdl_req {
    hdl_t *h;
    uint64_t conn_id;
    json_t *id; /* request id (own reference) or NULL */
    char class_id[ST_ID];
    char sub[ST_ID];
    char student_id[ST_ID];
    char name[ST_NAME];
    st_mark_t mark;
    int attempts; /* guards retry loops against a misbehaving engine */
    void (*then)(struct hdl_req *r); /* continuation of hdl__unless_finalized */
    void *aux; /* a result kept across one more callback (DONE: the journal's) */
} hdl_req_t;

hdl_req_t *hdl__req_new(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl__req_free(hdl_req_t *r);
/* The requester, or NULL when it disconnected or is closing. */
peer_t *hdl__req_peer(const hdl_req_t *r);

/* Runs then(r) unless the class's day is already finalized. With a live session the view
 * says so; with none, the day may have been finalized before a restart, so the journal is
 * asked. A finalized day gets SESSION_FINALIZED (and r is freed). Takes ownership of r. */
void hdl__unless_finalized(hdl_req_t *r, const st_view_t *v, void (*then)(hdl_req_t *r));

/* The ERROR code for a failed live-state operation: UNAVAILABLE when the engine could not
 * do it (full, or its backend unreachable), INTERNAL otherwise. */
err_code_t hdl__state_error(int err);

/* The class an event acts on: data.class_id if present, else the token's only class.
 * Returns it (one of p->classes), or NULL after sending CLASS_REQUIRED / CLASS_FORBIDDEN. */
const char *hdl__resolve_class(hdl_t *h, peer_t *p, const json_t *data, const json_t *id);

/* JSON helpers. */
json_t *hdl__iso(int64_t ms); /* ISO-8601 string, or null for 0 */
json_t *hdl__session_json(const st_session_t *s, int already_active);

/* --- the handlers, by file ------------------------------------------------------------- */

typedef void (*hdl_fn)(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);

void hdl_session_start(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_done(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_attendance_marked(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_today_summary(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_my_attendance(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_ping(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_roster(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_classes(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_announce(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_frame(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);
void hdl_auth(hdl_t *h, peer_t *p, const env_t *env, const char *class_id);

/* Token lifetimes (token.c): a connection is closed with 4003 once its token's exp plus
 * ROLLCALL_JWT_LEEWAY has passed, after one TOKEN_EXPIRING ROLLCALL_TOKEN_WARNING seconds
 * before. */
void hdl__tokens_start(hdl_t *h);
void hdl__tokens_stop(hdl_t *h);
void hdl__tokens_free(hdl_t *h);
/* Schedules p's deadlines for its current token (p->token_exp), sending TOKEN_EXPIRING at
 * once when that token is already inside the warning window; untrack forgets p. */
void hdl__token_track(hdl_t *h, peer_t *p);
void hdl__token_untrack(hdl_t *h, peer_t *p);

/* Membership of p in one of its classes (presence.c): the server's room, then a student's
 * presence (PRESENCE to the class's staff on the student's first connection) or a staff
 * member's PRESENCE_SNAPSHOT; and the reverse (PRESENCE offline on the student's last
 * one). */
void hdl__class_join(hdl_t *h, peer_t *p, const char *class_id);
/* Rosters (roster.c). hdl__admits: 1 when p may be in class_id's channel (staff always; a
 * student when the class has no roster or its roster has them). hdl__roster_view: view
 * with every rostered student who has not appeared added (never seen, no mark), sorted by
 * student_id like any view; *owned is the array to free (NULL when view is returned as
 * it was). */
int hdl__admits(const hdl_t *h, const peer_t *p, const char *class_id);
int hdl__roster_has(const hdl_t *h, const char *class_id, const char *student_id);
st_view_t hdl__roster_view(const hdl_t *h, const char *class_id, const st_view_t *view,
                           st_student_t **owned);
void hdl__class_leave(hdl_t *h, peer_t *p, const char *class_id);

/* Frames (frame_pool.c, frame_updates.c). */
int hdl__frames_start(hdl_t *h);
void hdl__frames_stop(hdl_t *h);
void hdl__frames_free(hdl_t *h);

#endif

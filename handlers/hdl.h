/* SPDX-License-Identifier: MIT */
/* Event handlers: one file per event family, pure logic over the live-state API, the
 * journal and the room/connection API. dispatch.c maps each event to its handler and
 * enforces roles and classes first. Loop thread only. Every handler may complete later
 * (the state engine or the journal answers through callbacks), so handlers keep the
 * connection's id, never its pointer, across a callback. */
#ifndef BRK_HDL_H
#define BRK_HDL_H

#include "conn.h"
#include "envelope.h"
#include "srv.h"

#include <jansson.h>

/* Handles one parsed request from c (env is borrowed). */
void hdl_dispatch(conn_t *c, const env_t *env);

/* Connection life cycle: welcome, room joins and presence; and the reverse. */
void hdl_conn_open(conn_t *c);
void hdl_conn_close(conn_t *c);

/* A request that outlives the handler call. */
typedef struct hdl_req {
    srv_t *srv;
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

hdl_req_t *hdl__req_new(conn_t *c, const env_t *env, const char *class_id);
void hdl__req_free(hdl_req_t *r);
/* The requester, or NULL when it disconnected or is closing. */
conn_t *hdl__req_conn(const hdl_req_t *r);

/* Runs then(r) unless the class's day is already finalized. With a live session the view
 * says so; with none, the day may have been finalized before a restart, so the journal is
 * asked. A finalized day gets SESSION_FINALIZED (and r is freed). Takes ownership of r. */
void hdl__unless_finalized(hdl_req_t *r, const st_view_t *v, void (*then)(hdl_req_t *r));

/* Tells the staff of class_id (on every instance) that a student went online or offline. */
void hdl_presence_changed(srv_t *s, const char *class_id, const char *student_id,
                          const char *name, int online_now, int online_students);

/* The ERROR code for a failed live-state operation: UNAVAILABLE when the engine could not
 * do it (full, or its backend unreachable), INTERNAL otherwise. */
err_code_t hdl__state_error(int err);

/* JSON helpers. */
json_t *hdl__iso(int64_t ms);                /* ISO-8601 string, or null for 0 */
json_t *hdl__session_json(const st_session_t *s, int already_active);

void hdl_session_start(conn_t *c, const env_t *env, const char *class_id);
void hdl_done(conn_t *c, const env_t *env, const char *class_id);
void hdl_attendance_marked(conn_t *c, const env_t *env, const char *class_id);
void hdl_today_summary(conn_t *c, const env_t *env, const char *class_id);
void hdl_my_attendance(conn_t *c, const env_t *env, const char *class_id);
void hdl_ping(conn_t *c, const env_t *env, const char *class_id);
void hdl_announce(conn_t *c, const env_t *env, const char *class_id);
void hdl_frame(conn_t *c, const env_t *env, const char *class_id);
/* A binary WebSocket message: the raw bytes of a frame (borrowed). */
void hdl_frame_binary(conn_t *c, const uint8_t *bytes, size_t len);

/* Frame analysis life cycle (frame.c): starts the analyzer pool and the engagement-update
 * timer (0, or -1 with a message on stderr); stops them without blocking (on drain); frees
 * them after the loop ended. */
int hdl_frames_start(srv_t *s);
void hdl_frames_stop(srv_t *s);
void hdl_frames_free(srv_t *s);
/* 1 when the analyzer can take frames (its models are loaded, or load on demand). */
int hdl_frames_ready(srv_t *s);
/* Copies the analyzer pool's counters into s->m (before /metrics renders them). */
void hdl_frames_sync_metrics(srv_t *s);
/* A session began in class_id: students' frames count again at once (frame.c keeps a
 * short per-connection memory of "no session" to refuse frames without analyzing them). */
void hdl__session_began(srv_t *s, const char *class_id);
/* A room is about to be freed: forget its pending engagement update. */
void hdl_frames_room_gone(srv_t *s, room_t *room);

/* Token lifetimes (token.c): a connection is closed with 4003 once its token's exp plus
 * ROLLCALL_JWT_LEEWAY has passed, after one TOKEN_EXPIRING ROLLCALL_TOKEN_WARNING seconds
 * before. hdl_tokens_start initializes the deadline timer (before the loop runs),
 * hdl_tokens_stop closes it (when the server stops), hdl_tokens_free frees what is left
 * after the loop ended. */
void hdl_tokens_start(srv_t *s);
void hdl_tokens_stop(srv_t *s);
void hdl_tokens_free(srv_t *s);
/* Schedules c's deadlines for its current token (c->token_exp), sending TOKEN_EXPIRING at
 * once when that token is already inside the warning window; untrack forgets c. */
void hdl__token_track(conn_t *c);
void hdl__token_untrack(conn_t *c);
/* AUTH: renews the connection's token in place (any role, no class). */
void hdl_auth(conn_t *c, const env_t *env, const char *class_id);
/* Membership of c in its class number k (presence.c): the room, then a student's presence
 * (PRESENCE to the class's staff on the student's first connection) or a staff member's
 * PRESENCE_SNAPSHOT; and the reverse (PRESENCE offline on the student's last one). */
void hdl__class_join(conn_t *c, int k);
void hdl__class_leave(conn_t *c, int k);

#endif

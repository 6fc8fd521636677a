/* SPDX-License-Identifier: MIT */
/* The server's side of handlers/host.h: the few operations the handlers reach connections
 * and rooms by. Each one is a thin translation from a peer or a class id to this folder's
 * own calls (conn.c, room.c). */
#include "conn.h"
#include "room.h"
#include "srv.h"

static void h_reply(void *ud, peer_t *p, out_type_t t, json_t *data, const json_t *id)
{
    (void)ud;
    conn_reply(conn_of_peer(p), t, data, id);
}

static void h_error(void *ud, peer_t *p, err_code_t code, const char *message,
                    const json_t *id, int counted)
{
    (void)ud;
    if (counted)
        conn_error(conn_of_peer(p), code, message, id);
    else
        conn_error_soft(conn_of_peer(p), code, message, id);
}

static void h_close(void *ud, peer_t *p, int code, const char *reason)
{
    (void)ud;
    conn_close_flushed(conn_of_peer(p), code, reason);
}

static peer_t *h_find(void *ud, uint64_t id)
{
    conn_t *c = srv_conn_find(ud, id);
    return c && !c->closing ? &c->p : NULL;
}

static void h_publish(void *ud, const char *class_id, const char *subject, int to,
                      const peer_t *except, out_type_t type, json_t *data)
{
    evt_msg_t *m = msg_build(type, data, NULL);
    const conn_t *ex = except ? conn_of_peer((peer_t *)(uintptr_t)except) : NULL;
    if (to & HOST_LOCAL)
        room_broadcast(room_find(ud, class_id), m, to & ~HOST_LOCAL, subject, ex);
    else
        room_publish_about(ud, class_id, subject, m, to, ex);
    msg_unref(m);
}

static void h_join(void *ud, peer_t *p, const char *class_id)
{
    room_join(ud, conn_of_peer(p), class_id);
}

static void h_leave(void *ud, peer_t *p, const char *class_id)
{
    room_leave(ud, conn_of_peer(p), class_id);
}

static hdl_class_t *h_class_find(void *ud, const char *class_id)
{
    room_t *r = room_find(ud, class_id);
    return r ? &r->h : NULL;
}

static hdl_seat_t *h_seat_find(void *ud, const char *class_id, const char *student_id)
{
    room_seat_t *t = room_seat_find(room_find(ud, class_id), student_id);
    return t ? &t->h : NULL;
}

static int h_has_staff(void *ud, const char *class_id)
{
    room_t *r = room_find(ud, class_id);
    return r && r->n_staff > 0;
}

static size_t h_students_in(void *ud, const char *class_id, uint64_t *ids, size_t max)
{
    room_t *r = room_find(ud, class_id);
    if (!r)
        return 0;
    for (size_t i = 0; i < r->n_students && i < max; i++)
        ids[i] = r->students[i]->p.id;
    return r->n_students;
}

void srv__host_init(srv_t *s)
{
    s->host = (hdl_host_t){
        .ud = s,
        .reply = h_reply,
        .error = h_error,
        .close = h_close,
        .find = h_find,
        .publish = h_publish,
        .join = h_join,
        .leave = h_leave,
        .class_find = h_class_find,
        .seat_find = h_seat_find,
        .has_staff = h_has_staff,
        .students_in = h_students_in,
    };
}

/* SPDX-License-Identifier: MIT */
/* Rooms: the connections of one class on this instance, split into students and staff
 * (teachers and admins) so a broadcast to teachers does not walk the students. A room
 * exists while it has members. Loop thread only. */
#ifndef BRK_ROOM_H
#define BRK_ROOM_H

#include "conn.h"
#include "msg.h"
#include "srv.h"

struct room {
    char *class_id;
    room_t *next; /* hash chain */
    conn_t **students;
    size_t n_students, cap_students;
    conn_t **staff;
    size_t n_staff, cap_staff;
    void *eng; /* pending engagement update (handlers/frame.c), NULL when none */
};

enum { ROOM_TO_STUDENTS = 1, ROOM_TO_STAFF = 2, ROOM_TO_ALL = 3 };

/* Returns the room of class_id, or NULL when nobody of that class is connected here. */
room_t *room_find(srv_t *s, const char *class_id);

/* Adds c to the room of its class number k (creating the room). */
void room_join(srv_t *s, conn_t *c, int k);
/* Removes c from the room of its class number k (freeing an empty room). */
void room_leave(srv_t *s, conn_t *c, int k);

/* Queues m to the members selected by to, except `except` (may be NULL). */
void room_broadcast(room_t *r, evt_msg_t *m, int to, const conn_t *except);

/* Sends m to the members of class_id selected by to, except `except`, on this instance and,
 * with Redis, on every other instance: the one call handlers use for class events. */
void room_publish(srv_t *s, const char *class_id, evt_msg_t *m, int to, const conn_t *except);

/* Frees every room (at shutdown, after every connection left). */
void room_free_all(srv_t *s);

#endif

/* SPDX-License-Identifier: MIT */
/* Rooms: the connections of one class on this instance, split into students and staff
 * (teachers and admins) so a broadcast to teachers does not walk the students, and indexed
 * by student (a seat: that student's connections in the class, and what is counted per
 * student rather than per connection, such as the frame rate), so a message about one
 * student reaches that student alone. A room exists while it has members. Loop thread
 * only. */
#ifndef BRK_ROOM_H
#define BRK_ROOM_H

#include "conn.h"
#include "msg.h"
#include "srv.h"

/* One student in one room on this instance: every connection the student has open in the
 * class, and the student's frame-rate budget there. Exists while the student has one. */
typedef struct room_seat {
    struct room_seat *next; /* hash chain */
    conn_t **conns;
    size_t n_conns, cap_conns;
    hdl_seat_t h; /* the handlers' data of the seat (the frame rate budget) */
    char sub[]; /* the student id */
} room_seat_t;

struct room {
    char *class_id;
    room_t *next; /* hash chain */
    conn_t **students;
    size_t n_students, cap_students;
    conn_t **staff;
    size_t n_staff, cap_staff;
    room_seat_t **seats; /* students by id: chained hash, seats_cap a power of two */
    size_t n_seats, seats_cap;
    hdl_class_t h; /* the handlers' data of the class (pending engagement update...) */
};

/* Who receives a class event. ROOM_TO_SUBJECT is the one student the event is about (the
 * subject argument of room_publish_about): privacy by default, a student receives only
 * what is about them, staff receive the class. ROOM_TO_STUDENTS is for events that are the
 * same for and about the whole class (a session opening, an announcement). */
enum {
    ROOM_TO_STUDENTS = HOST_TO_STUDENTS,
    ROOM_TO_STAFF = HOST_TO_STAFF,
    ROOM_TO_ALL = HOST_TO_ALL,
    ROOM_TO_SUBJECT = HOST_TO_SUBJECT,
};

/* Returns the room of class_id, or NULL when nobody of that class is connected here. */
room_t *room_find(srv_t *s, const char *class_id);

/* Adds c to the room of class_id (creating the room); nothing when c is in it already. */
void room_join(srv_t *s, conn_t *c, const char *class_id);
/* Removes c from the room of class_id (freeing an empty room); nothing when c is not in
 * it. */
void room_leave(srv_t *s, conn_t *c, const char *class_id);

/* The seat of student_id in room r, or NULL when that student has no connection in it. */
room_seat_t *room_seat_find(const room_t *r, const char *student_id);

/* Queues m to the members selected by to, except `except` (may be NULL). subject is the
 * student of ROOM_TO_SUBJECT (borrowed; NULL when to has no ROOM_TO_SUBJECT). */
void room_broadcast(room_t *r, evt_msg_t *m, int to, const char *subject, const conn_t *except);

/* Sends m to the members of class_id selected by to (not ROOM_TO_SUBJECT), except
 * `except`, on this instance and, with Redis, on every other instance: the one call
 * handlers use for class events. */
void room_publish(srv_t *s, const char *class_id, evt_msg_t *m, int to, const conn_t *except);

/* Like room_publish, for an event about one student: to may add ROOM_TO_SUBJECT, which
 * reaches student_id's connections (on every instance) and no other student's. */
void room_publish_about(srv_t *s, const char *class_id, const char *student_id, evt_msg_t *m,
                        int to, const conn_t *except);

/* Frees every room (at shutdown, after every connection left). */
void room_free_all(srv_t *s);

#endif

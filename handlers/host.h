/* SPDX-License-Identifier: MIT */
/* What the handlers need from the server, and all they get of it. The handlers never see a
 * socket, a connection's queue or a room's member arrays: they see a peer (who sent the
 * event: the identity its token carries, and what the handlers keep per connection), and
 * they ask the server, through the operations below, to reply to a peer, to publish to a
 * class, to close a peer, to add a peer to a class or take it out. The server (broker/)
 * fills one hdl_host_t at start; the handlers' unit tests can fill one of their own.
 *
 * Ownership: the server embeds the peer_t of each connection, the hdl_class_t of each class
 * present on this instance and the hdl_seat_t of each student seated in one; the handlers
 * own their contents. Loop thread only. */
#ifndef BRK_HOST_H
#define BRK_HOST_H

#include "auth.h"
#include "expiry.h"
#include "protocol.h"
#include "violations.h"

#include <jansson.h>
#include <stdint.h>

/* A connection, as the handlers see it. The server sets the identity (id, role, sub, name,
 * classes) when the connection opens; after that only the handlers change classes (AUTH
 * renews the token in place). */
typedef struct peer {
    uint64_t id;
    auth_role_t role;
    char *sub;
    char *name; /* "" when the token has none */
    int n_classes;
    char **classes;

    /* token lifetime (token.c) */
    int64_t token_exp;     /* exp of the token the connection lives on, s since the epoch */
    exp_node_t token_node; /* its place in the token deadline heap */
    int token_warned;      /* TOKEN_EXPIRING was sent for this token */

    /* proctoring (frame_results.c) */
    viol_track_t viol;
} peer_t;

/* What the handlers keep per class present on this instance (frame_updates.c, frame.c). */
typedef struct hdl_class {
    const char *class_id;        /* set by the server, lives as long as the class */
    void *eng;                   /* pending ENGAGEMENT_UPDATE, NULL when none */
    int64_t no_session_until_ms; /* refuse frames at once until then (no active session) */
} hdl_class_t;

/* What the handlers keep per student seated in a class on this instance, shared by every
 * connection the student has open in it (frame.c: the frame rate budget). */
typedef struct hdl_seat {
    double frame_tokens; /* refilled per second */
    int64_t frame_tokens_ms;
} hdl_seat_t;

/* Who receives a class event. HOST_TO_SUBJECT is the one student the event is about:
 * privacy by default, a student receives only what is about them, staff receive the class.
 * HOST_TO_STUDENTS is for events that are the same for and about the whole class (a
 * session opening, an announcement). */
enum {
    HOST_TO_STUDENTS = 1,
    HOST_TO_STAFF = 2,
    HOST_TO_ALL = 3,
    HOST_TO_SUBJECT = 4,
    /* With one of the above: this instance's members only, not the other instances' (for
     * what every instance works out and sends by itself, like a changed roster). */
    HOST_LOCAL = 8,
};

typedef struct hdl_host {
    void *ud; /* the server, passed back to every operation */

    /* Sends {event: type, data, id} to p. Takes data; borrows id (NULL to omit it). */
    void (*reply)(void *ud, peer_t *p, out_type_t type, json_t *data, const json_t *id);
    /* Sends ERROR {code, message, ref: id}. A counted error adds to the peer's error rate
     * (the server closes an abusive peer); an uncounted one is for conditions the client
     * did not cause (an overloaded analyzer, an unavailable dependency). */
    void (*error)(void *ud, peer_t *p, err_code_t code, const char *message, const json_t *id,
                  int counted);
    /* Closes p with a WebSocket close code and a static reason. */
    void (*close)(void *ud, peer_t *p, int code, const char *reason);
    /* The open peer with this id, or NULL when it disconnected or is closing. */
    peer_t *(*find)(void *ud, uint64_t id);

    /* Sends {event: type, data} once to the members of class_id that `to` selects (with
     * HOST_TO_SUBJECT: student subject's connections, and no other student's), except
     * `except` (may be NULL), on this instance and, with Redis, on every instance. Takes
     * data. subject is NULL unless `to` has HOST_TO_SUBJECT. */
    void (*publish)(void *ud, const char *class_id, const char *subject, int to,
                    const peer_t *except, out_type_t type, json_t *data);

    /* Adds p to the members of class_id on this instance, or takes it out. */
    void (*join)(void *ud, peer_t *p, const char *class_id);
    void (*leave)(void *ud, peer_t *p, const char *class_id);
    /* The handlers' data of class_id, NULL when nobody of it is connected here. */
    hdl_class_t *(*class_find)(void *ud, const char *class_id);
    /* The handlers' data of student_id's seat in class_id, NULL when that student has no
     * connection in it here. */
    hdl_seat_t *(*seat_find)(void *ud, const char *class_id, const char *student_id);
    /* 1 when class_id has staff connected here (engagement updates are for staff only). */
    int (*has_staff)(void *ud, const char *class_id);
    /* The connection ids of class_id's student connections on this instance: writes up to
     * max into ids and returns how many there are (call with max 0 to count). */
    size_t (*students_in)(void *ud, const char *class_id, uint64_t *ids, size_t max);
} hdl_host_t;

#endif

/* SPDX-License-Identifier: MIT */
/* The protocol's vocabulary beyond the envelope (envelope.h has the client events): the
 * server events and the stable error codes of docs/PROTOCOL.md, with their wire names.
 * The numbers of out_type_t cross Redis between instances: append, never reorder. */
#ifndef BRK_PROTOCOL_H
#define BRK_PROTOCOL_H

typedef enum {
    OUT_WELCOME = 0,
    OUT_PRESENCE_SNAPSHOT,
    OUT_PRESENCE,
    OUT_SESSION_STARTED,
    OUT_ATTENDANCE_MARKED,
    OUT_TODAY_SUMMARY,
    OUT_ATTENDANCE_FINALIZED,
    OUT_MY_ATTENDANCE,
    OUT_PONG,
    OUT_ERROR,
    OUT_FRAME_RESULT,
    OUT_ENGAGEMENT_UPDATE,
    OUT_VIOLATION,
    OUT_ANNOUNCEMENT,
    OUT_TOKEN_EXPIRING, /* the connection's token is about to expire */
    OUT_AUTHENTICATED,  /* reply to AUTH */
    OUT_CLASS_REMOVED,  /* the student left a class's roster: its channel is closed to them */
    OUT_ROSTER,         /* a class's roster (reply to ROSTER, and pushed to staff on change) */
    OUT_CLASSES,        /* reply to CLASSES */
    OUT__COUNT
} out_type_t;

const char *msg_type_name(out_type_t t);

/* Stable error codes of docs/PROTOCOL.md, used as metric labels. */
typedef enum {
    ERR_BAD_JSON = 0,
    ERR_INVALID_UTF8,
    ERR_TOO_DEEP,
    ERR_MESSAGE_TOO_LARGE,
    ERR_BAD_ENVELOPE,
    ERR_UNKNOWN_EVENT,
    ERR_INVALID_PAYLOAD,
    ERR_FORBIDDEN,
    ERR_CLASS_REQUIRED,
    ERR_CLASS_FORBIDDEN,
    ERR_NO_SESSION,
    ERR_SESSION_FINALIZED,
    ERR_NOT_IMPLEMENTED,
    ERR_UNAVAILABLE,
    ERR_BAD_FRAME,       /* not a decodable JPEG/PNG, or bad base64 */
    ERR_FRAME_TOO_LARGE, /* over ROLLCALL_FRAME_MAX_BYTES or _MAX_PIXELS */
    ERR_RATE_LIMITED,    /* frames faster than ROLLCALL_FRAME_RATE */
    ERR_FRAME_SKIPPED,   /* analyzer saturated: queue full, frame replaced or stale */
    ERR_TOKEN_INVALID,   /* AUTH: the new token was refused (auth_verify's reason) */
    ERR_TOKEN_MISMATCH,  /* AUTH: the new token names another sub or role */
    ERR_NOT_ON_ROSTER,   /* a mark for a student the class's roster does not have */
    ERR_INTERNAL,
    ERR__COUNT
} err_code_t;

const char *err_code_name(err_code_t c);
/* Maps a code string (from env_error_t) to its enum; ERR_INTERNAL when unknown. */
err_code_t err_code_from_name(const char *name);

#endif

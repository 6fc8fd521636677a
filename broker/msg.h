/* SPDX-License-Identifier: MIT */
/* Outgoing messages: serialized once into an immutable, refcounted buffer that already
 * holds its WebSocket frame (a server's frames are unmasked, so the frame is the same for
 * every recipient), then shared by every recipient's queue. Loop thread only (the refcount
 * is not atomic). */
#ifndef BRK_MSG_H
#define BRK_MSG_H

#include "protocol.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* The longest WebSocket frame header a server writes: FIN/opcode, 127, 64-bit length. */
#define MSG_FRAME_HDR_MAX 10

typedef struct evt_msg {
    uint32_t refs;
    out_type_t type;
    size_t len;             /* JSON bytes */
    unsigned char *payload; /* the JSON, NUL-terminated, inside buf */
    unsigned char *frame;   /* the whole text frame: header then payload */
    size_t frame_len;
    unsigned char buf[];
} evt_msg_t;

/* Builds {"event":NAME,"data":data,"id":id}. Takes ownership of data; borrows id (NULL or
 * a JSON string/integer, omitted when NULL). Returns a new reference. */
evt_msg_t *msg_build(out_type_t t, json_t *data, const json_t *id);

/* Returns a new reference to a PING control frame with a 2-byte payload (its type is not
 * counted as an event: the caller never passes it to conn_send). */
evt_msg_t *msg_new_ping(void);

/* Returns a new reference holding a copy of json (len bytes). */
evt_msg_t *msg_new_raw(out_type_t t, const char *json, size_t len);

evt_msg_t *msg_ref(evt_msg_t *m);
void msg_unref(evt_msg_t *m);

#endif

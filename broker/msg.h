/* SPDX-License-Identifier: MIT */
/* Outgoing messages: serialized once into an immutable, refcounted buffer with LWS_PRE
 * bytes of headroom, then shared by every recipient's queue. Loop thread only (the
 * refcount is not atomic). */
#ifndef BRK_MSG_H
#define BRK_MSG_H

#include "protocol.h"

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct evt_msg {
    uint32_t refs;
    out_type_t type;
    size_t len; /* payload bytes, excluding the headroom */
    unsigned char *payload; /* points LWS_PRE bytes into buf */
    unsigned char buf[];
} evt_msg_t;

/* Builds {"event":NAME,"data":data,"id":id}. Takes ownership of data; borrows id (NULL or
 * a JSON string/integer, omitted when NULL). Returns a new reference. */
evt_msg_t *msg_build(out_type_t t, json_t *data, const json_t *id);

/* Returns a new reference holding a copy of json (len bytes). */
evt_msg_t *msg_new_raw(out_type_t t, const char *json, size_t len);

evt_msg_t *msg_ref(evt_msg_t *m);
void msg_unref(evt_msg_t *m);

#endif

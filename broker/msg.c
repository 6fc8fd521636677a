/* SPDX-License-Identifier: MIT */
/* Refcounted outgoing messages with libwebsockets headroom. */
#include "msg.h"

#include "brk.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

static evt_msg_t *alloc_msg(out_type_t t, size_t len)
{
    evt_msg_t *m = brk_malloc(sizeof *m + LWS_PRE + len + 1);
    m->refs = 1;
    m->type = t;
    m->len = len;
    m->payload = m->buf + LWS_PRE;
    m->payload[len] = '\0';
    return m;
}

evt_msg_t *msg_new_raw(out_type_t t, const char *json, size_t len)
{
    evt_msg_t *m = alloc_msg(t, len);
    memcpy(m->payload, json, len);
    return m;
}

evt_msg_t *msg_build(out_type_t t, json_t *data, const json_t *id)
{
    json_t *root = json_object();
    json_object_set_new(root, "event", json_string(msg_type_name(t)));
    json_object_set_new(root, "data", data ? data : json_object());
    if (id)
        json_object_set(root, "id", (json_t *)id);
    size_t len = json_dumpb(root, NULL, 0, JSON_COMPACT);
    BRK_ASSERT(len > 0);
    evt_msg_t *m = alloc_msg(t, len);
    size_t wrote = json_dumpb(root, (char *)m->payload, len, JSON_COMPACT);
    BRK_ASSERT(wrote == len);
    json_decref(root);
    return m;
}

evt_msg_t *msg_ref(evt_msg_t *m)
{
    m->refs++;
    return m;
}

void msg_unref(evt_msg_t *m)
{
    if (m && --m->refs == 0)
        free(m);
}

/* SPDX-License-Identifier: MIT */
/* Refcounted outgoing messages, each framed once for all its recipients. */
#include "msg.h"

#include "brk.h"

#include <stdlib.h>
#include <string.h>

/* Writes the header of an unmasked, final text frame of len payload bytes just before the
 * payload (RFC 6455 section 5.2): the 7-bit length, or 126 and 16 bits, or 127 and 64. */
static void frame_header(evt_msg_t *m)
{
    size_t len = m->len;
    size_t h = len < 126 ? 2 : len <= 0xffff ? 4 : 10;
    unsigned char *f = m->payload - h;
    f[0] = 0x81;
    if (h == 2) {
        f[1] = (unsigned char)len;
    } else if (h == 4) {
        f[1] = 126;
        f[2] = (unsigned char)(len >> 8);
        f[3] = (unsigned char)len;
    } else {
        f[1] = 127;
        for (int i = 0; i < 8; i++)
            f[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
    }
    m->frame = f;
    m->frame_len = h + len;
}

static evt_msg_t *alloc_msg(out_type_t t, size_t len)
{
    evt_msg_t *m = brk_malloc(sizeof *m + MSG_FRAME_HDR_MAX + len + 1);
    m->refs = 1;
    m->type = t;
    m->len = len;
    m->payload = m->buf + MSG_FRAME_HDR_MAX;
    m->payload[len] = '\0';
    frame_header(m);
    return m;
}

evt_msg_t *msg_new_ping(void)
{
    /* A payload, which the peer's PONG echoes: lws 4.1 reports an empty PONG to nobody
     * (LWS_CALLBACK_RECEIVE_PONG comes only for one with payload). */
    evt_msg_t *m = msg_new_raw(OUT_PONG, "rc", 2);
    m->frame[0] = 0x89; /* FIN, opcode 9: PING */
    return m;
}

evt_msg_t *msg_new_raw(out_type_t t, const char *json, size_t len)
{
    evt_msg_t *m = alloc_msg(t, len);
    memcpy(m->payload, json, len);
    return m;
}

/* Where json_dump_callback writes: a stack buffer that moves to the heap when a message
 * outgrows it. One serialization per message (json_dumpb would need two: one to size the
 * buffer, one to fill it). */
#define DUMP_STACK 2048
typedef struct {
    char *p;
    size_t len, cap;
    char stack[DUMP_STACK];
} dump_t;

static int dump_cb(const char *buf, size_t size, void *ud)
{
    dump_t *d = ud;
    if (size > d->cap - d->len) {
        size_t cap = d->cap * 2;
        while (size > cap - d->len)
            cap *= 2;
        if (d->p == d->stack) {
            d->p = brk_malloc(cap);
            memcpy(d->p, d->stack, d->len);
        } else {
            d->p = brk_realloc(d->p, cap);
        }
        d->cap = cap;
    }
    memcpy(d->p + d->len, buf, size);
    d->len += size;
    return 0;
}

evt_msg_t *msg_build(out_type_t t, json_t *data, const json_t *id)
{
    json_t *root = json_object();
    json_object_set_new(root, "event", json_string(msg_type_name(t)));
    json_object_set_new(root, "data", data ? data : json_object());
    if (id)
        json_object_set(root, "id", (json_t *)id);
    dump_t d;
    d.p = d.stack;
    d.len = 0;
    d.cap = sizeof d.stack;
    int rc = json_dump_callback(root, dump_cb, &d, JSON_COMPACT);
    BRK_ASSERT(rc == 0 && d.len > 0);
    json_decref(root);
    evt_msg_t *m = msg_new_raw(t, d.p, d.len);
    if (d.p != d.stack)
        free(d.p);
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

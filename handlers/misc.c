/* SPDX-License-Identifier: MIT */
/* PING, and ANNOUNCE: a notice from the class's staff to everyone in the class. */
#include "hdl_int.h"

#include "brk.h"

void hdl_ping(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    json_t *data = json_object();
    json_t *ts = json_object_get(env->data, "ts");
    if (ts)
        json_object_set(data, "ts", ts);
    json_object_set_new(data, "server_time", hdl__iso(brk_now_ms()));
    hx_reply(h, c, OUT_PONG, data, env->id);
}

/* An announcement is for the whole class by nature: the one class event every student
 * receives, serialized once for all of them. It names only its author, a member of staff. */
void hdl_announce(hdl_t *h, peer_t *c, const env_t *env, const char *class_id)
{
    const char *text = json_string_value(json_object_get(env->data, "text"));
    if (!text) {
        hx_error(h, c, ERR_INVALID_PAYLOAD, "data.text is required", env->id);
        return;
    }
    json_t *data = json_pack("{s:s, s:s, s:s, s:o, s:o}", "class_id", class_id, "text", text,
                             "from", c->sub, "name",
                             c->name[0] ? json_string(c->name) : json_null(), "at",
                             hdl__iso(brk_now_ms()));
    hx_publish(h, class_id, HOST_TO_ALL, c, OUT_ANNOUNCEMENT, json_incref(data));
    hx_reply(h, c, OUT_ANNOUNCEMENT, data, env->id);
}

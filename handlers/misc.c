/* SPDX-License-Identifier: MIT */
/* PING. */
#include "hdl.h"

#include "brk.h"

void hdl_ping(conn_t *c, const env_t *env, const char *class_id)
{
    json_t *data = json_object();
    json_t *ts = json_object_get(env->data, "ts");
    if (ts)
        json_object_set(data, "ts", ts);
    json_object_set_new(data, "server_time", hdl__iso(brk_now_ms()));
    conn_reply(c, OUT_PONG, data, env->id);
}

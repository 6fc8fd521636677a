/* SPDX-License-Identifier: MIT */
/* The libwebsockets glue: one protocol that is the vhost's default, so it gets the HTTP
 * phase (health, metrics, reports, the token check before the upgrade) and the WebSocket
 * phase (assembly of messages, dispatch, writes). Loop thread only. */
#ifndef BRK_WS_H
#define BRK_WS_H

#include "srv.h"

struct lws_protocols;

/* The protocol table for the vhost (terminated by a zero entry). */
const struct lws_protocols *ws_protocols(void);

/* Per-wsi data: the connection once upgraded, or the HTTP exchange in progress. */
struct http_tx;
typedef struct ws_pss {
    conn_t *conn;
    struct http_tx *http;
} ws_pss_t;

#endif

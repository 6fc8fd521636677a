/* SPDX-License-Identifier: MIT */
/* Plain HTTP on the broker's port: /healthz, /readyz, /metrics, the attendance report and
 * the accounts endpoints (http_accounts.c).
 * A response is prepared in LWS_CALLBACK_HTTP (or later, when the journal answers a
 * report) and written from LWS_CALLBACK_HTTP_WRITEABLE. Loop thread only. */
#ifndef BRK_HTTP_H
#define BRK_HTTP_H

#include "srv.h"
#include "ws.h"

struct lws;

/* Handles a request for uri. Returns 0, or -1 to close the connection. */
int http_on_request(srv_t *s, struct lws *wsi, ws_pss_t *pss, const char *uri);
/* A piece of the request body (LWS_CALLBACK_HTTP_BODY), and its end
 * (LWS_CALLBACK_HTTP_BODY_COMPLETION). Return 0, or -1 to close the connection. */
int http_on_body(srv_t *s, ws_pss_t *pss, const void *in, size_t len);
int http_on_body_done(srv_t *s, ws_pss_t *pss);
int http_on_writeable(srv_t *s, struct lws *wsi, ws_pss_t *pss);
/* The HTTP connection closed: forget the exchange (a pending report answer is dropped). */
void http_on_closed(srv_t *s, ws_pss_t *pss);

/* Writes a complete small response (status, extra header or NULL, body) in one go and
 * returns what the callback should return (1: close after it). Used for refusals in the
 * upgrade phase. */
int http_refuse(struct lws *wsi, int status, const char *www_authenticate, const char *body);

#endif

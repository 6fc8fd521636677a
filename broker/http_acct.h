/* SPDX-License-Identifier: MIT */
/* What the accounts and classes endpoints share (http_accounts.c, http_classes.c): reading
 * a JSON body, the bearer token of an account, handing a request to the accounts service
 * and mapping its answer to HTTP. Loop thread only. */
#ifndef BRK_HTTP_ACCT_H
#define BRK_HTTP_ACCT_H

#include "acct_service.h"
#include "http_int.h"

/* The request's JSON object, whose members are all in `allowed` (a plain name must be a
 * string; "name:any" allows any JSON value) and include every name of `required`. Returns
 * the object, or NULL after answering 400 or 415. */
json_t *http_read_object(http_tx_t *tx, const char *body, size_t len,
                         const char *const *allowed, const char *const *required);

/* Verifies the Authorization: Bearer token (a token without classes is fine): 0 and *id,
 * or -1 after answering 401. */
int http_account_token(http_tx_t *tx, auth_identity_t *id);

void http_refuse_unauthorized(http_tx_t *tx, const char *message);

/* Queues r; the answer is written when the service returns it (limit_key: the account's
 * key in the login failure limiter, or NULL). */
void http_acct_submit(http_tx_t *tx, acct_req_t *r, const char *limit_key);

/* An error of the service as HTTP: 400, 401, 403, 404, 409 or 503. */
void http_acct_failure(http_tx_t *tx, const acct_req_t *r);

/* {access_token, token_type, expires_in, user} of a request that got a token. */
json_t *http_token_json(const acct_req_t *r);

/* The classes endpoints (http_classes.c). route: handles tx when its path is /classes or
 * under it, returns 1 then. done: the service answered a class request (tx is NULL when
 * the client hung up; the live rosters are updated either way). */
int http_classes_route(http_tx_t *tx, const char *body, size_t len);
void http_classes_done(srv_t *s, http_tx_t *tx, acct_req_t *r);

#endif

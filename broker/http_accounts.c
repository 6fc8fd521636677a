/* SPDX-License-Identifier: MIT */
/* The accounts endpoints: POST /auth/register, POST /auth/login, GET /auth/me,
 * POST /auth/change-password, PUT /auth/profile, POST /auth/refresh. The slow work (hashing,
 * SQLite) runs on the accounts service's workers (accounts/acct_service.h); this file checks
 * the input, applies the rate limits and the registration policy, and writes the JSON. Who
 * receives what: every answer goes only to the client that asked, and speaks only of the
 * account the request proved it holds (a password, or a token whose sub is the account). */
#include "http_int.h"
#include "http_acct.h"

#include "acct_email.h"
#include "acct_service.h"
#include "brk.h"
#include "log.h"
#include "rlimit.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char bearer_challenge[] = "Bearer realm=\"rollcall\"";

/* ---- input ----------------------------------------------------------------------------- */

/* The request's JSON object with exactly the fields of `allowed` (all strings), every one of
 * `required` present. Returns the object, or NULL after answering 400/415. */
json_t *http_read_object(http_tx_t *tx, const char *body, size_t len,
                           const char *const *allowed, const char *const *required)
{
    char ctype[64] = "";
    lws_hdr_copy(tx->wsi, ctype, sizeof ctype, WSI_TOKEN_HTTP_CONTENT_TYPE);
    if (strncasecmp(ctype, "application/json", 16) != 0 || (ctype[16] && ctype[16] != ';' &&
                                                           ctype[16] != ' ')) {
        http_respond_error(tx, 415, "the body must be application/json");
        return NULL;
    }
    json_error_t e;
    json_t *o = json_loadb(body, len, JSON_REJECT_DUPLICATES, &e);
    if (!json_is_object(o)) {
        json_decref(o);
        http_respond_error(tx, 400, "the body must be one JSON object");
        return NULL;
    }
    const char *key;
    json_t *v;
    char msg[160];
    json_object_foreach(o, key, v)
    {
        int ok = 0, any = 0;
        size_t klen = strlen(key);
        for (const char *const *a = allowed; *a; a++) {
            /* "name:any" allows any JSON value; a plain name, a string */
            if (strncmp(*a, key, klen) == 0 && ((*a)[klen] == '\0' || (*a)[klen] == ':')) {
                ok = 1;
                any = (*a)[klen] == ':';
            }
        }
        if (!ok) {
            snprintf(msg, sizeof msg, "unknown field \"%.40s\"", key);
            goto bad;
        }
        if (!any && !json_is_string(v)) {
            snprintf(msg, sizeof msg, "field \"%s\" must be a string", key);
            goto bad;
        }
    }
    for (const char *const *r = required; *r; r++) {
        if (!json_object_get(o, *r)) {
            snprintf(msg, sizeof msg, "field \"%s\" is required", *r);
            goto bad;
        }
    }
    return o;

bad:
    json_decref(o);
    http_respond_error(tx, 400, msg);
    return NULL;
}

static const char *str(json_t *o, const char *key, size_t *len)
{
    json_t *v = json_object_get(o, key);
    if (len)
        *len = v ? json_string_length(v) : 0;
    return v ? json_string_value(v) : NULL;
}

/* Wipes a password held by jansson before the object goes. */
static void wipe_field(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    if (json_is_string(v)) {
        size_t n = json_string_length(v);
        volatile char *p = (volatile char *)json_string_value(v);
        for (size_t i = 0; i < n; i++)
            p[i] = 0;
    }
}

static void wipe_body(http_tx_t *tx)
{
    if (tx->in) {
        volatile char *p = tx->in;
        for (size_t i = 0; i < tx->in_len; i++)
            p[i] = 0;
    }
}

/* ---- output ---------------------------------------------------------------------------- */

static json_t *user_json(const acct_t *a)
{
    char created[32], updated[32];
    brk_iso8601(a->created_at_ms, created, sizeof created);
    brk_iso8601(a->updated_at_ms, updated, sizeof updated);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "id", a->id, "email", a->email, "name",
                     a->name, "role", acct_role_name(a->role), "created_at", created,
                     "updated_at", updated);
}

json_t *http_token_json(const acct_req_t *r)
{
    return json_pack("{s:s, s:s, s:I, s:o}", "access_token", r->token, "token_type", "bearer",
                     "expires_in", (json_int_t)r->expires_in, "user", user_json(&r->acct));
}

static void refuse_limited(http_tx_t *tx, uint64_t retry_ms, const char *what)
{
    tx->retry_after_s = (int)((retry_ms + 999) / 1000);
    if (tx->retry_after_s < 1)
        tx->retry_after_s = 1;
    tx->srv->m.logins_limited++;
    LOG(WARN, 0, "rate limited", "what=%s addr=%s retry_after_s=%d", what, tx->addr,
        tx->retry_after_s);
    http_respond_error(tx, 429, "too many attempts; try again later");
}

void http_refuse_unauthorized(http_tx_t *tx, const char *message)
{
    tx->www_auth = bearer_challenge;
    http_respond_error(tx, 401, message);
}

/* A request the service answered with an error. */
void http_acct_failure(http_tx_t *tx, const acct_req_t *r)
{
    switch (r->err) {
    case BRK_ENOTFOUND: http_respond_error(tx, 404, r->errmsg); break;
    case BRK_ESTATE: http_respond_error(tx, 403, r->errmsg); break;
    case BRK_ENOMEM: http_respond_error(tx, 409, r->errmsg); break;
    case BRK_EINVAL:
    case BRK_ETOOBIG: http_respond_error(tx, 400, r->errmsg); break;
    case BRK_EEXIST: http_respond_error(tx, 409, r->errmsg); break;
    case BRK_EAUTH: http_refuse_unauthorized(tx, r->errmsg); break;
    case BRK_EFULL:
        tx->retry_after_s = 1;
        http_respond_error(tx, 503, "the accounts service is busy; try again");
        break;
    default:
        LOG(ERROR, 0, "accounts request failed", "err=\"%s\"", r->errmsg);
        tx->retry_after_s = 1;
        http_respond_error(tx, 503, "the accounts service is unavailable");
        break;
    }
}

/* ---- the service's answers --------------------------------------------------------------- */

typedef struct ctx {
    srv_t *srv;
    uint64_t tx_id;
    char limit_key[ACCT_EMAIL_SIZE + 8]; /* the account's key in the failure limiter */
} ctx_t;

static void on_done(acct_req_t *r, void *ud)
{
    ctx_t *c = ud;
    srv_t *s = c->srv;
    http_tx_t *tx = http_pending_take(c->tx_id);
    int ok = r->err == 0;
    if (c->limit_key[0] && s->rl_acct) {
        /* A success clears the account's failures; a wrong password keeps the token the
         * attempt took; anything else (overload, storage) gives it back. */
        if (ok || r->err != BRK_EAUTH)
            rl_forget(s->rl_acct, c->limit_key, strlen(c->limit_key));
    }
    switch (r->kind) {
    case ACCT_REQ_LOGIN:
        if (ok)
            s->m.logins_ok++;
        else if (r->err == BRK_EAUTH)
            s->m.logins_failed++;
        LOG(INFO, 0, ok ? "login" : "login refused", "%s%s addr=%s%s%s", ok ? "sub=" : "",
            ok ? r->acct.id : "", tx ? tx->addr : "-", ok ? "" : " reason=",
            ok ? "" : r->err == BRK_EAUTH ? "\"wrong email or password\"" : "\"service\"");
        break;
    case ACCT_REQ_REGISTER:
        if (ok)
            LOG(INFO, 0, "account registered", "sub=%s role=%s", r->acct.id,
                acct_role_name(r->acct.role));
        break;
    case ACCT_REQ_PASSWORD:
        LOG(INFO, 0, ok ? "password changed" : "password change refused", "sub=%s", r->id);
        break;
    default: break;
    }
    if (r->kind >= ACCT_REQ_CLASS_CREATE) {
        http_classes_done(s, tx, r);
    } else if (tx) {
        if (!ok)
            http_acct_failure(tx, r);
        else if (r->kind == ACCT_REQ_REGISTER)
            http_respond_json(tx, 201, http_token_json(r));
        else if (r->kind == ACCT_REQ_LOGIN || (r->kind == ACCT_REQ_GET && r->want_token))
            http_respond_json(tx, 200, http_token_json(r));
        else if (r->kind == ACCT_REQ_PASSWORD)
            http_respond(tx, 204, "application/json", brk_strdup(""), 0);
        else
            http_respond_json(tx, 200, user_json(&r->acct));
    }
    acct_req_free(r);
    free(c);
}

void http_acct_submit(http_tx_t *tx, acct_req_t *r, const char *limit_key)
{
    ctx_t *c = brk_calloc(1, sizeof *c);
    c->srv = tx->srv;
    c->tx_id = tx->id;
    if (limit_key)
        snprintf(c->limit_key, sizeof c->limit_key, "%s", limit_key);
    http_pending_add(tx);
    acct_svc_submit(tx->srv->acct, r, on_done, c);
}

/* ---- the endpoints ----------------------------------------------------------------------- */

/* The per-address budget of the password endpoints. Returns 1 when the request may go on. */
static int address_allows(http_tx_t *tx)
{
    uint64_t retry = 0;
    if (rl_try_take(tx->srv->rl_addr, tx->addr, strlen(tx->addr), (uint64_t)brk_now_ms(),
                    &retry))
        return 1;
    refuse_limited(tx, retry, "address");
    return 0;
}

static void do_register(http_tx_t *tx, const char *body, size_t len)
{
    static const char *const allowed[] = {"name", "email", "password", "role", NULL};
    static const char *const required[] = {"name", "email", "password", "role", NULL};
    srv_t *s = tx->srv;
    const char *mode = s->cfg->registration;
    if (strcasecmp(mode, "off") == 0) {
        http_respond_error(tx, 403, "registration is closed: ask your school for an account");
        return;
    }
    if (!address_allows(tx))
        return;
    json_t *o = http_read_object(tx, body, len, allowed, required);
    if (!o)
        return;
    acct_role_t role;
    const char *rs = str(o, "role", NULL);
    if (acct_role_parse(rs, &role) != 0 || role == ACCT_ROLE_ADMIN) {
        http_respond_error(tx, 400, "role must be teacher or student");
    } else if (role == ACCT_ROLE_STUDENT && strcasecmp(mode, "teachers") == 0) {
        http_respond_error(tx, 403, "only teachers may register here");
    } else {
        acct_req_t *r = acct_req_new(ACCT_REQ_REGISTER);
        size_t n;
        const char *v = str(o, "email", &n);
        acct_req_set_email(r, v, n);
        v = str(o, "name", &n);
        acct_req_set_name(r, v, n);
        v = str(o, "password", &n);
        acct_req_set_password(r, v, n);
        r->role = role;
        r->want_token = 1;
        http_acct_submit(tx, r, NULL);
    }
    wipe_field(o, "password");
    json_decref(o);
}

static void do_login(http_tx_t *tx, const char *body, size_t len)
{
    static const char *const fields[] = {"email", "password", NULL};
    srv_t *s = tx->srv;
    if (!address_allows(tx))
        return;
    json_t *o = http_read_object(tx, body, len, fields, fields);
    if (!o)
        return;
    size_t elen, plen;
    const char *email = str(o, "email", &elen);
    const char *pw = str(o, "password", &plen);
    char norm[ACCT_EMAIL_SIZE];
    char key[ACCT_EMAIL_SIZE + 8];
    /* The account's limiter is keyed by the normalized address, known or not, so that its
     * answers do not differ between emails that exist and emails that do not. An address
     * that does not normalize is limited under its raw bytes. */
    if (acct_email_normalize(email, elen, norm, sizeof norm) == 0)
        snprintf(key, sizeof key, "e:%s", norm);
    else
        snprintf(key, sizeof key, "r:%.*s", (int)(elen < 300 ? elen : 300), email);
    uint64_t retry = 0;
    if (!rl_try_take(s->rl_acct, key, strlen(key), (uint64_t)brk_now_ms(), &retry)) {
        refuse_limited(tx, retry, "account");
    } else {
        acct_req_t *r = acct_req_new(ACCT_REQ_LOGIN);
        acct_req_set_email(r, email, elen);
        acct_req_set_password(r, pw, plen);
        http_acct_submit(tx, r, key);
    }
    wipe_field(o, "password");
    json_decref(o);
}

/* The bearer token of an account endpoint: 0 and *id, or answered 401. */
int http_account_token(http_tx_t *tx, auth_identity_t *id)
{
    const char *why = NULL;
    if (http_bearer(tx, AUTH_ALLOW_NO_CLASS, id, &why) != 0) {
        LOG(INFO, 0, "account request refused", "status=401 path=%s reason=\"%s\"", tx->path,
            why);
        http_refuse_unauthorized(tx, "a valid Bearer token is required");
        return -1;
    }
    return 0;
}

static void do_change_password(http_tx_t *tx, const char *body, size_t len)
{
    static const char *const fields[] = {"current_password", "new_password", NULL};
    srv_t *s = tx->srv;
    auth_identity_t id;
    if (http_account_token(tx, &id) != 0 || !address_allows(tx))
        return;
    json_t *o = http_read_object(tx, body, len, fields, fields);
    if (!o)
        return;
    char key[ACCT_EMAIL_SIZE + 8];
    snprintf(key, sizeof key, "i:%s", id.sub);
    uint64_t retry = 0;
    if (!rl_try_take(s->rl_acct, key, strlen(key), (uint64_t)brk_now_ms(), &retry)) {
        refuse_limited(tx, retry, "account");
    } else {
        acct_req_t *r = acct_req_new(ACCT_REQ_PASSWORD);
        snprintf(r->id, sizeof r->id, "%s", id.sub);
        size_t n;
        const char *v = str(o, "current_password", &n);
        acct_req_set_password(r, v, n);
        v = str(o, "new_password", &n);
        acct_req_set_new_password(r, v, n);
        http_acct_submit(tx, r, key);
    }
    wipe_field(o, "current_password");
    wipe_field(o, "new_password");
    json_decref(o);
}

static void do_profile(http_tx_t *tx, const char *body, size_t len)
{
    static const char *const fields[] = {"name", NULL};
    auth_identity_t id;
    if (http_account_token(tx, &id) != 0)
        return;
    json_t *o = http_read_object(tx, body, len, fields, fields);
    if (!o)
        return;
    acct_req_t *r = acct_req_new(ACCT_REQ_RENAME);
    snprintf(r->id, sizeof r->id, "%s", id.sub);
    size_t n;
    const char *v = str(o, "name", &n);
    acct_req_set_name(r, v, n);
    json_decref(o);
    http_acct_submit(tx, r, NULL);
}

static void do_me(http_tx_t *tx, int refresh)
{
    auth_identity_t id;
    if (http_account_token(tx, &id) != 0)
        return;
    acct_req_t *r = acct_req_new(ACCT_REQ_GET);
    snprintf(r->id, sizeof r->id, "%s", id.sub);
    r->want_token = refresh;
    http_acct_submit(tx, r, NULL);
}

typedef struct route {
    const char *path;
    http_method_t method;
    int kind; /* 0 register, 1 login, 2 me, 3 password, 4 profile, 5 refresh */
} route_t;

static const route_t routes[] = {
    {"/auth/register", HM_POST, 0},       {"/auth/login", HM_POST, 1},
    {"/auth/me", HM_GET, 2},              {"/auth/change-password", HM_POST, 3},
    {"/auth/profile", HM_PUT, 4},         {"/auth/refresh", HM_POST, 5},
};

int http_accounts_route(http_tx_t *tx, const char *body, size_t len)
{
    if (strncmp(tx->path, "/auth/", 6) != 0)
        return 0;
    const route_t *rt = NULL;
    for (size_t i = 0; i < BRK_ARRAY_LEN(routes); i++)
        if (strcmp(routes[i].path, tx->path) == 0)
            rt = &routes[i];
    if (!rt)
        return 0;
    srv_t *s = tx->srv;
    if (!s->acct) {
        http_respond_error(tx, 404, s->accounts_off ? s->accounts_off
                                                    : "accounts are not enabled here");
        return 1;
    }
    if (tx->method != rt->method) {
        http_respond_error(tx, 405, rt->method == HM_GET    ? "use GET"
                                    : rt->method == HM_PUT  ? "use PUT"
                                                            : "use POST");
        return 1;
    }
    switch (rt->kind) {
    case 0: do_register(tx, body, len); break;
    case 1: do_login(tx, body, len); break;
    case 2: do_me(tx, 0); break;
    case 3: do_change_password(tx, body, len); break;
    case 4: do_profile(tx, body, len); break;
    default: do_me(tx, 1); break;
    }
    wipe_body(tx);
    return 1;
}

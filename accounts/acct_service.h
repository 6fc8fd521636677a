/* SPDX-License-Identifier: MIT */
/* The accounts service: the slow, blocking account operations (yescrypt hashing, storage)
 * on worker threads of their own, for callers on the loop thread. Each worker keeps its own
 * connection to the storage backend (acct_backend.h): the data directory's SQLite database,
 * or MongoDB when a URI is configured (required when several instances must share accounts
 * and classes). A request is a struct the caller
 * fills, submits, and gets back in its done callback on the loop thread; the service never
 * logs a password, a hash or a token, and wipes the request's passwords and token when it is
 * freed.
 *
 * Tokens are minted on the worker through the caller's mint hook, so that the loop never
 * signs (RS256 costs about a millisecond). */
#ifndef RC_ACCT_SERVICE_H
#define RC_ACCT_SERVICE_H

#include "acct_store.h"
#include "class_store.h"
#include "jobq.h"

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

typedef enum {
    ACCT_REQ_REGISTER, /* email, name, role, password -> acct (+ token) */
    ACCT_REQ_LOGIN,    /* email, password -> acct + token; BRK_EAUTH for any mismatch */
    ACCT_REQ_GET,      /* id -> acct (+ token when want_token: a refresh) */
    ACCT_REQ_PASSWORD, /* id, password (the current one), new_password -> acct */
    ACCT_REQ_RENAME,   /* id, name -> acct */
    /* Classes. id is the caller's account, whose stored role decides (teachers manage their
     * classes, admins every class, students join with a code and leave); a caller outside
     * the class gets BRK_ENOTFOUND, as if it did not exist. The mutations (create, join,
     * leave, remove) also return the class's students in roster, for the live registry, and
     * create/join a new token (with the class) in token. */
    ACCT_REQ_CLASS_CREATE, /* id, name, description?, schedule? -> cls, token */
    ACCT_REQ_CLASS_LIST,   /* id -> memberships */
    ACCT_REQ_CLASS_GET,    /* id, class_id -> cls, class_role (+ roster for its staff) */
    ACCT_REQ_CLASS_UPDATE, /* id, class_id, name?, description?, schedule?|clear -> cls */
    ACCT_REQ_CLASS_CODE,   /* id, class_id -> cls with a new join_code */
    ACCT_REQ_CLASS_JOIN,   /* id, code -> cls, token */
    ACCT_REQ_CLASS_LEAVE,  /* id, class_id -> roster */
    ACCT_REQ_CLASS_REMOVE, /* id, class_id, student_id -> roster */
    /* For the live registry, not for a caller (no access check, no account): */
    ACCT_REQ_ROSTER_READ,  /* class_id -> cls, roster (BRK_ENOTFOUND: no such class) */
    ACCT_REQ_ROSTERS_READ, /* -> every class with its members in rosters */
} acct_req_kind_t;

/* One class and its members (ACCT_REQ_ROSTERS_READ). */
typedef struct acct_class_roster {
    class_info_t cls;
    class_member_t *members;
    size_t n;
} acct_class_roster_t;

typedef struct acct_req acct_req_t;
typedef void (*acct_done_cb)(acct_req_t *req, void *ud);

struct acct_req {
    jobq_job_t job; /* the service's; the caller never touches it */
    acct_req_kind_t kind;

    /* Inputs: strings are the request's own (acct_req_set_* copy them). */
    char id[CLASS_TOKEN_ID_MAX + 1]; /* a token's sub, whole: never cut to an account id */
    char *email;
    char *name;
    acct_role_t role;
    char *password;
    size_t password_len;
    char *new_password;
    size_t new_password_len;
    int want_token;
    char class_id[CLASS_TOKEN_ID_MAX + 1];
    char student_id[CLASS_TOKEN_ID_MAX + 1];
    char code[16];
    char *description;     /* NULL: unchanged (update) or none (create) */
    char *schedule;        /* JSON text; NULL: unchanged or none */
    int clear_schedule;    /* update: remove the schedule */

    /* Outputs, valid in the done callback:
     * err: 0; BRK_EAUTH (login: no such email or a wrong password, told apart nowhere;
     *      password change: the current password is wrong; get/rename/password: the account
     *      is gone); BRK_EEXIST (register: the email is taken); BRK_EINVAL or BRK_ETOOBIG
     *      (a bad email, name or password: errmsg says which, never echoing a password);
     *      classes: BRK_ENOTFOUND (no such class, or not the caller's), BRK_ESTATE (the
     *      caller's role does not allow it), BRK_ENOMEM (64 classes already);
     *      BRK_EFULL (too many requests wait: nothing was done); BRK_EIO (storage failed,
     *      or the request waited past the service's max wait: nothing was done).
     * acct: the account, password_hash emptied.
     * token, expires_in: when a token was asked for (login always) and err is 0. */
    int err;
    char errmsg[96];
    acct_t acct;
    char *token;
    int64_t expires_in;
    class_info_t cls;
    class_role_t class_role;       /* the caller's role in cls (GET) */
    int is_staff;                  /* the caller may see the roster and the join code */
    class_membership_t *memberships; /* LIST */
    size_t n_memberships;
    class_member_t *roster;        /* GET (staff), and every mutation: the members */
    size_t n_roster;
    int roster_valid;              /* roster holds the class's members now */
    acct_class_roster_t *rosters;  /* ROSTERS_READ */
    size_t n_rosters;

    acct_done_cb done;
    void *ud;
};

/* A new zeroed request of kind. */
acct_req_t *acct_req_new(acct_req_kind_t kind);
/* Copy s (len bytes, may hold anything) into the request. */
void acct_req_set_email(acct_req_t *r, const char *s, size_t len);
void acct_req_set_name(acct_req_t *r, const char *s, size_t len);
void acct_req_set_password(acct_req_t *r, const char *s, size_t len);
void acct_req_set_new_password(acct_req_t *r, const char *s, size_t len);
void acct_req_set_description(acct_req_t *r, const char *s, size_t len);
void acct_req_set_schedule(acct_req_t *r, const char *s, size_t len);
/* Wipes the passwords and the token, frees everything. NULL is a no-op. */
void acct_req_free(acct_req_t *r);

/* Worker thread: the token for a (its classes: n ids), with *expires_in seconds; a malloc'd
 * string, or NULL when signing failed. */
typedef char *(*acct_mint_fn)(const acct_t *a, const char *const *classes, size_t n,
                              int64_t *expires_in, void *ud);

typedef struct acct_svc_config {
    const char *data_dir;  /* SQLite's directory, when there is no MongoDB URI */
    /* ROLLCALL_MONGODB_URI (borrowed): NULL or "" keeps accounts and classes in SQLite in
     * data_dir; else they live in MongoDB (acct_backend.h), in mongodb_database (NULL or "":
     * the URI's database, else "rollcall"). */
    const char *mongodb_uri;
    const char *mongodb_database;
    unsigned cost;         /* yescrypt cost of new hashes */
    unsigned threads;      /* workers, >= 1 */
    size_t max_waiting;    /* requests waiting before submit refuses (BRK_EFULL) */
    uint64_t max_wait_ms;  /* a request that waited longer is answered BRK_EIO unrun */
    acct_mint_fn mint;     /* required */
    void *mint_ud;
} acct_svc_config_t;

typedef struct acct_svc acct_svc_t;

/* Builds the hasher (one hash at cost, tens of milliseconds), sets the backend up (MongoDB:
 * the client pool, a round trip and the indexes, bounded by the server-selection timeout)
 * and starts the workers, each with its own backend connection. Loop thread, at start-up.
 * Returns 0 and *out, or a BRK_E* code with err (BRK_EINVAL: a bad MongoDB setting; BRK_EIO:
 * storage unreachable or failing). */
int acct_svc_new(uv_loop_t *loop, const acct_svc_config_t *cfg, acct_svc_t **out, char *err,
                 size_t errlen);

/* Queues r; done(r, ud) runs later on the loop thread and then owns r again (it frees it).
 * When the queue is full or shut down, done still runs, on a later loop turn, with err
 * BRK_EFULL. Loop thread. */
void acct_svc_submit(acct_svc_t *s, acct_req_t *r, acct_done_cb done, void *ud);

/* Every class with its members, for the live registry at start-up. Blocking: the loop
 * thread at start-up only. Calls cb once per class; returns 0 or BRK_EIO. */
int acct_svc_load_rosters(acct_svc_t *s,
                          void (*cb)(const class_info_t *cls, const class_member_t *m,
                                     size_t n, void *ud),
                          void *ud);

/* Requests waiting or running. Loop thread. */
size_t acct_svc_pending(const acct_svc_t *s);

/* Lets the queued requests run, then stops the workers; the loop can end once they did.
 * Loop thread. */
void acct_svc_shutdown(acct_svc_t *s);
/* After uv_run() returned. NULL is a no-op. */
void acct_svc_free(acct_svc_t *s);

#endif

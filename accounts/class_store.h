/* SPDX-License-Identifier: MIT */
/* Classes and their rosters as durable records: the classes and class_members tables of the
 * data directory's database file, dir/journal.db, whose schema (version 5 on) the journal's
 * migrate() creates and upgrades (store/journal_schema.c). Like acct_store.h, this module
 * opens a connection of its own to the file with jr_db_open() rather than borrowing the
 * accounts store's: the two stores then have independent lifetimes, and a worker that needs
 * both simply opens both (WAL lets them read side by side). Every function blocks on SQLite
 * (and fsync on writes): run them on a worker thread, never on the loop, and on one thread at
 * a time per store (the connection is not shared between threads). */
#ifndef RC_CLASS_STORE_H
#define RC_CLASS_STORE_H

#include "acct_email.h"
#include "acct_store.h"

#include <stddef.h>
#include <stdint.h>

#define CLASS_ID_SIZE 22        /* "c", 20 hex characters (10 random bytes), the NUL */
#define CLASS_CODE_LEN 6        /* join code characters */
#define CLASS_CODE_SIZE 7       /* CLASS_CODE_LEN and the NUL */
#define CLASS_NAME_MAX 128      /* bytes */
#define CLASS_DESC_MAX 2000     /* bytes */
#define CLASS_SCHEDULE_MAX 4096 /* bytes of JSON text */
/* The longest id a token carries (a class id, or the account id of its subject), in the
 * token alphabet of brk_id_ok(): the same bound as auth.h's AUTH_MAX_ID. */
#define CLASS_TOKEN_ID_MAX 64
/* The most classes one account may belong to: what a token carries (auth.h's
 * AUTH_MAX_CLASSES), so that class_store_class_ids() always fits in one. */
#define CLASS_MAX_PER_ACCOUNT 64
/* The join code alphabet: no 0/O, 1/I/L. */
#define CLASS_CODE_ALPHABET "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

/* A member's role in one class, which is not the account's role (acct_role_t). */
typedef enum {
    CLASS_ROLE_STUDENT = 0,
    CLASS_ROLE_TEACHER,
} class_role_t;

typedef struct class_info {
    char id[CLASS_ID_SIZE];
    char name[CLASS_NAME_MAX + 1];
    char description[CLASS_DESC_MAX + 1];  /* "" when none */
    int has_schedule;                      /* 0: no schedule (NULL in the table) */
    char schedule[CLASS_SCHEDULE_MAX + 1]; /* JSON text when has_schedule, else "" */
    char join_code[CLASS_CODE_SIZE];
    char created_by[CLASS_TOKEN_ID_MAX + 1]; /* account id */
    int64_t created_at_ms;
    int64_t updated_at_ms;
} class_info_t;

/* One class of an account's list (class_store_list_for_account). */
typedef struct class_membership {
    class_info_t cls;
    class_role_t role;
    int64_t joined_at_ms;
} class_membership_t;

/* One line of a roster (class_store_roster): the membership and the account's name and
 * email as the accounts table has them now ("" for a member whose account row is gone). */
typedef struct class_member {
    char account_id[CLASS_TOKEN_ID_MAX + 1];
    char name[ACCT_NAME_MAX + 1];
    char email[ACCT_EMAIL_SIZE];
    class_role_t role;
    int64_t joined_at_ms;
} class_member_t;

/* An account id, in the fixed size a token uses (class_store_student_ids). */
typedef struct class_uid {
    char id[CLASS_TOKEN_ID_MAX + 1];
} class_uid_t;

typedef struct class_store class_store_t;

/* "student", "teacher"; class_role_parse returns 0 and *out, or BRK_EINVAL. */
const char *class_role_name(class_role_t role);
int class_role_parse(const char *s, class_role_t *out);

/* Normalizes a join code as typed: blanks (space, tab, CR, LF) around it are dropped and
 * letters are upper-cased. Writes CLASS_CODE_LEN characters and the NUL into out (at least
 * CLASS_CODE_SIZE bytes) and returns 0, or returns BRK_EINVAL (out "") when what remains is
 * not CLASS_CODE_LEN characters of CLASS_CODE_ALPHABET. Pure; any thread. */
int class_code_normalize(const char *in, char *out, size_t outlen);

/* Opens dir/journal.db (creating both, migrating the schema) and turns foreign keys on for
 * this connection. Returns 0 and *out, or BRK_EIO with a reason in err. */
int class_store_open(const char *dir, class_store_t **out, char *err, size_t errlen);
void class_store_close(class_store_t *s);

/* Creates a class with a new random id and join code, and makes creator_id its teacher, in
 * one transaction. All strings are borrowed. description and schedule_json may be NULL (no
 * description; no schedule); the store checks only the schedule's length, its caller checks
 * that it is JSON. Fills *out (may be NULL). Returns 0; BRK_EINVAL for a creator id outside
 * the token alphabet, an empty name, a name with control characters or a description with
 * control characters other than tab, CR and LF; BRK_ETOOBIG for a name, description or
 * schedule over its limit; BRK_EFULL when the creator already belongs to
 * CLASS_MAX_PER_ACCOUNT classes; BRK_EIO when SQLite or the random source fails, or when
 * every try at a free join code collided (a handful, each a fresh code). */
int class_store_create(class_store_t *s, const char *creator_id, const char *name,
                       const char *description, const char *schedule_json, class_info_t *out);

/* Fill *out. Return 0, BRK_ENOTFOUND, or BRK_EIO. find_by_code normalizes code first
 * (class_code_normalize), and a code that does not normalize is BRK_ENOTFOUND. */
int class_store_get(class_store_t *s, const char *class_id, class_info_t *out);
int class_store_find_by_code(class_store_t *s, const char *code, class_info_t *out);

/* Changes the fields given: name, description and schedule_json when not NULL (borrowed);
 * clear_schedule removes the schedule (BRK_EINVAL together with a schedule_json). Sets
 * updated_at_ms, even when nothing else changes. Fills *out (may be NULL) with the class as
 * it now is. Returns 0, BRK_ENOTFOUND, BRK_EINVAL/BRK_ETOOBIG for a bad value (as create),
 * or BRK_EIO. */
int class_store_update(class_store_t *s, const char *class_id, const char *name,
                       const char *description, const char *schedule_json, int clear_schedule,
                       class_info_t *out);

/* Gives the class a new random join code (the old one stops finding it) and writes it into
 * code (at least CLASS_CODE_SIZE bytes). Returns 0, BRK_ENOTFOUND, or BRK_EIO (as create). */
int class_store_regenerate_code(class_store_t *s, const char *class_id, char *code, size_t codelen);

/* Adds account_id (borrowed; the token alphabet, else BRK_EINVAL) to the class with role.
 * Does not check that the account exists: its caller found it. Returns 0; BRK_EEXIST when it
 * is a member already, its role then in *existing (may be NULL), unchanged; BRK_ENOTFOUND
 * when there is no such class; BRK_EFULL when the account already belongs to
 * CLASS_MAX_PER_ACCOUNT classes; BRK_EINVAL for a bad role; BRK_EIO. */
int class_store_add_member(class_store_t *s, const char *class_id, const char *account_id,
                           class_role_t role, class_role_t *existing);

/* Returns 0, BRK_ENOTFOUND when account_id is no member of the class, or BRK_EIO. Removing
 * the last teacher is allowed: that policy belongs to the caller. */
int class_store_remove_member(class_store_t *s, const char *class_id, const char *account_id);

/* Fills *role (may be NULL). Returns 0, BRK_ENOTFOUND when no member (or no class), BRK_EIO. */
int class_store_membership(class_store_t *s, const char *class_id, const char *account_id,
                           class_role_t *role);

/* The classes account_id belongs to, with its role in each, ordered by name (ASCII case
 * folded, then bytes) then id. Returns 0 with *out a new array of *n entries (free() it; NULL
 * when *n is 0), or BRK_EIO with *out NULL and *n 0. An unknown account has no classes. */
int class_store_list_for_account(class_store_t *s, const char *account_id, class_membership_t **out,
                                 size_t *n);

/* The members of a class, teachers first, then by name (as above) and account id. Returns 0
 * with *out a new array of *n entries (free() it; NULL when *n is 0), BRK_ENOTFOUND when
 * there is no such class, or BRK_EIO; *out NULL and *n 0 on failure. */
int class_store_roster(class_store_t *s, const char *class_id, class_member_t **out, size_t *n);

/* The ids of the classes account_id belongs to, ordered by id, as a token carries them:
 * fills ids[0..*n). Returns 0 (also for none), or BRK_EIO. add_member and create keep an
 * account at CLASS_MAX_PER_ACCOUNT classes at most, so they fit; should another writer have
 * added more, the first CLASS_MAX_PER_ACCOUNT are filled and BRK_EFULL returned. */
int class_store_class_ids(class_store_t *s, const char *account_id,
                          char ids[CLASS_MAX_PER_ACCOUNT][CLASS_TOKEN_ID_MAX + 1], int *n);

/* The account ids of the class's students, ordered by strcmp() (for bsearch), for live
 * enforcement. Returns 0 with *out a new array of *n entries (free() it; NULL when *n is 0),
 * BRK_ENOTFOUND when there is no such class, or BRK_EIO; *out NULL and *n 0 on failure. */
int class_store_student_ids(class_store_t *s, const char *class_id, class_uid_t **out, size_t *n);

/* Every class's id, in id order (the live registry's load at start-up). Returns 0 with *out a
 * new array of *n entries (free() it; NULL when *n is 0), or BRK_EIO. */
int class_store_all_ids(class_store_t *s, class_uid_t **out, size_t *n);

#endif

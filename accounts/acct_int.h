/* SPDX-License-Identifier: MIT */
/* Shared inside accounts/ only: the rules every storage backend applies the same way (what a
 * valid name, description, schedule or member id is; how account ids, class ids and join
 * codes are drawn; the order lists are sorted in), so that the SQLite stores and the MongoDB
 * backend cannot drift apart. Pure functions (the generators read the random source); any
 * thread. */
#ifndef RC_ACCT_INT_H
#define RC_ACCT_INT_H

#include "acct_store.h"
#include "class_store.h"

/* Tries at a free join code before giving up. With 31^6 (about 8.9e8) codes, even a million
 * classes make one collision a 1-in-900 event, so running out of tries means something is
 * wrong with the random source, not bad luck. */
#define ACCT__CODE_TRIES 8

/* An account's display name: 0, BRK_EINVAL (empty, NULL, control characters) or BRK_ETOOBIG
 * (over ACCT_NAME_MAX bytes). */
int acct__check_name(const char *name);

/* A password hash as stored: 0, BRK_EINVAL (empty, NULL) or BRK_ETOOBIG. */
int acct__check_hash(const char *hash);

/* A new account id: the hex of 16 random bytes into out (ACCT_ID_SIZE bytes). 0 or BRK_EIO. */
int acct__new_account_id(char out[ACCT_ID_SIZE]);

/* The fields a class create or update takes; NULL means "not given". 0, BRK_EINVAL or
 * BRK_ETOOBIG, as class_store.h documents them. */
int acct__check_class_fields(const char *name, const char *description, const char *schedule);

/* A class about to be created, its fields checked (as acct__check_class_fields, and the
 * creator's id): 0 and *out, a new zeroed class_info_t on the heap (large: a schedule's worth
 * of text, not for a worker's stack) with name, description, schedule, created_by and both
 * times set (no id or join code yet; the caller frees it); or BRK_EINVAL / BRK_ETOOBIG. */
int acct__new_class(const char *creator_id, const char *name, const char *description,
                    const char *schedule_json, class_info_t **out);

/* 1 when id is a member (account) id in the token alphabet, else 0 (also for NULL). */
int acct__member_id_ok(const char *id);

/* A new class id ("c" and 20 hex characters) into out (CLASS_ID_SIZE bytes). 0 or BRK_EIO. */
int acct__new_class_id(char out[CLASS_ID_SIZE]);

/* A new join code (CLASS_CODE_LEN characters of CLASS_CODE_ALPHABET, each uniform) into out
 * (CLASS_CODE_SIZE bytes). 0 or BRK_EIO. */
int acct__new_join_code(char out[CLASS_CODE_SIZE]);

/* The order of names in lists, as SQLite's "ORDER BY x COLLATE NOCASE, x" sorts them: ASCII
 * letters folded to lower case, compared as unsigned bytes (a prefix first), then the bytes
 * unfolded. <0, 0 or >0. */
int acct__name_cmp(const char *a, const char *b);

#endif

/* SPDX-License-Identifier: MIT */
/* The live registry of class rosters: for every class made through the accounts (the
 * classes table), the students on its roster, in memory on the loop thread. The handlers ask
 * it whether a student may be in a class's channel, whose marks to accept and whom
 * TODAY_SUMMARY and DONE must list; the broker fills it at start-up from the class store and
 * replaces a class's roster after every change the accounts service made. A class the
 * registry does not know has no roster: anyone its tokens name may be in it (deployments
 * whose tokens come from elsewhere). Loop thread only. */
#ifndef RC_ROSTER_H
#define RC_ROSTER_H

#include "class_store.h"

#include <stddef.h>

typedef struct roster {
    char class_id[CLASS_TOKEN_ID_MAX + 1];
    char name[CLASS_NAME_MAX + 1]; /* the class's name */
    size_t n;     /* students */
    char **ids;   /* sorted by strcmp */
    char **names; /* names[i] is ids[i]'s display name ("" when none) */
} roster_t;

typedef struct roster_reg roster_reg_t;

roster_reg_t *roster_reg_new(void);
void roster_reg_free(roster_reg_t *g);

/* Sets class_id's roster to the students among members (teachers are left out), and its
 * name (NULL keeps the name it had). */
void roster_reg_set(roster_reg_t *g, const char *class_id, const char *name,
                    const class_member_t *members, size_t n);

/* Renames a class the registry knows; nothing happens for another. */
void roster_reg_rename(roster_reg_t *g, const char *class_id, const char *name);

/* class_id's roster, or NULL when the class has none. Valid until the next set. */
const roster_t *roster_reg_get(const roster_reg_t *g, const char *class_id);

/* 1 when student_id is on r (r may be NULL: no roster admits everyone). */
int roster_admits(const roster_t *r, const char *student_id);

/* Classes known. */
size_t roster_reg_size(const roster_reg_t *g);

#endif

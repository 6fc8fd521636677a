/* SPDX-License-Identifier: MIT */
/* The Redis live-state engine: the st_* API (state/state.h) over a shared Redis, so that
 * several broker instances serve the same classes. Every operation is one Lua script
 * (redis/lua/<name>.lua, embedded at build time) run with EVALSHA (EVAL when Redis answers
 * NOSCRIPT), with the keys it touches passed in KEYS, so each read-modify-write is atomic:
 * a mark is refused once the session is frozen, a session opens once, a freeze happens
 * once. Presence is counted per instance; an instance refreshes a heartbeat key with a TTL
 * and the others sweep the presence of an instance whose heartbeat expired. The sweep is
 * the one operation in several steps: plain reads find the dead instances and their
 * classes, then one script per (instance, class) removes that presence atomically.
 *
 * Keys (all of one class share the hash tag {class_id}; they expire 50 h after the last
 * write, so a day's state outlives the day):
 *   rc:{C}:sess          hash: date, state (0 none, 1 active, 2 finalized), session_id,
 *                        teacher_id, started_at, ended_at, ended_date
 *   rc:{C}:stu           hash: student_id -> JSON record (name, mark, engagement counters)
 *   rc:{C}:pres:<inst>   hash: student_id -> connections on instance <inst>
 *   rc:{C}:online        hash: student_id -> connections on every instance (the sums)
 *   rc:{C}:insts         set of instances that count presence in the class
 *   rc:{C}:ann:<session> the finalize announcement claim (SET NX)
 *   rc:inst:<inst>       heartbeat (PX presence TTL); rc:inst:<inst>:classes its classes
 *   rc:inst:<inst>:swept set by a sweep that removed presence of <inst>, cleared by the
 *                        next heartbeat of <inst>
 *   rc:instances         set of every instance that registered
 *
 * Loop thread only; never blocks. Callbacks run from rds reply callbacks (later than the
 * call), except that invalid arguments are refused synchronously as the memory engine
 * does. An unreachable Redis gives BRK_ECLOSED; an error reply BRK_EIO. */
#ifndef ST_REDIS_H
#define ST_REDIS_H

#include "rds.h"
#include "state.h"

#define ST_REDIS_INSTANCE_ID 33 /* 32 hex characters and the NUL */

/* Creates the engine over rds (borrowed: it must outlive the engine, and be closed before
 * st_free(), which fails nothing by itself). instance_id (copied) names this process in
 * the presence keys. */
st_t *st_redis_new(rds_client_t *rds, const char *instance_id);

/* known is 0 when this instance was not registered (it is new), or when another instance
 * swept it as dead since its last heartbeat (the heartbeat had lapsed, or was read as
 * lapsed): its presence must then be asserted again (st_redis_sync). */
typedef void (*st_redis_heartbeat_cb)(int err, int known, void *ud);

/* Refreshes this instance's heartbeat key with a TTL of ttl_ms and registers it. */
void st_redis_heartbeat(st_t *st, int64_t ttl_ms, st_redis_heartbeat_cb cb, void *ud);

/* A student whose presence changed through a sweep or a sync. */
typedef struct st_redis_change {
    const char *class_id;
    const char *student_id;
    const char *name;
    int online; /* 1: now online, 0: now offline */
    int online_students; /* the class's online students after the change */
} st_redis_change_t;

/* err, then n changes (borrowed, valid during the call). n is 0 when err is set, except
 * for a sweep (st_redis_sweep). */
typedef void (*st_redis_changes_cb)(int err, const st_redis_change_t *ch, size_t n, void *ud);

/* Removes the presence of every other instance whose heartbeat expired and reports the
 * students who thereby went offline, all in one call of cb after the sweep's last round
 * trip (it takes several: see st_redis.c). Each such change is reported to exactly one
 * sweeping instance, even when several sweep at once. When a step failed, err is its code
 * and ch still holds the changes made before it: they are done in Redis and reported to
 * nobody else. An instance not swept completely stays registered, and the next sweep
 * finishes it. */
void st_redis_sweep(st_t *st, st_redis_changes_cb cb, void *ud);

/* Replaces this instance's presence counts in class_id with n (student, connections,
 * name) entries, after Redis came back: it reports the students that went online (their
 * count had been swept while this instance could not refresh its heartbeat) or offline
 * (they left during the outage). */
void st_redis_sync(st_t *st, const char *class_id, size_t n, const char *const *student_ids,
                   const int *counts, const char *const *names, int64_t now_ms,
                   st_redis_changes_cb cb, void *ud);

#endif

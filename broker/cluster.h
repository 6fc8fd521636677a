/* SPDX-License-Identifier: MIT */
/* Several instances, one classroom: when ROLLCALL_REDIS_URL is set, the broker keeps its
 * live state in Redis (redis/st_redis.c) and fans class events out to the other instances
 * over Redis pub/sub, one channel per class, subscribed while this instance has a member in
 * that class. It also keeps this instance's presence heartbeat, sweeps the presence of dead
 * instances (PRESENCE offline for their students), re-asserts its own presence after an
 * outage, and tells /readyz whether Redis is reachable. Loop thread only. */
#ifndef BRK_CLUSTER_H
#define BRK_CLUSTER_H

#include "msg.h"
#include "srv.h"

#include <stddef.h>

/* Checks a ROLLCALL_REDIS_URL before anything starts; 0, or BRK_EINVAL with a reason. */
int clu_check_url(const char *url, char *err, size_t errlen);

/* Connects to s->cfg->redis_url and installs the Redis engine as s->st. The URL must have
 * passed clu_check_url(). Returns 0 or a BRK_E* code. */
int clu_start(srv_t *s);

/* Starts closing the Redis client and the timers (from the drain's finish). Requests in
 * flight fail (their handlers answer UNAVAILABLE or drop the result). */
void clu_stop(srv_t *s);

/* Frees what is left once the loop has stopped (after st_free(s->st)). */
void clu_free(srv_t *s);

/* 1 when no Redis is configured or Redis is reachable. */
int clu_ready(const srv_t *s);

/* Rosters (accounts with several instances): watch subscribes this instance to the roster
 * channel; changed tells the other instances that class_id's roster changed in the shared
 * store, and each calls srv_roster_stale() for it (srv_rosters_stale() for every class after
 * an outage). No-ops without Redis. */
void clu_rosters_watch(srv_t *s);
void clu_roster_changed(srv_t *s, const char *class_id);

/* Room life cycle: the first member of a class on this instance subscribes its channel,
 * the last one to leave unsubscribes it. No-ops without Redis. */
void clu_room_opened(srv_t *s, const char *class_id);
void clu_room_closed(srv_t *s, const char *class_id);

/* Sends m to the other instances' members of class_id selected by to (ROOM_TO_*); subject
 * is the student of ROOM_TO_SUBJECT (borrowed, NULL without it). The local members are
 * served by room_publish_about(), which calls this. */
void clu_publish(srv_t *s, const char *class_id, const evt_msg_t *m, int to, const char *subject);

#endif

/* SPDX-License-Identifier: MIT */
/* The Redis engine's Lua scripts, embedded at build time: redis/lua/embed.cmake turns each
 * redis/lua/<name>.lua (with the preludes its header names in front) into one constant
 * string of the generated st_redis_lua.c. Internal to the engine and its tests. */
#ifndef ST_REDIS_LUA_H
#define ST_REDIS_LUA_H

#include <stddef.h>

typedef struct st_redis__script {
    const char *name; /* the file name without .lua: "presence" */
    const char *text; /* the whole text sent to Redis, NUL-terminated */
    size_t len;       /* strlen(text) */
    const char *sha;  /* its SHA-1 in lower-case hex, as SCRIPT LOAD answers and EVALSHA takes */
} st_redis__script_t;

/* Every script, sorted by name; st_redis__n_scripts entries. Static storage, never freed. */
extern const st_redis__script_t st_redis__scripts[];
extern const size_t st_redis__n_scripts;

#endif

/* SPDX-License-Identifier: MIT */
/* The Redis live-state engine (see st_redis.h for the key layout). Each st_* operation is
 * one Lua script, so every decision that depends on what is stored (is the session frozen?
 * is this the first connection of the student anywhere?) is taken inside Redis, atomically
 * with the write. Day roll-over follows the memory engine (state/memory.c, is_past). The
 * scripts touch keys derived from the class id, which standalone Redis allows; on Redis
 * Cluster every key of a class carries the same hash tag {class_id}. */
#include "st_redis.h"

#include "brk.h"
#include "log.h"
#include "state_int.h"

#include <jansson.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ST_MAX_STUDENTS 10000
#define STR_(x) #x
#define XSTR(x) STR_(x)

/* ---- scripts ---- */

/* Shared by every class script: ARGV[1] is the class id. */
static const char lua_prelude[] =
    "local TTL = 180000\n"
    "local ME = ''\n"
    /* student_id -> connections over every instance (rc:{C}:online holds the sums; the
     * per-instance hashes say what to subtract when an instance dies) */
    "local function online_map(pre)\n"
    "  local m = {}\n"
    "  local h = redis.call('HGETALL', pre .. 'online')\n"
    "  for i = 1, #h, 2 do\n"
    "    if tonumber(h[i + 1]) > 0 then m[h[i]] = tonumber(h[i + 1]) end\n"
    "  end\n"
    "  return m\n"
    "end\n"
    /* adds d to a student's connection sum; returns the sum before and after */
    "local function add_online(pre, sid, d)\n"
    "  local O = pre .. 'online'\n"
    "  local after = redis.call('HINCRBY', O, sid, d)\n"
    "  if after <= 0 then redis.call('HDEL', O, sid) end\n"
    "  redis.call('EXPIRE', O, TTL)\n"
    "  return after - d, after\n"
    "end\n"
    "local function n_online(pre)\n"
    "  return redis.call('HLEN', pre .. 'online')\n"
    "end\n"
    "local cid = ARGV[1]\n"
    "local pre = 'rc:{' .. cid .. '}:'\n"
    "local S, U, I = pre .. 'sess', pre .. 'stu', pre .. 'insts'\n"
    "local function get_sess()\n"
    "  local h = redis.call('HGETALL', S)\n"
    "  local s = {}\n"
    "  for i = 1, #h, 2 do s[h[i]] = h[i + 1] end\n"
    "  return s\n"
    "end\n"
    "local function pack(s)\n"
    "  return {s.date or '', s.state or '0', s.session_id or '', s.teacher_id or '',\n"
    "          s.started_at or '0', s.ended_at or '0'}\n"
    "end\n"
    "local function touch()\n"
    "  redis.call('EXPIRE', S, TTL)\n"
    "  redis.call('EXPIRE', U, TTL)\n"
    "end\n"
    "local function newstu(name, now)\n"
    "  return {n = name, m = 0, mb = '', ma = 0, fs = now, e = 0, f = 0, lf = 0,\n"
    "          v1 = 0, v2 = 0, v3 = 0}\n"
    "end\n"
    /* The class as of day `today`: a past day is rolled over (online students stay with
     * their day's data cleared), except an active session, and a session finalized today
     * when only reading. create writes the day of an unknown class. */
    "local function current(today, now, for_write, create)\n"
    "  local s = get_sess()\n"
    "  if s.date == nil then\n"
    "    if create then\n"
    "      redis.call('HSET', S, 'date', today, 'state', '0')\n"
    "      touch()\n"
    "    end\n"
    "    return {date = today, state = '0'}\n"
    "  end\n"
    "  if s.state == '1' or s.date == today then return s end\n"
    "  if s.state == '2' and not for_write and s.ended_date == today then return s end\n"
    "  local on = online_map(pre)\n"
    "  local all = redis.call('HGETALL', U)\n"
    "  redis.call('DEL', U, S)\n"
    "  for i = 1, #all, 2 do\n"
    "    if on[all[i]] then\n"
    "      local o = cjson.decode(all[i + 1])\n"
    "      redis.call('HSET', U, all[i], cjson.encode(newstu(o.n or '', now)))\n"
    "    end\n"
    "  end\n"
    "  redis.call('HSET', S, 'date', today, 'state', '0')\n"
    "  touch()\n"
    "  return {date = today, state = '0'}\n"
    "end\n"
    "local function register(me)\n"
    "  redis.call('SADD', I, me)\n"
    "  redis.call('EXPIRE', I, TTL)\n"
    "  redis.call('SADD', 'rc:inst:' .. me .. ':classes', cid)\n"
    "  redis.call('EXPIRE', 'rc:inst:' .. me .. ':classes', TTL)\n"
    "  redis.call('SADD', 'rc:instances', me)\n"
    "end\n";

/* ARGV: class, teacher, now, today, new session id */
static const char lua_open[] =
    "local now = tonumber(ARGV[3])\n"
    "local s = current(ARGV[4], now, true, true)\n"
    "if s.state == '1' then return {0, pack(s), 0} end\n"
    "if s.state == '2' then return {-1, pack(s), 0} end\n"
    "redis.call('HSET', S, 'state', '1', 'session_id', ARGV[5], 'teacher_id', ARGV[2],\n"
    "           'started_at', ARGV[3], 'ended_at', '0')\n"
    "touch()\n"
    "return {0, pack(get_sess()), 1}\n";

/* ARGV: class, student, name, mark, by, now, today, new session id */
static const char lua_mark[] =
    "local sid, name, now = ARGV[2], ARGV[3], tonumber(ARGV[6])\n"
    "local s = current(ARGV[7], now, true, true)\n"
    "if s.state == '2' then return {-1, pack(s), 0} end\n"
    "local raw = redis.call('HGET', U, sid)\n"
    "local o\n"
    "if raw then\n"
    "  o = cjson.decode(raw)\n"
    "  if name ~= '' then o.n = name end\n"
    "else\n"
    "  if redis.call('HLEN', U) >= " XSTR(ST_MAX_STUDENTS) " then return {-2, pack(s), 0} end\n"
    "  o = newstu(name, now)\n"
    "end\n"
    "local created = 0\n"
    "if s.state == '0' then\n"
    "  redis.call('HSET', S, 'state', '1', 'session_id', ARGV[8], 'teacher_id', ARGV[5],\n"
    "             'started_at', ARGV[6], 'ended_at', '0')\n"
    "  created = 1\n"
    "end\n"
    "o.m = tonumber(ARGV[4])\n"
    "o.mb = ARGV[5]\n"
    "o.ma = now\n"
    "redis.call('HSET', U, sid, cjson.encode(o))\n"
    "touch()\n"
    "return {0, pack(get_sess()), created}\n";

/* ARGV: class, student, name, delta, now, today, instance */
static const char lua_presence[] =
    "ME = ARGV[7]\n"
    "local sid, name, delta, now = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "if delta < 0 and redis.call('EXISTS', S) == 0 then return {0, 0, 0} end\n"
    "current(ARGV[6], now, false, delta > 0)\n"
    "local P = pre .. 'pres:' .. ME\n"
    "local raw = redis.call('HGET', U, sid)\n"
    "local before, after = 0, 0\n"
    "if delta > 0 then\n"
    "  if not raw then\n"
    "    if redis.call('HLEN', U) >= " XSTR(ST_MAX_STUDENTS) " then\n"
    "      return {-2, 0, n_online(pre)}\n"
    "    end\n"
    "    redis.call('HSET', U, sid, cjson.encode(newstu(name, now)))\n"
    "  end\n"
    "  redis.call('HINCRBY', P, sid, 1)\n"
    "  redis.call('EXPIRE', P, TTL)\n"
    "  register(ME)\n"
    "  before, after = add_online(pre, sid, 1)\n"
    "else\n"
    "  local mine = tonumber(redis.call('HGET', P, sid) or '0')\n"
    "  if mine > 0 then\n"
    "    if mine == 1 then redis.call('HDEL', P, sid)\n"
    "    else redis.call('HINCRBY', P, sid, -1) end\n"
    "    before, after = add_online(pre, sid, -1)\n"
    "  end\n"
    "end\n"
    "if raw and name ~= '' then\n"
    "  local o = cjson.decode(raw)\n"
    "  if o.n ~= name then\n"
    "    o.n = name\n"
    "    redis.call('HSET', U, sid, cjson.encode(o))\n"
    "  end\n"
    "end\n"
    "touch()\n"
    "local changed = 0\n"
    "if (before > 0) ~= (after > 0) then changed = 1 end\n"
    "return {0, changed, n_online(pre)}\n";

/* ARGV: class, now, today */
static const char lua_view[] =
    "local s = current(ARGV[3], tonumber(ARGV[2]), false, false)\n"
    "local on = online_map(pre)\n"
    "local all = redis.call('HGETALL', U)\n"
    "local out = {}\n"
    "for i = 1, #all, 2 do\n"
    "  out[#out + 1] = all[i]\n"
    "  out[#out + 1] = all[i + 1]\n"
    "  out[#out + 1] = on[all[i]] or 0\n"
    "end\n"
    "return {0, pack(s), out}\n";

/* ARGV: class, now, today */
static const char lua_session[] = "return {0, pack(current(ARGV[3], tonumber(ARGV[2]), false, false)), 0}\n";

/* ARGV: class, session id, ended_at, ended_date. No roll-over: a repeated finalize of
 * yesterday's session must still find it. */
static const char lua_finalize[] =
    "local s = get_sess()\n"
    "if s.date == nil then return {-1, {'', '0', '', '', '0', '0'}, 0} end\n"
    "if s.state == '0' or s.session_id ~= ARGV[2] then return {-1, pack(s), 0} end\n"
    "local froze = 0\n"
    "if s.state == '1' then\n"
    "  redis.call('HSET', S, 'state', '2', 'ended_at', ARGV[3], 'ended_date', ARGV[4])\n"
    "  touch()\n"
    "  froze = 1\n"
    "end\n"
    "return {0, pack(get_sess()), froze}\n";

/* ARGV: class, student, name, engaged (0/1), cap seconds, violation, frame time, now, today.
 * The credit rule is st__frame_credit's (state_int.h), applied here atomically so frames of
 * one student on several connections or instances earn each gap once. */
static const char lua_engage[] =
    "local sid, name, now = ARGV[2], ARGV[3], tonumber(ARGV[8])\n"
    "local s = current(ARGV[9], now, false, false)\n"
    "if s.state ~= '1' then return {-1} end\n"
    "local raw = redis.call('HGET', U, sid)\n"
    "local o\n"
    "if raw then o = cjson.decode(raw)\n"
    "else\n"
    "  if redis.call('HLEN', U) >= " XSTR(ST_MAX_STUDENTS) " then return {-2} end\n"
    "  o = newstu(name, now)\n"
    "end\n"
    "local at, lf = tonumber(ARGV[7]), tonumber(o.lf or 0)\n"
    "if ARGV[4] == '1' and lf > 0 and at > lf then\n"
    "  local gap = (at - lf) / 1000\n"
    "  local cap = tonumber(ARGV[5])\n"
    "  if gap > cap then gap = cap end\n"
    "  o.e = (o.e or 0) + gap\n"
    "end\n"
    "o.f = (o.f or 0) + 1\n"
    "if at > lf then o.lf = at end\n"
    "local v = tonumber(ARGV[6])\n"
    "if v == 1 then o.v1 = (o.v1 or 0) + 1\n"
    "elseif v == 2 then o.v2 = (o.v2 or 0) + 1\n"
    "elseif v == 3 then o.v3 = (o.v3 or 0) + 1 end\n"
    "local enc = cjson.encode(o)\n"
    "redis.call('HSET', U, sid, enc)\n"
    "touch()\n"
    "local on = tonumber(redis.call('HGET', pre .. 'online', sid) or '0')\n"
    "return {0, pack(s), enc, on}\n";

/* ARGV: class, instance, now, today, then (student, connections, name) triples */
static const char lua_sync[] =
    "ME = ARGV[2]\n"
    "local now = tonumber(ARGV[3])\n"
    "current(ARGV[4], now, false, true)\n"
    "local P = pre .. 'pres:' .. ME\n"
    "local delta, names = {}, {}\n"
    "local old = redis.call('HGETALL', P)\n"
    "for i = 1, #old, 2 do delta[old[i]] = -tonumber(old[i + 1]) end\n"
    "redis.call('DEL', P)\n"
    "for i = 5, #ARGV, 3 do\n"
    "  local sid = ARGV[i]\n"
    "  names[sid] = ARGV[i + 2]\n"
    "  delta[sid] = (delta[sid] or 0) + tonumber(ARGV[i + 1])\n"
    "  redis.call('HSET', P, sid, ARGV[i + 1])\n"
    "  if redis.call('HEXISTS', U, sid) == 0 then\n"
    "    redis.call('HSET', U, sid, cjson.encode(newstu(ARGV[i + 2], now)))\n"
    "  end\n"
    "end\n"
    "redis.call('EXPIRE', P, TTL)\n"
    "register(ME)\n"
    "touch()\n"
    "local out = {}\n"
    "for sid, d in pairs(delta) do\n"
    "  if d ~= 0 then\n"
    "    local before, after = add_online(pre, sid, d)\n"
    "    if (before > 0) ~= (after > 0) then\n"
    "      local nm = names[sid]\n"
    "      if not nm then\n"
    "        local raw = redis.call('HGET', U, sid)\n"
    "        nm = raw and (cjson.decode(raw).n or '') or ''\n"
    "      end\n"
    "      out[#out + 1] = sid; out[#out + 1] = nm; out[#out + 1] = after > 0 and 1 or 0\n"
    "    end\n"
    "  end\n"
    "end\n"
    "local n = n_online(pre)\n"
    "local res = {}\n"
    "for i = 1, #out, 3 do\n"
    "  res[#res + 1] = cid; res[#res + 1] = out[i]; res[#res + 1] = out[i + 1]\n"
    "  res[#res + 1] = out[i + 2]; res[#res + 1] = n\n"
    "end\n"
    "return res\n";

/* ARGV: instance, ttl ms. No prelude. */
static const char lua_heartbeat[] =
    "local known = redis.call('SISMEMBER', 'rc:instances', ARGV[1])\n"
    "redis.call('SET', 'rc:inst:' .. ARGV[1], '1', 'PX', ARGV[2])\n"
    "redis.call('SADD', 'rc:instances', ARGV[1])\n"
    "return known\n";

/* ARGV: instance. Uses the prelude's helpers (its class is a dummy). */
static const char lua_sweep[] =
    "ME = ARGV[1]\n"
    "local out = {}\n"
    "for _, inst in ipairs(redis.call('SMEMBERS', 'rc:instances')) do\n"
    "  if inst ~= ME and redis.call('EXISTS', 'rc:inst:' .. inst) == 0 then\n"
    "    local CK = 'rc:inst:' .. inst .. ':classes'\n"
    "    for _, c in ipairs(redis.call('SMEMBERS', CK)) do\n"
    "      local p = 'rc:{' .. c .. '}:'\n"
    "      local h = redis.call('HGETALL', p .. 'pres:' .. inst)\n"
    "      redis.call('DEL', p .. 'pres:' .. inst)\n"
    "      redis.call('SREM', p .. 'insts', inst)\n"
    "      local gone = {}\n"
    "      for i = 1, #h, 2 do\n"
    "        local before, after = add_online(p, h[i], -tonumber(h[i + 1]))\n"
    "        if before > 0 and after <= 0 then gone[#gone + 1] = h[i] end\n"
    "      end\n"
    "      local n = n_online(p)\n"
    "      for _, sid in ipairs(gone) do\n"
    "        local raw = redis.call('HGET', p .. 'stu', sid)\n"
    "        local nm = ''\n"
    "        if raw then nm = cjson.decode(raw).n or '' end\n"
    "        out[#out + 1] = c; out[#out + 1] = sid; out[#out + 1] = nm\n"
    "        out[#out + 1] = 0; out[#out + 1] = n\n"
    "      end\n"
    "    end\n"
    "    redis.call('DEL', CK)\n"
    "    redis.call('SREM', 'rc:instances', inst)\n"
    "  end\n"
    "end\n"
    "return out\n";

typedef enum {
    SC_OPEN = 0,
    SC_MARK,
    SC_PRESENCE,
    SC_VIEW,
    SC_FINALIZE,
    SC_ENGAGE,
    SC_SYNC,
    SC_HEARTBEAT,
    SC_SWEEP,
    SC_SESSION,
    SC__COUNT
} script_t;

static const struct {
    const char *body;
    int prelude;
} script_src[SC__COUNT] = {
    [SC_OPEN] = {lua_open, 1},         [SC_MARK] = {lua_mark, 1},
    [SC_PRESENCE] = {lua_presence, 1}, [SC_VIEW] = {lua_view, 1},
    [SC_FINALIZE] = {lua_finalize, 1}, [SC_ENGAGE] = {lua_engage, 1},
    [SC_SYNC] = {lua_sync, 1},         [SC_HEARTBEAT] = {lua_heartbeat, 0},
    [SC_SWEEP] = {lua_sweep, 1},       [SC_SESSION] = {lua_session, 1},
};

typedef struct rst {
    st_t base;
    rds_client_t *rds;
    char inst[ST_REDIS_INSTANCE_ID];
    char *text[SC__COUNT];
    char sha[SC__COUNT][41];
} rst_t;

typedef enum { OP_OPEN, OP_MARK, OP_SESSION, OP_PRESENCE, OP_VIEW, OP_FINAL, OP_ENGAGE, OP_CLAIM, OP_HB,
               OP_SWEEP, OP_SYNC } op_t;

typedef struct rreq {
    rst_t *e;
    op_t op;
    script_t script;
    int retried;
    int argc;
    char **argv; /* EVALSHA sha 0 args... (owned copies) */
    size_t *lens;
    union {
        st_session_cb ses;
        st_presence_cb pres;
        st_view_cb view;
        st_student_cb stu;
        st_claim_cb claim;
        st_redis_heartbeat_cb hb;
        st_redis_changes_cb changes;
    } cb;
    void *ud;
    char class_id[ST_ID];
    int64_t now_ms;
} rreq_t;

/* ---- helpers ---- */


static void today(int64_t now_ms, char out[11])
{
    brk_date(now_ms, out, 11);
}

static void req_free(rreq_t *q)
{
    for (int i = 0; i < q->argc; i++)
        free(q->argv[i]);
    free(q->argv);
    free(q->lens);
    free(q);
}

static rreq_t *req_new(rst_t *e, op_t op, const char *class_id, int64_t now_ms, void *ud)
{
    rreq_t *q = brk_calloc(1, sizeof *q);
    q->e = e;
    q->op = op;
    q->ud = ud;
    q->now_ms = now_ms;
    st__copy_str(q->class_id, sizeof q->class_id, class_id);
    return q;
}

static void on_reply(const redisReply *reply, const char *err, void *ud);

static void send_req(rreq_t *q)
{
    rds_command_argv(q->e->rds, on_reply, q, q->argc, (const char **)q->argv, q->lens);
}

/* Runs script sc with args (C strings) through EVALSHA. */
static void run_script(rreq_t *q, script_t sc, int nargs, const char *const *args)
{
    rst_t *e = q->e;
    q->script = sc;
    q->argc = nargs + 3;
    q->argv = brk_calloc((size_t)q->argc, sizeof *q->argv);
    q->lens = brk_calloc((size_t)q->argc, sizeof *q->lens);
    q->argv[0] = brk_strdup("EVALSHA");
    q->argv[1] = brk_strdup(e->sha[sc]);
    q->argv[2] = brk_strdup("0");
    for (int i = 0; i < nargs; i++)
        q->argv[3 + i] = brk_strdup(args[i]);
    for (int i = 0; i < q->argc; i++)
        q->lens[i] = strlen(q->argv[i]);
    send_req(q);
}

static int64_t int_of(const redisReply *r)
{
    if (!r)
        return 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return (int64_t)r->integer;
    if (r->type == REDIS_REPLY_STRING)
        return (int64_t)strtoll(r->str, NULL, 10);
    return 0;
}

static const char *str_of(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_STRING ? r->str : "";
}

static int code_err(int64_t code)
{
    switch (code) {
    case 0: return 0;
    case -1: return BRK_ESTATE;
    case -2: return BRK_ENOMEM;
    default: return BRK_EIO;
    }
}

/* Fills s from a packed session {date, state, id, teacher, started, ended}. */
static int parse_session(const redisReply *p, const char *class_id, int64_t now_ms,
                         st_session_t *s)
{
    memset(s, 0, sizeof *s);
    st__copy_str(s->class_id, sizeof s->class_id, class_id);
    if (!p || p->type != REDIS_REPLY_ARRAY || p->elements < 6)
        return BRK_EIO;
    st__copy_str(s->date, sizeof s->date, str_of(p->element[0]));
    if (!s->date[0])
        today(now_ms, s->date);
    int64_t state = int_of(p->element[1]);
    s->state = state == 1 ? ST_SESSION_ACTIVE
                          : state == 2 ? ST_SESSION_FINALIZED : ST_SESSION_NONE;
    if (s->state != ST_SESSION_NONE) {
        st__copy_str(s->session_id, sizeof s->session_id, str_of(p->element[2]));
        st__copy_str(s->teacher_id, sizeof s->teacher_id, str_of(p->element[3]));
        s->started_at_ms = int_of(p->element[4]);
        s->ended_at_ms = int_of(p->element[5]);
    }
    return 0;
}

static int64_t jint(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_number(v) ? (int64_t)json_number_value(v) : 0;
}

/* Fills st from a stored student record. */
static int parse_student(const char *sid, const char *json, size_t len, int64_t online,
                         st_student_t *st)
{
    memset(st, 0, sizeof *st);
    json_t *o = json_loadb(json, len, 0, NULL);
    if (!json_is_object(o)) {
        json_decref(o);
        return BRK_EIO;
    }
    st__copy_str(st->student_id, sizeof st->student_id, sid);
    st__copy_str(st->name, sizeof st->name, json_string_value(json_object_get(o, "n")));
    int64_t m = jint(o, "m");
    st->mark = m >= ST_MARK_PRESENT && m <= ST_MARK_LATE ? (st_mark_t)m : ST_MARK_NONE;
    st__copy_str(st->marked_by, sizeof st->marked_by, json_string_value(json_object_get(o, "mb")));
    st->marked_at_ms = jint(o, "ma");
    st->online = (int)online;
    st->first_seen_ms = jint(o, "fs");
    const json_t *e = json_object_get(o, "e");
    st->engaged_seconds = json_is_number(e) ? json_number_value(e) : 0.0;
    st->frames_analyzed = jint(o, "f");
    st->last_frame_ms = jint(o, "lf");
    st->violations_no_face = (int32_t)jint(o, "v1");
    st->violations_multi_face = (int32_t)jint(o, "v2");
    st->violations_looking_away = (int32_t)jint(o, "v3");
    json_decref(o);
    return 0;
}

static int cmp_student(const void *a, const void *b)
{
    return strcmp(((const st_student_t *)a)->student_id, ((const st_student_t *)b)->student_id);
}

/* ---- replies ---- */

static void fail_req(rreq_t *q, int err)
{
    switch (q->op) {
    case OP_OPEN:
    case OP_MARK:
    case OP_SESSION:
    case OP_FINAL:
        if (q->cb.ses)
            q->cb.ses(err, NULL, 0, q->ud);
        break;
    case OP_PRESENCE:
        if (q->cb.pres)
            q->cb.pres(err, 0, 0, q->ud);
        break;
    case OP_VIEW:
        if (q->cb.view)
            q->cb.view(err, NULL, q->ud);
        break;
    case OP_ENGAGE:
        if (q->cb.stu)
            q->cb.stu(err, NULL, NULL, q->ud);
        break;
    case OP_CLAIM:
        if (q->cb.claim)
            q->cb.claim(err, 0, q->ud);
        break;
    case OP_HB:
        if (q->cb.hb)
            q->cb.hb(err, 0, q->ud);
        break;
    case OP_SWEEP:
    case OP_SYNC:
        if (q->cb.changes)
            q->cb.changes(err, NULL, 0, q->ud);
        break;
    }
}

static void done_session(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3) {
        fail_req(q, BRK_EIO);
        return;
    }
    int err = code_err(int_of(r->element[0]));
    st_session_t s;
    int perr = parse_session(r->element[1], q->class_id, q->now_ms, &s);
    if (perr) {
        fail_req(q, perr);
        return;
    }
    if (q->cb.ses)
        q->cb.ses(err, err == BRK_ENOMEM ? NULL : &s, (int)int_of(r->element[2]), q->ud);
}

static void done_view(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[2]->type != REDIS_REPLY_ARRAY) {
        fail_req(q, BRK_EIO);
        return;
    }
    st_view_t v;
    memset(&v, 0, sizeof v);
    if (parse_session(r->element[1], q->class_id, q->now_ms, &v.session) != 0) {
        fail_req(q, BRK_EIO);
        return;
    }
    const redisReply *a = r->element[2];
    size_t n = a->elements / 3;
    st_student_t *studs = n ? brk_calloc(n, sizeof *studs) : NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const redisReply *sid = a->element[3 * i], *js = a->element[3 * i + 1];
        if (sid->type != REDIS_REPLY_STRING || js->type != REDIS_REPLY_STRING)
            continue;
        if (parse_student(sid->str, js->str, js->len, int_of(a->element[3 * i + 2]),
                          &studs[k]) == 0)
            k++;
    }
    if (k > 1)
        qsort(studs, k, sizeof *studs, cmp_student);
    v.n = k;
    v.students = studs;
    if (q->cb.view)
        q->cb.view(0, &v, q->ud);
    free(studs);
}

static void done_engage(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1) {
        fail_req(q, BRK_EIO);
        return;
    }
    int err = code_err(int_of(r->element[0]));
    if (err || r->elements < 4 || r->element[2]->type != REDIS_REPLY_STRING) {
        fail_req(q, err ? err : BRK_EIO);
        return;
    }
    st_session_t s;
    st_student_t st;
    if (parse_session(r->element[1], q->class_id, q->now_ms, &s) != 0 ||
        parse_student(q->argv[4], r->element[2]->str, r->element[2]->len,
                      int_of(r->element[3]), &st) != 0) {
        fail_req(q, BRK_EIO);
        return;
    }
    if (q->cb.stu)
        q->cb.stu(0, &s, &st, q->ud);
}

/* A flat list of (class, student, name, online, online_students) quintuples. */
static void done_changes(rreq_t *q, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY) {
        fail_req(q, BRK_EIO);
        return;
    }
    size_t n = r->elements / 5;
    st_redis_change_t *ch = n ? brk_calloc(n, sizeof *ch) : NULL;
    for (size_t i = 0; i < n; i++) {
        redisReply **el = &r->element[5 * i];
        ch[i].class_id = str_of(el[0]);
        ch[i].student_id = str_of(el[1]);
        ch[i].name = str_of(el[2]);
        ch[i].online = (int)int_of(el[3]);
        ch[i].online_students = (int)int_of(el[4]);
    }
    if (q->cb.changes)
        q->cb.changes(0, ch, n, q->ud);
    free(ch);
}

static void on_reply(const redisReply *reply, const char *err, void *ud)
{
    rreq_t *q = ud;
    if (!reply) {
        LOG(DEBUG, 0, "redis state op failed", "err=\"%s\"", err ? err : "");
        fail_req(q, BRK_ECLOSED);
        req_free(q);
        return;
    }
    if (err) {
        /* The script cache is empty after a Redis restart (or on a new server): send the
         * text once; Redis caches it again. */
        if (!q->retried && q->argc >= 2 && strncmp(err, "NOSCRIPT", 8) == 0) {
            q->retried = 1;
            free(q->argv[0]);
            free(q->argv[1]);
            q->argv[0] = brk_strdup("EVAL");
            q->argv[1] = brk_strdup(q->e->text[q->script]);
            q->lens[0] = 4;
            q->lens[1] = strlen(q->argv[1]);
            send_req(q);
            return;
        }
        LOG(ERROR, 0, "redis state op refused", "err=\"%s\"", err);
        fail_req(q, BRK_EIO);
        req_free(q);
        return;
    }
    switch (q->op) {
    case OP_OPEN:
    case OP_MARK:
    case OP_SESSION:
    case OP_FINAL:
        done_session(q, reply);
        break;
    case OP_PRESENCE:
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
            fail_req(q, BRK_EIO);
        else if (q->cb.pres)
            q->cb.pres(code_err(int_of(reply->element[0])), (int)int_of(reply->element[1]),
                       (int)int_of(reply->element[2]), q->ud);
        break;
    case OP_VIEW:
        done_view(q, reply);
        break;
    case OP_ENGAGE:
        done_engage(q, reply);
        break;
    case OP_CLAIM:
        if (q->cb.claim)
            q->cb.claim(0, reply->type == REDIS_REPLY_STATUS, q->ud);
        break;
    case OP_HB:
        if (q->cb.hb)
            q->cb.hb(0, int_of(reply) == 1, q->ud);
        break;
    case OP_SWEEP:
    case OP_SYNC:
        done_changes(q, reply);
        break;
    }
    req_free(q);
}

/* ---- operations ---- */

static int new_session_id(char out[33])
{
    unsigned char rnd[16];
    int rc = brk_random(rnd, sizeof rnd);
    if (rc == 0)
        brk_hex(rnd, sizeof rnd, out);
    return rc;
}

static void r_session_open(st_t *base, const char *class_id, const char *teacher_id,
                           int64_t now_ms, st_session_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    char now[24], day[11], sid[33];
    if (!st__valid_id(class_id)) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    int rc = new_session_id(sid);
    if (rc) {
        if (cb)
            cb(rc, NULL, 0, ud);
        return;
    }
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_OPEN, class_id, now_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, teacher_id ? teacher_id : "", now, day, sid};
    run_script(q, SC_OPEN, 5, args);
}

static void r_mark(st_t *base, const char *class_id, const char *student_id, const char *name,
                   st_mark_t mark, const char *by, int64_t now_ms, st_session_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) ||
        (mark != ST_MARK_PRESENT && mark != ST_MARK_ABSENT && mark != ST_MARK_LATE)) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char now[24], day[11], sid[33], m[4], nm[ST_NAME];
    int rc = new_session_id(sid);
    if (rc) {
        if (cb)
            cb(rc, NULL, 0, ud);
        return;
    }
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(m, sizeof m, "%d", (int)mark);
    st__copy_str(nm, sizeof nm, name);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_MARK, class_id, now_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, student_id, nm, m, by ? by : "", now, day, sid};
    run_script(q, SC_MARK, 8, args);
}

static void r_presence(st_t *base, const char *class_id, const char *student_id,
                       const char *name, int delta, int64_t now_ms, st_presence_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) || (delta != 1 && delta != -1)) {
        if (cb)
            cb(BRK_EINVAL, 0, 0, ud);
        return;
    }
    char now[24], day[11], nm[ST_NAME];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    st__copy_str(nm, sizeof nm, name);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_PRESENCE, class_id, now_ms, ud);
    q->cb.pres = cb;
    const char *args[] = {class_id, student_id, nm, delta > 0 ? "1" : "-1", now, day, e->inst};
    run_script(q, SC_PRESENCE, 7, args);
}

static void r_view(st_t *base, const char *class_id, int64_t now_ms, st_view_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!cb)
        return;
    if (!st__valid_id(class_id)) {
        cb(BRK_EINVAL, NULL, ud);
        return;
    }
    char now[24], day[11];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_VIEW, class_id, now_ms, ud);
    q->cb.view = cb;
    const char *args[] = {class_id, now, day};
    run_script(q, SC_VIEW, 3, args);
}

static void r_session_get(st_t *base, const char *class_id, int64_t now_ms, st_session_cb cb,
                          void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!cb)
        return;
    if (!st__valid_id(class_id)) {
        cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char now[24], day[11];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_SESSION, class_id, now_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, now, day};
    run_script(q, SC_SESSION, 3, args);
}

static void r_finalized(st_t *base, const char *class_id, const char *session_id,
                        int64_t ended_at_ms, st_session_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !session_id) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char at[24], day[11];
    snprintf(at, sizeof at, "%lld", (long long)ended_at_ms);
    today(ended_at_ms, day);
    rreq_t *q = req_new(e, OP_FINAL, class_id, ended_at_ms, ud);
    q->cb.ses = cb;
    const char *args[] = {class_id, session_id, at, day};
    run_script(q, SC_FINALIZE, 4, args);
}

static void r_engage(st_t *base, const char *class_id, const char *student_id, const char *name,
                     const st_frame_t *f, int64_t now_ms, st_student_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(student_id) || !st__valid_frame(f)) {
        if (cb)
            cb(BRK_EINVAL, NULL, NULL, ud);
        return;
    }
    char now[24], at[24], day[11], cap[40], v[4], nm[ST_NAME];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    snprintf(at, sizeof at, "%lld", (long long)f->at_ms);
    snprintf(cap, sizeof cap, "%.17g", f->cap_s);
    snprintf(v, sizeof v, "%d", (int)f->viol);
    st__copy_str(nm, sizeof nm, name);
    today(now_ms, day);
    rreq_t *q = req_new(e, OP_ENGAGE, class_id, now_ms, ud);
    q->cb.stu = cb;
    /* argv[4] (the student id) is read back by done_engage. */
    const char *args[] = {class_id, student_id, nm, f->engaged ? "1" : "0", cap, v, at, now, day};
    run_script(q, SC_ENGAGE, 9, args);
}

static void r_claim(st_t *base, const char *class_id, const char *session_id, st_claim_cb cb,
                    void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id) || !st__valid_id(session_id)) {
        if (cb)
            cb(BRK_EINVAL, 0, ud);
        return;
    }
    char key[2 * ST_ID + 32];
    snprintf(key, sizeof key, "rc:{%s}:ann:%s", class_id, session_id);
    rreq_t *q = req_new(e, OP_CLAIM, class_id, 0, ud);
    q->cb.claim = cb;
    rds_command(e->rds, on_reply, q, "SET %s %s NX EX 180000", key, e->inst);
}

void st_redis_heartbeat(st_t *base, int64_t ttl_ms, st_redis_heartbeat_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_ms);
    rreq_t *q = req_new(e, OP_HB, "", 0, ud);
    q->cb.hb = cb;
    const char *args[] = {e->inst, ttl};
    run_script(q, SC_HEARTBEAT, 2, args);
}

void st_redis_sweep(st_t *base, st_redis_changes_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    rreq_t *q = req_new(e, OP_SWEEP, "", 0, ud);
    q->cb.changes = cb;
    const char *args[] = {e->inst};
    run_script(q, SC_SWEEP, 1, args);
}

void st_redis_sync(st_t *base, const char *class_id, size_t n, const char *const *student_ids,
                   const int *counts, const char *const *names, int64_t now_ms,
                   st_redis_changes_cb cb, void *ud)
{
    rst_t *e = (rst_t *)base;
    if (!st__valid_id(class_id)) {
        if (cb)
            cb(BRK_EINVAL, NULL, 0, ud);
        return;
    }
    char now[24], day[11];
    snprintf(now, sizeof now, "%lld", (long long)now_ms);
    today(now_ms, day);
    const char **args = brk_calloc(4 + 3 * n, sizeof *args);
    char (*cnt)[16] = n ? brk_calloc(n, sizeof *cnt) : NULL;
    args[0] = class_id;
    args[1] = e->inst;
    args[2] = now;
    args[3] = day;
    for (size_t i = 0; i < n; i++) {
        snprintf(cnt[i], sizeof cnt[i], "%d", counts[i]);
        args[4 + 3 * i] = student_ids[i];
        args[5 + 3 * i] = cnt[i];
        args[6 + 3 * i] = names[i] ? names[i] : "";
    }
    rreq_t *q = req_new(e, OP_SYNC, class_id, now_ms, ud);
    q->cb.changes = cb;
    run_script(q, SC_SYNC, (int)(4 + 3 * n), args);
    free(cnt);
    free(args);
}

static void r_free(st_t *base)
{
    rst_t *e = (rst_t *)base;
    for (int i = 0; i < SC__COUNT; i++)
        free(e->text[i]);
    free(e);
}

static const st_ops_t redis_ops = {
    .free = r_free,
    .session_open = r_session_open,
    .mark = r_mark,
    .presence = r_presence,
    .view = r_view,
    .session_get = r_session_get,
    .finalized = r_finalized,
    .engage = r_engage,
    .claim = r_claim,
};

st_t *st_redis_new(rds_client_t *rds, const char *instance_id)
{
    rst_t *e = brk_calloc(1, sizeof *e);
    e->base.ops = &redis_ops;
    e->rds = rds;
    st__copy_str(e->inst, sizeof e->inst, instance_id);
    for (int i = 0; i < SC__COUNT; i++) {
        size_t pl = script_src[i].prelude ? strlen(lua_prelude) : 0;
        size_t bl = strlen(script_src[i].body);
        /* The sweep has no class: its prelude runs with ARGV[1] (the instance id) as a
         * harmless class name whose keys it never touches. */
        e->text[i] = brk_malloc(pl + bl + 1);
        memcpy(e->text[i], lua_prelude, pl);
        memcpy(e->text[i] + pl, script_src[i].body, bl + 1);
        unsigned char md[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)e->text[i], pl + bl, md);
        brk_hex(md, sizeof md, e->sha[i]);
    }
    return &e->base;
}

/* SPDX-License-Identifier: MIT */
/* Tests of the Redis engine's embedded Lua scripts (the files of redis/lua, embedded by
 * redis/lua/embed.cmake into st_redis__scripts[]): every entry of the generated table is
 * well formed, compiles in a real redis-server (SCRIPT LOAD, started by
 * tests/support/redis_server.c) and gets the SHA-1 that the engine sends with EVALSHA, and
 * builds no key name of its own: every key it touches comes in KEYS. The tests walk the
 * whole table, so a new script is covered without touching this file. Blocking hiredis calls
 * over loopback. Without redis-server the other checks still run, and the program exits 77
 * (skipped) if they pass. */
#include "st_redis_lua.h"

#include "brk.h"
#include "redis_server.h"
#include "test.h"

#include <hiredis/hiredis.h>
#include <signal.h>
#include <unistd.h>

static void on_alarm(int sig)
{
    static const char m[] = "FAIL: test timed out\n";
    (void)sig;
    (void)!write(2, m, sizeof m - 1);
    _exit(1);
}

static int is_sha1_hex(const char *s)
{
    size_t i = 0;
    for (; s[i]; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return i == 40;
}

static void test_table(void)
{
    ASSERT(st_redis__n_scripts > 0);
    for (size_t i = 0; i < st_redis__n_scripts; i++) {
        const st_redis__script_t *sc = &st_redis__scripts[i];
        ASSERT_NOT_NULL(sc->name);
        ASSERT_NOT_NULL(sc->text);
        ASSERT(sc->len > 0);
        ASSERT_EQ(strlen(sc->text), sc->len);
        if (!is_sha1_hex(sc->sha))
            TEST_FAIL("%s: sha \"%s\" is not 40 lower-case hex digits", sc->name, sc->sha);
        /* Sorted by name, hence no name twice. */
        if (i > 0 && strcmp(st_redis__scripts[i - 1].name, sc->name) >= 0)
            TEST_FAIL("%s after %s: names not sorted or repeated", sc->name,
                      st_redis__scripts[i - 1].name);
    }
}

static void test_redis_loads_every_script(void)
{
    if (!redis_server_available())
        TEST_SKIP("redis-server not installed (%s)", REDIS_SERVER_BIN);
    redis_server_t srv;
    redis_server_opts_t o = {0};
    ASSERT_EQ(redis_server_start(&srv, &o), 0);
    redisContext *c = redisConnect("127.0.0.1", srv.port);
    if (!c || c->err) {
        redis_server_free(&srv);
        TEST_FAIL("connect to 127.0.0.1:%d: %s", srv.port, c ? c->errstr : "no memory");
    }
    /* A failed assertion jumps out of the loop: remember the first failure and clean up. */
    char why[512] = "";
    for (size_t i = 0; i < st_redis__n_scripts && !why[0]; i++) {
        const st_redis__script_t *sc = &st_redis__scripts[i];
        const char *argv[] = {"SCRIPT", "LOAD", sc->text};
        size_t lens[] = {6, 4, sc->len};
        redisReply *r = redisCommandArgv(c, 3, argv, lens);
        if (!r)
            snprintf(why, sizeof why, "%s: no reply: %s", sc->name, c->errstr);
        else if (r->type == REDIS_REPLY_ERROR)
            snprintf(why, sizeof why, "%s: SCRIPT LOAD refused it: %s", sc->name, r->str);
        else if (r->type != REDIS_REPLY_STRING || strcmp(r->str, sc->sha) != 0)
            snprintf(why, sizeof why, "%s: Redis names it %s, the engine %s", sc->name,
                     r->type == REDIS_REPLY_STRING ? r->str : "(not a string)", sc->sha);
        freeReplyObject(r);
        if (why[0])
            break;
        /* The name EVALSHA will send finds the script now. */
        r = redisCommand(c, "SCRIPT EXISTS %s", sc->sha);
        if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
            r->element[0]->type != REDIS_REPLY_INTEGER || r->element[0]->integer != 1)
            snprintf(why, sizeof why, "%s: SCRIPT EXISTS %s is not 1", sc->name, sc->sha);
        freeReplyObject(r);
    }
    redisFree(c);
    redis_server_free(&srv);
    if (why[0])
        TEST_FAIL("%s", why);
}

/* 1 when the code of line [p, end) (before any "--" comment) concatenates strings. */
static int concatenates(const char *p, const char *end)
{
    for (; p + 1 < end; p++) {
        if (p[0] == '-' && p[1] == '-')
            return 0;
        if (p[0] == '.' && p[1] == '.')
            return 1;
    }
    return 0;
}

/* The keys a script touches come in KEYS: a Lua string literal starting with rc: (the prefix
 * of every key of the engine) would be a key name built inside the script, and so would a
 * concatenation onto a declared key (KEYS[1] .. ':x'); no script concatenates strings at
 * all, so any ".." in code is refused. A textual check, so it also sees code paths the
 * engine's tests do not reach. */
static void test_keys_are_declared(void)
{
    for (size_t i = 0; i < st_redis__n_scripts; i++) {
        const st_redis__script_t *sc = &st_redis__scripts[i];
        if (strstr(sc->text, "'rc:") != NULL || strstr(sc->text, "\"rc:") != NULL)
            TEST_FAIL("%s builds a key name in Lua: pass the key in KEYS instead", sc->name);
        for (const char *p = sc->text; *p;) {
            const char *nl = strchr(p, '\n');
            const char *end = nl ? nl : p + strlen(p);
            if (concatenates(p, end))
                TEST_FAIL("%s concatenates strings (\"%.*s\"): if that builds a key name, pass "
                          "the key in KEYS instead",
                          sc->name, (int)(end - p), p);
            p = nl ? nl + 1 : end;
        }
    }
}

static const test_case_t tests[] = {
    {"table", test_table},
    {"redis_loads_every_script", test_redis_loads_every_script},
    {"keys_are_declared", test_keys_are_declared},
};

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm(40);
    int rc = test_run_all(tests, BRK_ARRAY_LEN(tests));
    return rc == 0 && !redis_server_available() ? 77 : rc;
}

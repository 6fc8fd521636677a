/* SPDX-License-Identifier: MIT */
/* Tests of the envelope parser (schemas/envelope.c): every client event of docs/PROTOCOL.md
 * including the exact legacy messages, every error code with the request id echoed when it
 * is readable, UTF-8 edge cases and the nesting-depth limit. */
#include "brk.h"
#include "envelope.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void init(void)
{
    ASSERT_EQ(env_init(), 0);
}

/* Parses msg (len bytes) and expects success with the given type; returns the env. */
static env_t parse_ok_len(const char *msg, size_t len, evt_type_t type)
{
    env_t env;
    env_error_t err;
    init();
    if (env_parse(msg, len, &env, &err) != 0) {
        json_decref(err.id);
        TEST_FAIL("refused %.*s: %s %s", (int)(len > 200 ? 200 : len), msg, err.code, err.message);
    }
    ASSERT_EQ(env.type, type);
    ASSERT(json_is_object(env.root));
    ASSERT(json_is_object(env.data));
    ASSERT(json_object_get(env.root, "data") == env.data);
    return env;
}

static env_t parse_ok(const char *msg, evt_type_t type)
{
    return parse_ok_len(msg, strlen(msg), type);
}

/* Expects msg to be refused with code; id_json is the JSON of the echoed id or NULL for
 * none; want is a substring of the message, or NULL. */
static void refuse_len(const char *msg, size_t len, const char *code, const char *id_json,
                       const char *want)
{
    env_t env;
    env_error_t err;
    init();
    int rc = env_parse(msg, len, &env, &err);
    if (rc == 0) {
        env_free(&env);
        TEST_FAIL("accepted %.*s", (int)(len > 200 ? 200 : len), msg);
    }
    ASSERT_EQ(rc, BRK_EINVAL);
    ASSERT_NULL(env.root);
    char got_id[128] = "(none)";
    if (err.id) {
        char *d = json_dumps(err.id, JSON_ENCODE_ANY | JSON_COMPACT);
        snprintf(got_id, sizeof got_id, "%s", d);
        free(d);
        json_decref(err.id);
    }
    if (strcmp(err.code, code) != 0)
        TEST_FAIL("%.*s: code %s (%s), want %s", (int)(len > 200 ? 200 : len), msg, err.code,
                  err.message, code);
    if (strcmp(got_id, id_json ? id_json : "(none)") != 0)
        TEST_FAIL("%.*s: id %s, want %s", (int)(len > 200 ? 200 : len), msg, got_id,
                  id_json ? id_json : "(none)");
    if (want && !strstr(err.message, want))
        TEST_FAIL("%.*s: message \"%s\" lacks \"%s\"", (int)(len > 200 ? 200 : len), msg,
                  err.message, want);
    /* The message must be usable in a JSON reply as is. */
    ASSERT(env_utf8_valid(err.message, strlen(err.message)));
    json_t *s = json_string(err.message);
    ASSERT_NOT_NULL(s);
    json_decref(s);
}

static void refuse(const char *msg, const char *code, const char *id_json, const char *want)
{
    refuse_len(msg, strlen(msg), code, id_json, want);
}

static void test_names(void)
{
    for (int t = 0; t < EVT__COUNT; t++) {
        evt_type_t back;
        const char *name = env_type_name((evt_type_t)t);
        ASSERT_NOT_NULL(name);
        ASSERT_EQ(env_type_from_name(name, &back), 0);
        ASSERT_EQ(back, t);
    }
    ASSERT_STR_EQ(env_type_name(EVT_SESSION_START), "SESSION_START");
    ASSERT_STR_EQ(env_type_name(EVT_FRAME), "FRAME");
    ASSERT_NULL(env_type_name(EVT__COUNT));
    evt_type_t t;
    ASSERT_EQ(env_type_from_name("done", &t), BRK_EINVAL);
    ASSERT_EQ(env_type_from_name("WELCOME", &t), BRK_EINVAL);
    ASSERT_EQ(env_type_from_name(NULL, &t), BRK_EINVAL);
}

static void test_legacy_messages(void)
{
    env_t e = parse_ok("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"123\","
                       "\"status\":\"present\"}}",
                       EVT_ATTENDANCE_MARKED);
    ASSERT_STR_EQ(json_string_value(json_object_get(e.data, "studentId")), "123");
    ASSERT_STR_EQ(json_string_value(json_object_get(e.data, "status")), "present");
    ASSERT_NULL(e.id);
    env_free(&e);

    static const struct {
        const char *msg;
        evt_type_t type;
    } bare[] = {
        {"{\"event\":\"TODAY_SUMMARY\"}", EVT_TODAY_SUMMARY},
        {"{\"event\":\"DONE\"}", EVT_DONE},
        {"{\"event\":\"MY_ATTENDANCE\"}", EVT_MY_ATTENDANCE},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(bare); i++) {
        e = parse_ok(bare[i].msg, bare[i].type);
        ASSERT_EQ(json_object_size(e.data), 0);
        ASSERT_NULL(e.id);
        env_free(&e);
    }
}

static void test_every_event(void)
{
    static const struct {
        const char *msg;
        evt_type_t type;
    } ok[] = {
        {"{\"event\":\"SESSION_START\"}", EVT_SESSION_START},
        {"{\"event\":\"SESSION_START\",\"data\":{\"class_id\":\"math-7b\"},\"id\":\"r1\"}",
         EVT_SESSION_START},
        {"{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"student_id\":\"s-1\",\"status\":\"late\","
         "\"class_id\":\"math-7b\",\"name\":\"Ada\"},\"id\":42}",
         EVT_ATTENDANCE_MARKED},
        {"{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"s\",\"student_id\":\"s\","
         "\"status\":\"absent\",\"name\":\"\"}}",
         EVT_ATTENDANCE_MARKED},
        {"{\"event\":\"TODAY_SUMMARY\",\"data\":{\"class_id\":\"c\"}}", EVT_TODAY_SUMMARY},
        {"{\"event\":\"DONE\",\"data\":{\"class_id\":\"c\"}}", EVT_DONE},
        {"{\"event\":\"MY_ATTENDANCE\",\"data\":{}}", EVT_MY_ATTENDANCE},
        {"{\"event\":\"MY_ATTENDANCE\",\"data\":{\"class_id\":\"c\"}}", EVT_MY_ATTENDANCE},
        {"{\"event\":\"PING\"}", EVT_PING},
        {"{\"event\":\"PING\",\"data\":{\"ts\":1732263000123}}", EVT_PING},
        {"{\"event\":\"PING\",\"data\":{\"ts\":12.5}}", EVT_PING},
        {"{\"event\":\"FRAME\",\"data\":{\"image\":\"AAAA\",\"class_id\":\"c\",\"ts\":1.5}}",
         EVT_FRAME},
        {" \n{ \"data\" : { } , \"event\" : \"DONE\" }\t\r\n", EVT_DONE},
        {"{\"event\":\"AUTH\",\"data\":{\"token\":\"a.b.c\"},\"id\":\"r\"}", EVT_AUTH},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(ok); i++) {
        env_t e = parse_ok(ok[i].msg, ok[i].type);
        env_free(&e);
    }
}

static void test_data_and_id(void)
{
    /* A null data is an absent one. */
    env_t e = parse_ok("{\"event\":\"DONE\",\"data\":null}", EVT_DONE);
    ASSERT_EQ(json_object_size(e.data), 0);
    env_free(&e);

    e = parse_ok("{\"event\":\"PING\",\"id\":\"abc\"}", EVT_PING);
    ASSERT_STR_EQ(json_string_value(e.id), "abc");
    ASSERT(json_object_get(e.root, "id") == e.id);
    env_free(&e);
    ASSERT_NULL(e.root);
    env_free(&e); /* freeing twice, or a zeroed env, is harmless */

    e = parse_ok("{\"id\":-17,\"event\":\"PING\"}", EVT_PING);
    ASSERT_EQ(json_integer_value(e.id), -17);
    env_free(&e);

    /* 64 characters are allowed, counted as code points (64 "é" are 128 bytes). */
    char msg[512];
    size_t len = (size_t)snprintf(msg, sizeof msg, "{\"event\":\"PING\",\"id\":\"");
    for (int i = 0; i < 64; i++)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "\xc3\xa9");
    snprintf(msg + len, sizeof msg - len, "\"}");
    e = parse_ok(msg, EVT_PING);
    ASSERT_EQ(json_string_length(e.id), 128);
    env_free(&e);
    env_free(NULL);
}

static void test_bad_json(void)
{
    refuse("", "BAD_JSON", NULL, "invalid JSON");
    refuse("   ", "BAD_JSON", NULL, NULL);
    refuse("{", "BAD_JSON", NULL, NULL);
    refuse("{\"event\":\"DONE\"", "BAD_JSON", NULL, NULL);
    refuse("{\"event\":'DONE'}", "BAD_JSON", NULL, NULL);
    refuse("{\"event\":\"DONE\",}", "BAD_JSON", NULL, NULL);
    refuse("{\"event\":\"DONE\"} x", "BAD_JSON", NULL, NULL);
    refuse("{\"event\":\"DONE\"}{}", "BAD_JSON", NULL, NULL);
    refuse("[{\"event\":\"DONE\"}]", "BAD_JSON", NULL, "not a JSON object");
    refuse("\"DONE\"", "BAD_JSON", NULL, "not a JSON object");
    refuse("42", "BAD_JSON", NULL, "not a JSON object");
    refuse("null", "BAD_JSON", NULL, "not a JSON object");
    /* Duplicate keys are refused at any level. */
    refuse("{\"event\":\"DONE\",\"event\":\"PING\"}", "BAD_JSON", NULL, "duplicate");
    refuse("{\"event\":\"PING\",\"data\":{\"ts\":1,\"ts\":2},\"id\":\"a\"}", "BAD_JSON", NULL,
           "duplicate");
    /* Integers beyond int64, NUL escapes and lone surrogate escapes are not accepted. */
    refuse("{\"event\":\"PING\",\"id\":99999999999999999999}", "BAD_JSON", NULL, NULL);
    refuse("{\"event\":\"PING\",\"id\":\"a\\u0000b\"}", "BAD_JSON", NULL, NULL);
    refuse("{\"event\":\"PING\",\"id\":\"\\ud800\"}", "BAD_JSON", NULL, NULL);
    refuse_len("{\"event\":\"DONE\"}\0", 17, "BAD_JSON", NULL, NULL);
    refuse_len("{\"event\":\"DO\0NE\"}", 17, "BAD_JSON", NULL, NULL);
    refuse("{\"event\":\"PING\",\"data\":{\"ts\":1e999}}", "BAD_JSON", NULL, NULL);
}

static void test_bad_envelope(void)
{
    refuse("{}", "BAD_ENVELOPE", NULL, "event: is required");
    refuse("{\"data\":{},\"id\":\"r1\"}", "BAD_ENVELOPE", "\"r1\"", "event: is required");
    refuse("{\"event\":5,\"id\":3}", "BAD_ENVELOPE", "3", "event: expected string");
    refuse("{\"event\":null}", "BAD_ENVELOPE", NULL, "event: expected string");
    refuse("{\"event\":[\"DONE\"]}", "BAD_ENVELOPE", NULL, "event: expected string");
    refuse("{\"event\":\"DONE\",\"data\":\"x\",\"id\":\"r\"}", "BAD_ENVELOPE", "\"r\"",
           "data: expected object");
    refuse("{\"event\":\"DONE\",\"data\":[]}", "BAD_ENVELOPE", NULL, "data: expected object");
    refuse("{\"event\":\"DONE\",\"data\":0}", "BAD_ENVELOPE", NULL, "data: expected object");
    refuse("{\"event\":\"DONE\",\"data\":false}", "BAD_ENVELOPE", NULL, "data: expected object");
    refuse("{\"event\":\"DONE\",\"id\":\"r9\",\"extra\":1}", "BAD_ENVELOPE", "\"r9\"",
           "extra: unknown top-level key");
    refuse("{\"event\":\"DONE\",\"Data\":{}}", "BAD_ENVELOPE", NULL, "Data: unknown top-level");
    /* An id of the wrong type is an envelope error, and is never echoed. */
    static const char *const bad_ids[] = {"true", "null", "1.5", "2.0", "\"\"", "[1]", "{}"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(bad_ids); i++) {
        char msg[128];
        snprintf(msg, sizeof msg, "{\"event\":\"DONE\",\"id\":%s}", bad_ids[i]);
        refuse(msg, "BAD_ENVELOPE", NULL, "id: expected a string of 1..64 characters");
    }
    char msg[256];
    size_t len = (size_t)snprintf(msg, sizeof msg, "{\"event\":\"DONE\",\"id\":\"");
    for (int i = 0; i < 65; i++)
        msg[len++] = 'x';
    snprintf(msg + len, sizeof msg - len, "\"}");
    refuse(msg, "BAD_ENVELOPE", NULL, "id:");
    /* A wrong id decides the error even when the event is also wrong. */
    refuse("{\"event\":7,\"id\":false}", "BAD_ENVELOPE", NULL, "id:");
}

static void test_unknown_event(void)
{
    refuse("{\"event\":\"WELCOME\",\"id\":\"x1\"}", "UNKNOWN_EVENT", "\"x1\"",
           "unknown event \"WELCOME\"");
    refuse("{\"event\":\"done\",\"id\":5}", "UNKNOWN_EVENT", "5", "unknown event \"done\"");
    refuse("{\"event\":\"\"}", "UNKNOWN_EVENT", NULL, "unknown event \"\"");
    refuse("{\"event\":\"DONE \",\"data\":{\"junk\":1}}", "UNKNOWN_EVENT", NULL, NULL);
    /* A long multibyte event name is cut in the message, which stays valid UTF-8. */
    char msg[512];
    size_t len = (size_t)snprintf(msg, sizeof msg, "{\"event\":\"X");
    for (int i = 0; i < 100; i++)
        len += (size_t)snprintf(msg + len, sizeof msg - len, "\xe2\x82\xac");
    snprintf(msg + len, sizeof msg - len, "\",\"id\":\"q\"}");
    refuse(msg, "UNKNOWN_EVENT", "\"q\"", "unknown event \"X");
}

static void test_invalid_payload(void)
{
    refuse("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"1\",\"status\":\"here\"},"
           "\"id\":\"m1\"}",
           "INVALID_PAYLOAD", "\"m1\"", "data.status: must be one of present, absent, late");
    refuse("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":123,\"status\":\"present\"},"
           "\"id\":8}",
           "INVALID_PAYLOAD", "8", "data.studentId: expected string");
    refuse("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"status\":\"present\"}}", "INVALID_PAYLOAD",
           NULL, "data.studentId: is required, or data.student_id: is required");
    refuse("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"1\"}}", "INVALID_PAYLOAD",
           NULL, "data.status: is required");
    refuse("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"\",\"status\":\"late\"}}",
           "INVALID_PAYLOAD", NULL, "data.studentId: must have at least 1 character");
    refuse("{\"event\":\"ATTENDANCE_MARKED\"}", "INVALID_PAYLOAD", NULL, "data.status");
    refuse("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"1\",\"status\":\"late\","
           "\"extra\":true}}",
           "INVALID_PAYLOAD", NULL, "data.extra: unknown field");
    refuse("{\"event\":\"SESSION_START\",\"data\":{\"class_id\":\"\"},\"id\":\"s\"}",
           "INVALID_PAYLOAD", "\"s\"", "data.class_id: must have at least 1 character");
    refuse("{\"event\":\"DONE\",\"data\":{\"class_id\":7}}", "INVALID_PAYLOAD", NULL,
           "data.class_id: expected string");
    refuse("{\"event\":\"TODAY_SUMMARY\",\"data\":{\"classId\":\"c\"}}", "INVALID_PAYLOAD", NULL,
           "data.classId: unknown field");
    refuse("{\"event\":\"MY_ATTENDANCE\",\"data\":{\"class_id\":null}}", "INVALID_PAYLOAD", NULL,
           "data.class_id: expected string");
    refuse("{\"event\":\"PING\",\"data\":{\"ts\":\"now\"},\"id\":0}", "INVALID_PAYLOAD", "0",
           "data.ts: expected number");
    refuse("{\"event\":\"PING\",\"data\":{\"x\":1}}", "INVALID_PAYLOAD", NULL,
           "data.x: unknown field");
    /* AUTH: a token, nothing else; its value is never quoted back. */
    refuse("{\"event\":\"AUTH\",\"id\":\"a\"}", "INVALID_PAYLOAD", "\"a\"",
           "data.token: is required");
    refuse("{\"event\":\"AUTH\",\"data\":{\"token\":\"\"}}", "INVALID_PAYLOAD", NULL,
           "data.token: must have at least 1 character");
    refuse("{\"event\":\"AUTH\",\"data\":{\"token\":\"a.b.c\",\"sub\":\"x\"}}",
           "INVALID_PAYLOAD", NULL, "data.sub: unknown field");

    /* Length limits: class_id 64, name 128 (code points). */
    char msg[1024], s65[80], n129[300];
    memset(s65, 'c', 65);
    s65[65] = '\0';
    snprintf(msg, sizeof msg, "{\"event\":\"DONE\",\"data\":{\"class_id\":\"%s\"}}", s65);
    refuse(msg, "INVALID_PAYLOAD", NULL, "data.class_id: must have at most 64 characters");
    s65[64] = '\0';
    snprintf(msg, sizeof msg, "{\"event\":\"DONE\",\"data\":{\"class_id\":\"%s\"}}", s65);
    env_t e = parse_ok(msg, EVT_DONE);
    env_free(&e);
    memset(n129, 'n', 129);
    n129[129] = '\0';
    snprintf(msg, sizeof msg,
             "{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"1\",\"status\":"
             "\"late\",\"name\":\"%s\"}}",
             n129);
    refuse(msg, "INVALID_PAYLOAD", NULL, "data.name: must have at most 128 characters");
    n129[128] = '\0';
    snprintf(msg, sizeof msg,
             "{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"1\",\"status\":"
             "\"late\",\"name\":\"%s\"}}",
             n129);
    e = parse_ok(msg, EVT_ATTENDANCE_MARKED);
    env_free(&e);
}

static void test_utf8_valid(void)
{
    static const struct {
        const char *bytes;
        size_t len;
        int valid;
        const char *what;
    } cases[] = {
        {"", 0, 1, "empty"},
        {"plain ascii", 11, 1, "ascii"},
        {"\x00", 1, 1, "NUL is a valid code point"},
        {"\xc3\xa9", 2, 1, "2-byte"},
        {"\xe2\x82\xac", 3, 1, "3-byte"},
        {"\xf0\x9f\x98\x80", 4, 1, "4-byte"},
        {"\xf4\x8f\xbf\xbf", 4, 1, "U+10FFFF"},
        {"\xed\x9f\xbf", 3, 1, "U+D7FF"},
        {"\xee\x80\x80", 3, 1, "U+E000"},
        {"\xef\xbf\xbf", 3, 1, "U+FFFF"},
        {"\xc2\x80", 2, 1, "U+0080"},
        {"\xe0\xa0\x80", 3, 1, "U+0800"},
        {"\xf0\x90\x80\x80", 4, 1, "U+10000"},
        {"\xc0\x80", 2, 0, "overlong NUL"},
        {"\xc1\xbf", 2, 0, "overlong 2-byte"},
        {"\xe0\x80\xaf", 3, 0, "overlong 3-byte"},
        {"\xe0\x9f\xbf", 3, 0, "overlong 3-byte (max)"},
        {"\xf0\x80\x80\xaf", 4, 0, "overlong 4-byte"},
        {"\xf0\x8f\xbf\xbf", 4, 0, "overlong 4-byte (max)"},
        {"\xed\xa0\x80", 3, 0, "surrogate U+D800"},
        {"\xed\xbf\xbf", 3, 0, "surrogate U+DFFF"},
        {"\xed\xa0\xbd\xed\xb8\x80", 6, 0, "CESU-8 surrogate pair"},
        {"\xf4\x90\x80\x80", 4, 0, "U+110000"},
        {"\xf5\x80\x80\x80", 4, 0, "F5 lead"},
        {"\xf8\x88\x80\x80\x80", 5, 0, "5-byte form"},
        {"\xfe", 1, 0, "FE"},
        {"\xff", 1, 0, "FF"},
        {"\x80", 1, 0, "lone continuation"},
        {"a\xbf", 2, 0, "stray continuation"},
        {"\xc3", 1, 0, "truncated 2-byte"},
        {"\xe2\x82", 2, 0, "truncated 3-byte"},
        {"\xf0\x9f\x98", 3, 0, "truncated 4-byte"},
        {"\xe2\x82x", 3, 0, "3-byte with bad continuation"},
        {"\xf0\x9f\x98\x80\xf0", 5, 0, "truncated after a valid 4-byte"},
        {"\xc3\xa9\xc3", 3, 0, "truncated after a valid 2-byte"},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++)
        if (env_utf8_valid(cases[i].bytes, cases[i].len) != cases[i].valid)
            TEST_FAIL("%s: expected %s", cases[i].what, cases[i].valid ? "valid" : "invalid");
    /* The length is honoured: the invalid byte after len is not looked at. */
    ASSERT_EQ(env_utf8_valid("ab\xff", 2), 1);
}

static void test_utf8_in_messages(void)
{
    refuse("{\"event\":\"PING\",\"id\":\"\xc0\x80\"}", "INVALID_UTF8", NULL, "not valid UTF-8");
    refuse("{\"event\":\"PING\",\"id\":\"\xed\xa0\x80\"}", "INVALID_UTF8", NULL, "byte 22");
    refuse("{\"event\":\"PING\",\"id\":\"\xf4\x90\x80\x80\"}", "INVALID_UTF8", NULL, NULL);
    refuse("{\"event\":\"PING\",\"id\":\"x\"}\xf0\x9f\x98", "INVALID_UTF8", NULL, NULL);
    refuse("\xef\xbb\xbf{\"event\":\"PING\"}", "BAD_JSON", NULL, NULL); /* a BOM is not JSON */
    /* UTF-8 is checked before depth. */
    refuse("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\xff", "INVALID_UTF8", NULL, NULL);

    /* Valid multibyte text passes through to data. */
    env_t e = parse_ok("{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":"
                       "\"\xf0\x9f\x98\x80\",\"status\":\"present\",\"name\":\"Zo\xc3\xab "
                       "\xe6\x9d\x8e\"},\"id\":\"\xf4\x8f\xbf\xbf\"}",
                       EVT_ATTENDANCE_MARKED);
    ASSERT_STR_EQ(json_string_value(json_object_get(e.data, "studentId")), "\xf0\x9f\x98\x80");
    ASSERT_STR_EQ(json_string_value(e.id), "\xf4\x8f\xbf\xbf");
    env_free(&e);
}

/* Builds {"event":"FRAME","data":{"a":{"a":...{}...}}} with `levels` nested objects in all,
 * the envelope included. */
static char *nested_frame(int levels)
{
    size_t cap = (size_t)levels * 8 + 64, len = 0;
    char *buf = malloc(cap);
    ASSERT_NOT_NULL(buf);
    len += (size_t)snprintf(buf, cap, "{\"event\":\"FRAME\",\"data\":");
    for (int i = 2; i < levels; i++)
        len += (size_t)snprintf(buf + len, cap - len, "{\"a\":");
    len += (size_t)snprintf(buf + len, cap - len, "{}");
    for (int i = 2; i < levels; i++)
        len += (size_t)snprintf(buf + len, cap - len, "}");
    snprintf(buf + len, cap - len, "}");
    return buf;
}

static void test_depth(void)
{
    ASSERT_EQ(env_json_depth("", 0, 32), 0);
    ASSERT_EQ(env_json_depth("1", 1, 32), 0);
    ASSERT_EQ(env_json_depth("{}", 2, 32), 1);
    ASSERT_EQ(env_json_depth("[[],[[]]]", 9, 32), 3);
    ASSERT_EQ(env_json_depth("{\"a\":\"[[[{{{\"}", 14, 32), 1);
    ASSERT_EQ(env_json_depth("{\"a\\\"[[\":\"\\\\\",\"b\":[]}", 21, 32), 2);
    ASSERT_EQ(env_json_depth("]]][", 4, 32), 1);
    ASSERT_EQ(env_json_depth("[[[", 3, 2), 3);

    char deep[100001];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    ASSERT_EQ(env_json_depth(deep, 32, 32), 32);
    ASSERT_EQ(env_json_depth(deep, 33, 32), 33);
    ASSERT_EQ(env_json_depth(deep, 100000, 32), 33);

    /* 32 levels pass the depth check (and then fail the FRAME schema); 33 are refused
     * before jansson sees them. */
    char *m = nested_frame(32);
    ASSERT_EQ(env_json_depth(m, strlen(m), 32), 32);
    refuse(m, "INVALID_PAYLOAD", NULL, NULL);
    free(m);
    m = nested_frame(33);
    refuse(m, "TOO_DEEP", NULL, "deeper than 32");
    free(m);
    refuse_len(deep, 100000, "TOO_DEEP", NULL, NULL);

    /* Brackets inside strings, escaped quotes included, do not count. */
    char msg[512];
    size_t len =
        (size_t)snprintf(msg, sizeof msg, "{\"event\":\"FRAME\",\"data\":{\"image\":\"\\\"");
    for (int i = 0; i < 40; i++)
        msg[len++] = '[';
    snprintf(msg + len, sizeof msg - len,
             "\",\"class_id\":\"{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{\"}}");
    env_t e = parse_ok(msg, EVT_FRAME);
    env_free(&e);

    /* Depth is checked before syntax: deep garbage is TOO_DEEP, shallow garbage BAD_JSON. */
    refuse("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "TOO_DEEP", NULL, NULL);
    refuse("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[", "BAD_JSON", NULL, NULL);
}

static void test_shutdown_and_reinit(void)
{
    init();
    ASSERT_EQ(env_init(), 0); /* idempotent */
    env_shutdown();
    env_shutdown();
    ASSERT_EQ(env_init(), 0);
    env_t e = parse_ok("{\"event\":\"DONE\"}", EVT_DONE);
    env_free(&e);
    env_shutdown();
}

static const test_case_t tests[] = {
    {"names", test_names},
    {"legacy_messages", test_legacy_messages},
    {"every_event", test_every_event},
    {"data_and_id", test_data_and_id},
    {"bad_json", test_bad_json},
    {"bad_envelope", test_bad_envelope},
    {"unknown_event", test_unknown_event},
    {"invalid_payload", test_invalid_payload},
    {"utf8_valid", test_utf8_valid},
    {"utf8_in_messages", test_utf8_in_messages},
    {"depth", test_depth},
    {"shutdown_and_reinit", test_shutdown_and_reinit},
};

TEST_MAIN(tests)

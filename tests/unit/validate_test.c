/* SPDX-License-Identifier: MIT */
/* Tests of the JSON Schema validator (schemas/validate.c): every supported keyword accepts
 * and rejects, compile-time refusal of unsupported keywords, error paths, and the schema
 * files themselves (schemas/in, schemas/envelope.json, schemas/out) loaded from disk. */
#include "brk.h"
#include "test.h"
#include "validate.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Compiles schema text; aborts the test when it does not compile. */
static vs_schema_t *compile(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, &jerr);
    if (!doc)
        TEST_FAIL("schema text does not parse: %s: %s", jerr.text, text);
    char why[192];
    vs_schema_t *s = vs_compile(doc, why, sizeof why);
    json_decref(doc);
    if (!s)
        TEST_FAIL("schema does not compile: %s: %s", why, text);
    return s;
}

/* Returns 1 when the schema text is refused, with the reason in why. */
static int refused(const char *text, char *why, size_t whylen)
{
    json_t *doc = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!doc)
        TEST_FAIL("schema text does not parse: %s", text);
    vs_schema_t *s = vs_compile(doc, why, whylen);
    json_decref(doc);
    if (s) {
        vs_free(s);
        return 0;
    }
    return 1;
}

/* Validates instance text; returns the vs_validate result, message in msg. */
static int check(const vs_schema_t *s, const char *instance, char *msg, size_t msglen)
{
    json_t *x = json_loads(instance, JSON_DECODE_ANY, NULL);
    if (!x)
        TEST_FAIL("instance does not parse: %s", instance);
    int rc = vs_validate(s, x, msg, msglen);
    json_decref(x);
    return rc;
}

#define ACCEPTS(s, inst)                                                                           \
    do {                                                                                           \
        char m_[192];                                                                              \
        if (check((s), (inst), m_, sizeof m_) != 0)                                                \
            TEST_FAIL("expected %s to be accepted, got: %s", (inst), m_);                          \
    } while (0)

#define REJECTS(s, inst, want)                                                                     \
    do {                                                                                           \
        char m_[192];                                                                              \
        if (check((s), (inst), m_, sizeof m_) != BRK_EINVAL)                                       \
            TEST_FAIL("expected %s to be rejected", (inst));                                       \
        ASSERT_STR_EQ(m_, (want));                                                                 \
    } while (0)

static void test_annotations_ignored(void)
{
    vs_schema_t *s = compile("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                             "\"$id\":\"x\",\"title\":\"t\",\"description\":\"d\","
                             "\"$comment\":\"c\",\"examples\":[1,{\"pattern\":1}],"
                             "\"type\":\"integer\"}");
    ACCEPTS(s, "5");
    REJECTS(s, "\"5\"", "data: expected integer");
    vs_free(s);
}

static void test_compile_refusals(void)
{
    static const struct {
        const char *schema;
        const char *why; /* a substring of the reason */
    } cases[] = {
        {"{\"pattern\":\"^a\"}", "unsupported keyword \"pattern\""},
        {"{\"format\":\"date-time\"}", "unsupported keyword \"format\""},
        {"{\"$ref\":\"#/x\"}", "unsupported keyword \"$ref\""},
        {"{\"$defs\":{}}", "unsupported keyword \"$defs\""},
        {"{\"exclusiveMinimum\":0}", "unsupported keyword"},
        {"{\"properties\":{\"a\":{\"properties\":{\"b\":{\"not\":{}}}}}}",
         "properties.a.properties.b: unsupported keyword \"not\""},
        {"{\"anyOf\":[{},{\"uniqueItems\":true}]}", "anyOf[1]: unsupported keyword"},
        {"{\"items\":{\"minimum\":\"0\"}}", "items: minimum must be a number"},
        {"{\"additionalProperties\":{}}", "additionalProperties must be true or false"},
        {"{\"items\":[{}]}", "prefixItems"},
        {"{\"type\":\"float\"}", "unknown type float"},
        {"{\"type\":[]}", "type must be"},
        {"{\"type\":[\"string\",\"string\"]}", "listed twice"},
        {"{\"type\":5}", "type must be"},
        {"{\"enum\":[]}", "enum must be a non-empty array"},
        {"{\"enum\":\"a\"}", "enum must be a non-empty array"},
        {"{\"required\":\"a\"}", "required must be an array of strings"},
        {"{\"required\":[1]}", "required must be an array of strings"},
        {"{\"properties\":[]}", "properties must be an object"},
        {"{\"properties\":{\"a\":5}}", "a schema must be an object or a boolean"},
        {"{\"minLength\":-1}", "minLength must be a non-negative integer"},
        {"{\"maxLength\":1.5}", "maxLength must be a non-negative integer"},
        {"{\"minItems\":\"1\"}", "minItems must be a non-negative integer"},
        {"{\"maxItems\":null}", "maxItems must be a non-negative integer"},
        {"{\"maximum\":true}", "maximum must be a number"},
        {"{\"anyOf\":[]}", "anyOf must be a non-empty array"},
        {"{\"oneOf\":{}}", "oneOf must be a non-empty array"},
        {"5", "a schema must be an object or a boolean"},
        {"\"string\"", "a schema must be an object or a boolean"},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        char why[192] = "";
        if (!refused(cases[i].schema, why, sizeof why))
            TEST_FAIL("schema %s was accepted", cases[i].schema);
        if (!strstr(why, cases[i].why))
            TEST_FAIL("schema %s: reason \"%s\" lacks \"%s\"", cases[i].schema, why, cases[i].why);
    }
    /* A NULL schema and a NULL err buffer are handled. */
    ASSERT_NULL(vs_compile(NULL, NULL, 0));
    json_t *bad = json_loads("{\"pattern\":\"x\"}", 0, NULL);
    ASSERT_NULL(vs_compile(bad, NULL, 0));
    json_decref(bad);
}

static void test_compile_depth_limit(void)
{
    /* 40 nested "items" schemas compile; 100 are refused. */
    char buf[4096];
    for (int depth = 40; depth <= 100; depth += 60) {
        size_t len = 0;
        for (int i = 0; i < depth; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "{\"items\":");
        len += (size_t)snprintf(buf + len, sizeof buf - len, "{\"type\":\"integer\"}");
        for (int i = 0; i < depth; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "}");
        char why[192];
        int r = refused(buf, why, sizeof why);
        ASSERT_EQ(r, depth == 100);
        if (r)
            ASSERT_NOT_NULL(strstr(why, "nested too deeply"));
    }
}

static void test_type(void)
{
    static const struct {
        const char *type;
        const char *ok[3];
        const char *bad;
    } cases[] = {
        {"null", {"null"}, "0"},
        {"boolean", {"true", "false"}, "null"},
        {"object", {"{}", "{\"a\":1}"}, "[]"},
        {"array", {"[]", "[1,\"a\"]"}, "{}"},
        {"number", {"1", "1.5", "-1e3"}, "\"1\""},
        {"string", {"\"\"", "\"x\""}, "1"},
        {"integer", {"1", "-7", "2.0"}, "1.5"},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        char text[64], want[64];
        snprintf(text, sizeof text, "{\"type\":\"%s\"}", cases[i].type);
        vs_schema_t *s = compile(text);
        for (size_t k = 0; k < 3 && cases[i].ok[k]; k++)
            ACCEPTS(s, cases[i].ok[k]);
        snprintf(want, sizeof want, "data: expected %s", cases[i].type);
        REJECTS(s, cases[i].bad, want);
        vs_free(s);
    }

    vs_schema_t *s = compile("{\"type\":[\"string\",\"integer\"]}");
    ACCEPTS(s, "\"a\"");
    ACCEPTS(s, "3");
    REJECTS(s, "3.5", "data: expected string or integer");
    REJECTS(s, "null", "data: expected string or integer");
    vs_free(s);

    s = compile("{\"type\":[\"string\",\"integer\",\"null\"]}");
    ACCEPTS(s, "null");
    REJECTS(s, "[]", "data: expected string, integer or null");
    vs_free(s);
}

static void test_properties_and_paths(void)
{
    vs_schema_t *s = compile("{\"type\":\"object\",\"properties\":{"
                             "\"a\":{\"type\":\"object\",\"properties\":{\"b\":{\"type\":"
                             "\"string\"}}},\"list\":{\"items\":{\"type\":\"integer\"}}}}");
    ACCEPTS(s, "{}");
    ACCEPTS(s, "{\"a\":{\"b\":\"x\"},\"list\":[1,2],\"other\":true}");
    REJECTS(s, "{\"a\":{\"b\":1}}", "data.a.b: expected string");
    REJECTS(s, "{\"a\":[]}", "data.a: expected object");
    REJECTS(s, "{\"list\":[1,\"2\"]}", "data.list[1]: expected integer");
    /* properties only constrain objects. */
    ACCEPTS(s, "{\"list\":5}");
    vs_free(s);

    /* vs_validate_at names the root as asked. */
    s = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}}}");
    json_t *x = json_loads("{\"a\":1}", 0, NULL);
    char msg[192];
    ASSERT_EQ(vs_validate_at(s, x, "", msg, sizeof msg), BRK_EINVAL);
    ASSERT_STR_EQ(msg, "a: expected string");
    ASSERT_EQ(vs_validate_at(s, x, "msg", msg, sizeof msg), BRK_EINVAL);
    ASSERT_STR_EQ(msg, "msg.a: expected string");
    json_decref(x);
    x = json_loads("[]", 0, NULL);
    ASSERT_EQ(vs_validate_at(s, x, "", msg, sizeof msg), BRK_EINVAL);
    ASSERT_STR_EQ(msg, "(root): expected object");
    /* A NULL or short message buffer is fine. */
    ASSERT_EQ(vs_validate(s, x, NULL, 0), BRK_EINVAL);
    char tiny[6];
    ASSERT_EQ(vs_validate(s, x, tiny, sizeof tiny), BRK_EINVAL);
    ASSERT_STR_EQ(tiny, "data:");
    json_decref(x);
    vs_free(s);
}

static void test_required(void)
{
    vs_schema_t *s = compile("{\"required\":[\"a\",\"b\"]}");
    ACCEPTS(s, "{\"a\":null,\"b\":0}");
    REJECTS(s, "{\"a\":1}", "data.b: is required");
    REJECTS(s, "{}", "data.a: is required");
    /* required only constrains objects. */
    ACCEPTS(s, "\"x\"");
    vs_free(s);
}

static void test_additional_properties(void)
{
    vs_schema_t *s = compile("{\"properties\":{\"a\":{}},\"additionalProperties\":false}");
    ACCEPTS(s, "{}");
    ACCEPTS(s, "{\"a\":[1]}");
    REJECTS(s, "{\"a\":1,\"zz\":2}", "data.zz: unknown field");
    vs_free(s);

    s = compile("{\"additionalProperties\":false}");
    ACCEPTS(s, "{}");
    REJECTS(s, "{\"a\":1}", "data.a: unknown field");
    vs_free(s);

    s = compile("{\"properties\":{\"a\":{}},\"additionalProperties\":true}");
    ACCEPTS(s, "{\"b\":1}");
    vs_free(s);

    /* A very long unknown key is cut with "..." and the message stays valid UTF-8. */
    s = compile("{\"additionalProperties\":false}");
    char inst[600];
    size_t len = (size_t)snprintf(inst, sizeof inst, "{\"");
    for (int i = 0; i < 200; i++)
        len += (size_t)snprintf(inst + len, sizeof inst - len, "\xc3\xa9");
    snprintf(inst + len, sizeof inst - len, "\":1}");
    char msg[192];
    ASSERT_EQ(check(s, inst, msg, sizeof msg), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(msg, "...: unknown field"));
    json_t *js = json_string(msg);
    ASSERT_NOT_NULL(js);
    json_decref(js);
    vs_free(s);
}

static void test_enum(void)
{
    vs_schema_t *s = compile("{\"enum\":[\"present\",\"absent\",\"late\"]}");
    ACCEPTS(s, "\"present\"");
    ACCEPTS(s, "\"late\"");
    REJECTS(s, "\"Present\"", "data: must be one of present, absent, late");
    REJECTS(s, "1", "data: must be one of present, absent, late");
    vs_free(s);

    s = compile("{\"enum\":[1,null,\"x\",[1,2],{\"k\":true}]}");
    ACCEPTS(s, "1");
    ACCEPTS(s, "1.0");
    ACCEPTS(s, "null");
    ACCEPTS(s, "[1,2]");
    ACCEPTS(s, "{\"k\":true}");
    REJECTS(s, "[2,1]", "data: must be one of 1, null, x, [1,2], {\"k\":true}");
    REJECTS(s, "false", "data: must be one of 1, null, x, [1,2], {\"k\":true}");
    REJECTS(s, "{\"k\":true,\"j\":1}", "data: must be one of 1, null, x, [1,2], {\"k\":true}");
    vs_free(s);
}

static void test_const(void)
{
    vs_schema_t *s = compile("{\"const\":\"WELCOME\"}");
    ACCEPTS(s, "\"WELCOME\"");
    REJECTS(s, "\"welcome\"", "data: must be WELCOME");
    vs_free(s);

    s = compile("{\"const\":{\"a\":1,\"b\":[true,null]}}");
    ACCEPTS(s, "{\"b\":[true,null],\"a\":1.0}");
    REJECTS(s, "{\"a\":1}", "data: must be {\"a\":1,\"b\":[true,null]}");
    vs_free(s);

    s = compile("{\"const\":null}");
    ACCEPTS(s, "null");
    REJECTS(s, "0", "data: must be null");
    vs_free(s);
}

static void test_string_length(void)
{
    vs_schema_t *s = compile("{\"minLength\":1,\"maxLength\":3}");
    ACCEPTS(s, "\"a\"");
    ACCEPTS(s, "\"abc\"");
    /* Lengths count code points: two 2-byte, a 3-byte and a 4-byte character. */
    ACCEPTS(s, "\"\xc3\xa9\xc3\xa9\xe2\x82\xac\"");
    ACCEPTS(s, "\"\xf0\x9f\x98\x80\xf0\x9f\x98\x80\"");
    ACCEPTS(s, "\"\\ud83d\\ude00\"");
    REJECTS(s, "\"\"", "data: must have at least 1 character");
    REJECTS(s, "\"abcd\"", "data: must have at most 3 characters");
    REJECTS(s, "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\"", "data: must have at most 3 characters");
    /* Length keywords ignore non-strings. */
    ACCEPTS(s, "12345");
    ACCEPTS(s, "[]");
    vs_free(s);

    s = compile("{\"minLength\":2}");
    REJECTS(s, "\"a\"", "data: must have at least 2 characters");
    vs_free(s);
}

static void test_number_bounds(void)
{
    vs_schema_t *s = compile("{\"minimum\":0,\"maximum\":100}");
    ACCEPTS(s, "0");
    ACCEPTS(s, "100");
    ACCEPTS(s, "0.0");
    ACCEPTS(s, "99.999");
    REJECTS(s, "-1", "data: must be >= 0");
    REJECTS(s, "-0.001", "data: must be >= 0");
    REJECTS(s, "100.5", "data: must be <= 100");
    REJECTS(s, "101", "data: must be <= 100");
    ACCEPTS(s, "\"1000\""); /* bounds ignore non-numbers */
    vs_free(s);

    s = compile("{\"minimum\":-2.5}");
    ACCEPTS(s, "-2");
    ACCEPTS(s, "-2.5");
    REJECTS(s, "-3", "data: must be >= -2.5");
    vs_free(s);

    /* Integers near 2^63 compare exactly rather than through a rounded double. */
    s = compile("{\"maximum\":9007199254740992}");
    ACCEPTS(s, "9007199254740992");
    REJECTS(s, "9007199254740993", "data: must be <= 9007199254740992");
    vs_free(s);
}

static void test_items_and_counts(void)
{
    vs_schema_t *s = compile("{\"type\":\"array\",\"minItems\":1,\"maxItems\":2,"
                             "\"items\":{\"type\":\"string\",\"minLength\":1}}");
    ACCEPTS(s, "[\"a\"]");
    ACCEPTS(s, "[\"a\",\"b\"]");
    REJECTS(s, "[]", "data: must have at least 1 item");
    REJECTS(s, "[\"a\",\"b\",\"c\"]", "data: must have at most 2 items");
    REJECTS(s, "[\"a\",\"\"]", "data[1]: must have at least 1 character");
    REJECTS(s, "[3]", "data[0]: expected string");
    vs_free(s);

    s = compile("{\"minItems\":2}");
    REJECTS(s, "[1]", "data: must have at least 2 items");
    ACCEPTS(s, "{}");
    vs_free(s);

    s = compile("{\"items\":{\"items\":{\"enum\":[1]}}}");
    REJECTS(s, "[[1],[1,2]]", "data[1][1]: must be one of 1");
    vs_free(s);
}

static void test_any_of(void)
{
    vs_schema_t *s = compile("{\"type\":\"object\",\"anyOf\":[{\"required\":[\"studentId\"]},"
                             "{\"required\":[\"student_id\"]}]}");
    ACCEPTS(s, "{\"studentId\":\"1\"}");
    ACCEPTS(s, "{\"student_id\":\"1\"}");
    ACCEPTS(s, "{\"studentId\":\"1\",\"student_id\":\"1\"}");
    REJECTS(s, "{}", "data.studentId: is required, or data.student_id: is required");
    vs_free(s);

    s = compile("{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\",\"minimum\":0}]}");
    ACCEPTS(s, "\"x\"");
    ACCEPTS(s, "3");
    REJECTS(s, "-3", "data: expected string, or data: must be >= 0");
    vs_free(s);
}

static void test_one_of(void)
{
    vs_schema_t *s = compile("{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":10}]}");
    ACCEPTS(s, "3");    /* integer only */
    ACCEPTS(s, "10.5"); /* minimum only */
    REJECTS(s, "12", "data: matches more than one of the oneOf alternatives");
    REJECTS(s, "2.5", "data: expected integer, or data: must be >= 10");
    vs_free(s);
}

static void test_boolean_schemas(void)
{
    vs_schema_t *s = compile("true");
    ACCEPTS(s, "[1,{}]");
    vs_free(s);
    s = compile("false");
    REJECTS(s, "null", "data: not allowed");
    vs_free(s);
    s = compile("{\"properties\":{\"x\":false,\"y\":true}}");
    ACCEPTS(s, "{\"y\":[]}");
    REJECTS(s, "{\"x\":1}", "data.x: not allowed");
    vs_free(s);
}

static void test_combined_order(void)
{
    /* Known fields are checked first, then required, then unknown fields. */
    vs_schema_t *s = compile("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"string\"}},"
                             "\"required\":[\"a\"],\"additionalProperties\":false}");
    REJECTS(s, "{\"a\":1,\"b\":1}", "data.a: expected string");
    REJECTS(s, "{\"b\":1}", "data.a: is required");
    REJECTS(s, "{\"a\":\"\",\"b\":1}", "data.b: unknown field");
    vs_free(s);
}

/* --- the schema files ------------------------------------------------------------------ */

static void schema_dir(const char *sub, char *out, size_t outlen)
{
    const char *base = getenv("ROLLCALL_TEST_DATA");
    if (!base)
        TEST_FAIL("ROLLCALL_TEST_DATA is not set (run through ctest)");
    snprintf(out, outlen, "%s/../schemas%s%s", base, sub[0] ? "/" : "", sub);
}

static json_t *load(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc)
        TEST_FAIL("%s does not parse: line %d: %s", path, jerr.line, jerr.text);
    return doc;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Lists the *.json names (without the extension) in dir, sorted; returns the count. */
static size_t list_json(const char *dir, char names[][64], size_t max)
{
    DIR *d = opendir(dir);
    if (!d)
        TEST_FAIL("cannot open %s", dir);
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t len = strlen(e->d_name);
        if (len < 6 || len - 5 >= 64 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        if (n == max) {
            closedir(d);
            TEST_FAIL("too many files in %s", dir);
        }
        memcpy(names[n], e->d_name, len - 5);
        names[n][len - 5] = '\0';
        n++;
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_names);
    return n;
}

static void test_in_schema_files(void)
{
    static const char *const want[] = {"ANNOUNCE",      "ATTENDANCE_MARKED", "AUTH",
                                       "CLASSES",       "DONE",              "FRAME",
                                       "MY_ATTENDANCE", "PING",              "ROSTER",
                                       "SESSION_START", "TODAY_SUMMARY"};
    char dir[512], path[600], names[32][64];
    schema_dir("in", dir, sizeof dir);
    size_t n = list_json(dir, names, 32);
    ASSERT_EQ(n, BRK_ARRAY_LEN(want));
    for (size_t i = 0; i < n; i++) {
        ASSERT_STR_EQ(names[i], want[i]);
        snprintf(path, sizeof path, "%s/%.63s.json", dir, names[i]);
        json_t *doc = load(path);
        char why[192];
        vs_schema_t *s = vs_compile(doc, why, sizeof why);
        if (!s)
            TEST_FAIL("%s: %s", path, why);
        /* Every example a schema carries must pass it. */
        size_t k;
        json_t *ex;
        json_t *examples = json_object_get(doc, "examples");
        for (k = 0; k < json_array_size(examples); k++) {
            ex = json_array_get(examples, k);
            if (vs_validate(s, ex, why, sizeof why) != 0)
                TEST_FAIL("%s: example %zu: %s", path, k, why);
        }
        ASSERT_STR_EQ(json_string_value(json_object_get(doc, "type")), "object");
        vs_free(s);
        json_decref(doc);
    }
}

static void test_envelope_schema_file(void)
{
    char path[600];
    schema_dir("envelope.json", path, sizeof path);
    json_t *doc = load(path);
    char why[192];
    vs_schema_t *s = vs_compile(doc, why, sizeof why);
    if (!s)
        TEST_FAIL("%s: %s", path, why);
    json_decref(doc);
    ACCEPTS(s, "{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"studentId\":\"123\","
               "\"status\":\"present\"}}");
    ACCEPTS(s, "{\"event\":\"TODAY_SUMMARY\"}");
    ACCEPTS(s, "{\"event\":\"PING\",\"data\":null,\"id\":7}");
    ACCEPTS(s, "{\"event\":\"PING\",\"id\":\"r-1\"}");
    REJECTS(s, "{\"data\":{}}", "data.event: is required");
    REJECTS(s, "{\"event\":1}", "data.event: expected string");
    REJECTS(s, "{\"event\":\"PING\",\"data\":[]}", "data.data: expected object or null");
    REJECTS(s, "{\"event\":\"PING\",\"id\":\"\"}", "data.id: must have at least 1 character");
    REJECTS(s, "{\"event\":\"PING\",\"id\":1.5}", "data.id: expected string or integer");
    REJECTS(s, "{\"event\":\"PING\",\"extra\":1}", "data.extra: unknown field");
    vs_free(s);
}

/* Removes every "pattern" keyword (which the C validator does not implement) so the out
 * schemas can be checked here with the rest of their keywords. */
static void strip_patterns(json_t *x)
{
    if (json_is_object(x)) {
        json_object_del(x, "pattern");
        for (void *it = json_object_iter(x); it; it = json_object_iter_next(x, it))
            strip_patterns(json_object_iter_value(it));
    } else if (json_is_array(x)) {
        for (size_t i = 0; i < json_array_size(x); i++)
            strip_patterns(json_array_get(x, i));
    }
}

#define TS "\"2026-11-22T08:10:00.123Z\""
static const struct {
    const char *event;
    const char *ok;  /* a message as docs/PROTOCOL.md describes it */
    const char *bad; /* the same message drifted */
    const char *why; /* vs_validate_at(..., "msg", ...) message for bad */
} out_samples[] = {
    {"ANNOUNCEMENT",
     "{\"event\":\"ANNOUNCEMENT\",\"data\":{\"class_id\":\"c\",\"text\":\"Quiz today\","
     "\"from\":\"t1\",\"name\":null,\"at\":" TS "}}",
     "{\"event\":\"ANNOUNCEMENT\",\"data\":{\"class_id\":\"c\",\"text\":\"\","
     "\"from\":\"t1\",\"name\":null,\"at\":" TS "}}",
     "msg.data.text: must have at least 1 character"},
    {"WELCOME",
     "{\"event\":\"WELCOME\",\"data\":{\"user_id\":\"t1\",\"role\":\"teacher\",\"name\":\"T\","
     "\"classes\":[\"math-7b\"],\"server_time\":" TS ",\"protocol\":1,\"settings\":{"
     "\"frame_interval\":3,\"frame_rate\":2,\"frame_max_bytes\":1048576,\"token_warning\":60}}}",
     "{\"event\":\"WELCOME\",\"data\":{\"user_id\":\"t1\",\"role\":\"root\",\"name\":\"T\","
     "\"classes\":[\"math-7b\"],\"server_time\":" TS ",\"protocol\":1,\"settings\":{"
     "\"frame_interval\":3,\"frame_rate\":2,\"frame_max_bytes\":1048576,\"token_warning\":60}}}",
     "msg.data.role: must be one of teacher, student, admin"},
    {"PRESENCE_SNAPSHOT",
     "{\"event\":\"PRESENCE_SNAPSHOT\",\"data\":{\"class_id\":\"c\",\"students\":["
     "{\"student_id\":\"s1\",\"name\":\"A\"},{\"student_id\":\"s2\",\"name\":null}]}}",
     "{\"event\":\"PRESENCE_SNAPSHOT\",\"data\":{\"class_id\":\"c\",\"students\":["
     "{\"student_id\":\"s1\"}]}}",
     "msg.data.students[0].name: is required"},
    {"PRESENCE",
     "{\"event\":\"PRESENCE\",\"data\":{\"class_id\":\"c\",\"student_id\":\"s1\",\"name\":\"A\","
     "\"status\":\"online\",\"online\":1}}",
     "{\"event\":\"PRESENCE\",\"data\":{\"class_id\":\"c\",\"student_id\":\"s1\",\"name\":\"A\","
     "\"status\":\"online\",\"online\":-1}}",
     "msg.data.online: must be >= 0"},
    {"SESSION_STARTED",
     "{\"event\":\"SESSION_STARTED\",\"id\":\"r1\",\"data\":{\"class_id\":\"c\",\"session_id\":"
     "\"s\",\"date\":\"2026-11-22\",\"started_at\":" TS ",\"teacher_id\":\"t1\","
     "\"already_active\":false}}",
     "{\"event\":\"SESSION_STARTED\",\"data\":{\"class_id\":\"c\",\"session_id\":null,"
     "\"date\":\"2026-11-22\",\"started_at\":" TS ",\"teacher_id\":\"t1\","
     "\"already_active\":false}}",
     "msg.data.session_id: expected string"},
    {"ATTENDANCE_MARKED",
     "{\"event\":\"ATTENDANCE_MARKED\",\"id\":7,\"data\":{\"class_id\":\"c\",\"session_id\":"
     "\"s\",\"studentId\":\"123\",\"student_id\":\"123\",\"status\":\"present\","
     "\"marked_by\":\"t1\",\"marked_at\":" TS "}}",
     "{\"event\":\"ATTENDANCE_MARKED\",\"data\":{\"class_id\":\"c\",\"session_id\":\"s\","
     "\"studentId\":\"123\",\"student_id\":\"123\",\"status\":\"present\","
     "\"marked_by\":\"t1\",\"marked_at\":" TS ",\"name\":\"A\"}}",
     "msg.data.name: unknown field"},
    {"TODAY_SUMMARY",
     "{\"event\":\"TODAY_SUMMARY\",\"data\":{\"class_id\":\"c\",\"date\":\"2026-11-22\","
     "\"session_id\":null,\"state\":\"none\",\"started_at\":null,\"counts\":{\"present\":0,"
     "\"absent\":0,\"late\":0,\"unmarked\":1,\"online\":1,\"total\":1},\"students\":["
     "{\"student_id\":\"s1\",\"name\":\"A\",\"status\":\"unmarked\",\"source\":null,"
     "\"online\":true,\"engagement_percentage\":12.5,\"engaged_seconds\":1.5,"
     "\"frames_analyzed\":3,\"trust_score\":100}]}}",
     "{\"event\":\"TODAY_SUMMARY\",\"data\":{\"class_id\":\"c\",\"date\":\"2026-11-22\","
     "\"session_id\":null,\"state\":\"none\",\"started_at\":null,\"counts\":{\"present\":0,"
     "\"absent\":0,\"late\":0,\"unmarked\":1,\"online\":1},\"students\":[]}}",
     "msg.data.counts.total: is required"},
    {"ATTENDANCE_FINALIZED",
     "{\"event\":\"ATTENDANCE_FINALIZED\",\"data\":{\"class_id\":\"c\",\"session_id\":\"s\","
     "\"date\":\"2026-11-22\",\"already_finalized\":false,\"summary\":{\"present\":1,"
     "\"absent\":1,\"late\":0,\"total\":2,\"percentage\":50.0},\"records\":[{\"student_id\":"
     "\"s1\",\"student_name\":\"A\",\"status\":\"present\",\"source\":\"manual\","
     "\"engagement_percentage\":null,\"engagement_duration_seconds\":0,"
     "\"total_class_duration_seconds\":60,\"frames_analyzed\":0,\"trust_score\":100},"
     "{\"student_id\":\"s2\","
     "\"student_name\":null,\"status\":\"absent\",\"source\":\"engagement\","
     "\"engagement_percentage\":0,\"engagement_duration_seconds\":0,"
     "\"total_class_duration_seconds\":60,\"frames_analyzed\":0,\"trust_score\":85}]}}",
     "{\"event\":\"ATTENDANCE_FINALIZED\",\"data\":{\"class_id\":\"c\",\"session_id\":\"s\","
     "\"date\":\"2026-11-22\",\"already_finalized\":false,\"summary\":{\"present\":1,"
     "\"absent\":1,\"late\":0,\"total\":2,\"percentage\":150},\"records\":[]}}",
     "msg.data.summary.percentage: must be <= 100"},
    {"MY_ATTENDANCE",
     "{\"event\":\"MY_ATTENDANCE\",\"data\":{\"class_id\":\"c\",\"session_id\":null,\"date\":"
     "\"2026-11-22\",\"status\":\"pending\",\"source\":null,\"finalized\":false,"
     "\"engagement_percentage\":null,\"engaged_seconds\":0,\"frames_analyzed\":0,"
     "\"trust_score\":100}}",
     "{\"event\":\"MY_ATTENDANCE\",\"data\":{\"class_id\":\"c\",\"session_id\":null,\"date\":"
     "\"2026-11-22\",\"status\":\"unmarked\",\"source\":null,\"finalized\":false,"
     "\"engagement_percentage\":null}}",
     "msg.data.status: must be one of present, absent, late, pending"},
    {"PONG", "{\"event\":\"PONG\",\"data\":{\"ts\":12.5,\"server_time\":" TS "}}",
     "{\"event\":\"PONG\",\"data\":{\"ts\":\"12\",\"server_time\":" TS "}}",
     "msg.data.ts: expected number"},
    {"ERROR",
     "{\"event\":\"ERROR\",\"data\":{\"code\":\"BAD_JSON\",\"message\":\"x\",\"ref\":null}}",
     "{\"event\":\"ERROR\",\"data\":{\"code\":\"BAD_JSON\",\"message\":\"x\",\"ref\":null},"
     "\"id\":1.5}",
     "msg.id: expected string or integer"},
    {"FRAME_RESULT",
     "{\"event\":\"FRAME_RESULT\",\"id\":\"f1\",\"data\":{\"class_id\":\"c\",\"faces\":1,\"looking\":true,\"eyes_open\":null,\"yaw\":3.5,\"pitch\":null,\"engaged\":true,\"engagement_pct\":42.5,\"engaged_seconds\":3,\"frames_analyzed\":2,\"trust_score\":100,\"violation\":null,\"analysis_ms\":8.25}}",
     "{\"event\":\"FRAME_RESULT\",\"id\":\"f1\",\"data\":{\"class_id\":\"c\",\"faces\":1,\"looking\":true,\"eyes_open\":null,\"yaw\":3.5,\"pitch\":null,\"engaged\":true,\"engagement_pct\":42.5,\"engaged_seconds\":3,\"frames_analyzed\":2,\"trust_score\":100,\"violation\":\"sleeping\",\"analysis_ms\":8.25}}",
     "msg.data.violation: must be one of null, no_face, multi_face, looking_away"},
    {"ENGAGEMENT_UPDATE",
     "{\"event\":\"ENGAGEMENT_UPDATE\",\"data\":{\"class_id\":\"c\",\"students\":[{\"student_id\":\"s1\",\"name\":\"A\",\"faces\":1,\"looking\":true,\"engaged\":true,\"engagement_pct\":50,\"engaged_seconds\":3,\"frames_analyzed\":2,\"trust_score\":95,\"at\":\"2026-11-22T08:00:00.000Z\"}]}}",
     "{\"event\":\"ENGAGEMENT_UPDATE\",\"data\":{\"class_id\":\"c\",\"students\":[{\"student_id\":\"s1\",\"name\":\"A\",\"faces\":1,\"looking\":true,\"engaged\":true,\"engagement_pct\":50,\"engaged_seconds\":3,\"frames_analyzed\":2,\"trust_score\":101,\"at\":\"2026-11-22T08:00:00.000Z\"}]}}",
     "msg.data.students[0].trust_score: must be <= 100"},
    {"VIOLATION",
     "{\"event\":\"VIOLATION\",\"data\":{\"class_id\":\"c\",\"student_id\":\"s1\",\"name\":\"A\",\"kind\":\"no_face\",\"count\":1,\"trust_score\":90,\"at\":\"2026-11-22T08:00:00.000Z\"}}",
     "{\"event\":\"VIOLATION\",\"data\":{\"class_id\":\"c\",\"student_id\":\"s1\",\"name\":\"A\",\"kind\":\"no_face\",\"count\":0,\"trust_score\":90,\"at\":\"2026-11-22T08:00:00.000Z\"}}",
     "msg.data.count: must be >= 1"},
    {"AUTHENTICATED",
     "{\"event\":\"AUTHENTICATED\",\"id\":\"a1\",\"data\":{\"user_id\":\"s1\",\"role\":"
     "\"student\",\"classes\":[\"c\"],\"expires_at\":" TS "}}",
     "{\"event\":\"AUTHENTICATED\",\"data\":{\"user_id\":\"s1\",\"role\":\"student\","
     "\"classes\":[],\"expires_at\":" TS "}}",
     "msg.data.classes: must have at least 1 item"},
    {"TOKEN_EXPIRING",
     "{\"event\":\"TOKEN_EXPIRING\",\"data\":{\"expires_at\":" TS ",\"expires_in\":59}}",
     "{\"event\":\"TOKEN_EXPIRING\",\"data\":{\"expires_at\":" TS ",\"expires_in\":-1}}",
     "msg.data.expires_in: must be >= 0"},
    {"CLASS_REMOVED",
     "{\"event\":\"CLASS_REMOVED\",\"data\":{\"class_id\":\"c1\",\"reason\":\"not on the "
     "roster\"}}",
     "{\"event\":\"CLASS_REMOVED\",\"data\":{\"class_id\":\"\",\"reason\":\"x\"}}",
     "msg.data.class_id: must have at least 1 character"},
    {"ROSTER",
     "{\"event\":\"ROSTER\",\"data\":{\"class_id\":\"c1\",\"name\":\"Bio\",\"rostered\":true,"
     "\"students\":[{\"student_id\":\"s1\",\"name\":\"Ann\",\"online\":false}]},\"id\":3}",
     "{\"event\":\"ROSTER\",\"data\":{\"class_id\":\"c1\",\"name\":null,\"rostered\":false,"
     "\"students\":[{\"student_id\":\"s1\",\"name\":\"Ann\"}]}}",
     "msg.data.students[0].online: is required"},
    {"CLASSES",
     "{\"event\":\"CLASSES\",\"data\":{\"classes\":[{\"class_id\":\"c1\",\"name\":null,"
     "\"rostered\":false}]}}",
     "{\"event\":\"CLASSES\",\"data\":{\"classes\":[{\"class_id\":\"c1\",\"name\":null}]}}",
     "msg.data.classes[0].rostered: is required"},
};

static void test_out_schema_files(void)
{
    char dir[512], path[600], names[32][64];
    schema_dir("out", dir, sizeof dir);
    size_t n = list_json(dir, names, 32);
    ASSERT_EQ(n, BRK_ARRAY_LEN(out_samples));
    for (size_t i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/%.63s.json", dir, names[i]);
        json_t *doc = load(path);
        /* The whole envelope: an object of exactly event, data and an optional id. */
        ASSERT_STR_EQ(json_string_value(json_object_get(doc, "type")), "object");
        ASSERT(json_is_false(json_object_get(doc, "additionalProperties")));
        json_t *props = json_object_get(doc, "properties");
        ASSERT_EQ(json_object_size(props), 3);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(props, "event"), "const")),
                      names[i]);
        json_t *req = json_object_get(doc, "required");
        ASSERT_EQ(json_array_size(req), 2);
        ASSERT_STR_EQ(json_string_value(json_array_get(req, 0)), "event");
        ASSERT_STR_EQ(json_string_value(json_array_get(req, 1)), "data");
        json_t *id = json_object_get(props, "id");
        ASSERT_NOT_NULL(id);
        ASSERT_EQ(json_integer_value(json_object_get(id, "maxLength")), 64);
        /* data: a closed object that requires every field but PONG's ts. */
        json_t *data = json_object_get(props, "data");
        ASSERT_STR_EQ(json_string_value(json_object_get(data, "type")), "object");
        ASSERT(json_is_false(json_object_get(data, "additionalProperties")));
        json_t *dprops = json_object_get(data, "properties");
        json_t *dreq = json_object_get(data, "required");
        ASSERT(json_object_size(dprops) > 0);
        /* Optional: PONG's ts, and the fields that one of data's alternative shapes
         * requires (oneOf: the staff's and a student's ATTENDANCE_FINALIZED). */
        size_t optional = strcmp(names[i], "PONG") == 0 ? 1 : 0;
        json_t *alts = json_object_get(data, "oneOf");
        for (size_t a = 0; a < json_array_size(alts); a++)
            optional += json_array_size(json_object_get(json_array_get(alts, a), "required"));
        ASSERT_EQ(json_array_size(dreq) + optional, json_object_size(dprops));
        size_t k;
        json_t *r;
        for (k = 0; k < json_array_size(dreq); k++) {
            r = json_array_get(dreq, k);
            ASSERT_NOT_NULL(json_object_get(dprops, json_string_value(r)));
        }

        /* Apart from "pattern", the schema uses only what the C validator implements, and
         * accepts the protocol's example while refusing a drifted copy. */
        size_t si = 0;
        while (si < BRK_ARRAY_LEN(out_samples) && strcmp(out_samples[si].event, names[i]) != 0)
            si++;
        if (si == BRK_ARRAY_LEN(out_samples))
            TEST_FAIL("unexpected out schema %s", names[i]);
        strip_patterns(doc);
        char why[192];
        vs_schema_t *s = vs_compile(doc, why, sizeof why);
        if (!s)
            TEST_FAIL("%s: %s", path, why);
        json_t *ok = json_loads(out_samples[si].ok, 0, NULL);
        json_t *bad = json_loads(out_samples[si].bad, 0, NULL);
        ASSERT_NOT_NULL(ok);
        ASSERT_NOT_NULL(bad);
        if (vs_validate_at(s, ok, "msg", why, sizeof why) != 0)
            TEST_FAIL("%s: example refused: %s", names[i], why);
        ASSERT_EQ(vs_validate_at(s, bad, "msg", why, sizeof why), BRK_EINVAL);
        ASSERT_STR_EQ(why, out_samples[si].why);
        json_decref(ok);
        json_decref(bad);
        vs_free(s);
        json_decref(doc);
    }
}

/* ATTENDANCE_FINALIZED has two shapes: the class's (summary and records, for staff) and a
 * student's (their own record only). The C validator must tell them apart like the e2e
 * tests' jsonschema: one shape or the other, never both, never neither. */
static void test_finalized_shapes(void)
{
    char dir[512], path[600], why[192];
    schema_dir("out", dir, sizeof dir);
    snprintf(path, sizeof path, "%s/ATTENDANCE_FINALIZED.json", dir);
    json_t *doc = load(path);
    strip_patterns(doc);
    vs_schema_t *s = vs_compile(doc, why, sizeof why);
    if (!s)
        TEST_FAIL("%s: %s", path, why);
#define FIN_HEAD                                                                               \
    "{\"event\":\"ATTENDANCE_FINALIZED\",\"data\":{\"class_id\":\"c\",\"session_id\":\"s\","           \
    "\"date\":\"2026-11-22\",\"already_finalized\":false"
#define FIN_REC                                                                                \
    "{\"student_id\":\"s1\",\"student_name\":\"A\",\"status\":\"present\",\"source\":"           \
    "\"manual\",\"engagement_percentage\":12.5,\"engagement_duration_seconds\":3,"             \
    "\"total_class_duration_seconds\":60,\"frames_analyzed\":4,\"trust_score\":100}"
#define FIN_SUMMARY                                                                            \
    "\"summary\":{\"present\":1,\"absent\":0,\"late\":0,\"total\":1,\"percentage\":100}"
    static const struct {
        const char *msg;
        int valid;
    } cases[] = {
        {FIN_HEAD ",\"record\":" FIN_REC "}}", 1},
        {FIN_HEAD "," FIN_SUMMARY ",\"records\":[" FIN_REC "]}}", 1},
        {FIN_HEAD "," FIN_SUMMARY ",\"records\":[" FIN_REC "],\"record\":" FIN_REC "}}", 0},
        {FIN_HEAD ",\"records\":[" FIN_REC "]}}", 0},
        {FIN_HEAD "}}", 0},
    };
#undef FIN_HEAD
#undef FIN_REC
#undef FIN_SUMMARY
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        json_t *m = json_loads(cases[i].msg, 0, NULL);
        ASSERT_NOT_NULL(m);
        int rc = vs_validate_at(s, m, "msg", why, sizeof why);
        if ((rc == 0) != cases[i].valid)
            TEST_FAIL("case %zu: expected %s, got %s (%s)", i,
                      cases[i].valid ? "valid" : "invalid", rc == 0 ? "valid" : "invalid", why);
        json_decref(m);
    }
    vs_free(s);
    json_decref(doc);
}

static const test_case_t tests[] = {
    {"annotations_ignored", test_annotations_ignored},
    {"compile_refusals", test_compile_refusals},
    {"compile_depth_limit", test_compile_depth_limit},
    {"type", test_type},
    {"properties_and_paths", test_properties_and_paths},
    {"required", test_required},
    {"additional_properties", test_additional_properties},
    {"enum", test_enum},
    {"const", test_const},
    {"string_length", test_string_length},
    {"number_bounds", test_number_bounds},
    {"items_and_counts", test_items_and_counts},
    {"any_of", test_any_of},
    {"one_of", test_one_of},
    {"boolean_schemas", test_boolean_schemas},
    {"combined_order", test_combined_order},
    {"in_schema_files", test_in_schema_files},
    {"envelope_schema_file", test_envelope_schema_file},
    {"out_schema_files", test_out_schema_files},
    {"finalized_shapes", test_finalized_shapes},
};

TEST_MAIN(tests)

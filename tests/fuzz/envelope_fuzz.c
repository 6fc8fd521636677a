/* SPDX-License-Identifier: MIT */
/* libFuzzer target for the envelope parser's contract (schemas/envelope.h): any bytes in,
 * either an accepted event or an error with a protocol code, never a crash, leak or
 * undefined behaviour. Beyond not crashing it checks what the rest of the broker relies
 * on: an accepted envelope has an object data and a well-typed id and re-parses to the
 * same event after serialization; a refusal carries a known code, a message that is valid
 * UTF-8 (it goes into a JSON reply) and an id that is NULL, a string or an integer. */
#include "envelope.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c))                                                                                  \
            __builtin_trap();                                                                      \
    } while (0)

static const char *const codes[] = {"BAD_JSON",     "INVALID_UTF8",  "TOO_DEEP",
                                    "BAD_ENVELOPE", "UNKNOWN_EVENT", "INVALID_PAYLOAD"};

static void check_id(const json_t *id)
{
    CHECK(id == NULL || json_is_integer(id) ||
          (json_is_string(id) && json_string_length(id) >= 1 &&
           json_string_length(id) <= 4 * ENV_MAX_ID_LEN));
}

int LLVMFuzzerTestOneInput(const uint8_t *buf, size_t len)
{
    static int ready;
    if (!ready) {
        if (env_init() != 0)
            abort();
        ready = 1;
    }

    env_t env;
    env_error_t err;
    if (env_parse((const char *)buf, len, &env, &err) == 0) {
        CHECK((unsigned)env.type < EVT__COUNT);
        CHECK(json_is_object(env.root) && json_is_object(env.data));
        CHECK(json_object_get(env.root, "data") == env.data);
        check_id(env.id);

        char *text = json_dumps(env.root, JSON_COMPACT);
        CHECK(text != NULL);
        env_t again;
        env_error_t err2;
        CHECK(env_parse(text, strlen(text), &again, &err2) == 0);
        CHECK(again.type == env.type);
        CHECK(json_equal(again.root, env.root));
        env_free(&again);
        free(text);
        env_free(&env);
        return 0;
    }

    int known = 0;
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
        if (err.code && strcmp(err.code, codes[i]) == 0)
            known = 1;
    CHECK(known);
    CHECK(err.message[0] != '\0');
    CHECK(env_utf8_valid(err.message, strlen(err.message)));
    json_t *s = json_string(err.message);
    CHECK(s != NULL);
    json_decref(s);
    check_id(err.id);
    json_decref(err.id);
    return 0;
}

/* SPDX-License-Identifier: MIT */
/* Unit tests for config/config.c: defaults, environment, flags, validation messages,
 * --help, subcommand detection and the redacted dump. */
#include "brk.h"
#include "config.h"
#include "log.h"
#include "test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const all_vars[] = {
    "ROLLCALL_HOST",
    "ROLLCALL_PORT",
    "ROLLCALL_JWT_SECRET",
    "ROLLCALL_JWT_PUBLIC_KEY",
    "ROLLCALL_JWT_JWKS",
    "ROLLCALL_JWT_ALG",
    "ROLLCALL_JWT_ISSUER",
    "ROLLCALL_JWT_AUDIENCE",
    "ROLLCALL_JWT_LEEWAY",
    "ROLLCALL_TOKEN_WARNING",
    "ROLLCALL_JWT_PRIVATE_KEY",
    "ROLLCALL_WEB",
    "ROLLCALL_WEB_DIR",
    "ROLLCALL_TOKEN_TTL",
    "ROLLCALL_REGISTRATION",
    "ROLLCALL_PASSWORD_COST",
    "ROLLCALL_LOGIN_LIMIT",
    "ROLLCALL_LOGIN_ADDRESS_LIMIT",
    "ROLLCALL_DATA_DIR",
    "ROLLCALL_ATTENDANCE_THRESHOLD",
    "ROLLCALL_ANALYZER_THREADS",
    "ROLLCALL_ANALYZER_QUEUE",
    "ROLLCALL_ANALYZER_PRELOAD",
    "ROLLCALL_MODEL_DIR",
    "ROLLCALL_FRAME_MAX_BYTES",
    "ROLLCALL_FRAME_MAX_PIXELS",
    "ROLLCALL_FRAME_RATE",
    "ROLLCALL_FRAME_INTERVAL",
    "ROLLCALL_MAX_YAW",
    "ROLLCALL_MAX_PITCH",
    "ROLLCALL_VIOLATION_SECONDS",
    "ROLLCALL_ENGAGEMENT_UPDATE_MS",
    "ROLLCALL_LOG_LEVEL",
    "ROLLCALL_DEV",
    "ROLLCALL_MAX_MESSAGE_BYTES",
    "ROLLCALL_OUTBOX_MESSAGES",
    "ROLLCALL_OUTBOX_BYTES",
    "ROLLCALL_ERROR_LIMIT",
    "ROLLCALL_MAX_CONNECTIONS",
    "ROLLCALL_IO_URING",
    "ROLLCALL_PING_INTERVAL",
    "ROLLCALL_IDLE_TIMEOUT",
    "ROLLCALL_DRAIN_TIMEOUT",
    "ROLLCALL_PORT_FILE",
    "ROLLCALL_MONGODB_URI",
    "ROLLCALL_MONGODB_DATABASE",
    "ROLLCALL_MONGODB_WRITE_CONCERN",
    "ROLLCALL_MONGODB_TIMEOUT_MS",
    "ROLLCALL_REDIS_URL",
    "ROLLCALL_PRESENCE_TTL",
};

static void clear_env(void)
{
    for (size_t i = 0; i < BRK_ARRAY_LEN(all_vars); i++)
        unsetenv(all_vars[i]);
}

#define ARGC(v) ((int)(sizeof(v) / sizeof((v)[0])))

/* Loads with argv and returns rc; whatever went to err is left in errbuf. */
static char errbuf[4096];

static int load(cfg_t *cfg, int argc, char **argv, cfg_command_t *cmd, int *argi)
{
    char *text = NULL;
    size_t size = 0;
    FILE *err = open_memstream(&text, &size);
    ASSERT_NOT_NULL(err);
    int rc = cfg_load(cfg, argc, argv, cmd, argi, err);
    fclose(err);
    snprintf(errbuf, sizeof errbuf, "%s", text ? text : "");
    free(text);
    return rc;
}

static size_t count_lines(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void test_defaults(void)
{
    clear_env();
    cfg_t cfg;
    cfg_command_t cmd = CFG_HELP;
    int argi = -1;
    char *argv[] = {"rollcall"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, &cmd, &argi), 0);
    ASSERT_STR_EQ(errbuf, "");
    ASSERT_EQ(cmd, CFG_RUN);
    ASSERT_EQ(argi, 1);
    ASSERT_STR_EQ(cfg.host, "0.0.0.0");
    ASSERT_EQ(cfg.port, 8080);
    ASSERT_NULL(cfg.jwt_secret);
    ASSERT_NULL(cfg.jwt_public_key);
    ASSERT_NULL(cfg.jwt_alg);
    ASSERT_NULL(cfg.jwt_issuer);
    ASSERT_NULL(cfg.jwt_audience);
    ASSERT_EQ(cfg.jwt_leeway, 30);
    ASSERT_NULL(cfg.jwt_jwks);
    ASSERT_EQ(cfg.token_warning, 60);
    ASSERT_STR_EQ(cfg.data_dir, "./rollcall-data");
    ASSERT_EQ(cfg.attendance_threshold, 75);
    ASSERT_STR_EQ(cfg.log_level, "info");
    ASSERT_EQ(cfg.dev, 0);
    ASSERT_EQ(cfg.max_message_bytes, 65536);
    ASSERT_EQ(cfg.outbox_messages, 1024);
    ASSERT_EQ(cfg.outbox_bytes, 4 * 1024 * 1024);
    ASSERT_EQ(cfg.error_limit, 20);
    ASSERT_EQ(cfg.max_connections, 50000);
    ASSERT_EQ(cfg.io_uring, 1);
    ASSERT_EQ(cfg.ping_interval, 30);
    ASSERT_EQ(cfg.idle_timeout, 90);
    ASSERT_EQ(cfg.drain_timeout, 10);
    ASSERT_NULL(cfg.port_file);
    cfg_free(&cfg);
    ASSERT_NULL(cfg.host);
    cfg_free(&cfg); /* twice is harmless */
}

static void test_env_overrides(void)
{
    clear_env();
    setenv("ROLLCALL_HOST", "127.0.0.1", 1);
    setenv("ROLLCALL_PORT", "9000", 1);
    setenv("ROLLCALL_JWT_SECRET", "0123456789abcdef0123456789abcdef", 1);
    setenv("ROLLCALL_JWT_ALG", "hs256", 1);
    setenv("ROLLCALL_JWT_ISSUER", "https://idp.example", 1);
    setenv("ROLLCALL_JWT_AUDIENCE", "rollcall", 1);
    setenv("ROLLCALL_JWT_LEEWAY", "0", 1);
    setenv("ROLLCALL_DATA_DIR", "/tmp/rc", 1);
    setenv("ROLLCALL_ATTENDANCE_THRESHOLD", "100", 1);
    setenv("ROLLCALL_LOG_LEVEL", "DEBUG", 1);
    setenv("ROLLCALL_DEV", "yes", 1);
    setenv("ROLLCALL_MAX_MESSAGE_BYTES", "16777216", 1);
    setenv("ROLLCALL_OUTBOX_MESSAGES", "16", 1);
    setenv("ROLLCALL_OUTBOX_BYTES", "1073741824", 1);
    setenv("ROLLCALL_ERROR_LIMIT", "10000", 1);
    setenv("ROLLCALL_MAX_CONNECTIONS", "1", 1);
    setenv("ROLLCALL_PING_INTERVAL", "0", 1);
    setenv("ROLLCALL_IDLE_TIMEOUT", "86400", 1);
    setenv("ROLLCALL_DRAIN_TIMEOUT", "600", 1);
    setenv("ROLLCALL_PORT_FILE", "/tmp/rc/port", 1);
    setenv("ROLLCALL_JWT_PUBLIC_KEY", "/etc/key.pem", 1);
    setenv("ROLLCALL_JWT_JWKS", "/etc/jwks.json", 1);
    setenv("ROLLCALL_TOKEN_WARNING", "0", 1);

    cfg_t cfg;
    cfg_command_t cmd;
    int argi;
    char *argv[] = {"rollcall"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_RUN);
    ASSERT_STR_EQ(cfg.host, "127.0.0.1");
    ASSERT_EQ(cfg.port, 9000);
    ASSERT_STR_EQ(cfg.jwt_secret, "0123456789abcdef0123456789abcdef");
    ASSERT_STR_EQ(cfg.jwt_alg, "HS256"); /* canonical spelling */
    ASSERT_STR_EQ(cfg.jwt_public_key, "/etc/key.pem");
    ASSERT_STR_EQ(cfg.jwt_jwks, "/etc/jwks.json");
    ASSERT_EQ(cfg.token_warning, 0);
    ASSERT_STR_EQ(cfg.jwt_issuer, "https://idp.example");
    ASSERT_STR_EQ(cfg.jwt_audience, "rollcall");
    ASSERT_EQ(cfg.jwt_leeway, 0);
    ASSERT_STR_EQ(cfg.data_dir, "/tmp/rc");
    ASSERT_EQ(cfg.attendance_threshold, 100);
    ASSERT_STR_EQ(cfg.log_level, "debug");
    ASSERT_EQ(cfg.dev, 1);
    ASSERT_EQ(cfg.max_message_bytes, 16 * 1024 * 1024);
    ASSERT_EQ(cfg.outbox_messages, 16);
    ASSERT_EQ(cfg.outbox_bytes, 1024 * 1024 * 1024);
    ASSERT_EQ(cfg.error_limit, 10000);
    ASSERT_EQ(cfg.max_connections, 1);
    ASSERT_EQ(cfg.ping_interval, 0);
    ASSERT_EQ(cfg.idle_timeout, 86400);
    ASSERT_EQ(cfg.drain_timeout, 600);
    ASSERT_STR_EQ(cfg.port_file, "/tmp/rc/port");
    cfg_free(&cfg);
    clear_env();
}

static void test_env_empty_is_unset(void)
{
    clear_env();
    setenv("ROLLCALL_PORT", "", 1);
    setenv("ROLLCALL_HOST", "", 1);
    setenv("ROLLCALL_JWT_SECRET", "", 1);
    setenv("ROLLCALL_LOG_LEVEL", "", 1);
    cfg_t cfg;
    char *argv[] = {"rollcall"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, NULL, NULL), 0);
    ASSERT_EQ(cfg.port, 8080);
    ASSERT_STR_EQ(cfg.host, "0.0.0.0");
    ASSERT_NULL(cfg.jwt_secret);
    ASSERT_STR_EQ(cfg.log_level, "info");
    cfg_free(&cfg);
    clear_env();
}

static void test_env_bool_values(void)
{
    static const struct {
        const char *v;
        int want;
    } cases[] = {{"1", 1},   {"0", 0},  {"true", 1}, {"false", 0},
                 {"yes", 1}, {"no", 0}, {"TRUE", 1}, {"No", 0}};
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        clear_env();
        setenv("ROLLCALL_DEV", cases[i].v, 1);
        cfg_t cfg;
        char *argv[] = {"rollcall"};
        ASSERT_EQ(load(&cfg, ARGC(argv), argv, NULL, NULL), 0);
        ASSERT_EQ(cfg.dev, cases[i].want);
        cfg_free(&cfg);
    }
    clear_env();
}

static void test_flags_override_env(void)
{
    clear_env();
    setenv("ROLLCALL_PORT", "9000", 1);
    setenv("ROLLCALL_HOST", "10.0.0.1", 1);
    setenv("ROLLCALL_DEV", "0", 1);
    setenv("ROLLCALL_JWT_LEEWAY", "5", 1);
    setenv("ROLLCALL_TOKEN_WARNING", "30", 1);
    setenv("ROLLCALL_JWT_JWKS", "/env/jwks.json", 1);
    cfg_t cfg;
    cfg_command_t cmd;
    int argi;
    char *argv[] = {"rollcall",       "--port",           "9100",         "--host=::1",
                    "--dev",          "--log-level=warn", "--jwt-issuer", "iss-1",
                    "--jwt-leeway=0", "--token-warning",  "86400",        "--jwt-jwks",
                    "/flag/jwks.json"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, &cmd, &argi), 0);
    ASSERT_STR_EQ(errbuf, "");
    ASSERT_EQ(cmd, CFG_RUN);
    ASSERT_EQ(argi, ARGC(argv));
    ASSERT_EQ(cfg.port, 9100);
    ASSERT_STR_EQ(cfg.host, "::1");
    ASSERT_EQ(cfg.dev, 1);
    ASSERT_STR_EQ(cfg.log_level, "warn");
    ASSERT_STR_EQ(cfg.jwt_issuer, "iss-1");
    ASSERT_EQ(cfg.jwt_leeway, 0);
    ASSERT_EQ(cfg.token_warning, 86400);
    ASSERT_STR_EQ(cfg.jwt_jwks, "/flag/jwks.json");
    cfg_free(&cfg);

    /* The last flag wins, and "--flag=" clears an optional string. */
    setenv("ROLLCALL_JWT_AUDIENCE", "aud-env", 1);
    char *argv2[] = {"rollcall", "--port=1", "--port", "2", "--jwt-audience="};
    ASSERT_EQ(load(&cfg, ARGC(argv2), argv2, NULL, NULL), 0);
    ASSERT_EQ(cfg.port, 2);
    ASSERT_NULL(cfg.jwt_audience);
    cfg_free(&cfg);

    /* --dev=false turns off what the environment turned on. */
    setenv("ROLLCALL_DEV", "1", 1);
    char *argv3[] = {"rollcall", "--dev=false"};
    ASSERT_EQ(load(&cfg, ARGC(argv3), argv3, NULL, NULL), 0);
    ASSERT_EQ(cfg.dev, 0);
    cfg_free(&cfg);
    clear_env();
}

/* Each bad value must fail with BRK_EINVAL and exactly one line that names the variable
 * and the flag of the setting. */
static void test_invalid_values(void)
{
    static const struct {
        const char *flag; /* passed as "--flag value" */
        const char *value;
        const char *env; /* the name the message must contain */
    } cases[] = {
        {"--port", "abc", "ROLLCALL_PORT"},
        {"--port", "65536", "ROLLCALL_PORT"},
        {"--port", "-1", "ROLLCALL_PORT"},
        {"--port", "", "ROLLCALL_PORT"},
        {"--port", "80x", "ROLLCALL_PORT"},
        {"--port", " 80", "ROLLCALL_PORT"},
        {"--port", "+80", "ROLLCALL_PORT"},
        {"--port", "99999999999999999999999", "ROLLCALL_PORT"},
        {"--jwt-leeway", "601", "ROLLCALL_JWT_LEEWAY"},
        {"--token-warning", "-1", "ROLLCALL_TOKEN_WARNING"},
        {"--token-warning", "86401", "ROLLCALL_TOKEN_WARNING"},
        {"--token-warning", "1m", "ROLLCALL_TOKEN_WARNING"},
        {"--attendance-threshold", "101", "ROLLCALL_ATTENDANCE_THRESHOLD"},
        {"--max-message-bytes", "255", "ROLLCALL_MAX_MESSAGE_BYTES"},
        {"--max-message-bytes", "16777217", "ROLLCALL_MAX_MESSAGE_BYTES"},
        {"--outbox-messages", "15", "ROLLCALL_OUTBOX_MESSAGES"},
        {"--outbox-messages", "1000001", "ROLLCALL_OUTBOX_MESSAGES"},
        {"--outbox-bytes", "4095", "ROLLCALL_OUTBOX_BYTES"},
        {"--outbox-bytes", "1073741825", "ROLLCALL_OUTBOX_BYTES"},
        {"--error-limit", "0", "ROLLCALL_ERROR_LIMIT"},
        {"--error-limit", "10001", "ROLLCALL_ERROR_LIMIT"},
        {"--max-connections", "0", "ROLLCALL_MAX_CONNECTIONS"},
        {"--max-connections", "1000001", "ROLLCALL_MAX_CONNECTIONS"},
        {"--ping-interval", "3601", "ROLLCALL_PING_INTERVAL"},
        {"--idle-timeout", "86401", "ROLLCALL_IDLE_TIMEOUT"},
        {"--drain-timeout", "601", "ROLLCALL_DRAIN_TIMEOUT"},
        {"--log-level", "verbose", "ROLLCALL_LOG_LEVEL"},
        {"--log-level", "", "ROLLCALL_LOG_LEVEL"},
        {"--jwt-alg", "HS384", "ROLLCALL_JWT_ALG"},
        {"--jwt-alg", "none", "ROLLCALL_JWT_ALG"},
        {"--token-ttl", "59", "ROLLCALL_TOKEN_TTL"},
        {"--token-ttl", "2592001", "ROLLCALL_TOKEN_TTL"},
        {"--registration", "maybe", "ROLLCALL_REGISTRATION"},
        {"--registration", "", "ROLLCALL_REGISTRATION"},
        {"--password-cost", "0", "ROLLCALL_PASSWORD_COST"},
        {"--password-cost", "12", "ROLLCALL_PASSWORD_COST"},
        {"--login-limit", "0", "ROLLCALL_LOGIN_LIMIT"},
        {"--login-address-limit", "0", "ROLLCALL_LOGIN_ADDRESS_LIMIT"},
        {"--host", "", "ROLLCALL_HOST"},
        {"--data-dir", "", "ROLLCALL_DATA_DIR"},
        {"--dev=maybe", NULL, "ROLLCALL_DEV"},
        {"--frame-interval", "-1", "ROLLCALL_FRAME_INTERVAL"},
        {"--frame-interval", "1e3", "ROLLCALL_FRAME_INTERVAL"},
        {"--frame-interval", "3601", "ROLLCALL_FRAME_INTERVAL"},
        {"--frame-interval", ".", "ROLLCALL_FRAME_INTERVAL"},
        {"--frame-interval", "nan", "ROLLCALL_FRAME_INTERVAL"},
        {"--violation-seconds", "2s", "ROLLCALL_VIOLATION_SECONDS"},
        {"--frame-max-bytes", "1023", "ROLLCALL_FRAME_MAX_BYTES"},
        {"--frame-rate", "0", "ROLLCALL_FRAME_RATE"},
        {"--max-yaw", "91", "ROLLCALL_MAX_YAW"},
        {"--analyzer-queue", "0", "ROLLCALL_ANALYZER_QUEUE"},
        {"--model-dir", "", "ROLLCALL_MODEL_DIR"},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        clear_env();
        cfg_t cfg;
        char *argv[] = {"rollcall", (char *)cases[i].flag, (char *)cases[i].value};
        int argc = cases[i].value ? 3 : 2;
        int rc = load(&cfg, argc, argv, NULL, NULL);
        if (rc != BRK_EINVAL)
            TEST_FAIL("case %zu (%s \"%s\"): rc %d", i, cases[i].flag,
                      cases[i].value ? cases[i].value : "", rc);
        if (!strstr(errbuf, cases[i].env) || count_lines(errbuf) != 1 ||
            strncmp(errbuf, "rollcall: invalid ", 18) != 0)
            TEST_FAIL("case %zu: message \"%s\" does not name %s", i, errbuf, cases[i].env);
        /* The flag is named too (without any "=value"). */
        char flag[64];
        snprintf(flag, sizeof flag, "%s", cases[i].flag);
        char *eq = strchr(flag, '=');
        if (eq)
            *eq = '\0';
        if (!strstr(errbuf, flag))
            TEST_FAIL("case %zu: message \"%s\" does not name %s", i, errbuf, flag);
        /* On error nothing is left allocated; freeing again is harmless. */
        ASSERT_NULL(cfg.host);
        cfg_free(&cfg);
    }
}

static void test_invalid_message_text(void)
{
    clear_env();
    cfg_t cfg;
    char *argv[] = {"rollcall", "--port", "abc"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, NULL, NULL), BRK_EINVAL);
    ASSERT_STR_EQ(errbuf, "rollcall: invalid ROLLCALL_PORT (--port) value \"abc\": expected an "
                          "integer 0..65535\n");

    char *argv2[] = {"rollcall", "--log-level=loud"};
    ASSERT_EQ(load(&cfg, ARGC(argv2), argv2, NULL, NULL), BRK_EINVAL);
    ASSERT_STR_EQ(errbuf, "rollcall: invalid ROLLCALL_LOG_LEVEL (--log-level) value \"loud\": "
                          "expected one of debug, info, warn, error, off\n");

    /* A hostile value cannot add lines to the message. */
    char *argv3[] = {"rollcall", "--port", "1\nlevel=fatal"};
    ASSERT_EQ(load(&cfg, ARGC(argv3), argv3, NULL, NULL), BRK_EINVAL);
    ASSERT_EQ(count_lines(errbuf), 1);
    ASSERT_NOT_NULL(strstr(errbuf, "\\x0a"));
}

static void test_invalid_env(void)
{
    static const struct {
        const char *env, *value;
    } cases[] = {
        {"ROLLCALL_PORT", "abc"},          {"ROLLCALL_PORT", "70000"},
        {"ROLLCALL_JWT_LEEWAY", "-5"},     {"ROLLCALL_ATTENDANCE_THRESHOLD", "7.5"},
        {"ROLLCALL_LOG_LEVEL", "trace"},   {"ROLLCALL_JWT_ALG", "RS512"},
        {"ROLLCALL_DEV", "maybe"},         {"ROLLCALL_MAX_MESSAGE_BYTES", "64k"},
        {"ROLLCALL_DRAIN_TIMEOUT", "1e3"},
    };
    for (size_t i = 0; i < BRK_ARRAY_LEN(cases); i++) {
        clear_env();
        setenv(cases[i].env, cases[i].value, 1);
        cfg_t cfg;
        char *argv[] = {"rollcall"};
        if (load(&cfg, ARGC(argv), argv, NULL, NULL) != BRK_EINVAL)
            TEST_FAIL("case %zu: %s=%s accepted", i, cases[i].env, cases[i].value);
        if (!strstr(errbuf, cases[i].env) || count_lines(errbuf) != 1)
            TEST_FAIL("case %zu: message \"%s\" does not name %s", i, errbuf, cases[i].env);
        /* A valid flag does not excuse a bad variable: the variable is still checked. */
        char *argv2[] = {"rollcall", "--port", "1"};
        ASSERT_EQ(load(&cfg, ARGC(argv2), argv2, NULL, NULL), BRK_EINVAL);
    }
    clear_env();
}

static void test_unknown_flag_and_arguments(void)
{
    clear_env();
    cfg_t cfg;
    char *argv[] = {"rollcall", "--bogus", "1"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, NULL, NULL), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(errbuf, "--bogus"));
    ASSERT_EQ(count_lines(errbuf), 1);

    char *argv2[] = {"rollcall", "--bogus=1"};
    ASSERT_EQ(load(&cfg, ARGC(argv2), argv2, NULL, NULL), BRK_EINVAL);
    ASSERT_STR_EQ(errbuf, "rollcall: unknown flag \"--bogus\" (see --help)\n");

    /* A flag that needs a value, at the end of the line. */
    char *argv3[] = {"rollcall", "--port"};
    ASSERT_EQ(load(&cfg, ARGC(argv3), argv3, NULL, NULL), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(errbuf, "ROLLCALL_PORT"));
    ASSERT_NOT_NULL(strstr(errbuf, "--port"));

    char *argv4[] = {"rollcall", "serve"};
    ASSERT_EQ(load(&cfg, ARGC(argv4), argv4, NULL, NULL), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(errbuf, "serve"));

    /* Prefixes are not abbreviations. */
    char *argv5[] = {"rollcall", "--por", "1"};
    ASSERT_EQ(load(&cfg, ARGC(argv5), argv5, NULL, NULL), BRK_EINVAL);
}

static void test_help_and_version(void)
{
    clear_env();
    cfg_t cfg;
    cfg_command_t cmd;
    int argi;
    char *argv[] = {"rollcall", "--help"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_HELP);
    cfg_free(&cfg);

    char *argv2[] = {"rollcall", "--port", "1", "-h"};
    ASSERT_EQ(load(&cfg, ARGC(argv2), argv2, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_HELP);
    cfg_free(&cfg);

    char *argv3[] = {"rollcall", "--version"};
    ASSERT_EQ(load(&cfg, ARGC(argv3), argv3, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_VERSION);
    cfg_free(&cfg);

    /* Help works while the environment holds a bad value. */
    setenv("ROLLCALL_PORT", "nope", 1);
    char *argv4[] = {"rollcall", "--help"};
    ASSERT_EQ(load(&cfg, ARGC(argv4), argv4, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_HELP);
    cfg_free(&cfg);
    clear_env();

    /* "-h" as the value of a flag is a value, not a request for help. */
    char *argv5[] = {"rollcall", "--data-dir", "-h"};
    ASSERT_EQ(load(&cfg, ARGC(argv5), argv5, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_RUN);
    ASSERT_STR_EQ(cfg.data_dir, "-h");
    cfg_free(&cfg);
}

static void test_frame_settings(void)
{
    clear_env();
    cfg_t cfg;
    char *argv[] = {"rollcall"};
    ASSERT_EQ(load(&cfg, 1, argv, NULL, NULL), 0);
    ASSERT_DOUBLE_NEAR(cfg.frame_interval, 3.0, 1e-9);
    ASSERT_DOUBLE_NEAR(cfg.violation_seconds, 10.0, 1e-9);
    ASSERT_EQ(cfg.frame_max_bytes, 1048576);
    ASSERT_EQ(cfg.analyzer_threads, 0);
    ASSERT_EQ(cfg.analyzer_preload, 1);
    ASSERT_EQ(cfg.max_yaw, 30);
    ASSERT_NOT_NULL(cfg.model_dir);
    cfg_free(&cfg);

    setenv("ROLLCALL_FRAME_INTERVAL", "0.25", 1);
    setenv("ROLLCALL_ANALYZER_PRELOAD", "no", 1);
    char *argv2[] = {"rollcall", "--violation-seconds=1.5", "--max-pitch", "20"};
    ASSERT_EQ(load(&cfg, ARGC(argv2), argv2, NULL, NULL), 0);
    ASSERT_DOUBLE_NEAR(cfg.frame_interval, 0.25, 1e-9);
    ASSERT_DOUBLE_NEAR(cfg.violation_seconds, 1.5, 1e-9);
    ASSERT_EQ(cfg.analyzer_preload, 0);
    ASSERT_EQ(cfg.max_pitch, 20);
    cfg_free(&cfg);
    clear_env();
}

static void test_help_lists_every_variable(void)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream(&text, &size);
    ASSERT_NOT_NULL(out);
    cfg_print_help(out, "rollcall");
    fclose(out);
    ASSERT_NOT_NULL(text);
    for (size_t i = 0; i < BRK_ARRAY_LEN(all_vars); i++) {
        if (!strstr(text, all_vars[i])) {
            free(text);
            TEST_FAIL("--help does not mention %s", all_vars[i]);
        }
    }
    /* Each variable appears with its flag, and ranges and defaults are shown. */
    int ok = strstr(text, "--port N") && strstr(text, "--dev ") &&
             strstr(text, "--jwt-public-key PATH") && strstr(text, "--jwt-jwks PATH") &&
             strstr(text, "--token-warning SECONDS") && strstr(text, "0..65535") &&
             strstr(text, "256..16777216") && strstr(text, "default 8080") &&
             strstr(text, "Usage: rollcall") && strstr(text, "token") && strstr(text, "--help") &&
             strstr(text, "--version");
    /* The help only lists names the table knows: count the variables it mentions. */
    size_t mentions = 0;
    for (const char *p = text; (p = strstr(p, "ROLLCALL_")); p++)
        mentions++;
    free(text);
    ASSERT(ok);
    ASSERT_EQ(mentions, BRK_ARRAY_LEN(all_vars));
}

static void test_token_subcommand(void)
{
    clear_env();
    setenv("ROLLCALL_JWT_SECRET", "env-secret-env-secret-env-secret", 1);
    cfg_t cfg;
    cfg_command_t cmd;
    int argi;
    char *argv[] = {"rollcall", "--port", "9000", "token", "--role", "teacher", "--help"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_TOKEN);
    ASSERT_EQ(argi, 4);
    ASSERT_STR_EQ(argv[argi], "--role");
    ASSERT_EQ(cfg.port, 9000);
    ASSERT_STR_EQ(cfg.jwt_secret, "env-secret-env-secret-env-secret");
    cfg_free(&cfg);

    char *argv2[] = {"rollcall", "token"};
    ASSERT_EQ(load(&cfg, ARGC(argv2), argv2, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_TOKEN);
    ASSERT_EQ(argi, 2);
    cfg_free(&cfg);

    /* "user": the accounts subcommand, after the server's flags. */
    char *argvu[] = {"rollcall", "--data-dir", "/tmp/x", "user", "add", "--role", "admin"};
    ASSERT_EQ(load(&cfg, ARGC(argvu), argvu, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_USER);
    ASSERT_EQ(argi, 4);
    ASSERT_STR_EQ(argvu[argi], "add");
    ASSERT_STR_EQ(cfg.data_dir, "/tmp/x");
    cfg_free(&cfg);

    /* "token" as a flag value is not the subcommand. */
    char *argv3[] = {"rollcall", "--jwt-audience", "token"};
    ASSERT_EQ(load(&cfg, ARGC(argv3), argv3, &cmd, &argi), 0);
    ASSERT_EQ(cmd, CFG_RUN);
    ASSERT_STR_EQ(cfg.jwt_audience, "token");
    cfg_free(&cfg);

    /* Flags before "token" are still validated. */
    char *argv4[] = {"rollcall", "--port", "x", "token"};
    ASSERT_EQ(load(&cfg, ARGC(argv4), argv4, &cmd, &argi), BRK_EINVAL);
    ASSERT_NOT_NULL(strstr(errbuf, "ROLLCALL_PORT"));
    clear_env();
}

/* Runs cfg_log() with stderr redirected to a temporary file and returns what it wrote. */
static char *capture_log(const cfg_t *cfg)
{
    char path[] = "/tmp/config_test_XXXXXX";
    int fd = mkstemp(path);
    ASSERT(fd >= 0);
    unlink(path);
    fflush(stderr);
    int saved = dup(2);
    ASSERT(saved >= 0);
    dup2(fd, 2);
    log_level_t old = log_level;
    log_level = LOG_INFO;
    cfg_log(cfg);
    log_level = old;
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)size + 1);
    ASSERT_NOT_NULL(buf);
    ASSERT_EQ(pread(fd, buf, (size_t)size, 0), size);
    close(fd);
    return buf;
}

static void test_log_redacts_secret(void)
{
    clear_env();
    setenv("ROLLCALL_JWT_SECRET", "super-secret-value-super-secret-value", 1);
    setenv("ROLLCALL_JWT_ISSUER", "my issuer", 1);
    cfg_t cfg;
    char *argv[] = {"rollcall", "--port", "9123"};
    ASSERT_EQ(load(&cfg, ARGC(argv), argv, NULL, NULL), 0);
    char *text = capture_log(&cfg);
    int ok = strstr(text, "msg=\"config\"") && strstr(text, "port=9123") &&
             strstr(text, "host=0.0.0.0") && strstr(text, "jwt_secret=(redacted)") &&
             strstr(text, "jwt_issuer=\"my issuer\"") && strstr(text, "jwt_public_key=\"\"") &&
             strstr(text, "jwt_jwks=\"\"") && strstr(text, "token_warning=60") &&
             strstr(text, "drain_timeout=10") && strstr(text, "port_file=") &&
             !strstr(text, "super-secret");
    if (!ok) {
        fprintf(stderr, "%s", text);
        free(text);
        cfg_free(&cfg);
        TEST_FAIL("cfg_log output is wrong");
    }
    free(text);
    cfg_free(&cfg);
    clear_env();
}

static const test_case_t tests[] = {
    {"defaults", test_defaults},
    {"env_overrides", test_env_overrides},
    {"env_empty_is_unset", test_env_empty_is_unset},
    {"env_bool_values", test_env_bool_values},
    {"flags_override_env", test_flags_override_env},
    {"invalid_values", test_invalid_values},
    {"invalid_message_text", test_invalid_message_text},
    {"invalid_env", test_invalid_env},
    {"unknown_flag_and_arguments", test_unknown_flag_and_arguments},
    {"help_and_version", test_help_and_version},
    {"help_lists_every_variable", test_help_lists_every_variable},
    {"frame_settings", test_frame_settings},
    {"token_subcommand", test_token_subcommand},
    {"log_redacts_secret", test_log_redacts_secret},
};

TEST_MAIN(tests)

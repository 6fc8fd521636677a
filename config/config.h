/* SPDX-License-Identifier: MIT */
/* The broker's configuration: one descriptor table drives the ROLLCALL_* environment
 * variables, the equivalent --flags, --help and the start-up dump. Read-only once loaded. */
#ifndef BRK_CONFIG_H
#define BRK_CONFIG_H

#include <stdint.h>
#include <stdio.h>

typedef struct cfg {
    char *host;              /* ROLLCALL_HOST, default "0.0.0.0" */
    int port;                /* ROLLCALL_PORT, default 8080 (0 = any free port) */
    char *jwt_secret;        /* ROLLCALL_JWT_SECRET (HS256) */
    char *jwt_public_key;    /* ROLLCALL_JWT_PUBLIC_KEY: path to a PEM (RS256/ES256) */
    char *jwt_jwks;          /* ROLLCALL_JWT_JWKS: path to a JSON Web Key Set */
    char *jwt_alg;           /* ROLLCALL_JWT_ALG: HS256, RS256 or ES256; derived when unset */
    char *jwt_issuer;        /* ROLLCALL_JWT_ISSUER: checked when set */
    char *jwt_audience;      /* ROLLCALL_JWT_AUDIENCE: checked when set */
    int jwt_leeway;          /* ROLLCALL_JWT_LEEWAY seconds, default 30 */
    int token_warning;       /* ROLLCALL_TOKEN_WARNING seconds before expiry, default 60 */
    char *jwt_private_key;   /* ROLLCALL_JWT_PRIVATE_KEY: PEM the accounts sign tokens with */
    int token_ttl;           /* ROLLCALL_TOKEN_TTL seconds of issued tokens, default 3600 */
    char *registration;      /* ROLLCALL_REGISTRATION open|teachers|off, default "open" */
    int password_cost;       /* ROLLCALL_PASSWORD_COST yescrypt cost 1..11, default 5 */
    int login_limit;         /* ROLLCALL_LOGIN_LIMIT failures per account per 15 min, 5 */
    int login_address_limit; /* ROLLCALL_LOGIN_ADDRESS_LIMIT requests per address per min, 30 */
    char *data_dir;          /* ROLLCALL_DATA_DIR, default "./rollcall-data" */
    int attendance_threshold;/* ROLLCALL_ATTENDANCE_THRESHOLD percent, default 75 */
    /* frame analysis (engagement/) */
    int analyzer_threads;    /* ROLLCALL_ANALYZER_THREADS, default 0 = number of cores */
    int analyzer_queue;      /* ROLLCALL_ANALYZER_QUEUE frames waiting, default 64 */
    int analyzer_preload;    /* ROLLCALL_ANALYZER_PRELOAD: load models at start, default 1 */
    char *model_dir;         /* ROLLCALL_MODEL_DIR, default the build's model cache */
    int frame_max_bytes;     /* ROLLCALL_FRAME_MAX_BYTES, default 1 MiB */
    int frame_max_pixels;    /* ROLLCALL_FRAME_MAX_PIXELS, default 8 Mpx */
    int frame_rate;          /* ROLLCALL_FRAME_RATE frames per second per student, default 2 */
    double frame_interval;   /* ROLLCALL_FRAME_INTERVAL seconds, default 3 */
    int max_yaw;             /* ROLLCALL_MAX_YAW degrees, default 30 */
    int max_pitch;           /* ROLLCALL_MAX_PITCH degrees, default 30 */
    double violation_seconds;/* ROLLCALL_VIOLATION_SECONDS, default 10 */
    int engagement_update_ms;/* ROLLCALL_ENGAGEMENT_UPDATE_MS, default 500 */
    char *log_level;         /* ROLLCALL_LOG_LEVEL, default "info" */
    int dev;                 /* ROLLCALL_DEV / --dev: generate a development secret */
    int max_message_bytes;   /* ROLLCALL_MAX_MESSAGE_BYTES, default 65536 */
    int outbox_messages;     /* ROLLCALL_OUTBOX_MESSAGES, default 1024 */
    int outbox_bytes;        /* ROLLCALL_OUTBOX_BYTES, default 4 MiB */
    int error_limit;         /* ROLLCALL_ERROR_LIMIT errors per 10 s before close, default 20 */
    int max_connections;     /* ROLLCALL_MAX_CONNECTIONS, default 50000 */
    int web;                 /* ROLLCALL_WEB: serve the pages, default 1 */
    char *web_dir;           /* ROLLCALL_WEB_DIR, default the installed pages or web/ */
    int io_uring;            /* ROLLCALL_IO_URING: batch writes through io_uring, default 1 */
    int ping_interval;       /* ROLLCALL_PING_INTERVAL seconds, default 30 */
    int idle_timeout;        /* ROLLCALL_IDLE_TIMEOUT seconds without any traffic, default 90 */
    int drain_timeout;       /* ROLLCALL_DRAIN_TIMEOUT seconds for SIGTERM, default 10 */
    char *port_file;         /* ROLLCALL_PORT_FILE: write the bound port here (tests) */
    char *mongodb_uri;       /* ROLLCALL_MONGODB_URI: ship finalized records there when set */
    char *mongodb_database;  /* ROLLCALL_MONGODB_DATABASE: overrides the URI's database */
    char *mongodb_write_concern; /* ROLLCALL_MONGODB_WRITE_CONCERN, default "majority" */
    int mongodb_timeout_ms;  /* ROLLCALL_MONGODB_TIMEOUT_MS server selection, default 2000 */
    char *redis_url;         /* ROLLCALL_REDIS_URL: live state in Redis when set */
    int presence_ttl;        /* ROLLCALL_PRESENCE_TTL seconds, default 10 */
} cfg_t;

typedef enum { CFG_RUN = 0, CFG_HELP, CFG_TOKEN, CFG_USER, CFG_VERSION } cfg_command_t;

/* Fills cfg with the defaults, then the environment (envp style lookup through getenv),
 * then argv flags (--port 9000 or --port=9000). Validates every value. On error writes one
 * line naming the setting to err and returns BRK_EINVAL. cfg owns its strings; free with
 * cfg_free(). *cmd tells whether to run, print help, or run the token or user subcommand (in
 * which case *argi is the index of the first argument after its name). */
int cfg_load(cfg_t *cfg, int argc, char **argv, cfg_command_t *cmd, int *argi, FILE *err);

/* Prints every setting with its variable, flag, default and description. */
void cfg_print_help(FILE *out, const char *argv0);

/* Logs the effective configuration, secrets redacted. */
void cfg_log(const cfg_t *cfg);

void cfg_free(cfg_t *cfg);

#endif

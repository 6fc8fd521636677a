/* SPDX-License-Identifier: MIT */
/* Configuration loading. One descriptor table (settings[] below) names every setting once:
 * its ROLLCALL_* variable, its --flag, its type, default, range and help text. Loading,
 * --help and the start-up dump all walk that table, so a new setting is one table row and
 * one cfg_t field. Depends on nothing but brk and log: key cross-checks (secret vs public
 * key, alg) belong to the caller, which hands the values to auth. */
#include "config.h"

#include "brk.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef enum { CT_STRING, CT_INT, CT_BOOL, CT_DOUBLE } cfg_type_t;

enum {
    CF_SECRET = 1 << 0,   /* never printed: not in the dump, not in error messages */
    CF_NONEMPTY = 1 << 1, /* an empty value is an error rather than "unset" */
};

typedef struct cfg_desc {
    const char *name; /* key in the dump, e.g. "port" */
    const char *env;  /* e.g. "ROLLCALL_PORT" */
    const char *flag; /* e.g. "--port" */
    cfg_type_t type;
    size_t off;                 /* offset of the char * or int field in cfg_t */
    const char *def;            /* default, parsed like any other value; NULL = unset */
    long min, max;              /* CT_INT and CT_DOUBLE range, inclusive */
    const char *const *choices; /* CT_STRING: allowed values (case-insensitive), or NULL */
    const char *metavar;        /* shown in --help after the flag */
    const char *help;
    unsigned flags;
} cfg_desc_t;

static const char *const log_levels[] = {"debug", "info", "warn", "error", "off", NULL};
static const char *const jwt_algs[] = {"HS256", "RS256", "ES256", NULL};
static const char *const registration_modes[] = {"open", "teachers", "off", NULL};

#define F(field) offsetof(cfg_t, field)
#define MiB (1024L * 1024L)
#ifndef ROLLCALL_DEFAULT_WEB_DIR
#define ROLLCALL_DEFAULT_WEB_DIR "./web"
#endif
#ifndef ROLLCALL_DEFAULT_MODEL_DIR
#define ROLLCALL_DEFAULT_MODEL_DIR "./models"
#endif

static const cfg_desc_t settings[] = {
    {"host", "ROLLCALL_HOST", "--host", CT_STRING, F(host), "0.0.0.0", 0, 0, NULL, "ADDR",
     "Address to listen on.", CF_NONEMPTY},
    {"port", "ROLLCALL_PORT", "--port", CT_INT, F(port), "8080", 0, 65535, NULL, "N",
     "TCP port to listen on; 0 picks any free port.", 0},
    {"jwt_secret", "ROLLCALL_JWT_SECRET", "--jwt-secret", CT_STRING, F(jwt_secret), NULL, 0, 0,
     NULL, "SECRET", "HS256 shared secret (at least 32 bytes). Prefer the variable to the flag.",
     CF_SECRET},
    {"jwt_public_key", "ROLLCALL_JWT_PUBLIC_KEY", "--jwt-public-key", CT_STRING, F(jwt_public_key),
     NULL, 0, 0, NULL, "PATH", "PEM public key file for RS256 or ES256.", 0},
    {"jwt_jwks", "ROLLCALL_JWT_JWKS", "--jwt-jwks", CT_STRING, F(jwt_jwks), NULL, 0, 0, NULL,
     "PATH", "JSON Web Key Set file (RSA, EC P-256): a token's kid picks the key. SIGHUP "
     "reloads it (and a public key file).",
     0},
    {"jwt_alg", "ROLLCALL_JWT_ALG", "--jwt-alg", CT_STRING, F(jwt_alg), NULL, 0, 0, jwt_algs, "ALG",
     "HS256, RS256 or ES256; derived from the key when unset.", 0},
    {"jwt_issuer", "ROLLCALL_JWT_ISSUER", "--jwt-issuer", CT_STRING, F(jwt_issuer), NULL, 0, 0,
     NULL, "ISS", "Required token issuer (iss); not checked when unset.", 0},
    {"jwt_audience", "ROLLCALL_JWT_AUDIENCE", "--jwt-audience", CT_STRING, F(jwt_audience), NULL, 0,
     0, NULL, "AUD", "Required token audience (aud); not checked when unset.", 0},
    {"jwt_leeway", "ROLLCALL_JWT_LEEWAY", "--jwt-leeway", CT_INT, F(jwt_leeway), "30", 0, 600, NULL,
     "SECONDS", "Clock leeway for exp, nbf and iat.", 0},
    {"token_warning", "ROLLCALL_TOKEN_WARNING", "--token-warning", CT_INT, F(token_warning), "60",
     0, 86400, NULL, "SECONDS",
     "Send TOKEN_EXPIRING this long before a connection's token runs out (exp plus the "
     "leeway); 0 sends none.",
     0},
    {"jwt_private_key", "ROLLCALL_JWT_PRIVATE_KEY", "--jwt-private-key", CT_STRING,
     F(jwt_private_key), NULL, 0, 0, NULL, "PATH",
     "PEM private key (RSA >= 2048 bits: RS256; EC P-256: ES256) the accounts endpoints sign "
     "tokens with; its public half must be among the verification keys. Unset: they sign "
     "with the HS256 secret.",
     0},
    {"token_ttl", "ROLLCALL_TOKEN_TTL", "--token-ttl", CT_INT, F(token_ttl), "3600", 60,
     30 * 86400, NULL, "SECONDS", "Lifetime of the tokens /auth/login and /auth/refresh issue.",
     0},
    {"registration", "ROLLCALL_REGISTRATION", "--registration", CT_STRING, F(registration),
     "open", 0, 0, registration_modes, "MODE",
     "POST /auth/register: open (teachers and students), teachers (teachers only) or off "
     "(accounts made with 'rollcall user add' only).",
     CF_NONEMPTY},
    {"password_cost", "ROLLCALL_PASSWORD_COST", "--password-cost", CT_INT, F(password_cost), "5",
     1, 11, NULL, "N",
     "yescrypt cost of new password hashes (memory 2^(N+7) x 4 KiB; 5 = 16 MiB). Hashes of "
     "an older cost are redone at the next login.",
     0},
    {"login_limit", "ROLLCALL_LOGIN_LIMIT", "--login-limit", CT_INT, F(login_limit), "5", 1,
     1000, NULL, "N",
     "Failed logins (or password changes) per account per 15 minutes before it answers 429.",
     0},
    {"login_address_limit", "ROLLCALL_LOGIN_ADDRESS_LIMIT", "--login-address-limit", CT_INT,
     F(login_address_limit), "30", 1, 100000, NULL, "N",
     "Login, register and password requests per client address per minute.", 0},
    {"data_dir", "ROLLCALL_DATA_DIR", "--data-dir", CT_STRING, F(data_dir), "./rollcall-data", 0, 0,
     NULL, "DIR", "Directory of the attendance journal.", CF_NONEMPTY},
    {"attendance_threshold", "ROLLCALL_ATTENDANCE_THRESHOLD", "--attendance-threshold", CT_INT,
     F(attendance_threshold), "75", 0, 100, NULL, "PERCENT",
     "Engagement percent at or above which a student counts as present.", 0},
    {"analyzer_threads", "ROLLCALL_ANALYZER_THREADS", "--analyzer-threads", CT_INT,
     F(analyzer_threads), "0", 0, 256, NULL, "N",
     "Frame analysis worker threads; 0 means one per core.", 0},
    {"analyzer_queue", "ROLLCALL_ANALYZER_QUEUE", "--analyzer-queue", CT_INT, F(analyzer_queue),
     "64", 1, 100000, NULL, "N",
     "Frames waiting for a worker; past it frames are skipped (and counted).", 0},
    {"analyzer_preload", "ROLLCALL_ANALYZER_PRELOAD", "--analyzer-preload", CT_BOOL,
     F(analyzer_preload), "1", 0, 1, NULL, NULL,
     "Load the analyzer models at start (once, shared by the workers) rather than on the "
     "first frame.", 0},
    {"model_dir", "ROLLCALL_MODEL_DIR", "--model-dir", CT_STRING, F(model_dir),
     ROLLCALL_DEFAULT_MODEL_DIR, 0, 0, NULL, "DIR",
     "Directory of the analyzer models (engagement/fetch_models.sh fills it).", CF_NONEMPTY},
    {"frame_max_bytes", "ROLLCALL_FRAME_MAX_BYTES", "--frame-max-bytes", CT_INT,
     F(frame_max_bytes), "1048576", 1024, 64 * MiB, NULL, "BYTES",
     "Largest accepted frame (JPEG or PNG bytes, after base64 decoding).", 0},
    {"frame_max_pixels", "ROLLCALL_FRAME_MAX_PIXELS", "--frame-max-pixels", CT_INT,
     F(frame_max_pixels), "8388608", 1024, 256 * MiB, NULL, "N",
     "Largest accepted frame area, checked on the image header before decoding.", 0},
    {"frame_rate", "ROLLCALL_FRAME_RATE", "--frame-rate", CT_INT, F(frame_rate), "2", 1, 1000,
     NULL, "N", "Frames per second accepted from one student connection.", 0},
    {"frame_interval", "ROLLCALL_FRAME_INTERVAL", "--frame-interval", CT_DOUBLE,
     F(frame_interval), "3", 0, 3600, NULL, "SECONDS",
     "Expected time between a student's frames; a frame earns at most twice this.", 0},
    {"max_yaw", "ROLLCALL_MAX_YAW", "--max-yaw", CT_INT, F(max_yaw), "30", 1, 90, NULL, "DEGREES",
     "Looking at the screen: head yaw within this many degrees.", 0},
    {"max_pitch", "ROLLCALL_MAX_PITCH", "--max-pitch", CT_INT, F(max_pitch), "30", 1, 90, NULL,
     "DEGREES", "Looking at the screen: head pitch within this many degrees.", 0},
    {"violation_seconds", "ROLLCALL_VIOLATION_SECONDS", "--violation-seconds", CT_DOUBLE,
     F(violation_seconds), "10", 0, 3600, NULL, "SECONDS",
     "No face, several faces or looking away for this long raises a VIOLATION.", 0},
    {"engagement_update_ms", "ROLLCALL_ENGAGEMENT_UPDATE_MS", "--engagement-update-ms", CT_INT,
     F(engagement_update_ms), "500", 10, 60000, NULL, "MS",
     "Shortest time between two ENGAGEMENT_UPDATE messages to a class's teachers.", 0},
    {"log_level", "ROLLCALL_LOG_LEVEL", "--log-level", CT_STRING, F(log_level), "info", 0, 0,
     log_levels, "LEVEL", "debug, info, warn, error or off.", CF_NONEMPTY},
    {"dev", "ROLLCALL_DEV", "--dev", CT_BOOL, F(dev), "0", 0, 1, NULL, NULL,
     "Development mode: generate a random JWT secret when none is set.", 0},
    {"max_message_bytes", "ROLLCALL_MAX_MESSAGE_BYTES", "--max-message-bytes", CT_INT,
     F(max_message_bytes), "65536", 256, 16 * MiB, NULL, "BYTES",
     "Largest accepted WebSocket text message.", 0},
    {"outbox_messages", "ROLLCALL_OUTBOX_MESSAGES", "--outbox-messages", CT_INT, F(outbox_messages),
     "1024", 16, 1000000, NULL, "N",
     "Queued messages per connection before closing it as a slow consumer.", 0},
    {"outbox_bytes", "ROLLCALL_OUTBOX_BYTES", "--outbox-bytes", CT_INT, F(outbox_bytes), "4194304",
     4096, 1024 * MiB, NULL, "BYTES",
     "Queued bytes per connection before closing it as a slow consumer.", 0},
    {"error_limit", "ROLLCALL_ERROR_LIMIT", "--error-limit", CT_INT, F(error_limit), "20", 1, 10000,
     NULL, "N", "Error replies within 10 s before the connection is closed (1008).", 0},
    {"max_connections", "ROLLCALL_MAX_CONNECTIONS", "--max-connections", CT_INT, F(max_connections),
     "50000", 1, 1000000, NULL, "N", "Concurrent WebSocket connections.", 0},
    {"web", "ROLLCALL_WEB", "--web", CT_BOOL, F(web), "1", 0, 1, NULL, NULL,
     "Serve the pages (/, /teacher, /student, /static/) from the web directory; off: none.", 0},
    {"web_dir", "ROLLCALL_WEB_DIR", "--web-dir", CT_STRING, F(web_dir), ROLLCALL_DEFAULT_WEB_DIR,
     0, 0, NULL, "DIR", "Directory of the pages and their assets (default: share/rollcall/web beside "
     "an installed binary, else web/ of the source tree the binary was built from).",
     CF_NONEMPTY},
    {"io_uring", "ROLLCALL_IO_URING", "--io-uring", CT_BOOL, F(io_uring), "1", 0, 1, NULL, NULL,
     "Submit the writes of a loop turn to many connections with one io_uring system call; "
     "0 (or a kernel without io_uring): one send(2) per connection.", 0},
    {"ping_interval", "ROLLCALL_PING_INTERVAL", "--ping-interval", CT_INT, F(ping_interval), "30",
     0, 3600, NULL, "SECONDS", "Ping a silent peer after this long; 0 disables pings.", 0},
    {"idle_timeout", "ROLLCALL_IDLE_TIMEOUT", "--idle-timeout", CT_INT, F(idle_timeout), "90", 0,
     86400, NULL, "SECONDS", "Close a connection without any traffic for this long; 0 never.", 0},
    {"drain_timeout", "ROLLCALL_DRAIN_TIMEOUT", "--drain-timeout", CT_INT, F(drain_timeout), "10",
     0, 600, NULL, "SECONDS", "Time given to connections to drain after SIGTERM.", 0},
    {"port_file", "ROLLCALL_PORT_FILE", "--port-file", CT_STRING, F(port_file), NULL, 0, 0, NULL,
     "PATH", "Write the bound port to this file once listening (tests).", 0},
    {"mongodb_uri", "ROLLCALL_MONGODB_URI", "--mongodb-uri", CT_STRING, F(mongodb_uri), NULL, 0, 0,
     NULL, "URI",
     "Ship finalized attendance to this MongoDB (mongodb://host/db); off when unset.",
     CF_SECRET},
    {"mongodb_database", "ROLLCALL_MONGODB_DATABASE", "--mongodb-database", CT_STRING,
     F(mongodb_database), NULL, 0, 0, NULL, "NAME",
     "MongoDB database; default the one named in the URI.", 0},
    {"mongodb_write_concern", "ROLLCALL_MONGODB_WRITE_CONCERN", "--mongodb-write-concern",
     CT_STRING, F(mongodb_write_concern), "majority", 0, 0, NULL, "W",
     "Write concern of the MongoDB writes: majority or a number of nodes (1..50).",
     CF_NONEMPTY},
    {"mongodb_timeout_ms", "ROLLCALL_MONGODB_TIMEOUT_MS", "--mongodb-timeout-ms", CT_INT,
     F(mongodb_timeout_ms), "2000", 100, 60000, NULL, "MS",
     "MongoDB server selection and connect timeout, unless the URI sets its own.", 0},
    {"redis_url", "ROLLCALL_REDIS_URL", "--redis-url", CT_STRING, F(redis_url), NULL, 0, 0, NULL,
     "URL", "redis://[:password@]host:port[/db] or unix:///path: keep the live state in Redis "
     "and fan events out to other instances. Unset: in-process memory.", CF_SECRET},
    {"presence_ttl", "ROLLCALL_PRESENCE_TTL", "--presence-ttl", CT_INT, F(presence_ttl), "10", 2,
     3600, NULL, "SECONDS", "Redis: an instance silent this long is dead; its students leave.", 0},
};

#undef F

static char **str_field(cfg_t *cfg, const cfg_desc_t *d)
{
    return (char **)(void *)((char *)cfg + d->off);
}

static int *int_field(cfg_t *cfg, const cfg_desc_t *d)
{
    return (int *)(void *)((char *)cfg + d->off);
}

static const char *const *str_cfield(const cfg_t *cfg, const cfg_desc_t *d)
{
    return (const char *const *)(const void *)((const char *)cfg + d->off);
}

static const int *int_cfield(const cfg_t *cfg, const cfg_desc_t *d)
{
    return (const int *)(const void *)((const char *)cfg + d->off);
}

static double *double_field(cfg_t *cfg, const cfg_desc_t *d)
{
    return (double *)(void *)((char *)cfg + d->off);
}

static const double *double_cfield(const cfg_t *cfg, const cfg_desc_t *d)
{
    return (const double *)(const void *)((const char *)cfg + d->off);
}

/* Writes s to out in double quotes, escaping quotes, backslashes and control bytes, and
 * cutting it at max bytes, so a hostile value cannot forge extra lines or fields. */
static void put_quoted(FILE *out, const char *s, size_t max)
{
    size_t n = strlen(s);
    fputc('"', out);
    for (size_t i = 0; i < n && i < max; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
    if (n > max)
        fputs("...", out);
    fputc('"', out);
}

static void report(FILE *err, const cfg_desc_t *d, const char *value, const char *expected)
{
    if (!err)
        return;
    fprintf(err, "rollcall: invalid %s (%s) value ", d->env, d->flag);
    if (d->flags & CF_SECRET)
        fputs("(redacted)", err);
    else
        put_quoted(err, value, 80);
    fprintf(err, ": %s\n", expected);
}

static int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"0", "false", "no", "off"};
    for (size_t i = 0; i < BRK_ARRAY_LEN(yes); i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return BRK_EINVAL;
}

/* Parses a plain decimal integer: optional '-', digits, nothing else. strtol alone would
 * accept leading blanks, a '+' and a trailing remainder. */
static int parse_int(const char *s, long *out)
{
    const char *p = s[0] == '-' ? s + 1 : s;
    if (*p < '0' || *p > '9')
        return BRK_EINVAL;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end != '\0')
        return BRK_EINVAL;
    if (errno == ERANGE)
        v = s[0] == '-' ? LONG_MIN : LONG_MAX; /* out of every range below */
    *out = v;
    return 0;
}

/* Parses a plain decimal number: digits with an optional fraction ("0.25", "3"); no sign,
 * exponent, blanks, hex or infinities. */
static int parse_decimal(const char *s, double *out)
{
    const char *p = s;
    int digits = 0;
    while (*p >= '0' && *p <= '9') {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (*p >= '0' && *p <= '9') {
            p++;
            digits++;
        }
    }
    if (*p != '\0' || digits == 0)
        return BRK_EINVAL;
    *out = strtod(s, NULL);
    return 0;
}

/* Validates value for setting d and stores it into cfg. value is never NULL here; an
 * empty string clears an optional string setting. */
static int set_value(cfg_t *cfg, const cfg_desc_t *d, const char *value, FILE *err)
{
    char expected[96];

    switch (d->type) {
    case CT_INT: {
        long v;
        if (parse_int(value, &v) != 0 || v < d->min || v > d->max) {
            snprintf(expected, sizeof expected, "expected an integer %ld..%ld", d->min, d->max);
            report(err, d, value, expected);
            return BRK_EINVAL;
        }
        *int_field(cfg, d) = (int)v;
        return 0;
    }
    case CT_DOUBLE: {
        double v;
        if (parse_decimal(value, &v) != 0 || v < (double)d->min || v > (double)d->max) {
            snprintf(expected, sizeof expected, "expected a number %ld..%ld", d->min, d->max);
            report(err, d, value, expected);
            return BRK_EINVAL;
        }
        *double_field(cfg, d) = v;
        return 0;
    }
    case CT_BOOL: {
        int v;
        if (parse_bool(value, &v) != 0) {
            report(err, d, value, "expected 1, 0, true, false, yes or no");
            return BRK_EINVAL;
        }
        *int_field(cfg, d) = v;
        return 0;
    }
    case CT_STRING:
        break;
    }

    char **field = str_field(cfg, d);
    if (value[0] == '\0') {
        if (d->flags & CF_NONEMPTY) {
            report(err, d, value, "expected a non-empty value");
            return BRK_EINVAL;
        }
        BRK_FREE(*field);
        return 0;
    }
    const char *store = value;
    if (d->choices) {
        store = NULL;
        for (size_t i = 0; d->choices[i]; i++) {
            if (strcasecmp(value, d->choices[i]) == 0)
                store = d->choices[i]; /* keep the canonical spelling */
        }
        if (!store) {
            size_t n = (size_t)snprintf(expected, sizeof expected, "expected one of");
            for (size_t i = 0; d->choices[i] && n < sizeof expected; i++)
                n += (size_t)snprintf(expected + n, sizeof expected - n, "%s %s", i ? "," : "",
                                      d->choices[i]);
            report(err, d, value, expected);
            return BRK_EINVAL;
        }
    }
    free(*field);
    *field = brk_strdup(store);
    return 0;
}

static const cfg_desc_t *find_flag(const char *arg, size_t namelen)
{
    for (size_t i = 0; i < BRK_ARRAY_LEN(settings); i++) {
        const char *f = settings[i].flag;
        if (strlen(f) == namelen && strncmp(f, arg, namelen) == 0)
            return &settings[i];
    }
    return NULL;
}

/* Walks the arguments before the subcommand looking for --help, -h or --version, so that
 * help works even while the environment holds a bad value. Values of flags are skipped so
 * that "--data-dir -h" means a directory named -h. */
static cfg_command_t scan_info_flags(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return CFG_HELP;
        if (strcmp(a, "--version") == 0)
            return CFG_VERSION;
        if (a[0] != '-')
            break; /* the subcommand, or a stray argument reported later */
        if (strchr(a, '='))
            continue;
        const cfg_desc_t *d = find_flag(a, strlen(a));
        if (d && d->type != CT_BOOL)
            i++;
    }
    return CFG_RUN;
}

void cfg_free(cfg_t *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < BRK_ARRAY_LEN(settings); i++) {
        if (settings[i].type == CT_STRING)
            BRK_FREE(*str_field(cfg, &settings[i]));
    }
}

/* The pages installed beside the binary (`cmake --install`: bin/rollcall and
 * share/rollcall/web/) win over the source tree's web/ the binary was built from, which an
 * installed binary may no longer have. Only when ROLLCALL_WEB_DIR and --web-dir left the
 * default in place. */
static void find_installed_web_dir(cfg_t *cfg)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return;
    *slash = '\0';
    char dir[PATH_MAX], page[PATH_MAX];
    struct stat st;
    if (snprintf(dir, sizeof dir, "%s/../share/rollcall/web", exe) >= (int)sizeof dir ||
        snprintf(page, sizeof page, "%s/index.html", dir) >= (int)sizeof page ||
        stat(page, &st) != 0 || !S_ISREG(st.st_mode))
        return;
    char *copy = brk_strdup(dir);
    free(cfg->web_dir);
    cfg->web_dir = copy;
}

int cfg_load(cfg_t *cfg, int argc, char **argv, cfg_command_t *cmd, int *argi, FILE *err)
{
    int rc = 0;
    cfg_command_t command = CFG_RUN;
    int i = 1;

    memset(cfg, 0, sizeof *cfg);
    for (size_t k = 0; k < BRK_ARRAY_LEN(settings); k++) {
        const cfg_desc_t *d = &settings[k];
        if (d->def) {
            /* The table is code: a default that fails its own check is a bug. */
            rc = set_value(cfg, d, d->def, err);
            BRK_ASSERT(rc == 0);
        }
    }

    command = scan_info_flags(argc, argv);
    if (command != CFG_RUN)
        goto done;

    for (size_t k = 0; k < BRK_ARRAY_LEN(settings); k++) {
        const cfg_desc_t *d = &settings[k];
        const char *v = getenv(d->env);
        if (!v || v[0] == '\0')
            continue; /* an empty variable counts as unset */
        rc = set_value(cfg, d, v, err);
        if (rc != 0)
            goto cleanup;
    }

    for (; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-') {
            if (strcmp(a, "token") == 0 || strcmp(a, "user") == 0) {
                command = strcmp(a, "token") == 0 ? CFG_TOKEN : CFG_USER;
                i++;
                break;
            }
            if (err)
                fprintf(err, "rollcall: unexpected argument \"%s\" (see --help)\n", a);
            rc = BRK_EINVAL;
            goto cleanup;
        }
        const char *eq = strchr(a, '=');
        size_t namelen = eq ? (size_t)(eq - a) : strlen(a);
        const cfg_desc_t *d = find_flag(a, namelen);
        if (!d) {
            if (err) {
                char *name = brk_strndup(a, namelen); /* without any "=value" */
                fputs("rollcall: unknown flag ", err);
                put_quoted(err, name, 80);
                fputs(" (see --help)\n", err);
                free(name);
            }
            rc = BRK_EINVAL;
            goto cleanup;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (d->type == CT_BOOL) {
            value = "1";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            if (err)
                fprintf(err, "rollcall: missing value for %s (%s)\n", d->flag, d->env);
            rc = BRK_EINVAL;
            goto cleanup;
        }
        rc = set_value(cfg, d, value, err);
        if (rc != 0)
            goto cleanup;
    }

done:
    if (cfg->web_dir && strcmp(cfg->web_dir, ROLLCALL_DEFAULT_WEB_DIR) == 0)
        find_installed_web_dir(cfg);
    if (cmd)
        *cmd = command;
    if (argi)
        *argi = i < argc ? i : argc;
    return 0;

cleanup:
    cfg_free(cfg);
    return rc;
}

void cfg_print_help(FILE *out, const char *argv0)
{
    const char *prog = argv0 && argv0[0] ? argv0 : "rollcall";
    fprintf(out,
            "Usage: %s [options]\n"
            "       %s [options] token [token options]\n"
            "\n"
            "Every option can also be set through its environment variable; a flag wins over\n"
            "the variable, and an empty variable counts as unset. Flags take their value as\n"
            "\"--port 9000\" or \"--port=9000\".\n"
            "\n"
            "Options:\n",
            prog, prog);
    for (size_t i = 0; i < BRK_ARRAY_LEN(settings); i++) {
        const cfg_desc_t *d = &settings[i];
        char lhs[64];
        snprintf(lhs, sizeof lhs, "%s%s%s", d->flag, d->metavar ? " " : "",
                 d->metavar ? d->metavar : "");
        fprintf(out, "  %-32s %s\n", lhs, d->env);
        fprintf(out, "      %s\n", d->help);
        if (d->type == CT_INT || d->type == CT_DOUBLE)
            fprintf(out, "      Range %ld..%ld%s, default %s.\n", d->min, d->max,
                    d->type == CT_DOUBLE ? " (decimals allowed)" : "", d->def);
        else if (d->type == CT_BOOL)
            fprintf(out, "      The variable takes 1/0, true/false or yes/no; default %s.\n",
                    d->def && strcmp(d->def, "1") == 0 ? "on" : "off");
        else if (d->def)
            fprintf(out, "      Default \"%s\".\n", d->def);
    }
    fprintf(out, "  %-32s %s\n", "-h, --help", "Print this help and exit.");
    fprintf(out, "  %-32s %s\n", "--version", "Print the version and exit.");
    fprintf(out, "\nCommands:\n  %-32s %s\n", "token",
            "Mint a development token; see \"token --help\".");
    fprintf(out, "  %-32s %s\n", "user add",
            "Create an account (password on standard input); see \"user --help\".");
}

/* Appends key=value to buf, quoting the value when it is empty or holds anything other
 * than plain characters. Returns the new length, or len unchanged when it does not fit. */
static size_t append_kv(char *buf, size_t cap, size_t len, const char *key, const char *value)
{
    char tmp[320];
    size_t n = (size_t)snprintf(tmp, sizeof tmp, "%s%s=", len ? " " : "", key);
    bool quote = value[0] == '\0';
    for (const char *p = value; *p && !quote; p++) {
        unsigned char c = (unsigned char)*p;
        quote = c <= 0x20 || c == '"' || c == '\\' || c == '=' || c >= 0x7f;
    }
    if (quote && n < sizeof tmp)
        tmp[n++] = '"';
    for (const char *p = value; *p && n + 8 < sizeof tmp; p++) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\')
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "\\%c", c);
        else if (c < 0x20 || c == 0x7f)
            n += (size_t)snprintf(tmp + n, sizeof tmp - n, "\\x%02x", c);
        else
            tmp[n++] = (char)c;
    }
    if (quote && n < sizeof tmp)
        tmp[n++] = '"';
    if (len + n + 1 > cap)
        return len;
    memcpy(buf + len, tmp, n);
    buf[len + n] = '\0';
    return len + n;
}

void cfg_log(const cfg_t *cfg)
{
    /* log_write() caps a line at 1 KiB, so settings are packed into as many "config" lines
     * as needed rather than one line that could be cut. */
    char line[700];
    size_t len = 0;
    line[0] = '\0';
    for (size_t i = 0; i < BRK_ARRAY_LEN(settings); i++) {
        const cfg_desc_t *d = &settings[i];
        char num[24];
        const char *value;
        if (d->type == CT_STRING) {
            const char *s = *str_cfield(cfg, d);
            if (d->flags & CF_SECRET)
                value = s ? "(redacted)" : "";
            else
                value = s ? s : "";
        } else if (d->type == CT_DOUBLE) {
            snprintf(num, sizeof num, "%g", *double_cfield(cfg, d));
            value = num;
        } else {
            snprintf(num, sizeof num, "%d", *int_cfield(cfg, d));
            value = num;
        }
        size_t next = append_kv(line, sizeof line, len, d->name, value);
        if (next == len && len > 0) {
            LOG(INFO, 0, "config", "%s", line);
            len = 0;
            line[0] = '\0';
            next = append_kv(line, sizeof line, len, d->name, value);
        }
        len = next;
    }
    if (len > 0)
        LOG(INFO, 0, "config", "%s", line);
}

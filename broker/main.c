/* SPDX-License-Identifier: MIT */
/* rollcall: the entry point. Loads the configuration, settles the JWT secret (a
 * development secret when asked for), and either runs the server or a subcommand. */
#include "auth.h"
#include "brk.h"
#include "cli_user.h"
#include "config.h"
#include "log.h"
#include "srv.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEV_SECRET_FILE "dev-jwt-secret"

static int mkdir_p(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    for (char *p = path + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            if (mkdir(path, 0700) != 0 && errno != EEXIST)
                return -1;
            *p = '/';
        }
    }
    return mkdir(path, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* Reads the development secret from the data directory, creating it when create is set.
 * Returns a new string or NULL. */
static char *dev_secret(const char *data_dir, int create)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", data_dir, DEV_SECRET_FILE);
    char buf[129] = "";
    FILE *f = fopen(path, "r");
    if (f) {
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = '\0';
        buf[strcspn(buf, "\r\n")] = '\0';
        if (strlen(buf) >= 32)
            return brk_strdup(buf);
    }
    if (!create)
        return NULL;
    unsigned char raw[32];
    if (brk_random(raw, sizeof raw) != 0 || mkdir_p(data_dir) != 0)
        return NULL;
    brk_hex(raw, sizeof raw, buf);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return NULL;
    size_t len = strlen(buf);
    int ok = write(fd, buf, len) == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    return ok ? brk_strdup(buf) : NULL;
}

static int token_command(const cfg_t *cfg, int argc, char **argv, int argi)
{
    const char *sub = NULL, *role = NULL, *classes = NULL, *name = NULL;
    long ttl = 3600;
    int dev = cfg->dev;
    for (int i = argi; i < argc; i += 2) {
        const char *a = argv[i];
        if (strcmp(a, "--dev") == 0) {
            dev = 1;
            i--; /* a flag without a value */
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: rollcall token --sub ID --role teacher|student|admin --class C[,C2...]\n"
                   "                      [--name NAME] [--ttl SECONDS]\n"
                   "Prints an HS256 token signed with ROLLCALL_JWT_SECRET (or, with --dev, the\n"
                   "development secret in ROLLCALL_DATA_DIR). Issuer and audience come from\n"
                   "ROLLCALL_JWT_ISSUER / ROLLCALL_JWT_AUDIENCE when set.\n");
            return 0;
        }
        if (!v) {
            fprintf(stderr, "rollcall token: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--sub") == 0)
            sub = v;
        else if (strcmp(a, "--role") == 0)
            role = v;
        else if (strcmp(a, "--class") == 0)
            classes = v;
        else if (strcmp(a, "--name") == 0)
            name = v;
        else if (strcmp(a, "--ttl") == 0) {
            char *end;
            ttl = strtol(v, &end, 10);
            if (*end || ttl <= 0 || ttl > 365L * 86400) {
                fprintf(stderr, "rollcall token: --ttl must be 1..31536000 seconds\n");
                return 2;
            }
        } else {
            fprintf(stderr, "rollcall token: unknown option %s\n", a);
            return 2;
        }
    }
    auth_role_t r;
    if (!sub || !role || !classes || auth_parse_role(role, &r) != 0) {
        fprintf(stderr, "rollcall token: --sub, --role (teacher|student|admin) and --class are "
                        "required\n");
        return 2;
    }
    char *secret = cfg->jwt_secret && cfg->jwt_secret[0] ? brk_strdup(cfg->jwt_secret)
                   : dev                                 ? dev_secret(cfg->data_dir, 1)
                                                         : NULL;
    if (!secret) {
        fprintf(stderr, "rollcall token: set ROLLCALL_JWT_SECRET (or use --dev for the "
                        "development secret)\n");
        return 2;
    }
    char *tok = auth_mint_hs256(secret, sub, role, name, classes, brk_now_ms() / 1000, ttl,
                                cfg->jwt_issuer, cfg->jwt_audience);
    free(secret);
    if (!tok) {
        fprintf(stderr, "rollcall token: could not sign the token (check --sub and --class)\n");
        return 1;
    }
    printf("%s\n", tok);
    free(tok);
    return 0;
}

int main(int argc, char **argv)
{
    cfg_t cfg;
    cfg_command_t cmd;
    int argi = 0;
    if (cfg_load(&cfg, argc, argv, &cmd, &argi, stderr) != 0) {
        fprintf(stderr, "rollcall: see 'rollcall --help'\n");
        return 2;
    }
    int rc = 0;
    switch (cmd) {
    case CFG_HELP:
        cfg_print_help(stdout, argv[0]);
        goto out;
    case CFG_VERSION:
        printf("rollcall %s\n", ROLLCALL_VERSION);
        goto out;
    case CFG_TOKEN:
        rc = token_command(&cfg, argc, argv, argi);
        goto out;
    case CFG_USER:
        rc = cli_user(&cfg, argc, argv, argi, stdin);
        goto out;
    case CFG_RUN:
        break;
    }
    if (log_parse_level(cfg.log_level, &log_level) != 0)
        log_level = LOG_INFO;

    char *secret = cfg.jwt_secret && cfg.jwt_secret[0] ? brk_strdup(cfg.jwt_secret) : NULL;
    int have_key =
        (cfg.jwt_public_key && cfg.jwt_public_key[0]) || (cfg.jwt_jwks && cfg.jwt_jwks[0]);
    if (!secret && !have_key) {
        if (!cfg.dev) {
            fprintf(stderr, "rollcall: ROLLCALL_JWT_SECRET (HS256), ROLLCALL_JWT_PUBLIC_KEY "
                            "or ROLLCALL_JWT_JWKS (RS256/ES256) is required.\n"
                            "          For a local trial run with --dev (ROLLCALL_DEV=1), "
                            "which generates a development secret.\n");
            rc = 2;
            goto out;
        }
        secret = dev_secret(cfg.data_dir, 1);
        if (!secret) {
            fprintf(stderr, "rollcall: cannot create the development secret in %s\n",
                    cfg.data_dir);
            rc = 1;
            goto out;
        }
        LOG(WARN, 0, "DEVELOPMENT MODE: using a generated JWT secret; never run like this in "
                     "production",
            "secret_file=%s/%s hint=\"rollcall token --dev --sub ID --role R --class C\"",
            cfg.data_dir, DEV_SECRET_FILE);
    }
    cfg_log(&cfg);
    rc = srv_run(&cfg, secret);
    if (secret) {
        memset(secret, 0, strlen(secret));
        free(secret);
    }
out:
    cfg_free(&cfg);
    return rc;
}

/* SPDX-License-Identifier: MIT */
/* rollcall user add --email E --name N --role admin|teacher|student < password */
#include "cli_user.h"

#include "acct_password.h"
#include "acct_store.h"
#include "brk.h"

#include <string.h>
#include <strings.h>

static void usage(FILE *out)
{
    fprintf(out, "usage: rollcall user add --email EMAIL --name NAME --role admin|teacher|student\n"
                 "Creates an account in ROLLCALL_DATA_DIR. The password is read from standard\n"
                 "input (its first line; at least %d bytes), never from the command line, and\n"
                 "is stored only as a yescrypt hash.\n",
            ACCT_PW_MIN);
}

/* Reads the first line of in into buf (without its line end). Returns its length, or -1
 * when it does not fit. */
static long read_password(FILE *in, char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, in))
        return 0;
    size_t n = strlen(buf);
    if (n > 0 && buf[n - 1] == '\n')
        buf[--n] = '\0';
    else if (n == cap - 1)
        return -1; /* longer than the buffer: refuse rather than cut it */
    if (n > 0 && buf[n - 1] == '\r')
        buf[--n] = '\0';
    return (long)n;
}

static int add(const cfg_t *cfg, const char *email, const char *name, const char *role,
               FILE *in)
{
    acct_role_t r;
    if (!email || !name || !role || acct_role_parse(role, &r) != 0) {
        fprintf(stderr, "rollcall user add: --email, --name and --role "
                        "(admin|teacher|student) are required\n");
        return 2;
    }
    char norm[ACCT_EMAIL_SIZE];
    if (acct_email_normalize(email, strlen(email), norm, sizeof norm) != 0) {
        fprintf(stderr, "rollcall user add: not a valid email address\n");
        return 2;
    }
    char pw[ACCT_PW_MAX + 3];
    long n = read_password(in, pw, sizeof pw);
    int rc = 2;
    acct_pw_t *hasher = NULL;
    acct_store_t *st = NULL;
    if (n < 0 || n > ACCT_PW_MAX) {
        fprintf(stderr, "rollcall user add: the password is longer than %d bytes\n",
                ACCT_PW_MAX);
        goto out;
    }
    if (n < ACCT_PW_MIN) {
        fprintf(stderr, "rollcall user add: the password (first line of standard input) "
                        "needs at least %d bytes\n",
                ACCT_PW_MIN);
        goto out;
    }
    rc = 1;
    if (acct_pw_new(ACCT_PW_COST_DEFAULT, &hasher) != 0) {
        fprintf(stderr, "rollcall user add: password hashing is unavailable\n");
        goto out;
    }
    char hash[ACCT_HASH_SIZE];
    int hrc = acct_pw_hash(hasher, pw, (size_t)n, hash, sizeof hash);
    if (hrc != 0) {
        fprintf(stderr, "rollcall user add: the password was refused (%s)\n",
                hrc == BRK_EINVAL ? "it holds a NUL byte" : "hashing failed");
        rc = hrc == BRK_EINVAL ? 2 : 1;
        goto out;
    }
    char err[256];
    if (acct_store_open(cfg->data_dir, &st, err, sizeof err) != 0) {
        fprintf(stderr, "rollcall user add: cannot open the data directory %s: %s\n",
                cfg->data_dir, err);
        goto out;
    }
    acct_t a;
    int crc = acct_store_create(st, norm, name, r, hash, &a);
    explicit_bzero(hash, sizeof hash);
    if (crc == BRK_EEXIST) {
        fprintf(stderr, "rollcall user add: an account with the email %s exists already\n",
                norm);
        goto out;
    }
    if (crc == BRK_EINVAL || crc == BRK_ETOOBIG) {
        fprintf(stderr, "rollcall user add: the name is empty, too long (over %d bytes) or "
                        "holds control characters\n",
                ACCT_NAME_MAX);
        rc = 2;
        goto out;
    }
    if (crc != 0) {
        fprintf(stderr, "rollcall user add: the account could not be stored\n");
        goto out;
    }
    printf("id=%s email=%s role=%s\n", a.id, a.email, acct_role_name(a.role));
    rc = 0;
out:
    explicit_bzero(pw, sizeof pw);
    acct_store_close(st);
    acct_pw_free(hasher);
    return rc;
}

int cli_user(const cfg_t *cfg, int argc, char **argv, int argi, FILE *in)
{
    if (argi >= argc || strcmp(argv[argi], "--help") == 0 || strcmp(argv[argi], "-h") == 0) {
        usage(argi >= argc ? stderr : stdout);
        return argi >= argc ? 2 : 0;
    }
    if (strcmp(argv[argi], "add") != 0) {
        fprintf(stderr, "rollcall user: unknown command %s (see rollcall user --help)\n",
                argv[argi]);
        return 2;
    }
    const char *email = NULL, *name = NULL, *role = NULL;
    for (int i = argi + 1; i < argc; i += 2) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            fprintf(stderr, "rollcall user add: %s needs a value\n", a);
            return 2;
        }
        if (strcmp(a, "--email") == 0)
            email = v;
        else if (strcmp(a, "--name") == 0)
            name = v;
        else if (strcmp(a, "--role") == 0)
            role = v;
        else {
            fprintf(stderr, "rollcall user add: unknown option %s\n", a);
            return 2;
        }
    }
    return add(cfg, email, name, role, in);
}

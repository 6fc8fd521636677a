/* SPDX-License-Identifier: MIT */
/* `rollcall user add`: creates an account from the command line (the way admins are made;
 * schools that create their own accounts use it too). */
#ifndef BRK_CLI_USER_H
#define BRK_CLI_USER_H

#include "config.h"

#include <stdio.h>

/* Runs `rollcall user ...` with argv[argi..] the words after "user"; the password is read
 * from in (its first line). Returns the process exit code: 0 done, 1 the store failed or the
 * email is taken, 2 bad usage or a password the rules refuse. */
int cli_user(const cfg_t *cfg, int argc, char **argv, int argi, FILE *in);

#endif

/* SPDX-License-Identifier: MIT */
/* Test helper: runs a throwaway redis-server on a free loopback port (and a unix socket) in
 * a temporary directory, with persistence off unless asked, and stops it by PID. It can
 * stop and restart the server on the same port for outage tests. Servers still running
 * when the process exits are killed, and die with it if it crashes (PR_SET_PDEATHSIG).
 * Blocking calls throughout: tests only, never on a loop thread that serves anything. */
#ifndef RC_TEST_REDIS_SERVER_H
#define RC_TEST_REDIS_SERVER_H

#include <sys/types.h>

#ifndef REDIS_SERVER_BIN
#define REDIS_SERVER_BIN "/usr/bin/redis-server"
#endif

typedef struct redis_server_opts {
    const char *password; /* --requirepass, NULL for none */
    int persistence;      /* 0: --save "" --appendonly no; 1: redis' defaults */
} redis_server_opts_t;

typedef struct redis_server {
    pid_t pid; /* 0 while stopped */
    int port;
    char dir[128];  /* temporary directory, removed by redis_server_free() */
    char sock[192]; /* unix socket path inside dir */
    char log[192];  /* the server's stdout/stderr */
    char password[128];
    int persistence;
} redis_server_t;

/* 1 when REDIS_SERVER_BIN exists and is executable. */
int redis_server_available(void);

/* A loopback TCP port that was free a moment ago (bind 127.0.0.1:0, read it, close).
 * Returns the port, or -1. */
int redis_server_free_port(void);

/* Creates a temp dir, picks a free port, starts redis-server and waits (at most 5 s) until
 * it answers PING on that port. opts may be NULL. Returns 0 or -1 (reason on stderr). */
int redis_server_start(redis_server_t *s, const redis_server_opts_t *opts);

/* Sends sig (SIGKILL for an abrupt death, SIGTERM for a clean stop) and reaps the process.
 * Returns 0, or -1 when it was not running. */
int redis_server_stop(redis_server_t *s, int sig);

/* Starts the server again on the same port, directory and password and waits until it
 * answers. Returns 0 or -1. */
int redis_server_restart(redis_server_t *s);

/* Kills the server if running and removes its directory. */
void redis_server_free(redis_server_t *s);

#endif

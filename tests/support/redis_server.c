/* SPDX-License-Identifier: MIT */
/* Throwaway redis-server processes for tests: fork/exec, readiness by PING over a plain
 * blocking socket, stop by PID, restart on the same port, cleanup at exit. */
#include "redis_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READY_TIMEOUT_MS 5000
#define MAX_TRACKED 16

/* Servers started by this process, so that an aborted test (longjmp, alarm) does not leave
 * one behind. Copies, not pointers: the redis_server_t may live on a dead stack frame. */
static struct {
    pid_t pid;
    char dir[128];
} tracked[MAX_TRACKED];
static int atexit_installed;

static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char p[512];
            snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
            unlink(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static void cleanup_all(void)
{
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i].pid > 0) {
            kill(tracked[i].pid, SIGKILL);
            waitpid(tracked[i].pid, NULL, 0);
            tracked[i].pid = 0;
        }
        if (tracked[i].dir[0]) {
            remove_dir(tracked[i].dir);
            tracked[i].dir[0] = '\0';
        }
    }
}

static void track(const char *dir, pid_t pid)
{
    if (!atexit_installed) {
        atexit(cleanup_all);
        atexit_installed = 1;
    }
    int free_slot = -1;
    for (int i = 0; i < MAX_TRACKED; i++) {
        if (tracked[i].dir[0] && strcmp(tracked[i].dir, dir) == 0) {
            tracked[i].pid = pid;
            return;
        }
        if (!tracked[i].dir[0] && free_slot < 0)
            free_slot = i;
    }
    if (free_slot >= 0) {
        snprintf(tracked[free_slot].dir, sizeof tracked[free_slot].dir, "%s", dir);
        tracked[free_slot].pid = pid;
    }
}

static void untrack(const char *dir)
{
    for (int i = 0; i < MAX_TRACKED; i++)
        if (tracked[i].dir[0] && strcmp(tracked[i].dir, dir) == 0) {
            tracked[i].dir[0] = '\0';
            tracked[i].pid = 0;
        }
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int redis_server_available(void)
{
    return access(REDIS_SERVER_BIN, X_OK) == 0;
}

int redis_server_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

/* 1 when something answering like Redis listens on port: "+PONG", or "-NOAUTH" when a
 * password is required. */
static int answers_ping(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return 0;
    struct timeval tv = {0, 200 * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int ok = 0;
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6) {
        char buf[64];
        ssize_t n = recv(fd, buf, sizeof buf - 1, 0);
        if (n > 0) {
            buf[n] = '\0';
            ok = strncmp(buf, "+PONG", 5) == 0 || strncmp(buf, "-NOAUTH", 7) == 0;
        }
    }
    close(fd);
    return ok;
}

static void print_log_tail(const redis_server_t *s)
{
    FILE *f = fopen(s->log, "r");
    if (!f)
        return;
    char line[512];
    fprintf(stderr, "  --- %s ---\n", s->log);
    while (fgets(line, sizeof line, f))
        fprintf(stderr, "  %s", line);
    fclose(f);
}

static int spawn(redis_server_t *s)
{
    char port[16];
    snprintf(port, sizeof port, "%d", s->port);
    const char *argv[32];
    int n = 0;
    argv[n++] = REDIS_SERVER_BIN;
    argv[n++] = "--port";
    argv[n++] = port;
    argv[n++] = "--bind";
    argv[n++] = "127.0.0.1";
    argv[n++] = "--dir";
    argv[n++] = s->dir;
    argv[n++] = "--unixsocket";
    argv[n++] = s->sock;
    argv[n++] = "--unixsocketperm";
    argv[n++] = "700";
    argv[n++] = "--daemonize";
    argv[n++] = "no";
    argv[n++] = "--logfile";
    argv[n++] = "";
    if (!s->persistence) {
        argv[n++] = "--save";
        argv[n++] = "";
        argv[n++] = "--appendonly";
        argv[n++] = "no";
    }
    if (s->password[0]) {
        argv[n++] = "--requirepass";
        argv[n++] = s->password;
    }
    argv[n] = NULL;

    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "redis_server: fork: %s\n", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        /* Die with the test process, whatever way it ends. */
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) {
            dup2(null, 0);
            close(null);
        }
        execv(REDIS_SERVER_BIN, (char *const *)argv);
        _exit(127);
    }
    s->pid = pid;
    track(s->dir, pid);

    long long deadline = now_ms() + READY_TIMEOUT_MS;
    while (now_ms() < deadline) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            fprintf(stderr, "redis_server: redis-server exited during start (status %d)\n", st);
            print_log_tail(s);
            s->pid = 0;
            track(s->dir, 0);
            return -1;
        }
        if (answers_ping(s->port))
            return 0;
        sleep_ms(10);
    }
    fprintf(stderr, "redis_server: no PING answer on port %d within %d ms\n", s->port,
            READY_TIMEOUT_MS);
    print_log_tail(s);
    redis_server_stop(s, SIGKILL);
    return -1;
}

int redis_server_start(redis_server_t *s, const redis_server_opts_t *opts)
{
    memset(s, 0, sizeof *s);
    const char *tmp = getenv("TMPDIR");
    if (!tmp || !*tmp || strlen(tmp) > 60)
        tmp = "/tmp";
    snprintf(s->dir, sizeof s->dir, "%s/rc-redis-XXXXXX", tmp);
    if (!mkdtemp(s->dir)) {
        fprintf(stderr, "redis_server: mkdtemp: %s\n", strerror(errno));
        s->dir[0] = '\0';
        return -1;
    }
    snprintf(s->sock, sizeof s->sock, "%s/redis.sock", s->dir);
    snprintf(s->log, sizeof s->log, "%s/redis.log", s->dir);
    if (opts && opts->password)
        snprintf(s->password, sizeof s->password, "%s", opts->password);
    s->persistence = opts ? opts->persistence : 0;
    /* Another process may grab the port between the probe and redis' bind: retry a few. */
    for (int attempt = 0; attempt < 3; attempt++) {
        s->port = redis_server_free_port();
        if (s->port <= 0)
            break;
        if (spawn(s) == 0)
            return 0;
    }
    redis_server_free(s);
    return -1;
}

int redis_server_stop(redis_server_t *s, int sig)
{
    if (s->pid <= 0)
        return -1;
    kill(s->pid, sig);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
    track(s->dir, 0);
    return 0;
}

int redis_server_restart(redis_server_t *s)
{
    if (s->pid > 0)
        redis_server_stop(s, SIGKILL);
    /* redis binds with SO_REUSEADDR, so the old connections in TIME_WAIT do not block it. */
    for (int attempt = 0; attempt < 3; attempt++) {
        if (spawn(s) == 0)
            return 0;
        sleep_ms(100);
    }
    return -1;
}

void redis_server_free(redis_server_t *s)
{
    if (s->pid > 0)
        redis_server_stop(s, SIGKILL);
    if (s->dir[0]) {
        remove_dir(s->dir);
        untrack(s->dir);
        s->dir[0] = '\0';
    }
}

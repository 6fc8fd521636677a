/* SPDX-License-Identifier: MIT */
/* rc_mongo_server: the wire-protocol test server as a process, for the Python end-to-end
 * tests. It listens for MongoDB clients on 127.0.0.1 (--port, default a free one) and writes
 * that port to --port-file. A second loopback port, written to --control-port-file, takes
 * one text command per connection and answers, then closes:
 *
 *   down | up                     refuse connections (listener closed) / accept again
 *   drop N [COMMAND]              apply the next N data commands (named COMMAND) but close
 *                                 the connection instead of replying
 *   delay MS                      delay every reply
 *   write-error CODE N MESSAGE    the next N writes fail (N = -1: until "write-error 0 0 -")
 *   auth 1|0                      refuse authentication
 *   dump                          every stored document, canonical extended JSON lines
 *   count COMMAND                 how many COMMAND commands arrived
 *   opcounts                      "op_query N op_msg N"
 *
 * Dies with its parent (PR_SET_PDEATHSIG) and on SIGTERM. */
#include "mongo_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int write_file(const char *path, int port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    fprintf(f, "%d\n", port);
    if (fclose(f) != 0 || rename(tmp, path) != 0)
        return -1;
    return 0;
}

static void serve_control(mongo_server_t *s, int fd)
{
    char line[512];
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t r = recv(fd, line + len, sizeof line - 1 - len, 0);
        if (r <= 0)
            break;
        len += (size_t)r;
        if (memchr(line, '\n', len))
            break;
    }
    line[len] = '\0';
    line[strcspn(line, "\r\n")] = '\0';
    FILE *out = fdopen(dup(fd), "w");
    if (!out)
        return;
    int a = 0, b = 0;
    char word[64] = "";
    int off = 0;
    if (strcmp(line, "down") == 0 || strcmp(line, "up") == 0) {
        int rc = mongo_server_set_down(s, line[0] == 'd');
        fprintf(out, rc == 0 ? "ok\n" : "error cannot listen\n");
    } else if (sscanf(line, "drop %d %63s", &a, word) >= 1) {
        mongo_server_drop_next(s, a, word[0] ? word : NULL);
        fprintf(out, "ok\n");
    } else if (sscanf(line, "delay %d", &a) == 1) {
        mongo_server_set_delay(s, a);
        fprintf(out, "ok\n");
    } else if (sscanf(line, "write-error %d %d %n", &a, &b, &off) == 2) {
        mongo_server_write_errors(s, a, line + off, b);
        fprintf(out, "ok\n");
    } else if (sscanf(line, "auth %d", &a) == 1) {
        mongo_server_require_auth(s, a);
        fprintf(out, "ok\n");
    } else if (strcmp(line, "dump") == 0) {
        mongo_server_dump_json(s, out);
    } else if (sscanf(line, "count %63s", word) == 1) {
        fprintf(out, "%llu\n", (unsigned long long)mongo_server_commands(s, word));
    } else if (strcmp(line, "opcounts") == 0) {
        uint64_t q, m;
        mongo_server_opcounts(s, &q, &m);
        fprintf(out, "op_query %llu op_msg %llu\n", (unsigned long long)q, (unsigned long long)m);
    } else {
        fprintf(out, "error unknown command\n");
    }
    fclose(out);
}

int main(int argc, char **argv)
{
    const char *port_file = NULL, *control_file = NULL;
    int port = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--port-file") == 0)
            port_file = argv[i + 1];
        else if (strcmp(argv[i], "--control-port-file") == 0)
            control_file = argv[i + 1];
        else if (strcmp(argv[i], "--port") == 0)
            port = atoi(argv[i + 1]);
    }
    if (!port_file || !control_file) {
        fprintf(stderr, "usage: %s [--port N] --port-file F --control-port-file C\n", argv[0]);
        return 2;
    }
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    signal(SIGPIPE, SIG_IGN);

    mongo_server_t *s;
    if (mongo_server_start(port, &s) != 0)
        return 1;

    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t alen = sizeof a;
    if (cfd < 0 || bind(cfd, (struct sockaddr *)&a, sizeof a) != 0 || listen(cfd, 16) != 0 ||
        getsockname(cfd, (struct sockaddr *)&a, &alen) != 0) {
        fprintf(stderr, "rc_mongo_server: control port: %s\n", strerror(errno));
        return 1;
    }
    if (write_file(control_file, ntohs(a.sin_port)) != 0 ||
        write_file(port_file, mongo_server_port(s)) != 0) {
        fprintf(stderr, "rc_mongo_server: cannot write the port files\n");
        return 1;
    }
    for (;;) {
        int fd = accept4(cfd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        serve_control(s, fd);
        close(fd);
    }
    mongo_server_free(s);
    return 0;
}

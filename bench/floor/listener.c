/* The backends of bench/floor.sh: PORTS wildcard listeners on ports
 * 20000.., one epoll; every connection is accepted and closed at once,
 * politely (nothing sent, nothing left unread: close() sends a FIN).
 *
 * With `gaps`, it also notes when each target (its local address and port)
 * was last probed, and the gap since the probe before: SIGUSR1 prints
 * "gaps COUNT MEDIAN_MS MAX_MS" for the gaps since the previous SIGUSR1
 * and starts afresh. Runs until SIGTERM. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop, report;
static void on_term(int sig) { (void)sig; stop = 1; }
static void on_usr1(int sig) { (void)sig; report = 1; }

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    int ports = argc >= 2 ? atoi(argv[1]) : 0;
    int gaps_wanted = argc == 3 && strcmp(argv[2], "gaps") == 0;
    if (ports <= 0 || ports > 1000) {
        fprintf(stderr, "usage: %s PORTS [gaps]\n", argv[0]);
        return 2;
    }
    signal(SIGTERM, on_term);
    signal(SIGUSR1, on_usr1);
    setvbuf(stdout, 0, _IOLBF, 0);
    int ep = epoll_create1(EPOLL_CLOEXEC), one = 1;
    for (int p = 0; p < ports; p++) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(20000 + p)};
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *)&a, sizeof a) || listen(fd, 4096)) {
            perror("listener: bind/listen");
            return 1;
        }
        struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
        epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
    }
    /* Last probe of each target: 256 host bytes x ports. */
    double *last = calloc(256 * (size_t)ports, sizeof *last);
    size_t ngaps = 0, cap = 1 << 16;
    double *gaps = malloc(cap * sizeof *gaps);
    struct epoll_event events[256];
    while (!stop) {
        if (report) {
            report = 0;
            double median = 0, max = 0;
            if (ngaps) {
                qsort(gaps, ngaps, sizeof *gaps, by_value);
                median = gaps[ngaps / 2];
                max = gaps[ngaps - 1];
            }
            printf("gaps %zu %.1f %.1f\n", ngaps, median, max);
            ngaps = 0;
        }
        int got = epoll_wait(ep, events, 256, 100);
        for (int k = 0; k < got; k++) {
            int c;
            while ((c = accept4(events[k].data.fd, 0, 0, SOCK_CLOEXEC)) >= 0) {
                if (gaps_wanted) {
                    struct sockaddr_in local;
                    socklen_t len = sizeof local;
                    getsockname(c, (struct sockaddr *)&local, &len);
                    unsigned host = ntohl(local.sin_addr.s_addr) & 255;
                    unsigned port = ntohs(local.sin_port) - 20000;
                    if (port < (unsigned)ports) {
                        double t = now_ms(), *seen = &last[host * ports + port];
                        if (*seen > 0) {
                            if (ngaps == cap) gaps = realloc(gaps, (cap *= 2) * sizeof *gaps);
                            gaps[ngaps++] = t - *seen;
                        }
                        *seen = t;
                    }
                }
                close(c);
            }
        }
    }
    return 0;
}

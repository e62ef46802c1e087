/* The backends of bench/floor.sh: PORTS wildcard listeners on ports
 * 20000.., one epoll; every connection is accepted and closed at once,
 * politely (nothing sent, nothing left unread: close() sends a FIN).
 * Runs until SIGTERM. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

int main(int argc, char **argv) {
    int ports = argc == 2 ? atoi(argv[1]) : 0;
    if (ports <= 0) {
        fprintf(stderr, "usage: %s PORTS\n", argv[0]);
        return 2;
    }
    signal(SIGTERM, on_term);
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
    struct epoll_event events[256];
    while (!stop) {
        int got = epoll_wait(ep, events, 256, 100);
        for (int k = 0; k < got; k++) {
            int c;
            while ((c = accept4(events[k].data.fd, 0, 0, SOCK_CLOEXEC)) >= 0) close(c);
        }
    }
    return 0;
}

/* The floor of a TCP checker: the least a program can do to probe N
 * loopback targets at a fixed rate, in a process of its own, so that it is
 * timed exactly as lvsd is (bench/floor.sh).
 *
 *   prober plain    N PORTS RATE   socket, non-blocking connect, wait for
 *                                  writable (epoll), SO_ERROR, close
 *   prober graceful N PORTS RATE   the same, then a polite close: if the
 *                                  backend's FIN came with the handshake,
 *                                  read it and close; else shutdown(SHUT_WR),
 *                                  wait for readable, read to EOF, close
 *
 * Target i is 127.1.0.(i / PORTS + 1), port 20000 + i % PORTS: the order
 * bench/floor.sh writes lvsd's real servers in. Probes go out round robin,
 * one every 1/RATE s, launched in batches of at most 64 between waits.
 * Runs until SIGTERM; prints its counts to stderr then. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rate_loop.h"


enum { IDLE, CONNECTING, CLOSING };

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s plain|graceful N PORTS RATE\n", argv[0]);
        return 2;
    }
    int graceful = strcmp(argv[1], "graceful") == 0;
    uint64_t n = strtoull(argv[2], 0, 10), ports = strtoull(argv[3], 0, 10);
    uint64_t rate = strtoull(argv[4], 0, 10);
    if (!n || !ports || !rate) return 2;
    uint64_t step = 1000000000ull / rate;
    stop_on_signals();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    static unsigned char state[1 << 20];
    struct epoll_event events[1024];
    uint64_t seq = 0, ok = 0, failed = 0, start = now_ns();
    char sink[2048];
    while (!stop) {
        uint64_t now = now_ns();
        for (int b = 0; b < 64 && start + seq * step <= now; b++, seq++) {
            uint64_t i = seq % n;
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons(20000 + i % ports),
                                    .sin_addr.s_addr = htonl(0x7f010000u | (i / ports + 1))};
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0 || fd >= (1 << 20)) { failed++; if (fd >= 0) close(fd); continue; }
            if (connect(fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
                failed++;
                close(fd);
                continue;
            }
            struct epoll_event ev = {.events = EPOLLOUT | (graceful ? EPOLLRDHUP | EPOLLONESHOT : 0),
                                     .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            state[fd] = CONNECTING;
        }
        uint64_t next = start + seq * step, t = now_ns();
        int wait_ms = next > t ? (int)((next - t + 999999) / 1000000) : 0;
        int got = epoll_wait(ep, events, 1024, wait_ms);
        for (int k = 0; k < got; k++) {
            int fd = events[k].data.fd;
            if (state[fd] == CONNECTING) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err) { failed++; state[fd] = IDLE; close(fd); continue; }
                ok++;
                if (!graceful) { state[fd] = IDLE; close(fd); continue; }
                if (events[k].events & EPOLLRDHUP) {
                    /* Their FIN is in: read up to it; close() then sends ours. */
                    while (read(fd, sink, sizeof sink) > 0) {}
                    state[fd] = IDLE;
                    close(fd);
                    continue;
                }
                shutdown(fd, SHUT_WR);
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.fd = fd};
                epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                state[fd] = CLOSING;
            } else if (state[fd] == CLOSING) {
                ssize_t r;
                while ((r = read(fd, sink, sizeof sink)) > 0) {}
                if (r < 0 && errno == EAGAIN) {
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.fd = fd};
                    epoll_ctl(ep, EPOLL_CTL_MOD, fd, &ev);
                    continue;
                }
                state[fd] = IDLE;
                close(fd);
            }
        }
    }
    fprintf(stderr, "prober %s: ok %llu, failed %llu\n", argv[1], (unsigned long long)ok,
            (unsigned long long)failed);
    return 0;
}

/* The floor of an HTTP_GET checker: the least a program can do to probe N
 * web servers at a fixed rate, in a process of its own, so that it is timed
 * exactly as lvsd and keepalived are (the guest bench
 * `bench_http_get_cpu_against_keepalived` in tests/kernel_http.rs).
 *
 *   http_prober N RATE
 *
 * Target i is 10.202.1.(i + 1), port 80. A probe: a non-blocking socket,
 * connect, the request keepalived's HTTP/1.0 check sends (sent at once:
 * on a veth the handshake is done inside connect(); if not, on writable),
 * one epoll registration (edge-triggered, in, out and the peer's FIN), the
 * answer read until the server's FIN (HTTP/1.0: the server closes first),
 * its status line checked, close (a FIN: nothing is left unread). No timer,
 * no digest (the body is 6 bytes; its MD5 costs well under 0.1 % of a
 * probe), no log: what is left is the kernel's share of a probe and the
 * fewest system calls that carry it (socket, connect, epoll_ctl, send, one
 * or two reads, close, and a share of epoll_wait).
 *
 * Probes go out round robin, one every 1/RATE s, launched in batches of at
 * most 64 between waits. Runs until SIGTERM; prints its counts to stderr
 * then. */
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


enum { IDLE, CONNECTING, READING };

/* Per descriptor: its state, the target it probes, whether the status line
 * said 200. */
static unsigned char state[1 << 16];
static unsigned char status_ok[1 << 16];
static uint32_t target[1 << 16];
static uint64_t ok, failed;

static int request(uint32_t i, char *buf, size_t len) {
    return snprintf(buf, len,
                    "GET /index.html HTTP/1.0\r\nUser-Agent: KeepAliveClient\r\n"
                    "Host: 10.202.1.%u:80\r\n\r\n",
                    i + 1);
}

static void finish(int fd, int good) {
    if (good) ok++; else failed++;
    state[fd] = IDLE;
    close(fd);
}

/* Reads what came; at the server's FIN, judges and closes. */
static void on_readable(int fd, int peer_closed) {
    char buf[2048];
    for (;;) {
        ssize_t r = read(fd, buf, sizeof buf);
        if (r > 0) {
            if (!status_ok[fd] && r >= 12 && memcmp(buf, "HTTP/1.", 7) == 0 &&
                memcmp(buf + 8, " 200", 4) == 0)
                status_ok[fd] = 1;
            /* Less than asked with the FIN already in: nothing more to read. */
            if (peer_closed && (size_t)r < sizeof buf) { finish(fd, status_ok[fd]); return; }
            continue;
        }
        if (r == 0) { finish(fd, status_ok[fd]); return; }
        if (errno != EAGAIN) finish(fd, 0);
        return;
    }
}

static void send_request(int fd) {
    char req[128];
    int len = request(target[fd], req, sizeof req);
    ssize_t w = send(fd, req, (size_t)len, MSG_NOSIGNAL);
    if (w == len) { state[fd] = READING; return; }
    if (w < 0 && errno == EAGAIN) { state[fd] = CONNECTING; return; }
    finish(fd, 0);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s N RATE\n", argv[0]);
        return 2;
    }
    uint64_t n = strtoull(argv[1], 0, 10), rate = strtoull(argv[2], 0, 10);
    if (!n || n > 254 || !rate) return 2;
    uint64_t step = 1000000000ull / rate;
    stop_on_signals();
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event events[1024];
    uint64_t seq = 0, start = now_ns();
    fprintf(stderr, "http_prober started\n");
    while (!stop) {
        uint64_t now = now_ns();
        for (int b = 0; b < 64 && start + seq * step <= now; b++, seq++) {
            uint32_t i = (uint32_t)(seq % n);
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons(80),
                                    .sin_addr.s_addr = htonl(0x0aca0100u | (i + 1))};
            int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (fd < 0 || fd >= (1 << 16)) { failed++; if (fd >= 0) close(fd); continue; }
            target[fd] = i;
            status_ok[fd] = 0;
            if (connect(fd, (struct sockaddr *)&a, sizeof a) && errno != EINPROGRESS) {
                finish(fd, 0);
                continue;
            }
            struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                     .data.fd = fd};
            epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
            send_request(fd);
        }
        uint64_t next = start + seq * step, t = now_ns();
        int wait_ms = next > t ? (int)((next - t + 999999) / 1000000) : 0;
        int got = epoll_wait(ep, events, 1024, wait_ms);
        for (int k = 0; k < got; k++) {
            int fd = events[k].data.fd;
            uint32_t e = events[k].events;
            if (state[fd] == CONNECTING) {
                if (e & (EPOLLERR | EPOLLHUP)) { finish(fd, 0); continue; }
                if (!(e & EPOLLOUT)) continue;
                send_request(fd);
                if (state[fd] != READING) continue;
            }
            if (state[fd] == READING && (e & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)))
                on_readable(fd, (e & EPOLLRDHUP) != 0);
        }
    }
    fprintf(stderr, "http_prober: ok %llu, failed %llu\n", (unsigned long long)ok,
            (unsigned long long)failed);
    return 0;
}

/*
 * The floor of BFD at a given packet rate: the packets of N sessions at an
 * interval, and nothing else. No state machine, no timers per session: every
 * POLL_US microseconds (a timerfd) it reads whatever arrived on UDP 3784
 * (recvmmsg, with the TTL asked for, as RFC 5881 needs) and sends the
 * packets due in that tick, N * tick / interval of them, round robin over
 * the sessions, as lvsd does:
 *
 *   shared     one unconnected socket, each packet with its source address
 *              (IP_PKTINFO) and TTL 255 in control messages, sendmmsg
 *              (lvsd's way);
 *   connected  one socket a session, bound to its source and connected to
 *              its peer, TTL 255 set once; one send(2) a packet.
 *
 * usage: bfd_floor MODE N INTERVAL_MS SECONDS OURS_PREFIX PEER_PREFIX
 *   session i is OURS_PREFIX.(1 + i / 250).(1 + i % 250) -> PEER_PREFIX.…
 * Prints: cpu_percent=… sent=… received=…  (its own CPU, user + system, over
 * the last SECONDS - 1 seconds: the first second is a warm-up).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define POLL_US 2000
#define BATCH 64

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static double cpu_s(void) {
    struct rusage r;
    getrusage(RUSAGE_SELF, &r);
    return r.ru_utime.tv_sec + r.ru_utime.tv_usec / 1e6 + r.ru_stime.tv_sec +
           r.ru_stime.tv_usec / 1e6;
}

static struct in_addr addr(const char *prefix, int i) {
    char s[64];
    struct in_addr a;
    snprintf(s, sizeof s, "%s.%d.%d", prefix, 1 + i / 250, 1 + i % 250);
    if (inet_pton(AF_INET, s, &a) != 1) {
        fprintf(stderr, "bad address %s\n", s);
        exit(2);
    }
    return a;
}

static void check(int r, const char *what) {
    if (r < 0) {
        perror(what);
        exit(1);
    }
}

int main(int argc, char **argv) {
    if (argc != 7) {
        fprintf(stderr, "usage: %s shared|connected N INTERVAL_MS SECONDS OURS PEER\n", argv[0]);
        return 2;
    }
    int connected = strcmp(argv[1], "connected") == 0;
    int n = atoi(argv[2]);
    double interval = atof(argv[3]) / 1000.0;
    double seconds = atof(argv[4]);
    const char *ours = argv[5], *peer = argv[6];
    int one = 1, ttl = 255, df = IP_PMTUDISC_DO;

    int rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    check(rx, "socket");
    check(setsockopt(rx, IPPROTO_IP, IP_RECVTTL, &one, sizeof one), "IP_RECVTTL");
    int rcvbuf = 4 << 20;
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in any = {.sin_family = AF_INET, .sin_port = htons(3784)};
    check(bind(rx, (struct sockaddr *)&any, sizeof any), "bind 3784");

    struct sockaddr_in *to = calloc(n, sizeof *to);
    struct in_addr *from = calloc(n, sizeof *from);
    int *fds = calloc(n, sizeof *fds);
    for (int i = 0; i < n; i++) {
        to[i] = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons(3784),
                                     .sin_addr = addr(peer, i)};
        from[i] = addr(ours, i);
    }
    int tx = -1;
    if (connected) {
        for (int i = 0; i < n; i++) {
            fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
            check(fds[i], "socket");
            setsockopt(fds[i], IPPROTO_IP, IP_TTL, &ttl, sizeof ttl);
            setsockopt(fds[i], IPPROTO_IP, IP_MTU_DISCOVER, &df, sizeof df);
            struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr = from[i]};
            check(bind(fds[i], (struct sockaddr *)&src, sizeof src), "bind");
            check(connect(fds[i], (struct sockaddr *)&to[i], sizeof to[i]), "connect");
        }
    } else {
        tx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
        check(tx, "socket");
        setsockopt(tx, IPPROTO_IP, IP_MTU_DISCOVER, &df, sizeof df);
        struct sockaddr_in src = {.sin_family = AF_INET, .sin_port = htons(49152 + getpid() % 16000)};
        check(bind(tx, (struct sockaddr *)&src, sizeof src), "bind tx");
    }

    /* Send side: one message a packet, control messages prebuilt. */
    static char pkt[BATCH][24];
    static char ctl[BATCH][CMSG_SPACE(sizeof(struct in_pktinfo)) + CMSG_SPACE(sizeof(int))];
    static struct iovec iov[BATCH];
    static struct mmsghdr out[BATCH];
    /* Receive side. */
    static char rbuf[32][128];
    static char rctl[32][CMSG_SPACE(sizeof(int))];
    static struct iovec riov[32];
    static struct sockaddr_in rfrom[32];
    static struct mmsghdr in[32];
    for (int i = 0; i < BATCH; i++) {
        pkt[i][0] = 0x20;
        iov[i] = (struct iovec){pkt[i], 24};
    }

    int tfd = timerfd_create(CLOCK_MONOTONIC, 0);
    struct itimerspec its = {{0, POLL_US * 1000}, {0, POLL_US * 1000}};
    check(timerfd_settime(tfd, 0, &its, NULL), "timerfd");

    double start = now_s(), warm = start + 1.0, cpu0 = 0, t0 = 0, credit = 0;
    long sent = 0, received = 0;
    int next = 0;
    for (;;) {
        uint64_t ticks;
        if (read(tfd, &ticks, sizeof ticks) != sizeof ticks)
            continue;
        double t = now_s();
        if (t0 == 0 && t >= warm) {
            t0 = t;
            cpu0 = cpu_s();
            sent = received = 0;
        }
        if (t - start >= seconds)
            break;
        for (;;) {
            for (int i = 0; i < 32; i++) {
                riov[i] = (struct iovec){rbuf[i], sizeof rbuf[i]};
                in[i].msg_hdr = (struct msghdr){.msg_name = &rfrom[i], .msg_namelen = sizeof rfrom[i],
                                                .msg_iov = &riov[i], .msg_iovlen = 1,
                                                .msg_control = rctl[i], .msg_controllen = sizeof rctl[i]};
            }
            int got = recvmmsg(rx, in, 32, MSG_DONTWAIT, NULL);
            if (got <= 0)
                break;
            received += got;
            if (got < 32)
                break;
        }
        credit += n * (POLL_US / 1e6) * ticks / interval;
        int due = (int)credit;
        credit -= due;
        while (due > 0) {
            int k = due < BATCH ? due : BATCH;
            if (connected) {
                for (int j = 0; j < k; j++) {
                    if (send(fds[next], pkt[j], 24, MSG_DONTWAIT) == 24)
                        sent++;
                    next = (next + 1) % n;
                }
            } else {
                for (int j = 0; j < k; j++) {
                    struct msghdr *h = &out[j].msg_hdr;
                    *h = (struct msghdr){.msg_name = &to[next], .msg_namelen = sizeof to[next],
                                         .msg_iov = &iov[j], .msg_iovlen = 1,
                                         .msg_control = ctl[j], .msg_controllen = sizeof ctl[j]};
                    struct cmsghdr *c = CMSG_FIRSTHDR(h);
                    c->cmsg_level = IPPROTO_IP;
                    c->cmsg_type = IP_PKTINFO;
                    c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
                    struct in_pktinfo info = {.ipi_spec_dst = from[next]};
                    memcpy(CMSG_DATA(c), &info, sizeof info);
                    c = CMSG_NXTHDR(h, c);
                    c->cmsg_level = IPPROTO_IP;
                    c->cmsg_type = IP_TTL;
                    c->cmsg_len = CMSG_LEN(sizeof(int));
                    memcpy(CMSG_DATA(c), &ttl, sizeof ttl);
                    next = (next + 1) % n;
                }
                int r = sendmmsg(tx, out, k, MSG_DONTWAIT);
                if (r > 0)
                    sent += r;
            }
            due -= k;
        }
    }
    double wall = now_s() - t0;
    printf("cpu_percent=%.2f sent_per_s=%.0f received_per_s=%.0f\n", 100.0 * (cpu_s() - cpu0) / wall,
           sent / wall, received / wall);
    return 0;
}

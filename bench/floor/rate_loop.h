/* What the probe floors share (prober.c, http_prober.c): the clock their
 * fixed rate is reckoned on, and a stop on SIGTERM or SIGINT that lets the
 * loop end and print its counts. */
#include <signal.h>
#include <stdint.h>
#include <time.h>

static volatile sig_atomic_t stop;
static void on_term(int sig) { (void)sig; stop = 1; }

static void stop_on_signals(void) {
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * linkem: a user-space link emulator between two TUN devices.
 *
 * Usage: linkem NETNS_A:DEV_A NETNS_B:DEV_B DELAY LOSS RATE QUEUE [SEED]
 *   e.g. linkem attA:lk0 attB:lk0 20ms 0.5% 100mbit 500kb
 *   DELAY  one-way delay, applied in each direction: 0, 250us, 20ms, 1s
 *   LOSS   random loss per packet, in each direction: 0, 0.5%, 0.005
 *   RATE   bottleneck rate in each direction, counted on IP packet bytes: 10mbit, 1gbit, 800kbit, none
 *   QUEUE  bottleneck queue limit in bytes (drop-tail): 64kb, 1mb, 150000, or auto: one bandwidth-delay
 *          product of the round trip (RATE x 2 x DELAY), at least 100 full-sized packets; unused if RATE is none
 *   SEED   seed of the loss generator (default: from the clock), for runs that drop the same packets
 *
 * The TUN devices must exist already (ip -n NETNS tuntap add dev DEV mode tun); linkem enters each
 * namespace in turn (setns on /var/run/netns/NETNS) to attach to its device, so that one process holds
 * both ends. Built by bench/impaired-link.sh, which also sets the addresses and routes.
 *
 * Model, per direction, for a packet of L bytes read at time t:
 *   1. loss: dropped with probability LOSS (before the queue, so a lost packet costs no bandwidth);
 *   2. bottleneck: the link is busy until `busy_until`; the bytes still waiting there are
 *      (busy_until - t) * RATE / 8. If that plus L exceeds QUEUE the packet is dropped (drop-tail).
 *      Otherwise it is sent from max(t, busy_until) for L*8/RATE seconds, and busy_until moves to the end
 *      of that. This is a token bucket one packet deep: the rate is exact over any stretch of time.
 *   3. propagation: the packet comes out of the other TUN device DELAY after it left the bottleneck.
 * The exit times grow with each packet (busy_until never goes back, DELAY is constant), so a plain FIFO
 * per direction is already ordered by time: new packets go at the tail, due ones leave from the head.
 *
 * Threads: one per direction, each owning its input fd, its queue and its output fd, so the two
 * directions never share a lock and can use both cores. Each thread waits in ppoll() on its input fd
 * with a timeout of "until the head of its queue is due" (nanosecond timeout, 1 us timer slack), reads
 * every packet waiting (up to a batch), then writes every packet that is due. The main thread only
 * waits for signals: SIGUSR1 prints the counters to stderr, SIGTERM/SIGINT print them and exit.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define READ_BATCH 256       /* packets read in one go before serving the due queue again */
#define MAX_QUEUED 1000000   /* safety bound on packets held per direction */

struct pkt {                 /* one packet in flight; buffers are recycled through a free list */
    struct pkt *next;
    uint64_t due_ns;         /* when it comes out of the far end */
    uint32_t len;
    unsigned char data[];    /* room for one packet of the input device's MTU */
};

struct dir {                 /* one direction of the link: everything its thread touches */
    const char *name;
    int in_fd, out_fd;
    unsigned buf_size;       /* MTU of the input device: no packet read from it is longer */
    struct pkt *head, *tail, *free_list;
    long queued;
    uint64_t busy_until_ns;  /* the bottleneck is transmitting until then */
    uint64_t rng;            /* xorshift64* state for the loss draw */
    /* counters, read by the main thread without locks (approximate while running is fine) */
    volatile uint64_t rx_pkts, rx_bytes, tx_pkts, tx_bytes, lost, qdrops, overflow, write_errs;
};

static uint64_t delay_ns;    /* one-way propagation delay */
static uint64_t loss_thresh; /* drop when a 64-bit random draw is below this */
static double rate_bps;      /* bits per second; 0 = unlimited */
static uint64_t queue_bytes; /* bottleneck queue limit */
static struct dir dirs[2];

static void die(const char *what) { perror(what); exit(1); }

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t rand64(uint64_t *s) {   /* xorshift64*: fast, and plenty for a loss coin */
    *s ^= *s >> 12; *s ^= *s << 25; *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

/* "20ms" -> ns, "0.5%" -> fraction, "100mbit" -> bit/s, "500kb" -> bytes. Exits on junk. */
static double parse_unit(const char *s, const char *what, const char *const *units, const double *scale) {
    char *end;
    double v = strtod(s, &end);
    if (end == s || v < 0) { fprintf(stderr, "linkem: bad %s '%s'\n", what, s); exit(2); }
    for (int i = 0; units[i]; i++)
        if (strcasecmp(end, units[i]) == 0) return v * scale[i];
    fprintf(stderr, "linkem: bad unit in %s '%s'\n", what, s);
    exit(2);
}

/* Enter namespace NS, attach to the existing TUN device DEV there, return a non-blocking fd, and its MTU. */
static int open_tun(const char *ns_dev, unsigned *mtu) {
    char ns[256], path[300];
    const char *colon = strchr(ns_dev, ':');
    if (!colon || colon - ns_dev >= (long)sizeof ns) { fprintf(stderr, "linkem: want NETNS:DEV, got '%s'\n", ns_dev); exit(2); }
    memcpy(ns, ns_dev, colon - ns_dev); ns[colon - ns_dev] = 0;
    snprintf(path, sizeof path, "/var/run/netns/%s", ns);
    int nsfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nsfd < 0) die(path);
    if (setns(nsfd, CLONE_NEWNET) < 0) die("setns");
    close(nsfd);
    /* /dev/net/tun looks the device name up in the namespace of the caller, which is now NS */
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) die("/dev/net/tun");
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI;   /* bare IP packets, no 4-byte header */
    snprintf(ifr.ifr_name, IFNAMSIZ, "%s", colon + 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) die("TUNSETIFF");
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);   /* any socket answers SIOCGIFMTU */
    if (sock < 0 || ioctl(sock, SIOCGIFMTU, &ifr) < 0) die("SIOCGIFMTU");
    close(sock);
    *mtu = (unsigned)ifr.ifr_mtu;
    return fd;
}

static struct pkt *get_buf(struct dir *d) {
    struct pkt *p = d->free_list;
    if (p) { d->free_list = p->next; return p; }
    p = malloc(sizeof *p + d->buf_size);   /* only while the link fills up: later they are reused */
    if (!p) die("malloc");
    return p;
}

/* Take one packet read at time t through loss and the bottleneck; queue it or recycle it. */
static void admit(struct dir *d, struct pkt *p, uint64_t t) {
    d->rx_pkts++; d->rx_bytes += p->len;
    if (loss_thresh && rand64(&d->rng) < loss_thresh) { d->lost++; goto drop; }
    if (d->queued >= MAX_QUEUED) { d->overflow++; goto drop; }
    uint64_t leave = t;   /* when the packet has left the bottleneck */
    if (rate_bps > 0) {
        uint64_t start = d->busy_until_ns > t ? d->busy_until_ns : t;
        double backlog = (double)(start - t) * rate_bps / 8e9;          /* bytes still ahead of it */
        if (backlog + p->len > (double)queue_bytes) { d->qdrops++; goto drop; }
        leave = start + (uint64_t)(p->len * 8e9 / rate_bps);            /* serialisation time */
        d->busy_until_ns = leave;
    }
    p->due_ns = leave + delay_ns;
    p->next = NULL;
    if (d->tail) d->tail->next = p; else d->head = p;
    d->tail = p;
    d->queued++;
    return;
drop:
    p->next = d->free_list; d->free_list = p;
}

static void *run_dir(void *arg) {
    struct dir *d = arg;
    prctl(PR_SET_TIMERSLACK, 1000UL);   /* wake within ~1 us of the due time, not the default 50 us */
    struct pollfd pfd = { .fd = d->in_fd, .events = POLLIN };
    struct pkt *spare = NULL;           /* a buffer taken for a read that found nothing */
    for (;;) {
        /* 1. write out everything that is due */
        uint64_t t = now_ns();
        while (d->head && d->head->due_ns <= t) {
            struct pkt *p = d->head;
            d->head = p->next;
            if (!d->head) d->tail = NULL;
            d->queued--;
            if (write(d->out_fd, p->data, p->len) == (ssize_t)p->len) { d->tx_pkts++; d->tx_bytes += p->len; }
            else d->write_errs++;   /* e.g. the far device is down: the packet is lost, as on a wire */
            p->next = d->free_list; d->free_list = p;
        }
        /* 2. sleep until a packet arrives or the head of the queue is due */
        struct timespec ts, *tmo = NULL;
        if (d->head) {
            uint64_t wait = d->head->due_ns - t;
            ts.tv_sec = wait / 1000000000u; ts.tv_nsec = wait % 1000000000u;
            tmo = &ts;
        }
        int n = ppoll(&pfd, 1, tmo, NULL);
        if (n < 0 && errno != EINTR) die("ppoll");
        if (n <= 0 || !(pfd.revents & POLLIN)) {
            if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) { fprintf(stderr, "linkem: %s: input closed\n", d->name); exit(1); }
            continue;
        }
        /* 3. read what is waiting, stamping each packet with the time it arrived */
        for (int i = 0; i < READ_BATCH; i++) {
            struct pkt *p = spare ? spare : get_buf(d);
            spare = NULL;
            ssize_t r = read(d->in_fd, p->data, d->buf_size);
            if (r <= 0) {
                spare = p;
                if (r < 0 && errno != EAGAIN && errno != EINTR) die("read");
                break;
            }
            p->len = (uint32_t)r;
            admit(d, p, now_ns());
        }
    }
    return NULL;
}

static void print_counters(void) {
    for (int i = 0; i < 2; i++) {
        struct dir *d = &dirs[i];
        fprintf(stderr, "%s: in %llu pkts %llu bytes, out %llu pkts %llu bytes, lost %llu, queue drops %llu, "
                "overflow %llu, write errors %llu, in flight %ld\n", d->name,
                (unsigned long long)d->rx_pkts, (unsigned long long)d->rx_bytes, (unsigned long long)d->tx_pkts,
                (unsigned long long)d->tx_bytes, (unsigned long long)d->lost, (unsigned long long)d->qdrops,
                (unsigned long long)d->overflow, (unsigned long long)d->write_errs, d->queued);
    }
}

int main(int argc, char **argv) {
    if (argc < 7 || argc > 8) {
        fprintf(stderr, "usage: linkem NETNS_A:DEV_A NETNS_B:DEV_B DELAY LOSS RATE QUEUE [SEED]\n"
                        "  e.g. linkem attA:lk0 attB:lk0 20ms 0.5%% 100mbit 500kb\n");
        return 2;
    }
    static const char *const t_units[] = {"", "s", "ms", "us", "ns", NULL};
    static const double t_scale[] = {1e9, 1e9, 1e6, 1e3, 1};
    static const char *const l_units[] = {"", "%", NULL};
    static const double l_scale[] = {1, 0.01};
    static const char *const r_units[] = {"", "bit", "kbit", "mbit", "gbit", "bps", "kbps", "mbps", "gbps", NULL};
    static const double r_scale[] = {1, 1, 1e3, 1e6, 1e9, 8, 8e3, 8e6, 8e9};   /* tc's units: bps = bytes/s */
    static const char *const q_units[] = {"", "b", "kb", "k", "mb", "m", NULL};
    static const double q_scale[] = {1, 1, 1024, 1024, 1048576, 1048576};

    delay_ns = (uint64_t)parse_unit(argv[3], "delay", t_units, t_scale);
    double loss = parse_unit(argv[4], "loss", l_units, l_scale);
    if (loss > 1) { fprintf(stderr, "linkem: loss above 100%%\n"); return 2; }
    loss_thresh = loss >= 1 ? UINT64_MAX : (uint64_t)(loss * 18446744073709551616.0);
    rate_bps = strcmp(argv[5], "none") == 0 ? 0 : parse_unit(argv[5], "rate", r_units, r_scale);
    if (strcmp(argv[6], "auto") == 0) {
        queue_bytes = (uint64_t)(rate_bps / 8 * 2 * delay_ns / 1e9);
        if (queue_bytes < 150000) queue_bytes = 150000;
    } else {
        queue_bytes = (uint64_t)parse_unit(argv[6], "queue", q_units, q_scale);
    }
    uint64_t seed = argc > 7 ? strtoull(argv[7], NULL, 0) : now_ns();

    unsigned mtu_a, mtu_b;
    int fd_a = open_tun(argv[1], &mtu_a), fd_b = open_tun(argv[2], &mtu_b);
    dirs[0] = (struct dir){ .name = "A->B", .in_fd = fd_a, .out_fd = fd_b, .buf_size = mtu_a, .rng = seed | 1 };
    dirs[1] = (struct dir){ .name = "B->A", .in_fd = fd_b, .out_fd = fd_a, .buf_size = mtu_b,
                            .rng = (seed * 0x9E3779B97F4A7C15ull) | 1 };

    /* the workers must not take the signals: block them here, before the threads inherit the mask */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGUSR1); sigaddset(&sigs, SIGTERM); sigaddset(&sigs, SIGINT); sigaddset(&sigs, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        if (pthread_create(&th[i], NULL, run_dir, &dirs[i]) != 0) die("pthread_create");
    fprintf(stderr, "linkem: %s <-> %s, delay %s each way, loss %s, rate %s, queue %llu bytes\n",
            argv[1], argv[2], argv[3], argv[4], argv[5], (unsigned long long)queue_bytes);
    for (;;) {
        int sig;
        sigwait(&sigs, &sig);
        print_counters();
        if (sig != SIGUSR1) return 0;
    }
}

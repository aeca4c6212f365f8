/*
 * echo-floor: the least work any echo server can do per message on this kernel, for
 * scripts/bench-echo.sh. Not part of the crate, and not a program to learn from.
 *
 * Why C: docs/performance.md compares the crate's servers with Python's in messages per
 * CPU-second. Most of a message's CPU is the kernel's (TCP over loopback), which no
 * server can shrink; this program shows where that floor is, with no Rust, no mio and
 * no selector in the way. It makes exactly the calls a message needs: one
 * level-triggered epoll_wait shared by every ready socket, then one read and one write
 * per readable socket. Bytes the kernel will not take wait in a per-connection buffer,
 * and that connection is not read until they are written (backpressure), so it is a
 * correct echo server for every load echo_load makes, pipelined 4 KiB messages included.
 *
 *   cc -O2 -o /tmp/echo-floor scripts/echo-floor.c && /tmp/echo-floor --port 65432
 *
 * IPv4 loopback only; one connection per descriptor, state indexed by descriptor.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

struct conn {
    char *pending; /* bytes read but not yet written; NULL when none */
    size_t len, off;
};

static struct conn *conns; /* indexed by descriptor */
static int epfd;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void watch(int op, int fd, unsigned events) {
    struct epoll_event ev = {.events = events, .data.fd = fd};
    if (epoll_ctl(epfd, op, fd, &ev) < 0) die("epoll_ctl");
}

static void drop(int fd) {
    free(conns[fd].pending);
    memset(&conns[fd], 0, sizeof conns[fd]);
    close(fd); /* closing also removes it from the epoll set */
}

/* Writes what is pending; returns 0 when all is written, 1 when some must wait. */
static int flush(int fd) {
    struct conn *c = &conns[fd];
    while (c->off < c->len) {
        ssize_t n = send(fd, c->pending + c->off, c->len - c->off, MSG_NOSIGNAL);
        if (n < 0) return (errno == EAGAIN) ? 1 : -1;
        c->off += (size_t)n;
    }
    free(c->pending);
    c->pending = NULL;
    c->len = c->off = 0;
    return 0;
}

int main(int argc, char **argv) {
    int port = 65432;
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--port") == 0) port = atoi(argv[i + 1]);

    struct rlimit lim;
    if (getrlimit(RLIMIT_NOFILE, &lim) < 0) die("getrlimit");
    conns = calloc(lim.rlim_cur, sizeof *conns);
    if (!conns) die("calloc");

    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (ls < 0 || setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(ls, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(ls, 1024) < 0)
        die("listen");
    if ((epfd = epoll_create1(0)) < 0) die("epoll_create1");
    watch(EPOLL_CTL_ADD, ls, EPOLLIN);

    static char buf[65536];
    struct epoll_event events[1024];
    for (;;) {
        int n = epoll_wait(epfd, events, 1024, -1);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == ls) {
                int c;
                while ((c = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0)
                    watch(EPOLL_CTL_ADD, c, EPOLLIN);
                continue;
            }
            if (conns[fd].pending) { /* EPOLLOUT: finish the echo, then read again */
                int r = flush(fd);
                if (r < 0) drop(fd);
                else if (r == 0) watch(EPOLL_CTL_MOD, fd, EPOLLIN);
                continue;
            }
            ssize_t got = read(fd, buf, sizeof buf);
            if (got <= 0) {
                if (got == 0 || errno != EAGAIN) drop(fd);
                continue;
            }
            ssize_t sent = send(fd, buf, (size_t)got, MSG_NOSIGNAL);
            if (sent < 0 && errno != EAGAIN) {
                drop(fd);
                continue;
            }
            if (sent < 0) sent = 0;
            if (sent < got) { /* keep the rest, stop reading until it is written */
                struct conn *c = &conns[fd];
                c->len = (size_t)(got - sent);
                c->off = 0;
                if (!(c->pending = malloc(c->len))) die("malloc");
                memcpy(c->pending, buf + sent, c->len);
                watch(EPOLL_CTL_MOD, fd, EPOLLOUT);
            }
        }
    }
}

#define _GNU_SOURCE
#include "heaven_system.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int heaven_rename_noreplace(const char *from, const char *to) {
    return (int)syscall(SYS_renameat2, AT_FDCWD, from, AT_FDCWD, to, 1U /* RENAME_NOREPLACE */);
}

int heaven_pidfd_open(pid_t pid) {
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int heaven_reaper_create(int *wake_fd) {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) return -1;
    int ev = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (ev < 0) {
        close(ep);
        return -1;
    }
    if (heaven_reaper_add(ep, ev, 0) != 0) {
        close(ev);
        close(ep);
        return -1;
    }
    *wake_fd = ev;
    return ep;
}

int heaven_reaper_add(int epfd, int fd, unsigned long long tag) {
    struct epoll_event e;
    e.events = EPOLLIN;
    e.data.u64 = tag;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &e);
}

int heaven_reaper_wait(int epfd, unsigned long long *tags, int max) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int n;
    do {
        n = epoll_wait(epfd, events, max, -1);
    } while (n < 0 && errno == EINTR);
    for (int i = 0; i < n; i++) tags[i] = events[i].data.u64;
    return n;
}

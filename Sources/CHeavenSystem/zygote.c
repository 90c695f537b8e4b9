/* The sandbox helper of a shared server: one long-lived process (`heaven-sandbox`, or
   `heaven --sandbox-zygote` where that small program is not beside `heaven`; started
   by the server with a socket as its standard input) that starts every confined task
   of the server's tenants.

   Starting a task through bubblewrap and setpriv costs three execs, a monitor and an
   init process and a whole new root built mount by mount (about 6 ms a task here).
   The helper pays the fixed part once: it lives in a mount namespace of its own with
   a minimal /dev, and for each task it only clones itself into new PID, mount, IPC,
   UTS, cgroup (and network) namespaces, makes the copied tree read-only, covers what
   the task must not see, mounts its working directory writable and its run read-only,
   and drops to the tenant's ids just before the exec: the same confinement as
   bubblewrap + setpriv gave (see TaskConfinement), for the price of a fork or two.

   Everything here is plain system calls on static buffers: no allocation, no stdio.

   The protocol (native byte order; the socket is a stream):
     request  := u32 length, u32 kind, body[length]   (descriptors ride on the header)
       kind 1, spawn:  i32 id, uid, gid, umask, network, has_stdin, ncgroups;
                       i64 rlimit_cpu, rlimit_nofile, rlimit_as, rlimit_nproc, disk;
                       u32 nargv, nenv, nreadable, nhidden;
                       then NUL-terminated: path, workdir, stdout, stderr, argv..., env...,
                       readable..., hidden...
                       descriptors: [stdin] then each of the task's control groups'
                       directories (the leader writes itself into its `cgroup.procs`).
       kind 2, signal: i32 pid, i32 signal (to the task's process group, if not reaped)
       kind 3, open:   i32 id, uid, gid, mode; NUL-terminated relative path; one
                       descriptor: the directory it lies beneath. Opened as the tenant
                       (file system ids), beneath it, never through a link (beneath.c);
                       mode 0: a file to read (O_RDONLY | O_NONBLOCK | O_NOCTTY), 1: a
                       directory to read, 2: a directory to hold (O_PATH).
       kind 4, remove: the same body (mode 0): the file or tree removed as the tenant.
       network: 0, loopback only (a namespace of its own); 1, the host's (an admin's task);
       2, outbound (a namespace of its own reaching out through slirp4netns, with no route
       to the host's loopback nor to any address of the host; only once configured with
       slirp4netns's path). disk: the bytes its working directory, /tmp and /dev/shm may
       hold, 0 for no bound (see within_disk).
     Every field is checked (ids above 0, flags 0 or 1, counts within bounds, strings
     NUL-terminated within the body); a malformed request gets `failed` (stage 9) and
     changes nothing.
     reply    := u32 length, u32 kind, body
       kind 1, started: i32 id, i32 pid         (the task's group leader, in our PID namespace)
       kind 2, failed:  i32 id, i32 errno, i32 stage   (nothing runs)
       kind 3, exited:  i32 pid, i32 wait status, i64 user µs, i64 system µs, i64 max RSS KiB,
                        i32 why (1: killed for writing more than its disk bound)
       kind 4, ready                            (once, after the helper's own set-up)
       kind 5, done:    i32 id, i32 errno       (an open or a remove; an open's descriptor
                                                 rides on it when errno is 0)
   Starts overlap (a task's set-up waits on the kernel, joining its control groups
   above all: the helper serves other requests meanwhile), so replies name their
   request's id; `exited` of a task always comes after its `started`. The helper ends when the server closes the socket; tasks then
   running go on (a restarted server finds and stops them by their environment). */
#define _GNU_SOURCE
#include "heaven_system.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/seccomp.h>
#include <ifaddrs.h>
#include <limits.h>
#include <netinet/in.h>
#include <time.h>
#include <stddef.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <dirent.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#define Z_OPEN_TREE_CLONE 1
#define Z_AT_RECURSIVE 0x8000
#define Z_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define Z_MOUNT_ATTR_RDONLY 0x00000001
#define Z_MOUNT_ATTR_NOSUID 0x00000002
#define Z_MOUNT_ATTR_NODEV 0x00000004
#define Z_CLOSE_RANGE_CLOEXEC 4

struct z_mount_attr {
    uint64_t attr_set;
    uint64_t attr_clr;
    uint64_t propagation;
    uint64_t userns_fd;
};

/* Stages, reported with the errno of a failure. */
enum {
    Z_SETUP = 1,    /* the helper's own namespace */
    Z_CLONE = 2,    /* new namespaces for the task */
    Z_CGROUP = 3,   /* joining the task's control groups */
    Z_STREAMS = 4,  /* its standard streams */
    Z_MOUNTS = 5,   /* its file system view */
    Z_PROC = 6,     /* its /proc */
    Z_IDS = 7,      /* dropping to the tenant's ids */
    Z_EXEC = 8,     /* the exec itself */
    Z_REQUEST = 9,  /* a malformed request */
    Z_SECCOMP = 10, /* restricting its system calls */
    Z_NETWORK = 11, /* its outbound network (slirp4netns) */
};

#define Z_MAX_BODY (8u << 20)
#define Z_MAX_STRINGS 65536
#define Z_MAX_FDS 16
#define Z_MAX_TASKS 8192

static char body[Z_MAX_BODY];
/* Whether the helper could not drop its supplementary groups (see setup). */
static int groups_kept;
/* Set once by the server (request 10, before it drops its privileges): the ids tenants'
   tasks may have, and the server's own account (which owns the logs and the run
   directories it gives to tenants). Until then any id above 0. */
static int configured;
static int64_t ids_low = 1, ids_high = 0x7fffffff;
static int32_t server_uid = -1, server_gid = -1;
/* slirp4netns, named at configuration (request 10): outbound network for tasks. */
static char slirp_path[256];
/* The mount namespace the helper was started in (slirp4netns runs there: it needs the
   host's /dev/net/tun, which the helper's /dev, and so its tasks', leaves out). */
static int host_mounts = -1;

static int uid_allowed(int32_t uid, int32_t gid) {
    return uid > 0 && gid > 0 && uid >= ids_low && uid <= ids_high && gid >= ids_low && gid <= ids_high &&
           uid != server_uid;
}
static char *strings[Z_MAX_STRINGS];

struct z_task {
    pid_t pid;   /* 0: free */
    int status;  /* the read end of the pipe on which the task's init writes its wait status */
    int report;  /* while it starts: the pipe that closes at its exec or carries why it failed; else -1 */
    int32_t id;  /* its request */
    int silent;  /* it failed to start (said so), or its end was reported: nothing more to say */
    int netns;   /* the network namespace it borrowed (see netns_take), or -1 */
    int32_t uid; /* its tenant */
    int own_netns; /* its namespace is its own (outbound): closed at its end, never reused */
    int slirp;     /* outbound: the pipe whose closing ends its slirp4netns, else -1 */
};
static struct z_task tasks[Z_MAX_TASKS];

/* Network namespaces with only loopback (up), idle, by tenant. A task without network
   gets one of its own tenant's, else a new one, and gives it back when its PID
   namespace is gone, with every process of it: making a network namespace and bringing
   its loopback up is the dearest part of a task's start (about a millisecond here), and
   what an idle one keeps of the task that used it (its tenant's own closed connections
   in TIME_WAIT, counters) cannot be changed by a task (no capability) and is seen only by
   the same tenant. One task at a time uses a namespace; a tenant's tasks running at once
   each have theirs. */
#define Z_IDLE_NETNS 64
static struct {
    int32_t uid;
    int fd;
} idle_netns[Z_IDLE_NETNS];
static int idle_count;

static int write_all(int fd, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int read_all(int fd, void *data, size_t n) {
    char *p = data;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return -1;
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

static void reply(int sock, uint32_t kind, const void *payload, uint32_t length) {
    char out[64];
    if (length > sizeof out - 8) return; /* never: every reply is a few fixed fields */
    memcpy(out, &length, 4);
    memcpy(out + 4, &kind, 4);
    memcpy(out + 8, payload, length);
    write_all(sock, out, 8 + length);
}

static void reply_failed(int sock, int32_t id, int err, int stage) {
    int32_t p[3] = {id, err ? err : EINVAL, stage};
    reply(sock, 2, p, sizeof p);
}

/* ---- in the task's new namespaces ---------------------------------------------- */

/* A failure before the exec: errno and stage to the helper, and out. */
static void __attribute__((noreturn)) child_fail(int report, int stage) {
    int32_t p[2] = {errno ? errno : EINVAL, stage};
    write_all(report, p, sizeof p);
    _exit(127);
}

static int open_tree_clone(const char *path) {
    return (int)syscall(SYS_open_tree, AT_FDCWD, path, Z_OPEN_TREE_CLONE | O_CLOEXEC);
}

static int set_attributes(int dirfd, const char *path, unsigned flags, uint64_t set) {
    struct z_mount_attr a;
    memset(&a, 0, sizeof a);
    a.attr_set = set;
    return (int)syscall(SYS_mount_setattr, dirfd, path, flags, &a, sizeof a);
}

static int attach(int fd, const char *target) {
    return (int)syscall(SYS_move_mount, fd, "", AT_FDCWD, target, Z_MOVE_MOUNT_F_EMPTY_PATH);
}

/* Makes every missing directory of `path` (mode 0755: the tenant must be able to walk
   to its working directory by its absolute path). */
static int make_path(const char *path) {
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != 0) continue;
        char c = buf[i];
        buf[i] = 0;
        struct stat st;
        if (stat(buf, &st) != 0) {
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
            chmod(buf, 0755);
        }
        buf[i] = c;
    }
    return 0;
}

static void loopback_up(void);

struct z_new_netns {
    int fd, err;
};

/* In a new network namespace, sharing the helper's memory and descriptors: loopback up,
   and the namespace opened for the helper. */
static int netns_child(void *arg) {
    struct z_new_netns *made = arg;
    loopback_up();
    made->fd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
    made->err = errno;
    return 0;
}

/* A new network namespace, set up by `child` (run in it by a short-lived clone sharing
   the helper's memory, so that the helper never leaves its own): its descriptor, or -1
   with errno set. */
static int new_netns(int (*child)(void *)) {
    static char stack[1 << 16] __attribute__((aligned(16)));
    struct z_new_netns made = {-1, 0};
    pid_t pid = clone(child, stack + sizeof stack, CLONE_NEWNET | CLONE_VM | CLONE_FILES | CLONE_VFORK | SIGCHLD, &made);
    if (pid < 0) return -1;
    int st;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {}
    if (made.fd < 0) errno = made.err ? made.err : EIO;
    return made.fd;
}

/* A loopback-only network namespace for a task of `uid`: an idle one of that tenant's,
   else a new one (made by a short-lived child, so that the helper never leaves its
   own). -1 with errno set if it cannot. */
static int netns_take(int32_t uid) {
    for (int i = idle_count - 1; i >= 0; i--) {
        if (idle_netns[i].uid != uid) continue;
        int fd = idle_netns[i].fd;
        idle_netns[i] = idle_netns[--idle_count];
        return fd;
    }
    return new_netns(netns_child);
}

/* A task's namespace back to the idle ones (the oldest idle one goes when full). */
static void netns_give_back(int32_t uid, int fd) {
    if (fd < 0) return;
    if (idle_count == Z_IDLE_NETNS) {
        close(idle_netns[0].fd);
        memmove(&idle_netns[0], &idle_netns[1], sizeof idle_netns[0] * (Z_IDLE_NETNS - 1));
        idle_count--;
    }
    idle_netns[idle_count].uid = uid;
    idle_netns[idle_count].fd = fd;
    idle_count++;
}

static void loopback_up(void) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        ioctl(s, SIOCSIFFLAGS, &ifr);
    }
    close(s);
}

/* ---- outbound network -------------------------------------------------------- */

/* The host's own IPv4 addresses (every interface's, loopback's included), taken when an
   outbound namespace is made: each gets a blackhole route there. */
#define Z_MAX_HOST_ADDRS 256
static struct in_addr host_addrs[Z_MAX_HOST_ADDRS];
static int host_addr_count;

static void host_addresses(void) {
    host_addr_count = 0;
    struct ifaddrs *all = NULL;
    if (getifaddrs(&all) != 0) return;
    for (struct ifaddrs *a = all; a && host_addr_count < Z_MAX_HOST_ADDRS; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET) continue;
        host_addrs[host_addr_count++] = ((struct sockaddr_in *)a->ifa_addr)->sin_addr;
    }
    freeifaddrs(all);
}

/* A blackhole route to `addr`/32 in the calling thread's network namespace, through the
   netlink socket `nl`. 0, or -1 with errno. */
static int blackhole(int nl, struct in_addr addr) {
    struct {
        struct nlmsghdr h;
        struct rtmsg r;
        char attrs[32];
    } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_type = RTM_NEWROUTE;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_REPLACE | NLM_F_ACK;
    req.r.rtm_family = AF_INET;
    req.r.rtm_dst_len = 32;
    req.r.rtm_table = RT_TABLE_MAIN;
    req.r.rtm_protocol = RTPROT_STATIC;
    req.r.rtm_scope = RT_SCOPE_UNIVERSE;
    req.r.rtm_type = RTN_BLACKHOLE;
    struct rtattr *a = (struct rtattr *)req.attrs;
    a->rta_type = RTA_DST;
    a->rta_len = RTA_LENGTH(sizeof addr);
    memcpy(RTA_DATA(a), &addr, sizeof addr);
    req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.r) + RTA_ALIGN(a->rta_len);
    if (send(nl, &req, req.h.nlmsg_len, 0) < 0) return -1;
    char answer[512];
    ssize_t n = recv(nl, answer, sizeof answer, 0);
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) {
        errno = EIO;
        return -1;
    }
    struct nlmsghdr *h = (struct nlmsghdr *)answer;
    if (h->nlmsg_type != NLMSG_ERROR) {
        errno = EIO;
        return -1;
    }
    int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    if (err != 0) {
        errno = -err;
        return -1;
    }
    return 0;
}

/* In a new network namespace for an outbound task: loopback up, no route to any of the
   host's addresses (slirp4netns would otherwise connect to them for the task, from the
   host), and the namespace opened for the helper. */
static int outbound_child(void *arg) {
    struct z_new_netns *made = arg;
    int nl = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (nl < 0) {
        made->err = errno;
        return 0;
    }
    for (int i = 0; i < host_addr_count; i++) {
        if (blackhole(nl, host_addrs[i]) != 0) {
            made->err = errno;
            close(nl);
            return 0;
        }
    }
    close(nl);
    return netns_child(arg);
}

/* A new network namespace for an outbound task, never shared: -1 with errno if not. */
static int outbound_netns(void) {
    host_addresses();
    return new_netns(outbound_child);
}

/* Starts slirp4netns on the namespace `netns` (a tap device, 10.0.2.100/24, a default
   route through 10.0.2.2, DNS at 10.0.2.3; `--disable-host-loopback`: 10.0.2.2 does not
   lead to the host's loopback), sandboxed by itself (its own mount namespace, no
   capability, a seccomp filter). Waits, at most 10 s, until it is ready. Returns the
   write end of the pipe whose closing ends it (it then exits; the helper reaps it), or -1
   with errno. */
static int slirp_start(int netns) {
    int ready[2], quit[2];
    if (pipe2(ready, O_CLOEXEC) != 0) return -1;
    if (pipe2(quit, O_CLOEXEC) != 0) {
        close(ready[0]);
        close(ready[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        /* In the host's mount namespace; its descriptors: 3 the network namespace, 4 ready,
           5 quit; nothing else of ours. */
        if (host_mounts < 0 || setns(host_mounts, CLONE_NEWNS) != 0) _exit(126);
        if (dup2(netns, 3) < 0 || dup2(ready[1], 4) < 0 || dup2(quit[0], 5) < 0) _exit(127);
        syscall(SYS_close_range, 6U, ~0U, 0);
        int null = open("/dev/null", O_RDWR);
        if (null >= 0) {
            dup2(null, 0);
            dup2(null, 1);
            if (null > 2) close(null);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        char *argv[] = {slirp_path,
                        "--configure",
                        "--mtu=65520",
                        "--disable-host-loopback",
                        "--enable-sandbox",
                        "--enable-seccomp",
                        "--ready-fd=4",
                        "--exit-fd=5",
                        "--netns-type=path",
                        "/proc/self/fd/3",
                        "tap0",
                        NULL};
        char *envp[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
        execve(slirp_path, argv, envp);
        _exit(127);
    }
    int e = errno;
    close(ready[1]);
    close(quit[0]);
    if (pid < 0) {
        close(ready[0]);
        close(quit[1]);
        errno = e;
        return -1;
    }
    struct pollfd p = {ready[0], POLLIN, 0};
    char c = 0;
    int waited = 0;
    while (waited < 10000) {
        int r = poll(&p, 1, 100);
        if (r > 0) break;
        if (r < 0 && errno != EINTR) break;
        waited += 100;
    }
    ssize_t n = (p.revents & (POLLIN | POLLHUP)) ? read(ready[0], &c, 1) : -1;
    close(ready[0]);
    if (n != 1 || c != '1') {
        kill(pid, SIGKILL);
        close(quit[1]);
        errno = n < 0 && waited >= 10000 ? ETIMEDOUT : ENETUNREACH;
        return -1;
    }
    return quit[1];
}

struct z_spawn {
    int32_t id, uid, gid, umask, network, has_stdin, ncgroups;
    int netns; /* without network: the namespace it joins (netns_take) */
    int64_t rl_cpu, rl_nofile, rl_as, rl_nproc, disk;
    const char *path, *workdir, *out, *err;
    char **argv, **env, **readable, **hidden;
    uint32_t nreadable, nhidden;
    int fds[Z_MAX_FDS];
    int nfds;
    int streams[3]; /* standard input, output and error, opened by the helper */
};

/* No task needs a user namespace of its own, and each is kernel attack surface a task
   could otherwise reach without any capability (as container runtimes' default profiles
   say): `unshare` and `clone` with CLONE_NEWUSER fail with EPERM, `clone3` (whose flags a
   filter cannot read) with ENOSYS, so that the C library falls back to `clone`; calls of
   another ABI (x32, a 32-bit one) fail. */
static int restrict_system_calls(void) {
#if defined(__x86_64__)
#define Z_AUDIT_ARCH AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define Z_AUDIT_ARCH AUDIT_ARCH_AARCH64
#endif
#ifdef Z_AUDIT_ARCH
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
    struct sock_filter code[] = {
        /* 0 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        /* 1 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, Z_AUDIT_ARCH, 0, 8),
        /* 2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        /* 3 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x40000000, 6, 0),
        /* 4 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone3, 6, 0),
        /* 5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_unshare, 1, 0),
        /* 6 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_clone, 0, 2),
        /* 7 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        /* 8 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_NEWUSER, 1, 0),
        /* 9 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        /* 10 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (EPERM & SECCOMP_RET_DATA)),
        /* 11 */ BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (ENOSYS & SECCOMP_RET_DATA)),
    };
    struct sock_fprog program = {(unsigned short)(sizeof code / sizeof code[0]), code};
    return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program, 0, 0);
#else
    return 0;
#endif
}

/* The task itself (PID 2 of its namespace): limits, no privilege, exec. */
static void __attribute__((noreturn)) run_task(const struct z_spawn *s, int report) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < 65; sig++) {
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);
    }
    struct rlimit zero = {0, 0};
    setrlimit(RLIMIT_CORE, &zero);
    heaven_lower_limit(RLIMIT_CPU, s->rl_cpu);
    heaven_lower_limit(RLIMIT_NOFILE, s->rl_nofile);
    heaven_lower_limit(RLIMIT_AS, s->rl_as);
    heaven_lower_limit(RLIMIT_NPROC, s->rl_nproc);
    /* No one file larger than the disk bound (one byte past it, so that the breach shows
       in what the files hold; the rest: see within_disk). */
    heaven_lower_limit(RLIMIT_FSIZE, s->disk > 0 ? s->disk + 1 : 0);
    umask((mode_t)(s->umask >= 0 ? s->umask : 077));
    /* No capability can come back: none in the bounding set, none inheritable or
       ambient; the change of uid then empties the permitted and effective sets. */
    for (int cap = 0; cap < 64; cap++) {
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno == EINVAL) break;
    }
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) child_fail(report, Z_IDS);
    data[0].inheritable = data[1].inheritable = 0;
    if (syscall(SYS_capset, &header, data) != 0) child_fail(report, Z_IDS);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL) child_fail(report, Z_IDS);
    if (setgroups(0, NULL) != 0) child_fail(report, Z_IDS);
    if (setresgid((gid_t)s->gid, (gid_t)s->gid, (gid_t)s->gid) != 0) child_fail(report, Z_IDS);
    if (setresuid((uid_t)s->uid, (uid_t)s->uid, (uid_t)s->uid) != 0) child_fail(report, Z_IDS);
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) child_fail(report, Z_IDS);
    if (restrict_system_calls() != 0) child_fail(report, Z_SECCOMP);
    /* Nothing of ours past the exec (the report pipe closes with it: success). */
    syscall(SYS_close_range, 3U, ~0U, Z_CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(s->path, s->argv, s->env);
    child_fail(report, Z_EXEC);
}

/* ---- the disk bound ------------------------------------------------------------ */

/* Adds the blocks of everything beneath the directory `dir` (closed here) to `*total`,
   never through a link, as root (a tenant's unreadable directory hides nothing). 0 while
   within `limit`; -1 past it, or deeper than 256 directories. */
static int tree_usage(int dir, int depth, int64_t *total, int64_t limit) {
    if (depth > 256) {
        close(dir);
        return -1;
    }
    DIR *d = fdopendir(dir);
    if (!d) {
        close(dir);
        return 0;
    }
    struct dirent *e;
    int over = 0;
    while (!over && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (e->d_name[1] == 0 || (e->d_name[1] == '.' && e->d_name[2] == 0))) continue;
        struct stat st;
        if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        /* An entry counts at least 512 bytes (its inode): millions of empty files reach the
           bound too. */
        *total += (int64_t)st.st_blocks * 512 + 512;
        if (*total > limit) over = 1;
        if (!over && S_ISDIR(st.st_mode)) {
            int sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub >= 0 && tree_usage(sub, depth + 1, total, limit) != 0) over = 1;
        }
    }
    closedir(d);
    return over ? -1 : 0;
}

/* Whether the task's files are within `limit` bytes: what its working directory holds
   (blocks written, links not followed), and the files its processes still hold open after
   removing them (seen through its namespace's /proc). Its /tmp and /dev/shm are bounded by
   their size. */
static int within_disk(const char *workdir, int64_t limit) {
    int64_t total = 0;
    int dir = open(workdir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat work;
    if (dir < 0 || fstat(dir, &work) != 0) {
        if (dir >= 0) close(dir);
        return 1;
    }
    if (tree_usage(dir, 0, &total, limit) != 0) return 0;
    DIR *proc = opendir("/proc");
    if (!proc) return 1;
    struct dirent *p;
    char path[64], target[PATH_MAX];
    while ((p = readdir(proc)) != NULL && total <= limit) {
        if (p->d_name[0] < '1' || p->d_name[0] > '9' || strlen(p->d_name) > 10) continue;
        snprintf(path, sizeof path, "/proc/%s/fd", p->d_name);
        DIR *fds = opendir(path);
        if (!fds) continue;
        struct dirent *f;
        while ((f = readdir(fds)) != NULL && total <= limit) {
            if (f->d_name[0] < '0' || f->d_name[0] > '9') continue;
            ssize_t n = readlinkat(dirfd(fds), f->d_name, target, sizeof target - 1);
            if (n < 11) continue;
            target[n] = 0;
            if (strcmp(target + n - 10, " (deleted)") != 0) continue;
            struct stat st;
            if (fstatat(dirfd(fds), f->d_name, &st, 0) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 0 &&
                st.st_dev == work.st_dev)
                total += (int64_t)st.st_blocks * 512;
        }
        closedir(fds);
    }
    closedir(proc);
    return total <= limit;
}

/* The task's group leader and the init of its PID namespace: joins the task's
   control groups, builds its view of the file system, starts the task, waits for it
   and writes its wait status on `status`. */
static void __attribute__((noreturn)) run_leader(const struct z_spawn *s, int report, int status) {
    if (s->netns >= 0 && setns(s->netns, CLONE_NEWNET) != 0) child_fail(report, Z_CLONE);
    if (setpgid(0, 0) != 0) child_fail(report, Z_CLONE);
    /* Into the task's control groups first, then a cgroup namespace rooted there. */
    int first_cg = s->has_stdin ? 1 : 0;
    for (int i = 0; i < s->ncgroups; i++) {
        /* The group's directory (the server's, which may not write another's process into
           it): its `cgroup.procs` opened here, as root, only on a control group file system. */
        int dir = s->fds[first_cg + i];
        struct statfs fs;
        if (fstatfs(dir, &fs) != 0) child_fail(report, Z_CGROUP);
        if (fs.f_type != 0x27e0eb && fs.f_type != 0x63677270) {
            errno = EPERM;
            child_fail(report, Z_CGROUP);
        }
        int fd = openat(dir, "cgroup.procs", O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 || write(fd, "0", 1) != 1) child_fail(report, Z_CGROUP);
        close(fd);
        close(dir);
    }
    if (unshare(CLONE_NEWCGROUP) != 0) child_fail(report, Z_CGROUP);
    umask(022);
    /* Standard streams, opened by the helper (as the server's account, which the task's
       logs need, and outside these mounts, which must turn read-only below). */
    for (int i = 0; i < 3; i++) {
        if (dup2(s->streams[i], i) < 0) child_fail(report, Z_STREAMS);
    }
    /* The directories it may use, taken before anything covers them: its run read-only,
       its working directory writable, nothing set-uid, no device. */
    int binds[Z_MAX_STRINGS / 4];
    uint32_t nbinds = s->nreadable + 1;
    if (nbinds > sizeof binds / sizeof binds[0]) {
        errno = E2BIG;
        child_fail(report, Z_MOUNTS);
    }
    for (uint32_t i = 0; i < nbinds; i++) {
        const char *source = i < s->nreadable ? s->readable[i] : s->workdir;
        binds[i] = open_tree_clone(source);
        if (binds[i] < 0) child_fail(report, Z_MOUNTS);
        uint64_t attrs = Z_MOUNT_ATTR_NOSUID | Z_MOUNT_ATTR_NODEV | (i < s->nreadable ? Z_MOUNT_ATTR_RDONLY : 0);
        if (set_attributes(binds[i], "", AT_EMPTY_PATH, attrs) != 0) child_fail(report, Z_MOUNTS);
    }
    /* Everything else read-only, set-uid bits ignored. */
    if (set_attributes(AT_FDCWD, "/", Z_AT_RECURSIVE, Z_MOUNT_ATTR_RDONLY | Z_MOUNT_ATTR_NOSUID) != 0)
        child_fail(report, Z_MOUNTS);
    /* A /tmp and a /dev/shm of its own (each at most the disk bound; their pages count
       against its memory bound too). */
    char tmpfs_options[64] = "mode=1777";
    if (s->disk > 0) {
        char digits[24];
        int n = 0;
        for (int64_t v = s->disk; v > 0 && n < 23; v /= 10) digits[n++] = (char)('0' + v % 10);
        char *o = tmpfs_options + strlen(tmpfs_options);
        memcpy(o, ",size=", 6);
        o += 6;
        while (n > 0) *o++ = digits[--n];
        *o = 0;
    }
    if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, tmpfs_options) != 0) child_fail(report, Z_MOUNTS);
    if (mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, tmpfs_options) != 0)
        child_fail(report, Z_MOUNTS);
    mount("devpts", "/dev/pts", "devpts", MS_NOSUID | MS_NOEXEC, "newinstance,ptmxmode=0666,mode=620");
    /* What it must not see: a directory behind an empty one, a file behind /dev/null
       (what an earlier cover hid already is skipped). */
    for (uint32_t i = 0; i < s->nhidden; i++) {
        struct stat st;
        if (stat(s->hidden[i], &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            if (mount("tmpfs", s->hidden[i], "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755") != 0)
                child_fail(report, Z_MOUNTS);
        } else {
            int null = open_tree_clone("/dev/null");
            if (null < 0 || attach(null, s->hidden[i]) != 0) child_fail(report, Z_MOUNTS);
            close(null);
        }
    }
    for (uint32_t i = 0; i < nbinds; i++) {
        const char *target = i < s->nreadable ? s->readable[i] : s->workdir;
        if (make_path(target) != 0 || attach(binds[i], target) != 0) child_fail(report, Z_MOUNTS);
        close(binds[i]);
    }
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) child_fail(report, Z_PROC);
    if (chdir(s->workdir) != 0) child_fail(report, Z_MOUNTS);

    /* SIGCHLD held from here, so that none is missed between a look and a wait. */
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    pid_t task = fork();
    if (task < 0) child_fail(report, Z_CLONE);
    if (task == 0) {
        close(status);
        run_task(s, report);
    }
    close(report);
    /* The init of the namespace: reap whatever ends; when the task does, say how (its
       wait status and usage, at once: the helper reports it before this process has
       finished exiting, which tears its namespaces down and waits on the kernel) and go
       (the kernel then ends what the task left behind). With a disk bound, look at what
       it holds now and then meanwhile. */
    int32_t why = 0, looked = 0;
    int64_t pause_ms = 100;
    for (;;) {
        int st = 0;
        struct rusage ru;
        pid_t w = wait4(-1, &st, WNOHANG, &ru);
        if (w == 0) {
            if (s->disk > 0 && !why) {
                /* The first look after 100 ms (most tasks are over by then). */
                if (looked++) {
                    struct timespec t0, t1;
                    clock_gettime(CLOCK_MONOTONIC, &t0);
                    if (!within_disk(s->workdir, s->disk)) {
                        why = 1;
                        kill(-1, SIGKILL);
                    }
                    clock_gettime(CLOCK_MONOTONIC, &t1);
                    /* A look costs at most a twentieth of the task's time (250 ms to 5 s apart). */
                    int64_t took = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
                    pause_ms = took * 20 < 250 ? 250 : took * 20 > 5000 ? 5000 : took * 20;
                }
                struct timespec pause = {pause_ms / 1000, (pause_ms % 1000) * 1000000};
                sigtimedwait(&chld, NULL, &pause);
            } else {
                sigwaitinfo(&chld, NULL);
            }
            continue;
        }
        if (w == task) {
            /* A file past the bound (RLIMIT_FSIZE), or files past it at the end (written since
               the last look), is the same breach. */
            if (s->disk > 0 && !why && ((WIFSIGNALED(st) && WTERMSIG(st) == SIGXFSZ) || !within_disk(s->workdir, s->disk)))
                why = 1;
            char out[32];
            int32_t v[2] = {st, why};
            int64_t usage[3] = {(int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
                                (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, (int64_t)ru.ru_maxrss};
            memcpy(out, v, sizeof v);
            memcpy(out + sizeof v, usage, sizeof usage);
            write_all(status, out, sizeof out);
            _exit(0);
        }
        if (w < 0 && errno != EINTR) _exit(1);
    }
}

/* ---- the helper ---------------------------------------------------------------- */

static int parse_spawn(char *b, uint32_t length, struct z_spawn *s) {
    const uint32_t fixed = 7 * 4 + 5 * 8 + 4 * 4;
    if (length < fixed) return -1;
    int32_t i32[7];
    int64_t i64[5];
    uint32_t counts[4];
    memcpy(i32, b, sizeof i32);
    memcpy(i64, b + sizeof i32, sizeof i64);
    memcpy(counts, b + sizeof i32 + sizeof i64, sizeof counts);
    s->id = i32[0];
    s->uid = i32[1];
    s->gid = i32[2];
    s->umask = i32[3];
    s->network = i32[4];
    s->has_stdin = i32[5];
    s->ncgroups = i32[6];
    s->rl_cpu = i64[0];
    s->rl_nofile = i64[1];
    s->rl_as = i64[2];
    s->rl_nproc = i64[3];
    s->disk = i64[4];
    if (!uid_allowed(s->uid, s->gid) || s->ncgroups < 0 || s->ncgroups > Z_MAX_FDS) return -1;
    if ((s->has_stdin != 0 && s->has_stdin != 1) || s->network < 0 || s->network > 2 || s->disk < 0) return -1;
    if (s->network == 2 && !slirp_path[0]) return -1;
    if (s->has_stdin + s->ncgroups != s->nfds) return -1;
    for (int i = 0; i < 4; i++)
        if (counts[i] > Z_MAX_STRINGS) return -1;
    uint64_t total = 4ull + counts[0] + counts[1] + counts[2] + counts[3];
    /* argv, env, readable and hidden each end with a NULL pointer. */
    if (counts[0] == 0 || total + 4 > Z_MAX_STRINGS) return -1;
    uint32_t n = 0;
    char *p = b + fixed, *end = b + length;
    while (p < end && n < total) {
        char *zero = memchr(p, 0, (size_t)(end - p));
        if (!zero) return -1;
        strings[n++] = p;
        p = zero + 1;
    }
    if (n != total || p != end) return -1;
    s->path = strings[0];
    s->workdir = strings[1];
    s->out = strings[2][0] ? strings[2] : NULL;
    s->err = strings[3][0] ? strings[3] : NULL;
    if (s->path[0] != '/' || s->workdir[0] != '/') return -1;
    /* Shift the lists up one by one to leave room for their NULL terminators. */
    static char *lists[Z_MAX_STRINGS];
    uint32_t at = 0, from = 4;
    char ***targets[4] = {&s->argv, &s->env, &s->readable, &s->hidden};
    for (int l = 0; l < 4; l++) {
        *targets[l] = &lists[at];
        for (uint32_t i = 0; i < counts[l]; i++) lists[at++] = strings[from++];
        lists[at++] = NULL;
    }
    s->nreadable = counts[2];
    s->nhidden = counts[3];
    for (uint32_t i = 0; i < s->nreadable; i++)
        if (s->readable[i][0] != '/') return -1;
    return 0;
}

static void spawn_streams_open(int sock, struct z_spawn *s);

static struct z_task *slot_for(pid_t pid) {
    for (int i = 0; i < Z_MAX_TASKS; i++)
        if (tasks[i].pid == pid) return &tasks[i];
    return NULL;
}

static void close_streams(struct z_spawn *s) {
    for (int i = 0; i < 3; i++) {
        if (s->streams[i] >= 0 && !(i == 0 && s->has_stdin) && !(i == 2 && s->streams[2] == s->streams[1]))
            close(s->streams[i]);
        s->streams[i] = -1;
    }
}

static void spawn(int sock, struct z_spawn *s) {
    const int create = O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC;
    s->streams[0] = s->has_stdin ? s->fds[0] : open("/dev/null", O_RDONLY | O_CLOEXEC);
    /* The logs are the server's: opened with its account's rights (never through a link),
       so that a request can write only where the server itself could. */
    uid_t as_uid = server_uid >= 0 ? (uid_t)server_uid : 0, as_gid = server_gid >= 0 ? (gid_t)server_gid : 0;
    s->streams[1] = s->out ? heaven_open_as(as_uid, as_gid, s->out, create, 0600) : open("/dev/null", create, 0600);
    s->streams[2] = s->out && s->err && strcmp(s->out, s->err) == 0 ? s->streams[1]
                    : s->err                                         ? heaven_open_as(as_uid, as_gid, s->err, create, 0600)
                                                                     : open("/dev/null", create, 0600);
    if (s->streams[0] < 0 || s->streams[1] < 0 || s->streams[2] < 0) {
        int e = errno;
        close_streams(s);
        reply_failed(sock, s->id, e, Z_STREAMS);
        return;
    }
    spawn_streams_open(sock, s);
    close_streams(s);
}

static void spawn_streams_open(int sock, struct z_spawn *s) {
    int report[2], status[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
        reply_failed(sock, s->id, errno, Z_CLONE);
        return;
    }
    if (pipe2(status, O_CLOEXEC) != 0) {
        int e = errno;
        close(report[0]);
        close(report[1]);
        reply_failed(sock, s->id, e, Z_CLONE);
        return;
    }
    /* A free slot, and without network a loopback namespace; outbound, a namespace of its
       own with slirp4netns on it. */
    struct z_task *slot = slot_for(0);
    s->netns = -1;
    int slirp = -1;
    int unready = !slot ? EAGAIN : (s->network == 0 && (s->netns = netns_take(s->uid)) < 0) ? (errno ? errno : EIO) : 0;
    int stage = Z_CLONE;
    if (!unready && s->network == 2) {
        stage = Z_NETWORK;
        if ((s->netns = outbound_netns()) < 0 || (slirp = slirp_start(s->netns)) < 0) unready = errno ? errno : EIO;
    }
    if (unready) {
        close(report[0]);
        close(report[1]);
        close(status[0]);
        close(status[1]);
        if (s->network == 2 && s->netns >= 0) close(s->netns);
        reply_failed(sock, s->id, unready, stage);
        return;
    }
    unsigned long flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS | SIGCHLD;
    pid_t pid = (pid_t)syscall(SYS_clone, flags, 0, 0, 0, 0);
    if (pid == 0) {
        close(sock);
        close(report[0]);
        close(status[0]);
        run_leader(s, report[1], status[1]);
    }
    int e = errno;
    close(report[1]);
    close(status[1]);
    if (pid < 0) {
        close(report[0]);
        close(status[0]);
        if (s->network == 2) {
            close(s->netns);
            close(slirp);
        } else {
            netns_give_back(s->uid, s->netns);
        }
        reply_failed(sock, s->id, e, Z_CLONE);
        return;
    }
    /* It starts on its own; its report pipe says when it has (see settle). */
    slot->pid = pid;
    slot->status = status[0];
    slot->report = report[0];
    slot->id = s->id;
    slot->silent = 0;
    slot->netns = s->netns;
    slot->uid = s->uid;
    slot->own_netns = s->network == 2;
    slot->slirp = slirp;
}

/* A starting task's report pipe is readable: it closed at the exec (started) or
   carries why the start failed. */
static void settle(int sock, struct z_task *t) {
    int32_t failure[2];
    int failed = read_all(t->report, failure, sizeof failure) == 0;
    close(t->report);
    t->report = -1;
    if (failed) {
        t->silent = 1;
        reply_failed(sock, t->id, failure[0], failure[1]);
    } else {
        int32_t p[2] = {t->id, t->pid};
        reply(sock, 1, p, sizeof p);
    }
}

static void send_exit(int sock, pid_t pid, int32_t st, const int64_t usage[3], int32_t why) {
    char out[36];
    int32_t head[2] = {pid, st};
    memcpy(out, head, sizeof head);
    memcpy(out + sizeof head, usage, 3 * sizeof(int64_t));
    memcpy(out + 32, &why, sizeof why);
    reply(sock, 3, out, sizeof out);
}

/* A started task's status pipe is readable: its init says how it ended (or closed the
   pipe without a word: killed; its own end, once reaped, says how). */
static void ended(int sock, struct z_task *t) {
    char in[32];
    if (read_all(t->status, in, sizeof in) != 0) {
        close(t->status);
        t->status = -1;
        return;
    }
    close(t->status);
    t->status = -1;
    int32_t v[2];
    int64_t usage[3];
    memcpy(v, in, sizeof v);
    memcpy(usage, in + sizeof v, sizeof usage);
    t->silent = 1;
    send_exit(sock, t->pid, v[0], usage, v[1]);
}

static void reap(int sock) {
    for (;;) {
        int st = 0;
        struct rusage ru;
        pid_t pid = wait4(-1, &st, WNOHANG, &ru);
        if (pid <= 0) return;
        struct z_task *slot = slot_for(pid);
        if (!slot) continue;
        /* Ended before its start was settled (its pipe is closed or full by now). */
        if (slot->report >= 0) settle(sock, slot);
        /* Its word not yet read: read now (the init has exited, the pipe holds it or nothing). */
        if (!slot->silent && slot->status >= 0) ended(sock, slot);
        if (slot->status >= 0) close(slot->status);
        if (!slot->silent) {
            /* Killed before it could say: its own end. */
            int64_t usage[3] = {(int64_t)ru.ru_utime.tv_sec * 1000000 + ru.ru_utime.tv_usec,
                                (int64_t)ru.ru_stime.tv_sec * 1000000 + ru.ru_stime.tv_usec, (int64_t)ru.ru_maxrss};
            send_exit(sock, pid, st, usage, 0);
        }
        /* Its PID namespace is gone with every process in it: its network namespace is free
           (an outbound one is closed, and its slirp4netns told to go). */
        if (slot->own_netns) {
            close(slot->netns);
            if (slot->slirp >= 0) close(slot->slirp);
        } else {
            netns_give_back(slot->uid, slot->netns);
        }
        slot->netns = -1;
        slot->slirp = -1;
        slot->own_netns = 0;
        slot->pid = 0;
        slot->status = -1;
    }
}

/* The helper's own mount namespace: private, with a minimal /dev (null, zero, full,
   random, urandom, tty; shm and pts mounted per task), read-only. */
static int setup(void) {
    /* No supplementary group: an open as a tenant is checked with the tenant's ids only.
       Where groups cannot be dropped (a root that is not one, in a user namespace), no
       file is opened as a tenant (and no task will start: it drops them too). */
    if (setgroups(0, NULL) != 0) groups_kept = 1;
    host_mounts = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (unshare(CLONE_NEWNS) != 0) return -1;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return -1;
    static const char *const nodes[] = {"null", "zero", "full", "random", "urandom", "tty"};
    int fds[6];
    char path[64];
    for (int i = 0; i < 6; i++) {
        strcpy(path, "/dev/");
        strcat(path, nodes[i]);
        fds[i] = open_tree_clone(path);
    }
    if (fds[0] < 0) return -1;
    if (mount("tmpfs", "/dev", "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755") != 0) return -1;
    for (int i = 0; i < 6; i++) {
        if (fds[i] < 0) continue;
        strcpy(path, "/dev/");
        strcat(path, nodes[i]);
        int f = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0666);
        if (f < 0) return -1;
        close(f);
        if (attach(fds[i], path) != 0) return -1;
        close(fds[i]);
    }
    if (mkdir("/dev/shm", 01777) != 0 || mkdir("/dev/pts", 0755) != 0) return -1;
    chmod("/dev/shm", 01777);
    if (symlink("/proc/self/fd", "/dev/fd") != 0 || symlink("/proc/self/fd/0", "/dev/stdin") != 0 ||
        symlink("/proc/self/fd/1", "/dev/stdout") != 0 || symlink("/proc/self/fd/2", "/dev/stderr") != 0 ||
        symlink("pts/ptmx", "/dev/ptmx") != 0)
        return -1;
    if (mount(NULL, "/dev", NULL, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NOEXEC, NULL) != 0) return -1;
    return 0;
}

/* Whether the NUL-separated environment `env` (of `n` bytes) holds every one of `marks`. */
static int has_marks(const char *env, size_t n, char **marks, int nmarks) {
    for (int m = 0; m < nmarks; m++) {
        size_t len = strlen(marks[m]) + 1; /* with its NUL: whole entries only */
        int found = 0;
        for (size_t at = 0; at < n && !found;) {
            const char *entry = env + at;
            size_t left = n - at;
            const char *end = memchr(entry, 0, left);
            size_t elen = end ? (size_t)(end - entry) + 1 : left;
            if (elen == len && memcmp(entry, marks[m], len) == 0) found = 1;
            at += elen;
        }
        if (!found) return 0;
    }
    return 1;
}

static int marked(pid_t pid, char **marks, int nmarks) {
    static char env[1 << 16];
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/environ", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    ssize_t n = read(fd, env, sizeof env);
    close(fd);
    return n > 0 && has_marks(env, (size_t)n, marks, nmarks);
}

static pid_t group_of(pid_t pid) {
    char path[64], text[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n <= 0) return -1;
    text[n] = 0;
    char *close_paren = strrchr(text, ')');
    int pgrp = -1;
    char state;
    int ppid;
    if (!close_paren || sscanf(close_paren + 1, " %c %d %d", &state, &ppid, &pgrp) != 3) return -1;
    return (pid_t)pgrp;
}

/* Kills what a server that died left running (request 9): with `group` > 0, that process
   group if its leader or one of its members carries every mark; else every process that
   does, with its group. The marks are a task's environment (`HEAVEN_RUN=...`), so a
   reused pid is never killed. */
static void kill_marked(int sock, char *b, uint32_t length) {
    int32_t head[2] = {0, 0};
    if (length >= 4) memcpy(&head[0], b, 4);
    int32_t out[2] = {head[0], 0};
    char *marks[4];
    int nmarks = 0;
    if (length > sizeof head && b[length - 1] == 0) {
        memcpy(head, b, sizeof head);
        for (char *p = b + sizeof head; p < b + length && nmarks < 4; p += strlen(p) + 1) {
            if (strncmp(p, "HEAVEN_", 7) != 0) break;
            marks[nmarks++] = p;
        }
    }
    if (nmarks == 0 || head[1] < 0) {
        reply_failed(sock, head[0], EINVAL, Z_REQUEST);
        return;
    }
    out[0] = head[0];
    DIR *proc = opendir("/proc");
    if (!proc) {
        out[1] = errno;
        reply(sock, 5, out, sizeof out);
        return;
    }
    pid_t me = getpid();
    int killed = 0;
    struct dirent *d;
    while ((d = readdir(proc)) != NULL) {
        pid_t pid = (pid_t)atoi(d->d_name);
        if (pid <= 1 || pid == me) continue;
        if (head[1] > 0 && pid != head[1] && group_of(pid) != head[1]) continue;
        if (!marked(pid, marks, nmarks)) continue;
        pid_t group = head[1] > 0 ? head[1] : pid;
        kill(-group, SIGKILL);
        kill(group, SIGKILL);
        killed = 1;
        if (head[1] > 0) break;
    }
    closedir(proc);
    out[1] = killed ? 0 : ESRCH;
    reply(sock, 5, out, sizeof out);
}

/* An open or a remove as a tenant, beneath the directory that rides on the request. */
static void file_request(int sock, uint32_t kind, char *b, uint32_t length, struct z_spawn *s) {
    int32_t f[4] = {0, 0, 0, 0};
    if (length >= 4) memcpy(&f[0], b, 4);
    const char *path = b + sizeof f;
    if (length <= sizeof f || b[length - 1] != 0 || memchr(path, 0, length - sizeof f) != b + length - 1 ||
        s->nfds != 1) {
        reply_failed(sock, f[0], EINVAL, Z_REQUEST);
        return;
    }
    memcpy(f, b, sizeof f);
    int32_t id = f[0], mode = f[3];
    int mode_ok = kind == 3   ? mode >= 0 && mode <= 3
                  : kind == 6 ? mode == 0700 || mode == 0711 || mode == 0755
                              : mode == 0;
    if (!uid_allowed(f[1], f[2]) || !mode_ok || path[0] == 0 || path[0] == '/' ||
        (kind == 8 && strcmp(path, ".") != 0)) {
        reply_failed(sock, id, EINVAL, Z_REQUEST);
        return;
    }
    int32_t out[2] = {id, 0};
    if (groups_kept) {
        out[1] = EPERM;
        reply(sock, 5, out, sizeof out);
        return;
    }
    if (kind == 4 || kind == 6 || kind == 8) {
        int r;
        if (kind == 4) {
            r = heaven_remove_beneath_as((unsigned)f[1], (unsigned)f[2], s->fds[0], path);
        } else if (kind == 6) {
            r = heaven_mkdir_beneath_as((unsigned)f[1], (unsigned)f[2], s->fds[0], path, (unsigned)mode);
        } else {
            /* A directory of the server's own becomes the tenant's (a run's directory). */
            struct stat st;
            r = fstat(s->fds[0], &st);
            if (r == 0 && (!S_ISDIR(st.st_mode) || server_uid < 0 || st.st_uid != (uid_t)server_uid)) {
                errno = EPERM;
                r = -1;
            }
            if (r == 0) r = fchownat(s->fds[0], "", (uid_t)f[1], (gid_t)f[2], AT_EMPTY_PATH);
        }
        if (r != 0) out[1] = errno ? errno : EIO;
        reply(sock, 5, out, sizeof out);
        return;
    }
    static const int flags[4] = {O_RDONLY | O_NONBLOCK | O_NOCTTY, O_RDONLY | O_DIRECTORY | O_NONBLOCK,
                                 O_PATH | O_DIRECTORY, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY};
    int fd = mode == 3 ? -1 : heaven_open_beneath_as((unsigned)f[1], (unsigned)f[2], s->fds[0], path, flags[mode]);
    if (mode == 3) {
        /* A new file of the tenant's (0600): opened beneath as they would, created as theirs. */
        fd = heaven_create_beneath_as((unsigned)f[1], (unsigned)f[2], s->fds[0], path);
    }
    if (fd < 0) {
        out[1] = errno ? errno : EIO;
        reply(sock, 5, out, sizeof out);
        return;
    }
    char message[16];
    uint32_t head[2] = {sizeof out, 5};
    memcpy(message, head, sizeof head);
    memcpy(message + sizeof head, out, sizeof out);
    heaven_send_with_fds(sock, message, sizeof message, &fd, 1);
    close(fd);
}

int heaven_zygote_main(int sock) {
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
        static const char message[] =
            "heaven: the sandbox helper (heaven-sandbox, heaven --sandbox-zygote) is started by `heaven serve` itself; it is not a command\n";
        write_all(2, message, sizeof message - 1);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    sigset_t chld;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, NULL);
    int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sfd < 0 || setup() != 0) {
        reply_failed(sock, 0, errno, Z_SETUP);
        return 1;
    }
    reply(sock, 4, "", 0);
    static struct pollfd p[2 + Z_MAX_TASKS];
    static struct z_task *watched[Z_MAX_TASKS];
    for (;;) {
        p[0] = (struct pollfd){sock, POLLIN, 0};
        p[1] = (struct pollfd){sfd, POLLIN, 0};
        int n = 2;
        for (int i = 0; i < Z_MAX_TASKS; i++) {
            if (tasks[i].pid == 0) continue;
            int fd = tasks[i].report >= 0 ? tasks[i].report : (tasks[i].silent ? -1 : tasks[i].status);
            if (fd < 0) continue;
            watched[n - 2] = &tasks[i];
            p[n++] = (struct pollfd){fd, POLLIN, 0};
        }
        if (poll(p, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            return 1;
        }
        /* Starts first: a task's `started` goes before its `exited`. */
        for (int i = 2; i < n; i++) {
            if (p[i].revents && watched[i - 2]->report >= 0 && p[i].fd == watched[i - 2]->report)
                settle(sock, watched[i - 2]);
        }
        for (int i = 2; i < n; i++) {
            struct z_task *t = watched[i - 2];
            if (p[i].revents && t->pid && t->report < 0 && !t->silent && t->status == p[i].fd) ended(sock, t);
        }
        if (p[1].revents & POLLIN) {
            struct signalfd_siginfo info;
            while (read(sfd, &info, sizeof info) > 0) {}
            reap(sock);
        }
        if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        uint32_t head[2];
        struct z_spawn s;
        memset(&s, 0, sizeof s);
        s.streams[0] = s.streams[1] = s.streams[2] = -1;
        /* The header, with the descriptors riding on it (more than any request carries are closed). */
        if (heaven_recv_with_fds(sock, head, sizeof head, s.fds, Z_MAX_FDS, &s.nfds) != 0) return 0; /* the server is gone */
        if (head[0] > Z_MAX_BODY || read_all(sock, body, head[0]) != 0) return 1;
        if (head[1] == 1) {
            if (parse_spawn(body, head[0], &s) != 0) {
                int32_t id = 0;
                if (head[0] >= 4) memcpy(&id, body, 4);
                reply_failed(sock, id, EINVAL, Z_REQUEST);
            } else {
                spawn(sock, &s);
            }
        } else if (head[1] == 3 || head[1] == 4 || head[1] == 6 || head[1] == 8) {
            file_request(sock, head[1], body, head[0], &s);
        } else if (head[1] == 9) {
            kill_marked(sock, body, head[0]);
        } else if (head[1] == 10 && head[0] >= 16 && head[0] <= 16 + sizeof slirp_path && !configured) {
            /* Optionally followed by slirp4netns's absolute path, NUL-terminated. */
            int32_t c[4];
            memcpy(c, body, sizeof c);
            const char *slirp = body + 16;
            size_t slirp_length = head[0] - 16;
            int slirp_ok = slirp_length == 0 || (slirp[0] == '/' && memchr(slirp, 0, slirp_length) == slirp + slirp_length - 1);
            if (c[0] > 0 && c[1] >= c[0] && slirp_ok) {
                configured = 1;
                ids_low = c[0];
                ids_high = c[1];
                server_uid = c[2];
                server_gid = c[3];
                if (slirp_length > 0) memcpy(slirp_path, slirp, slirp_length);
            }
        } else if (head[1] == 2 && head[0] == 8) {
            int32_t k[2];
            memcpy(k, body, sizeof k);
            if (k[0] > 0 && slot_for(k[0])) kill(-k[0], k[1]);
        }
        for (int i = 0; i < s.nfds; i++) close(s.fds[i]);
    }
}

int heaven_socketpair(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }

int heaven_send_with_fds(int sock, const void *data, size_t length, const int *fds, int nfds) {
    if (nfds < 0 || nfds > Z_MAX_FDS || length == 0) {
        errno = EINVAL;
        return -1;
    }
    char control[CMSG_SPACE(sizeof(int) * Z_MAX_FDS)];
    memset(control, 0, sizeof control);
    struct iovec iov = {(void *)data, length};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (nfds > 0) {
        m.msg_control = control;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
    }
    ssize_t sent;
    do {
        sent = sendmsg(sock, &m, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent < 0) return -1;
    const char *rest = (const char *)data + sent;
    size_t left = length - (size_t)sent;
    while (left > 0) {
        ssize_t w = send(sock, rest, left, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        rest += w;
        left -= (size_t)w;
    }
    return 0;
}

int heaven_recv_with_fds(int sock, void *data, size_t length, int *fds, int max, int *nfds) {
    *nfds = 0;
    char control[CMSG_SPACE(sizeof(int) * Z_MAX_FDS)];
    struct iovec iov = {data, length};
    struct msghdr m;
    memset(&m, 0, sizeof m);
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t r;
    do {
        r = recvmsg(sock, &m, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    } while (r < 0 && errno == EINTR);
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        for (int i = 0; i < n; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
            if (*nfds < max) {
                fds[(*nfds)++] = fd;
            } else {
                close(fd);
            }
        }
    }
    if (r == (ssize_t)length) return 0;
    for (int i = 0; i < *nfds; i++) close(fds[i]);
    *nfds = 0;
    if (r >= 0) errno = 0;
    return -1;
}

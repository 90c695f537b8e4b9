#define _GNU_SOURCE
#include "heaven_system.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <sys/wait.h>

void heaven_lower_limit(int resource, long long value) {
    struct rlimit current;
    if (value <= 0 || getrlimit(resource, &current) != 0) return;
    rlim_t wanted = (rlim_t)value;
    if (current.rlim_max != RLIM_INFINITY && wanted > current.rlim_max) wanted = current.rlim_max;
    if (current.rlim_cur == RLIM_INFINITY || wanted < current.rlim_cur) current.rlim_cur = wanted;
    if (current.rlim_max == RLIM_INFINITY || wanted < current.rlim_max) current.rlim_max = wanted;
    setrlimit(resource, &current);
}

static int redirect(const char *path, int flags, int target) {
    int fd = open(path ? path : "/dev/null", flags | O_CLOEXEC, 0600);
    if (fd < 0) return -1;
    if (dup2(fd, target) < 0) return -1; /* dup2 clears FD_CLOEXEC on target */
    if (fd != target) close(fd);
    return 0;
}

/* The child of vfork shares our memory until it execs: it only makes system calls
   and writes its errno into the parent's variable. */
static __attribute__((noinline)) pid_t spawn_child(const heaven_spawn_options *o, volatile int *child_errno) {
    pid_t pid = vfork();
    if (pid != 0) return pid;

    /* exec resets caught signals to their default; only ignored ones would be
       inherited. Every signal is blocked, so no handler of ours runs before exec. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    static const int ignorable[] = {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD, SIGUSR1, SIGUSR2,
                                    SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU, SIGXFSZ, SIGXCPU, SIGURG, SIGWINCH};
    for (unsigned i = 0; i < sizeof ignorable / sizeof ignorable[0]; i++) {
        struct sigaction old;
        if (sigaction(ignorable[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN) sigaction(ignorable[i], &dfl, NULL);
    }
    if (setpgid(0, 0) != 0) goto fail;
    /* Into the task's cgroups first: every process it makes is counted there. */
    if (o->cgroups) {
        for (const char *const *c = o->cgroups; *c; c++) {
            int fd = open(*c, O_WRONLY | O_CLOEXEC);
            if (fd < 0) goto fail;
            ssize_t w = write(fd, "0", 1);
            close(fd);
            if (w != 1) goto fail;
        }
    }
    if (o->umask >= 0) umask((mode_t)o->umask);
    if (o->stdin_fd >= 0) {
        if (dup2(o->stdin_fd, 0) < 0) goto fail;
    } else if (redirect(o->stdin_path, O_RDONLY, 0) != 0) {
        goto fail;
    }
    if (redirect(o->stdout_path, O_WRONLY | O_CREAT | O_TRUNC, 1) != 0) goto fail;
    if (o->stdout_path && o->stderr_path && strcmp(o->stdout_path, o->stderr_path) == 0) {
        if (dup2(1, 2) < 0) goto fail; /* one combined log */
    } else if (redirect(o->stderr_path, O_WRONLY | O_CREAT | O_TRUNC, 2) != 0) {
        goto fail;
    }
    syscall(SYS_close_range, 3U, ~0U, 0U);
    if (o->cwd && chdir(o->cwd) != 0) goto fail;
    if (o->no_core) {
        struct rlimit zero = {0, 0};
        setrlimit(RLIMIT_CORE, &zero);
    }
    heaven_lower_limit(RLIMIT_CPU, o->rlimit_cpu);
    heaven_lower_limit(RLIMIT_NOFILE, o->rlimit_nofile);
    heaven_lower_limit(RLIMIT_AS, o->rlimit_as);
    heaven_lower_limit(RLIMIT_NPROC, o->rlimit_nproc);
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);
    execve(o->path, o->argv, o->envp);
fail:
    *child_errno = errno ? errno : EINVAL;
    _exit(127);
}

heaven_spawn_options heaven_spawn_defaults(void) {
    heaven_spawn_options o;
    memset(&o, 0, sizeof o);
    o.stdin_fd = -1;
    o.umask = -1;
    return o;
}

int heaven_spawn(const heaven_spawn_options *options, pid_t *pid_out) {
    sigset_t all, old;
    sigfillset(&all);
    /* No signal handler of ours may run in the child while it borrows our memory. */
    pthread_sigmask(SIG_SETMASK, &all, &old);
    volatile int child_errno = 0;
    pid_t pid = spawn_child(options, &child_errno);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0) return saved ? saved : EAGAIN;
    if (child_errno != 0) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        return child_errno;
    }
    *pid_out = pid;
    return 0;
}

int heaven_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int heaven_link_fd(int fd, const char *to) { return linkat(fd, "", AT_FDCWD, to, AT_EMPTY_PATH); }

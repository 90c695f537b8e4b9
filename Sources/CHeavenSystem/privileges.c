/* The server's privileges, dropped for good once the sandbox helper (which keeps them)
   runs: the server execs itself again as its service account (the new image has no
   capability, no supplementary group, and cannot regain root: all three uids and gids
   changed before the exec). */
#define _GNU_SOURCE
#include "heaven_system.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int heaven_exec_as(unsigned uid, unsigned gid, const char *path, char *const argv[], char *const envp[], int keep_fd) {
    if (uid == 0 || gid == 0) {
        errno = EINVAL;
        return -1;
    }
    if (keep_fd >= 0) {
        int flags = fcntl(keep_fd, F_GETFD);
        if (flags < 0 || fcntl(keep_fd, F_SETFD, flags & ~FD_CLOEXEC) != 0) return -1;
    }
    /* This thread's ids, by the system calls themselves: the exec that follows ends every
       other thread, and the new program starts with these. */
    if (syscall(SYS_setgroups, 0, NULL) != 0) return -1;
    if (syscall(SYS_setresgid, gid, gid, gid) != 0) return -1;
    if (syscall(SYS_setresuid, uid, uid, uid) != 0) return -1;
    execve(path, argv, envp);
    /* Half dropped (this thread only): nothing may go on. */
    _exit(127);
}

/* The server's privileges, dropped for good once the sandbox helper (which keeps them)
   runs: after this the process is its service account's, with no capability, no
   supplementary group, and cannot regain root (all three uids and gids change). */
#define _GNU_SOURCE
#include "heaven_system.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int heaven_drop_privileges(unsigned uid, unsigned gid) {
    if (uid == 0 || gid == 0) {
        errno = EINVAL;
        return -1;
    }
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return -1;
    if (setgroups(0, NULL) != 0) return -1;
    if (setresgid(gid, gid, gid) != 0) return -1;
    if (setresuid(uid, uid, uid) != 0) return -1;
    /* Checked, not assumed: no way back to root, no capability left. */
    uid_t r, e, s;
    gid_t rg, eg, sg;
    if (getresuid(&r, &e, &s) != 0 || r != uid || e != uid || s != uid) return -1;
    if (getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid) return -1;
    if (setresuid(0, 0, 0) == 0) {
        errno = EPERM;
        return -1;
    }
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    if (syscall(SYS_capget, &header, data) != 0) return -1;
    if (data[0].effective || data[1].effective || data[0].permitted || data[1].permitted) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

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

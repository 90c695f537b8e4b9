/* Reaching a file a tenant could have influenced without being misled by it: opened
   beneath a directory the server chose, never through a symbolic link (nor a magic
   link of /proc, nor across a mount), and removed the same way. The kernel resolves
   the path (openat2's RESOLVE_ flags) so that nothing a tenant does to the path
   meanwhile can move the result outside; where openat2 is missing, each component is
   opened with O_NOFOLLOW from the one before.

   With a tenant's ids (heaven_open_beneath_as, the sandbox helper's request), the
   permission checks are the tenant's: the file system ids change for the one call and
   come back (setfsuid drops the file capabilities while they are not 0). Only a
   single-threaded process (the helper) may do that: the ids are per thread. */
#define _GNU_SOURCE
#include "heaven_system.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* Deeper than this, a tree is refused (the walk recurses). */
#define HEAVEN_MAX_DEPTH 128

static int open_by_components(int dirfd, const char *path, int flags, mode_t mode) {
    char buf[4096];
    size_t n = strlen(path);
    if (n >= sizeof buf) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    int current = dirfd, owned = 0;
    char *save = NULL;
    char *part = strtok_r(buf, "/", &save);
    if (!part) {
        errno = EINVAL;
        return -1;
    }
    for (;;) {
        char *next = strtok_r(NULL, "/", &save);
        while (next && strcmp(next, ".") == 0) next = strtok_r(NULL, "/", &save);
        if (strcmp(part, "..") == 0) {
            if (owned) close(current);
            errno = EXDEV;
            return -1;
        }
        int fd;
        if (strcmp(part, ".") == 0 && next) {
            part = next;
            continue;
        }
        if (next) {
            fd = openat(current, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        } else {
            fd = openat(current, part, flags | O_NOFOLLOW | O_CLOEXEC, mode);
        }
        int e = errno;
        if (owned) close(current);
        if (fd < 0) {
            /* A link where a directory was wanted reads as "not a directory": say link. */
            if (next && e == ENOTDIR) {
                struct stat st;
                if (fstatat(dirfd, path, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(st.st_mode)) e = ELOOP;
            }
            errno = e;
            return -1;
        }
        if (!next) return fd;
        current = fd;
        owned = 1;
        part = next;
    }
}

int heaven_open_beneath(int dirfd, const char *path, int flags, unsigned mode) {
    if (!path || !path[0] || path[0] == '/') {
        errno = EINVAL;
        return -1;
    }
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
    int fd, tries = 0;
    do {
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && errno == EAGAIN && ++tries < 64);
    if (fd < 0 && errno == ENOSYS) return open_by_components(dirfd, path, flags, (mode_t)mode);
    if (fd < 0 && errno == ENOTDIR && (flags & O_DIRECTORY)) {
        /* A link where a directory was wanted (O_NOFOLLOW on the last component reads as
           "not a directory"): say link. The link itself is looked at, beneath, not followed. */
        how.flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
        int link = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        struct stat st;
        int is_link = link >= 0 && fstat(link, &st) == 0 && S_ISLNK(st.st_mode);
        if (link >= 0) close(link);
        errno = is_link ? ELOOP : ENOTDIR;
    }
    return fd;
}

/* Removes the entry `name` of the directory open as `parent`: a file or link itself, or
   a directory with everything in it. */
static int remove_entry(int parent, const char *name, int depth) {
    if (unlinkat(parent, name, 0) == 0) return 0;
    if (errno != EISDIR && errno != EPERM) return -1;
    if (depth >= HEAVEN_MAX_DEPTH) {
        errno = ELOOP;
        return -1;
    }
    int dir = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
    if (dir < 0) return -1;
    enum { SIZE = 8192 };
    char *buffer = malloc(SIZE);
    if (!buffer) {
        close(dir);
        errno = ENOMEM;
        return -1;
    }
    int failed = 0, removed;
    /* Again from the start until a pass removes nothing (removing while reading may
       make a directory's reader skip entries). */
    do {
        removed = 0;
        if (lseek(dir, 0, SEEK_SET) < 0) {
            failed = errno;
            break;
        }
        for (;;) {
            long got = syscall(SYS_getdents64, dir, buffer, SIZE);
            if (got < 0) {
                failed = errno;
                break;
            }
            if (got == 0) break;
            for (long at = 0; at < got;) {
                struct dirent64 *d = (struct dirent64 *)(buffer + at);
                at += d->d_reclen;
                if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0) continue;
                if (remove_entry(dir, d->d_name, depth + 1) == 0) {
                    removed++;
                } else if (errno != ENOENT) {
                    failed = errno;
                }
            }
            if (failed) break;
        }
    } while (!failed && removed > 0);
    free(buffer);
    close(dir);
    if (failed) {
        errno = failed;
        return -1;
    }
    return unlinkat(parent, name, AT_REMOVEDIR);
}

/* Splits `path` (relative) into its parent (in `buf`, 4097 bytes; empty for none) and its last
   name, which must be a real name (not `.` or `..`); 0, or -1 with errno set. */
static int split_parent(const char *path, char *buf, const char **name) {
    if (!path || !path[0] || path[0] == '/') {
        errno = EINVAL;
        return -1;
    }
    size_t n = strlen(path);
    if (n >= 4096) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, n + 1);
    while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
    char *slash = strrchr(buf, '/');
    *name = slash ? slash + 1 : buf;
    if (!(*name)[0] || strcmp(*name, ".") == 0 || strcmp(*name, "..") == 0) {
        errno = EINVAL;
        return -1;
    }
    if (slash) {
        *slash = 0;
    } else {
        /* No parent: the name moves past an empty one. */
        memmove(buf + 1, buf, n + 1);
        buf[0] = 0;
        *name = buf + 1;
    }
    return 0;
}

/* The parent directory of a split path beneath `dirfd` (dirfd itself when there is none);
   -1 with errno set. */
static int open_parent(int dirfd, const char *parent) {
    return parent[0] ? heaven_open_beneath(dirfd, parent, O_PATH | O_DIRECTORY, 0) : dirfd;
}

int heaven_remove_beneath(int dirfd, const char *path) {
    char buf[4097];
    const char *name;
    if (split_parent(path, buf, &name) != 0) return -1;
    int parent = open_parent(dirfd, buf);
    if (parent < 0) return -1;
    int r = remove_entry(parent, name, 0);
    int e = errno;
    if (parent != dirfd) close(parent);
    errno = e;
    return r;
}

/* The file system ids of this thread become `uid` and `gid` (and no supplementary group
   counts: the caller has none); 0, or -1 if they did not. */
static int become(uid_t uid, gid_t gid) {
    setfsgid(gid);
    setfsuid(uid);
    if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid) {
        errno = EPERM;
        return -1;
    }
    return 0;
}

static void come_back(void) {
    setfsuid(getuid());
    setfsgid(getgid());
}

int heaven_open_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path, int flags) {
    if (become(uid, gid) != 0) {
        come_back();
        return -1;
    }
    int fd = heaven_open_beneath(dirfd, path, flags, 0);
    int e = errno;
    come_back();
    errno = e;
    return fd;
}

int heaven_remove_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path) {
    if (become(uid, gid) != 0) {
        come_back();
        return -1;
    }
    int r = heaven_remove_beneath(dirfd, path);
    int e = errno;
    come_back();
    errno = e;
    return r;
}

int heaven_mkdir_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path, unsigned mode) {
    char buf[4097];
    const char *name;
    if (split_parent(path, buf, &name) != 0) return -1;
    if (become(uid, gid) != 0) {
        come_back();
        return -1;
    }
    int parent = open_parent(dirfd, buf), r = -1;
    if (parent >= 0) {
        r = mkdirat(parent, name, (mode_t)mode);
        /* The mode as asked, whatever the umask. */
        if (r == 0) {
            int made = openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (made >= 0) {
                fchmod(made, (mode_t)mode);
                close(made);
            }
        }
    }
    int e = errno;
    if (parent >= 0 && parent != dirfd) close(parent);
    come_back();
    errno = e;
    return r;
}

int heaven_open_as(unsigned uid, unsigned gid, const char *path, int flags, unsigned mode) {
    if (become(uid, gid) != 0) {
        come_back();
        return -1;
    }
    int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
    int e = errno;
    come_back();
    errno = e;
    return fd;
}

int heaven_create_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path) {
    if (become(uid, gid) != 0) {
        come_back();
        return -1;
    }
    int fd = heaven_open_beneath(dirfd, path, O_WRONLY | O_CREAT | O_EXCL | O_NOCTTY, 0600);
    int e = errno;
    come_back();
    errno = e;
    return fd;
}

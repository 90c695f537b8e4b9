#ifndef HEAVEN_SYSTEM_H
#define HEAVEN_SYSTEM_H

#include <sys/types.h>

/// What a spawned task gets: argv, environment, working directory, files for its
/// standard streams and lowered resource limits. Every pointer must stay valid for
/// the duration of the call.
typedef struct heaven_spawn_options {
    const char *path;            /* absolute path of the executable */
    char *const *argv;           /* NULL-terminated */
    char *const *envp;           /* NULL-terminated */
    const char *cwd;             /* working directory, or NULL */
    const char *stdin_path;      /* opened read-only, or NULL for /dev/null */
    const char *stdout_path;     /* created/truncated, or NULL for /dev/null */
    const char *stderr_path;     /* created/truncated, or NULL for /dev/null */
    long long rlimit_cpu;        /* seconds of CPU time, 0 = unchanged */
    long long rlimit_nofile;     /* max open files (lowered only), 0 = unchanged */
    long long rlimit_as;         /* bytes of address space (lowered only), 0 = unchanged */
    int no_core;                 /* 1 = RLIMIT_CORE 0 */
    int stdin_fd;                /* >= 0: standard input from this descriptor (stdin_path ignored) */
    long long rlimit_nproc;      /* processes of the task's user (lowered only), 0 = unchanged */
    int umask;                   /* >= 0: the child's umask */
    const char *const *cgroups;  /* NULL-terminated `cgroup.procs` files the child joins before exec, or NULL */
} heaven_spawn_options;

/// Options with every field at its neutral value (no descriptor, no limit, no cgroup).
heaven_spawn_options heaven_spawn_defaults(void);

/// Starts a process in its own process group (pgid == pid) without a shell.
/// Returns 0 and stores the pid, or returns the errno of the failure (including a
/// failed exec in the child: the child never runs user code in that case).
int heaven_spawn(const heaven_spawn_options *options, pid_t *pid_out);


/// Opens `path` (relative) beneath the directory open as `dirfd` with `flags` (and
/// O_CLOEXEC), never through a symbolic link, a magic link of /proc or a mount point,
/// never above `dirfd` (openat2 with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
/// RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV; component by component with O_NOFOLLOW
/// where openat2 is missing). The descriptor, or -1 with errno set (ELOOP: a link on
/// the way; EXDEV: the path leaves `dirfd`).
int heaven_open_beneath(int dirfd, const char *path, int flags, unsigned mode);

/// Removes `path` (relative) beneath `dirfd`: a file or a link itself, or a directory
/// and everything in it, never following a link (its parent reached as by
/// heaven_open_beneath). 0, or -1 with errno set.
int heaven_remove_beneath(int dirfd, const char *path);

/// heaven_open_beneath with the permission checks of `uid` and `gid` (the file system
/// ids of the calling thread change for the call): only for a single-threaded
/// process without supplementary groups (the sandbox helper).
int heaven_open_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path, int flags);

/// heaven_remove_beneath with the permission checks of `uid` and `gid` (as above).
int heaven_remove_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path);

/// Reads exactly `length` bytes from the stream socket `socket`, keeping up to `max`
/// descriptors that ride on them (SCM_RIGHTS, close-on-exec) in `fds` and their number
/// in `nfds` (descriptors beyond `max` are closed). 0, or -1 (errno set; 0 at the end).
int heaven_recv_with_fds(int socket, void *data, size_t length, int *fds, int max, int *nfds);

/// On a crash of this process (SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT: a
/// runtime trap among them), writes the last text given to `heaven_crash_note` and a
/// newline to `fd`, then lets the crash go on as before (the runtime's own handler, the
/// default action). 0, or -1 with errno set.
int heaven_crash_watch(int fd);

/// What a crash writes (see heaven_crash_note): at most 64 KiB of `text`.
void heaven_crash_note(const char *text, size_t length);

/// Makes the directory `path` (relative, its parent reached as by heaven_open_beneath)
/// beneath `dirfd` with `mode` exactly, as `uid`/`gid` (see heaven_open_beneath_as).
int heaven_mkdir_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path, unsigned mode);

/// open(2) of `path` (never through a last link) with the permission checks, and as the
/// owner of a file it creates, of `uid`/`gid` (see heaven_open_beneath_as).
int heaven_open_as(unsigned uid, unsigned gid, const char *path, int flags, unsigned mode);

/// A new regular file `path` (0600, O_EXCL) beneath `dirfd`, created as `uid`/`gid` (see
/// heaven_open_beneath_as), open for writing; -1 with errno set.
int heaven_create_beneath_as(unsigned uid, unsigned gid, int dirfd, const char *path);

/// Becomes `uid`/`gid` (this thread: real, effective, saved; no supplementary group) and
/// execs `path` at once, `keep_fd` kept open across the exec: the way a multi-threaded
/// process drops root for good. Returns -1 (errno set) only if nothing changed; a failed
/// exec after the change ends the process.
int heaven_exec_as(unsigned uid, unsigned gid, const char *path, char *const argv[], char *const envp[], int keep_fd);

#endif

/// Renames `from` to `to` unless `to` exists (renameat2 with RENAME_NOREPLACE,
/// Linux 3.15+); 0, or -1 with errno set (EEXIST when `to` exists).
int heaven_rename_noreplace(const char *from, const char *to);

/// A pidfd for a child (Linux 5.3+), or -1 with errno set.
int heaven_pidfd_open(pid_t pid);

/// An epoll instance plus an eventfd that wakes it; returns the epoll fd, -1 on error.
int heaven_reaper_create(int *wake_fd);

/// Watches `fd` for readability, reporting `tag` when it is readable; 0 or -1.
int heaven_reaper_add(int epfd, int fd, unsigned long long tag);

/// Waits for readable fds; fills up to `max` tags; returns how many (-1 on error).
int heaven_reaper_wait(int epfd, unsigned long long *tags, int max);

/// A pipe whose two ends close on exec (pipe2 with O_CLOEXEC); 0, or -1 with errno set.
int heaven_pipe_cloexec(int fds[2]);

/// A new hard link `to` of the file open as `fd` (linkat with AT_EMPTY_PATH: needs
/// CAP_DAC_READ_SEARCH); 0, or -1 with errno set.
int heaven_link_fd(int fd, const char *to);

/// Catches `signal` with a handler that writes its number, one byte, to a pipe whose
/// read end this returns (the same pipe for every signal caught): whichever thread the
/// kernel delivers the signal to, it is never lost. -1 with errno set on failure.
int heaven_catch_signal(int signal);

/// Ignores `signal` again (after `heaven_catch_signal`).
void heaven_ignore_signal(int signal);

/// The sandbox helper's loop (`heaven --sandbox-zygote`, see zygote.c): starts a shared
/// server's confined tasks on requests read from `socket`; returns the exit status.
int heaven_zygote_main(int socket);

/// A connected pair of stream Unix sockets whose ends close on exec; 0, or -1 with errno set.
int heaven_socketpair(int fds[2]);

/// Writes all of `data` to the stream socket `socket`, the `nfds` descriptors riding on
/// its first byte (SCM_RIGHTS); 0, or -1 with errno set.
int heaven_send_with_fds(int socket, const void *data, size_t length, const int *fds, int nfds);

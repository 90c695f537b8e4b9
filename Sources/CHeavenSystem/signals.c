#define _GNU_SOURCE
#include "heaven_system.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static int signal_pipe[2] = {-1, -1};
static pthread_once_t signal_pipe_once = PTHREAD_ONCE_INIT;

static void make_signal_pipe(void) {
    if (pipe2(signal_pipe, O_CLOEXEC) != 0) {
        signal_pipe[0] = signal_pipe[1] = -1;
        return;
    }
    // The handler must never block: a full pipe drops the byte (the reader has plenty).
    fcntl(signal_pipe[1], F_SETFL, fcntl(signal_pipe[1], F_GETFL) | O_NONBLOCK);
}

static void on_signal(int signal) {
    int saved = errno;
    unsigned char byte = (unsigned char)signal;
    ssize_t ignored = write(signal_pipe[1], &byte, 1);
    (void)ignored;
    errno = saved;
}

int heaven_catch_signal(int signal) {
    pthread_once(&signal_pipe_once, make_signal_pipe);
    if (signal_pipe[0] < 0) return -1;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    if (sigaction(signal, &action, NULL) != 0) return -1;
    return signal_pipe[0];
}

void heaven_ignore_signal(int signal) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_IGN;
    sigemptyset(&action.sa_mask);
    sigaction(signal, &action, NULL);
}

/* ---- what a crash leaves behind ------------------------------------------------- */

#define CRASH_NOTE_MAX 65536
static int crash_fd = -1;
static char crash_note[CRASH_NOTE_MAX];
static volatile size_t crash_note_length;
static pthread_mutex_t crash_note_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction crash_previous[65];

static void on_crash(int signal, siginfo_t *info, void *context) {
    int saved = errno;
    if (crash_fd >= 0) {
        size_t n = crash_note_length;
        if (n > CRASH_NOTE_MAX) n = CRASH_NOTE_MAX;
        ssize_t ignored = write(crash_fd, crash_note, n);
        ignored = write(crash_fd, "\n", 1);
        (void)ignored;
        crash_fd = -1;
    }
    errno = saved;
    /* Then as before: the runtime's own handler (a backtrace), else the default (the end). */
    struct sigaction *before = &crash_previous[signal];
    if ((before->sa_flags & SA_SIGINFO) && before->sa_sigaction) {
        before->sa_sigaction(signal, info, context);
    } else if (before->sa_handler != SIG_DFL && before->sa_handler != SIG_IGN && before->sa_handler) {
        before->sa_handler(signal);
    }
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(signal, &dfl, NULL);
    raise(signal);
}

int heaven_crash_watch(int fd) {
    crash_fd = fd;
    static const int signals[] = {SIGILL, SIGTRAP, SIGSEGV, SIGBUS, SIGFPE, SIGABRT};
    for (size_t i = 0; i < sizeof signals / sizeof signals[0]; i++) {
        struct sigaction action;
        memset(&action, 0, sizeof action);
        action.sa_sigaction = on_crash;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_SIGINFO | SA_ONSTACK;
        if (sigaction(signals[i], &action, &crash_previous[signals[i]]) != 0) return -1;
    }
    return 0;
}

void heaven_crash_note(const char *text, size_t length) {
    if (length > CRASH_NOTE_MAX) length = CRASH_NOTE_MAX;
    pthread_mutex_lock(&crash_note_lock);
    crash_note_length = 0;
    memcpy(crash_note, text, length);
    crash_note_length = length;
    pthread_mutex_unlock(&crash_note_lock);
}

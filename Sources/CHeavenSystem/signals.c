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

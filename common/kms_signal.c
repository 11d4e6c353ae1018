#include "kms_signal.h"

#include <stddef.h>

volatile sig_atomic_t kms_signal_stop = 0;

static void s_on_stop(int sig)
{
    kms_signal_stop = sig;
}

void kms_signal_handle(int sig, void (*handler)(int))
{
    struct sigaction sa = {.sa_handler = handler};
    sigemptyset(&sa.sa_mask);
    sigaction(sig, &sa, NULL);
}

void kms_signal_init(bool blocked)
{
    kms_signal_handle(SIGTERM, s_on_stop);
    kms_signal_handle(SIGINT, s_on_stop);
    kms_signal_handle(SIGPIPE, SIG_IGN);
    kms_signal_handle(SIGHUP, SIG_IGN);
    kms_signal_handle(SIGUSR1, SIG_IGN);
    kms_signal_handle(SIGUSR2, SIG_IGN);
    if (blocked) {
        sigset_t stop;
        sigemptyset(&stop);
        sigaddset(&stop, SIGTERM);
        sigaddset(&stop, SIGINT);
        pthread_sigmask(SIG_BLOCK, &stop, NULL);
    }
}

int kms_signal_wait(void)
{
    /* The current mask with SIGTERM and SIGINT open, in this thread only, while it waits. */
    sigset_t open;
    pthread_sigmask(SIG_BLOCK, NULL, &open);
    sigdelset(&open, SIGTERM);
    sigdelset(&open, SIGINT);
    while (!kms_signal_stop)
        sigsuspend(&open);
    return kms_signal_stop;
}

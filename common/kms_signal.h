/*  kms_signal: how every program is stopped. SIGTERM and SIGINT only set kms_signal_stop (to
    the signal's number), which the program's loop checks at least every second; SIGPIPE is
    ignored, so a peer that went away is an error code, never a death. SIGHUP, SIGUSR1 and
    SIGUSR2 are ignored too: every program logs to stderr (no file to reopen) and rereads no
    configuration, and a stray signal (a closed terminal, a tool's habit) must not kill a
    trainer before its checkpoint. kepler-sim takes SIGUSR1 and SIGUSR2 back for its own use.

    The handler is installed without SA_RESTART, so a sleep or poll it interrupts returns at
    once. A program that uses czmq calls zsys_handler_set(NULL) before its first socket, or
    czmq installs its own handler over this one (and zsys_interrupted is not used anywhere). */
#ifndef KMS_SIGNAL_H
#define KMS_SIGNAL_H

#include <signal.h>
#include <stdbool.h>

extern volatile sig_atomic_t kms_signal_stop;

/* Installs the handlers. With `blocked`, SIGTERM and SIGINT are also blocked in the calling
   thread and so in every thread it starts afterwards (civetweb's, ZeroMQ's): only
   kms_signal_wait() then takes them, and no handler ever runs in the middle of a request. */
void kms_signal_init(bool blocked);

/* Installs `handler` for `sig` the same way (no SA_RESTART), for a program's own signals. */
void kms_signal_handle(int sig, void (*handler)(int));

/* For a main whose work runs in other threads (after kms_signal_init(true)): waits until
   SIGTERM or SIGINT arrives and returns its number. */
int kms_signal_wait(void);

#endif

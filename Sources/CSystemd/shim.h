#ifndef CSYSTEMD_SHIM_H
#define CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <systemd/sd-journal.h>

/// sd_journal_send is variadic, which Swift cannot call: a fixed-arity wrapper.
static inline int csystemd_journal_send(int priority, const char *identifier, const char *message) {
    return sd_journal_send("MESSAGE=%s", message,
                           "PRIORITY=%i", priority,
                           "SYSLOG_IDENTIFIER=%s", identifier,
                           NULL);
}
#endif

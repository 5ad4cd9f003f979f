/* vm.h — one running VMM process: spawn, serial console capture with
 * CLOCK_MONOTONIC timestamps, QMP connection and events, its own log and
 * stderr, exit.  Knows nothing about experiments; the owner reacts through
 * VmCallbacks.  A VM has ended when its process was reaped *and* its QMP
 * connection reached EOF (or never existed); only then is on_exit called. */
#pragma once

#include <event2/event.h>
#include <jansson.h>
#include <sched.h>
#include <sys/types.h>

#include "backends/backend.h"
#include "qmp-client.h"
#include "util.h"

/* A console log stops growing here (a truncation line says so); parsing goes on. */
#define VM_CONSOLE_LOG_MAX ((size_t) 16 << 20)
/* A VMM whose own log grows past this is failed: nobody reads 64 MiB of it. */
#define VM_VMM_LOG_MAX ((size_t) 64 << 20)

typedef struct Vm Vm;
typedef struct VmDriver VmDriver; /* vm-driver.h: how the VMM is run (a process, a libvirt domain) */

typedef enum VmLogSource {
        VM_LOG_STDERR,   /* the VMM's stdout/stderr */
        VM_LOG_FILE,     /* its own log file (-D) */
} VmLogSource;

typedef struct VmCallbacks {
        /* A complete console line (without \r\n); t is when its last byte was read. */
        void (*on_console_line)(Vm *vm, usec_t t, const char *line, void *userdata);
        /* Optional: the unfinished console line so far (a prompt waits
         * without a newline), after each read that left one. */
        void (*on_console_partial)(Vm *vm, usec_t t, const char *text, void *userdata);
        /* QMP greeting read and capabilities negotiated. */
        void (*on_qmp_ready)(Vm *vm, void *userdata);
        /* The QMP connection broke while the VMM lives (garbage, an oversized
         * message): error as qmp_state_handler_t; -EPIPE for an EOF that cut
         * a message short. */
        void (*on_qmp_failed)(Vm *vm, int error, void *userdata);
        /* An asynchronous QMP event (data borrowed, may be NULL). */
        void (*on_qmp_event)(Vm *vm, usec_t t, const char *event, json_t *data, void *userdata);
        /* A line the VMM wrote to its stderr or its own log. */
        void (*on_vmm_log_line)(Vm *vm, usec_t t, VmLogSource src, const char *line, void *userdata);
        /* The VMM's own log grew past VM_VMM_LOG_MAX (the owner should end it). */
        void (*on_log_overflow)(Vm *vm, void *userdata);
        /* Reaped and QMP closed, console drained.  Called once; the owner
         * may vm_free() from here. */
        void (*on_exit)(Vm *vm, int wait_status, void *userdata);
} VmCallbacks;

typedef struct VmSpawnOptions {
        const VmmBackend *backend; /* which VMM */
        const char *binary;        /* resolved path of its executable */
        VmConfig config;           /* kernel, memory, ...; fds/paths are filled in by vm_spawn */
        const char *run_dir;       /* private 0700 directory; path-mode VMMs get a subdirectory for sockets */
        const char *console_log;   /* file receiving the timestamped console, or NULL */
        const cpu_set_t *affinity; /* pin the VMM (all its threads) to these CPUs, or NULL */
        const int *inherit_fds;    /* more fds the VMM inherits at their numbers (the caller's files) */
        size_t n_inherit_fds;      /* entries in inherit_fds */
        const char *console_mask;  /* a secret (console password): starred out of every console line, logged or passed on */
        const char *name;          /* a name for the VM where its driver gives one (libvirt domain), or NULL */
        const char *manager_uri;   /* libvirt driver: the URI, NULL = the daemon's default */
        char **ret_error;          /* if not NULL: on failure, the driver's own words for why (or NULL) */
} VmSpawnOptions;

/* Forks and execs the VMM.  On success the VM is running and *ret owns it. */
int vm_spawn(struct event_base *base, const VmSpawnOptions *o, const VmCallbacks *cb, void *userdata, Vm **ret);
/* Types buf on the guest's serial console.  -EOPNOTSUPP where the VMM's
 * console takes no input (caps.console_input); -EAGAIN when the VMM is not
 * reading it. */
int vm_console_write(Vm *vm, const char *buf, size_t len);
/* Sends SIGKILL (if still running); on_exit follows from the event loop. */
void vm_kill(Vm *vm);
/* Frees the VM; a still-running process is killed and reaped synchronously,
 * so no VMM outlives its Vm. */
Vm *vm_free(Vm *vm);

pid_t vm_pid(const Vm *vm);
QmpClient *vm_qmp(const Vm *vm);     /* NULL until QMP is ready, and after it closed */
char *const *vm_argv(const Vm *vm);  /* the exact argv that was exec'd */
usec_t vm_t_spawn(const Vm *vm);     /* monotonic time just before fork() */
usec_t vm_t_exec(const Vm *vm);      /* monotonic time exec() succeeded */
usec_t vm_t_console(const Vm *vm);   /* first serial byte, 0 if none yet */
usec_t vm_t_qmp(const Vm *vm);       /* QMP greeting, 0 if none yet */
/* The last lines the VMM wrote to stdout/stderr or its log (its own diagnostics). */
const char *vm_diagnostics(const Vm *vm);
/* The VMM's own log file (path mode), NULL when it writes none. */
const char *vm_log_path(const Vm *vm);
bool vm_running(const Vm *vm);

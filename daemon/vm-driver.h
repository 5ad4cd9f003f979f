/* vm-driver.h — the VM-driver seam: how a Vm's VMM is started, watched and
 * ended.  vm.c owns everything a VM has whatever runs it (console lines and
 * log, QMP client and events, diagnostics, the two-event exit); a driver
 * owns only the VMM's life.  The process driver (in vm.c) forks the VMM
 * through child.c; the libvirt driver (vm-libvirt.c) has libvirtd start a
 * transient domain.  The backend picks one (VmmBackend.runner).  Drivers
 * report to their Vm through the vm_driver_* calls below. */
#pragma once

#include "vm.h"

struct VmDriver {
        const char *name;          /* "process", "libvirt" */
        /* Starts the VMM for vm (channels, console and QMP attached
         * through vm_driver_*), *ret_state is the driver's.  On failure
         * -errno and, where the driver has them, its manager's words in
         * *ret_error (malloc'd). */
        int (*start)(Vm *vm, const VmSpawnOptions *o, void **ret_state, char **ret_error);
        /* Ends the VMM; its exit is reported later (vm_driver_exited). */
        void (*kill)(void *state);
        /* Ends the VMM now, synchronously, and frees the state. */
        void (*free)(void *state);
        pid_t (*pid)(const void *state);      /* the VMM's pid, 0 if unknown */
        bool (*running)(const void *state);   /* not yet gone */
};

extern const VmDriver vm_driver_libvirt;

struct event_base *vm_driver_base(Vm *vm);
/* The VMM exists: when the request was made (t_spawn), when it was
 * running (t_exec), the command line it runs (argv taken, may be NULL). */
void vm_driver_started(Vm *vm, usec_t t_spawn, usec_t t_exec, char **argv);
/* Serves QMP on fd (owned from here on), as if the VMM were connected there. */
int vm_driver_attach_qmp(Vm *vm, int fd);
/* Serial console bytes read at t. */
void vm_driver_console(Vm *vm, const char *buf, size_t len, usec_t t);
/* A line of the VMM's own log (its manager's events count as such). */
void vm_driver_log_line(Vm *vm, usec_t t, const char *line);
/* Text kept for diagnostics (why it died), ending in a newline. */
void vm_driver_diag(Vm *vm, const char *text);
/* The VMM is gone, with a wait(2)-style status; QMP EOF completes the exit. */
void vm_driver_exited(Vm *vm, int wait_status);

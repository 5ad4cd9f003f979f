/* libvirt-xml.h — the domain XML of a libvirt run (pure): the same guest as
 * the QEMU q35 backend's argv, said in libvirt's terms — direct kernel boot,
 * memory, vCPUs, domain type kvm|qemu (TCG), CPU model, a pty serial port
 * for the console stream, raw virtio disks, the edu device at a fixed PCI
 * address — and none of libvirt's defaults QEMU's -nodefaults would not
 * have (USB controller, balloon). */
#pragma once

#include "backends/backend.h"

/* The PCI slot edu devices take on pcie.0 (slot, slot+1, …): fixed, so a
 * guest driver and an mtree read find it in the same place every run, and
 * clear of the slots libvirt assigns from 1 upwards. */
#define LIBVIRT_EDU_SLOT 0x10

typedef struct LibvirtDomain {
        const char *name;           /* domain name (the daemon's prefix + job/run) */
        const char *emulator;       /* QEMU binary, NULL = libvirt's default for the arch */
        const VmConfig *config;     /* kernel, initrd, cmdline, memory, vCPUs, accel, CPU model, devices, disks */
} LibvirtDomain;

/* The domain XML (malloc'd) in *ret.  -EOPNOTSUPP for what a libvirt
 * domain cannot carry here (a disk passed as an fd, an unknown device),
 * -EINVAL for a value XML cannot hold (control characters). */
int libvirt_domain_xml(const LibvirtDomain *d, char **ret);
/* Appends s to f with XML's five special characters escaped; -EINVAL for a
 * control character XML 1.0 cannot carry. */
int libvirt_xml_escape(FILE *f, const char *s);

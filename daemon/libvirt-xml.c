/* libvirt-xml.c — the domain XML (libvirt-xml.h), written to a memstream. */
#include "libvirt-xml.h"

#include <inttypes.h>
#include <stdio.h>

int libvirt_xml_escape(FILE *f, const char *s) {
        for (const char *p = s; *p; p++) {
                unsigned char c = (unsigned char) *p;
                if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
                        return -EINVAL;
                switch (c) {
                case '&': fputs("&amp;", f); break;
                case '<': fputs("&lt;", f); break;
                case '>': fputs("&gt;", f); break;
                case '\'': fputs("&apos;", f); break;
                case '"': fputs("&quot;", f); break;
                default: fputc(c, f);
                }
        }
        return 0;
}

/* <tag>text</tag> on its own indented line. */
static int element(FILE *f, const char *indent, const char *tag, const char *text) {
        fprintf(f, "%s<%s>", indent, tag);
        int r = libvirt_xml_escape(f, text);
        fprintf(f, "</%s>\n", tag);
        return r;
}

/* The backends' CPU model syntax, "host" or "NAME", then ",+feat" / ",-feat":
 * host-passthrough or a custom model, with each feature required or disabled. */
static int cpu_xml(FILE *f, const char *model) {
        if (!model)
                return 0;
        size_t len = strcspn(model, ",");
        bool host = len == 4 && strncmp(model, "host", 4) == 0;
        int r = 0;
        if (host)
                fputs("  <cpu mode='host-passthrough' check='none'>\n", f);
        else {
                _cleanup_free_ char *name = strndup(model, len);
                if (!name)
                        return -ENOMEM;
                fputs("  <cpu mode='custom' match='exact' check='none'>\n", f);
                fputs("    <model fallback='forbid'>", f);
                r = libvirt_xml_escape(f, name);
                fputs("</model>\n", f);
        }
        for (const char *p = model + len; r == 0 && *p == ',';) {
                p++;
                size_t n = strcspn(p, ",");
                char sign = *p;
                if ((sign != '+' && sign != '-') || n < 2)
                        return -EINVAL;
                _cleanup_free_ char *feat = strndup(p + 1, n - 1);
                if (!feat)
                        return -ENOMEM;
                fprintf(f, "    <feature policy='%s' name='", sign == '+' ? "require" : "disable");
                r = libvirt_xml_escape(f, feat);
                fputs("'/>\n", f);
                p += n;
        }
        fputs("  </cpu>\n", f);
        return r;
}

static int os_xml(FILE *f, const VmConfig *c) {
        fputs("  <os>\n    <type arch='x86_64' machine='q35'>hvm</type>\n", f);
        int r = element(f, "    ", "kernel", c->kernel);
        if (r == 0 && c->initrd)
                r = element(f, "    ", "initrd", c->initrd);
        if (r == 0)
                r = element(f, "    ", "cmdline", c->cmdline);
        fputs("  </os>\n", f);
        return r;
}

/* Virtio disks (the q35 backend's virtio-blk-pci), the daemon's own files
 * by path; a caller's disk fd cannot reach libvirtd's QEMU. */
static int disks_xml(FILE *f, const VmConfig *c) {
        for (size_t i = 0; i < c->n_disks; i++) {
                const VmDisk *d = &c->disks[i];
                if (!d->path)
                        return -EOPNOTSUPP;
                fprintf(f, "    <disk type='%s' device='disk'>\n", strncmp(d->path, "/dev/", 5) == 0 ? "block" : "file");
                fprintf(f, "      <driver name='qemu' type='%s'%s/>\n", disk_format_to_string(d->format) ?: "raw",
                        d->direct ? " cache='none' io='native'" : "");
                fprintf(f, "      <source %s='", strncmp(d->path, "/dev/", 5) == 0 ? "dev" : "file");
                if (libvirt_xml_escape(f, d->path) < 0)
                        return -EINVAL;
                fprintf(f, "'/>\n      <target dev='vd%c' bus='virtio'/>\n", (char) ('a' + i % 26));
                if (d->read_only)
                        fputs("      <readonly/>\n", f);
                fputs("    </disk>\n", f);
        }
        return 0;
}

/* libvirt has no model for edu: it goes on QEMU's command line, at a PCI
 * address of our choosing so it cannot collide with libvirt's. */
static int devices_cmdline_xml(FILE *f, const VmConfig *c) {
        if (c->n_devices == 0)
                return 0;
        fputs("  <qemu:commandline>\n", f);
        for (size_t i = 0; i < c->n_devices; i++) {
                const VmDevice *d = &c->devices[i];
                if (d->kind != VM_DEVICE_EDU)
                        return -EOPNOTSUPP;
                fputs("    <qemu:arg value='-device'/>\n", f);
                fprintf(f, "    <qemu:arg value='edu,bus=pcie.0,addr=0x%zx", LIBVIRT_EDU_SLOT + i);
                if (d->dma_mask)
                        fprintf(f, ",dma_mask=0x%" PRIX64, d->dma_mask);
                fputs("'/>\n", f);
        }
        fputs("  </qemu:commandline>\n", f);
        return 0;
}

static int devices_xml(FILE *f, const LibvirtDomain *d) {
        fputs("  <devices>\n", f);
        int r = d->emulator ? element(f, "    ", "emulator", d->emulator) : 0;
        /* A pty: libvirtd opens it for virDomainOpenConsole's stream. */
        fputs("    <serial type='pty'>\n      <target port='0'/>\n    </serial>\n"
              "    <console type='pty'>\n      <target type='serial' port='0'/>\n    </console>\n"
              "    <controller type='usb' model='none'/>\n"
              "    <memballoon model='none'/>\n", f);
        r = r ?: disks_xml(f, d->config);
        fputs("  </devices>\n", f);
        return r;
}

int libvirt_domain_xml(const LibvirtDomain *d, char **ret) {
        const VmConfig *c = d->config;
        char *buf = NULL;
        size_t size = 0;
        if (!d->name || !c->kernel || !c->cmdline)
                return -EINVAL;
        FILE *f = open_memstream(&buf, &size);
        if (!f)
                return -ENOMEM;
        fprintf(f, "<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n",
                c->accel == ACCEL_KVM ? "kvm" : "qemu");
        int r = element(f, "  ", "name", d->name);
        fprintf(f, "  <memory unit='MiB'>%u</memory>\n  <vcpu>%u</vcpu>\n", c->memory_mib, c->vcpus);
        r = r ?: os_xml(f, c);
        /* QEMU's q35 has ACPI unless told otherwise; libvirt only with <acpi/>. */
        fputs("  <features>\n    <acpi/>\n  </features>\n", f);
        r = r ?: cpu_xml(f, c->cpu_model);
        /* The guest powers off by rebooting (reboot=t): destroy is QEMU's -no-reboot. */
        fputs("  <on_poweroff>destroy</on_poweroff>\n  <on_reboot>destroy</on_reboot>\n"
              "  <on_crash>destroy</on_crash>\n", f);
        r = r ?: devices_xml(f, d);
        r = r ?: devices_cmdline_xml(f, c);
        fputs("</domain>\n", f);
        if (fclose(f) != 0 && r == 0)
                r = -ENOMEM;
        if (r < 0) {
                free(buf);
                return r;
        }
        *ret = buf;
        return 0;
}

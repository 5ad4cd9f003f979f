/* test-libvirt-xml.c — the domain XML of a libvirt run (libvirt-xml.c):
 * parsed back with libxml2 and checked element by element against the
 * VmConfig, as libvirt would read it; escaping; what it refuses. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <libxml/parser.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include "libvirt-xml.c"

static VmConfig base_config(void) {
        return (VmConfig) { .kernel = "/img/vmlinux", .initrd = "/img/initramfs.cpio.gz",
                            .cmdline = "console=ttyS0 reboot=t panic=-1", .memory_mib = 256, .vcpus = 2,
                            .accel = ACCEL_TCG, .qmp_fd = -EBADF, .serial_fd = -EBADF };
}

typedef struct Parsed {
        xmlDocPtr doc;
        xmlXPathContextPtr ctx;
} Parsed;

static Parsed parse(const char *xml) {
        Parsed p = { .doc = xmlReadMemory(xml, (int) strlen(xml), "d.xml", NULL, XML_PARSE_NONET) };
        assert_non_null(p.doc);
        p.ctx = xmlXPathNewContext(p.doc);
        xmlXPathRegisterNs(p.ctx, (const xmlChar *) "qemu", (const xmlChar *) "http://libvirt.org/schemas/domain/qemu/1.0");
        return p;
}

static void parsed_done(Parsed *p) {
        xmlXPathFreeContext(p->ctx);
        xmlFreeDoc(p->doc);
}

/* The string value of expr; "" when it selects nothing. */
static char *xs(Parsed *p, const char *expr) {
        static char buf[512];
        xmlXPathObjectPtr o = xmlXPathEvalExpression((const xmlChar *) expr, p->ctx);
        snprintf(buf, sizeof(buf), "%s", o && o->stringval ? (const char *) o->stringval : "");
        xmlXPathFreeObject(o);
        return buf;
}

static char *build(const VmConfig *c, const char *name) {
        LibvirtDomain d = { .name = name, .emulator = "/usr/bin/qemu-system-x86_64", .config = c };
        char *xml = NULL;
        assert_int_equal(libvirt_domain_xml(&d, &xml), 0);
        return xml;
}

static void test_basic_tcg(void **state) {
        VmConfig c = base_config();
        _cleanup_free_ char *xml = build(&c, "virtlab-0000-j1-r0-v0");
        Parsed p = parse(xml);
        assert_string_equal(xs(&p, "string(/domain/@type)"), "qemu"); /* TCG */
        assert_string_equal(xs(&p, "string(/domain/name)"), "virtlab-0000-j1-r0-v0");
        assert_string_equal(xs(&p, "string(/domain/memory)"), "256");
        assert_string_equal(xs(&p, "string(/domain/memory/@unit)"), "MiB");
        assert_string_equal(xs(&p, "string(/domain/vcpu)"), "2");
        assert_string_equal(xs(&p, "string(/domain/os/type/@machine)"), "q35");
        assert_string_equal(xs(&p, "string(/domain/os/kernel)"), "/img/vmlinux");
        assert_string_equal(xs(&p, "string(/domain/os/initrd)"), "/img/initramfs.cpio.gz");
        assert_string_equal(xs(&p, "string(/domain/os/cmdline)"), "console=ttyS0 reboot=t panic=-1");
        assert_string_equal(xs(&p, "string(/domain/on_reboot)"), "destroy");
        assert_string_equal(xs(&p, "string(/domain/devices/emulator)"), "/usr/bin/qemu-system-x86_64");
        assert_string_equal(xs(&p, "string(/domain/devices/serial/@type)"), "pty");
        assert_string_equal(xs(&p, "string(/domain/devices/console/target/@type)"), "serial");
        assert_string_equal(xs(&p, "string(/domain/devices/memballoon/@model)"), "none");
        assert_string_equal(xs(&p, "string(/domain/devices/controller[@type='usb']/@model)"), "none");
        assert_string_equal(xs(&p, "string(count(/domain/features/acpi))"), "1");
        assert_string_equal(xs(&p, "string(count(/domain/cpu))"), "0"); /* QEMU's default model */
        assert_string_equal(xs(&p, "string(count(/domain/qemu:commandline))"), "0");
        parsed_done(&p);
}

static void test_kvm_cpu_host_minus_feature(void **state) {
        VmConfig c = base_config();
        c.accel = ACCEL_KVM;
        c.cpu_model = "host,-arch-capabilities";
        c.initrd = NULL;
        _cleanup_free_ char *xml = build(&c, "n");
        Parsed p = parse(xml);
        assert_string_equal(xs(&p, "string(/domain/@type)"), "kvm");
        assert_string_equal(xs(&p, "string(/domain/cpu/@mode)"), "host-passthrough");
        assert_string_equal(xs(&p, "string(/domain/cpu/feature/@name)"), "arch-capabilities");
        assert_string_equal(xs(&p, "string(/domain/cpu/feature/@policy)"), "disable");
        assert_string_equal(xs(&p, "string(count(/domain/os/initrd))"), "0");
        parsed_done(&p);
}

static void test_custom_cpu(void **state) {
        VmConfig c = base_config();
        c.cpu_model = "Skylake-Client,+la57,-x2apic";
        _cleanup_free_ char *xml = build(&c, "n");
        Parsed p = parse(xml);
        assert_string_equal(xs(&p, "string(/domain/cpu/@mode)"), "custom");
        assert_string_equal(xs(&p, "string(/domain/cpu/model)"), "Skylake-Client");
        assert_string_equal(xs(&p, "string(/domain/cpu/feature[@name='la57']/@policy)"), "require");
        assert_string_equal(xs(&p, "string(/domain/cpu/feature[@name='x2apic']/@policy)"), "disable");
        parsed_done(&p);
        c.cpu_model = "host,la57"; /* a feature without + or - */
        LibvirtDomain d = { .name = "n", .config = &c };
        char *xml2 = NULL;
        assert_int_equal(libvirt_domain_xml(&d, &xml2), -EINVAL);
        assert_null(xml2);
}

static void test_edu_fixed_address(void **state) {
        VmConfig c = base_config();
        VmDevice dev[2] = { { .kind = VM_DEVICE_EDU }, { .kind = VM_DEVICE_EDU, .dma_mask = 0xFFFFFFF } };
        c.devices = dev;
        c.n_devices = 2;
        _cleanup_free_ char *xml = build(&c, "n");
        Parsed p = parse(xml);
        assert_string_equal(xs(&p, "string(/domain/qemu:commandline/qemu:arg[1]/@value)"), "-device");
        assert_string_equal(xs(&p, "string(/domain/qemu:commandline/qemu:arg[2]/@value)"), "edu,bus=pcie.0,addr=0x10");
        assert_string_equal(xs(&p, "string(/domain/qemu:commandline/qemu:arg[4]/@value)"),
                            "edu,bus=pcie.0,addr=0x11,dma_mask=0xFFFFFFF");
        parsed_done(&p);
}

static void test_disks(void **state) {
        VmConfig c = base_config();
        VmDisk disks[2] = { { .path = "/var/lib/virtlab/tools.img", .read_only = true },
                            { .path = "/dev/sdz", .direct = true, .format = DISK_FORMAT_QCOW2 } };
        c.disks = disks;
        c.n_disks = 2;
        _cleanup_free_ char *xml = build(&c, "n");
        Parsed p = parse(xml);
        assert_string_equal(xs(&p, "string(/domain/devices/disk[1]/@type)"), "file");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[1]/source/@file)"), "/var/lib/virtlab/tools.img");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[1]/driver/@type)"), "raw");
        assert_string_equal(xs(&p, "string(count(/domain/devices/disk[1]/readonly))"), "1");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[1]/target/@dev)"), "vda");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[2]/@type)"), "block");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[2]/source/@dev)"), "/dev/sdz");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[2]/driver/@cache)"), "none");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[2]/driver/@type)"), "qcow2");
        assert_string_equal(xs(&p, "string(/domain/devices/disk[2]/target/@dev)"), "vdb");
        parsed_done(&p);
        VmDisk fd_disk = { .fd = 7 }; /* the caller's fd cannot reach libvirtd's QEMU */
        c.disks = &fd_disk;
        c.n_disks = 1;
        LibvirtDomain d = { .name = "n", .config = &c };
        char *xml2 = NULL;
        assert_int_equal(libvirt_domain_xml(&d, &xml2), -EOPNOTSUPP);
}

static void test_escaping(void **state) {
        VmConfig c = base_config();
        c.cmdline = "console=ttyS0 virtlab.x='a<b>&\"c\"'";
        c.kernel = "/img/it's & <odd>";
        _cleanup_free_ char *xml = build(&c, "n&<>");
        Parsed p = parse(xml); /* well-formed, and the values come back unchanged */
        assert_string_equal(xs(&p, "string(/domain/os/cmdline)"), "console=ttyS0 virtlab.x='a<b>&\"c\"'");
        assert_string_equal(xs(&p, "string(/domain/os/kernel)"), "/img/it's & <odd>");
        assert_string_equal(xs(&p, "string(/domain/name)"), "n&<>");
        parsed_done(&p);
        c.cmdline = "bad\x01control";
        LibvirtDomain d = { .name = "n", .config = &c };
        char *xml2 = NULL;
        assert_int_equal(libvirt_domain_xml(&d, &xml2), -EINVAL);
        d.name = NULL;
        assert_int_equal(libvirt_domain_xml(&d, &xml2), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_basic_tcg),         cmocka_unit_test(test_kvm_cpu_host_minus_feature),
                cmocka_unit_test(test_custom_cpu),        cmocka_unit_test(test_edu_fixed_address),
                cmocka_unit_test(test_disks),             cmocka_unit_test(test_escaping),
        };
        return cmocka_run_group_tests(tests, NULL, NULL);
}

/* edu-test.c — exercises QEMU's edu device through virtlab_edu (/dev/edu)
 * and prints one machine-readable line per feature:
 *
 *   EDU-TEST feature=NAME result=pass|fail|skip detail="..."
 *   EDU-TEST summary pass=N fail=N skip=N
 *
 * Features: devnode (udev/devtmpfs made /dev/edu), busmaster (PCI command
 * register), id, liveness, factorial (completion interrupt), irq (raise and
 * ack), dma (RAM -> device -> RAM, byte for byte), crc32 (the patched QEMU's
 * register; skipped with the reason when the device lacks it).
 *
 *   edu-test [--device PATH] [--report-only]
 *
 * Exit status: 0 all ran features passed, 1 a feature failed, 2 usage.
 * --report-only exits 0 whenever the report is complete, for a harness that
 * reads the verdicts from the lines (virtlabd's edu experiment). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "virtlab_edu.h"

#define PCI_DEVICES "/sys/bus/pci/devices"
#define PCI_COMMAND_MASTER 0x4
#define DRIVER_NAME "virtlab_edu"

static unsigned n_pass, n_fail, n_skip;

/* Prints one verdict line; detail must not contain '"'. */
static void report(const char *feature, const char *result, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void report(const char *feature, const char *result, const char *fmt, ...) {
        char detail[512];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(detail, sizeof(detail), fmt, ap);
        va_end(ap);
        for (char *p = detail; *p; p++)
                if (*p == '"' || *p == '\n')
                        *p = '\'';
        printf("EDU-TEST feature=%s result=%s detail=\"%s\"\n", feature, result, detail);
        if (strcmp(result, "pass") == 0)
                n_pass++;
        else if (strcmp(result, "fail") == 0)
                n_fail++;
        else
                n_skip++;
}

/* The same bitwise CRC-32 as the patched device (IEEE 802.3, zlib's). */
static uint32_t crc32_ieee(const uint8_t *buf, size_t len) {
        uint32_t crc = 0xffffffffu;
        while (len--) {
                crc ^= *buf++;
                for (int k = 0; k < 8; k++)
                        crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
        }
        return ~crc;
}

/* xorshift32: a reproducible pattern with no repeating period in 4 KiB. */
static void fill_pattern(uint8_t *buf, size_t len, uint32_t seed) {
        uint32_t x = seed ?: 1;
        for (size_t i = 0; i < len; i++) {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf[i] = (uint8_t) x;
        }
}

/* Finds the edu device in sysfs; 0 and its address in ret_addr, or -ENOENT. */
static int find_edu_pci(char *ret_addr, size_t size) {
        DIR *d = opendir(PCI_DEVICES);
        if (!d)
                return -errno;
        int r = -ENOENT;
        for (struct dirent *de; (de = readdir(d));) {
                char path[600], buf[32];
                if (de->d_name[0] == '.')
                        continue;
                snprintf(path, sizeof(path), PCI_DEVICES "/%s/vendor", de->d_name);
                FILE *f = fopen(path, "re");
                bool vendor = f && fgets(buf, sizeof(buf), f) && strncmp(buf, "0x1234", 6) == 0;
                if (f)
                        fclose(f);
                snprintf(path, sizeof(path), PCI_DEVICES "/%s/device", de->d_name);
                f = vendor ? fopen(path, "re") : NULL;
                bool device = f && fgets(buf, sizeof(buf), f) && strncmp(buf, "0x11e8", 6) == 0;
                if (f)
                        fclose(f);
                if (device) {
                        snprintf(ret_addr, size, "%s", de->d_name);
                        r = 0;
                        break;
                }
        }
        closedir(d);
        return r;
}

static void test_devnode(const char *dev) {
        struct stat st;
        if (stat(dev, &st) < 0) {
                report("devnode", "fail", "%s: %s (no devtmpfs/udev node: was the driver loaded?)", dev, strerror(errno));
                return;
        }
        if (!S_ISCHR(st.st_mode)) {
                report("devnode", "fail", "%s is not a character device", dev);
                return;
        }
        report("devnode", "pass", "%s is char %u:%u (misc), created by devtmpfs, no mknod", dev, major(st.st_rdev),
               minor(st.st_rdev));
}

static void test_busmaster(void) {
        char addr[256], path[600];
        if (find_edu_pci(addr, sizeof(addr)) < 0) {
                report("busmaster", "fail", "no 1234:11e8 device under " PCI_DEVICES);
                return;
        }
        snprintf(path, sizeof(path), PCI_DEVICES "/%s/config", addr);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        uint16_t cmd = 0;
        ssize_t n = fd >= 0 ? pread(fd, &cmd, sizeof(cmd), 4) : -1;
        if (fd >= 0)
                close(fd);
        if (n != (ssize_t) sizeof(cmd)) {
                report("busmaster", "fail", "cannot read the command register of %s", addr);
                return;
        }
        report("busmaster", cmd & PCI_COMMAND_MASTER ? "pass" : "fail", "%s command register 0x%04x: bus master %s", addr,
               cmd, cmd & PCI_COMMAND_MASTER ? "on" : "OFF (device DMA cannot reach RAM)");
}

static void test_id(const struct edu_info *info) {
        unsigned major = info->id >> 24, minor = (info->id >> 16) & 0xff;
        bool ok = (info->id & 0xffff) == 0x00ed && major == 1;
        report("id", ok ? "pass" : "fail", "id register 0x%08x: edu v%u.%u%s; %s irq %u", info->id, major, minor,
               info->has_crc32 ? " (CRC-32 registers)" : "", info->irq_is_msi ? "MSI" : "INTx", info->irq);
}

static void test_liveness(int fd) {
        static const uint32_t values[] = { 0x12345678, 0x00000000, 0xffffffff, 0xdeadbeef };
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                uint32_t v = values[i];
                if (ioctl(fd, EDU_IOC_LIVENESS, &v) < 0) {
                        report("liveness", "fail", "ioctl LIVENESS: %s", strerror(errno));
                        return;
                }
                if (v != (uint32_t) ~values[i]) {
                        report("liveness", "fail", "wrote 0x%08x, read 0x%08x, expected 0x%08x", values[i], v,
                               (uint32_t) ~values[i]);
                        return;
                }
        }
        report("liveness", "pass", "4 values, each read back inverted (0x12345678 -> 0xedcba987)");
}

static void test_factorial(int fd) {
        static const struct { uint32_t n, expect; } cases[] = { { 0, 1 }, { 5, 120 }, { 10, 3628800 }, { 12, 479001600 } };
        char detail[256] = "";
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
                struct edu_factorial f = { .n = cases[i].n };
                if (ioctl(fd, EDU_IOC_FACTORIAL, &f) < 0) {
                        report("factorial", "fail", "%u!: ioctl: %s (no completion interrupt?)", cases[i].n,
                               strerror(errno));
                        return;
                }
                if (f.result != cases[i].expect || !(f.irq_status & 0x1)) {
                        report("factorial", "fail", "%u! = %u (expected %u), irq status 0x%x", cases[i].n, f.result,
                               cases[i].expect, f.irq_status);
                        return;
                }
                snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%s%u!=%u in %u us", i ? ", " : "",
                         f.n, f.result, f.wait_us);
        }
        report("factorial", "pass", "%s; each ended by the completion interrupt (status 0x1)", detail);
}

static void test_irq(int fd) {
        static const uint32_t values[] = { 0x00010000, 0x80000000 };
        struct edu_info before = {}, after = {};
        char detail[256] = "";
        (void) ioctl(fd, EDU_IOC_INFO, &before);
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                struct edu_irq q = { .value = values[i] };
                if (ioctl(fd, EDU_IOC_RAISE_IRQ, &q) < 0) {
                        report("irq", "fail", "raise 0x%08x: %s (handler never saw it)", values[i], strerror(errno));
                        return;
                }
                if ((q.irq_status & values[i]) != values[i] || q.status_after != 0) {
                        report("irq", "fail", "raised 0x%08x, handler saw 0x%08x, status after ack 0x%08x", values[i],
                               q.irq_status, q.status_after);
                        return;
                }
                snprintf(detail + strlen(detail), sizeof(detail) - strlen(detail), "%sraise 0x%08x -> handler in %u us",
                         i ? ", " : "", values[i], q.wait_us);
        }
        (void) ioctl(fd, EDU_IOC_INFO, &after);
        report("irq", "pass", "%s, acked to status 0; %llu interrupts handled", detail,
               (unsigned long long) (after.irq_count - before.irq_count));
}

static void test_dma(int fd, const struct edu_info *info) {
        static uint8_t out[EDU_DMA_USABLE], in[EDU_DMA_USABLE];
        fill_pattern(out, sizeof(out), 0xed0c0de);
        if (info->dma_bus_addr + EDU_DMA_BUF_SIZE - 1 > info->dma_mask) {
                report("dma", "fail", "buffer at bus 0x%llx is outside the DMA mask 0x%llx",
                       (unsigned long long) info->dma_bus_addr, (unsigned long long) info->dma_mask);
                return;
        }
        ssize_t n = pwrite(fd, out, sizeof(out), 0);
        if (n != (ssize_t) sizeof(out)) {
                report("dma", "fail", "RAM->device write of %zu bytes: %s", sizeof(out), n < 0 ? strerror(errno) : "short");
                return;
        }
        memset(in, 0, sizeof(in));
        n = pread(fd, in, sizeof(in), 0);
        if (n != (ssize_t) sizeof(in)) {
                report("dma", "fail", "device->RAM read of %zu bytes: %s", sizeof(in), n < 0 ? strerror(errno) : "short");
                return;
        }
        size_t bad = 0, first = 0;
        for (size_t i = 0; i < sizeof(in); i++)
                if (in[i] != out[i] && bad++ == 0)
                        first = i;
        if (bad) {
                report("dma", "fail", "%zu of %zu bytes differ, first at %zu: wrote 0x%02x, read 0x%02x", bad, sizeof(in), first,
                       out[first], in[first]);
                return;
        }
        /* A write at an offset changes exactly that range of the device buffer. */
        uint8_t patch[100];
        fill_pattern(patch, sizeof(patch), 42);
        memcpy(out + 1000, patch, sizeof(patch));
        n = pwrite(fd, patch, sizeof(patch), 1000);
        ssize_t m = n == (ssize_t) sizeof(patch) ? pread(fd, in, sizeof(in), 0) : -1;
        if (m != (ssize_t) sizeof(in) || memcmp(in, out, sizeof(in)) != 0) {
                report("dma", "fail", "100-byte DMA at offset 1000 did not land exactly there");
                return;
        }
        /* The driver refuses what QEMU would abort the VM for. */
        errno = 0;
        n = pwrite(fd, out, 1, EDU_DMA_USABLE);
        if (n >= 0 || errno != ENOSPC) {
                report("dma", "fail", "write past the usable window (%d bytes) was not refused with ENOSPC", EDU_DMA_USABLE);
                return;
        }
        report("dma", "pass", "%zu bytes RAM->device->RAM identical byte for byte (crc32 0x%08x), 100 bytes at offset "
               "1000 too; coherent buffer at bus 0x%llx, mask 0x%llx; past-window write refused",
               sizeof(out), crc32_ieee(out, sizeof(out)), (unsigned long long) info->dma_bus_addr,
               (unsigned long long) info->dma_mask);
}

static void test_crc32(int fd, const struct edu_info *info) {
        if (!info->has_crc32) {
                report("crc32", "skip", "device reports edu v%u.%u, no CRC-32 registers: QEMU is not patched "
                       "(modules/edu/qemu/build-patched-qemu.sh, then VIRTLAB_QEMU=...)", info->id >> 24,
                       (info->id >> 16) & 0xff);
                return;
        }
        static const char check[] = "123456789";
        if (pwrite(fd, check, 9, 0) != 9) {
                report("crc32", "fail", "DMA of the check string: %s", strerror(errno));
                return;
        }
        struct edu_crc32 c = { .len = 9 };
        if (ioctl(fd, EDU_IOC_CRC32, &c) < 0 || c.crc != 0xcbf43926u) {
                report("crc32", "fail", "CRC-32('123456789') = 0x%08x, expected 0xcbf43926", c.crc);
                return;
        }
        static uint8_t buf[EDU_DMA_USABLE];
        fill_pattern(buf, sizeof(buf), 7);
        struct edu_crc32 c2 = { .len = sizeof(buf) };
        if (pwrite(fd, buf, sizeof(buf), 0) != (ssize_t) sizeof(buf) || ioctl(fd, EDU_IOC_CRC32, &c2) < 0 ||
            c2.crc != crc32_ieee(buf, sizeof(buf))) {
                report("crc32", "fail", "CRC-32 of a %zu-byte DMA buffer = 0x%08x, expected 0x%08x", sizeof(buf), c2.crc,
                       crc32_ieee(buf, sizeof(buf)));
                return;
        }
        struct edu_crc32 c3 = { .len = EDU_DMA_BUF_SIZE + 1 };
        if (ioctl(fd, EDU_IOC_CRC32, &c3) == 0 || errno != EINVAL) {
                report("crc32", "fail", "length 4097 was not refused with EINVAL");
                return;
        }
        report("crc32", "pass", "device CRC-32('123456789') = 0x%08x (check value), %zu DMA bytes = 0x%08x = "
               "computed in the guest; length 4097 refused", c.crc, sizeof(buf), c2.crc);
}

/* Echoes the driver's kernel messages, so the guest log shows the probe
 * (IRQ mode, DMA mask, bus address) next to the verdicts. */
static void print_driver_messages(void) {
        int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0)
                return;
        char rec[1024];
        for (;;) {
                ssize_t n = read(fd, rec, sizeof(rec) - 1);
                if (n < 0 && errno == EPIPE)
                        continue; /* overwritten records: skip ahead */
                if (n <= 0)
                        break;
                rec[n] = 0;
                /* "prio,seq,usec,flags;text\n" */
                char *text = strchr(rec, ';');
                if (!text || strncmp(text + 1, DRIVER_NAME, strlen(DRIVER_NAME)) != 0)
                        continue;
                text++;
                text[strcspn(text, "\n")] = 0;
                printf("kernel: %s\n", text);
        }
        close(fd);
}

int main(int argc, char **argv) {
        const char *dev = "/dev/edu";
        bool report_only = false;
        for (int i = 1; i < argc; i++) {
                if (strcmp(argv[i], "--device") == 0 && i + 1 < argc)
                        dev = argv[++i];
                else if (strcmp(argv[i], "--report-only") == 0)
                        report_only = true;
                else {
                        fprintf(stderr, "usage: edu-test [--device PATH] [--report-only]\n");
                        return 2;
                }
        }
        setvbuf(stdout, NULL, _IOLBF, 0);

        test_devnode(dev);
        test_busmaster();
        int fd = open(dev, O_RDWR | O_CLOEXEC);
        struct edu_info info = {};
        if (fd < 0 || ioctl(fd, EDU_IOC_INFO, &info) < 0) {
                const char *why = strerror(errno);
                static const char *const rest[] = { "id", "liveness", "factorial", "irq", "dma", "crc32" };
                for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++)
                        report(rest[i], "fail", "cannot use %s: %s", dev, why);
        } else {
                test_id(&info);
                test_liveness(fd);
                test_factorial(fd);
                test_irq(fd);
                test_dma(fd, &info);
                test_crc32(fd, &info);
        }
        if (fd >= 0)
                close(fd);
        print_driver_messages();
        printf("EDU-TEST summary pass=%u fail=%u skip=%u\n", n_pass, n_fail, n_skip);
        return n_fail && !report_only ? 1 : 0;
}

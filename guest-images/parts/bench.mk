# bench.mk — guest side of the bench-cpu/-memory/-fileio kinds.
#
# The initramfs gets only what is small: /bin/virtlab-bench (the matrix
# driver) and the virtio modules (virtio-blk on PCI and on MMIO), about
# 300 KiB.  sysbench with its ~19 MB of shared libraries and the ext4
# modules go into $(OUT)/bench-tools.cpio instead, which the kinds attach as a
# read-only disk and the driver unpacks into the guest's RAM: every boot of
# every other experiment would otherwise pay for unpacking them (most of a
# second under TCG).  BENCH_FIO=1 adds fio and its ~84 MB of libraries.
BENCH_SYSBENCH ?= $(shell command -v sysbench 2>/dev/null)
BENCH_FIO      ?=
BENCH_KVER     := $(patsubst vmlinuz-%,%,$(notdir $(KERNEL)))
BENCH_MODDIR   := $(OUT)/bench-modules
# Load order matters: each module after what it depends on (modinfo -F depends).
BENCH_VIRTIO_MODS := virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio virtio_blk
BENCH_FS_MODS     := crc32c_generic crc16 mbcache jbd2 ext4
BENCH_BINS     := $(BENCH_SYSBENCH) $(if $(filter 1,$(BENCH_FIO)),$(shell command -v fio 2>/dev/null))
BENCH_LIBS     := $(if $(BENCH_BINS),$(shell ldd $(BENCH_BINS) 2>/dev/null | awk '$$2 == "=>" && $$3 ~ /^\// {print $$3}' | sort -u))
BENCH_INTERP   := /lib64/ld-linux-x86-64.so.2

PART_SPECS += $(OUT)/parts/bench.spec
PART_DEPS  += bench/virtlab-bench $(BENCH_VIRTIO_MODS:%=$(BENCH_MODDIR)/%.ko)

# Modules come uncompressed into the image (finit_module gets them raw);
# a distro may ship them as .ko.xz or .ko.zst.
$(BENCH_MODDIR)/%.ko: $(OUT)/.build-config parts/bench.mk
	@mkdir -p $(@D)
	@src=$$(modinfo -k $(BENCH_KVER) -n $* 2>/dev/null) || { echo "bench.mk: no module $* for $(BENCH_KVER)" >&2; exit 1; }; \
	case $$src in \
	  *.xz) xz -dc $$src > $@.tmp ;; \
	  *.zst) zstd -qdc $$src > $@.tmp ;; \
	  *.gz) gzip -dc $$src > $@.tmp ;; \
	  *) cp $$src $@.tmp ;; \
	esac && mv $@.tmp $@

$(OUT)/parts/bench.spec: parts/bench.mk $(COMMON)
	@mkdir -p $(@D)
	@{ echo 'file /bin/virtlab-bench $(CURDIR)/bench/virtlab-bench 0755 0 0'; \
	  for m in $(BENCH_VIRTIO_MODS); do echo "file /lib/modules/virtlab/$$m.ko $(BENCH_MODDIR)/$$m.ko 0644 0 0"; done; \
	} > $@.tmp && mv $@.tmp $@

ifneq ($(BENCH_SYSBENCH),)
all: $(OUT)/bench-tools.cpio

$(OUT)/bench-tools.spec: parts/bench.mk $(COMMON) $(BENCH_BINS)
	@echo "  GEN     $@"
	@{ echo 'dir /lib64 0755 0 0'; echo 'dir /opt 0755 0 0'; echo 'dir /opt/bench 0755 0 0'; \
	  echo 'dir /opt/bench/bin 0755 0 0'; echo 'dir /opt/bench/lib 0755 0 0'; echo 'dir /opt/bench/modules 0755 0 0'; \
	  echo 'file /lib64/ld-linux-x86-64.so.2 $(BENCH_INTERP) 0755 0 0'; \
	  for b in $(BENCH_BINS); do echo "file /opt/bench/bin/$$(basename $$b) $$b 0755 0 0"; done; \
	  for l in $(BENCH_LIBS); do echo "file /opt/bench/lib/$$(basename $$l) $$l 0644 0 0"; done; \
	  for m in $(BENCH_FS_MODS); do echo "file /opt/bench/modules/$$m.ko $(BENCH_MODDIR)/$$m.ko 0644 0 0"; done; \
	} > $@.tmp && mv $@.tmp $@

# Padded to 4 KiB: a disk is a whole number of sectors.
$(OUT)/bench-tools.cpio: $(OUT)/bench-tools.spec $(TOOLS)/mkcpio $(BENCH_FS_MODS:%=$(BENCH_MODDIR)/%.ko)
	$(TOOLS)/mkcpio $< > $@.tmp
	truncate -s %4096 $@.tmp
	mv $@.tmp $@
endif

clean: bench-clean
.PHONY: bench-clean
bench-clean:
	rm -f $(OUT)/bench-tools.cpio $(OUT)/bench-tools.spec $(OUT)/parts/bench.spec $(BENCH_MODDIR)/*.ko
	-rmdir $(BENCH_MODDIR) $(OUT)/parts 2>/dev/null || true

# virtlab — top-level build.  `make` builds binaries, `make image` the default
# guest image, `make check` every test, `make demo` the README's first command.
# SANITIZE=1 builds everything with ASan+UBSan into build-san/.  `make fuzz`
# builds the libFuzzer targets with clang into build-fuzz/ (FUZZ=1), `make
# fuzz-ci` runs each for FUZZ_SECONDS (docs/fuzzing.md).

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
# The system bus reads policies only from here (and /etc), whatever PREFIX is.
DBUS_POLICYDIR ?= /usr/share/dbus-1/system.d
PKGS     := libevent jansson libsystemd sqlite3 blkid libvirt libvirt-qemu libxml-2.0
FUZZ_CC  ?= clang
FUZZ_SECONDS ?= 20
FUZZ_JOBS ?= 2
ifeq ($(FUZZ),1)
# Everything gets coverage instrumentation; only the targets link libFuzzer.
BUILD    ?= build-fuzz
CC       := $(FUZZ_CC)
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
FUZZ_LINK := -fsanitize=fuzzer -DVIRTLAB_LIBFUZZER
else ifeq ($(SANITIZE),1)
BUILD    ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD    ?= build
SANFLAGS :=
endif
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter \
            -Wshadow -Wmissing-prototypes -Wstrict-prototypes -Wformat=2 $(SANFLAGS) \
            $(shell pkg-config --cflags $(PKGS)) -Idaemon
LDLIBS   += $(shell pkg-config --libs $(PKGS)) -lm
LDFLAGS  += $(SANFLAGS)

DAEMON_SRC := $(filter-out daemon/main.c,$(wildcard daemon/*.c daemon/backends/*.c daemon/experiments/*.c))
DAEMON_HDR := $(wildcard daemon/*.h daemon/backends/*.h daemon/experiments/*.h)
DAEMON_OBJ := $(DAEMON_SRC:%.c=$(BUILD)/%.o)
LIB        := $(BUILD)/libvirtlab.a
CLIENT_SRC := $(wildcard clients/*.c)
# The pure daemon modules virtlabctl uses (stats for gate.c, mtree for
# output.c); the client links these, jansson and sd-bus, nothing else.
COMMON_SRC := daemon/stats.c daemon/mtree.c daemon/utf8.c
COMMON_LIB := $(BUILD)/libvirtlab-common.a
CLIENT_LDLIBS := $(shell pkg-config --libs jansson libsystemd) -lm
UNIT_SRC   := $(wildcard tests/unit/test-*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC   := $(filter-out tests/fuzz/fuzz-main.c,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/%)
# Runs a program as on a Linux 4.19 kernel (seccomp: ENOSYS for newer calls).
OLD_KERNEL := $(BUILD)/tests/old-kernel
IMAGE_DIR  ?= $(CURDIR)/build/images/default
# Named images sit beside the default one (--image noop, --image systemd).
NOOP_DIR   := $(dir $(IMAGE_DIR))noop
SYSTEMD_DIR := $(dir $(IMAGE_DIR))systemd

# Man pages: scdoc sources in docs/man, roff in $(BUILD)/man.
MAN_SRC    := $(wildcard docs/man/*.scd)
MAN        := $(MAN_SRC:docs/man/%.scd=$(BUILD)/man/%)
COMPLETIONDIR ?= $(PREFIX)/share/bash-completion/completions

.PHONY: all image image-systemd check check-unit check-integration check-systemd-guest check-valgrind \
        check-bullseye demo install clean deps bench kvm-sample man fuzz fuzz-targets fuzz-ci
all: $(BUILD)/virtlabd $(BUILD)/virtlabctl kvm-sample

$(BUILD)/%.o: %.c $(DAEMON_HDR) $(wildcard clients/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(LIB): $(DAEMON_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/virtlabd: $(BUILD)/daemon/main.o $(LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(COMMON_LIB): $(COMMON_SRC:%.c=$(BUILD)/%.o)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/virtlabctl: $(CLIENT_SRC:%.c=$(BUILD)/%.o) $(COMMON_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(CLIENT_LDLIBS)

# A unit test includes the .c it tests, so it sees static functions; the rest
# comes from the library.
$(BUILD)/tests/test-%: tests/unit/test-%.c $(LIB) $(DAEMON_SRC) $(DAEMON_HDR) $(wildcard tests/unit/*.h clients/*.[ch])
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# Fuzz targets build as plain programs that replay a corpus (make check runs
# them over tests/fuzz/corpus/NAME), or with FUZZ=1 as libFuzzer binaries.  A
# target may include the .c it fuzzes, like a unit test.
$(BUILD)/tests/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz-main.c tests/fuzz/fuzz.h $(LIB) $(DAEMON_SRC) $(DAEMON_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(FUZZ_LINK) $(LDFLAGS) -o $@ $< tests/fuzz/fuzz-main.c $(LIB) $(LDLIBS)

fuzz:
	$(MAKE) FUZZ=1 fuzz-targets

fuzz-targets: $(FUZZ_BIN)

# Each target for FUZZ_SECONDS under ASan+UBSan, seeded from its corpus,
# FUZZ_JOBS at a time; fails on a crash, leak, hang or violated invariant.
fuzz-ci: fuzz
	tools/fuzz-run.sh --seconds $(FUZZ_SECONDS) --jobs $(FUZZ_JOBS) build-fuzz

man: $(MAN)

$(BUILD)/man/%: docs/man/%.scd
	@mkdir -p $(dir $@)
	scdoc <$< >$@.tmp && mv $@.tmp $@

# Built without sanitizers: it only installs a filter and execs.
$(OLD_KERNEL): tests/integration/old-kernel.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<

kvm-sample:
	$(MAKE) -C kvm-sample BUILD=$(abspath $(BUILD))/kvm-sample SANFLAGS="$(SANFLAGS)"

image:
	$(MAKE) -C guest-images OUT=$(IMAGE_DIR)
	$(MAKE) -C guest-images/noop OUT=$(NOOP_DIR)

# The systemd guest (docs/guests.md): needs apt's sources for its rootfs
# (fetched once, cached in build/images/systemd/rootfs).
image-systemd:
	$(MAKE) -C guest-images/systemd OUT=$(SYSTEMD_DIR)

deps:
	tools/install-deps.sh

# The systemd guest is built by its test (test-systemd-guest.py: make
# image-systemd beside IMAGE_DIR, cached; skipped, saying why, where apt's
# sources are unreachable) and booted once there.
# TEST_ARGS: tests/run-tests.sh options, e.g. TEST_ARGS="--only test-noop --skip NAME=WHY".
check: all man $(UNIT_BIN) $(FUZZ_BIN) $(OLD_KERNEL) image
	BUILD=$(BUILD) IMAGE_DIR=$(IMAGE_DIR) tests/run-tests.sh $(TEST_ARGS)

check-unit: all $(UNIT_BIN) $(FUZZ_BIN) $(OLD_KERNEL)
	BUILD=$(BUILD) tests/run-tests.sh --unit-only

# The systemd guest's 10-run matrices (qemu, qemu-microvm; StratoVirt's
# refusal here): minutes under TCG, so not part of make check.
check-systemd-guest: all image
	BUILD=$(BUILD) IMAGE_DIR=$(IMAGE_DIR) tests/systemd-guest/matrix

# virtlabd under valgrind through real jobs (tests/valgrind/): a debug build
# without sanitizers (valgrind and ASan do not mix), -O1 -g, in its own dir.
VALGRIND_BUILD ?= build-valgrind
check-valgrind: image
	CFLAGS="-O1 -g" $(MAKE) BUILD=$(VALGRIND_BUILD) SANITIZE= all
	BUILD=$(VALGRIND_BUILD) IMAGE_DIR=$(IMAGE_DIR) tests/run-tests.sh --valgrind

# Build and unit tests in a Debian 11 chroot (tools/check-bullseye.sh; skips
# visibly where apt's mirror is unreachable).  BULLSEYE_ARGS=--integration
# adds the integration tests against bullseye's QEMU 5.2.
check-bullseye:
	tools/check-bullseye.sh $(BULLSEYE_ARGS)

demo: deps all image
	BUILD=$(BUILD) IMAGE_DIR=$(IMAGE_DIR) tools/demo.sh

# Same-run ratios only (these machines are noisy): virtlabd against a minimal
# harness booting the same argv, on the noop guest under KVM (StratoVirt when
# $$VIRTLAB_STRATOVIRT names it, QEMU microvm) and on the Linux guest.
bench: all image
	@rc=0; export BUILD=$(BUILD) IMAGE_DIR=$(IMAGE_DIR); if [ -w /dev/kvm ]; then \
	  if [ -n "$$VIRTLAB_STRATOVIRT" ]; then bench/boot-overhead --vmm stratovirt --image noop --runs 20 || rc=1; fi; \
	  bench/boot-overhead --vmm qemu-microvm --image noop --runs 20 || rc=1; \
	fi; \
	bench/boot-overhead --vmm qemu-microvm --runs 10 || rc=1; \
	if [ -w /dev/kvm ]; then bench/density || rc=1; fi; exit $$rc

install: all man
	install -Dm0755 $(BUILD)/virtlabd $(DESTDIR)$(PREFIX)/libexec/virtlabd
	install -Dm0755 $(BUILD)/kvm-sample/kvm-sample $(DESTDIR)$(PREFIX)/libexec/virtlab/kvm-sample
	install -Dm0755 $(BUILD)/virtlabctl $(DESTDIR)$(PREFIX)/bin/virtlabctl
	install -Dm0644 systemd/virtlabd.service $(DESTDIR)$(PREFIX)/lib/systemd/system/virtlabd.service
	install -Dm0644 systemd/virtlab.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/virtlab.conf
	@# Group virtlab before the policy: dbus-daemon reloads on the new file and
	@# resolves group="virtlab" then, never again; a group made later leaves its
	@# members denied until `systemctl reload dbus`.  Only into a system root
	@# (DESTDIR empty or holding etc/group), not into a staging tree.
	if [ -f $(DESTDIR)/etc/group ] && command -v systemd-sysusers >/dev/null; then \
	  systemd-sysusers --root=$(DESTDIR)/ $(DESTDIR)$(PREFIX)/lib/sysusers.d/virtlab.conf; fi
	@# Renamed into place: a running dbus-daemon reloads when a file in system.d
	@# is closed after writing, and install(1) writes it 0600, chmods it after;
	@# a reload in between missed the policy (3 of 8 installs: root was then
	@# denied the name until the next reload).
	install -Dm0644 systemd/org.virtlab.Lab1.conf $(DESTDIR)$(DBUS_POLICYDIR)/org.virtlab.Lab1.conf.new
	mv -f $(DESTDIR)$(DBUS_POLICYDIR)/org.virtlab.Lab1.conf.new $(DESTDIR)$(DBUS_POLICYDIR)/org.virtlab.Lab1.conf
	install -Dm0644 systemd/org.virtlab.Lab1.service $(DESTDIR)$(PREFIX)/share/dbus-1/system-services/org.virtlab.Lab1.service
	install -d $(DESTDIR)$(PREFIX)/share/virtlab/schemas
	install -m0644 schemas/*.json schemas/*.xml $(DESTDIR)$(PREFIX)/share/virtlab/schemas/
	@# On a live system, the bus has the policy and systemd the unit before
	@# make returns (then: systemctl start virtlabd).
	if [ -z "$(DESTDIR)" ] && [ -S /run/dbus/system_bus_socket ] && command -v dbus-send >/dev/null; then \
	  dbus-send --system --print-reply --dest=org.freedesktop.DBus / org.freedesktop.DBus.ReloadConfig >/dev/null; fi
	if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	install -Dm0644 $(BUILD)/man/virtlabctl.1 $(DESTDIR)$(PREFIX)/share/man/man1/virtlabctl.1
	install -Dm0644 $(BUILD)/man/virtlabd.8 $(DESTDIR)$(PREFIX)/share/man/man8/virtlabd.8
	install -Dm0644 completions/virtlabctl.bash $(DESTDIR)$(COMPLETIONDIR)/virtlabctl

clean:
	rm -rf build build-san build-valgrind build-fuzz
	$(MAKE) -C guest-images clean OUT=$(IMAGE_DIR) || true
	$(MAKE) -C guest-images/noop clean OUT=$(NOOP_DIR) || true
	$(MAKE) -C guest-images/systemd clean OUT=$(SYSTEMD_DIR) || true

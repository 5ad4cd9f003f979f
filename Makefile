# virtlab — top-level build.  `make` builds binaries, `make image` the default
# guest image, `make check` every test, `make demo` the README's first command.
# SANITIZE=1 builds everything with ASan+UBSan into build-san/.

CC       ?= cc
PREFIX   ?= /usr/local
DESTDIR  ?=
# The system bus reads policies only from here (and /etc), whatever PREFIX is.
DBUS_POLICYDIR ?= /usr/share/dbus-1/system.d
PKGS     := libevent jansson libsystemd sqlite3
ifeq ($(SANITIZE),1)
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
COMMON_SRC := daemon/stats.c daemon/mtree.c
COMMON_LIB := $(BUILD)/libvirtlab-common.a
CLIENT_LDLIBS := $(shell pkg-config --libs jansson libsystemd) -lm
UNIT_SRC   := $(wildcard tests/unit/test-*.c)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
FUZZ_SRC   := $(filter-out tests/fuzz/fuzz-main.c,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_BIN   := $(FUZZ_SRC:tests/fuzz/%.c=$(BUILD)/tests/%)
# Runs a program as on a Linux 4.19 kernel (seccomp: ENOSYS for newer calls).
OLD_KERNEL := $(BUILD)/tests/old-kernel
IMAGE_DIR  ?= $(CURDIR)/build/images/default
# Named images sit beside the default one (--image noop).
NOOP_DIR   := $(dir $(IMAGE_DIR))noop

.PHONY: all image check check-unit check-integration check-valgrind check-bullseye demo install clean deps bench kvm-sample
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
$(BUILD)/tests/test-%: tests/unit/test-%.c $(LIB) $(DAEMON_SRC) $(DAEMON_HDR) $(wildcard tests/unit/*.h clients/gate.[ch])
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS) -lcmocka

# Fuzz targets build as plain programs that replay a corpus (libFuzzer when
# CC=clang FUZZ=1); make check runs them over their seed corpus.
$(BUILD)/tests/fuzz-%: tests/fuzz/fuzz-%.c tests/fuzz/fuzz-main.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< tests/fuzz/fuzz-main.c $(LIB) $(LDLIBS)

# Built without sanitizers: it only installs a filter and execs.
$(OLD_KERNEL): tests/integration/old-kernel.c
	@mkdir -p $(dir $@)
	$(CC) -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -o $@ $<

kvm-sample:
	$(MAKE) -C kvm-sample BUILD=$(abspath $(BUILD))/kvm-sample SANFLAGS="$(SANFLAGS)"

image:
	$(MAKE) -C guest-images OUT=$(IMAGE_DIR)
	$(MAKE) -C guest-images/noop OUT=$(NOOP_DIR)

deps:
	tools/install-deps.sh

check: all $(UNIT_BIN) $(FUZZ_BIN) $(OLD_KERNEL) image
	BUILD=$(BUILD) IMAGE_DIR=$(IMAGE_DIR) tests/run-tests.sh

check-unit: all $(UNIT_BIN) $(FUZZ_BIN) $(OLD_KERNEL)
	BUILD=$(BUILD) tests/run-tests.sh --unit-only

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
	bench/boot-overhead --vmm qemu-microvm --runs 10 || rc=1; exit $$rc

install: all
	install -Dm0755 $(BUILD)/virtlabd $(DESTDIR)$(PREFIX)/libexec/virtlabd
	install -Dm0755 $(BUILD)/kvm-sample/kvm-sample $(DESTDIR)$(PREFIX)/libexec/virtlab/kvm-sample
	install -Dm0755 $(BUILD)/virtlabctl $(DESTDIR)$(PREFIX)/bin/virtlabctl
	install -Dm0644 systemd/virtlabd.service $(DESTDIR)$(PREFIX)/lib/systemd/system/virtlabd.service
	install -Dm0644 systemd/org.virtlab.Lab1.conf $(DESTDIR)$(DBUS_POLICYDIR)/org.virtlab.Lab1.conf
	install -Dm0644 systemd/virtlab.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/virtlab.conf
	install -Dm0644 systemd/org.virtlab.Lab1.service $(DESTDIR)$(PREFIX)/share/dbus-1/system-services/org.virtlab.Lab1.service
	install -d $(DESTDIR)$(PREFIX)/share/virtlab/schemas
	install -m0644 schemas/*.json schemas/*.xml $(DESTDIR)$(PREFIX)/share/virtlab/schemas/

clean:
	rm -rf build build-san build-valgrind
	$(MAKE) -C guest-images clean OUT=$(IMAGE_DIR) || true
	$(MAKE) -C guest-images/noop clean OUT=$(NOOP_DIR) || true

# ptdump part: the virtlab_ptdump guest module (modules/ptdump/), built
# against the image kernel's headers, and its helper script.  Without the
# headers (linux-headers-RELEASE) the part is skipped with a warning and
# `virtlabctl translate --module` reports the missing module.
PTDUMP_RELEASE := $(patsubst vmlinuz-%,%,$(notdir $(KERNEL)))
PTDUMP_KDIR    ?= /lib/modules/$(PTDUMP_RELEASE)/build
PTDUMP_OUT     := $(OUT)/ptdump
PTDUMP_SRC     := $(wildcard ../modules/ptdump/virtlab_ptdump.c ../modules/ptdump/Kbuild ../modules/ptdump/Makefile)

ifneq ($(wildcard $(PTDUMP_KDIR)/Makefile),)
PART_SPECS += $(PTDUMP_OUT)/part.spec
PART_DEPS  += $(PTDUMP_OUT)/virtlab_ptdump.ko ../modules/ptdump/virtlab-ptdump.sh

$(PTDUMP_OUT)/virtlab_ptdump.ko: $(PTDUMP_SRC) $(OUT)/.build-config
	$(MAKE) -C ../modules/ptdump KDIR=$(PTDUMP_KDIR) OUTD=$(PTDUMP_OUT)

$(PTDUMP_OUT)/part.spec: parts/ptdump.mk
	@mkdir -p $(@D)
	@{ echo 'file /lib/modules/virtlab/virtlab_ptdump.ko $(PTDUMP_OUT)/virtlab_ptdump.ko 0644 0 0'; \
	   echo 'file /usr/bin/virtlab-ptdump $(abspath ../modules/ptdump/virtlab-ptdump.sh) 0755 0 0'; } > $@
else
$(warning ptdump part skipped: no kernel headers at $(PTDUMP_KDIR) (install linux-headers-$(PTDUMP_RELEASE)))
endif

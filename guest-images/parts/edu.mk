# parts/edu.mk — the edu device driver and its test program (modules/edu):
#   /lib/modules/virtlab/virtlab_edu.ko   loaded with virtlab.modules=virtlab_edu
#   /bin/edu-test                        run with virtlab.job=run:/bin/edu-test
# The module is built against exactly the image's kernel: its release is read
# from that kernel with extract-vmlinux --release, and the headers come from
# /lib/modules/RELEASE/build (package linux-headers-RELEASE).
EDU_SRC := ../modules/edu
EDU_OUT := $(OUT)/parts/edu

$(EDU_OUT)/virtlab_edu.ko $(EDU_OUT)/edu-test &: $(wildcard $(EDU_SRC)/*.c $(EDU_SRC)/*.h) $(EDU_SRC)/Kbuild \
                                                $(EDU_SRC)/Makefile $(KERNEL) $(TOOLS)/extract-vmlinux $(COMMON)
	release=$$($(TOOLS)/extract-vmlinux --release $(KERNEL)) && \
	$(MAKE) -C $(EDU_SRC) KRELEASE="$$release" OUT=$(EDU_OUT) CC="$(CC)"
	touch $(EDU_OUT)/virtlab_edu.ko $(EDU_OUT)/edu-test

$(EDU_OUT).spec: parts/edu.mk
	@mkdir -p $(@D)
	printf '%s\n' 'file /lib/modules/virtlab/virtlab_edu.ko $(EDU_OUT)/virtlab_edu.ko 0644 0 0' \
	              'file /bin/edu-test $(EDU_OUT)/edu-test 0755 0 0' > $@

PART_SPECS += $(EDU_OUT).spec
PART_DEPS  += $(EDU_OUT)/virtlab_edu.ko $(EDU_OUT)/edu-test

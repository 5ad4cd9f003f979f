/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/* virtlab_edu.h — the user-space interface of virtlab_edu, the driver for
 * QEMU's edu device (1234:11e8): ioctls on /dev/edu, shared by the module
 * and edu-test.  read()/write() on /dev/edu move bytes through the device's
 * DMA buffer (EDU_DMA_USABLE bytes): write() DMAs RAM -> device at the file position, read()
 * DMAs device -> RAM from it. */
#ifndef VIRTLAB_EDU_H
#define VIRTLAB_EDU_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define EDU_DMA_BUF_SIZE 4096 /* the device's DMA buffer, at device address 0x40000 */
/* QEMU up to 8.0 checks DMA ranges with an off-by-one (the end must lie
 * *inside* the buffer) and aborts the whole VM otherwise, so no DMA may touch
 * the buffer's last byte: read() and write() reach 4095 bytes. */
#define EDU_DMA_USABLE   (EDU_DMA_BUF_SIZE - 1)

/* What the driver found when it bound the device. */
struct edu_info {
        __u32 id;             /* identification register 0x00: 0xRRrr00ed */
        __u32 irq_is_msi;     /* 1 MSI, 0 INTx */
        __u32 irq;            /* Linux IRQ number */
        __u32 has_crc32;      /* minor version >= 1: registers 0xa0/0xa4 exist */
        __u64 dma_mask;       /* the mask given to the DMA API */
        __u64 dma_bus_addr;   /* bus address of the coherent buffer */
        __u64 irq_count;      /* interrupts handled since probe */
};

/* Factorial with the completion interrupt (status bit 0x80). */
struct edu_factorial {
        __u32 n;              /* in */
        __u32 result;         /* out: register 0x08 after the interrupt */
        __u32 irq_status;     /* out: status the handler saw (0x1 = FACT) */
        __u32 wait_us;        /* out: time from start to the interrupt */
};

/* Raise an interrupt with register 0x60, the handler acks it with 0x64. */
struct edu_irq {
        __u32 value;          /* in: bits to raise (not 0x1 or 0x100) */
        __u32 irq_status;     /* out: status the handler saw */
        __u32 status_after;   /* out: register 0x24 after the ack (0) */
        __u32 wait_us;        /* out: time from the raise to the handler */
};

/* CRC-32 of the first len bytes of the device's DMA buffer (patched QEMU). */
struct edu_crc32 {
        __u32 len;            /* in */
        __u32 crc;            /* out: register 0xa4 */
};

#define EDU_IOC_MAGIC 0xed
#define EDU_IOC_INFO      _IOR(EDU_IOC_MAGIC, 0, struct edu_info)
#define EDU_IOC_LIVENESS  _IOWR(EDU_IOC_MAGIC, 1, __u32)  /* writes 0x04, returns what it reads back */
#define EDU_IOC_FACTORIAL _IOWR(EDU_IOC_MAGIC, 2, struct edu_factorial)
#define EDU_IOC_RAISE_IRQ _IOWR(EDU_IOC_MAGIC, 3, struct edu_irq)
#define EDU_IOC_CRC32     _IOWR(EDU_IOC_MAGIC, 4, struct edu_crc32)

#endif

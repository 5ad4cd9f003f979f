// SPDX-License-Identifier: GPL-2.0
/* virtlab_edu.c — driver for QEMU's educational PCI device "edu" (1234:11e8),
 * written for current kernels (6.x).  It does what the lab's Chapter-4 pci.c
 * leaves out or gets wrong:
 *   - enables bus mastering, without which the device's DMA never reaches
 *     guest RAM;
 *   - uses the DMA API: a coherent buffer whose *bus* address goes to the
 *     device, after telling the API the device's address width (dma_bits);
 *   - accesses the 32-bit registers with 32-bit loads and stores (the device
 *     ignores narrower accesses below 0x80), the DMA registers with 64-bit;
 *   - registers a misc device, so devtmpfs/udev create /dev/edu (no mknod);
 *   - handles its interrupt (MSI, INTx as fallback): reads the status, acks
 *     exactly those bits, and wakes whoever waits for them.
 * The ioctl and read/write interface is in virtlab_edu.h. */
#include <linux/delay.h>
#include <linux/dma-mapping.h>
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/interrupt.h>
#include <linux/io.h>
#include <linux/kref.h>
#include <linux/ktime.h>
#include <linux/miscdevice.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "virtlab_edu.h"

#define DRV_NAME "virtlab_edu"

#define EDU_VENDOR_ID           0x1234
#define EDU_DEVICE_ID           0x11e8

/* Register map (hw/misc/edu.c, docs/specs/edu.rst). */
#define EDU_REG_ID              0x00 /* RO 0xRRrr00ed */
#define EDU_REG_LIVENESS        0x04 /* RW: reads back the inverse */
#define EDU_REG_FACTORIAL       0x08 /* RW: write n, read n! */
#define EDU_REG_STATUS          0x20 /* RW: 0x01 computing, 0x80 irq on completion */
#define EDU_REG_IRQ_STATUS      0x24 /* RO */
#define EDU_REG_IRQ_RAISE       0x60 /* WO: ORs into irq status */
#define EDU_REG_IRQ_ACK         0x64 /* WO: clears bits of irq status */
#define EDU_REG_DMA_SRC         0x80 /* 64-bit */
#define EDU_REG_DMA_DST         0x88 /* 64-bit */
#define EDU_REG_DMA_CNT         0x90 /* 64-bit */
#define EDU_REG_DMA_CMD         0x98 /* 64-bit */
#define EDU_REG_CRC32_LEN       0xa0 /* patched QEMU: write len, computes */
#define EDU_REG_CRC32_VAL       0xa4 /* patched QEMU: result */

#define EDU_STATUS_COMPUTING    0x01
#define EDU_STATUS_IRQFACT      0x80
#define EDU_IRQ_FACT            0x00000001
#define EDU_IRQ_DMA             0x00000100
#define EDU_DMA_RUN             0x1
#define EDU_DMA_TO_RAM          0x2 /* direction bit: device buffer -> RAM */
#define EDU_DMA_IRQ             0x4
#define EDU_DMA_WINDOW          0x40000 /* device-side address of its buffer */

/* The device's DMA timer fires 100 ms (virtual) after the command; TCG and a
 * loaded host stretch that, hence the generous limit. */
#define EDU_IRQ_TIMEOUT         (10 * HZ)

static unsigned int dma_bits = 28;
module_param(dma_bits, uint, 0444);
MODULE_PARM_DESC(dma_bits, "DMA address width of the device (QEMU edu dma_mask; its default is 28 bits)");

static bool use_msi = true;
module_param(use_msi, bool, 0444);
MODULE_PARM_DESC(use_msi, "Use MSI when available (else INTx)");

static DEFINE_IDA(edu_ida);

struct edu_dev {
        struct kref ref;              /* probe + every open file */
        struct pci_dev *pdev;         /* NULL once removed */
        void __iomem *regs;           /* BAR0 */
        struct miscdevice misc;       /* /dev/edu, /dev/edu1, ... */
        char name[16];                /* misc device name */
        int index;                    /* from edu_ida */
        struct mutex lock;            /* one device operation at a time; guards pdev */
        void *buf;                    /* coherent DMA buffer, EDU_DMA_BUF_SIZE */
        dma_addr_t buf_bus;           /* its bus address, what the device is given */
        u64 dma_mask;                 /* mask given to the DMA API */
        int irq;                      /* Linux IRQ number */
        bool irq_is_msi;              /* MSI vector, else INTx (shared) */
        bool has_crc32;               /* id minor >= 1 */
        u32 id;                       /* identification register */
        spinlock_t irq_lock;          /* guards pending, irq_count */
        u32 pending;                  /* irq status bits seen and not yet consumed */
        u64 irq_count;                /* interrupts handled */
        wait_queue_head_t wq;         /* woken by the handler */
};

static void edu_release(struct kref *ref)
{
        struct edu_dev *edu = container_of(ref, struct edu_dev, ref);

        ida_free(&edu_ida, edu->index);
        kfree(edu);
}

static irqreturn_t edu_irq_handler(int irq, void *data)
{
        struct edu_dev *edu = data;
        u32 status = ioread32(edu->regs + EDU_REG_IRQ_STATUS);

        /* INTx may be shared; all-ones means the device is gone. */
        if (!status || status == ~0u)
                return IRQ_NONE;
        iowrite32(status, edu->regs + EDU_REG_IRQ_ACK);
        spin_lock(&edu->irq_lock);
        edu->pending |= status;
        edu->irq_count++;
        spin_unlock(&edu->irq_lock);
        wake_up(&edu->wq);
        return IRQ_HANDLED;
}

/* Takes the pending bits in @bits; true when there were any. */
static bool edu_take_pending(struct edu_dev *edu, u32 bits, u32 *seen)
{
        bool got;

        spin_lock_irq(&edu->irq_lock);
        got = edu->pending & bits;
        if (got) {
                *seen = edu->pending;
                edu->pending &= ~bits;
        }
        spin_unlock_irq(&edu->irq_lock);
        return got;
}

static void edu_clear_pending(struct edu_dev *edu, u32 bits)
{
        spin_lock_irq(&edu->irq_lock);
        edu->pending &= ~bits;
        spin_unlock_irq(&edu->irq_lock);
}

/* Waits for the handler to see @bits; 0, -ETIMEDOUT or -ERESTARTSYS. */
static int edu_wait_irq(struct edu_dev *edu, u32 bits, u32 *seen)
{
        long r = wait_event_interruptible_timeout(edu->wq, edu_take_pending(edu, bits, seen), EDU_IRQ_TIMEOUT);

        if (r < 0)
                return r;
        return r == 0 ? -ETIMEDOUT : 0;
}

static u32 elapsed_us(ktime_t t0)
{
        return (u32) ktime_to_us(ktime_sub(ktime_get(), t0));
}

static int edu_factorial(struct edu_dev *edu, struct edu_factorial *f)
{
        ktime_t t0;
        int r;

        edu_clear_pending(edu, EDU_IRQ_FACT);
        iowrite32(EDU_STATUS_IRQFACT, edu->regs + EDU_REG_STATUS);
        t0 = ktime_get();
        iowrite32(f->n, edu->regs + EDU_REG_FACTORIAL);
        r = edu_wait_irq(edu, EDU_IRQ_FACT, &f->irq_status);
        f->wait_us = elapsed_us(t0);
        iowrite32(0, edu->regs + EDU_REG_STATUS);
        if (r < 0)
                return r;
        /* The completion interrupt follows the clearing of "computing". */
        if (ioread32(edu->regs + EDU_REG_STATUS) & EDU_STATUS_COMPUTING)
                return -EIO;
        f->result = ioread32(edu->regs + EDU_REG_FACTORIAL);
        return 0;
}

static int edu_raise_irq(struct edu_dev *edu, struct edu_irq *q)
{
        ktime_t t0;
        int r;

        /* FACT and DMA belong to their operations. */
        if (!q->value || (q->value & (EDU_IRQ_FACT | EDU_IRQ_DMA)))
                return -EINVAL;
        edu_clear_pending(edu, q->value);
        t0 = ktime_get();
        iowrite32(q->value, edu->regs + EDU_REG_IRQ_RAISE);
        r = edu_wait_irq(edu, q->value, &q->irq_status);
        q->wait_us = elapsed_us(t0);
        q->status_after = ioread32(edu->regs + EDU_REG_IRQ_STATUS);
        return r;
}

/* One DMA between the coherent buffer and the device's window at @off. */
static int edu_dma(struct edu_dev *edu, bool to_ram, size_t off, size_t len)
{
        u64 dev_addr = EDU_DMA_WINDOW + off;
        u32 seen;
        int r;

        /* QEMU aborts the whole VM on a DMA outside its window. */
        if (off > EDU_DMA_USABLE || len > EDU_DMA_USABLE - off)
                return -EINVAL;
        edu_clear_pending(edu, EDU_IRQ_DMA);
        writeq(to_ram ? dev_addr : (u64) edu->buf_bus, edu->regs + EDU_REG_DMA_SRC);
        writeq(to_ram ? (u64) edu->buf_bus : dev_addr, edu->regs + EDU_REG_DMA_DST);
        writeq(len, edu->regs + EDU_REG_DMA_CNT);
        writeq(EDU_DMA_RUN | EDU_DMA_IRQ | (to_ram ? EDU_DMA_TO_RAM : 0), edu->regs + EDU_REG_DMA_CMD);
        r = edu_wait_irq(edu, EDU_IRQ_DMA, &seen);
        if (r < 0)
                return r;
        return readq(edu->regs + EDU_REG_DMA_CMD) & EDU_DMA_RUN ? -EIO : 0;
}

static int edu_crc32(struct edu_dev *edu, struct edu_crc32 *c)
{
        if (!edu->has_crc32)
                return -EOPNOTSUPP;
        if (c->len > EDU_DMA_BUF_SIZE)
                return -EINVAL;
        iowrite32(c->len, edu->regs + EDU_REG_CRC32_LEN);
        c->crc = ioread32(edu->regs + EDU_REG_CRC32_VAL);
        return 0;
}

static struct edu_dev *file_edu(struct file *file)
{
        return container_of(file->private_data, struct edu_dev, misc);
}

static int edu_open(struct inode *inode, struct file *file)
{
        struct edu_dev *edu = file_edu(file);

        kref_get(&edu->ref);
        return 0;
}

static int edu_file_release(struct inode *inode, struct file *file)
{
        kref_put(&file_edu(file)->ref, edu_release);
        return 0;
}

/* Locks the device for one operation; -ENODEV after removal. */
static int edu_lock(struct edu_dev *edu)
{
        if (mutex_lock_interruptible(&edu->lock))
                return -ERESTARTSYS;
        if (!edu->pdev) {
                mutex_unlock(&edu->lock);
                return -ENODEV;
        }
        return 0;
}

static ssize_t edu_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
        struct edu_dev *edu = file_edu(file);
        ssize_t r;

        if (*ppos < 0 || *ppos >= EDU_DMA_USABLE)
                return count ? -ENOSPC : 0;
        count = min_t(size_t, count, EDU_DMA_USABLE - *ppos);
        r = edu_lock(edu);
        if (r < 0)
                return r;
        if (copy_from_user(edu->buf, ubuf, count))
                r = -EFAULT;
        else
                r = edu_dma(edu, false, *ppos, count);
        mutex_unlock(&edu->lock);
        if (r < 0)
                return r;
        *ppos += count;
        return count;
}

static ssize_t edu_read(struct file *file, char __user *ubuf, size_t count, loff_t *ppos)
{
        struct edu_dev *edu = file_edu(file);
        ssize_t r;

        if (*ppos < 0 || *ppos >= EDU_DMA_USABLE)
                return 0;
        count = min_t(size_t, count, EDU_DMA_USABLE - *ppos);
        r = edu_lock(edu);
        if (r < 0)
                return r;
        /* Whatever the caller gets back must have come from the device. */
        memset(edu->buf, 0, count);
        r = edu_dma(edu, true, *ppos, count);
        if (r == 0 && copy_to_user(ubuf, edu->buf, count))
                r = -EFAULT;
        mutex_unlock(&edu->lock);
        if (r < 0)
                return r;
        *ppos += count;
        return count;
}

static loff_t edu_llseek(struct file *file, loff_t off, int whence)
{
        return fixed_size_llseek(file, off, whence, EDU_DMA_USABLE);
}

static long edu_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
        struct edu_dev *edu = file_edu(file);
        void __user *uarg = (void __user *) arg;
        union {
                struct edu_info info;
                struct edu_factorial fact;
                struct edu_irq irq;
                struct edu_crc32 crc;
                __u32 u32;
        } u;
        size_t size = _IOC_SIZE(cmd);
        long r;

        if (_IOC_TYPE(cmd) != EDU_IOC_MAGIC || size > sizeof(u))
                return -ENOTTY;
        memset(&u, 0, sizeof(u));
        if ((_IOC_DIR(cmd) & _IOC_WRITE) && copy_from_user(&u, uarg, size))
                return -EFAULT;
        r = edu_lock(edu);
        if (r < 0)
                return r;
        switch (cmd) {
        case EDU_IOC_INFO:
                u.info = (struct edu_info) {
                        .id = edu->id, .irq_is_msi = edu->irq_is_msi, .irq = edu->irq,
                        .has_crc32 = edu->has_crc32, .dma_mask = edu->dma_mask,
                        .dma_bus_addr = edu->buf_bus,
                };
                spin_lock_irq(&edu->irq_lock);
                u.info.irq_count = edu->irq_count;
                spin_unlock_irq(&edu->irq_lock);
                break;
        case EDU_IOC_LIVENESS:
                iowrite32(u.u32, edu->regs + EDU_REG_LIVENESS);
                u.u32 = ioread32(edu->regs + EDU_REG_LIVENESS);
                break;
        case EDU_IOC_FACTORIAL:
                r = edu_factorial(edu, &u.fact);
                break;
        case EDU_IOC_RAISE_IRQ:
                r = edu_raise_irq(edu, &u.irq);
                break;
        case EDU_IOC_CRC32:
                r = edu_crc32(edu, &u.crc);
                break;
        default:
                r = -ENOTTY;
        }
        mutex_unlock(&edu->lock);
        if (r == 0 && (_IOC_DIR(cmd) & _IOC_READ) && copy_to_user(uarg, &u, size))
                r = -EFAULT;
        return r;
}

static const struct file_operations edu_fops = {
        .owner = THIS_MODULE,
        .open = edu_open,
        .release = edu_file_release,
        .read = edu_read,
        .write = edu_write,
        .llseek = edu_llseek,
        .unlocked_ioctl = edu_ioctl,
        .compat_ioctl = compat_ptr_ioctl,
};

static int edu_setup_irq(struct edu_dev *edu)
{
        struct pci_dev *pdev = edu->pdev;
        unsigned int types = PCI_IRQ_LEGACY | (use_msi ? PCI_IRQ_MSI : 0);
        int r = pci_alloc_irq_vectors(pdev, 1, 1, types);

        if (r < 0)
                return r;
        edu->irq = pci_irq_vector(pdev, 0);
        edu->irq_is_msi = pdev->msi_enabled;
        r = request_irq(edu->irq, edu_irq_handler, edu->irq_is_msi ? 0 : IRQF_SHARED, DRV_NAME, edu);
        if (r < 0)
                pci_free_irq_vectors(pdev);
        return r;
}

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
        struct edu_dev *edu;
        int r;

        if (dma_bits < 12 || dma_bits > 64)
                return dev_err_probe(&pdev->dev, -EINVAL, "dma_bits=%u out of range 12..64\n", dma_bits);
        r = pcim_enable_device(pdev);
        if (r < 0)
                return dev_err_probe(&pdev->dev, r, "cannot enable device\n");
        r = pcim_iomap_regions(pdev, BIT(0), DRV_NAME);
        if (r < 0)
                return dev_err_probe(&pdev->dev, r, "cannot map BAR0\n");
        /* Without bus mastering the device's DMA reads and writes go nowhere. */
        pci_set_master(pdev);
        r = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(dma_bits));
        if (r < 0)
                return dev_err_probe(&pdev->dev, r, "no usable %u-bit DMA\n", dma_bits);

        edu = kzalloc(sizeof(*edu), GFP_KERNEL);
        if (!edu)
                return -ENOMEM;
        kref_init(&edu->ref);
        mutex_init(&edu->lock);
        spin_lock_init(&edu->irq_lock);
        init_waitqueue_head(&edu->wq);
        edu->pdev = pdev;
        edu->regs = pcim_iomap_table(pdev)[0];
        edu->dma_mask = DMA_BIT_MASK(dma_bits);
        edu->index = ida_alloc(&edu_ida, GFP_KERNEL);
        if (edu->index < 0) {
                r = edu->index;
                kfree(edu);
                return r;
        }
        edu->id = ioread32(edu->regs + EDU_REG_ID);
        if ((edu->id & 0xff) != 0xed) {
                r = dev_err_probe(&pdev->dev, -ENODEV, "unexpected id register 0x%08x\n", edu->id);
                goto fail;
        }
        edu->has_crc32 = ((edu->id >> 16) & 0xff) >= 1;
        /* Managed: freed after remove(), when the device can no longer DMA. */
        edu->buf = dmam_alloc_coherent(&pdev->dev, EDU_DMA_BUF_SIZE, &edu->buf_bus, GFP_KERNEL);
        if (!edu->buf) {
                r = -ENOMEM;
                goto fail;
        }
        r = edu_setup_irq(edu);
        if (r < 0) {
                dev_err_probe(&pdev->dev, r, "cannot set up the interrupt\n");
                goto fail;
        }
        if (edu->index == 0)
                snprintf(edu->name, sizeof(edu->name), "edu");
        else
                snprintf(edu->name, sizeof(edu->name), "edu%d", edu->index);
        edu->misc = (struct miscdevice) {
                .minor = MISC_DYNAMIC_MINOR, .name = edu->name, .fops = &edu_fops,
                .parent = &pdev->dev, .mode = 0660,
        };
        r = misc_register(&edu->misc);
        if (r < 0) {
                free_irq(edu->irq, edu);
                pci_free_irq_vectors(pdev);
                goto fail;
        }
        pci_set_drvdata(pdev, edu);
        dev_info(&pdev->dev, "edu v%u.%u (id 0x%08x)%s, %s irq %d, DMA mask %#llx, buffer at bus %pad, /dev/%s\n",
                 edu->id >> 24, (edu->id >> 16) & 0xff, edu->id, edu->has_crc32 ? " with CRC-32" : "",
                 edu->irq_is_msi ? "MSI" : "INTx", edu->irq, (unsigned long long) edu->dma_mask, &edu->buf_bus,
                 edu->name);
        return 0;
fail:
        kref_put(&edu->ref, edu_release);
        return r;
}

static void edu_remove(struct pci_dev *pdev)
{
        struct edu_dev *edu = pci_get_drvdata(pdev);

        misc_deregister(&edu->misc);
        /* Waits for an operation in flight (it needs the interrupt); open
         * files keep the structure, and their next call gets -ENODEV. */
        mutex_lock(&edu->lock);
        edu->pdev = NULL;
        mutex_unlock(&edu->lock);
        free_irq(edu->irq, edu);
        pci_free_irq_vectors(pdev);
        pci_clear_master(pdev);
        kref_put(&edu->ref, edu_release);
}

static const struct pci_device_id edu_ids[] = {
        { PCI_DEVICE(EDU_VENDOR_ID, EDU_DEVICE_ID) },
        { }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
        .name = DRV_NAME,
        .id_table = edu_ids,
        .probe = edu_probe,
        .remove = edu_remove,
};
module_pci_driver(edu_driver);

MODULE_DESCRIPTION("Driver for QEMU's edu device: DMA API, MSI/INTx, /dev/edu (virtlab)");
MODULE_LICENSE("GPL");

/* layout.h — the guest's memory map, shared by the VMM (C) and the guest
 * programs (GNU as through cpp) so that both sides agree on every address.
 * Plain #defines only: this file is also read by the assembler. */
#pragma once

#define GUEST_MEM_SIZE    0x400000          /* 4 MiB, one memslot at GPA 0 */

/* Tables the VMM builds before the first KVM_RUN; one page each. */
#define GDT_GPA           0x1000
#define PML4_GPA          0x2000            /* 32-bit paging: the page directory */
#define PDPT_LO_GPA       0x3000            /* 32-bit paging: the page table */
#define PD_LO_GPA         0x4000
#define PDPT_HI_GPA       0x5000
#define PD_HI_GPA         0x6000
#define PT_HI_GPA         0x7000

#define CODE_GPA          0x8000            /* guest program, linked here */
#define STACK_TOP_GPA     0xa000

/* Long mode only: a data page outside the 2 MiB identity map, reachable only
 * through its own 4 KiB mapping at a high virtual address. */
#define DATA_GPA          0x300000
#define DATA_GVA          0x7f1234567000
#define DATA_VALUE_OFFSET 0x2a8
#define DATA_VALUE_GVA    (DATA_GVA + DATA_VALUE_OFFSET)
#define DATA_VALUE        1772334

/* Long mode only: a 1 GiB leaf at 1 GiB that aliases GPA 0, so --walk can show
 * all three leaf sizes (installed only if the guest CPUID has 1 GiB pages). */
#define HUGE_GVA          0x40000000

/* GDT selectors (index * 8). */
#define SEL_CODE32        0x08
#define SEL_DATA          0x10
#define SEL_CODE64        0x18

#define SERIAL_PORT       0x3f8             /* COM1 data register */
#define GUEST_MESSAGE     "Hello, World!\n"

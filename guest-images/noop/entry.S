/* entry.S — the noop micro-guest's two ways in, both ending in noop_main():
 *
 *   noop_entry64  the first byte of the image, at 16 MiB: StratoVirt's
 *                 microvm copies a non-bzImage kernel raw to 0x1000000 and
 *                 enters it in 64-bit long mode (first GiB identity-mapped,
 *                 rsi = a Linux zero page);
 *   noop_entry32  the PVH entry QEMU takes (XEN_ELFNOTE_PHYS32_ENTRY below):
 *                 32-bit protected mode, paging off, ebx = hvm_start_info.
 *                 It maps the first 4 GiB with 2 MiB pages and enters long
 *                 mode itself.
 *
 * The TSC is read by the very first instruction of each, before anything
 * else touches the guest's time. */

#define NOOP_ENTRY_RAW64 1
#define NOOP_ENTRY_PVH 2

        .section .text.entry, "ax"
        .code64
        .globl noop_entry64
noop_entry64:
        rdtsc
        shl     $32, %rdx
        or      %rdx, %rax
        mov     %rax, %rdx                      /* arg 3: TSC at entry */
        lea     stack_top(%rip), %rsp
        mov     $NOOP_ENTRY_RAW64, %edi         /* arg 1: how we came in */
        /* arg 2 (rsi): the zero page, as the VMM left it */
        call    noop_main
1:      cli
        hlt
        jmp     1b

        .code32
        .globl noop_entry32
noop_entry32:
        rdtsc
        mov     %eax, tsc_entry32
        mov     %edx, tsc_entry32 + 4
        mov     %ebx, start_info32
        mov     $stack_top, %esp

        /* pml4[0] -> pdpt; pdpt[0..3] -> pd[0..3]; 2048 PD entries of 2 MiB. */
        mov     $pdpt, %eax
        or      $0x3, %eax
        mov     %eax, pml4
        xor     %ecx, %ecx
2:      mov     %ecx, %eax
        shl     $12, %eax
        add     $pd, %eax
        or      $0x3, %eax
        mov     %eax, pdpt(, %ecx, 8)
        inc     %ecx
        cmp     $4, %ecx
        jne     2b
        xor     %ecx, %ecx
3:      mov     %ecx, %eax
        shl     $21, %eax
        or      $0x83, %eax                     /* present, writable, 2 MiB page */
        mov     %eax, pd(, %ecx, 8)
        mov     %ecx, %eax
        shr     $11, %eax                       /* bits 32+ of the address: entry / 2048 */
        mov     %eax, pd + 4(, %ecx, 8)
        inc     %ecx
        cmp     $2048, %ecx
        jne     3b

        mov     %cr4, %eax
        or      $(1 << 5), %eax                 /* PAE */
        mov     %eax, %cr4
        mov     $pml4, %eax
        mov     %eax, %cr3
        mov     $0xc0000080, %ecx               /* EFER */
        rdmsr
        or      $(1 << 8), %eax                 /* LME */
        wrmsr
        mov     %cr0, %eax
        or      $((1 << 31) | 1), %eax          /* PG, PE */
        mov     %eax, %cr0
        lgdt    gdt_desc
        ljmp    $0x08, $from32

        .code64
from32:
        mov     $0x10, %eax
        mov     %eax, %ds
        mov     %eax, %es
        mov     %eax, %ss
        mov     $NOOP_ENTRY_PVH, %edi
        mov     start_info32(%rip), %esi
        mov     tsc_entry32(%rip), %rdx
        call    noop_main
4:      cli
        hlt
        jmp     4b

/* noop_fault: an SSE store to guest-physical memory that no RAM or device
 * backs.  The access exits to KVM as MMIO, and KVM's instruction emulator
 * cannot emulate SSE moves, so the vCPU ends in KVM_EXIT_INTERNAL_ERROR: a
 * real KVM failure on demand, for testing how the host notices one.  The
 * address is below 1 GiB (all StratoVirt maps) and above the RAM we get. */
        .globl noop_fault
noop_fault:
        mov     %cr4, %rax
        or      $(1 << 9), %rax                 /* OSFXSR: SSE allowed */
        mov     %rax, %cr4
        pxor    %xmm0, %xmm0
        mov     $0x3ff00000, %eax
        movdqu  %xmm0, (%rax)
        ret

        .section .rodata
        .align  8
gdt:
        .quad   0
        .quad   0x00af9a000000ffff              /* 0x08: 64-bit code */
        .quad   0x00cf92000000ffff              /* 0x10: data */
gdt_desc:
        .word   gdt_desc - gdt - 1
        .long   gdt

        /* QEMU boots an ELF -kernel through PVH only when it carries this note. */
        .section .note.Xen, "a", @note
        .align  4
        .long   4                               /* namesz: "Xen\0" */
        .long   4                               /* descsz */
        .long   18                              /* XEN_ELFNOTE_PHYS32_ENTRY */
        .asciz  "Xen"
        .long   noop_entry32

        .section .bss
        .align  4096
pml4:   .skip   4096
pdpt:   .skip   4096
pd:     .skip   4 * 4096
        .align  16
        .skip   16384
stack_top:
        .align  8
tsc_entry32:
        .skip   8
start_info32:
        .skip   8

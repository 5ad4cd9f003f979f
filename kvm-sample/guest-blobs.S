/* guest-blobs.S — embeds the flat guest binaries (built by the Makefile with
 * objcopy -O binary) into the VMM's .rodata. */

        .section .rodata
        .globl  guest_real_start, guest_real_end
        .globl  guest_protected_start, guest_protected_end
        .globl  guest_long_start, guest_long_end

guest_real_start:
        .incbin "guest-real.bin"
guest_real_end:

guest_protected_start:
        .incbin "guest-protected.bin"
guest_protected_end:

guest_long_start:
        .incbin "guest-long.bin"
guest_long_end:

        .section .note.GNU-stack, "", @progbits

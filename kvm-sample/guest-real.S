/* guest-real.S — the real-mode guest: writes GUEST_MESSAGE to the serial port
 * one byte per `out`, then halts.  Runs with CS = DS = 0, linked at CODE_GPA. */
#include "layout.h"

        .code16
        .text
        .globl  _start
_start:
        cld
        mov     $message, %si
        mov     $SERIAL_PORT, %dx
1:      lodsb                           /* al = *si++ */
        test    %al, %al
        jz      2f
        outb    %al, %dx                /* traps to the VMM: KVM_EXIT_IO */
        jmp     1b
2:      hlt                             /* traps to the VMM: KVM_EXIT_HLT */
        jmp     2b

message:
        .asciz  GUEST_MESSAGE

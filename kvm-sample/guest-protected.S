/* guest-protected.S — the 32-bit protected-mode guest (flat segments, with or
 * without paging: the identity map makes both look the same from here). */
#include "layout.h"

        .code32
        .text
        .globl  _start
_start:
        cld
        mov     $message, %esi
        mov     $SERIAL_PORT, %dx
1:      lodsb
        test    %al, %al
        jz      2f
        outb    %al, %dx
        jmp     1b
2:      hlt
        jmp     2b

message:
        .asciz  GUEST_MESSAGE

/* guest-long.S — the 64-bit long-mode guest: first stores DATA_VALUE through
 * the high data mapping (so --walk has something to find), then writes
 * GUEST_MESSAGE to the serial port and halts. */
#include "layout.h"

        .code64
        .text
        .globl  _start
_start:
        cld
        movabs  $DATA_VALUE_GVA, %rdi
        movl    $DATA_VALUE, (%rdi)
        lea     message(%rip), %rsi
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

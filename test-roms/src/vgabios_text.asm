; vgabios_text.asm - run a VGA BIOS found at C000:0 (an option ROM that the
; test maps there, e.g. SeaBIOS's vgabios-stdvga.bin) the way a system BIOS
; does, then use it: INT 10h AX=0003 (mode 3, which loads the font into
; plane 2) and teletype output (AH=0Eh).
;
;
; Without a VGA BIOS at C000:0 it prints so and exits with 1: QEMU maps none
; for -bios images, and that is what expected/ holds.  machine/tests/
; vga_bios.rs maps SeaBIOS's vgabios-stdvga.bin and checks the rest.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/vgabios.inc"
        ROM_START

start:
        RM_INIT
        VGABIOS_POST
        mov ax, 0x0003
        int 0x10
        mov si, OFS(message)
.next:  mov al, [cs:si]
        inc si
        test al, al
        jz .done
        mov ah, 0x0E
        mov bx, 0x0007
        int 0x10
        jmp .next
.done:  ; Read the cursor position back: row 1, column 2 after "Hi\r\n>>".
        mov ah, 0x03
        xor bh, bh
        int 0x10
        PUTS "vgabios_text: cursor "
        HEX16 edx
        PUTC 10
        PUTS "vgabios_text: done", 10
        EXIT 0

message:
        db "Hi", 13, 10, ">>", 0

        VGABIOS_ROUTINES
        ROM_END

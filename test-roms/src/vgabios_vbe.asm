; vgabios_vbe.asm - a VBE mode through a VGA BIOS found at C000:0 (see
; vgabios_text.asm), drawn through the linear framebuffer from flat
; protected mode: INT 10h AX=4F00 (controller information), AX=4F01 for
; mode 112h (640x480, direct colour: its PhysBasePtr, pitch and depth), and
; AX=4F02 with BX=4112h (linear framebuffer); then row 0 red, row 479 blue,
; the middle column (x = 320) green, 3 bytes per pixel written B, G, R.
; Without a VGA BIOS at C000:0: as vgabios_text.asm.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/vgabios.inc"
        ROM_START

INFO    equ 0x8000              ; VbeInfoBlock
MODE    equ 0x8200              ; ModeInfoBlock

start:
        RM_INIT
        VGABIOS_POST
        mov dword [INFO], 'VBE2'
        mov di, INFO
        mov ax, 0x4F00
        int 0x10
        PUTS "vgabios_vbe: 4F00 ax="
        HEX16 eax
        PUTS " signature="
        HEX32 [INFO]
        PUTS " version="
        HEX16 [INFO + 4]
        PUTC 10
        mov di, MODE
        mov cx, 0x112
        mov ax, 0x4F01
        int 0x10
        PUTS "vgabios_vbe: 4F01 ax="
        HEX16 eax
        PUTS " attributes="
        HEX16 [MODE]
        PUTS " size="
        movzx eax, word [MODE + 0x12]
        DEC eax
        PUTC 'x'
        movzx eax, word [MODE + 0x14]
        DEC eax
        PUTS " bpp="
        movzx eax, byte [MODE + 0x19]
        DEC eax
        PUTS " pitch="
        movzx eax, word [MODE + 0x10]
        DEC eax
        PUTS " lfb="
        HEX32 [MODE + 0x28]
        PUTC 10
        mov bx, 0x4112
        mov ax, 0x4F02
        int 0x10
        PUTS "vgabios_vbe: 4F02 ax="
        HEX16 eax
        PUTC 10
        FLAT_PM_SWITCH pm_main

        bits 32
; Pixel (x, y) at lfb + y * pitch + x * (bpp / 8); colour in EAX (0xRRGGBB).
; EBX = x, EDX = y.  Clobbers ECX, EDI.
put_pixel:
        movzx edi, word [MODE + 0x10]
        imul edi, edx
        movzx ecx, byte [MODE + 0x19]
        shr ecx, 3
        imul ecx, ebx
        add edi, ecx
        add edi, [MODE + 0x28]
        mov [edi], al                   ; blue
        ror eax, 8
        mov [edi + 1], al               ; green
        ror eax, 8
        mov [edi + 2], al               ; red
        rol eax, 16
        ret

pm_main:
        xor ebx, ebx
.rows:  mov eax, 0xFF0000
        xor edx, edx
        call put_pixel
        mov eax, 0x0000FF
        mov edx, 479
        call put_pixel
        inc ebx
        cmp ebx, 640
        jb .rows
        mov ebx, 320
        mov edx, 1
.col:   mov eax, 0x00FF00
        call put_pixel
        inc edx
        cmp edx, 479
        jb .col
        PUTS "vgabios_vbe: done", 10
        EXIT 0

        bits 16
        VGABIOS_ROUTINES
        ROM_END

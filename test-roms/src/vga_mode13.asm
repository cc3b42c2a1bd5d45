; vga_mode13.asm - VGA mode 13h (320x200, 256 colours) without a VGA BIOS.
;
; Programs mode 13h from the standard register table (chain-4), loads DAC
; entries and draws a test pattern through A000:0 (byte y * 320 + x):
;
;   DAC   1 = red (3F,00,00)   2 = green (00,3F,00)   3 = blue (00,00,3F)
;         4 = white (3F,3F,3F) 5 = (10,20,30)
;         32 + k = grey (k,k,k) for k = 0..63
;   whole screen             colour 5
;   rectangle x 10-49, y 20-39     colour 1
;   row y = 100 (all x)            colour 2
;   column x = 160 (all y)         colour 3 (drawn after the row: it wins)
;   pixels (0,0) and (319,199)     colour 4
;   row y = 150, x = 0..63         colour 32 + x (a grey ramp)
;   row y = 180 (all x)            colour 1, drawn last from 32-bit code
;
; Then reads pixels back (chain-4 reads) and prints them.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/vga.inc"
        ROM_START

start:
        RM_INIT
        PUTS "vga_mode13: mode 13h registers, DAC, pattern", 10
        mov si, OFS(mode13)
        call vga_load_regs
        mov al, 1
        mov cx, 5
        mov si, OFS(colours)
        call vga_load_dac
        ; Grey ramp: entries 32..95.
        mov dx, VGA_DAC_W
        mov al, 32
        out dx, al
        inc dx
        xor bl, bl
.ramp:  mov al, bl
        out dx, al
        out dx, al
        out dx, al
        inc bl
        cmp bl, 64
        jb .ramp

        mov ax, 0xA000
        mov es, ax
        ; Background: colour 5 everywhere (dword stores: 4 pixels each).
        xor di, di
        mov eax, 0x05050505
        mov cx, 320 * 200 / 4
        rep stosd
        ; Rectangle.
        mov di, 20 * 320 + 10
        mov dx, 20
.rect:  mov cx, 40
        mov al, 1
        push di
        rep stosb
        pop di
        add di, 320
        dec dx
        jnz .rect
        ; Row 100.
        mov di, 100 * 320
        mov cx, 320
        mov al, 2
        rep stosb
        ; Column 160.
        mov di, 160
        mov cx, 200
.col:   mov byte [es:di], 3
        add di, 320
        loop .col
        ; Corners.
        mov byte [es:0], 4
        mov byte [es:199 * 320 + 319], 4
        ; Grey ramp on row 150 (word stores: two pixels each).
        mov di, 150 * 320
        mov ax, 0x2120
        mov cx, 32
.gr:    stosw
        add ax, 0x0202
        loop .gr

        PUTS "vga_mode13: read back"
        mov si, OFS(probes)
        mov cx, (probes_end - probes) / 2
.probe: mov di, [cs:si]
        add si, 2
        PUTC ' '
        HEX8 [es:di]
        loop .probe
        PUTC 10
        FLAT_PM_SWITCH pm_main

        bits 32
pm_main:
        ; Row 180 in colour 1 with 32-bit stores from flat protected mode: the
        ; loop runs often enough for the JIT to translate it, and its stores
        ; (and the loads below) must still reach the adapter.
        mov edi, 0xA0000 + 180 * 320
        mov eax, 0x01010101
        mov ecx, 80
.st:    mov [edi], eax
        add edi, 4
        dec ecx
        jnz .st
        mov esi, 0xA0000 + 180 * 320
        xor edx, edx
        mov ecx, 80
.ld:    add edx, [esi]
        add esi, 4
        dec ecx
        jnz .ld
        PUTS "vga_mode13: 32-bit stores and loads, sum "
        HEX32 edx
        PUTC 10
        PUTS "vga_mode13: done", 10
%ifmacro KEY_ECHO 0
        KEY_ECHO                        ; window_*.asm: keys before the exit
%endif
        EXIT 0

        bits 16

probes: dw 0, 25 * 320 + 30, 100 * 320 + 5, 50 * 320 + 160, 100 * 320 + 160
        dw 150 * 320 + 10, 199 * 320 + 319, 199 * 320 + 318
probes_end:

mode13:
        VGA_MODE13_TABLE
colours:
        db 0x3F, 0x00, 0x00
        db 0x00, 0x3F, 0x00
        db 0x00, 0x00, 0x3F
        db 0x3F, 0x3F, 0x3F
        db 0x10, 0x20, 0x30

        VGA_ROUTINES
        ROM_END

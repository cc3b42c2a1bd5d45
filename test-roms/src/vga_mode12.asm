; vga_mode12.asm - VGA mode 12h (640x480, 16 colours, planar) without a
; VGA BIOS: the graphics controller's write and read modes at work.
;
; Programs mode 12h from the standard register table and the EGA colours
; into the DAC, then (byte x / 8 of row y is at A000:y * 80 + x / 8):
;
;   whole screen       colour 1 (blue): write mode 0, set/reset enabled for
;                      all planes (the data byte is ignored)
;   x 80-159, y 100-149  colour 4 (red): the same with set/reset value 4
;   row 10, x 200-215  colours 0-15, one pixel each: write mode 2 with the
;                      bit mask selecting the pixel (the latches keep the
;                      others)
;   row 300            write mode 3, set/reset colour 2 (green), data 0xF0:
;                      in every byte the left 4 pixels green, the right 4
;                      keep blue (from the latches)
;   row 400            write mode 0, function XOR, set/reset colour 6:
;                      1 xor 6 = colour 7 (grey)
;   row 450, byte 0    write mode 1: a copy of the latches of row 10's byte
;                      25 (x 200-207: colours 0-7)
;
; Then reads back with read mode 1 (colour compare) and read mode 0, and
; prints the results.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/vga.inc"
        ROM_START

%macro GC 2
        mov dx, VGA_GC
        mov ax, ((%2) << 8) | (%1)
        out dx, ax
%endmacro

start:
        RM_INIT
        PUTS "vga_mode12: mode 12h registers, write and read modes", 10
        mov si, OFS(mode12)
        call vga_load_regs
        mov al, 0
        mov cx, 64
        mov si, OFS(ega_dac)
        call vga_load_dac
        mov ax, 0xA000
        mov es, ax

        ; Fill with colour 1 through set/reset.
        GC 1, 0x0F                      ; set/reset enable: all planes
        GC 0, 0x01                      ; set/reset value: colour 1
        xor di, di
        mov cx, 80 * 480
        mov al, 0x00
        rep stosb
        ; Red rectangle: bytes 10-19 of rows 100-149.
        GC 0, 0x04
        mov di, 100 * 80 + 10
        mov bx, 50
.rect:  mov cx, 10
        push di
        rep stosb
        pop di
        add di, 80
        dec bx
        jnz .rect
        GC 1, 0x00

        ; Write mode 2: pixel 200 + k in colour k.
        GC 5, 0x02
        xor bx, bx
.px:    mov cx, bx
        and cl, 7
        mov ah, 0x80
        shr ah, cl
        mov al, 8
        mov dx, VGA_GC
        out dx, ax                      ; bit mask: the one pixel
        mov di, bx
        shr di, 3
        add di, 10 * 80 + 200 / 8
        mov al, [es:di]                 ; load the latches
        mov [es:di], bl                 ; colour k
        inc bx
        cmp bx, 16
        jb .px
        GC 8, 0xFF

        ; Write mode 3: green through the rotated data ANDed with the bit mask.
        GC 5, 0x03
        GC 0, 0x02
        mov di, 300 * 80
        mov cx, 80
.wm3:   mov al, [es:di]
        mov al, 0xF0
        stosb
        loop .wm3

        ; Write mode 0 with XOR: colour 6 into a blue row.
        GC 5, 0x00
        GC 3, 0x18                      ; function: XOR, no rotation
        GC 1, 0x0F
        GC 0, 0x06
        mov di, 400 * 80
        mov cx, 80
.xor:   mov al, [es:di]
        stosb
        loop .xor
        GC 3, 0x00
        GC 1, 0x00

        ; Write mode 1: copy the latches of row 10, byte 25 to row 450, byte 0.
        GC 5, 0x01
        mov al, [es:10 * 80 + 25]
        mov [es:450 * 80], al
        GC 5, 0x00

        PUTS "vga_mode12: read mode 1, colour 4:"
        GC 5, 0x08
        GC 2, 0x04                      ; colour compare: 4
        GC 7, 0x0F                      ; all planes count
        mov si, OFS(probes)
        mov cx, (probes_end - probes) / 2
.cmp:   mov di, [cs:si]
        add si, 2
        PUTC ' '
        HEX8 [es:di]
        loop .cmp
        PUTC 10
        PUTS "vga_mode12: read mode 1, row 10 byte 25, colour 5 ignoring plane 2:"
        GC 2, 0x05
        GC 7, 0x0B
        PUTC ' '
        HEX8 [es:10 * 80 + 25]
        PUTC 10
        GC 5, 0x00
        PUTS "vga_mode12: read mode 0, planes 0-3 of row 10 byte 26:"
        xor bl, bl
.plane: mov ah, bl
        mov al, 4
        mov dx, VGA_GC
        out dx, ax
        PUTC ' '
        HEX8 [es:10 * 80 + 26]
        inc bl
        cmp bl, 4
        jb .plane
        PUTC 10
        PUTS "vga_mode12: done", 10
%ifmacro KEY_ECHO 0
        KEY_ECHO                        ; window_*.asm: keys before the exit
%endif
        EXIT 0

probes: dw 100 * 80 + 10, 149 * 80 + 19, 100 * 80 + 9, 99 * 80 + 10, 300 * 80
probes_end:

mode12:
        VGA_MODE12_TABLE
ega_dac:
        VGA_EGA_DAC

        VGA_ROUTINES
        ROM_END

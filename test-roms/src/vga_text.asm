; vga_text.asm - VGA text mode without a VGA BIOS.
;
; Programs mode 3 (80x25, 9x16 characters, 720x400) from the standard
; register table, loads a few glyphs into plane 2, the EGA colours into the
; DAC, fills the screen at B800:0 and leaves a known picture:
;
;   row 0, columns 0-3   "HI" then "H" with attributes 0x07, 0x0F, 0x1E
;                        (glyph H: rows 1-13 have columns 1 and 6 on,
;                        row 7 columns 1-6; 'I' has no glyph: blank)
;   row 2, column 3      0xDB (full block, a line-graphics character: its
;                        9th column repeats the 8th) in yellow on blue (0x1E)
;   row 2, column 4      0x01 (checkerboard 0xAA/0x55) white on red (0x4F)
;   row 2, column 5      0x01 with attribute 0x9C: blink is enabled, so bit
;                        7 blinks (drawn steady) and the background is 1
;   row 3, column 0      the cursor, lines 13-14 of the cell (0x07: grey)
;   everything else      space, attribute 0x07 (black background)
;
; It also reads characters back through the odd/even window and prints
; them.  machine/tests and frontend-cli/tests check the picture pixel by
; pixel (run with --screenshot); QEMU prints the same console output.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/vga.inc"
        ROM_START

start:
        RM_INIT
        PUTS "vga_text: mode 3 registers, font, DAC", 10
        mov si, OFS(mode3)
        call vga_load_regs
        mov al, 0
        mov cx, 64
        mov si, OFS(ega_dac)
        call vga_load_dac
        mov cx, (glyphs_end - glyphs) / 17
        mov si, OFS(glyphs)
        call vga_load_font

        ; Clear the screen: space, grey on black.
        mov ax, 0xB800
        mov es, ax
        xor di, di
        mov ax, 0x0720
        mov cx, 80 * 25
        rep stosw

        mov word [es:0], 0x0748         ; 'H' grey on black
        mov word [es:2], 0x0F49         ; 'I' white on black (no glyph: blank)
        mov word [es:6], 0x1E48         ; 'H' yellow on blue
        mov di, (2 * 80 + 3) * 2
        mov word [es:di], 0x1EDB
        mov word [es:di + 2], 0x4F01
        mov word [es:di + 4], 0x9C01

        ; Cursor at row 3, column 0 (lines 13-14 from the mode table).
        mov dx, VGA_CRTC
        mov ax, 0x000E
        out dx, ax
        mov ax, ((3 * 80) << 8) | 0x0F
        out dx, ax

        PUTS "vga_text: read back "
        HEX16 [es:0]
        PUTC ' '
        HEX16 [es:6]
        PUTC ' '
        mov di, (2 * 80 + 4) * 2
        HEX16 [es:di]
        PUTC 10
        ; The CRTC registers read back.
        mov dx, VGA_CRTC
        mov al, 0x0F
        out dx, al
        inc dx
        in al, dx
        PUTS "vga_text: cursor low "
        HEX8 eax
        PUTC 10
        PUTS "vga_text: done", 10
%ifmacro KEY_ECHO 0
        KEY_ECHO                        ; window_*.asm: keys before the exit
%endif
        EXIT 0

mode3:
        VGA_MODE3_TABLE
ega_dac:
        VGA_EGA_DAC
glyphs:
        db 'H'
        db 0x00, 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x7E
        db 0x42, 0x42, 0x42, 0x42, 0x42, 0x42, 0x00, 0x00
        db 0xDB
        times 16 db 0xFF
        db 0x01
        times 8 db 0xAA, 0x55
glyphs_end:

        VGA_ROUTINES
        ROM_END

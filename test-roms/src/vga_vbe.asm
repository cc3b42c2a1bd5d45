; vga_vbe.asm - the Bochs VBE extension (dispi ports 0x1CE/0x1CF) without a
; VGA BIOS: a 640x480, 32 bits per pixel mode drawn through the 64 KiB bank
; window at A000:0 (no PCI BAR is assigned without firmware).
;
; Pixel (x, y) is the dword at byte (y * 640 + x) * 4 of video memory: bank
; byte >> 16, offset byte & 0xFFFF.
;
;   row 0              red (00FF0000)                  bank 0
;   row 100            green (0000FF00)                bank 3, offset E800
;   row 479            blue (000000FF)                 bank 18, offset B600
;   pixel (639, 479)   white                           bank 18, offset BFFC
;   everything else    black (enabling the mode cleared video memory)
;
; Prints the identification handshake, the registers the mode fixed up and
; pixels read back through the window.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

DISPI_INDEX     equ 0x1CE
DISPI_DATA      equ 0x1CF

; DISPI reg, value (clobbers AX, DX)
%macro DISPI 2
        mov dx, DISPI_INDEX
        mov ax, %1
        out dx, ax
        mov dx, DISPI_DATA
        mov ax, %2
        out dx, ax
%endmacro

; DISPI_READ reg -> AX
%macro DISPI_READ 1
        mov dx, DISPI_INDEX
        mov ax, %1
        out dx, ax
        mov dx, DISPI_DATA
        in ax, dx
%endmacro

; Fill CX dwords at bank %1, offset %2 with EAX.
%macro FILL 2
        push eax
        DISPI 5, %1
        pop eax
        mov di, %2
        rep stosd
%endmacro

start:
        RM_INIT
        PUTS "vga_vbe: id"
        DISPI 0, 0xB0C0
        DISPI_READ 0
        PUTC ' '
        HEX16 eax
        DISPI 0, 0xB0C5
        DISPI_READ 0
        PUTC ' '
        HEX16 eax
        PUTC 10

        DISPI 1, 640
        DISPI 2, 480
        DISPI 3, 32
        DISPI 4, 0x01                   ; enabled, banked (no LFB), clear
        ; Unblank: the attribute controller's palette address source bit
        ; gates the picture in VBE modes too (as Linux's bochs driver does).
        mov dx, 0x3DA
        in al, dx
        mov dx, 0x3C0
        mov al, 0x20
        out dx, al
        PUTS "vga_vbe: xres yres bpp virt_width virt_height memory_64k:"
        mov bx, 1
.regs:  cmp bx, 4
        je .next                        ; ENABLE: skip
        cmp bx, 5
        je .next                        ; BANK
        cmp bx, 8
        je .next                        ; offsets
        cmp bx, 9
        je .next
        DISPI_READ bx
        PUTC ' '
        DEC eax
.next:  inc bx
        cmp bx, 11
        jb .regs
        PUTC 10

        mov ax, 0xA000
        mov es, ax
        mov eax, 0x00FF0000
        mov cx, 640
        FILL 0, 0
        mov eax, 0x0000FF00
        mov cx, 640
        FILL 3, 0xE800
        mov eax, 0x000000FF
        mov cx, 640
        FILL 18, 0xB600
        mov dword [es:0xBFFC], 0x00FFFFFF

        PUTS "vga_vbe: read back"
        PUTC ' '
        HEX32 [es:0xBFFC]
        PUTC ' '
        HEX32 [es:0xBFF8]
        DISPI 5, 3
        PUTC ' '
        HEX32 [es:0xE800]
        PUTC ' '
        HEX32 [es:0xE7FC]
        DISPI 5, 0
        PUTC ' '
        HEX32 [es:0]
        PUTC 10
        PUTS "vga_vbe: done", 10
%ifmacro KEY_ECHO 0
        KEY_ECHO                        ; window_*.asm: keys before the exit
%endif
        EXIT 0

        ROM_END

; vga_keys.asm - vga_mode13's picture, then the keyboard, for `--display window`
; (frontend-cli/tests/window.rs): draws the mode 13h test pattern of
; vga_mode13.asm (and prints what it prints), then polls the keyboard
; controller and prints every byte the keyboard sends, "key XX", until Esc
; arrives (set 2 make code 0x76: without firmware the controller does not
; translate), and exits 0. Without key input it runs forever.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%macro VGA_KEYS 0
        PUTS "vga_keys: waiting for keys, Esc ends", 10
%%poll: in al, 0x64
        test al, 1                      ; output buffer full
        jz %%poll
        in al, 0x60
        movzx eax, al
        PUTS "key "
        HEX8 eax
        PUTC 10
        cmp al, 0x76
        jne %%poll
%endmacro

%include "vga_mode13.asm"

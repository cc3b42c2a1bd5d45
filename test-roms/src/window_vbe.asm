; window_vbe.asm - vga_vbe.asm's picture, then the keys typed (lib/keys.inc),
; for `--display window` (frontend-cli/tests/window.rs).
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/keys.inc"
%include "vga_vbe.asm"

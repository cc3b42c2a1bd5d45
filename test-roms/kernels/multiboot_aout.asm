; multiboot_aout.asm - the Multiboot test kernel as a flat image loaded through
; the "a.out kludge" (header flag 16: load, bss and entry addresses in the
; Multiboot header).  See multiboot.inc.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%define AOUT_KLUDGE
%include "multiboot.inc"

; multiboot_elf.asm - the Multiboot test kernel as an ELF32 executable: one
; PT_LOAD segment at 1 MiB (p_paddr) whose memory size is larger than its file
; size, so the loader must zero the bss.  See multiboot.inc.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "multiboot.inc"

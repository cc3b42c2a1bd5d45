; demo.asm - the built-in guest that "ox86 run" boots.
;
; Real mode hello, switch to flat 32-bit protected mode, print a banner and
; a few CRC-32 checksums, exit with value 0.  The checksums exercise
; ordinary integer code (table-driven CRC-32, an xorshift32 generator) and
; have known-answer self-checks, so a wrong result is visible at a glance.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

CRC_TABLE       equ 0x10000     ; 256 dwords, built at run time
PRNG_BUF        equ 0x20000     ; 64 KiB of xorshift32 output
PRNG_DWORDS     equ 0x4000
PRNG_SEED       equ 0x2545F491
wrong           equ 0x30000     ; byte: set when a known answer mismatches

start:
        RM_INIT
        POST 0x01
        PUTS "ox86 demo guest: hello from 16-bit real mode (CS=F000)", 10
        FLAT_PM_SWITCH pm_main

pm_main:
        POST 0x02
        PUTS "+------------------------------------------------+", 10
        PUTS "|  ox86 demo guest: 32-bit protected mode        |", 10
        PUTS "|  flat 4 GiB code/data segments, CPL 0, no IRQs |", 10
        PUTS "+------------------------------------------------+", 10

        mov byte [wrong], 0
        call crc_init

        ; Known answer: the standard CRC-32 check value.
        mov esi, LIN(check_str)
        mov ecx, check_str_len
        call crc32
        PUTS "crc32(", 34, "123456789", 34, ")         = "
        HEX32 eax
        cmp eax, 0xCBF43926
        call ok_or_wrong

        ; The first 32 KiB of this ROM, read through the flat data segment.
        mov esi, ROMBASE
        mov ecx, 0x8000
        call crc32
        PUTS "crc32(rom[0000..7FFF])     = "
        HEX32 eax
        PUTS 10

        ; 64 KiB from xorshift32 (Marsaglia 13/17/5), written to RAM and
        ; read back; the final generator state is printed too.  The expected
        ; values come from an independent implementation (Python zlib).
        mov eax, PRNG_SEED
        mov edi, PRNG_BUF
        mov ecx, PRNG_DWORDS
.gen:   mov edx, eax
        shl edx, 13
        xor eax, edx
        mov edx, eax
        shr edx, 17
        xor eax, edx
        mov edx, eax
        shl edx, 5
        xor eax, edx
        stosd
        loop .gen
        PUTS "xorshift32 state after 16K = "
        HEX32 eax
        cmp eax, 0x288722B1
        call ok_or_wrong
        mov esi, PRNG_BUF
        mov ecx, PRNG_DWORDS * 4
        call crc32
        PUTS "crc32(xorshift32 x 16K)    = "
        HEX32 eax
        cmp eax, 0x93A421FE
        call ok_or_wrong

        POST 0x03
        cmp byte [wrong], 0
        jne .failed
        PUTS "demo complete, exit value 0", 10
        EXIT 0
.failed:
        PUTS "demo FAILED: a known answer did not match, exit value 1", 10
        EXIT 1

; After "cmp result, known_answer": print "(ok)" or "(WRONG)" and a newline.
ok_or_wrong:
        jne .wrong
        PUTS "  (ok)", 10
        ret
.wrong: PUTS "  (WRONG)", 10
        mov byte [wrong], 1
        ret

; Build the 256-entry table for the reflected polynomial 0xEDB88320.
crc_init:
        xor ecx, ecx
.entry: mov eax, ecx
        mov edx, 8
.bit:   shr eax, 1
        jnc .next
        xor eax, 0xEDB88320
.next:  dec edx
        jnz .bit
        mov [CRC_TABLE + ecx*4], eax
        inc ecx
        cmp ecx, 256
        jb .entry
        ret

; EAX = CRC-32 of ECX (> 0) bytes at ESI.  Clobbers ECX, EDX, ESI.
crc32:
        mov eax, 0xFFFFFFFF
.byte:  movzx edx, byte [esi]
        xor dl, al
        shr eax, 8
        xor eax, [CRC_TABLE + edx*4]
        inc esi
        dec ecx
        jnz .byte
        not eax
        ret

check_str:      db "123456789"
check_str_len   equ $ - check_str

        ROM_END

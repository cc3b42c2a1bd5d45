; intloop.asm - interpreter/JIT benchmark: a long, fully deterministic
; integer loop in flat 32-bit protected mode.
;
; Each iteration executes exactly LOOP_INSNS = 32 instructions: register
; ALU work (mov/add/sub/xor/and/or/shl/shr/inc/dec/cmp/lea), a load and a
; store into a 1 KiB table in RAM, a data-dependent jcc whose two paths
; have the same length, and push/pop plus call/ret of a small helper.
; The printed results were cross-checked against a separate model of the
; loop written in Python.
;
; Instruction count, from the reset-vector jump up to and including the OUT
; to port 0x501 that ends the run:
;   loop:   ITERATIONS * 32 = 9,375,000 * 32 = 300,000,000
;   other:  3,720 (mode switch, table set-up and fold, printing)
;   total:  300,003,720 = 3,720 + 32 * ITERATIONS
; Nothing outside the loop has a data-dependent path (the hex printer is
; branch-free and the iteration count is printed in hex), so the total is
; the same on every run.  The 3,720 was measured on QEMU with one
; instruction per translation block ("-singlestep -d exec,nochain", one
; "Trace" line per executed instruction) for ITERATIONS = 1, 2 and 10
; (3,752 / 3,784 / 4,040), which also confirms the 32 per iteration.
; Re-measure with ./count-insns.sh after changing this file or lib/ (the
; printing code is part of the 3,720).  -DITERATIONS=n gives a shorter run.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

%ifndef ITERATIONS
  %define ITERATIONS 9375000    ; outer loop count: 32 insns each, ~300 M
%endif
LOOP_INSNS      equ 32
TABLE           equ 0x10000     ; 256 dwords of state in RAM

start:
        RM_INIT
        FLAT_PM_SWITCH pm_main

pm_main:
        PUTS "intloop: iterations=0x"
        HEX32 ITERATIONS
        PUTS " x 32 instructions", 10

        ; Table[i] = i * 0x9E3779B9 (RAM starts uninitialised).
        xor ecx, ecx
        xor eax, eax
.init:  mov [TABLE + ecx*4], eax
        add eax, 0x9E3779B9
        inc ecx
        cmp ecx, 256
        jne .init

        mov ebx, 0x12345678             ; b
        mov edx, 0x87654321             ; d
        xor ebp, ebp                    ; acc
        mov ecx, ITERATIONS

        align 16
.loop:                                  ; insn # in the iteration
        mov eax, ebx                    ;  1
        shl eax, 5                      ;  2
        add eax, ebx                    ;  3  a = b * 33
        xor eax, edx                    ;  4  a ^= d
        lea ebx, [eax + ebx*2 + 0x1234567] ;  5  b = a + 2b + k
        mov esi, eax                    ;  6
        shr esi, 20                     ;  7
        and esi, 0x3FC                  ;  8  dword index from a's top bits
        mov edi, [TABLE + esi]          ;  9  load
        add edi, eax                    ; 10
        mov [TABLE + esi], edi          ; 11  store
        sub edx, edi                    ; 12
        cmp eax, edx                    ; 13
        jb .below                       ; 14  taken about half the time
        xor ebp, eax                    ; 15  (not taken path)
        jmp .join                       ; 16
.below: add ebp, eax                    ; 15  (taken path)
        inc ebp                         ; 16
.join:  push eax                        ; 17
        push ebx                        ; 18
        call mix                        ; 19  + 9 in mix = 28
        pop ebx                         ; 29
        pop eax                         ; 30
        dec ecx                         ; 31
        jnz .loop                       ; 32

        ; Fold the table into one value (fixed 256-step loop).
        xor esi, esi
        xor edi, edi
.fold:  rol edi, 5
        xor edi, [TABLE + esi*4]
        inc esi
        cmp esi, 256
        jne .fold

        PUTS "intloop: a="
        HEX32 eax
        PUTS " b="
        HEX32 ebx
        PUTS " d="
        HEX32 edx
        PUTS " acc="
        HEX32 ebp
        PUTS " table="
        HEX32 edi
        PUTS 10
        PUTS "intloop: done", 10
        EXIT 0

; Mixes the caller's b (pushed, at [esp+4]) into d.  9 instructions.
mix:
        mov eax, [esp + 4]              ; 20
        and eax, 0x00FF00FF             ; 21
        or eax, 0x00010001              ; 22
        add edx, eax                    ; 23
        mov eax, edx                    ; 24
        shr eax, 3                      ; 25
        xor edx, eax                    ; 26  d ^= d >> 3
        dec edx                         ; 27
        ret                             ; 28

        ROM_END

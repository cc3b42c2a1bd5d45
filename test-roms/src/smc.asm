; smc.asm - self-modifying code that rewrites immediates, the case an
; emulator may keep decoded by reading the immediate from memory when the
; instruction runs.  Every other change to those bytes must still be seen:
;
;   imm32   a loop rewrites the imm32 of MOV EAX in its own block on every
;           pass; half-way, another block rewrites that MOV's opcode (MOV
;           EDX from then on)
;   narrow  byte and word stores into sign-extended imm8s (ADD r32, PUSH),
;           an imm16 (ADD SI with 66h), the top byte of an imm32 (IMUL,
;           TEST) and the imm32 of a MOV to memory
;   across  a dword store that covers the last two bytes of an imm32 and
;           the opcode and ModRM after it (ADD becomes SUB)
;   into    a jump into the bytes of an imm32 (executed as INC EAX x4),
;           then the imm rewritten (DEC EAX x4) and the jump taken again
;   twice   two blocks hold the rewritten MOV (one starts at it, one just
;           before it): the first decoded again while the other still holds
;           the old immediate
;
; Each case runs from RAM in flat 32-bit protected mode and prints the
; registers it leaves.  QEMU is the reference (expected/smc.txt).
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

F1              equ 0x30000     ; each case in a page of its own
F2              equ 0x31000
F3              equ 0x32000
F4              equ 0x33000
F5              equ 0x35000
DATA            equ 0x34000

; Copy fragment %1 (up to %1_end) to RAM at %2.
%macro PLACE 2
        mov esi, LIN(%1)
        mov edi, %2
        mov ecx, %1_end - %1
        rep movsb
%endmacro

; %2 passes of frag4 with its imm32 = %1, then one through its bytes.
%macro INTO 2
        mov edi, %1
        mov ecx, %2
        mov eax, F4
        call eax
        mov eax, 0x100
        mov ecx, 1
        mov edx, F4 + OFS(frag4.into) - OFS(frag4)
        call edx
%endmacro

start:
        RM_INIT
        FLAT_PM_SWITCH pm_main

pm_main:
        PLACE frag1, F1
        PLACE frag2, F2
        PLACE frag3, F3
        PLACE frag4, F4
        PLACE frag5, F5

        mov ebx, 0x12345678
        xor edx, edx
        mov ecx, 1000
        mov eax, F1
        call eax
        PUTS "imm32: ebx="
        HEX32 ebx
        PUTS " eax="
        HEX32 eax
        PUTS " edx="
        HEX32 edx
        PUTS 10

        mov ebx, 0x0BADF00D
        mov esi, 0x1234
        mov edi, 0x55AA33CC
        mov ecx, 700
        mov eax, F2
        call eax
        PUTS "narrow: ebx="
        HEX32 ebx
        PUTS " esi="
        HEX32 esi
        PUTS " edi="
        HEX32 edi
        PUTS " mem="
        HEX32 [DATA]
        PUTS 10

        mov ebx, 0x600DCAFE
        mov ecx, 40
        mov eax, F3
        call eax
        PUTS "across: ebx="
        HEX32 ebx
        PUTS " eax="
        HEX32 eax
        PUTS 10

        ; Five passes with the imm32 = 40 40 40 40 (INC EAX), then into it.
        xor ebx, ebx
        INTO 0x40404040, 5
        PUTS "into: ebx="
        HEX32 ebx
        PUTS " eax="
        HEX32 eax
        ; One pass with 48 48 48 48 (DEC EAX), then into it again.
        INTO 0x48484848, 1
        PUTS " then ebx="
        HEX32 ebx
        PUTS " eax="
        HEX32 eax
        PUTS 10

        mov ebx, 0x3C3C5A5A
        mov ecx, 6
        mov eax, F5
        call eax
        PUTS "twice: ebx="
        HEX32 ebx
        PUTS " eax="
        HEX32 eax
        PUTS 10

        PUTS "smc: done", 10
        EXIT 0

; Addresses inside a fragment once it is in RAM at %1.
%define AT(base, frag, label) ((base) + OFS(label) - OFS(frag))

        bits 32
frag1:
.loop:  mov dword [AT(F1, frag1, .p1) + 1], ecx
        cmp ecx, 500
        jne .p1
        mov byte [AT(F1, frag1, .p1)], 0xBA     ; B8 MOV EAX -> BA MOV EDX
.p1:    mov eax, strict dword 0
        add ebx, eax
        rol ebx, 3
        xor ebx, edx
        dec ecx
        jnz .loop
        ret
frag1_end:

frag2:
.loop:  mov [AT(F2, frag2, .p1) + 2], cl        ; 83 C3 ib
        mov [AT(F2, frag2, .p2) + 1], ch        ; 6A ib
        lea eax, [ecx * 8 + 0x7F]
        mov [AT(F2, frag2, .p3) + 3], ax        ; 66 81 C6 iw
        mov [AT(F2, frag2, .p4) + 5], cl        ; 69 C3 id, top byte
        mov [AT(F2, frag2, .p5) + 5], al        ; F7 C3 id, top byte
        mov [AT(F2, frag2, .p6) + 6], ebx       ; C7 05 disp32 id
.p1:    add ebx, strict byte 0
.p2:    push strict byte 0
        pop eax
        xor ebx, eax
.p3:    add si, strict word 0
.p4:    imul eax, ebx, strict dword 0x00000003
        add edi, eax
.p5:    test ebx, strict dword 0x00000001
        setnz al
        movzx eax, al
        add edi, eax
.p6:    mov dword [DATA], strict dword 0
        rol ebx, 5
        add ebx, [DATA]
        dec ecx
        jnz .loop
        ret
frag2_end:

frag3:
.loop:  mov [AT(F3, frag3, .p1) + 1], ecx
        cmp ecx, 20
        jne .p1
        ; Imm bytes 2-3 become 11 22, ADD EBX, EAX (01 C3) becomes SUB (29 C3).
        mov dword [AT(F3, frag3, .p1) + 3], 0xC3292211
.p1:    mov eax, strict dword 0
        add ebx, eax
        rol ebx, 7
        dec ecx
        jnz .loop
        ret
frag3_end:

frag4:
.loop:  mov [AT(F4, frag4, .p1) + 1], edi
.p1:    mov eax, strict dword 0
.next:  add ebx, eax
        dec ecx
        jnz .loop
        ret
.into:  jmp .p1 + 1                        ; into the imm32 of .p1
frag4_end:

; Pass 1 runs the MOV in block E (from .p1) only; later passes run block D
; (from .mid, MOV included) and then E again.
frag5:
.loop:  mov [AT(F5, frag5, .p1) + 1], ecx
        xor edx, edx
        cmp ecx, 6
        je .p1
        inc edx
.mid:   not ebx
.p1:    mov eax, strict dword 0
        add ebx, eax
        rol ebx, 9
        dec edx
        jns .p1
        dec ecx
        jnz .loop
        ret
frag5_end:

        bits 16
        ROM_END

; bench.asm - the default `ox86 bench` guest: six deterministic phases in
; flat 32-bit protected mode, each printing a checksum of its results.
;
;   int   intloop's 32-instruction loop body (ALU, a table load and store,
;         a data-dependent branch, push/pop, call/ret)
;   mem   xorshift-indexed loads and read-modify-writes over a 128 KiB
;         array plus a sequential walk (memory traffic, no locality)
;   call  indirect calls through a table, nested direct calls, RET imm16
;   str   REP STOSD, REP MOVSD (32 KiB each), a LODSB/STOSB transform loop
;         and REPE CMPSB up to the first difference
;   x87   FLD/FMUL/FADD/FSTP over arrays of doubles
;   smc   a loop in RAM that rewrites the imm32 of an instruction ahead of
;         it, in the same block, on every iteration
;
; The phases are sized so that each takes a comparable share of the run
; (about 250 million instructions in all, counting a REP instruction
; once).  -DSCALE=n divides every iteration count by n for a short run.
; The last line but one folds the six phase results into one checksum.
;
; RAM used (all below 1 MiB, away from the stack below 0x80000):
;   0x10000 intloop's table, 0x20000/0x21000 the x87 arrays, 0x30000 the
;   self-modifying loop, 0x40000 the mem array, 0x80000-0x97FFF the string
;   buffers.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

%ifndef SCALE
  %define SCALE 1
%endif
INT_ITERS       equ 2500000 / SCALE     ; x 32 instructions
MEM_ITERS       equ 4000000 / SCALE     ; x 20
CALL_ITERS      equ 2200000 / SCALE     ; x 27
STR_ITERS       equ 1600 / SCALE        ; x 5,146 (each REP once)
X87_PASSES      equ 3500 / SCALE        ; x 1,795 (256 elements x 7 + 3)
SMC_ITERS       equ 300000 / SCALE      ; x 7

TABLE           equ 0x10000     ; intloop's 256 dwords
XA              equ 0x20000     ; 256 doubles, updated in place
XB              equ 0x21000     ; 256 doubles, the addends
SMC_BASE        equ 0x30000     ; where the self-modifying loop runs
MEMBUF          equ 0x40000     ; 32 Ki dwords
MEM_MASK        equ 0x1FFFC     ; byte offset of a dword in MEMBUF
STR_A           equ 0x80000     ; 32 KiB each
STR_B           equ 0x88000
STR_C           equ 0x90000
STR_LEN         equ 0x8000
LODS_LEN        equ 1024        ; bytes through the LODSB/STOSB loop

; Phase results and scratch, in RAM.
res_int         equ 0x11000
res_mem         equ 0x11004
res_call        equ 0x11008
res_str         equ 0x1100C
res_x87         equ 0x11010
res_smc         equ 0x11014
x87_tmp         equ 0x11018

CR0_MP          equ 1 << 1
CR0_EM          equ 1 << 2
CR0_TS          equ 1 << 3
CR0_NE          equ 1 << 5

start:
        RM_INIT
        FLAT_PM_SWITCH pm_main

pm_main:
        PUTS "bench: int, mem, call, str, x87, smc; scale=0x"
        HEX32 SCALE
        PUTS 10

; ------------------------------------------------------------------ int
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
        mov ecx, INT_ITERS

        align 16
.loop:                                  ; intloop's body, 32 instructions
        mov eax, ebx
        shl eax, 5
        add eax, ebx                    ; a = b * 33
        xor eax, edx                    ; a ^= d
        lea ebx, [eax + ebx*2 + 0x1234567]
        mov esi, eax
        shr esi, 20
        and esi, 0x3FC
        mov edi, [TABLE + esi]
        add edi, eax
        mov [TABLE + esi], edi
        sub edx, edi
        cmp eax, edx
        jb .below
        xor ebp, eax
        jmp .join
.below: add ebp, eax
        inc ebp
.join:  push eax
        push ebx
        call mix
        pop ebx
        pop eax
        dec ecx
        jnz .loop

        ; Fold the table and the registers into the phase result.
        xor esi, esi
        mov edi, ebp
.fold:  rol edi, 5
        xor edi, [TABLE + esi*4]
        inc esi
        cmp esi, 256
        jne .fold
        xor edi, eax
        add edi, ebx
        xor edi, edx
        PUTS "bench: int="
        HEX32 edi
        mov [res_int], edi

; ------------------------------------------------------------------ mem
        xor ecx, ecx
        mov eax, 0x2545F491
.minit: mov [MEMBUF + ecx*4], eax
        add eax, 0x9E3779B9
        inc ecx
        cmp ecx, (MEM_MASK + 4) / 4
        jne .minit

        mov edx, 0xDEADBEEF             ; xorshift32 state
        xor edi, edi                    ; sequential offset
        xor ebp, ebp
        mov ecx, MEM_ITERS
        align 16
.mloop:                                 ; 20 instructions
        mov eax, edx
        shl eax, 13
        xor edx, eax
        mov eax, edx
        shr eax, 17
        xor edx, eax
        mov eax, edx
        shl eax, 5
        xor edx, eax                    ; next xorshift32
        mov esi, edx
        and esi, MEM_MASK
        mov eax, [MEMBUF + esi]         ; random load
        add eax, [MEMBUF + edi]         ; sequential load
        mov [MEMBUF + edi], eax         ; sequential store
        xor [MEMBUF + esi], edi         ; random read-modify-write
        add edi, 4
        and edi, MEM_MASK
        add ebp, eax
        dec ecx
        jnz .mloop

        xor esi, esi
        mov edi, ebp
.mfold: rol edi, 3
        add edi, [MEMBUF + esi*4]
        inc esi
        cmp esi, (MEM_MASK + 4) / 4
        jne .mfold
        xor edi, edx
        PUTS " mem="
        HEX32 edi
        mov [res_mem], edi

; ----------------------------------------------------------------- call
        mov ebx, 0x13579BDF
        mov edx, 0x2468ACE0
        xor ebp, ebp
        mov ecx, CALL_ITERS
        align 16
.cloop:                                 ; 9 here + 18 in the callees
        mov eax, ecx
        and eax, 3
        push ecx
        push eax                        ; the argument, popped by RET 4
        call [LIN(call_table) + eax*4]
        pop ecx
        add ebp, eax
        dec ecx
        jnz .cloop
        mov edi, ebp
        xor edi, ebx
        add edi, edx
        PUTS " call="
        HEX32 edi
        mov [res_call], edi

; ------------------------------------------------------------------ str
        ; A = a byte pattern, the other buffers are written before read.
        mov edi, STR_A
        mov ecx, STR_LEN / 4
        mov eax, 0x03020100
.sinit: stosd
        add eax, 0x04040404
        dec ecx
        jnz .sinit

        xor ebp, ebp
        mov ebx, STR_ITERS
.sloop:
        ; C = a dword that depends on the iteration.
        mov eax, ebx
        imul eax, eax, 0x01000193
        mov edi, STR_C
        mov ecx, STR_LEN / 4
        rep stosd
        ; B = A.
        mov esi, STR_A
        mov edi, STR_B
        mov ecx, STR_LEN / 4
        rep movsd
        ; A[off..off+LODS_LEN] = f(B[...], C[...]): A and B now differ
        ; from some point at or after off (f may keep a byte).
        mov edx, ebx
        imul edx, edx, 0x2F0
        and edx, STR_LEN - LODS_LEN     ; off
        lea esi, [STR_B + edx]
        lea edi, [STR_A + edx]
        mov ecx, LODS_LEN
        mov ah, [STR_C + edx]
.lods:  lodsb
        add al, ah
        xor al, cl
        stosb
        dec ecx
        jnz .lods
        ; The first difference.
        mov esi, STR_A
        mov edi, STR_B
        mov ecx, STR_LEN
        repe cmpsb
        add ebp, ecx
        rol ebp, 7
        xor ebp, esi
        add ebp, [STR_A + edx + 5]
        dec ebx
        jnz .sloop

        xor esi, esi
        mov edi, ebp
.sfold: rol edi, 5
        add edi, [STR_A + esi*4]
        inc esi
        cmp esi, STR_LEN / 4
        jne .sfold
        PUTS " str="
        HEX32 edi
        mov [res_str], edi

; ------------------------------------------------------------------ x87
        mov eax, cr0
        and eax, ~(CR0_EM | CR0_TS)
        or eax, CR0_NE | CR0_MP
        mov cr0, eax
        fninit                          ; 64-bit precision, round to nearest

        ; XA[i] = i, XB[i] = i / 10 + 1.
        xor ecx, ecx
.xinit: mov [x87_tmp], ecx
        fild dword [x87_tmp]
        fst qword [XA + ecx*8]
        fdiv qword [LIN(ten)]
        fadd qword [LIN(one)]
        fstp qword [XB + ecx*8]
        inc ecx
        cmp ecx, 256
        jne .xinit

        ; XA[i] = XA[i] * k + XB[i]: converges, so every value stays normal.
        mov ecx, X87_PASSES
.xpass: xor esi, esi
.xi:    fld qword [XA + esi*8]          ; 7 instructions an element
        fmul qword [LIN(k)]
        fadd qword [XB + esi*8]
        fstp qword [XA + esi*8]
        inc esi
        cmp esi, 256
        jne .xi
        dec ecx
        jnz .xpass

        xor esi, esi
        xor edi, edi
.xfold: rol edi, 9
        xor edi, [XA + esi*4]
        inc esi
        cmp esi, 512
        jne .xfold
        PUTS " x87="
        HEX32 edi
        mov [res_x87], edi

; ------------------------------------------------------------------ smc
        mov esi, LIN(smc_code)
        mov edi, SMC_BASE
        mov ecx, smc_end - smc_code
        rep movsb
        mov ebx, 0x0F1E2D3C
        mov ecx, SMC_ITERS
        mov eax, SMC_BASE
        call eax
        mov edi, ebx
        PUTS " smc="
        HEX32 edi
        PUTS 10
        mov [res_smc], edi

; --------------------------------------------------------------- result
        mov edi, [res_int]
        rol edi, 5
        xor edi, [res_mem]
        rol edi, 5
        xor edi, [res_call]
        rol edi, 5
        xor edi, [res_str]
        rol edi, 5
        xor edi, [res_x87]
        rol edi, 5
        xor edi, [res_smc]
        PUTS "bench: checksum="
        HEX32 edi
        PUTS 10
        PUTS "bench: done", 10
        EXIT 0

; intloop's helper: mixes the caller's b (pushed, at [esp+4]) into d.
mix:
        mov eax, [esp + 4]
        and eax, 0x00FF00FF
        or eax, 0x00010001
        add edx, eax
        mov eax, edx
        shr eax, 3
        xor edx, eax
        dec edx
        ret

; call phase: four callees taking one stacked argument (removed by RET 4),
; each 9 instructions with a nested call of a 9-instruction leaf; the
; result is in EAX.
%macro CALLEE 2
        mov eax, [esp + 4]
        push ebx
        %1 ebx, eax
        call leaf
        pop ebx
        rol ebx, %2
        add ebx, edx
        mov eax, ebx
        ret 4
%endmacro
callee0: CALLEE add, 3
callee1: CALLEE xor, 7
callee2: CALLEE sub, 11
callee3: CALLEE or, 13

leaf:
        mov eax, ebx
        shr eax, 5
        xor edx, eax
        lea edx, [edx + ebx*4 + 0x3C6EF372]
        mov eax, edx
        and eax, 0xFF
        add edx, eax
        rol edx, 1
        ret

        align 4
call_table:
        dd LIN(callee0), LIN(callee1), LIN(callee2), LIN(callee3)

        align 8
ten:    dq 10.0
one:    dq 1.0
k:      dq 0.99902354

; Copied to SMC_BASE and called there with ECX iterations and EBX the
; state.  The first instruction stores ECX into the imm32 of `patch`,
; which is in the same block: each iteration must see its own value.
smc_code:
smc_loop:
        mov dword [SMC_BASE + (smc_patch - smc_code) + 1], ecx
smc_patch:
        mov eax, 0                      ; B8 imm32, rewritten above
        add ebx, eax
        rol ebx, 5
        xor ebx, ecx
        dec ecx
        jnz smc_loop
        ret
smc_end:

        ROM_END


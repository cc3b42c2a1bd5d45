; x87.asm - x87 FPU arithmetic, rounding and exceptions with printed raw
; results.
;
; Flat 32-bit protected mode, ring 0, CR0.NE=1 (native FPU error
; reporting).  80-bit values are printed as "EEEE MMMMMMMMMMMMMMMM" (sign
; and exponent word, then the 64-bit significand); control words in hex,
; status words after arithmetic with the condition codes masked out
; (0xB8FF), EFLAGS masked to ZF/PF/CF (0x45) after FCOMI/FUCOMI.
; Checks:
; - FNINIT, then FNSTCW/FNSTSW;
; - FLD1, FLDZ, and FLDPI under RC=0..3 (the last significand bit changes);
; - FADD/FSUB/FMUL/FDIV of double operands (1/3, 2/3, 1 +- 2^-70, 0.1*0.1,
;   1e300*1e300, 1e-300/1e300, min-normal/3), FSQRT of 2, FRNDINT of 2.5,
;   -2.5 and 3.5, FIST of 2.5 and -2.5, each under RC=0..3 with 64-bit
;   precision and under precision control 53 and 24 bits (RC=0);
; - FCOM (C3/C2/C0), FCOMI and FUCOMI (ZF/PF/CF), also with a QNaN
;   operand (FCOM/FCOMI raise IE, FUCOMI does not) and -0 vs +0;
; - FXAM classes: empty, +0, denormal, normal, -normal, infinity, NaN,
;   unsupported (unnormal);
; - masked exceptions: zero divide (ZE, +inf), invalid 0/0 and sqrt(-1)
;   (IE, the indefinite FFFF C000000000000000), numeric overflow and
;   underflow (OE/UE with PE), an exact denormal result (no UE),
;   precision (PE);
; - an unmasked zero divide: the next FWAIT raises #MF (vector 16); the
;   handler's FNSTSW is printed, then FNCLEX;
; - #NM (vector 7) with CR0.EM=1 (FLD1; not FWAIT) or CR0.TS=1 (FLD1,
;   FNSTSW; FWAIT only with CR0.MP=1).
; No transcendental instructions.
;
; Left out because QEMU 7.2 (the reference) gets them wrong:
; - C1 as the "rounded up" indicator after an inexact result (QEMU leaves
;   it 0), so status words after arithmetic are masked with 0xB8FF (C0,
;   C2 and C3 are undefined there anyway; QEMU sets C2 after FSQRT of a
;   negative number);
; - stack overflow and underflow (IE+SF, C1): QEMU does not detect them,
;   a ninth FLD just overwrites the register, no SF/IE;
; - DE (denormal operand) on loading a denormal single or double;
; - #MF on a waiting x87 instruction other than FWAIT (e.g. FLD1 with an
;   unmasked exception pending): QEMU only checks in FWAIT;
; - FCOMI/FUCOMI clearing OF, SF and AF: QEMU leaves them unchanged;
; - C1 after FXAM of an empty register (the sign of stale contents);
; - 0.1 * 0.1 (doubles) under precision control 24 bits: QEMU returns
;   significand A3D70B00..., the exact product rounds to A3D70A00...
;   (Bochs agrees); that operation is run under the other five control
;   words only.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/pmtrap.inc"
        ROM_START

        VARN t80, 3             ; FSTP m80 target (10 bytes used)
        VAR w16                 ; FNSTCW/FNSTSW/FLDCW word
        VAR i32                 ; FISTP m32 target
        VAR mf_sw               ; status word read by the #MF handler

CR0_MP          equ 1 << 1
CR0_EM          equ 1 << 2
CR0_TS          equ 1 << 3
CR0_NE          equ 1 << 5

SW_MASK         equ 0xB8FF  ; status word without C3 C2 C1 C0
CC_MASK         equ 0x4700  ; C3 C2 C1 C0

OP_ADD          equ 0
OP_SUB          equ 1
OP_MUL          equ 2
OP_DIV          equ 3
OP_SQRT         equ 4
OP_RNDINT       equ 5
OP_FIST         equ 6

; FLDCW with an immediate control word
%macro SETCW 1
        mov word [w16], %1
        fldcw [w16]
%endmacro

; ARITH "name", op, a, b[, n]: the operation on doubles a (and b) under
; each control word of cw_list (the first n), one line per control word.
%macro ARITH 4-5 CW_COUNT
        jmp %%go
%%name: db %1, 0
%%go:   mov edx, LIN(%%name)
        mov ebp, %5
        mov ebx, %2
        mov esi, LIN(%3)
        mov edi, LIN(%4)
        call arith
%endmacro

; ========================================================== real mode
start:
        RM_INIT
        POST 0x01
        PUTS "x87: start in real mode", 10
        PMT_ENTER gdt_template, GDT_SIZE, pm_entry

pm_entry:
        call pmt_setup
        mov eax, 16                     ; #MF: read the status word first
        mov ebx, LIN(h_mf)
        mov dl, ACC_INTGATE32
        call set_gate
        mov eax, cr0
        and eax, ~(CR0_EM | CR0_TS)
        or eax, CR0_NE | CR0_MP
        mov cr0, eax
        POST 0x02
        PUTS "x87: 32-bit protected mode", 10

; ------------------------------------------------------------- FNINIT
        fninit
        mov word [w16], 0xFFFF
        fnstcw [w16]
        PUTS "fninit: cw="
        HEX16 [w16]
        fnstsw ax
        PUTS " sw="
        HEX16 eax
        PUTS 10

; ---------------------------------------------------------- constants
        POST 0x03
        fld1
        PUTS "fld1:"
        call print_st0_sw
        PUTS "fldz:"
        fldz
        call print_st0_sw
        xor ecx, ecx
.pi:    fninit
        mov eax, ecx
        shl eax, 10
        or eax, 0x037F
        mov [w16], ax
        fldcw [w16]
        fldpi
        PUTS "fldpi: rc="
        HEX8 ecx
        call print_st0_sw
        inc ecx
        cmp ecx, 4
        jb .pi

; --------------------------------------------------------- arithmetic
        POST 0x04
        ARITH "div-1-3", OP_DIV, d_one, d_three
        ARITH "div-2-3", OP_DIV, d_two, d_three
        ARITH "div-m2-3", OP_DIV, d_mtwo, d_three
        ARITH "add-1-2e-70", OP_ADD, d_one, d_2em70
        ARITH "sub-1-2e-70", OP_SUB, d_one, d_2em70
        ARITH "add-m1-m2e-70", OP_ADD, d_mone, d_m2em70
        ARITH "mul-0.1-0.1", OP_MUL, d_tenth, d_tenth, CW_COUNT - 1  ; no PC 24
        ARITH "mul-big-big", OP_MUL, d_big, d_big
        ARITH "div-minnorm-3", OP_DIV, d_minnorm, d_three
        ARITH "div-1e-300-1e300", OP_DIV, d_small, d_big
        ARITH "sqrt-2", OP_SQRT, d_two, d_two
        ARITH "frndint-2.5", OP_RNDINT, d_2p5, d_2p5
        ARITH "frndint-m2.5", OP_RNDINT, d_m2p5, d_m2p5
        ARITH "frndint-3.5", OP_RNDINT, d_3p5, d_3p5
        ARITH "fist-2.5", OP_FIST, d_2p5, d_2p5
        ARITH "fist-m2.5", OP_FIST, d_m2p5, d_m2p5

; --------------------------------------------------------- comparisons
        POST 0x05
        mov esi, LIN(d_one)
        mov edi, LIN(d_two)
        PUTS "cmp-1-2:"
        call compare
        mov esi, LIN(d_two)
        mov edi, LIN(d_one)
        PUTS "cmp-2-1:"
        call compare
        mov esi, LIN(d_one)
        mov edi, LIN(d_one)
        PUTS "cmp-1-1:"
        call compare
        mov esi, LIN(d_one)
        mov edi, LIN(d_qnan)
        PUTS "cmp-1-qnan:"
        call compare
        mov esi, LIN(d_mzero)
        mov edi, LIN(d_zero)
        PUTS "cmp-m0-0:"
        call compare

; --------------------------------------------------------------- FXAM
        POST 0x06
        fninit
        fxam
        PUTS "fxam-empty:"
        mov edx, CC_MASK & ~0x0200      ; C1: sign of stale register contents
        call print_cc
        mov edx, CC_MASK
        mov esi, LIN(t_zero)
        PUTS "fxam-zero:"
        call xam
        mov esi, LIN(t_denorm)
        PUTS "fxam-denormal:"
        call xam
        mov esi, LIN(t_one)
        PUTS "fxam-normal:"
        call xam
        mov esi, LIN(t_mone)
        PUTS "fxam-neg-normal:"
        call xam
        mov esi, LIN(t_inf)
        PUTS "fxam-inf:"
        call xam
        mov esi, LIN(t_qnan)
        PUTS "fxam-nan:"
        call xam
        mov esi, LIN(t_unnormal)
        PUTS "fxam-unsupported:"
        call xam

; --------------------------------------------------- masked exceptions
        POST 0x07
        fninit
        fld1
        fdiv dword [LIN(f_zero)]
        PUTS "masked-zdiv:"
        call print_st0_sw

        fninit
        fldz
        fdiv dword [LIN(f_zero)]
        PUTS "masked-0div0:"
        call print_st0_sw

        fninit
        fld tword [LIN(t_huge)]
        fmul st0, st0
        PUTS "masked-overflow:"
        call print_st0_sw

        fninit
        fld tword [LIN(t_minnorm)]
        fmul st0, st0
        PUTS "masked-underflow:"
        call print_st0_sw

        fninit
        fld tword [LIN(t_minnorm)]
        fmul dword [LIN(f_half)]        ; exact denormal: no UE when masked
        PUTS "masked-exact-denormal:"
        call print_st0_sw

        fninit
        fld1
        fdiv dword [LIN(f_three)]
        PUTS "masked-precision:"
        call print_st0_sw

        fninit
        fld1
        fsqrt
        fchs
        fsqrt
        PUTS "masked-sqrt-neg:"
        call print_st0_sw

; ---------------------------------------------- unmasked: #MF on FWAIT
        POST 0x08
        fninit
        SETCW 0x037B                    ; ZM clear
        fldz
        fld1
        mov dword [mf_sw], 0xFFFFFFFF
        fdiv st0, st1                   ; sets ZE, ES and B; no fault yet
        fnstsw ax
        PUTS "unmasked-zdiv: sw="
        HEX16 eax
        PUTS 10
        TRY "unmasked-zdiv-fwait"
        FAULTING
        fwait
        CATCH_SILENT
        call print_fault_nonl
        PUTS " handler-sw="
        HEX16 [mf_sw]
        fnclex
        fnstsw ax
        PUTS " after-fnclex-sw="
        HEX16 eax
        PUTS 10
        TRY "fwait-after-fnclex"
        fwait
        CATCH

        fninit

; ------------------------------------------------------------- #NM
        POST 0x09
        mov eax, cr0
        or eax, CR0_EM
        mov cr0, eax
        TRY "em-fld1"
        FAULTING
        fld1
        CATCH
        TRY "em-fwait"
        fwait
        CATCH
        mov eax, cr0
        and eax, ~CR0_EM
        or eax, CR0_TS
        mov cr0, eax
        TRY "ts-fld1"
        FAULTING
        fld1
        CATCH
        TRY "ts-fnstsw"
        FAULTING
        fnstsw ax
        CATCH
        TRY "ts-mp-fwait"
        FAULTING
        fwait
        CATCH
        mov eax, cr0
        and eax, ~CR0_MP
        mov cr0, eax
        TRY "ts-nomp-fwait"
        fwait
        CATCH
        clts
        mov eax, cr0
        or eax, CR0_MP
        mov cr0, eax
        TRY "clts-fld1"
        fld1
        CATCH

        POST 0x0A
        PUTS "x87: done", 10
        EXIT 0

; ------------------------------------------------------------ helpers

; " EEEE MMMMMMMMMMMMMMMM" from FSTP m80 (pops ST(0))
print_st0_nosw:
        fstp tword [t80]
        PUTC ' '
        HEX16 [t80 + 8]
        PUTC ' '
        HEX32 [t80 + 4]
        HEX32 [t80]
        ret

; " sw=SSSS EEEE MMMMMMMMMMMMMMMM" and a newline (status word taken first)
print_st0_sw:
        push eax
        fnstsw ax
        and eax, SW_MASK
        PUTS " sw="
        HEX16 eax
        call print_st0_nosw
        PUTS 10
        pop eax
        ret

; " cc=CCCC" (status word & EDX) and a newline
print_cc:
        push eax
        fnstsw ax
        and eax, edx
        PUTS " cc="
        HEX16 eax
        PUTS 10
        pop eax
        ret

; FXAM of the m80 at ESI
xam:
        fninit
        fld tword [esi]
        fxam
        call print_cc
        ret

; Compare doubles a=[ESI], b=[EDI]: FCOM, FCOMI and FUCOMI with ST(0)=a,
; ST(1)=b; status words (FNCLEX before each) and EFLAGS & 0x45.
compare:
        push eax
        fninit
        fld qword [edi]
        fld qword [esi]
        fcom st1
        fnstsw ax
        PUTS " fcom-sw="
        HEX16 eax
        fnclex
        mov eax, 0x45                   ; preset ZF PF CF
        push eax
        popfd
        fcomi st0, st1
        pushfd
        pop eax
        and eax, 0x45
        PUTS " fcomi-fl="
        HEX16 eax
        fnstsw ax
        PUTS " sw="
        HEX16 eax
        fnclex
        xor eax, eax
        push eax
        popfd
        fucomi st0, st1
        pushfd
        pop eax
        and eax, 0x45
        PUTS " fucomi-fl="
        HEX16 eax
        fnstsw ax
        PUTS " sw="
        HEX16 eax
        PUTS 10
        fninit
        pop eax
        ret

; The operation EBX on doubles [ESI] (and [EDI]) once for each of the
; first EBP control words in cw_list; EDX = name.  Prints "name: cw=CCCC sw=SSSS result".
arith:
        pushad
        xor ecx, ecx
.each:  push esi
        mov esi, edx
        call pm_puts
        pop esi
        fninit
        mov ax, [cs:LIN(cw_list) + ecx*2]
        mov [w16], ax
        fldcw [w16]
        PUTS ": cw="
        HEX16 eax
        fld qword [esi]
        cmp ebx, OP_ADD
        jne .n0
        fadd qword [edi]
.n0:    cmp ebx, OP_SUB
        jne .n1
        fsub qword [edi]
.n1:    cmp ebx, OP_MUL
        jne .n2
        fmul qword [edi]
.n2:    cmp ebx, OP_DIV
        jne .n3
        fdiv qword [edi]
.n3:    cmp ebx, OP_SQRT
        jne .n4
        fsqrt
.n4:    cmp ebx, OP_RNDINT
        jne .n5
        frndint
.n5:    cmp ebx, OP_FIST
        jne .n6
        mov dword [i32], 0x55555555
        fistp dword [i32]
        fnstsw ax
        and eax, SW_MASK
        PUTS " sw="
        HEX16 eax
        PUTS " int="
        HEX32 [i32]
        PUTS 10
        jmp .next
.n6:    call print_st0_sw
.next:  inc ecx
        cmp ecx, ebp
        jb .each
        popad
        ret

; #MF: record the status word, then the common recording handler.
h_mf:
        fnstsw [ss:mf_sw]
        jmp isr_stubs + 16 * 16

; ------------------------------------------------------------- tables
cw_list:
        dw 0x037F, 0x077F, 0x0B7F, 0x0F7F       ; RC 0..3, PC 64 bits
        dw 0x027F, 0x007F                       ; PC 53 and 24 bits, RC 0
CW_COUNT        equ ($ - cw_list) / 2

        align 8
d_one:          dq 0x3FF0000000000000
d_mone:         dq 0xBFF0000000000000
d_two:          dq 0x4000000000000000
d_mtwo:         dq 0xC000000000000000
d_three:        dq 0x4008000000000000
d_2em70:        dq 0x3B90000000000000           ; 2^-70
d_m2em70:       dq 0xBB90000000000000
d_tenth:        dq 0x3FB999999999999A           ; 0.1
d_big:          dq 0x7E37E43C8800759C           ; 1e300
d_small:        dq 0x01A56E1FC2F8F359           ; 1e-300
d_minnorm:      dq 0x0010000000000000           ; smallest normal
d_2p5:          dq 0x4004000000000000
d_m2p5:         dq 0xC004000000000000
d_3p5:          dq 0x400C000000000000
d_qnan:         dq 0x7FF8000000000000
d_zero:         dq 0x0000000000000000
d_mzero:        dq 0x8000000000000000

f_zero:         dd 0x00000000
f_half:         dd 0x3F000000
f_three:        dd 0x40400000

; m80: significand (8 bytes), sign and exponent (2 bytes)
%macro T80 2
        dq %2
        dw %1
%endmacro
t_zero:         T80 0x0000, 0x0000000000000000
t_denorm:       T80 0x0000, 0x0000000000000001
t_one:          T80 0x3FFF, 0x8000000000000000
t_mone:         T80 0xBFFF, 0x8000000000000000
t_inf:          T80 0x7FFF, 0x8000000000000000
t_qnan:         T80 0x7FFF, 0xC000000000000000
t_unnormal:     T80 0x3FFF, 0x4000000000000000  ; J bit clear
t_huge:         T80 0x7FFE, 0xFFFFFFFFFFFFFFFF
t_minnorm:      T80 0x0001, 0x8000000000000000

        align 8
gdt_template:
        PMT_BASE_GDT
GDT_SIZE        equ $ - gdt_template

        PMT_ROUTINES
        bits 16
        ROM_END

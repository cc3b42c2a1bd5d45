; realmode.asm - real-mode behaviour with printed results.
;
; IVT delivery through INT n / IRET (also with a relocated IVT via LIDT),
; the exceptions real mode can raise (#DE, #DB single-step, INT3, INTO,
; #BR, #UD) and where their pushed IP points, 16-bit address wrap-around,
; string instructions with REP and both directions, PUSHA/POPA,
; ENTER/LEAVE with nesting, and the BCD adjust instructions (only the flags
; the SDM defines for each are shown).
;
; Faults are caught like in pm_checks: TRY "name" arms a resume address,
; FAULTING marks the instruction expected to fault, CATCH prints
; "vector=NN ip=insn" (IP points at the instruction: a fault), "ip=next"
; (IP after it: a trap) or the raw IP, or "no fault".
;
; Not covered because QEMU (the reference) does not model it: a word access
; at offset 0xFFFF raising #GP (vector 13).  QEMU does not check real-mode
; segment limits, so the wrap checks here only use 16-bit offset arithmetic.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

VARS            equ 0x5000
ALT_IVT         equ 0x8000      ; second IVT for the LIDT check
BUF_SEG         equ 0x1000      ; string buffers at 0x10000
SRC             equ 0x0000      ; offsets in BUF_SEG
DST             equ 0x1000
WRAP_SEG        equ 0x2000      ; segment for the wrap-around checks

%assign VAR_NEXT VARS
%macro VAR 1
%1      equ VAR_NEXT
%assign VAR_NEXT VAR_NEXT + 4
%endmacro
        VAR fault_resume        ; 0 = no fault expected
        VAR fault_at            ; FAULTING instruction, or -1
        VAR fault_next          ; the instruction after it
        VAR fault_vec           ; -1 = no fault happened
        VAR fault_ip
        VAR fault_cs
        VAR frame_ip            ; frame seen by the INT 0x80 handler
        VAR frame_cs
        VAR frame_fl
        VAR handler_fl
        VAR step_count          ; single-step traps taken
        VAR step_fl             ; FLAGS inside the #DB handler
        VAR step_ip             ; IP of the last trap
        VAR saved_sp

; ------------------------------------------------------------ check macros
%macro TRY 1
        PUTS %1, ": "
  %push try
        mov word [ss:fault_vec], -1
        mov word [ss:fault_at], -1
        mov word [ss:fault_resume], OFS(%$resume)
%endmacro

%macro FAULTING 0
        mov word [ss:fault_at], OFS(%$at)
        mov word [ss:fault_next], OFS(%$next)
%$at:
%endmacro

%macro CATCH 0
%$next:
        mov word [ss:fault_resume], 0
%$resume:
        call print_fault
  %pop
%endmacro

; Print the flags selected by mask %1 from the FLAGS image in AX, as
; " flags=XXXX" (used for the BCD instructions' defined flags).
%macro PUT_FLAGS 1
        and eax, %1
        PUTS " flags="
        HEX16 eax
%endmacro

FL_CF   equ 0x0001
FL_PF   equ 0x0004
FL_AF   equ 0x0010
FL_ZF   equ 0x0040
FL_SF   equ 0x0080
FL_TF   equ 0x0100
FL_OF   equ 0x0800
DAA_FLAGS equ FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF     ; OF undefined
AAA_FLAGS equ FL_CF | FL_AF                             ; others undefined
AAM_FLAGS equ FL_SF | FL_ZF | FL_PF                     ; others undefined

; ================================================================ start
start:
        RM_INIT
        POST 0x01
        PUTS "realmode: start, CS=F000 DS=ES=SS=0000", 10
        mov word [fault_resume], 0

        ; IVT entries 0-31 -> the 8-byte stubs, 0x80 -> the INT test service.
        xor bx, bx
        mov ax, OFS(rm_stubs)
.ivt:   mov [bx], ax
        mov word [bx + 2], ROMSEG
        add ax, 8
        add bx, 4
        cmp bx, 32 * 4
        jb .ivt
        mov word [0x80 * 4], OFS(int80_handler)
        mov word [0x80 * 4 + 2], ROMSEG

; ------------------------------------------------------- INT n and IRET
        push word 0x08D7                ; OF SF ZF AF PF CF (IF, TF clear)
        popf
        mov ax, 0x1234
        int 0x80
.int_next:
        pushf
        pop dx
        PUTS "int80: ax="
        HEX16 eax
        PUTS " pushed-ip="
        mov ax, [frame_ip]
        cmp ax, OFS(.int_next)
        call ok_or_hex
        PUTS " pushed-cs="
        HEX16 [frame_cs]
        PUTS " pushed-flags="
        HEX16 [frame_fl]
        PUTS " handler-flags="
        HEX16 [handler_fl]
        PUTS " flags-after-iret="
        HEX16 edx
        PUTS 10

        ; LIDT moves the real-mode IVT on 386+.
        mov di, ALT_IVT
        mov cx, 0x100 * 2
        xor ax, ax
        rep stosw
        mov word [ALT_IVT + 0x80 * 4], OFS(int80_alt)
        mov word [ALT_IVT + 0x80 * 4 + 2], ROMSEG
        o32 lidt [cs:OFS(alt_idtr)]
        mov ax, 0x1234
        int 0x80
        o32 lidt [cs:OFS(ivt_idtr)]
        PUTS "int80-relocated-ivt: ax="
        HEX16 eax
        PUTS 10

; ------------------------------------------------------------ exceptions
        TRY "de-div-by-zero"
        mov ax, 100
        xor bl, bl
        FAULTING
        div bl
        CATCH

        TRY "de-div-quotient-overflow"
        mov ax, 0x1000
        mov bl, 2
        FAULTING
        div bl
        CATCH

        TRY "de-idiv-overflow"
        mov ax, 0x8000
        cwd
        mov bx, -1
        FAULTING
        idiv bx
        CATCH

        TRY "de-aam-zero"
        mov ax, 0x0042
        FAULTING
        db 0xD4, 0x00                   ; aam 0
        CATCH

        TRY "ok-div"
        mov ax, 1000
        mov bl, 7
        div bl
        CATCH
        PUTS "  div 1000/7: ax="
        HEX16 eax
        PUTS 10

        TRY "br-bound-above"
        mov ax, 20
        FAULTING
        bound ax, [cs:bounds]
        CATCH

        TRY "br-bound-below"
        mov ax, -6
        FAULTING
        bound ax, [cs:bounds]
        CATCH

        TRY "ok-bound-inclusive"
        mov ax, 10
        bound ax, [cs:bounds]
        CATCH

        TRY "into-overflow"             ; a trap: IP after INTO
        mov al, 0x7F
        add al, 1                       ; OF = 1
        FAULTING
        into
        CATCH

        TRY "ok-into-no-overflow"
        mov al, 0x7E
        add al, 1                       ; OF = 0
        into
        CATCH

        TRY "int3"
        FAULTING
        int3
        CATCH

        TRY "ud-ud2"
        FAULTING
        ud2
        CATCH

        TRY "ud-arpl-in-real-mode"
        FAULTING
        arpl ax, bx
        CATCH

; ----------------------------------------------------------- single step
        ; TF set by POPF: the trap comes after the next instruction; every
        ; instruction then traps, including the POPF that clears TF.
        mov word [4], OFS(db_handler)
        mov word [step_count], 0
        mov word [step_fl], 0
        pushf
        pop ax
        or ax, FL_TF
        push ax
        xor cx, cx
        popf                            ; TF = 1 from here
        nop                             ; trap 1
        mov cx, 5                       ; trap 2
        add cx, 3                       ; trap 3
        pushf                           ; trap 4
        pop ax                          ; trap 5
        and ax, ~FL_TF                  ; trap 6
        push ax                         ; trap 7
        popf                            ; trap 8 (TF was 1 when it began)
.step_last:
        mov word [4], OFS(rm_stubs) + 8
        PUTS "single-step: traps="
        HEX16 [step_count]
        PUTS " cx="
        HEX16 ecx
        PUTS " last-ip="
        mov ax, [step_ip]
        cmp ax, OFS(.step_last)
        call ok_or_hex
        PUTS " handler-tf="
        mov ax, [step_fl]
        shr ax, 8
        and al, 1
        add al, '0'
        PUTC al
        PUTS 10

; ------------------------------------------------------- 16-bit wrap-around
        mov ax, WRAP_SEG
        mov ds, ax
        mov byte [0x0000], 0xA0
        mov byte [0x0001], 0xA1
        mov byte [0xFFFF], 0xAF
        mov bx, 0xFFFF
        mov al, [bx + 2]                ; offset (0xFFFF + 2) & 0xFFFF = 1
        PUTS "wrap-effective-address: [bx+2] with bx=FFFF -> "
        HEX8 eax
        PUTS 10
        mov si, 0xFFFF
        cld
        lodsb
        mov dl, al
        lodsb
        mov dh, al
        PUTS "wrap-lodsb: bytes="
        HEX8 edx                        ; from DS:FFFF
        PUTC ','
        mov al, dh
        HEX8 eax                        ; from DS:0000
        PUTS " si="
        HEX16 esi
        PUTS 10
        xor ax, ax
        mov ds, ax
        mov [saved_sp], sp
        mov ax, WRAP_SEG
        mov ss, ax
        xor sp, sp
        push word 0x5A5A                ; SP 0 -> FFFE
        mov dx, sp
        mov ax, [ss:0xFFFE]
        xor cx, cx
        mov ss, cx
        mov sp, [saved_sp]
        PUTS "wrap-push-sp0: sp="
        HEX16 edx
        PUTS " [ss:FFFE]="
        HEX16 eax
        PUTS 10

; ----------------------------------------------------- string instructions
        mov ax, BUF_SEG
        mov ds, ax
        mov es, ax
        ; SRC[i] = i * 7 + 3, i = 0..63
        xor di, di
        mov al, 3
        mov cx, 64
.fill:  stosb
        add al, 7
        loop .fill

        cld
        mov si, SRC
        mov di, DST
        mov cx, 64
        rep movsb
        PUTS "rep-movsb-forward:"
        call print_string_state
        mov si, DST
        mov cx, 64
        call print_checksum

        ; Backwards word copy: the last word first.
        std
        mov si, SRC + 62
        mov di, DST + 0x100 + 62
        mov cx, 32
        rep movsw
        cld
        PUTS "rep-movsw-backward:"
        call print_string_state
        mov si, DST + 0x100
        mov cx, 64
        call print_checksum

        mov di, DST + 0x200
        mov al, 0xA5
        mov cx, 16
        rep stosb
        PUTS "rep-stosb:"
        call print_string_state
        mov si, DST + 0x200
        mov cx, 16
        call print_checksum

        ; Count 0 does nothing at all.
        mov si, SRC
        mov di, DST + 0x300
        xor cx, cx
        rep movsb
        PUTS "rep-movsb-count0:"
        call print_string_state
        PUTS 10

        ; REPE CMPSB stops after the first mismatch (index 37).
        xor byte [DST + 37], 0xFF
        mov si, SRC
        mov di, DST
        mov cx, 64
        repe cmpsb
        pushf
        pop dx
        PUTS "repe-cmpsb:"
        call print_string_state
        PUTS " zf="
        test dx, FL_ZF
        setnz al
        add al, '0'
        PUTC al
        PUTS 10

        ; REPNE SCASB backwards for SRC[10] = 10*7+3 = 0x49.
        std
        mov di, SRC + 63
        mov al, 0x49
        mov cx, 64
        repne scasb
        cld
        PUTS "repne-scasb-backward:"
        call print_string_state
        PUTS 10

        std
        mov si, SRC + 20
        lodsw
        mov dx, ax
        lodsw
        cld
        PUTS "lodsw-backward: words="
        HEX16 edx
        PUTC ','
        HEX16 eax
        PUTS " si="
        HEX16 esi
        PUTS 10

        xor ax, ax
        mov ds, ax
        mov es, ax

; ------------------------------------------------------------ PUSHA/POPA
        mov [saved_sp], sp
        mov ax, 0x1111
        mov cx, 0x2222
        mov dx, 0x3333
        mov bx, 0x4444
        mov bp, 0x5555
        mov si, 0x6666
        mov di, 0x7777
        pusha
        mov bp, sp
        PUTS "pusha: stack="
        mov si, 14
.pa:    HEX16 [bp + si]                 ; AX CX DX BX SP BP SI DI
        PUTC ' '
        sub si, 2
        jnc .pa
        mov ax, [saved_sp]
        cmp ax, [bp + 6]
        PUTS "sp-slot-is-old-sp="
        call yes_no
        PUTS 10
        mov word [bp + 6], 0xDEAD       ; POPA must skip this slot
        xor ax, ax
        xor bx, bx
        xor cx, cx
        xor dx, dx
        xor si, si
        xor di, di
        xor bp, bp
        popa
        push bp
        mov bp, sp
        add bp, 2
        PUTS "popa: ax="
        HEX16 eax
        PUTS " cx="
        HEX16 ecx
        PUTS " dx="
        HEX16 edx
        PUTS " bx="
        HEX16 ebx
        PUTS " bp="
        pop ax
        HEX16 eax
        PUTS " si="
        HEX16 esi
        PUTS " di="
        HEX16 edi
        PUTS " sp-restored="
        cmp sp, [saved_sp]
        call yes_no
        PUTS 10

; ------------------------------------------------------------ ENTER/LEAVE
        ; A fake outer frame: BP = 0x6800 with two saved frame pointers
        ; below it, which ENTER with level 3 copies.
        mov word [0x67FE], 0xAAAA
        mov word [0x67FC], 0xBBBB
        mov [saved_sp], sp
        mov bp, 0x6800
        enter 4, 3
        mov dx, bp
        mov cx, sp
        PUTS "enter-4-3: bp="
        HEX16 edx
        PUTS " sp="
        HEX16 ecx
        PUTS " frame="
        mov si, dx
        mov ax, [si]
        HEX16 eax                       ; old BP
        PUTC ','
        mov ax, [si - 2]
        HEX16 eax                       ; copied [old BP - 2]
        PUTC ','
        mov ax, [si - 4]
        HEX16 eax                       ; copied [old BP - 4]
        PUTC ','
        mov ax, [si - 6]
        HEX16 eax                       ; the new frame pointer
        PUTS 10
        leave
        PUTS "leave: bp="
        HEX16 ebp
        PUTS " sp-restored="
        cmp sp, [saved_sp]
        call yes_no
        PUTS 10

        mov bp, 0x1234
        enter 6, 0
        mov dx, bp
        mov cx, sp
        mov ax, [bp]
        leave
        PUTS "enter-6-0: bp="
        HEX16 edx
        PUTS " sp="
        HEX16 ecx
        PUTS " saved-bp="
        HEX16 eax
        PUTS " after-leave-bp="
        HEX16 ebp
        PUTS 10

; --------------------------------------------------------------------- BCD
        mov ax, 0x0079
        add al, 0x35
        daa
        PUTS "daa 79+35:"
        call print_bcd_daa
        mov ax, 0x0099
        add al, 0x01
        daa
        PUTS "daa 99+01:"
        call print_bcd_daa
        mov ax, 0x0038
        add al, 0x45
        daa
        PUTS "daa 38+45:"
        call print_bcd_daa
        mov ax, 0x0035
        sub al, 0x47
        das
        PUTS "das 35-47:"
        call print_bcd_daa
        mov ax, 0x0083
        sub al, 0x38
        das
        PUTS "das 83-38:"
        call print_bcd_daa

        mov ax, 0x0009
        add al, 0x08
        aaa
        PUTS "aaa 09+08:"
        call print_bcd_aaa
        mov ax, 0x0005
        add al, 0x03
        aaa
        PUTS "aaa 05+03:"
        call print_bcd_aaa
        mov ax, 0x0203
        sub al, 0x05
        aas
        PUTS "aas 0203-05:"
        call print_bcd_aaa
        mov ax, 0x0108
        sub al, 0x02
        aas
        PUTS "aas 0108-02:"
        call print_bcd_aaa

        mov ax, 0xFF00 + 79             ; AH is overwritten
        aam
        PUTS "aam 79:"
        call print_bcd_aam
        mov ax, 0x004F
        db 0xD4, 0x10                   ; aam 16
        PUTS "aam16 4F:"
        call print_bcd_aam
        mov ax, 0x0709
        aad
        PUTS "aad 0709:"
        call print_bcd_aam
        mov ax, 0x0403
        db 0xD5, 0x10                   ; aad 16
        PUTS "aad16 0403:"
        call print_bcd_aam
        mov ax, 0x0000
        aam
        PUTS "aam 00:"
        call print_bcd_aam

        POST 0x02
        PUTS "realmode: done", 10
        EXIT 0

; ============================================================ subroutines
; " ax=XXXX flags=XXXX" with the flags each group defines (FLAGS saved
; first: the print macros preserve them, but PUTS would run before).
print_bcd_daa:
        pushf
        PUTS " ax="
        HEX16 eax
        pop ax
        PUT_FLAGS DAA_FLAGS
        PUTS 10
        ret
print_bcd_aaa:
        pushf
        PUTS " ax="
        HEX16 eax
        pop ax
        PUT_FLAGS AAA_FLAGS
        PUTS 10
        ret
print_bcd_aam:
        pushf
        PUTS " ax="
        HEX16 eax
        pop ax
        PUT_FLAGS AAM_FLAGS
        PUTS 10
        ret

; " si=XXXX di=XXXX cx=XXXX"
print_string_state:
        PUTS " si="
        HEX16 esi
        PUTS " di="
        HEX16 edi
        PUTS " cx="
        HEX16 ecx
        ret

; " sum=XXXX" over CX bytes at DS:SI (sum = sum * 31 + byte, 16 bits),
; then a newline.
print_checksum:
        push ax
        push dx
        push si
        xor dx, dx
.b:     lodsb
        mov ah, 0
        imul dx, dx, 31
        add dx, ax
        loop .b
        PUTS " sum="
        HEX16 edx
        PUTS 10
        pop si
        pop dx
        pop ax
        ret

; After a compare: "yes" if equal, else "no".
yes_no:
        jne .no
        PUTS "yes"
        ret
.no:    PUTS "no"
        ret

; After "cmp ax, expected": "ok" if equal, else AX in hex.
ok_or_hex:
        jne .hex
        PUTS "ok"
        ret
.hex:   HEX16 eax
        ret

; Print what the exception stubs recorded (see CATCH).
print_fault:
        cmp word [ss:fault_vec], -1
        jne .fault
        PUTS "no fault", 10
        ret
.fault: push ax
        PUTS "vector="
        HEX8 [ss:fault_vec]
        cmp word [ss:fault_at], -1
        je .done
        PUTS " ip="
        mov ax, [ss:fault_ip]
        cmp ax, [ss:fault_at]
        je .insn
        cmp ax, [ss:fault_next]
        je .next
        HEX16 eax
        jmp .done
.insn:  PUTS "insn"
        jmp .done
.next:  PUTS "next"
.done:  PUTS 10
        pop ax
        ret

; INT 0x80: AX = AX * 2 + 1, record the frame and the handler's FLAGS.
int80_handler:
        push bp
        mov bp, sp
        push ax
        pushf
        pop ax
        mov [ss:handler_fl], ax
        mov ax, [bp + 2]
        mov [ss:frame_ip], ax
        mov ax, [bp + 4]
        mov [ss:frame_cs], ax
        mov ax, [bp + 6]
        mov [ss:frame_fl], ax
        pop ax
        pop bp
        shl ax, 1
        inc ax
        iret

; INT 0x80 through the relocated IVT: AX = AX ^ 0xFFFF.
int80_alt:
        not ax
        iret

; #DB (single step): count, remember the IP and our own FLAGS.
db_handler:
        push bp
        mov bp, sp
        push ax
        inc word [ss:step_count]
        mov ax, [bp + 2]
        mov [ss:step_ip], ax
        pushf
        pop ax
        mov [ss:step_fl], ax
        pop ax
        pop bp
        iret

; Exception stubs 0-31, 8 bytes each: push the vector, go to rm_common.
        align 8
rm_stubs:
%assign v 0
%rep 32
        push word v
        jmp near rm_common
        align 8, db 0x90
%assign v v + 1
%endrep

; [bp+2] vector, [bp+4] IP, [bp+6] CS, [bp+8] FLAGS.
rm_common:
        push bp
        mov bp, sp
        push ax
        mov ax, [bp + 2]
        mov [ss:fault_vec], ax
        mov ax, [bp + 4]
        mov [ss:fault_ip], ax
        mov ax, [bp + 6]
        mov [ss:fault_cs], ax
        mov ax, [ss:fault_resume]
        test ax, ax
        jz .unexpected
        mov [bp + 4], ax                ; resume there
        mov word [ss:fault_resume], 0
        pop ax
        pop bp
        add sp, 2
        iret
.unexpected:
        PUTS 10, "UNEXPECTED exception vector="
        HEX8 [ss:fault_vec]
        PUTS " cs:ip="
        HEX16 [ss:fault_cs]
        PUTC ':'
        HEX16 [ss:fault_ip]
        PUTS 10
        EXIT 1

bounds:         dw -5, 10               ; BOUND range, inclusive
alt_idtr:       dw 0x3FF
                dd ALT_IVT
ivt_idtr:       dw 0x3FF
                dd 0

        ROM_END

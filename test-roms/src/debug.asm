; debug.asm - single-step and debug-register breakpoints with printed
; results.
;
; Flat 32-bit protected mode, ring 0.  A #DB handler records, for each
; debug exception, the pushed EIP, the pushed EFLAGS and DR6, then clears
; DR6 (its bits are sticky) and returns.  Checks:
; - EFLAGS.TF single-step over a short sequence: the number of traps, the
;   EIP of each (as an offset from the start of the sequence) and DR6.BS;
;   the trap after a POPF that clears TF; MOV SS holding off the trap for
;   one instruction; REP MOVSB (a trap per iteration);
; - DR0-DR3 with DR7: an instruction breakpoint (a fault: EIP = the
;   breakpoint, DR6.B0, RF=0 pushed; the handler sets RF in the pushed
;   EFLAGS so the IRETD resumes without a second hit), a data-write
;   breakpoint (a trap after the writing instruction, DR6.B1) that a read
;   does not trigger, a read/write breakpoint triggered by a read and by
;   a read-modify-write, breakpoint lengths 1, 2 and 4 probed with byte
;   and word reads around the address;
; - the read-back values of DR6 and DR7 after writing them.
; DR6 is shown masked with 0xE00F (BT BS BD and B3-B0).
;
; Left out because QEMU 7.2 (the reference) gets them wrong:
; - two data breakpoints matched by one access: QEMU sets only the B bit
;   of the first matching breakpoint in DR6 (the SDM sets each one whose
;   condition was met);
; - DR7.GD (general detect): QEMU ignores it, a MOV from a debug register
;   does not raise #DB and GD stays set.
; - the RF bit pushed for a trap after a non-final REP iteration (1 per the
;   SDM): the single-step checks print EIP and DR6 only.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/pmtrap.inc"
        ROM_START

DB_MAX          equ 16          ; hits recorded; more = runaway, stop it
DR6_MASK        equ 0x0000E00F
WATCH           equ 0x6000      ; dwords watched by data breakpoints

        VAR db_count
        VAR db_set_rf           ; 1: set RF in the pushed EFLAGS
        VARN db_eip, DB_MAX
        VARN db_fl, DB_MAX
        VARN db_dr6, DB_MAX
        VAR seq_base            ; EIPs are printed relative to this
        VAR probe_hits          ; bit string built by the length probes

; Start recording a new check.
%macro DB_RESET 0
        mov dword [db_count], 0
        mov dword [db_set_rf], 0
%endmacro

; DRn := value, all through EAX
%macro SET_DR 2
        mov eax, %2
        mov %1, eax
%endmacro

%macro CLEAR_DRS 0
        xor eax, eax
        mov dr7, eax
        mov dr0, eax
        mov dr1, eax
        mov dr2, eax
        mov dr3, eax
        mov dr6, eax
%endmacro

; DR7 fields for breakpoint n: L bit, R/W and LEN
%define DR7_L(n)        (1 << (2 * (n)))
%define DR7_RW(n, rw)   ((rw) << (16 + 4 * (n)))
%define DR7_LEN(n, len) ((len) << (18 + 4 * (n)))
RW_EXEC         equ 0
RW_WRITE        equ 1
RW_RDWR         equ 3
LEN1            equ 0
LEN2            equ 1
LEN4            equ 3

; ========================================================== real mode
start:
        RM_INIT
        POST 0x01
        PUTS "debug: start in real mode", 10
        PMT_ENTER gdt_template, GDT_SIZE, pm_entry

pm_entry:
        call pmt_setup
        mov eax, 1                      ; #DB: the recording handler
        mov ebx, LIN(h_db)
        mov dl, ACC_INTGATE32
        call set_gate
        CLEAR_DRS
        mov dword [WATCH], 0
        mov dword [WATCH + 4], 0
        POST 0x02
        PUTS "debug: 32-bit protected mode", 10

        ; DR6/DR7 read back: fixed bits
        xor eax, eax
        mov dr6, eax
        mov eax, dr6
        PUTS "dr6-after-write-0: "
        HEX32 eax
        PUTS 10
        SET_DR dr7, DR7_L(1) | DR7_RW(1, RW_WRITE) | DR7_LEN(1, LEN4)
        mov eax, dr7
        PUTS "dr7-readback: "
        HEX32 eax
        PUTS 10
        CLEAR_DRS

; --------------------------------------------------------- TF single-step
        POST 0x03
        DB_RESET
        mov dword [seq_base], LIN(.seq1)
        pushfd
        or dword [esp], 0x100
        popfd                           ; TF=1 from the next instruction
.seq1:  nop
        mov eax, 1
        add eax, eax
        xchg eax, ecx
        pushfd
        and dword [esp], ~0x100
        popfd                           ; clears TF
        nop
        nop
        PUTS "tf-single-step:"
        call print_hits
        PUTS 10

        ; MOV SS: no trap right after it; the next instruction's trap
        ; covers both.
        DB_RESET
        mov dword [seq_base], LIN(.seq2)
        mov ebx, ss
        pushfd
        or dword [esp], 0x100
        popfd
.seq2:  nop
        mov ss, bx
        nop
        nop
        pushfd
        and dword [esp], ~0x100
        popfd
        PUTS "tf-mov-ss:"
        call print_hits
        PUTS 10

        ; REP MOVSB with ECX=3: a trap after each iteration, the first two
        ; with EIP still at the REP MOVSB.
        DB_RESET
        mov dword [seq_base], LIN(.seq3)
        mov esi, WATCH
        mov edi, WATCH + 4
        mov ecx, 3
        pushfd
        or dword [esp], 0x100
        popfd
.seq3:  rep movsb
        pushfd
        and dword [esp], ~0x100
        popfd
        PUTS "tf-rep-movsb:"
        call print_hits
        PUTS " ecx="
        HEX32 ecx
        PUTS 10

; ---------------------------------------------- instruction breakpoint
        POST 0x04
        DB_RESET
        mov dword [db_set_rf], 1
        mov dword [seq_base], LIN(.bp1)
        SET_DR dr0, LIN(.bp1)
        SET_DR dr7, DR7_L(0) | DR7_RW(0, RW_EXEC) | DR7_LEN(0, LEN1)
        xor ecx, ecx
.bp1:   inc ecx                         ; the breakpoint
        inc ecx
        CLEAR_DRS
        PUTS "bp-insn-dr0:"
        call print_hits
        call print_rf_tf
        PUTS " ecx="
        HEX32 ecx
        PUTS 10

        ; The same breakpoint reached by a JMP, on DR3.
        DB_RESET
        mov dword [db_set_rf], 1
        mov dword [seq_base], LIN(.bp2)
        SET_DR dr3, LIN(.bp2)
        SET_DR dr7, DR7_L(3) | DR7_RW(3, RW_EXEC) | DR7_LEN(3, LEN1)
        mov ecx, 0x10
        jmp .bp2
        inc ecx
.bp2:   inc ecx
        CLEAR_DRS
        PUTS "bp-insn-dr3-jmp:"
        call print_hits
        PUTS " ecx="
        HEX32 ecx
        PUTS 10

; ------------------------------------------------------ data breakpoints
        POST 0x05
        ; write-only, 4 bytes, DR1
        DB_RESET
        mov dword [seq_base], LIN(.w1)
        SET_DR dr1, WATCH
        SET_DR dr7, DR7_L(1) | DR7_RW(1, RW_WRITE) | DR7_LEN(1, LEN4)
.w1:    mov eax, [WATCH]                ; a read: no hit
        mov dword [WATCH], 0x55         ; hit, trap after it
        nop
        mov word [WATCH + 2], 0x66      ; hit
        nop
        CLEAR_DRS
        PUTS "bp-data-write-dr1:"
        call print_hits
        call print_rf_tf
        PUTS " value="
        HEX32 [WATCH]
        PUTS 10

        ; read/write, 4 bytes, DR1: a read triggers it
        DB_RESET
        mov dword [seq_base], LIN(.r1)
        SET_DR dr1, WATCH
        SET_DR dr7, DR7_L(1) | DR7_RW(1, RW_RDWR) | DR7_LEN(1, LEN4)
.r1:    mov eax, [WATCH]                ; hit
        nop
        mov [scratch], eax
        CLEAR_DRS
        PUTS "bp-data-rw-read-dr1:"
        call print_hits
        PUTS " eax="
        HEX32 [scratch]
        PUTS 10

        ; read/write with an ADD to memory (read and write in one
        ; instruction): one #DB
        DB_RESET
        mov dword [seq_base], LIN(.rmw)
        SET_DR dr2, WATCH
        SET_DR dr7, DR7_L(2) | DR7_RW(2, RW_RDWR) | DR7_LEN(2, LEN4)
.rmw:   add dword [WATCH], 0x100
        nop
        CLEAR_DRS
        PUTS "bp-data-rw-add-dr2:"
        call print_hits
        PUTS " value="
        HEX32 [WATCH]
        PUTS 10

        ; lengths: DR2 = WATCH + 4 with R/W; byte reads at WATCH+2..+9 and
        ; word reads at WATCH+3 and +7.  "1" = a #DB after that read.
        mov ebx, LEN1
        PUTS "bp-len1-probe:"
        call len_probe
        mov ebx, LEN2
        PUTS "bp-len2-probe:"
        call len_probe
        mov ebx, LEN4
        PUTS "bp-len4-probe:"
        call len_probe

        POST 0x06
        PUTS "debug: done", 10
        EXIT 0

; ========================================================== routines
; Probe breakpoint DR2 at WATCH + 4, R/W, length EBX: one digit per access.
len_probe:
        push ebx
        CLEAR_DRS
        SET_DR dr2, WATCH + 4
        shl ebx, 18 + 4 * 2
        or ebx, DR7_L(2) | DR7_RW(2, RW_RDWR)
        mov dr7, ebx
        mov esi, WATCH + 2
        PUTS " bytes="
.byte:  DB_RESET
        mov al, [esi]
        call put_hit
        inc esi
        cmp esi, WATCH + 10
        jb .byte
        PUTS " words="
        DB_RESET
        mov ax, [WATCH + 3]
        call put_hit
        DB_RESET
        mov ax, [WATCH + 7]
        call put_hit
        PUTS " dr6="
        mov eax, [db_dr6]
        and eax, DR6_MASK
        HEX8 eax
        PUTS 10
        CLEAR_DRS
        pop ebx
        ret

; '1' if a #DB was recorded since DB_RESET, else '0'
put_hit:
        cmp dword [db_count], 0
        je .no
        PUTC '1'
        ret
.no:    PUTC '0'
        ret

; " hits=N" then " +OO/DR6" for each: the EIP relative to seq_base and
; DR6 masked with DR6_MASK.
print_hits:
        push eax
        push ecx
        push esi
        PUTS " hits="
        DEC [db_count]
        mov ecx, [db_count]
        cmp ecx, DB_MAX
        jbe .n
        mov ecx, DB_MAX
.n:     xor esi, esi
.each:  cmp esi, ecx
        jae .done
        PUTS " +"
        mov eax, [db_eip + esi*4]
        sub eax, [seq_base]
        HEX8 eax
        PUTC '/'
        mov eax, [db_dr6 + esi*4]
        and eax, DR6_MASK
        HEX16 eax
        inc esi
        jmp .each
.done:  pop esi
        pop ecx
        pop eax
        ret

; " pushed-rf=N pushed-tf=N" from the first recorded #DB
print_rf_tf:
        push eax
        mov eax, [db_fl]
        shr eax, 16
        and al, 1
        add al, '0'
        PUTS " pushed-rf="
        PUTC al
        mov eax, [db_fl]
        shr eax, 8
        and al, 1
        add al, '0'
        PUTS " pushed-tf="
        PUTC al
        pop eax
        ret

; #DB: record EIP, EFLAGS and DR6, clear DR6, optionally set RF.
h_db:
        push eax
        push ebx
        mov ebx, [ss:db_count]
        inc dword [ss:db_count]
        cmp ebx, DB_MAX
        jae .runaway
        mov eax, [esp + 8]
        mov [ss:db_eip + ebx*4], eax
        mov eax, [esp + 16]
        mov [ss:db_fl + ebx*4], eax
        mov eax, dr6
        mov [ss:db_dr6 + ebx*4], eax
        xor eax, eax
        mov dr6, eax
        cmp dword [ss:db_set_rf], 0
        je .out
        or dword [esp + 16], 0x10000    ; RF
.out:   pop ebx
        pop eax
        iretd
.runaway:                               ; too many: stop TF and breakpoints
        xor eax, eax
        mov dr7, eax
        mov dr6, eax
        and dword [esp + 16], ~0x100
        jmp .out

; ------------------------------------------------------------- tables
        align 8
gdt_template:
        PMT_BASE_GDT
GDT_SIZE        equ $ - gdt_template

        PMT_ROUTINES
        bits 16
        ROM_END

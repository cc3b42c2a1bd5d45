; tasks.asm - hardware task switching with printed results.
;
; The main program runs as the task of TSS_SEL (lib/pmtrap.inc) and
; switches to other 32-bit tasks by JMP to a TSS, CALL through a task gate
; in the GDT, CALL straight to a TSS, INT n and an exception (#GP) through
; task gates in the IDT, and to a 16-bit (286) task; the called tasks come
; back by IRET (EFLAGS.NT) or JMP.  Each side prints what the switch did:
; TR, EFLAGS.NT, CR0.TS, the busy bits of the TSS descriptors (the type
; byte in the GDT: 89/8B for a 32-bit TSS, 81/83 for a 16-bit one), the
; back link, the register state the CPU saved into the old task's TSS and
; loaded from the new one.  Then the faults of invalid switches: #TS for a
; TSS limit below 0x67, #GP for a JMP to a busy TSS, #NP for a TSS that is
; not present, #TS for an IRET with NT=1 and no valid back link.
;
; "eip=ok" means a saved or pushed EIP is the one the architecture
; requires; other values that depend on the build are never printed raw.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/pmtrap.inc"
        ROM_START

; ---------------------------------------------------------------- layout
TSS_A_BASE      equ 0x3400
TSS_B_BASE      equ 0x3480
TSS_INT_BASE    equ 0x3500
TSS_GP_BASE     equ 0x3580
TSS_SMALL_BASE  equ 0x3600
TSS_NP_BASE     equ 0x3680
TSS16_BASE      equ 0x3700
STACK_A         equ 0x78000
STACK_B         equ 0x77000
STACK_INT       equ 0x76000
STACK_GP        equ 0x75000
STACK_16        equ 0x6F00      ; SP in DATA16 (base 0)

; ------------------------------------------------------------ selectors
TSS_A           equ 0x30
TSS_B           equ 0x38
TGATE_B         equ 0x40        ; task gate -> TSS_B
TSS_INT         equ 0x48        ; reached by INT VEC_TASK (IDT task gate)
TSS_SMALL       equ 0x50        ; limit 0x50 < 0x67
TSS16           equ 0x58        ; 16-bit TSS
CODE16          equ 0x60        ; 16-bit code, base 0xF0000
DATA16          equ 0x68        ; 16-bit data (B=0), base 0
TSS_GP          equ 0x70        ; #GP handler task
TSS_NP          equ 0x78        ; 32-bit TSS, not present

VEC_TASK        equ 0x40

ACC_TSS16       equ 0x81        ; available 16-bit TSS
ACC_TASKGATE    equ 0x85

; 32-bit TSS fields
T_LINK          equ 0x00
T_CR3           equ 0x1C
T_EIP           equ 0x20
T_EFLAGS        equ 0x24
T_EAX           equ 0x28
T_ECX           equ 0x2C
T_EDX           equ 0x30
T_EBX           equ 0x34
T_ESP           equ 0x38
T_EBP           equ 0x3C
T_ESI           equ 0x40
T_EDI           equ 0x44
T_ES            equ 0x48
T_CS            equ 0x4C
T_SS            equ 0x50
T_DS            equ 0x54
T_FS            equ 0x58
T_GS            equ 0x5C
T_LDT           equ 0x60
T_IOMAP         equ 0x66
; 16-bit TSS fields
T16_LINK        equ 0x00
T16_IP          equ 0x0E
T16_FLAGS       equ 0x10
T16_AX          equ 0x12
T16_CX          equ 0x14
T16_DX          equ 0x16
T16_BX          equ 0x18
T16_SP          equ 0x1A
T16_BP          equ 0x1C
T16_SI          equ 0x1E
T16_DI          equ 0x20
T16_ES          equ 0x22
T16_CS          equ 0x24
T16_SS          equ 0x26
T16_DS          equ 0x28
T16_LDT         equ 0x2A

        VARN snap, 8            ; EAX ECX EDX EBX ESP EBP ESI EDI
        VAR snap_fl
        VAR gp_resume           ; where the #GP task sends the main task
        VAR gp_expect           ; the faulting EIP it should find
        VARN idt13_save, 2
        VAR expect_eip          ; EIP the main task's TSS should hold
        VAR esp_seen

; " name=XX": the type byte of a descriptor in the GDT (busy bit = 2)
%macro BUSY 2
        PUTS %1
        HEX8 [GDT_ADDR + (%2) + 5]
%endmacro

; Registers to known values, EFLAGS = 0x8D7 (OF SF ZF AF PF CF).
%macro SET_REGS 0
        mov eax, 0x11111111
        mov ecx, 0x22222222
        mov edx, 0x33333333
        mov ebx, 0x44444444
        mov ebp, 0x66666666
        mov esi, 0x77777777
        mov edi, 0x88888888
        push dword 0x000008D7
        popfd
%endmacro

; Save EFLAGS and the general registers into snap_fl / snap (no stack use
; except for the PUSHFD, which is undone).
%macro SNAP 0
        pushfd
        pop dword [ss:snap_fl]
        mov [ss:snap + 0], eax
        mov [ss:snap + 4], ecx
        mov [ss:snap + 8], edx
        mov [ss:snap + 12], ebx
        mov [ss:snap + 16], esp
        mov [ss:snap + 20], ebp
        mov [ss:snap + 24], esi
        mov [ss:snap + 28], edi
%endmacro

; ========================================================== real mode
start:
        RM_INIT
        POST 0x01
        PUTS "tasks: start in real mode", 10
        PMT_ENTER gdt_template, GDT_SIZE, pm_entry

pm_entry:
        call pmt_setup
        POST 0x02

        ; 32-bit TSSs: EDI = base, EBX = EIP, ECX = ESP, EAX = EAX image
        mov edi, TSS_A_BASE
        mov ebx, LIN(task_a)
        mov ecx, STACK_A
        mov eax, 0xA0A0A0A0
        call init_tss32
        mov edi, TSS_B_BASE
        mov ebx, LIN(task_b)
        mov ecx, STACK_B
        mov eax, 0xB0B0B0B0
        call init_tss32
        mov edi, TSS_INT_BASE
        mov ebx, LIN(task_int)
        mov ecx, STACK_INT
        mov eax, 0xC0C0C0C0
        call init_tss32
        mov edi, TSS_GP_BASE
        mov ebx, LIN(task_gp)
        mov ecx, STACK_GP
        mov eax, 0xD0D0D0D0
        call init_tss32
        mov edi, TSS_SMALL_BASE
        mov ebx, LIN(task_a)
        mov ecx, STACK_A
        call init_tss32
        mov edi, TSS_NP_BASE
        mov ebx, LIN(task_a)
        mov ecx, STACK_A
        call init_tss32

        ; 16-bit TSS
        mov edi, TSS16_BASE
        mov ecx, 0x2C / 2
        xor eax, eax
        rep stosw
        mov word [TSS16_BASE + T16_IP], OFS(task16)
        mov word [TSS16_BASE + T16_FLAGS], 0x0002
        mov word [TSS16_BASE + T16_AX], 0x1616
        mov word [TSS16_BASE + T16_SP], STACK_16
        mov word [TSS16_BASE + T16_CS], CODE16
        mov word [TSS16_BASE + T16_SS], DATA16
        mov word [TSS16_BASE + T16_DS], KDATA
        mov word [TSS16_BASE + T16_ES], KDATA

        ; IDT[VEC_TASK]: task gate -> TSS_INT
        mov dword [IDT_ADDR + VEC_TASK*8], TSS_INT << 16
        mov dword [IDT_ADDR + VEC_TASK*8 + 4], ACC_TASKGATE << 8

        PUTS "tasks: 32-bit protected mode"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " a=", TSS_A
        mov eax, 0xDEADBEEF
        mov bx, TSS_SEL
        lar eax, bx
        PUTS " lar-main="
        HEX32 eax
        PUTS 10

; ------------------------------------------------------ JMP to a TSS
        POST 0x03
        SET_REGS
        jmp TSS_A:0
.back_from_a:
        SNAP
        PUTS "main-after-jmp-back:"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " a=", TSS_A
        mov eax, cr0
        shr eax, 3
        and al, 1
        add al, '0'
        PUTS " cr0.ts="
        PUTC al
        clts
        PUTS 10
        PUTS "main-regs-reloaded:"
        call print_snap
        PUTS 10
        PUTS "saved-a:"
        mov esi, TSS_A_BASE
        mov ebx, LIN(task_a.jmp_back_done)
        call print_tss32
        PUTS 10

; ------------------------------------- CALL through a task gate, IRET back
        POST 0x04
        mov dword [expect_eip], LIN(.back_from_b)
        SET_REGS
        call TGATE_B:0
.back_from_b:
        SNAP
        PUTS "main-after-iret:"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " b=", TSS_B
        PUTS 10
        PUTS "main-regs-reloaded:"
        call print_snap
        PUTS 10
        PUTS "saved-b:"
        mov esi, TSS_B_BASE
        mov ebx, LIN(task_b.iret_done)
        call print_tss32
        PUTS 10

        ; CALL straight to the TSS: task B resumes after its IRET.
        mov dword [expect_eip], LIN(.back_from_b2)
        SET_REGS
        mov eax, 0x12345678
        call TSS_B:0
.back_from_b2:
        PUTS "main-after-call-tss:"
        call print_tr_nt
        BUSY " b=", TSS_B
        PUTS " eax="
        HEX32 eax
        PUTS 10

; ---------------------------------------- INT n through an IDT task gate
        POST 0x05
        push dword 0x000008D7           ; the task gate must not touch the
        popfd                           ; caller's flags
        int VEC_TASK
.back_from_int:
        pushfd
        pop dword [snap_fl]
        PUTS "main-after-int-task:"
        call print_tr_nt
        BUSY " int=", TSS_INT
        PUTS " eflags="
        HEX32 [snap_fl]
        PUTS 10
        PUTS "saved-main-by-int:"
        mov esi, TSS_ADDR
        mov eax, [esi + T_EIP]
        cmp eax, LIN(.back_from_int)
        PUTS " eip="
        call ok_or_hex
        PUTS " eflags="
        HEX32 [esi + T_EFLAGS]
        PUTS 10

; ------------------------------------ #GP through an IDT task gate
        mov eax, [IDT_ADDR + 13*8]
        mov [idt13_save], eax
        mov eax, [IDT_ADDR + 13*8 + 4]
        mov [idt13_save + 4], eax
        mov dword [IDT_ADDR + 13*8], TSS_GP << 16
        mov dword [IDT_ADDR + 13*8 + 4], ACC_TASKGATE << 8
        mov dword [gp_resume], LIN(.gp_resume)
        mov dword [gp_expect], LIN(.gp_insn)
        mov ax, 0x03F8                  ; beyond the GDT limit
.gp_insn:
        mov ds, ax
.gp_resume:
        mov eax, [idt13_save]
        mov [IDT_ADDR + 13*8], eax
        mov eax, [idt13_save + 4]
        mov [IDT_ADDR + 13*8 + 4], eax
        PUTS "main-after-gp-task:"
        call print_tr_nt
        BUSY " gp=", TSS_GP
        mov ax, ds
        PUTS " ds="
        HEX16 eax
        PUTS 10

; -------------------------------------------------- 16-bit TSS round trip
        POST 0x06
        SET_REGS
        call TSS16:0
.back_from_16:
        SNAP
        PUTS "main-after-16-bit-task:"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " t16=", TSS16
        PUTS 10
        PUTS "main-regs-reloaded:"
        call print_snap
        PUTS 10
        PUTS "saved-16:"
        mov esi, TSS16_BASE
        PUTS " ip="
        movzx eax, word [esi + T16_IP]
        cmp eax, OFS(task16.iret_done)
        call ok_or_hex
        PUTS " flags="
        HEX16 [esi + T16_FLAGS]
        PUTS " ax="
        HEX16 [esi + T16_AX]
        PUTS " cx="
        HEX16 [esi + T16_CX]
        PUTS " sp="
        HEX16 [esi + T16_SP]
        PUTS " es="
        HEX16 [esi + T16_ES]
        PUTS " cs="
        HEX16 [esi + T16_CS]
        PUTS " ss="
        HEX16 [esi + T16_SS]
        PUTS " ds="
        HEX16 [esi + T16_DS]
        PUTS " link="
        HEX16 [esi + T16_LINK]
        PUTS 10

; ----------------------------------------------- invalid task switches
        POST 0x07
        TRY "ts-tss-limit-too-small"
        FAULTING
        jmp TSS_SMALL:0
        CATCH

        TRY "gp-jmp-busy-tss"
        FAULTING
        jmp TSS_SEL:0
        CATCH

        TRY "np-tss-not-present"
        FAULTING
        jmp TSS_NP:0
        CATCH

        TRY "gp-call-busy-tss"
        FAULTING
        call TSS_SEL:0
        CATCH

        ; IRET with NT=1 whose back link (0 in the main TSS) is no TSS.
        mov word [TSS_ADDR + T_LINK], 0
        TRY "ts-iret-nt-null-link"
        pushfd
        or dword [esp], 0x4000
        popfd
        FAULTING
        iretd
        CATCH
        pushfd
        and dword [esp], ~0x4000
        popfd

        ; ... and one whose back link is an available (not busy) TSS.
        mov word [TSS_ADDR + T_LINK], TSS_A
        TRY "ts-iret-nt-link-not-busy"
        pushfd
        or dword [esp], 0x4000
        popfd
        FAULTING
        iretd
        CATCH
        pushfd
        and dword [esp], ~0x4000
        popfd
        mov word [TSS_ADDR + T_LINK], 0

        PUTS "tasks: final"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " a=", TSS_A
        BUSY " b=", TSS_B
        BUSY " int=", TSS_INT
        BUSY " gp=", TSS_GP
        BUSY " t16=", TSS16
        PUTS 10
        POST 0x08
        PUTS "tasks: done", 10
        EXIT 0

; ========================================================== other tasks
; Task A: entered by JMP; shows what it was given, leaves by JMP.
task_a:
        SNAP
        PUTS "task-a:"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " a=", TSS_A
        PUTS " link="
        HEX16 [TSS_A_BASE + T_LINK]
        PUTS 10
        PUTS "task-a-regs:"
        call print_snap
        call print_sregs
        PUTS 10
        PUTS "saved-main-by-jmp:"
        mov esi, TSS_ADDR
        mov ebx, LIN(pm_entry.back_from_a)
        call print_tss32
        PUTS 10
        SET_REGS
        mov eax, 0xA1A1A1A1
        jmp TSS_SEL:0
.jmp_back_done:
        jmp task_a

; Task B: entered by CALL (gate or TSS), leaves by IRET.
task_b:
        SNAP
        PUTS "task-b:"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " b=", TSS_B
        PUTS " link="
        HEX16 [TSS_B_BASE + T_LINK]
        PUTS " eax="
        HEX32 [snap]
        PUTS 10
        PUTS "saved-main-by-call:"
        mov esi, TSS_ADDR
        mov ebx, [expect_eip]
        call print_tss32
        PUTS 10
        SET_REGS
        mov eax, 0xB1B1B1B1
        push dword 0x00004893           ; NT kept, OF SF AF CF
        popfd
        iretd
.iret_done:
        jmp task_b

; Task for INT VEC_TASK.
task_int:
        mov [esp_seen], esp
        pushfd
        pop dword [snap_fl]
        PUTS "task-int:"
        call print_tr_nt
        BUSY " main=", TSS_SEL
        BUSY " int=", TSS_INT
        PUTS " link="
        HEX16 [TSS_INT_BASE + T_LINK]
        PUTS " eflags="
        HEX32 [snap_fl]
        PUTS " esp="
        HEX32 [esp_seen]
        PUTS 10
        iretd
        jmp task_int

; Task for #GP: the error code is on this task's stack; the main task's
; EIP (saved in its TSS) points at the faulting instruction.
task_gp:
        mov [esp_seen], esp
        pop dword [scratch]
        PUTS "task-gp:"
        call print_tr_nt
        PUTS " err="
        HEX16 [scratch]
        PUTS " link="
        HEX16 [TSS_GP_BASE + T_LINK]
        PUTS " saved-eip="
        mov eax, [TSS_ADDR + T_EIP]
        cmp eax, [gp_expect]
        call ok_or_hex
        PUTS " esp-at-entry="
        HEX32 [esp_seen]
        PUTS 10
        mov eax, [gp_resume]
        mov [TSS_ADDR + T_EIP], eax     ; skip the faulting instruction
        iretd
        jmp task_gp

; The 16-bit task (CS = CODE16, base 0xF0000: offsets are OFS()).
        bits 16
task16:
        mov [esp_seen], esp
        mov [snap], eax
        pushf
        pop word [scratch]
        PUTS "task-16:"
        str ax
        PUTS " tr="
        HEX16 eax
        PUTS " flags="
        HEX16 [scratch]
        PUTS " ax="
        HEX16 [snap]
        mov ax, cs
        PUTS " cs="
        HEX16 eax
        mov ax, ss
        PUTS " ss="
        HEX16 eax
        PUTS " sp="
        HEX16 [esp_seen]
        PUTS " link="
        HEX16 [TSS16_BASE + T16_LINK]
        BUSY " main=", TSS_SEL
        BUSY " t16=", TSS16
        PUTS 10
        mov ax, 0x6161
        mov cx, 0x6262
        push word 0x40C3                ; NT ZF CF ... (bit 1 set)
        popf
        iret
.iret_done:
        jmp task16
        bits 32

; ========================================================== routines
; " tr=XXXX nt=N"
print_tr_nt:
        push eax
        str ax
        PUTS " tr="
        HEX16 eax
        pushfd
        pop eax
        shr eax, 14
        and al, 1
        add al, '0'
        PUTS " nt="
        PUTC al
        pop eax
        ret

; The registers and EFLAGS saved by SNAP (ESP is left out).
print_snap:
        PUTS " eax="
        HEX32 [snap + 0]
        PUTS " ecx="
        HEX32 [snap + 4]
        PUTS " edx="
        HEX32 [snap + 8]
        PUTS " ebx="
        HEX32 [snap + 12]
        PUTS " ebp="
        HEX32 [snap + 20]
        PUTS " esi="
        HEX32 [snap + 24]
        PUTS " edi="
        HEX32 [snap + 28]
        PUTS " eflags="
        HEX32 [snap_fl]
        ret

; The current segment registers and ESP.
print_sregs:
        push eax
        PUTS " esp="
        mov eax, [snap + 16]
        HEX32 eax
        mov ax, cs
        PUTS " cs="
        HEX16 eax
        mov ax, ss
        PUTS " ss="
        HEX16 eax
        mov ax, ds
        PUTS " ds="
        HEX16 eax
        mov ax, es
        PUTS " es="
        HEX16 eax
        mov ax, fs
        PUTS " fs="
        HEX16 eax
        mov ax, gs
        PUTS " gs="
        HEX16 eax
        sldt ax
        PUTS " ldtr="
        HEX16 eax
        pop eax
        ret

; The dynamic fields of the 32-bit TSS at ESI; EBX = the EIP it should hold.
print_tss32:
        push eax
        PUTS " eip="
        mov eax, [esi + T_EIP]
        cmp eax, ebx
        call ok_or_hex
        PUTS " eflags="
        HEX32 [esi + T_EFLAGS]
        PUTS " eax="
        HEX32 [esi + T_EAX]
        PUTS " ecx="
        HEX32 [esi + T_ECX]
        PUTS " edx="
        HEX32 [esi + T_EDX]
        PUTS " ebx="
        HEX32 [esi + T_EBX]
        PUTS " esp="
        HEX32 [esi + T_ESP]
        PUTS " ebp="
        HEX32 [esi + T_EBP]
        PUTS " esi="
        HEX32 [esi + T_ESI]
        PUTS " edi="
        HEX32 [esi + T_EDI]
        PUTS " es="
        HEX16 [esi + T_ES]
        PUTS " cs="
        HEX16 [esi + T_CS]
        PUTS " ss="
        HEX16 [esi + T_SS]
        PUTS " ds="
        HEX16 [esi + T_DS]
        PUTS " fs="
        HEX16 [esi + T_FS]
        PUTS " gs="
        HEX16 [esi + T_GS]
        PUTS " ldt="
        HEX16 [esi + T_LDT]
        pop eax
        ret

; A 32-bit TSS at EDI: EIP = EBX, ESP = ECX, EAX = EAX, flat ring 0
; segments, EFLAGS = 2, the other registers 0, no I/O bitmap.
init_tss32:
        push edi
        push eax
        push ecx
        mov ecx, 0x68 / 4
        xor eax, eax
        cld
        rep stosd
        pop ecx
        pop eax
        pop edi
        mov [edi + T_EIP], ebx
        mov dword [edi + T_EFLAGS], 0x00000002
        mov [edi + T_EAX], eax
        mov [edi + T_ESP], ecx
        mov dword [edi + T_ES], KDATA
        mov dword [edi + T_CS], KCODE
        mov dword [edi + T_SS], KDATA
        mov dword [edi + T_DS], KDATA
        mov dword [edi + T_FS], KDATA
        mov dword [edi + T_GS], KDATA
        mov word [edi + T_IOMAP], 0x68
        ret

; ------------------------------------------------------------- tables
        align 8
gdt_template:
        PMT_BASE_GDT
        DESC TSS_A_BASE, 0x67, ACC_TSS32, 0                     ; 0x30
        DESC TSS_B_BASE, 0x67, ACC_TSS32, 0                     ; 0x38
        GATE TSS_B, 0, ACC_TASKGATE, 0                          ; 0x40
        DESC TSS_INT_BASE, 0x67, ACC_TSS32, 0                   ; 0x48
        DESC TSS_SMALL_BASE, 0x50, ACC_TSS32, 0                 ; 0x50
        DESC TSS16_BASE, 0x2B, ACC_TSS16, 0                     ; 0x58
        DESC ROMBASE, 0xFFFF, ACC_CODE, GRAN_BYTE_16            ; 0x60
        DESC 0, 0xFFFF, ACC_DATA, GRAN_BYTE_16                  ; 0x68
        DESC TSS_GP_BASE, 0x67, ACC_TSS32, 0                    ; 0x70
        DESC TSS_NP_BASE, 0x67, ACC_TSS32 ^ ACC_NP, 0           ; 0x78
GDT_SIZE        equ $ - gdt_template

        PMT_ROUTINES
        bits 16
        ROM_END

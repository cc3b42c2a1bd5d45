; pm_checks.asm - protected-mode protection checks with printed results.
;
; Every check prints one line "name: values" with what the CPU did: the
; exception vector and error code, registers, the CPL, stack frames.  The
; expected output is QEMU's (expected/pm_checks.txt).  Addresses that depend
; on the build are not printed raw: "eip=ok" means the pushed EIP is the
; one the architecture requires, otherwise the EIP itself is printed.
;
; Order: (a) #GP selector error codes, (b) #NP / #SS, (c) interrupt vs trap
; gate, (h) LAR/LSL/VERR/VERW, (i) ARPL, (f) #DF and not-present IDT gates,
; then ring 3 (entered by IRET): (e) I/O permission bitmap, (d) call gate
; with parameters and stack switch, INT from ring 3 and its frame, (g) a
; conforming segment, privilege violations, (h) again at CPL 3; finally a
; second trip to ring 3 by RETF.
;
; Faults are caught with TRY / FAULTING / CATCH: TRY prints the name and
; arms the catcher with a resume address, FAULTING marks the instruction
; expected to fault (the handler reports whether the pushed EIP points at
; it), CATCH prints the outcome.  The common exception handler records the
; vector, error code and frame, then IRETs to the resume address at the
; privilege level of the faulting code.  A fault with nothing armed prints
; "UNEXPECTED ..." and exits with value 1.
;
; Left out or masked because QEMU 7.2 (the reference) gets them wrong:
; - segment limit checks on ordinary data and stack accesses (QEMU has
;   none), so there is no #SS for a push beyond the limit of a small or
;   expand-down stack segment;
; - the EXT bit of the #NP raised while delivering an exception (QEMU
;   leaves it 0), masked out in np-ud-gate-not-present;
; - LAR bits 16-19 are undefined (QEMU clears them), masked out.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

; ---------------------------------------------------------------- layout
GDT_ADDR        equ 0x1000      ; GDT copied here (the CPU writes busy bits)
IDT_ADDR        equ 0x2000
IDT_ENTRIES     equ 0x50
TSS_ADDR        equ 0x3000
IOMAP_OFS       equ 0x68        ; I/O bitmap right after the 104-byte TSS
IOMAP_BYTES     equ 0x400 / 8   ; ports 0-3FF; all others are denied
TSS_LIMIT       equ IOMAP_OFS + IOMAP_BYTES     ; includes the 0xFF byte
VARS            equ 0x5000
R3_STACK_TOP    equ 0x60000     ; ring 3 stack
R0_TSS_STACK    equ 0x70000     ; TSS.ESP0: ring 0 stack on a CPL change
R0_STACK_TOP    equ 0x80000     ; ring 0 stack of the main program

; ------------------------------------------------------------ selectors
KCODE           equ 0x08        ; flat code, DPL 0
KDATA           equ 0x10        ; flat data, DPL 0
UCODE           equ 0x18        ; flat code, DPL 3
UDATA           equ 0x20        ; flat data, DPL 3
TSS_SEL         equ 0x28        ; 32-bit TSS
XOCODE          equ 0x30        ; execute-only code, DPL 0
NPDATA          equ 0x38        ; data, not present
RODATA          equ 0x40        ; read-only data, DPL 0
CGATE3          equ 0x48        ; call gate DPL 3 -> KCODE:cg_entry, 2 dwords
CONFCODE        equ 0x50        ; conforming code, DPL 0
NPCODE          equ 0x58        ; code, not present
CGATE0          equ 0x60        ; call gate DPL 0 (unusable from ring 3)
SMALLDATA       equ 0x68        ; data DPL 3, base 0x50000, limit 0xFFF
GDT_SIZE        equ 0x70
BEYOND_GDT      equ 0x03F8      ; index far past the GDT limit
LDT_SEL         equ 0x000C      ; TI=1 with LDTR null

; ----------------------------------------------------- interrupt vectors
VEC_INTGATE     equ 0x40        ; 32-bit interrupt gate, DPL 0
VEC_TRAPGATE    equ 0x41        ; 32-bit trap gate, DPL 0
VEC_TO_RING0    equ 0x42        ; DPL 3: leave ring 3 for good
VEC_NOTPRESENT  equ 0x43        ; gate with P=0
VEC_FRAME       equ 0x44        ; DPL 3: record the frame pushed from ring 3
VEC_DPL0        equ 0x45        ; DPL 0: INT from ring 3 must #GP

; ------------------------------------------------------------ variables
%assign VAR_NEXT VARS
%macro VAR 1
%1      equ VAR_NEXT
%assign VAR_NEXT VAR_NEXT + 4
%endmacro
        VAR fault_resume        ; 0 = no fault expected
        VAR fault_at            ; address of the FAULTING instruction, or -1
        VAR fault_vec           ; -1 = no fault happened
        VAR fault_err
        VAR fault_eip
        VAR fault_cs
        VAR r0_esp_save         ; ESP of the code that entered ring 3
        VAR gate_pushed_fl      ; EFLAGS pushed by INT through a gate
        VAR gate_handler_fl     ; EFLAGS seen inside the handler
        VAR seen_esp            ; ESP/SS on entry to a ring 0 handler
        VAR seen_ss
        VAR frame0              ; a stack frame seen by a ring 0 handler
        VAR frame1
        VAR frame2
        VAR frame3
        VAR frame4
        VAR frame5
        VAR r3_esp
        VAR mask_ext            ; 1: print_fault hides the EXT bit

; Exceptions that push an error code: 8, 10-14, 17.
ERRCODE_MASK    equ (1 << 8) | (0x1F << 10) | (1 << 17)

; --------------------------------------------------------- check macros
; TRY "name": print "name: " and arm the catcher.
%macro TRY 1
        PUTS %1, ": "
  %push try
        mov dword [ss:fault_vec], -1
        mov dword [ss:fault_at], -1
        mov dword [ss:mask_ext], 0
        mov dword [ss:fault_resume], LIN(%$resume)
%endmacro

; FAULTING: the next instruction is the one that must fault.
%macro FAULTING 0
        mov dword [ss:fault_at], LIN(%%insn)
%%insn:
%endmacro

; CATCH: disarm (if nothing faulted) and print the outcome.
%macro CATCH 0
        mov dword [ss:fault_resume], 0
%$resume:
        call print_fault
  %pop
%endmacro

; Load the flat data segments of the current ring (after a test that may
; have changed them).
%macro KSEGS 0
        mov ax, KDATA
        mov ds, ax
        mov es, ax
%endmacro
%macro USEGS 0
        mov ax, UDATA | 3
        mov ds, ax
        mov es, ax
%endmacro

; " zf=N" from the current ZF.
%macro PUT_ZF 0
        jz %%one
        PUTS " zf=0"
        jmp %%done
%%one:  PUTS " zf=1"
%%done:
%endmacro

; " cpl=N" from the RPL of CS (which is the CPL).
%macro PUT_CPL 0
        push eax
        mov ax, cs
        and al, 3
        add al, '0'
        PUTS " cpl="
        PUTC al
        pop eax
%endmacro

; ========================================================== real mode
start:
        RM_INIT
        POST 0x01
        PUTS "pm_checks: start in real mode", 10

        ; Copy the GDT template to RAM: the CPU sets the TSS busy bit there.
        push cs
        pop ds
        mov si, OFS(gdt_template)
        mov di, GDT_ADDR
        mov cx, GDT_SIZE
        rep movsb
        xor ax, ax
        mov ds, ax

        PM_SWITCH gdtr, KCODE, pm_entry

; ========================================================== ring 0 setup
pm_entry:
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        mov esp, R0_STACK_TOP
        POST 0x02
        mov dword [fault_resume], 0

        ; IDT: zero everything (P=0), then the gates we use.
        mov edi, IDT_ADDR
        mov ecx, IDT_ENTRIES * 2
        xor eax, eax
        rep stosd
        xor eax, eax
.exc:   lea ebx, [LIN(isr_stubs) + eax*8]      ; stubs are 16 bytes apart
        lea ebx, [ebx + eax*8]
        mov dl, ACC_INTGATE32
        call set_gate
        inc eax
        cmp eax, 32
        jb .exc
        mov eax, VEC_INTGATE
        mov ebx, LIN(h_gate)
        mov dl, ACC_INTGATE32
        call set_gate
        mov eax, VEC_TRAPGATE
        mov dl, ACC_TRAPGATE32
        call set_gate
        mov eax, VEC_TO_RING0
        mov ebx, LIN(h_to_ring0)
        mov dl, ACC_INTGATE32 | ACC_DPL3
        call set_gate
        mov eax, VEC_FRAME
        mov ebx, LIN(h_frame)
        mov dl, ACC_INTGATE32 | ACC_DPL3
        call set_gate
        mov eax, VEC_DPL0
        mov dl, ACC_INTGATE32
        call set_gate
        mov eax, VEC_NOTPRESENT         ; a valid gate type but P=0 (an
        mov dl, ACC_INTGATE32 ^ ACC_NP  ; all-zero entry is a bad type: #GP)
        call set_gate
        lidt [cs:LIN(idtr)]

        ; TSS: ring 0 stack for CPL changes and an I/O bitmap that allows
        ; only port 0xE9 (bit clear = allowed).
        mov edi, TSS_ADDR
        mov ecx, IOMAP_OFS / 4
        xor eax, eax
        rep stosd
        mov dword [TSS_ADDR + 4], R0_TSS_STACK  ; ESP0
        mov dword [TSS_ADDR + 8], KDATA         ; SS0
        mov word [TSS_ADDR + 0x66], IOMAP_OFS   ; I/O map base
        mov edi, TSS_ADDR + IOMAP_OFS
        mov ecx, IOMAP_BYTES + 1                ; + the required 0xFF byte
        mov al, 0xFF
        rep stosb
        and byte [TSS_ADDR + IOMAP_OFS + DBG_PORT / 8], ~(1 << (DBG_PORT % 8))
        mov ax, TSS_SEL
        ltr ax
        xor eax, eax
        lldt ax                                 ; LDTR null: TI=1 is invalid

        PUTS "pm_checks: 32-bit protected mode,"
        PUT_CPL
        PUTS 10
        POST 0x03

; ------------------------------------------------ (a) #GP selector errors
        TRY "gp-beyond-gdt-limit"
        mov ax, BEYOND_GDT
        FAULTING
        mov ds, ax
        CATCH

        TRY "gp-null-ss"
        xor eax, eax
        FAULTING
        mov ss, ax
        CATCH

        TRY "gp-ss-rpl-not-cpl"
        mov ax, KDATA | 1
        FAULTING
        mov ss, ax
        CATCH

        TRY "gp-ss-read-only"
        mov ax, RODATA
        FAULTING
        mov ss, ax
        CATCH

        TRY "gp-ds-execute-only-code"
        mov ax, XOCODE
        FAULTING
        mov ds, ax
        CATCH

        TRY "gp-es-system-segment"
        mov ax, TSS_SEL
        FAULTING
        mov es, ax
        CATCH

        TRY "gp-fs-ldt-null"
        mov ax, LDT_SEL
        FAULTING
        mov fs, ax
        CATCH

        TRY "gp-jmp-far-to-data"
        FAULTING
        jmp KDATA:LIN(.not_here)
.not_here:
        CATCH

        TRY "ok-null-into-ds"            ; allowed: only a use would fault
        xor eax, eax
        mov ds, ax
        CATCH
        KSEGS

; ------------------------------------------------------ (b) #NP and #SS
        TRY "np-ds-not-present"
        mov ax, NPDATA
        FAULTING
        mov ds, ax
        CATCH

        TRY "ss-ss-not-present"
        mov ax, NPDATA
        FAULTING
        mov ss, ax
        CATCH

        TRY "np-jmp-far-not-present-code"
        FAULTING
        jmp NPCODE:LIN(.not_here2)
.not_here2:
        CATCH
        KSEGS

; ---------------------------------------- (c) interrupt gate vs trap gate
        ; IF is set only for the INT and the IRET back (there are no
        ; interrupt sources), so the gates' IF handling is visible.
        PUTS "intgate-32:"
        push dword 0x00000AD7           ; IF + OF SF ZF AF PF CF
        popfd
        int VEC_INTGATE
        cli
        call print_gate_flags

        PUTS "trapgate-32:"
        push dword 0x00000AD7
        popfd
        int VEC_TRAPGATE
        cli
        call print_gate_flags

; --------------------------------------------------- (h) LAR/LSL/VERR/VERW
        mov esi, LIN(sel_list)
.sels:  movzx ebx, word [cs:esi]
        cmp bx, 0xFFFF
        je .sels_done
        call print_sel_info
        add esi, 2
        jmp .sels
.sels_done:

; ------------------------------------------------------------- (i) ARPL
        mov ax, 0x0010
        mov bx, 0x0003
        call arpl_line
        mov ax, 0x0013
        mov bx, 0x0001
        call arpl_line
        mov ax, 0x0022
        mov bx, 0xFFF2
        call arpl_line

; -------------------- (f) double fault and not-present IDT gates (ring 0)
        ; #GP whose gate is not present: the #NP raised while delivering a
        ; contributory exception turns into #DF (error code 0).
        and byte [IDT_ADDR + 13*8 + 5], 0x7F
        TRY "df-gp-gate-not-present"
        mov ax, BEYOND_GDT
        mov ds, ax
        CATCH
        or byte [IDT_ADDR + 13*8 + 5], 0x80
        KSEGS

        ; INT n through a not-present gate: #NP, error code = n*8 + 2
        ; (IDT bit), EXT = 0 because INT n is software.
        TRY "np-int-gate-not-present"
        FAULTING
        int VEC_NOTPRESENT
        CATCH

        ; #UD whose gate is not present: #NP(6*8 + 2 + EXT).  EXT should be
        ; 1 (the event being delivered is an exception, not INT n) but QEMU
        ; 7.2 leaves it 0, so the EXT bit is left out of the printed value.
        and byte [IDT_ADDR + 6*8 + 5], 0x7F
        TRY "np-ud-gate-not-present"
        mov dword [mask_ext], 1
        FAULTING
        ud2
        CATCH
        or byte [IDT_ADDR + 6*8 + 5], 0x80

        TRY "ud-ud2"
        FAULTING
        ud2
        CATCH

; ------------------------------------------ (d, e, g) ring 3 via IRET
        POST 0x04
        mov ebx, LIN(r3_main)
        call enter_ring3_iret
        ; back here through h_to_ring0
        KSEGS
        PUTS "back-in-ring0:"
        PUT_CPL
        PUTS 10

; ---------------------------------------------- ring 3 via RETF
        mov ebx, LIN(r3_retf)
        call enter_ring3_retf
        KSEGS

        POST 0x05
        PUTS "pm_checks: done", 10
        EXIT 0

; ========================================================== ring 3 code
r3_main:
        ; The IRET to CPL 3 must have nulled DS/ES/FS/GS (DPL 0 data).
        mov [ss:r3_esp], esp
        mov bx, ds
        movzx ebx, bx
        USEGS
        PUTS "ring3-via-iret: cs="
        mov ax, cs
        HEX16 eax
        PUTS " ss="
        mov ax, ss
        HEX16 eax
        PUTS " esp="
        HEX32 [r3_esp]
        PUTS " ds-after-iret="
        HEX16 ebx
        PUT_CPL
        PUTS 10

        ; (e) This whole ring 3 part prints through port 0xE9, allowed by
        ; the TSS I/O bitmap although IOPL (0) < CPL (3).
        PUTS "io-bitmap-e9: ring 3 prints this line itself", 10

        TRY "io-bitmap-out-80"
        mov al, 0x55
        FAULTING
        out POST_PORT, al
        CATCH

        TRY "io-bitmap-word-e9"         ; also needs port 0xEA's bit
        mov ax, 0x0A0A
        FAULTING
        out DBG_PORT, ax
        CATCH

        TRY "gp-cli-iopl0"
        FAULTING
        cli
        CATCH

        ; (d) Call gate DPL 3 -> ring 0, two dword parameters copied to the
        ; TSS.ESP0 stack.
        mov [ss:r3_esp], esp
        push dword 0x11111111
        push dword 0x22222222
        call CGATE3 | 3 : 0
.cg_ret:
        PUTS "callgate-return:"
        PUT_CPL
        PUTS " esp-restored="
        cmp esp, [ss:r3_esp]
        call yes_no
        PUTS 10

        ; (d) Interrupt gate DPL 3 from ring 3: the frame on the ring 0
        ; stack is EIP, CS, EFLAGS, ESP, SS.
        push dword 0x000008D7           ; OF SF ZF AF PF CF (IF stays 0)
        popfd
        mov [ss:r3_esp], esp
        int VEC_FRAME
.int_ret:
        PUTS "int-from-ring3: ring0-ss:esp="
        HEX16 [seen_ss]
        PUTC ':'
        HEX32 [seen_esp]
        PUTS " eip="
        mov eax, [frame0]
        cmp eax, LIN(.int_ret)
        call ok_or_hex
        PUTS " cs="
        HEX16 [frame1]
        PUTS " eflags="
        HEX32 [frame2]
        PUTS " esp="
        HEX32 [frame3]
        PUTS " ss="
        HEX16 [frame4]
        PUTS 10

        ; (g) Conforming code segment: CPL stays 3, CS.RPL becomes 3.
        call CONFCODE : LIN(conf_func)

        ; Privilege violations from ring 3.
        TRY "gp-ring3-call-ring0-code"
        FAULTING
        call KCODE : LIN(conf_func)
        CATCH

        TRY "gp-ring3-callgate-dpl0"
        FAULTING
        call CGATE0 | 3 : 0
        CATCH

        TRY "gp-ring3-load-dpl0-data"
        mov ax, KDATA
        FAULTING
        mov ds, ax
        CATCH
        USEGS

        TRY "gp-ring3-int-dpl0-gate"    ; error code n*8 + 2, EXT = 0
        FAULTING
        int VEC_DPL0
        CATCH

        ; (h) from ring 3: DPL 0 descriptors become invisible, except a
        ; conforming code segment.
        mov ebx, KDATA
        call print_sel_info
        mov ebx, KCODE | 3
        call print_sel_info
        mov ebx, CONFCODE | 3
        call print_sel_info
        mov ebx, UDATA | 3
        call print_sel_info
        mov ebx, SMALLDATA | 3
        call print_sel_info
        mov ebx, CGATE3 | 3
        call print_sel_info

        int VEC_TO_RING0                ; does not return

; Reached from ring 3 with RETF: just report and go back.
r3_retf:
        mov bx, ds                      ; nulled by the RETF, as by IRET
        movzx ebx, bx
        USEGS
        PUTS "ring3-via-retf: cs="
        mov ax, cs
        HEX16 eax
        PUTS " ss="
        mov ax, ss
        HEX16 eax
        PUTS " ds-after-retf="
        HEX16 ebx
        PUT_CPL
        PUTS 10
        int VEC_TO_RING0

; Conforming code, DPL 0, called from ring 3.
conf_func:
        PUTS "conforming-from-ring3: cs="
        mov ax, cs
        HEX16 eax
        PUT_CPL
        PUTS 10
        retf

; ========================================================== ring 0 code
; Enter ring 3 at EBX with IRET (flat UCODE/UDATA, IF=0, IOPL=0).
; "Returns" when ring 3 executes INT VEC_TO_RING0.
enter_ring3_iret:
        mov [r0_esp_save], esp
        push dword UDATA | 3            ; SS
        push dword R3_STACK_TOP         ; ESP
        push dword 0x00000002           ; EFLAGS: IOPL 0, IF 0
        push dword UCODE | 3            ; CS
        push ebx                        ; EIP
        iretd

; The same with a far return to an outer level (no EFLAGS).
enter_ring3_retf:
        mov [r0_esp_save], esp
        push dword UDATA | 3
        push dword R3_STACK_TOP
        push dword UCODE | 3
        push ebx
        retf

; INT VEC_TO_RING0 (DPL 3): drop the frame, restore the ring 0 stack and
; return from enter_ring3_*.
h_to_ring0:
        mov esp, [ss:r0_esp_save]
        ret

; Call gate target: report what the gate did, return to ring 3.  The new
; stack holds EIP, CS, the two copied parameters, ESP, SS of the caller.
; (Copied to variables first: the print macros push onto this stack.)
cg_entry:
        mov [ss:seen_esp], esp
        push eax
        mov ax, ss
        movzx eax, ax
        mov [ss:seen_ss], eax
        mov eax, [esp + 4]
        mov [ss:frame0], eax            ; EIP
        movzx eax, word [esp + 8]
        mov [ss:frame1], eax            ; CS
        mov eax, [esp + 12]
        mov [ss:frame2], eax            ; parameter pushed last
        mov eax, [esp + 16]
        mov [ss:frame3], eax            ; parameter pushed first
        mov eax, [esp + 20]
        mov [ss:frame4], eax            ; ESP
        movzx eax, word [esp + 24]
        mov [ss:frame5], eax            ; SS
        pop eax
        PUTS "callgate-32:"
        PUT_CPL
        PUTS " ss:esp="
        HEX16 [ss:seen_ss]
        PUTC ':'
        HEX32 [ss:seen_esp]
        PUTS " params="
        HEX32 [ss:frame2]
        PUTC ','
        HEX32 [ss:frame3]
        PUTS " caller-cs:eip="
        HEX16 [ss:frame1]
        PUTC ':'
        mov eax, [ss:frame0]
        cmp eax, LIN(r3_main.cg_ret)
        call ok_or_hex
        PUTS " caller-ss:esp="
        HEX16 [ss:frame5]
        PUTC ':'
        HEX32 [ss:frame4]
        PUTS 10
        retf 8                          ; also drops the params in ring 3

; INT VEC_FRAME from ring 3: record the frame.
h_frame:
        mov [ss:seen_esp], esp
        push eax
        mov ax, ss
        movzx eax, ax
        mov [ss:seen_ss], eax
        mov eax, [esp + 4]
        mov [ss:frame0], eax
        movzx eax, word [esp + 8]
        mov [ss:frame1], eax
        mov eax, [esp + 12]
        mov [ss:frame2], eax
        mov eax, [esp + 16]
        mov [ss:frame3], eax
        movzx eax, word [esp + 20]
        mov [ss:frame4], eax
        pop eax
        iretd

; Interrupt and trap gate targets (same code): EFLAGS pushed by the INT
; and EFLAGS inside the handler.
h_gate:
        pushfd
        pop dword [ss:gate_handler_fl]
        push dword [esp + 8]
        pop dword [ss:gate_pushed_fl]
        iretd

print_gate_flags:
        PUTS " pushed-eflags="
        HEX32 [gate_pushed_fl]
        PUTS " handler-eflags="
        HEX32 [gate_handler_fl]
        PUTS " handler-if="
        mov eax, [gate_handler_fl]
        shr eax, 9
        and al, 1
        add al, '0'
        PUTC al
        PUTS 10
        ret

; Print "sel-XXXX: lar zf=N,value lsl zf=N,value verr zf=N verw zf=N" for
; selector EBX.  A failing LAR/LSL leaves its destination (DEADBEEF) alone.
print_sel_info:
        push eax
        PUTS "sel-"
        HEX16 ebx
        PUTS ": lar"
        mov eax, 0xDEADBEEF
        lar eax, bx
        PUT_ZF
        jnz .lar_failed
        and eax, 0x00F0FFFF             ; bits 16-19 (limit) are undefined
.lar_failed:
        PUTC ','
        HEX32 eax
        PUTS " lsl"
        mov eax, 0xDEADBEEF
        lsl eax, bx
        PUT_ZF
        PUTC ','
        HEX32 eax
        PUTS " verr"
        verr bx
        PUT_ZF
        PUTS " verw"
        verw bx
        PUT_ZF
        PUTS 10
        pop eax
        ret

; "arpl XXXX,YYYY: -> ZZZZ zf=N" for ARPL AX, BX.
arpl_line:
        PUTS "arpl "
        HEX16 eax
        PUTC ','
        HEX16 ebx
        arpl ax, bx
        PUTS ": ->"
        PUTC ' '
        HEX16 eax
        PUT_ZF
        PUTS 10
        ret

; After "cmp a, b": print "yes" if equal, else "no".
yes_no:
        jne .no
        PUTS "yes"
        ret
.no:    PUTS "no"
        ret

; After "cmp eax, expected": "ok" if equal, else EAX in hex.
ok_or_hex:
        jne .hex
        PUTS "ok"
        ret
.hex:   HEX32 eax
        ret

; Print the outcome recorded by the exception handler (see CATCH).
print_fault:
        cmp dword [ss:fault_vec], -1
        jne .fault
        PUTS "no fault", 10
        ret
.fault: PUTS "vector="
        HEX8 [ss:fault_vec]
        push eax
        mov eax, [ss:fault_vec]
        bt dword [cs:LIN(errcode_mask)], eax
        jnc .noerr
        cmp dword [ss:mask_ext], 0
        jne .masked
        PUTS " err="
        HEX16 [ss:fault_err]
        jmp .noerr
.masked:
        PUTS " err-without-ext="
        mov eax, [ss:fault_err]
        and eax, 0xFFFE
        HEX16 eax
.noerr: cmp dword [ss:fault_at], -1
        je .noeip
        PUTS " eip="
        mov eax, [ss:fault_eip]
        cmp eax, [ss:fault_at]
        call ok_or_hex
.noeip: PUTS 10
        pop eax
        ret

; IDT[EAX] = 32-bit gate to KCODE:EBX with access byte DL.
set_gate:
        push edi
        push ebx
        lea edi, [IDT_ADDR + eax*8]
        mov [edi], bx
        mov word [edi + 2], KCODE
        mov byte [edi + 4], 0
        mov [edi + 5], dl
        shr ebx, 16
        mov [edi + 6], bx
        pop ebx
        pop edi
        ret

; ---------------------------------------------------- exception handling
; One 16-byte stub per exception 0-31: push a dummy error code where the
; CPU pushes none, then the vector number.
        align 16
isr_stubs:
%assign v 0
%rep 32
  %if (ERRCODE_MASK >> v) & 1
        push dword v
  %else
        push dword 0
        push dword v
  %endif
        jmp isr_common
        align 16
%assign v v + 1
%endrep

; Frame after PUSHAD/DS/ES: [esp] es, +4 ds, +8 pushad, +40 vector,
; +44 error code, +48 EIP, +52 CS, +56 EFLAGS (+60 ESP, +64 SS from ring 3).
isr_common:
        pushad
        push ds
        push es
        mov ax, KDATA
        mov ds, ax
        mov es, ax
        mov eax, [esp + 40]
        mov [fault_vec], eax
        mov eax, [esp + 44]
        mov [fault_err], eax
        mov eax, [esp + 48]
        mov [fault_eip], eax
        movzx eax, word [esp + 52]
        mov [fault_cs], eax
        mov eax, [fault_resume]
        test eax, eax
        jz .unexpected
        mov [esp + 48], eax             ; resume there, same CS and ring
        mov dword [fault_resume], 0
        pop es
        pop ds
        popad
        add esp, 8                      ; vector and error code
        iretd
.unexpected:
        PUTS 10, "UNEXPECTED exception vector="
        HEX8 [fault_vec]
        PUTS " err="
        HEX16 [fault_err]
        PUTS " cs:eip="
        HEX16 [fault_cs]
        PUTC ':'
        HEX32 [fault_eip]
        PUTS 10
        EXIT 1

; ------------------------------------------------------------- tables
errcode_mask:   dd ERRCODE_MASK

; Selectors shown by print_sel_info from ring 0 (0xFFFF ends the list).
sel_list:
        dw 0x0000, KCODE, KDATA, TSS_SEL, XOCODE, NPDATA, RODATA, CGATE3
        dw CONFCODE, SMALLDATA, BEYOND_GDT, 0xFFFF

        align 8
gdt_template:
        dq 0                                                    ; 0x00
        DESC 0, 0xFFFFF, ACC_CODE, GRAN_4K_32                   ; 0x08
        DESC 0, 0xFFFFF, ACC_DATA, GRAN_4K_32                   ; 0x10
        DESC 0, 0xFFFFF, ACC_CODE | ACC_DPL3, GRAN_4K_32        ; 0x18
        DESC 0, 0xFFFFF, ACC_DATA | ACC_DPL3, GRAN_4K_32        ; 0x20
        DESC TSS_ADDR, TSS_LIMIT, ACC_TSS32, 0                  ; 0x28
        DESC 0, 0xFFFFF, ACC_CODE_XO, GRAN_4K_32                ; 0x30
        DESC 0, 0xFFFFF, ACC_DATA ^ ACC_NP, GRAN_4K_32          ; 0x38
        DESC 0, 0xFFFFF, ACC_DATA_RO, GRAN_4K_32                ; 0x40
        GATE KCODE, LIN(cg_entry), ACC_CALLGATE32 | ACC_DPL3, 2 ; 0x48
        DESC 0, 0xFFFFF, ACC_CODE_CONF, GRAN_4K_32              ; 0x50
        DESC 0, 0xFFFFF, ACC_CODE ^ ACC_NP, GRAN_4K_32          ; 0x58
        GATE KCODE, LIN(cg_entry), ACC_CALLGATE32, 2            ; 0x60
        DESC 0x50000, 0xFFF, ACC_DATA | ACC_DPL3, GRAN_BYTE_32  ; 0x68
%if $ - gdt_template != GDT_SIZE
  %error "GDT_SIZE does not match the template"
%endif

gdtr:   dw GDT_SIZE - 1
        dd GDT_ADDR
idtr:   dw IDT_ENTRIES * 8 - 1
        dd IDT_ADDR

        bits 16
        ROM_END

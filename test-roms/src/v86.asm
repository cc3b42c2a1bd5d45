; v86.asm - virtual-8086 mode with printed results.
;
; The ring 0 monitor enters V86 mode by IRETD with EFLAGS.VM set, twice:
; with IOPL=0 and with IOPL=3.  The V86 code (real-mode style, CS=F000, the
; ROM's own segment) prints through port 0xE9 itself: in V86 mode IN/OUT
; are checked against the TSS I/O bitmap whatever IOPL is, and the bitmap
; allows ports 0xE9 and 0x501 only.
;
; IOPL=0: CLI, STI, PUSHF(D), POPF, INT n, IRET and HLT raise #GP(0); the
; monitor (lib/pmtrap.inc's handler) records the frame and returns to V86
; by IRETD at the resume address, and the V86 code prints the frame: error
; code, EIP ("ok" = the faulting instruction), CS, EFLAGS, ESP, SS, ES, DS,
; FS, GS.  OUT to a port the bitmap denies also faults.  The session ends
; with an INT that the monitor turns into a return to ring 0.
;
; IOPL=3: the same instructions run without faulting (PUSHF(D) images,
; POPF(D) unable to change IOPL), INT n goes through the IDT (not the IVT)
; to a ring 0 interrupt gate whose handler prints the V86 frame and the
; null data segment registers it got, IRETD returns to V86, a real-mode
; IRET works, the I/O bitmap still denies port 0x80, INT n through a DPL 0
; gate is a #GP(n*8+2), and the session leaves V86 mode through an INT
; into ring 0 that does not return.
;
; Masked because QEMU 7.2 (the reference) gets it wrong: the RF flag in the
; EFLAGS image of a fault frame.  The SDM has the CPU push RF=1 for every
; fault-class exception (other than an instruction-breakpoint #DB); QEMU
; pushes the current RF (0).  The fault frames print EFLAGS without bit 16
; ("eflags-rf0=").
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/pmtrap.inc"
        ROM_START

; ------------------------------------------------------------ V86 setup
V86_CS          equ ROMSEG
V86_SS          equ 0x5000      ; stack at linear 0x50000-0x57FFF
V86_SP          equ 0x8000
V86_ES          equ 0x1234
V86_DS          equ 0x0000      ; the V86 code reaches VARS through DS
V86_FS          equ 0x2345
V86_GS          equ 0x3456
EFL_VM          equ 0x00020000
EFL_IOPL3       equ 0x00003000

VEC_V86INT      equ 0x44        ; DPL 3 gate -> h_v86int
VEC_DPL0        equ 0x45        ; DPL 0 gate: INT from V86 must #GP

        VAR v86_exit_req        ; 1: the monitor's next #GP leaves V86
        VAR seen_esp            ; what h_v86int found on entry
        VAR seen_ss
        VAR seen_ds
        VAR seen_es
        VAR seen_fs
        VAR seen_gs
        VAR seen_fl
        VARN int_frame, 9
        VAR v86_tmp

; ------------------------------------------------------ V86 print macros
; The library's print routines use PUSHFD/POPFD, which fault in V86 mode
; with IOPL<3; these do not (and clobber the arithmetic flags).
%macro VPUTS 1+
        jmp %%after
%%str:  db %1, 0
%%after:
        push si
        mov si, OFS(%%str)
        call v86_puts
        pop si
%endmacro

; VHEX digits, operand: the low digits of "mov eax, operand"
%macro VHEX 2
        push eax
        push cx
        mov eax, %2
        mov cl, %1
        call v86_hex
        pop cx
        pop eax
%endmacro

; VSEG sreg: four hex digits of a segment register
%macro VSEG 1
        push eax
        push cx
        xor eax, eax
        mov ax, %1
        mov cl, 4
        call v86_hex
        pop cx
        pop eax
%endmacro

; Arithmetic flags to a known state: 0x7FFF + 1 sets OF SF AF PF.
%macro VFLAGS 0
        mov ax, 0x7FFF
        add ax, 1
%endmacro

%macro VTRY 1
        VPUTS %1, ": "
        VTRY_SILENT
%endmacro

%macro VTRY_SILENT 0
  %push vtry
        mov dword [fault_vec], -1
        mov dword [fault_at], -1
        mov dword [fault_resume], OFS(%$resume)
%endmacro

%macro VFAULTING 0
        mov dword [fault_at], OFS(%%insn)
%%insn:
%endmacro

%macro VCATCH 0
        mov dword [fault_resume], 0
%$resume:
        call v86_print_fault
  %pop
%endmacro

; VCATCH without the "no fault" line: the check prints its own values.
%macro VCATCH_NOPRINT 0
        mov dword [fault_resume], 0
%$resume:
        cmp dword [fault_vec], -1
        je %%ok
        call v86_print_fault
%%ok:
  %pop
%endmacro

; ========================================================== real mode
start:
        RM_INIT
        POST 0x01
        PUTS "v86: start in real mode", 10
        PMT_ENTER gdt_template, GDT_SIZE, pm_entry

pm_entry:
        call pmt_setup
        mov eax, 13                     ; #GP: the V86 monitor
        mov ebx, LIN(v86_gp)
        mov dl, ACC_INTGATE32
        call set_gate
        mov eax, VEC_V86INT
        mov ebx, LIN(h_v86int)
        mov dl, ACC_INTGATE32 | ACC_DPL3
        call set_gate
        mov eax, VEC_DPL0
        mov dl, ACC_INTGATE32
        call set_gate
        ; The IVT entry of VEC_V86INT points somewhere harmless: V86 mode
        ; must not use it.
        mov dword [VEC_V86INT * 4], (V86_CS << 16) | OFS(ivt_not_used)
        mov dword [v86_exit_req], 0
        POST 0x02
        PUTS "v86: 32-bit protected mode, tss io bitmap allows e9 and 501", 10

; ---------------------------------------------------------- IOPL = 0
        POST 0x03
        mov ebx, OFS(v86_iopl0)
        mov ecx, EFL_VM | 0x0002
        call enter_v86
        PUTS "back-in-ring0-from-iopl0:"
        PUT_CPL
        call put_vm
        PUTS 10

; ---------------------------------------------------------- IOPL = 3
        POST 0x04
        mov ebx, OFS(v86_iopl3)
        mov ecx, EFL_VM | EFL_IOPL3 | 0x0002
        call enter_v86
        PUTS "back-in-ring0-from-iopl3:"
        PUT_CPL
        call put_vm
        PUTS 10

        POST 0x05
        PUTS "v86: done", 10
        EXIT 0

; " vm=N" from the current EFLAGS
put_vm:
        push eax
        pushfd
        pop eax
        shr eax, 17
        and al, 1
        add al, '0'
        PUTS " vm="
        PUTC al
        pop eax
        ret

; Enter V86 mode at V86_CS:BX with EFLAGS = ECX.  "Returns" when the V86
; code gets back to ring 0 (h_to_ring0).
enter_v86:
        mov [r0_esp_save], esp
        push dword V86_GS
        push dword V86_FS
        push dword V86_DS
        push dword V86_ES
        push dword V86_SS
        push dword V86_SP
        push ecx                        ; EFLAGS (VM=1)
        push dword V86_CS
        push ebx                        ; EIP
        iretd

; #GP gate: normally the common recording handler (stub 13); with
; v86_exit_req set, leave V86 mode for good.
v86_gp:
        cmp dword [ss:v86_exit_req], 0
        jne .leave
        jmp isr_stubs + 13 * 16
.leave: mov dword [ss:v86_exit_req], 0
        jmp h_to_ring0

; INT VEC_V86INT from V86 mode (IOPL=3): print what the ring 0 handler got.
h_v86int:
        mov [ss:seen_esp], esp
        push eax
        mov ax, ds
        movzx eax, ax
        mov [ss:seen_ds], eax
        mov ax, es
        movzx eax, ax
        mov [ss:seen_es], eax
        mov ax, fs
        movzx eax, ax
        mov [ss:seen_fs], eax
        mov ax, gs
        movzx eax, ax
        mov [ss:seen_gs], eax
        mov ax, ss
        movzx eax, ax
        mov [ss:seen_ss], eax
        pushfd
        pop dword [ss:seen_fl]
        pop eax
        pushad
        mov ax, KDATA                   ; (IRETD to V86 reloads them all)
        mov ds, ax
        mov es, ax
        cld
        lea esi, [esp + 32]
        mov edi, int_frame
        mov ecx, 9
        rep movsd
        PUTS "v86-int-iopl3-handler:"
        PUT_CPL
        PUTS " ss:esp="
        HEX16 [seen_ss]
        PUTC ':'
        HEX32 [seen_esp]
        PUTS " ds="
        HEX16 [seen_ds]
        PUTS " es="
        HEX16 [seen_es]
        PUTS " fs="
        HEX16 [seen_fs]
        PUTS " gs="
        HEX16 [seen_gs]
        PUTS " eflags="
        HEX32 [seen_fl]
        PUTS 10
        PUTS "v86-int-iopl3-frame: eip="
        mov eax, [int_frame]
        cmp eax, OFS(v86_iopl3.after_int)
        call ok_or_hex
        PUTS " cs="
        HEX16 [int_frame + 4]
        PUTS " eflags="
        HEX32 [int_frame + 8]
        PUTS " esp="
        HEX32 [int_frame + 12]
        PUTS " ss="
        HEX16 [int_frame + 16]
        PUTS " es="
        HEX16 [int_frame + 20]
        PUTS " ds="
        HEX16 [int_frame + 24]
        PUTS " fs="
        HEX16 [int_frame + 28]
        PUTS " gs="
        HEX16 [int_frame + 32]
        PUTS 10
        popad
        iretd

; ========================================================== V86 code
        bits 16

; IOPL = 0
v86_iopl0:
        VPUTS "v86-iopl0-hello: cs="
        VSEG cs
        VPUTS " ss="
        VSEG ss
        VPUTS " sp="
        mov [v86_tmp], esp
        VHEX 4, [v86_tmp]
        VPUTS " ds="
        VSEG ds
        VPUTS " es="
        VSEG es
        VPUTS " fs="
        VSEG fs
        VPUTS " gs="
        VSEG gs
        smsw ax
        VPUTS " msw="
        VHEX 4, eax
        VPUTS 10

        VPUTS "v86-in-e9: al="
        in al, DBG_PORT
        VHEX 2, eax
        VPUTS 10

        VTRY "v86-iopl0-cli"
        VFLAGS
        VFAULTING
        cli
        VCATCH

        VTRY "v86-iopl0-sti"
        VFLAGS
        VFAULTING
        sti
        VCATCH

        VTRY "v86-iopl0-pushf"
        VFLAGS
        VFAULTING
        pushf
        VCATCH

        VTRY "v86-iopl0-pushfd"
        VFLAGS
        VFAULTING
        pushfd
        VCATCH

        VTRY "v86-iopl0-popf"
        push word 0x0ED5
        VFLAGS
        VFAULTING
        popf
        VCATCH
        add sp, 2

        VTRY "v86-iopl0-int"
        VFLAGS
        VFAULTING
        int VEC_V86INT
        VCATCH

        VTRY "v86-iopl0-iret"
        push word 0x0002
        push cs
        push word OFS(ivt_not_used)
        VFLAGS
        VFAULTING
        iret
        VCATCH
        add sp, 6

        VTRY "v86-iopl0-hlt"
        VFLAGS
        VFAULTING
        hlt
        VCATCH

        VTRY "v86-iopl0-out-80"
        VFLAGS
        VFAULTING
        out POST_PORT, al
        VCATCH

        VTRY "v86-iopl0-out-word-e9"    ; needs port 0xEA's bit too
        VFLAGS
        VFAULTING
        out DBG_PORT, ax
        VCATCH

        VPUTS "v86-iopl0: leaving by int", 10
        mov dword [v86_exit_req], 1
        int VEC_TO_RING0                ; #GP(0), then ring 0 for good

; IOPL = 3
v86_iopl3:
        VPUTS "v86-iopl3-hello: cs="
        VSEG cs
        VPUTS " sp="
        mov [v86_tmp], esp
        VHEX 4, [v86_tmp]
        VPUTS 10

        VTRY "v86-iopl3-cli-sti"        ; (STI's shadow covers the CLI)
        cli
        sti
        cli
        VCATCH

        VTRY "v86-iopl3-pushf"
        VFLAGS
        pushf
        pop ax
        mov [v86_tmp], ax
        VCATCH_NOPRINT
        VPUTS "flags="
        VHEX 4, [v86_tmp]
        VPUTS 10

        VTRY "v86-iopl3-pushfd"         ; VM and RF read as 0
        VFLAGS
        pushfd
        pop eax
        mov [v86_tmp], eax
        VCATCH_NOPRINT
        VPUTS "eflags="
        VHEX 8, [v86_tmp]
        VPUTS 10

        VTRY "v86-iopl3-popf"           ; IOPL 0 in the image: kept at 3
        push word 0x08D5
        popf
        pushf
        pop ax
        mov [v86_tmp], ax
        VCATCH_NOPRINT
        VPUTS "flags-after="
        VHEX 4, [v86_tmp]
        VPUTS 10

        VTRY "v86-iopl3-popfd"          ; VM=0, IOPL=0 in the image
        push dword 0x000000C3
        popfd
        pushfd
        pop eax
        mov [v86_tmp], eax
        VCATCH_NOPRINT
        VPUTS "eflags-after="
        VHEX 8, [v86_tmp]
        VPUTS " still-v86-cs="
        VSEG cs
        VPUTS 10

        VTRY_SILENT                     ; the handler prints two lines
        VFLAGS
        int VEC_V86INT
.after_int:
        mov [v86_tmp], esp
        VCATCH_NOPRINT
        VPUTS "v86-iopl3-int-returned: sp="
        VHEX 4, [v86_tmp]
        VPUTS 10

        VTRY "v86-iopl3-iret"           ; a real-mode IRET frame
        push word 0x0897
        push cs
        push word OFS(.iret_target)
        iret
        VPUTS "not here "
.iret_target:
        mov [v86_tmp + 2], sp
        pushf
        pop ax
        mov [v86_tmp], ax
        VCATCH_NOPRINT
        VPUTS "flags="
        VHEX 4, [v86_tmp]
        VPUTS " sp="
        VHEX 4, [v86_tmp + 2]
        VPUTS 10

        VTRY "v86-iopl3-out-80"         ; the bitmap, not IOPL, decides
        VFLAGS
        VFAULTING
        out POST_PORT, al
        VCATCH

        VTRY "v86-iopl3-int-dpl0-gate"
        VFLAGS
        VFAULTING
        int VEC_DPL0
        VCATCH

        VPUTS "v86-iopl3: leaving by int", 10
        int VEC_TO_RING0                ; does not return

; The IVT entry of VEC_V86INT and the IRET target of the IOPL=0 check:
; never reached.
ivt_not_used:
        VPUTS "IVT USED", 10
        mov dx, EXIT_PORT
        mov al, 2
        out dx, al
        jmp $

; String at CS:SI to the console.
v86_puts:
        push ax
        push si
.next:  mov al, [cs:si]
        inc si
        test al, al
        jz .done
        out DBG_PORT, al
        jmp .next
.done:  pop si
        pop ax
        ret

; The low CL hex digits of EAX.
v86_hex:
        push eax
        push ecx
        push edx
        push bx
        mov edx, eax
        mov ch, 8
        sub ch, cl
        shl ch, 2
        xchg cl, ch
        rol edx, cl
.digit: rol edx, 4
        mov bx, dx
        and bx, 0x0F
        mov al, [cs:bx + OFS(hex_chars)]
        out DBG_PORT, al
        dec ch
        jnz .digit
        pop bx
        pop edx
        pop ecx
        pop eax
        ret

; "no fault" or the recorded fault and its V86 frame, then a newline.
v86_print_fault:
        cmp dword [fault_vec], -1
        jne .fault
        VPUTS "no fault", 10
        ret
.fault: VPUTS "vector="
        VHEX 2, [fault_vec]
        VPUTS " err="
        VHEX 4, [fault_err]
        VPUTS " eip="
        mov eax, [fault_eip]
        cmp eax, [fault_at]
        jne .raw
        VPUTS "ok"
        jmp .cs
.raw:   VHEX 8, eax
.cs:    VPUTS " cs="
        VHEX 4, [fault_cs]
        VPUTS " eflags-rf0="
        mov eax, [fault_fl]
        and eax, ~0x10000
        VHEX 8, eax
        VPUTS " esp="
        VHEX 8, [fault_esp]
        VPUTS " ss="
        VHEX 4, [fault_ss]
        VPUTS " es="
        VHEX 4, [fault_frame + 20]
        VPUTS " ds="
        VHEX 4, [fault_frame + 24]
        VPUTS " fs="
        VHEX 4, [fault_frame + 28]
        VPUTS " gs="
        VHEX 4, [fault_frame + 32]
        VPUTS 10
        ret

        bits 32

; ------------------------------------------------------------- tables
        align 8
gdt_template:
        PMT_BASE_GDT
GDT_SIZE        equ $ - gdt_template

        PMT_ROUTINES
        bits 16
        ROM_END

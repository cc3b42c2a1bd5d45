; paging.asm - 32-bit paging (CR0.PG) with printed results.
;
; The ROM and the low 2 MiB of RAM are identity-mapped with 4 KiB user
; pages; test pages live at linear 0x400000 and up.  Every check prints one
; line "name: values": #PF error codes and CR2 for reads, writes and
; instruction fetches at CPL 0 and CPL 3 (entered by IRET, with the TSS
; ring 0 stack), supervisor writes to read-only pages with CR0.WP clear and
; set, the accessed and dirty bits the CPU writes into PDEs and PTEs, a
; 4 MiB page (CR4.PSE), global pages (CR4.PGE) flushed by INVLPG and by
; toggling CR4.PGE, a non-global page flushed by a CR3 reload or INVLPG,
; self-modifying code: through two linear aliases of one frame, and a
; store into the very next instruction; and an instruction crossing into a
; page whose frame is swapped after it ran.
;
; Faults are caught with TRY / FAULTING / CATCH (lib/pmtrap.inc): "eip=ok"
; means the pushed EIP is the faulting instruction (for a fetch fault: the
; address jumped to), otherwise the EIP is printed raw.
;
; Left out because QEMU 7.2 (the reference) does not model it:
; - a global page surviving a CR3 reload: QEMU flushes its whole TLB on
;   every CR3 write.  (A stale read is only a "may" architecturally, so no
;   check reads through a TLB entry that software has not flushed.)
; - a page table outside RAM (a PDE pointing at physical 0xF0000000): QEMU
;   reads unassigned physical memory as zeros, so the PTE is not present
;   and the access faults; a PC reads all ones there (open bus), which
;   gives a present PTE.
; Also left out as implementation-dependent: the accessed bit of a PDE
; whose walk ends at a not-present PTE (QEMU sets it, Bochs does not).
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
%include "lib/pmtrap.inc"
        ROM_START

; ---------------------------------------------------------------- layout
PD              equ 0x10000     ; page directory
PT0             equ 0x11000     ; linear 0-4 MiB: identity, first 2 MiB
PT1             equ 0x12000     ; linear 0x400000: the test pages
PT2             equ 0x13000     ; linear 0x800000: accessed/dirty checks
FRAME_A         equ 0x20000     ; physical frames behind the test pages
FRAME_B         equ 0x21000
FRAME_SUP       equ 0x22000
FRAME_RO        equ 0x23000
FRAME_RW        equ 0x24000
FRAME_SMC       equ 0x25000
FRAME_AD        equ 0x26000
FRAME_X1        equ 0x27000     ; the page an instruction crosses out of
FRAME_X2A       equ 0x28000     ; and two frames for the page it crosses into
FRAME_X2B       equ 0x29000

PG_P            equ 0x001
PG_RW           equ 0x002
PG_U            equ 0x004
PG_A            equ 0x020
PG_D            equ 0x040
PG_PS           equ 0x080
PG_G            equ 0x100

; Linear addresses of the test pages (PT1 index = (addr >> 12) & 0x3FF).
TP_NP           equ 0x400000    ; not present
TP_SUP          equ 0x401000    ; supervisor, writable
TP_RO           equ 0x402000    ; user, read-only
TP_RW           equ 0x403000    ; user, writable
TP_GLOBAL       equ 0x404000    ; global, FRAME_A or FRAME_B
TP_SMC1         equ 0x405000    ; FRAME_SMC, executed here
TP_SMC2         equ 0x406000    ; FRAME_SMC again, patched here
TP_NG           equ 0x407000    ; non-global, FRAME_A or FRAME_B
TP_X1           equ 0x408000    ; FRAME_X1
TP_X2           equ 0x409000    ; FRAME_X2A, then FRAME_X2B
TP_AD           equ 0x800000    ; PD[2] -> PT2[0] -> FRAME_AD
BIG_PAGE        equ 0xC00000    ; PD[3]: 4 MiB page -> physical 0
PDE_SUP_BASE    equ 0x1400000   ; PD[5] = PT1, supervisor PDE
PDE_RO_BASE     equ 0x1800000   ; PD[6] = PT1, read-only PDE

MARK_A          equ 0xAAAA0001
MARK_B          equ 0xBBBB0002
MARK_SUP        equ 0x5555AAAA
MARK_RO         equ 0x0F0F1234

        VAR r3_esp

%macro FLUSH_TLB 0
        mov eax, cr3
        mov cr3, eax
%endmacro

; PUTS " name=" then the dword operand in hex
%macro SHOW 2
        PUTS %1
        HEX32 %2
%endmacro

; ========================================================== real mode
start:
        RM_INIT
        POST 0x01
        PUTS "paging: start in real mode", 10
        PMT_ENTER gdt_template, GDT_SIZE, pm_entry

pm_entry:
        call pmt_setup
        POST 0x02

        ; ---------------------------------------------- page tables
        cld
        mov edi, PD
        mov ecx, 4 * 1024               ; PD, PT0, PT1, PT2
        xor eax, eax
        rep stosd
        mov edi, PT0                    ; identity map 0-2 MiB, user RW
        mov eax, PG_P | PG_RW | PG_U
        mov ecx, 512
.id:    stosd
        add eax, 0x1000
        loop .id
        mov dword [PD + 0*4], PT0 | PG_P | PG_RW | PG_U
        mov dword [PD + 1*4], PT1 | PG_P | PG_RW | PG_U
        mov dword [PD + 2*4], PT2 | PG_P | PG_RW | PG_U
        mov dword [PD + 3*4], 0 | PG_PS | PG_P | PG_RW | PG_U
        mov dword [PD + 5*4], PT1 | PG_P | PG_RW
        mov dword [PD + 6*4], PT1 | PG_P | PG_U
        mov dword [PT1 + 1*4], FRAME_SUP | PG_P | PG_RW
        mov dword [PT1 + 2*4], FRAME_RO | PG_P | PG_U
        mov dword [PT1 + 3*4], FRAME_RW | PG_P | PG_RW | PG_U
        mov dword [PT1 + 4*4], FRAME_A | PG_G | PG_P | PG_RW
        mov dword [PT1 + 5*4], FRAME_SMC | PG_P | PG_RW
        mov dword [PT1 + 6*4], FRAME_SMC | PG_P | PG_RW
        mov dword [PT1 + 7*4], FRAME_A | PG_P | PG_RW
        mov dword [PT2 + 0*4], FRAME_AD | PG_P | PG_RW | PG_U

        ; frame contents
        mov edi, FRAME_A                ; FRAME_A .. FRAME_AD: zero
        mov ecx, 7 * 1024
        xor eax, eax
        rep stosd
        mov dword [FRAME_A], MARK_A
        mov dword [FRAME_B], MARK_B
        mov dword [FRAME_SUP], MARK_SUP
        mov dword [FRAME_RO], MARK_RO

        ; ---------------------------------------------- paging on
        mov eax, PD
        mov cr3, eax
        mov eax, cr4
        or eax, 0x10 | 0x80             ; PSE, PGE
        mov cr4, eax
        mov eax, cr0
        or eax, 0x80000000              ; PG
        mov cr0, eax
        jmp .paged                      ; (the code is identity-mapped)
.paged:
        POST 0x03
        PUTS "paging: on"
        mov eax, cr0
        SHOW " cr0=", eax
        mov eax, cr3
        SHOW " cr3=", eax
        mov eax, cr4
        SHOW " cr4=", eax
        PUTS 10

; ------------------------------------------------ not-present, CPL 0
        TRY "pf-read-not-present"
        FAULTING
        mov eax, [TP_NP + 0x123]
        CATCH

        TRY "pf-write-not-present"
        FAULTING
        mov [TP_NP + 0x456], eax
        CATCH

        TRY "pf-fetch-not-present"
        mov dword [fault_at], TP_NP + 0x10
        mov eax, TP_NP + 0x10
        jmp eax
        CATCH

        TRY "sup-read-supervisor"
        mov eax, [TP_SUP]
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", eax
        PUTS 10

; --------------------------------------------------------- CPL 3
        POST 0x04
        mov ebx, LIN(r3_main)
        call enter_ring3
        PUTS "back-in-ring0:"
        PUT_CPL
        PUTS 10

; ------------------------------------------ CR0.WP and supervisor writes
        TRY "sup-write-read-only-wp0"
        mov dword [TP_RO + 0x40], 0x12345678
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", [FRAME_RO + 0x40]
        PUTS 10

        mov eax, cr0
        or eax, 0x10000                 ; WP
        mov cr0, eax
        TRY "pf-sup-write-read-only-wp1"
        FAULTING
        mov dword [TP_RO + 0x44], 0x9ABCDEF0
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", [FRAME_RO + 0x44]
        PUTS 10

        TRY "pf-sup-write-pde-read-only-wp1"
        FAULTING
        mov dword [PDE_RO_BASE + 0x3000 + 0x48], 0x9ABCDEF0
        CATCH

        TRY "sup-write-user-rw-wp1"
        mov dword [TP_RW + 0x4C], 0x0BADF00D
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", [FRAME_RW + 0x4C]
        PUTS 10

        mov eax, cr0
        and eax, ~0x10000
        mov cr0, eax

; ------------------------------------------------ accessed and dirty
        POST 0x05
        and dword [PD + 2*4], ~(PG_A | PG_D)
        and dword [PT2], ~(PG_A | PG_D)
        FLUSH_TLB
        PUTS "ad-before:"
        SHOW " pde=", [PD + 2*4]
        SHOW " pte=", [PT2]
        PUTS 10
        mov eax, [TP_AD + 0x10]
        PUTS "ad-after-read:"
        SHOW " pde=", [PD + 2*4]
        SHOW " pte=", [PT2]
        PUTS 10
        mov dword [TP_AD + 0x10], 0x600D
        PUTS "ad-after-write:"
        SHOW " pde=", [PD + 2*4]
        SHOW " pte=", [PT2]
        SHOW " frame=", [FRAME_AD + 0x10]
        PUTS 10
        and dword [PD + 2*4], ~(PG_A | PG_D)
        and dword [PT2], ~(PG_A | PG_D)
        FLUSH_TLB
        mov byte [TP_AD + 0x20], 0x77
        PUTS "ad-write-first:"
        SHOW " pde=", [PD + 2*4]
        SHOW " pte=", [PT2]
        PUTS 10

; ------------------------------------------------ 4 MiB page (CR4.PSE)
        and dword [PD + 3*4], ~(PG_A | PG_D)
        FLUSH_TLB
        mov eax, [BIG_PAGE + FRAME_A]
        PUTS "pse-4m-read:"
        SHOW " value=", eax
        SHOW " pde=", [PD + 3*4]
        PUTS 10
        mov dword [BIG_PAGE + FRAME_RW + 0x100], 0xC0FFEE
        PUTS "pse-4m-write:"
        SHOW " identity-value=", [FRAME_RW + 0x100]
        SHOW " pde=", [PD + 3*4]
        PUTS 10

; ------------------------------------------------ TLB: INVLPG, CR3, PGE
        POST 0x06
        mov eax, [TP_GLOBAL]            ; cache the global translation
        PUTS "pge-global-first:"
        SHOW " value=", eax
        PUTS 10
        mov dword [PT1 + 4*4], FRAME_B | PG_G | PG_P | PG_RW
        invlpg [TP_GLOBAL]
        mov eax, [TP_GLOBAL]
        PUTS "pge-after-invlpg:"
        SHOW " value=", eax
        PUTS 10
        mov dword [PT1 + 4*4], FRAME_A | PG_G | PG_P | PG_RW
        mov eax, cr4                    ; clearing PGE flushes global
        and eax, ~0x80                  ; entries too
        mov cr4, eax
        or eax, 0x80
        mov cr4, eax
        mov eax, [TP_GLOBAL]
        PUTS "pge-after-cr4-toggle:"
        SHOW " value=", eax
        PUTS 10

        mov eax, [TP_NG]                ; non-global: a CR3 load flushes
        PUTS "nonglobal-first:"
        SHOW " value=", eax
        PUTS 10
        mov dword [PT1 + 7*4], FRAME_B | PG_P | PG_RW
        FLUSH_TLB
        mov eax, [TP_NG]
        PUTS "nonglobal-after-cr3:"
        SHOW " value=", eax
        PUTS 10
        mov dword [PT1 + 7*4], FRAME_A | PG_P | PG_RW
        invlpg [TP_NG]
        mov eax, [TP_NG]
        PUTS "nonglobal-after-invlpg:"
        SHOW " value=", eax
        PUTS 10

        ; Unmapping a page then INVLPG: the next access faults.
        mov dword [PT1 + 7*4], 0
        invlpg [TP_NG]
        TRY "pf-after-unmap-invlpg"
        FAULTING
        mov eax, [TP_NG + 4]
        CATCH
        mov dword [PT1 + 7*4], FRAME_A | PG_P | PG_RW
        invlpg [TP_NG]

; ------------------------------------------- self-modifying code, aliases
        POST 0x07
        ; mov eax, 0x11111111 / ret, written through TP_SMC2, run at TP_SMC1
        mov dword [TP_SMC2], 0x111111B8
        mov dword [TP_SMC2 + 4], 0x0000C311
        mov eax, TP_SMC1
        call eax
        PUTS "smc-alias:"
        SHOW " first=", eax
        mov dword [TP_SMC2 + 1], 0x22222222     ; patch the immediate
        mov eax, TP_SMC1
        call eax
        SHOW " second=", eax
        mov byte [TP_SMC2 + 5], 0x90            ; ret -> nop, then a
        mov dword [TP_SMC2 + 6], 0x000033B8     ; new mov eax, 0x33 and
        mov word [TP_SMC2 + 10], 0xC300         ; ret after it
        mov eax, TP_SMC1
        call eax
        SHOW " third=", eax
        PUTS 10

        ; Store into the very next instruction through the same linear
        ; address (P6 and later snoop the prefetched bytes by linear
        ; address): the new immediate must be the one executed.
        mov esi, LIN(smc_next_src)
        mov edi, TP_SMC1
        mov ecx, smc_next_end - smc_next_src
        rep movsb
        mov eax, TP_SMC1
        call eax
        PUTS "smc-next-insn:"
        SHOW " value=", eax
        PUTS 10

        ; An instruction crossing into the next page, whose frame is then
        ; swapped (INVLPG): the bytes of the new frame must be executed.
        mov dword [PT1 + 8*4], FRAME_X1 | PG_P | PG_RW
        mov dword [PT1 + 9*4], FRAME_X2A | PG_P | PG_RW
        invlpg [TP_X1]
        invlpg [TP_X2]
        mov dword [TP_X1 + 0xFFC], 0x332211B8   ; mov eax, imm32 ...
        mov word [FRAME_X2A], 0xC344            ; ... ending 0x44; ret
        mov word [FRAME_X2B], 0xC355            ; ... ending 0x55; ret
        mov ecx, 100                            ; run often, so it is cached
cross_loop:
        mov eax, TP_X1 + 0xFFC
        call eax
        dec ecx
        jnz cross_loop
        PUTS "cross-page-insn:"
        SHOW " first=", eax
        mov dword [PT1 + 9*4], FRAME_X2B | PG_P | PG_RW
        invlpg [TP_X2]
        mov eax, TP_X1 + 0xFFC
        call eax
        SHOW " second=", eax
        PUTS 10

        POST 0x09
        PUTS "paging: done", 10
        EXIT 0

; Copied to TP_SMC1 and called there: rewrites the immediate of the
; following mov before executing it.
smc_next_src:
        mov byte [TP_SMC1 + (.imm - smc_next_src)], 0x44
        mov eax, 0x33
.imm    equ $ - 4
        ret
smc_next_end:

; ========================================================== ring 3 code
r3_main:
        mov ax, UDATA | 3
        mov ds, ax
        mov es, ax
        PUTS "ring3:"
        PUT_CPL
        PUTS 10

        TRY "pf-user-read-supervisor"
        FAULTING
        mov eax, [TP_SUP + 0x10]
        CATCH

        TRY "pf-user-write-supervisor"
        FAULTING
        mov [TP_SUP + 0x14], eax
        CATCH

        TRY "pf-user-fetch-supervisor"
        mov dword [ss:fault_at], TP_SUP + 0x30
        mov eax, TP_SUP + 0x30
        jmp eax
        CATCH

        TRY "pf-user-read-not-present"
        FAULTING
        mov eax, [TP_NP + 0x18]
        CATCH

        TRY "pf-user-write-not-present"
        FAULTING
        mov [TP_NP + 0x1C], eax
        CATCH

        TRY "user-read-read-only"
        mov eax, [TP_RO]
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", eax
        PUTS 10

        TRY "pf-user-write-read-only"
        FAULTING
        mov dword [TP_RO + 0x20], 0x12345678
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", [TP_RO + 0x20]
        PUTS 10

        TRY "pf-user-read-pde-supervisor"       ; PTE user, PDE supervisor
        FAULTING
        mov eax, [PDE_SUP_BASE + 0x2000]
        CATCH

        TRY "pf-user-write-pde-read-only"       ; PTE writable, PDE not
        FAULTING
        mov dword [PDE_RO_BASE + 0x3000 + 0x24], 0x12345678
        CATCH

        TRY "user-read-pde-read-only"
        mov eax, [PDE_RO_BASE + 0x2000]
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", eax
        PUTS 10

        TRY "user-write-rw"
        mov dword [TP_RW + 0x28], 0x87654321
        CATCH_SILENT
        call print_fault_nonl
        SHOW " value=", [TP_RW + 0x28]
        PUTS 10

        int VEC_TO_RING0                ; does not return

; ------------------------------------------------------------- tables
        align 8
gdt_template:
        PMT_BASE_GDT
GDT_SIZE        equ $ - gdt_template

        PMT_ROUTINES
        bits 16
        ROM_END

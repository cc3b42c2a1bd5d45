; triple.asm - ends the run with a triple fault (a shutdown).
;
; In flat 32-bit protected mode, load an IDT whose limit is 0 and execute
; INT3.  Gate 3 lies outside the IDT: #GP(3*8+2).  Gate 13 is outside too:
; a second contributory fault while delivering #GP gives #DF, whose gate 8
; is also outside the IDT: triple fault.  A PC resets; QEMU with -no-reboot
; exits with status 0 instead of the debug-exit status, and run-qemu.sh
; reports that as "triple-fault".  Nothing after the INT3 may run.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

start:
        RM_INIT
        FLAT_PM_SWITCH pm_main

pm_main:
        PUTS "triple: IDT limit 0, INT3 -> #GP -> #DF -> triple fault", 10
        lidt [cs:LIN(empty_idtr)]
        int3
        ; Only reached if the triple fault did not happen.
        PUTS "triple: FAILED, execution continued after INT3", 10
        EXIT 1

empty_idtr:
        dw 0                            ; limit 0: not even one gate fits
        dd 0

        bits 16
        ROM_END

; ramfill.asm - a guest that fills all of its RAM with a pattern of its own.
;
; Used by the many-machines test and the embedding example (machine/tests/
; partition.rs, machine/examples/embed.rs).  The guest reads its RAM size from
; fw_cfg (item 0x03), then a 4-byte seed (little-endian) from COM1, polling
; the line status register.  It fills 0-0x9FFFF and 1 MiB to the top of RAM
; with an xorshift32 stream started at the seed, reads it all back into a
; checksum and prints seed, RAM size and checksum on COM1 and on the debug
; console.  With an ATA disk as primary master it then writes DISK_SECTORS
; sectors from LBA 0 with the stream continued (PIO, then FLUSH CACHE), reads
; them back into a second checksum and prints that too (" d" and 8 hex
; digits).  Then it exits with value 0.  No seed on COM1: it waits for ever.
;
; SPDX-License-Identifier: MIT OR Apache-2.0

%include "lib/rom.inc"
        ROM_START

COM1            equ 0x3F8
FW_CFG_SEL      equ 0x510
FW_CFG_DATA     equ 0x511
LOW_TOP         equ 0xA0000
ATA             equ 0x1F0           ; primary channel task file
DISK_SECTORS    equ 64
HIGH_BASE       equ 0x100000

start:
        RM_INIT
        POST 0x01
        FLAT_PM_SWITCH pm_main

pm_main:
        POST 0x02
        ; RAM size: the low dword of fw_cfg item 0x03, LSB first.
        mov dx, FW_CFG_SEL
        mov ax, 0x03
        out dx, ax
        mov dx, FW_CFG_DATA
        call read_dword
        mov ebp, eax                    ; ebp = top of RAM
        ; Seed: 4 bytes from COM1.
        mov dx, COM1
        call read_dword
        mov esi, eax                    ; esi = seed
        or eax, eax
        jnz .seeded
        mov eax, 1                      ; xorshift32 can not start at 0
.seeded:
        ; Fill, no stack used from here to the checksum.
        xor edi, edi
        mov ecx, LOW_TOP / 4
        call fill
        mov edi, HIGH_BASE
        mov ecx, ebp
        sub ecx, HIGH_BASE
        shr ecx, 2
        call fill
        ; Checksum: rol 5, xor each dword.
        xor ebx, ebx
        xor edi, edi
        mov ecx, LOW_TOP / 4
        call sum
        mov edi, HIGH_BASE
        mov ecx, ebp
        sub ecx, HIGH_BASE
        shr ecx, 2
        call sum
        mov edi, ebx                    ; edi = checksum
        POST 0x03
        PUTS "ramfill: seed "
        HEX32 esi
        PUTS " ram "
        HEX32 ebp
        PUTS " sum "
        HEX32 edi
        PUTS 10
        mov al, 's'
        call ser_putc
        mov eax, esi
        call ser_hex32
        mov al, ' '
        call ser_putc
        mov al, 'r'
        call ser_putc
        mov eax, ebp
        call ser_hex32
        mov al, ' '
        call ser_putc
        mov al, 'c'
        call ser_putc
        mov eax, edi
        call ser_hex32
        call disk
        mov al, 10
        call ser_putc
        EXIT 0

; The disk phase, if a disk is there (DRDY set in its status).  The stream starts
; at the RAM checksum in edi, so the disk pattern is the guest's own.
disk:
        mov dx, ATA + 6
        mov al, 0xE0                    ; master, LBA
        out dx, al
        mov dx, ATA + 7
        in al, dx
        cmp al, 0xFF                    ; no controller: the bus floats
        je .none
        test al, 0x40                   ; no drive: DRDY clear
        jz .none
        mov ebx, edi
        or ebx, 1                       ; xorshift32 state, never 0
        mov al, 0x30                    ; WRITE SECTORS
        call ata_command
        mov ecx, DISK_SECTORS
.wsec:  call ata_drq
        push ecx
        mov ecx, 128
.wdw:   mov eax, ebx                    ; next xorshift32 value in ebx
        shl eax, 13
        xor ebx, eax
        mov eax, ebx
        shr eax, 17
        xor ebx, eax
        mov eax, ebx
        shl eax, 5
        xor ebx, eax
        mov eax, ebx
        mov dx, ATA
        out dx, ax
        shr eax, 16
        out dx, ax
        loop .wdw
        pop ecx
        loop .wsec
        call ata_ready
        mov al, 0xE7                    ; FLUSH CACHE
        mov dx, ATA + 7
        out dx, al
        call ata_ready
        mov al, 0x20                    ; READ SECTORS
        call ata_command
        xor ebx, ebx                    ; checksum: rol 5, xor each word
        mov ecx, DISK_SECTORS
.rsec:  call ata_drq
        push ecx
        mov ecx, 256
        mov dx, ATA
.rw:    in ax, dx
        rol ebx, 5
        movzx eax, ax
        xor ebx, eax
        loop .rw
        pop ecx
        loop .rsec
        mov al, ' '
        call ser_putc
        mov al, 'd'
        call ser_putc
        mov eax, ebx
        call ser_hex32
.none:  ret

; Command al on DISK_SECTORS sectors from LBA 0 of the master.
ata_command:
        push eax
        mov dx, ATA + 2
        mov al, DISK_SECTORS
        out dx, al
        xor al, al
        inc dx                          ; LBA 0-7, 8-15, 16-23
        out dx, al
        inc dx
        out dx, al
        inc dx
        out dx, al
        inc dx
        mov al, 0xE0
        out dx, al
        inc dx
        pop eax
        out dx, al
        ret

; Wait for BSY clear and DRQ set.
ata_drq:
        mov dx, ATA + 7
.wait:  in al, dx
        test al, 0x80
        jnz .wait
        test al, 0x08
        jz .wait
        ret

; Wait for BSY clear.
ata_ready:
        mov dx, ATA + 7
.wait:  in al, dx
        test al, 0x80
        jnz .wait
        ret

; Four bytes from port dx (COM1: wait for each) into eax, LSB first.
; The call's return address is on the stack, which is still untouched here.
read_dword:
        push ecx
        push ebx
        xor ebx, ebx
        mov ecx, 4
.byte:  cmp dx, COM1
        jne .get
        add dx, 5                       ; line status register
.wait:  in al, dx
        test al, 1                      ; data ready
        jz .wait
        sub dx, 5
.get:   in al, dx
        shrd ebx, eax, 8                ; al into the top byte, the rest down
        loop .byte
        mov eax, ebx
        pop ebx
        pop ecx
        ret

; ecx dwords of xorshift32 (state in eax) from edi.  The return address is
; kept in a register: the stack is overwritten too.
fill:
        pop edx
.next:  mov ebx, eax
        shl ebx, 13
        xor eax, ebx
        mov ebx, eax
        shr ebx, 17
        xor eax, ebx
        mov ebx, eax
        shl ebx, 5
        xor eax, ebx
        mov [edi], eax
        add edi, 4
        loop .next
        jmp edx

; Fold ecx dwords from edi into ebx (rol 5, xor); return as fill does.
sum:
        pop edx
.next:  rol ebx, 5
        xor ebx, [edi]
        add edi, 4
        loop .next
        jmp edx

; al to COM1.
ser_putc:
        push edx
        mov dx, COM1
        out dx, al
        pop edx
        ret

; eax to COM1 as 8 hex digits.
ser_hex32:
        push ecx
        push edx
        mov edx, eax
        mov ecx, 8
.digit: rol edx, 4
        mov al, dl
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe .out
        add al, 'A' - '9' - 1
.out:   call ser_putc
        loop .digit
        pop edx
        pop ecx
        ret

        ROM_END

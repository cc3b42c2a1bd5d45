; Boot sector of the disk images built by frontend-cli/tests/firmware.rs, booted by
; SeaBIOS from the first hard disk (DL = drive). It prints through INT 10h (SeaBIOS
; mirrors the screen to COM1), reads the disk through INT 13h and checks what it read,
; and leaves through the exit port (0x501): 42 when every check passed, 1-9 naming the
; first that failed.
;
; The image: LBA 0 this sector, LBA k (1..63) filled with the byte k.
; The byte at offset 0x1FD selects what to do:
;   0  check: CHS read (AH=02h) of LBA 1-3, extended read (AH=42h) of LBA 4-11, extended
;      write (AH=43h) of 2 sectors of 0x5A at LBA 20, read back and compared; exit 42
;   1  write forever: 8 sectors at LBA 32, all 0xAA, then all 0x55, and so on (the
;      disk-safety test kills ox86 meanwhile)
;
; SPDX-License-Identifier: MIT OR Apache-2.0

bits 16
org 0x7c00

EXIT_PORT equ 0x501

start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    mov [drive], dl
    mov si, msg_hello
    call print

    mov ah, 0x41                ; INT 13h extensions?
    mov bx, 0x55aa
    mov dl, [drive]
    int 0x13
    mov al, 1
    jc fail
    cmp bx, 0xaa55
    jne fail

    cmp byte [mode], 1
    je write_forever

    mov ax, 0x0203              ; CHS read: 3 sectors from C0 H0 S2 (LBA 1)
    mov cx, 0x0002
    xor dh, dh
    mov dl, [drive]
    mov bx, 0x8000
    int 0x13
    mov al, 2
    jc fail
    mov si, 0x8000
    mov al, 1
    mov cx, 3
    call check_sectors
    mov al, 3
    jc fail

    mov word [dap_count], 8     ; extended read: 8 sectors from LBA 4
    mov word [dap_buf], 0x9000
    mov dword [dap_lba], 4
    mov ah, 0x42
    call disk_ext
    mov al, 4
    jc fail
    mov si, 0x9000
    mov al, 4
    mov cx, 8
    call check_sectors
    mov al, 5
    jc fail
    mov si, msg_read
    call print

    mov di, 0xa000              ; extended write: 2 sectors of 0x5A at LBA 20
    mov al, 0x5a
    mov cx, 1024
    rep stosb
    mov word [dap_count], 2
    mov word [dap_buf], 0xa000
    mov dword [dap_lba], 20
    mov ax, 0x4300
    call disk_ext
    mov al, 6
    jc fail
    mov word [dap_count], 2     ; read it back
    mov word [dap_buf], 0xb000
    mov ah, 0x42
    call disk_ext
    mov al, 7
    jc fail
    mov si, 0xb000
    mov cx, 1024
.cmp:
    lodsb
    cmp al, 0x5a
    mov al, 8
    jne fail
    loop .cmp
    mov si, msg_ok
    call print
    call flush
    mov al, 42
    mov dx, EXIT_PORT
    out dx, al
.halt:
    hlt
    jmp .halt

write_forever:
    mov si, msg_writing
    call print
    call flush
    mov bl, 0xaa
.again:
    mov di, 0xa000
    mov al, bl
    mov cx, 4096
    rep stosb
    mov word [dap_count], 8
    mov word [dap_buf], 0xa000
    mov dword [dap_lba], 32
    push bx
    mov ax, 0x4300
    call disk_ext
    pop bx
    mov al, 9
    jc fail
    not bl                      ; 0xAA <-> 0x55
    jmp .again

; AH (and AL) set: INT 13h with the DAP on the boot drive.
disk_ext:
    mov si, dap
    mov dl, [drive]
    int 0x13
    ret

; Check CX sectors at DS:SI, the first filled with AL, the next with AL+1...; CF on a
; mismatch.
check_sectors:
    mov bl, al
.sector:
    push cx
    mov cx, 512
.byte:
    lodsb
    cmp al, bl
    jne .bad
    loop .byte
    pop cx
    inc bl
    loop .sector
    clc
    ret
.bad:
    pop cx
    stc
    ret

; AL = failure number: say so and exit with it.
fail:
    push ax
    mov si, msg_fail
    call print
    pop ax
    push ax
    add al, '0'
    mov ah, 0x0e
    xor bx, bx
    int 0x10
    call flush
    pop ax
    mov dx, EXIT_PORT
    out dx, al
    jmp start.halt

; Let two timer ticks pass: SeaBIOS sends the screen text it holds back to the serial
; port from its timer interrupt.
flush:
    sti
    hlt
    hlt
    ret

; Print the NUL-terminated string at DS:SI through INT 10h teletype output.
print:
    lodsb
    test al, al
    jz .done
    mov ah, 0x0e
    xor bx, bx
    int 0x10
    jmp print
.done:
    ret

msg_hello:   db "BOOT: boot sector running", 13, 10, 0
msg_read:    db "BOOT: INT 13h reads ok", 13, 10, 0
msg_ok:      db "BOOT: INT 13h write ok", 13, 10, 0
msg_writing: db "BOOT: writing", 13, 10, 0
msg_fail:    db "BOOT: FAIL ", 0

drive: db 0
align 4
dap:
    db 16, 0
dap_count: dw 0
dap_buf:   dw 0, 0
dap_lba:   dd 0, 0

    times 0x1fd-($-$$) db 0
mode: db 0
    dw 0xaa55

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
;   2  CD-ROM (booted by El Torito, no emulation): extended read of the 2048-byte block
;      21 (filled with 21 on the test's ISO image) and check; exit 43
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

    mov al, [mode]
    cmp al, 1
    je write_forever
    cmp al, 2
    je cd_check

    mov ax, 0x0203              ; CHS read: 3 sectors from C0 H0 S2 (LBA 1)
    mov cx, 0x0002
    xor dh, dh
    mov dl, [drive]
    mov bx, 0x8000
    int 0x13
    mov al, 2
    jc fail
    mov si, 0x8000
    mov bl, 1
    mov dx, 3
    call check_sectors
    mov al, 3
    jc fail

    mov ah, 0x42                ; extended read: 8 sectors from LBA 4
    mov cx, 8
    mov di, 0x9000
    mov bx, 4
    call disk_ext
    mov al, 4
    jc fail
    mov si, 0x9000
    mov bl, 4
    mov dx, 8
    call check_sectors
    mov al, 5
    jc fail
    mov si, msg_read
    call print

    mov di, 0xa000              ; extended write: 2 sectors of 0x5A at LBA 20
    mov al, 0x5a
    mov cx, 1024
    rep stosb
    mov ah, 0x43
    mov cx, 2
    mov di, 0xa000
    mov bx, 20
    call disk_ext
    mov al, 6
    jc fail
    mov ah, 0x42                ; read it back
    mov cx, 2
    mov di, 0xb000
    mov bx, 20
    call disk_ext
    mov al, 7
    jc fail
    mov si, 0xb000
    mov cx, 1024
    mov bl, 0x5a
    call check_bytes
    mov al, 8
    jc fail
    mov si, msg_ok
    mov al, 42
    jmp finish

cd_check:
    mov ah, 0x42                ; one 2048-byte block, LBA 21
    mov cx, 1
    mov di, 0x9000
    mov bx, 21
    call disk_ext
    mov al, 2
    jc fail
    mov si, 0x9000
    mov cx, 2048
    mov bl, 21
    call check_bytes
    mov al, 3
    jc fail
    mov si, msg_cd
    mov al, 43
    jmp finish

write_forever:
    mov si, msg_writing
    call print
    call flush
    mov dl, 0xaa
.again:
    mov di, 0xa000
    mov al, dl
    mov cx, 4096
    rep stosb
    push dx
    mov ah, 0x43                ; 8 sectors at LBA 32
    mov cx, 8
    mov di, 0xa000
    mov bx, 32
    call disk_ext
    pop dx
    mov al, 9
    jc fail
    not dl                      ; 0xAA <-> 0x55
    jmp .again

; AH = 42h/43h (AL = 0): CX sectors at 0:DI, from LBA BX, on the boot drive.
disk_ext:
    mov [dap_count], cx
    mov [dap_buf], di
    mov [dap_lba], bx
    mov si, dap
    mov dl, [drive]
    int 0x13
    ret

; DX sectors at DS:SI, the first filled with BL, the next with BL+1...; CF on a mismatch.
check_sectors:
    mov cx, 512
    call check_bytes
    jc .done
    inc bl
    dec dx
    jnz check_sectors
.done:
    ret

; CX bytes at DS:SI all equal to BL? CF if not.
check_bytes:
    lodsb
    cmp al, bl
    jne .bad
    loop check_bytes
    clc
    ret
.bad:
    stc
    ret

; AL = failure number: say so and exit with it.
fail:
    mov si, msg_fail
    add [msg_fail_n], al
; Print SI, let SeaBIOS send it, exit with AL.
finish:
    push ax
    call print
    call flush
    pop ax
    mov dx, EXIT_PORT
    out dx, al
halt:
    hlt
    jmp halt

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

msg_hello:   db "BOOT: hello", 13, 10, 0
msg_read:    db "BOOT: reads ok", 13, 10, 0
msg_ok:      db "BOOT: write ok", 13, 10, 0
msg_cd:      db "BOOT: cd ok", 13, 10, 0
msg_writing: db "BOOT: writing", 13, 10, 0
msg_fail:    db "BOOT: FAIL "
msg_fail_n:  db "0", 13, 10, 0

drive: db 0
dap:
    db 16, 0
dap_count: dw 0
dap_buf:   dw 0, 0
dap_lba:   dd 0, 0

    times 0x1fd-($-$$) db 0
mode: db 0
    dw 0xaa55

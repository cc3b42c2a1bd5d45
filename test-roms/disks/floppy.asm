; Boot sector of the 1.44 MB floppy image built by frontend-cli/tests/floppy.rs, booted
; by SeaBIOS from drive A: (DL = 0). It prints through INT 10h (SeaBIOS mirrors the
; screen to COM1), reads and writes the floppy through INT 13h
; AH=02h/03h (SeaBIOS drives the 82077AA controller and DMA channel 2), checks what it
; read, and leaves through the exit port (0x501): 44 when every check passed, 1-9
; naming the first that failed.
;
; The image: 18 sectors a track, 2 heads, 80 cylinders; LBA 0 this sector, LBA k filled
; with the byte k & 0xFF.
;   1. C0 H0 S16, 5 sectors: LBA 15-19, across the head (multi-track read)
;   2. C2 H0 S1, 18 sectors: LBA 72-89, a whole track after a seek
;   3. write C3 H1 S5 (LBA 130) with 0x5A, read it back and compare
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

    mov ax, 0x0205              ; 5 sectors from C0 H0 S16
    mov cx, 0x0010
    xor dh, dh
    mov bx, 0x8000
    call disk
    mov al, 1
    jc fail
    mov si, 0x8000
    mov bl, 15
    mov dx, 5
    call check_sectors
    mov al, 2
    jc fail

    mov ax, 0x0212              ; 18 sectors from C2 H0 S1
    mov cx, 0x0201
    xor dh, dh
    mov bx, 0x9000
    call disk
    mov al, 3
    jc fail
    mov si, 0x9000
    mov bl, 72
    mov dx, 18
    call check_sectors
    mov al, 4
    jc fail
    mov si, msg_read
    call print

    mov di, 0xc000              ; one sector of 0x5A to C3 H1 S5
    mov al, 0x5a
    mov cx, 512
    rep stosb
    mov ax, 0x0301
    mov cx, 0x0305
    mov dh, 1
    mov bx, 0xc000
    call disk
    mov al, 5
    jc fail
    mov ax, 0x0201              ; read it back
    mov cx, 0x0305
    mov dh, 1
    mov bx, 0xd000
    call disk
    mov al, 6
    jc fail
    mov si, 0xd000
    mov cx, 512
    mov bl, 0x5a
    call check_bytes
    mov al, 7
    jc fail
    mov si, msg_ok
    mov al, 44
    jmp finish

; INT 13h with AX, CX, DH, ES:BX as given, on the boot drive; one retry after a reset
; (as boot loaders do: the first access may see a disk change).
disk:
    mov dl, [drive]
    push ax
    int 0x13
    pop ax
    jnc .ok
    push ax
    xor ax, ax
    int 0x13
    pop ax
    mov dl, [drive]
    int 0x13
.ok:
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
    sti                         ; two timer ticks: SeaBIOS sends the held screen text
    hlt
    hlt
    pop ax
    mov dx, EXIT_PORT
    out dx, al
halt:
    hlt
    jmp halt

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

msg_hello:  db "FLOPPY: hello", 13, 10, 0
msg_read:   db "FLOPPY: reads ok", 13, 10, 0
msg_ok:     db "FLOPPY: write ok", 13, 10, 0
msg_fail:   db "FLOPPY: FAIL "
msg_fail_n: db "0", 13, 10, 0

drive: db 0

    times 0x1fe-($-$$) db 0
    dw 0xaa55

/*
 * uart.c - the virt machine's 16550 UART as picolibc's stdout/stderr.
 *
 * Polled transmit only: output is rare enough, and it keeps printing
 * possible from a trap (the panic report).  "\n" is sent as "\r\n" so
 * the console reads right on a raw terminal (-nographic).
 */
#include <stdio.h>

#include "guest.h"

#define UART_THR 0 /* transmit holding register */
#define UART_IER 1
#define UART_FCR 2
#define UART_LCR 3
#define UART_LSR 5
#define LSR_THRE 0x20
#define LCR_8N1 0x03
#define FCR_FIFO_ON 0x07

static inline volatile uint8_t *uart_reg(unsigned r)
{
    return (volatile uint8_t *)(VIRT_UART_BASE + r);
}

void guest_uart_init(void)
{
    *uart_reg(UART_IER) = 0;
    *uart_reg(UART_LCR) = LCR_8N1;
    *uart_reg(UART_FCR) = FCR_FIFO_ON;
}

void guest_uart_putc(char c)
{
    if (c == '\n')
        guest_uart_putc('\r');
    while (!(*uart_reg(UART_LSR) & LSR_THRE))
        ;
    *uart_reg(UART_THR) = (uint8_t)c;
}

static int uart_put(char c, FILE *f)
{
    (void)f;
    guest_uart_putc(c);
    return (unsigned char)c;
}

static FILE uart_file =
    FDEV_SETUP_STREAM(uart_put, NULL, NULL, _FDEV_SETUP_WRITE);
FILE *const stdout = &uart_file;
FILE *const stderr = &uart_file;
FILE *const stdin = NULL;

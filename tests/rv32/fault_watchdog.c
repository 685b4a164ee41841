/* A runaway loop, stopped by --insn-budget. */
int main(void)
{
    volatile unsigned n = 0;
    for (;;)
        n++;
}

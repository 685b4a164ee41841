/* An all-ones word is not an instruction. */
__attribute__((noinline)) void run_garbage(void)
{
    __asm__ volatile(".word 0xffffffff");
}

int main(void)
{
    run_garbage();
    return 0;
}

/* ebreak halts for a debugger; with none attached the run stops. */
__attribute__((noinline)) void stop_here(void)
{
    __asm__ volatile("ebreak");
}

int main(void)
{
    stop_here();
    return 0;
}

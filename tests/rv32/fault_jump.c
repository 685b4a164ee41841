/* A call through a pointer that points outside IMEM. */
typedef void (*fn)(void);

int main(void)
{
    volatile fn f = (fn)0x00180000; /* inside the window, past the code */
    f();
    return 0;
}

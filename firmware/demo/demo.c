/* demo.c - placeholder until the vector intrinsics land (see below). */
#include <stdio.h>

int main(void)
{
    printf("vtpu demo\n");
    return 0;
}

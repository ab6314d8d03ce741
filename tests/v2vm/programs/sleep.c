/* v2 lane: sleep argv[1] seconds, exit 0 (a job that holds its leaf a while). */
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    unsigned s = argc > 1 ? (unsigned)atoi(argv[1]) : 0;

    while (s > 0)
        s = sleep(s);
    return 0;
}

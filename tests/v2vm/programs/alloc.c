/* v2 lane: touch argv[1] MiB, then exit 0 (a big peak that must not reach the next job). */
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    size_t mib = argc > 1 ? (size_t)atoi(argv[1]) : 1;
    char *p = malloc(mib << 20);

    if (!p)
        return 1;
    memset(p, 1, mib << 20);
    return p[mib << 19] == 1 ? 0 : 2;
}

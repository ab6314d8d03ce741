/* NULL-terminated string vectors (aliases, environments). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

char **rt__strv_free(char **l)
{
    if (l) {
        for (char **p = l; *p; p++)
            free(*p);
        free(l);
    }
    return NULL;
}

size_t rt__strv_length(char *const *l)
{
    size_t n = 0;

    if (l)
        while (l[n])
            n++;
    return n;
}

int rt__strv_consume(char ***l, char *s)
{
    size_t n = rt__strv_length(*l);
    char **grown;

    if (!s)
        return -ENOMEM;
    grown = realloc(*l, (n + 2) * sizeof(char *));
    if (!grown) {
        free(s);
        return -ENOMEM;
    }
    grown[n] = s;
    grown[n + 1] = NULL;
    *l = grown;
    return 0;
}

int rt__strv_push(char ***l, const char *s)
{
    return rt__strv_consume(l, strdup(s));
}

char **rt__strv_copy(char *const *l)
{
    size_t n = rt__strv_length(l);
    char **copy = calloc(n + 1, sizeof(char *));

    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        copy[i] = strdup(l[i]);
        if (!copy[i])
            return rt__strv_free(copy);
    }
    return copy;
}

bool rt__strv_contains(char *const *l, const char *s)
{
    if (l)
        for (; *l; l++)
            if (strcmp(*l, s) == 0)
                return true;
    return false;
}

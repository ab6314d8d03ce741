/* Wire names of the per-language limit keys (PISTON-API.md 4.2). */
#include <errno.h>
#include <string.h>

#include "internal.h"

static const char *const limit_names[RT_LIMIT_COUNT] = {
    [RT_LIMIT_MAX_PROCESS_COUNT] = "max_process_count",
    [RT_LIMIT_MAX_OPEN_FILES] = "max_open_files",
    [RT_LIMIT_MAX_FILE_SIZE] = "max_file_size",
    [RT_LIMIT_COMPILE_MEMORY_LIMIT] = "compile_memory_limit",
    [RT_LIMIT_RUN_MEMORY_LIMIT] = "run_memory_limit",
    [RT_LIMIT_COMPILE_TIMEOUT] = "compile_timeout",
    [RT_LIMIT_RUN_TIMEOUT] = "run_timeout",
    [RT_LIMIT_COMPILE_CPU_TIME] = "compile_cpu_time",
    [RT_LIMIT_RUN_CPU_TIME] = "run_cpu_time",
    [RT_LIMIT_OUTPUT_MAX_SIZE] = "output_max_size",
};

const char *rt_limit_name(enum rt_limit limit)
{
    if ((unsigned)limit >= RT_LIMIT_COUNT)
        return NULL;
    return limit_names[limit];
}

int rt_limit_from_name(const char *name, enum rt_limit *ret)
{
    if (!name)
        return -EINVAL;
    for (unsigned i = 0; i < RT_LIMIT_COUNT; i++)
        if (strcmp(limit_names[i], name) == 0) {
            *ret = (enum rt_limit)i;
            return 0;
        }
    return -EINVAL;
}

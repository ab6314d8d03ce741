/* Shared by the api unit tests: a small registry of fixture packages written to a temporary
 * directory (no toolchain, no `environment` script, so loading never forks), and a
 * configuration with the capsuled defaults of PISTON-API.md 4.1. */
#pragma once

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "test.h"

static inline void fixture_write(const char *dir, const char *pkg, const char *file,
                                 const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, pkg);
    (void)mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, pkg, file);
    f = fopen(path, "w");
    if (!f)
        TEST_FAIL("cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

static inline int fixture_rm(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* Runtimes, in load order: c and c++ (gcc, provides), file, limited, python. */
static inline struct rt_registry *fixture_registry(void)
{
    char dir[] = "/tmp/capsule-test-XXXXXX";
    struct rt_load_options opts = {.runtimes_dir = dir};
    struct rt_registry *reg = NULL;
    char *failed = NULL;

    if (!mkdtemp(dir))
        TEST_FAIL("mkdtemp failed");
    fixture_write(dir, "python", "metadata.json",
                  "{\"language\":\"python\",\"version\":\"3.11.2\","
                  "\"aliases\":[\"py\",\"py3\",\"python3\",\"python3.11\"]}");
    fixture_write(dir, "python", "run", "exec python3 \"$@\"\n");
    fixture_write(dir, "gcc", "metadata.json",
                  "{\"language\":\"gcc\",\"version\":\"12.2.0\",\"aliases\":[],\"provides\":["
                  "{\"language\":\"c\",\"aliases\":[\"gcc\"]},"
                  "{\"language\":\"c++\",\"aliases\":[\"cpp\",\"g++\"]}]}");
    fixture_write(dir, "gcc", "run", "exec ./a.out \"${@:2}\"\n");
    fixture_write(dir, "gcc", "compile", "exec gcc \"$@\"\n");
    fixture_write(dir, "file", "metadata.json", "{\"language\":\"file\",\"version\":\"0.0.1\"}");
    fixture_write(dir, "file", "run", "exec ./\"$1\"\n");
    fixture_write(dir, "limited", "metadata.json",
                  "{\"language\":\"limited\",\"version\":\"1.0.0\",\"limit_overrides\":"
                  "{\"run_timeout\":500,\"max_process_count\":16,\"run_memory_limit\":0}}");
    fixture_write(dir, "limited", "run", "exec true\n");
    if (rt_registry_load(&opts, NULL, NULL, &reg, &failed) < 0 || !reg)
        TEST_FAIL("rt_registry_load failed");
    (void)nftw(dir, fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
    if (rt_registry_count(reg) != 5)
        TEST_FAIL("fixture registry has %zu runtimes, want 5", rt_registry_count(reg));
    return reg;
}

static inline struct eng_config fixture_config(void)
{
    struct eng_config cfg = {
        .limits =
            {
                [RT_LIMIT_MAX_PROCESS_COUNT] = 64,
                [RT_LIMIT_MAX_OPEN_FILES] = 2048,
                [RT_LIMIT_MAX_FILE_SIZE] = 10000000,
                [RT_LIMIT_COMPILE_MEMORY_LIMIT] = 1073741824,
                [RT_LIMIT_RUN_MEMORY_LIMIT] = 536870912,
                [RT_LIMIT_COMPILE_TIMEOUT] = 10000,
                [RT_LIMIT_RUN_TIMEOUT] = 3000,
                [RT_LIMIT_COMPILE_CPU_TIME] = 10000,
                [RT_LIMIT_RUN_CPU_TIME] = 3000,
                [RT_LIMIT_OUTPUT_MAX_SIZE] = 1024,
            },
        .max_concurrent_jobs = 64,
        .max_queue = 1024,
        .tmpfs_size = 67108864,
        .tmpfs_inodes = 4096,
    };
    return cfg;
}

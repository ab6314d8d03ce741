/* Fuzz target: the execute request path of the API, bytes -> api_body_parse_json ->
 * api_execute_decode (and the CAPSULE_MAX_FILES variant), against a registry of fixture
 * runtimes loaded once. Besides crashes and sanitizer reports it checks the decoder's own
 * contract: an accepted request only holds safe relative file names, a runtime and a
 * NUL-free argv; a rejected one always carries a message.
 *
 * Built with clang -fsanitize=fuzzer,address,undefined (libFuzzer), or, with any other
 * compiler, linked with fuzz-driver.c (corpus replay plus random mutations). */
#include <errno.h>
#include <ftw.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "server.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rt_registry *registry;
static struct eng_config config;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz-request: check failed: %s (%s:%d)\n", #cond, __FILE__,           \
                    __LINE__);                                                                     \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void put(const char *dir, const char *pkg, const char *file, const char *text)
{
    char path[4096];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, pkg);
    (void)mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/%s/%s", dir, pkg, file);
    f = fopen(path, "w");
    CHECK(f);
    fputs(text, f);
    fclose(f);
}

static int rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
    (void)sb;
    (void)type;
    (void)ftw;
    return remove(path);
}

/* The unit tests' fixture registry (tests/unit/api-fixtures.h) plus a runtime with limit
 * overrides and one whose limits are unlimited: no `version` or `environment` script, so
 * loading never forks. */
static struct rt_registry *fixture_registry(void)
{
    char dir[] = "/tmp/capsule-fuzz-XXXXXX";
    struct rt_load_options opts = {.runtimes_dir = dir};
    struct rt_registry *reg = NULL;
    char *failed = NULL;

    CHECK(mkdtemp(dir));
    put(dir, "python", "metadata.json",
        "{\"language\":\"python\",\"version\":\"3.11.2\","
        "\"aliases\":[\"py\",\"py3\",\"python3\",\"python3.11\"]}");
    put(dir, "python", "run", "exec python3 \"$@\"\n");
    put(dir, "gcc", "metadata.json",
        "{\"language\":\"gcc\",\"version\":\"12.2.0\",\"aliases\":[],\"provides\":["
        "{\"language\":\"c\",\"aliases\":[\"gcc\"]},"
        "{\"language\":\"c++\",\"aliases\":[\"cpp\",\"g++\"]}]}");
    put(dir, "gcc", "run", "exec ./a.out \"${@:2}\"\n");
    put(dir, "gcc", "compile", "exec gcc \"$@\"\n");
    put(dir, "file", "metadata.json", "{\"language\":\"file\",\"version\":\"0.0.1\"}");
    put(dir, "file", "run", "exec ./\"$1\"\n");
    put(dir, "limited", "metadata.json",
        "{\"language\":\"limited\",\"version\":\"1.0.0\",\"limit_overrides\":"
        "{\"run_timeout\":500,\"max_process_count\":16,\"run_memory_limit\":0}}");
    put(dir, "limited", "run", "exec true\n");
    put(dir, "node", "metadata.json",
        "{\"language\":\"javascript\",\"version\":\"18.19.0\","
        "\"aliases\":[\"node-javascript\",\"node-js\",\"js\"],\"runtime\":\"node\"}");
    put(dir, "node", "run", "exec node \"$@\"\n");
    CHECK(rt_registry_load(&opts, NULL, NULL, &reg, &failed) >= 0 && reg);
    free(failed);
    (void)nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return reg;
}

static struct eng_config fixture_config(void)
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

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    registry = fixture_registry();
    config = fixture_config();
    return 0;
}

/* PISTON-API.md 3.1: what an accepted name may be. */
static void check_name(const char *name)
{
    size_t len = strlen(name), comp = 0;
    const char *p = name;

    CHECK(len > 0 && len <= 1024);
    CHECK(name[0] != '/');
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t n = slash ? (size_t)(slash - p) : strlen(p);
        CHECK(n > 0); /* normalised: no empty component */
        CHECK(n <= 255);
        CHECK(!(n == 2 && p[0] == '.' && p[1] == '.'));
        CHECK(!(n == 1 && p[0] == '.'));
        comp++;
        p += n;
        if (*p == '/')
            p++;
    }
    CHECK(comp > 0);
}

static void check_request(const struct eng_request *req, size_t max_files)
{
    uint64_t bytes = 0;

    CHECK(req->runtime && req->registry);
    CHECK(req->args);
    CHECK(req->stdin_data && req->stdin_len > 0 && req->stdin_data[req->stdin_len - 1] == '\n');
    CHECK(req->n_files <= max_files);
    for (size_t i = 0; i < req->n_files; i++) {
        check_name(req->files[i].name);
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(req->files[i].name, req->files[j].name) != 0);
        bytes += req->files[i].len;
    }
    CHECK(bytes <= config.tmpfs_size);
    CHECK(req->n_files <= config.tmpfs_inodes);
    for (int s = 0; s < 2; s++) {
        const struct eng_stage_limits *l = s ? &req->run : &req->compile;
        CHECK(l->timeout_ms >= 0 && l->cpu_time_ms >= 0 && l->memory_bytes >= 0);
    }
}

static void decode(json_t *root, size_t max_files)
{
    struct eng_request *req = NULL;
    char *message = NULL;
    int r = max_files == SIZE_MAX
                ? api_execute_decode(root, registry, &config, &req, &message)
                : api_execute_decode_capped(root, registry, &config, max_files, &req, &message);

    if (r == 0) {
        CHECK(req && !message);
        check_request(req, max_files);
        eng_request_free(req);
    } else {
        CHECK(r == -EINVAL || r == -ENOMEM);
        CHECK(!req);
        if (r == -EINVAL)
            CHECK(message && message[0]);
        free(message);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *root = NULL;
    char *detail = NULL;
    int r = api_body_parse_json((const char *)data, size, &root, &detail);

    if (r == 0) {
        CHECK(root && (json_is_object(root) || json_is_array(root)));
        decode(root, SIZE_MAX);
        decode(root, 3);
        json_decref(root);
    } else {
        CHECK(r == -EBADMSG || r == -ENOMEM);
        if (r == -EBADMSG)
            CHECK(detail && detail[0]);
        free(detail);
    }
    return 0;
}

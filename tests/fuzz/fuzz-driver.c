/* Stand-alone driver for the fuzz targets when libFuzzer is not available (gcc builds): runs
 * every corpus file once, then random mutations of them until -runs or -max_total_time is
 * reached. Flags mirror libFuzzer's: -runs=N -max_total_time=S -seed=N; other arguments are
 * corpus files or directories. A crash is the target aborting (sanitizer or CHECK): the input
 * that did it is written to ./crash-<pid> (or <-artifact_prefix>crash-<pid>) from a fatal
 * signal handler or the sanitizers' death callback. */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_INPUT (64 * 1024)

struct input {
    uint8_t *data;
    size_t len;
};

static struct input *corpus;
static size_t n_corpus, alloc_corpus;
static const char *artifact_prefix = "./";
static uint64_t rng_state;

static uint64_t rnd(void)
{
    /* xorshift64* */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 2685821657736338717ULL;
}

static size_t below(size_t n)
{
    return n ? (size_t)(rnd() % n) : 0;
}

static void add(uint8_t *data, size_t len)
{
    if (n_corpus == alloc_corpus) {
        alloc_corpus = alloc_corpus ? alloc_corpus * 2 : 64;
        corpus = realloc(corpus, alloc_corpus * sizeof(*corpus));
        if (!corpus)
            abort();
    }
    corpus[n_corpus++] = (struct input){data, len};
}

static void load_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    size_t len;

    if (!f)
        return;
    buf = malloc(FUZZ_MAX_INPUT);
    len = fread(buf, 1, FUZZ_MAX_INPUT, f);
    fclose(f);
    add(buf, len);
}

static void load(const char *path)
{
    struct stat st;
    DIR *d;
    struct dirent *de;
    char p[4096];

    if (stat(path, &st) < 0)
        return;
    if (!S_ISDIR(st.st_mode)) {
        load_file(path);
        return;
    }
    d = opendir(path);
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
        load(p);
    }
    if (d)
        closedir(d);
}

/* The input being run, saved to current_path if the target dies on it. */
static char current_path[4096];
static const uint8_t *current_data;
static size_t current_len;

static void save_current(void)
{
    int fd = open(current_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

    if (fd >= 0 && current_data) {
        (void)!write(fd, current_data, current_len);
        close(fd);
        (void)!write(2, "fuzz-driver: input saved to ", 28);
        (void)!write(2, current_path, strlen(current_path));
        (void)!write(2, "\n", 1);
    }
}

static void on_fatal(int sig)
{
    save_current();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* ASan/UBSan end a process with _exit after their report: their death callback saves it. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));

static void run_one(const uint8_t *data, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1); /* exact size: ASan sees overreads */

    memcpy(copy, data, len);
    current_data = copy;
    current_len = len;
    LLVMFuzzerTestOneInput(copy, len);
    current_data = NULL;
    free(copy);
}

static const char *const tokens[] = {
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"",
    "\\",
    "\\u0000",
    "\\ud800",
    "null",
    "true",
    "false",
    "0",
    "-1",
    "1e400",
    "-1e400",
    "1.5",
    "9007199254740993",
    "1e-400",
    "\"language\":",
    "\"version\":",
    "\"files\":",
    "\"name\":",
    "\"content\":",
    "\"encoding\":",
    "\"base64\"",
    "\"hex\"",
    "\"utf8\"",
    "\"stdin\":",
    "\"args\":",
    "\"run_timeout\":",
    "\"compile_timeout\":",
    "\"run_memory_limit\":",
    "\"compile_cpu_time\":",
    "\"python\"",
    "\"c\"",
    "\"file\"",
    "\"limited\"",
    "\"*\"",
    "\"3.x\"",
    "\">=1 <2\"",
    "\"../x\"",
    "\"/etc/passwd\"",
    "\"a/b/c\"",
    "\"./\"",
    "\"\"",
    "\xef\xbb\xbf",
    "\xc3\x28",
    "\xff",
    "\xed\xa0\x80",
    "\"aGVsbG8=\"",
    "\"68656c6c6f\"",
    "\"a//b\"",
    "\".\"",
    "\"a/./b\"",
};

static size_t mutate(uint8_t *buf, size_t len, size_t cap)
{
    int n = 1 + (int)below(4);

    while (n--) {
        size_t pos = below(len + 1), k;
        switch (below(8)) {
        case 0: /* flip a bit */
            if (len)
                buf[below(len)] ^= (uint8_t)(1u << below(8));
            break;
        case 1: /* random byte */
            if (len)
                buf[below(len)] = (uint8_t)rnd();
            break;
        case 2: /* delete a range */
            if (len) {
                k = 1 + below(len - pos + 1 > 16 ? 16 : len - pos + 1);
                if (pos + k > len)
                    k = len - pos;
                memmove(buf + pos, buf + pos + k, len - pos - k);
                len -= k;
            }
            break;
        case 3: /* insert a token */
        case 4: {
            const char *t = tokens[below(sizeof(tokens) / sizeof(tokens[0]))];
            k = strlen(t);
            if (len + k <= cap) {
                memmove(buf + pos + k, buf + pos, len - pos);
                memcpy(buf + pos, t, k);
                len += k;
            }
            break;
        }
        case 5: /* duplicate a range */
            if (len && pos < len) {
                k = 1 + below(len - pos);
                if (len + k <= cap) {
                    memmove(buf + pos + k, buf + pos, len - pos);
                    len += k;
                }
            }
            break;
        case 6: { /* splice with another corpus input */
            struct input *o = &corpus[below(n_corpus)];
            size_t from = below(o->len + 1);
            k = below(o->len - from + 1);
            if (pos + k <= cap) {
                memcpy(buf + pos, o->data + from, k);
                if (pos + k > len)
                    len = pos + k;
            }
            break;
        }
        case 7: /* truncate */
            len = pos;
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    long runs = -1, max_time = 0;
    uint64_t seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    time_t start = time(NULL);
    uint8_t *buf = malloc(FUZZ_MAX_INPUT);
    long done = 0;

    LLVMFuzzerInitialize(&argc, &argv);
    for (int i = 1; i < argc; i++) {
        if (!strncmp(argv[i], "-runs=", 6))
            runs = atol(argv[i] + 6);
        else if (!strncmp(argv[i], "-max_total_time=", 16))
            max_time = atol(argv[i] + 16);
        else if (!strncmp(argv[i], "-seed=", 6))
            seed = strtoull(argv[i] + 6, NULL, 10);
        else if (!strncmp(argv[i], "-artifact_prefix=", 17))
            artifact_prefix = argv[i] + 17;
        else if (argv[i][0] != '-')
            load(argv[i]);
    }
    snprintf(current_path, sizeof(current_path), "%scrash-%d", artifact_prefix, (int)getpid());
    signal(SIGABRT, on_fatal);
    signal(SIGSEGV, on_fatal);
    signal(SIGBUS, on_fatal);
    signal(SIGFPE, on_fatal);
    signal(SIGILL, on_fatal);
    if (__sanitizer_set_death_callback)
        __sanitizer_set_death_callback(save_current);
    rng_state = seed ? seed : 1;
    if (n_corpus == 0)
        add((uint8_t *)strdup("{}"), 2);
    fprintf(stderr, "fuzz-driver: %zu corpus inputs, seed %llu\n", n_corpus,
            (unsigned long long)seed);
    for (size_t i = 0; i < n_corpus; i++)
        run_one(corpus[i].data, corpus[i].len);
    if (runs < 0 && max_time == 0)
        runs = 0; /* replay only */
    for (;;) {
        struct input *base;
        size_t len;
        if (runs >= 0 && done >= runs)
            break;
        if (max_time && time(NULL) - start >= max_time)
            break;
        base = &corpus[below(n_corpus)];
        len = base->len < FUZZ_MAX_INPUT ? base->len : FUZZ_MAX_INPUT;
        memcpy(buf, base->data, len);
        len = mutate(buf, len, FUZZ_MAX_INPUT);
        run_one(buf, len);
        done++;
        /* keep some mutants as new bases, so mutations compound */
        if (below(64) == 0 && n_corpus < 4096) {
            uint8_t *keep = malloc(len ? len : 1);
            memcpy(keep, buf, len);
            add(keep, len);
        }
    }
    fprintf(stderr, "fuzz-driver: %zu corpus inputs replayed, %ld mutations, no crash (%ld s)\n",
            n_corpus, done, (long)(time(NULL) - start));
    for (size_t i = 0; i < n_corpus; i++)
        free(corpus[i].data);
    free(corpus);
    free(buf);
    return 0;
}

#include "log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static enum log_level current_level = LOG_LEVEL_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static const char *const level_names[] = {"DEBUG", "INFO", "WARN", "ERROR", "NONE"};

void log_set_level(enum log_level level)
{
    current_level = level;
}

enum log_level log_get_level(void)
{
    return current_level;
}

int log_level_from_string(const char *s, enum log_level *ret)
{
    for (size_t i = 0; i < ARRAY_SIZE(level_names); i++)
        if (strcmp(s, level_names[i]) == 0) {
            *ret = (enum log_level)i;
            return 0;
        }
    return -EINVAL;
}

_printf_(3, 0) static void log_line(enum log_level level, const char *suffix, const char *fmt,
                                    va_list ap)
{
    struct timespec ts;
    struct tm tm;
    char stamp[32], line[2048];
    va_list aq;
    int n, m, k = -1;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    /* One write per line (stderr is unbuffered: piece by piece it took three per request). */
    n = snprintf(line, sizeof(line), "%s.%03ldZ %-5s ", stamp, ts.tv_nsec / 1000000,
                 level_names[level]);
    va_copy(aq, ap);
    m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, aq);
    va_end(aq);
    if (m >= 0 && (size_t)(n + m) < sizeof(line))
        k = snprintf(line + n + m, sizeof(line) - (size_t)(n + m), "%s%s\n", suffix ? ": " : "",
                     suffix ? suffix : "");
    pthread_mutex_lock(&log_lock);
    if (k >= 0 && (size_t)(n + m + k) < sizeof(line)) {
        fwrite(line, 1, (size_t)(n + m + k), stderr);
    } else { /* a long line goes out in pieces */
        fwrite(line, 1, (size_t)n, stderr);
        vfprintf(stderr, fmt, ap);
        if (suffix)
            fprintf(stderr, ": %s", suffix);
        fputc('\n', stderr);
    }
    pthread_mutex_unlock(&log_lock);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    va_list ap;

    if (level < current_level || level >= LOG_LEVEL_NONE)
        return;
    va_start(ap, fmt);
    log_line(level, NULL, fmt, ap);
    va_end(ap);
}

int log_errno(enum log_level level, int err, const char *fmt, ...)
{
    va_list ap;
    char buf[128];

    if (err >= 0)
        err = -EIO;
    if (level >= current_level && level < LOG_LEVEL_NONE) {
        va_start(ap, fmt);
        log_line(level, strerror_r(-err, buf, sizeof(buf)), fmt, ap);
        va_end(ap);
    }
    return err;
}

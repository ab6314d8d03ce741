/* Sandbox outcome -> Piston stage object. Precedence when several apply (PISTON-API.md 3.5):
 * OL/EL (first tripped) > TO (first tripped) > memory > signal > RE. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "macro.h"
#include "utf8.h"

static const char *const status_names[] = {
    [ENG_STATUS_OK] = NULL, [ENG_STATUS_RE] = "RE", [ENG_STATUS_SG] = "SG", [ENG_STATUS_TO] = "TO",
    [ENG_STATUS_OL] = "OL", [ENG_STATUS_EL] = "EL", [ENG_STATUS_XX] = "XX",
};

const char *eng_status_name(enum eng_status status)
{
    return (size_t)status < ARRAY_SIZE(status_names) ? status_names[status] : NULL;
}

/* A stream cut at the byte limit may end inside a UTF-8 character: that partial character is
 * dropped (from `output` too when it is its tail) instead of turning into U+FFFD. */
static void trim_cut_stream(struct strbuf *stream, struct strbuf *output)
{
    size_t keep = utf8_trim_incomplete_tail(stream->data, stream->len);
    size_t cut = stream->len - keep;

    if (cut == 0)
        return;
    if (output->len >= cut &&
        memcmp(output->data + output->len - cut, stream->data + keep, cut) == 0) {
        output->len -= cut;
        output->data[output->len] = '\0';
    }
    stream->len = keep;
    stream->data[keep] = '\0';
}

static int set_message(struct eng_stage_result *st, const char *text)
{
    st->message = strdup(text);
    return st->message ? 0 : -ENOMEM;
}

static int set_message_number(struct eng_stage_result *st, const char *prefix, int n)
{
    if (asprintf(&st->message, "%s%d", prefix, n) < 0) {
        st->message = NULL;
        return -ENOMEM;
    }
    return 0;
}

static int classify(const struct sbx_result *sr, struct eng_stage_result *st)
{
    st->signal_name = sr->signal ? sbx_signal_name(sr->signal) : NULL;
    st->has_code = sr->exited;
    st->code = sr->exit_code;
    if (sr->output_trip != SBX_OUTPUT_OK || sr->time_trip != SBX_TIME_OK) {
        /* the box was killed for it: code null, signal SIGKILL whatever the program did */
        st->has_code = false;
        st->signal_name = "SIGKILL";
        if (sr->output_trip != SBX_OUTPUT_OK) {
            bool out = sr->output_trip == SBX_OUTPUT_STDOUT;
            st->status = out ? ENG_STATUS_OL : ENG_STATUS_EL;
            return set_message(st, out ? "stdout length exceeded" : "stderr length exceeded");
        }
        st->status = ENG_STATUS_TO;
        return set_message(st, sr->time_trip == SBX_TIME_WALL ? "Time limit exceeded (wall clock)"
                                                              : "Time limit exceeded");
    }
    if (sr->signal) {
        st->status = ENG_STATUS_SG;
        if (sr->signal == SIGKILL && sr->oom_killed)
            return set_message(st, "Memory limit exceeded");
        return set_message_number(st, "Caught fatal signal ", sr->signal);
    }
    if (sr->exit_code != 0)
        st->status = ENG_STATUS_RE;
    /* only a child was OOM-killed: the main process's status and code stand, the message
     * says what happened (for a null status, the one case with a message) */
    if (sr->oom_killed)
        return set_message(st, "Memory limit exceeded (child process)");
    if (sr->exit_code != 0)
        return set_message_number(st, "Exited with error status ", sr->exit_code);
    return 0;
}

int eng__stage_from_sandbox(struct sbx_result *sr, struct eng_stage_result *ret)
{
    struct eng_stage_result st = {0};
    int r;

    if (sr->output_trip == SBX_OUTPUT_STDOUT && sr->out.data)
        trim_cut_stream(&sr->out, &sr->output);
    if (sr->output_trip == SBX_OUTPUT_STDERR && sr->err.data)
        trim_cut_stream(&sr->err, &sr->output);
    r = classify(sr, &st);
    if (r < 0)
        return r;
    st.stdout_data = strbuf_steal(&sr->out, &st.stdout_len);
    st.stderr_data = strbuf_steal(&sr->err, &st.stderr_len);
    st.output_data = strbuf_steal(&sr->output, &st.output_len);
    if (!st.stdout_data || !st.stderr_data || !st.output_data) {
        eng__stage_done(&st);
        return -ENOMEM;
    }
    st.memory_known = sr->memory_known;
    st.memory = sr->memory_peak;
    st.cpu_time_ms = (sr->cpu_usec + 500) / 1000;
    st.cpu_usec = sr->cpu_usec;
    st.wall_time_ms = (sr->wall_usec + 500) / 1000;
    *ret = st;
    return 0;
}

static char *memdup0(const char *p, size_t n)
{
    char *d = malloc(n + 1);

    if (d) {
        memcpy(d, p, n);
        d[n] = '\0';
    }
    return d;
}

int eng__stage_copy(const struct eng_stage_result *src, struct eng_stage_result *ret)
{
    struct eng_stage_result st = *src;

    st.stdout_data = memdup0(src->stdout_data, src->stdout_len);
    st.stderr_data = memdup0(src->stderr_data, src->stderr_len);
    st.output_data = memdup0(src->output_data, src->output_len);
    st.message = src->message ? strdup(src->message) : NULL;
    if (!st.stdout_data || !st.stderr_data || !st.output_data || (src->message && !st.message)) {
        eng__stage_done(&st);
        return -ENOMEM;
    }
    *ret = st;
    return 0;
}

void eng__stage_done(struct eng_stage_result *st)
{
    free(st->stdout_data);
    free(st->stderr_data);
    free(st->output_data);
    free(st->message);
    *st = (struct eng_stage_result){0};
}

void eng_result_free(struct eng_result *res)
{
    if (!res)
        return;
    eng__stage_done(&res->compile);
    eng__stage_done(&res->run);
    free(res->error_message);
    free(res);
}

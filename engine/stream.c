/* Interactive jobs: the few steps of struct eng_stream that are not the sandbox's. */
#include "internal.h"

bool eng__stream_cancelled(const struct eng_stream *st)
{
    struct sbx_stream_control ctl = {0};

    /* Any signal asked for now is dropped with the answer: no stage runs to receive it. */
    st->io.control(st->io.userdata, &ctl);
    return ctl.cancel;
}

void eng__stream_replay(const struct eng_stream *st, enum eng_stage stage,
                        const struct eng_stage_result *res)
{
    if (!st)
        return;
    st->stage_begin(st->io.userdata, stage);
    /* recorded under HTTP-mode limits: a few KiB at most, so back-pressure is moot here */
    if (res->stdout_len)
        (void)st->io.output(st->io.userdata, false, res->stdout_data, res->stdout_len);
    if (res->stderr_len)
        (void)st->io.output(st->io.userdata, true, res->stderr_data, res->stderr_len);
    st->stage_end(st->io.userdata, stage, res);
}

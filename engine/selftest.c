/* One trivial box at startup: capsuled never serves when its sandbox cannot run. */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "internal.h"
#include "macro.h"

int eng_self_test(const struct eng_config *cfg, struct sbx_context *ctx, struct sbx_error *reterr)
{
    static const char *const argv[] = {"/bin/sh", "-c", "exit 0", NULL};
    static const char *const envp[] = {"PATH=/usr/bin:/bin", NULL};
    _cleanup_close_ int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    struct sbx_slot *slot = sbx_context_slot(ctx, 0);
    struct sbx_result res = {0};
    struct eng_box box;
    int r;

    if (null_fd < 0)
        return -errno;
    r = eng__box_open(slot, cfg->tmpfs_size, cfg->tmpfs_inodes, &box);
    if (r < 0) {
        *reterr = (struct sbx_error){.step = "job-tmpfs", .err = r};
        return r;
    }
    struct sbx_spec spec = {.argv = argv,
                            .envp = envp,
                            .stdin_fd = null_fd,
                            .wall_limit_ms = 10000,
                            .memory_limit = 64 << 20,
                            .max_processes = 8,
                            .output_limit = 4096};
    r = sbx_run(slot, &spec, &res, reterr);
    /* Nothing of this run may serve a job: its box and template bind the job tmpfs closed
     * below, from this thread's mount namespace, not the slot worker's. */
    sbx_slot_discard(slot);
    int k = sbx_slot_quiesce(slot);
    sbx_slot_drop_templates(slot);
    if (r >= 0 && k < 0) {
        *reterr = (struct sbx_error){.step = "cgroup-destroy", .err = k};
        r = k;
    }
    eng__box_close(&box);
    if (r >= 0 && (!res.exited || res.exit_code != 0)) {
        *reterr = (struct sbx_error){.step = "self-test-exit", .err = -ECHILD};
        r = -ECHILD;
    }
    sbx_result_done(&res);
    return r < 0 ? r : 0;
}

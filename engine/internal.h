/* Shared inside the engine layer only (eng__ prefix). */
#pragma once

#include "digest.h"
#include "engine.h"
#include "sandbox.h"

/* box.c: the slot's job tmpfs on the slot directory and the request's files. */
struct eng_box {
    struct sbx_slot *slot;
    int dirfd;     /* the mounted tmpfs root (holds submission/, tmp/, shm/) */
    int sub_fd[3]; /* submission/, tmp/, shm/ */
    bool mounted;
};
/** Mounts a fresh tmpfs (size, inodes) on the slot directory and creates the three dirs,
 *  owned by the slot uid. */
int eng__box_open(struct sbx_slot *slot, uint64_t size, uint64_t inodes, struct eng_box *ret);
/** Writes every file under submission/ (O_EXCL|O_NOFOLLOW, parents 0700). -ENOSPC/-EDQUOT
 *  when the quota is hit. */
int eng__box_write_files(struct eng_box *box, const struct eng_file *files, size_t n);
/** Empties tmp/ and shm/ between stages (no-follow walk; every box process must be dead:
 *  sbx_slot_quiesce). */
int eng__box_reset_scratch(struct eng_box *box);
/** After a job (and sbx_slot_quiesce): empties the three directories and restores their
 *  owner, mode and extended attributes, ready for the slot's next job. */
int eng__box_recycle(struct eng_box *box);
/** Detaches the tmpfs: nothing is walked, every file goes at once. */
void eng__box_close(struct eng_box *box);

/* result.c: sandbox result -> stage object (status precedence of PISTON-API.md 3.5). */
int eng__stage_from_sandbox(struct sbx_result *sr, struct eng_stage_result *ret);
int eng__stage_copy(const struct eng_stage_result *src, struct eng_stage_result *ret);

/* stream.c: interactive jobs (struct eng_stream). */
/** Asks the stream's control(): true when the client is gone and the job must stop. */
bool eng__stream_cancelled(const struct eng_stream *st);
/** A cached compile in an interactive job: stage_begin, the recorded stdout and stderr
 *  through io.output(), stage_end. No-op for st NULL. */
void eng__stream_replay(const struct eng_stream *st, enum eng_stage stage,
                        const struct eng_stage_result *res);
void eng__stage_done(struct eng_stage_result *st);

/* job.c */
struct eng_cache;
struct eng_cache_entry;
/* The job's compile cache lookup, made once (before choosing where the job runs). */
struct eng_cache_probe {
    bool done;                       /* looked up (a runtime without compile: nothing to find) */
    bool keyed;                      /* key is valid */
    uint8_t key[DIGEST_SHA256_SIZE]; /* compile cache key */
    struct eng_cache_entry *hit;     /* a reference: compile skipped, its snapshot restored */
};
void eng__job_probe(struct eng_cache *cache, const struct eng_request *req,
                    struct eng_cache_probe *ret);
void eng__job_probe_done(struct eng_cache *cache, struct eng_cache_probe *probe);
/** Runs every stage of req in the slot, its files in `box` (open, empty); fills res
 *  (res->error < 0 for a 500) and returns res->error. probe: looked up here unless done
 *  (the caller releases it). With no_build (a thread that joined the slot) SBX_ENOBOX when the
 *  slot's thread must run it instead: nothing ran, the files may be placed (eng__box_recycle).
 *  The box is left as the job left it: eng__slot_clean. */
int eng__job_run(struct eng_box *box, const struct eng_config *cfg, struct eng_cache *cache,
                 const struct eng_request *req, struct eng_cache_probe *probe, bool no_build,
                 struct eng_result *res);
/** After a job: waits for its boxes to be gone, empties the job tmpfs (a fresh one if that
 *  fails). */
void eng__slot_clean(struct eng_box *box, const struct eng_config *cfg);
/** 1 if the slot's warm box serves `rt`'s next job as it is (sbx_slot_ready), else 0 (the
 *  slot's thread must prepare one) or -errno. */
int eng__slot_ready(struct eng_box *box, const struct eng_config *cfg, const struct rt_runtime *rt);
/** Builds the slot's next box for `rt`'s package (sbx_slot_prepare). */
int eng__slot_prepare(struct eng_box *box, const struct eng_config *cfg,
                      const struct rt_runtime *rt);

/* cache.c: compile cache (NULL cache = off). */
struct eng_cache;
struct eng_cache_entry;
struct eng_cache *eng__cache_new(size_t max_bytes);
struct eng_cache *eng__cache_free(struct eng_cache *c);
int eng__cache_key(const struct eng_request *req, uint8_t key[DIGEST_SHA256_SIZE]);
/** A referenced entry whose recorded compile fits `limits`, or NULL. */
struct eng_cache_entry *eng__cache_lookup(struct eng_cache *c,
                                          const uint8_t key[DIGEST_SHA256_SIZE],
                                          const struct eng_stage_limits *limits);
void eng__cache_entry_unref(struct eng_cache *c, struct eng_cache_entry *e);
const struct eng_stage_result *eng__cache_entry_compile(const struct eng_cache_entry *e);
/** Snapshots submission/ after a successful compile. -E2BIG/-EPERM: not cacheable. */
int eng__cache_store(struct eng_cache *c, const uint8_t key[DIGEST_SHA256_SIZE],
                     const struct eng_stage_result *compile, int submission_fd);
int eng__cache_restore(const struct eng_cache_entry *e, int submission_fd, uid_t uid, gid_t gid);

/* prepare.c */
const char *eng__prepared_base(const struct eng_config *cfg);
/** The runtime package's prepared directory if it exists (0), else -errno. */
int eng__prepared_dir_of(const struct eng_config *cfg, const struct rt_runtime *rt, char *buf,
                         size_t size);

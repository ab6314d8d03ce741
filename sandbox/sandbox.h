/* The sandbox: runs one argv per box under limits and reports what happened.
 * Knows no languages and no HTTP. Only a failure of the box itself is an error; a program
 * that crashes, times out, overflows its output or is OOM-killed is a result. */
#pragma once

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "strbuf.h"

struct sbx_context;
struct sbx_slot;

/* Where a package's startup-prepared files (e.g. Java's class-data archive) appear in a box. */
#define SBX_PREPARED_PATH "/opt/capsule/prepared"

/** Where a box failure happened, for one log line (bubblewrap's failing path). */
struct sbx_error {
    const char *step; /* static string naming the setup step, e.g. "cgroup-create" */
    int err;          /* negative errno */
    char path[256];   /* path involved, or "" */
};

struct sbx_config {
    unsigned n_slots;
    uid_t uid_base; /* slot n runs as uid_base + n */
    gid_t gid_base;
    bool networking;      /* true: boxes share the host network (PISTON_DISABLE_NETWORKING=false) */
    const char *instance; /* names the cgroup root and run dir, e.g. "capsule-2000" */
    const char *run_dir;  /* host directory for slot directories, e.g. /run/capsule/<instance> */
    /* the capsule-box helper (PID 1 of every box); NULL = beside the running executable,
     * then <its dir>/../libexec/capsule/ (the installed layout) */
    const char *box_helper;
    /* cgroupfs locations, overridable for tests; NULL = /proc/self/mountinfo, /proc/self/cgroup */
    const char *mountinfo_path;
    const char *proc_cgroup_path;
};

/** Startup, before any other thread exists: enters a private mount namespace, creates one
 *  empty network namespace per slot, detects cgroup v1/v2 and builds the slot tree (removing
 *  leftovers of a crashed instance), compiles the seccomp filter, prepares the box /etc.
 *  Returns -errno with reterr naming the step. */
int sbx_context_new(const struct sbx_config *cfg, struct sbx_context **ret,
                    struct sbx_error *reterr);
/** Kills whatever is left in the slot cgroups and removes this instance's cgroup tree. */
struct sbx_context *sbx_context_free(struct sbx_context *ctx);
/** 1 or 2. */
int sbx_context_cgroup_version(const struct sbx_context *ctx);
/** Path of the capsule-box helper the context opened (as found at startup). */
const char *sbx_context_box_helper(const struct sbx_context *ctx);
unsigned sbx_context_slot_count(const struct sbx_context *ctx);
struct sbx_slot *sbx_context_slot(struct sbx_context *ctx, unsigned index);

unsigned sbx_slot_index(const struct sbx_slot *slot);
/** Boxes the slot has built so far (each serves job after job while they end on their own).
 *  Any thread. */
unsigned sbx_slot_boxes_built(const struct sbx_slot *slot);
uid_t sbx_slot_uid(const struct sbx_slot *slot);
gid_t sbx_slot_gid(const struct sbx_slot *slot);
/** Shutdown: kills the box running on `slot` now (as for a limit, result->aborted set) and
 *  makes every later sbx_run on it fail with -ECANCELED. Any thread; never undone. */
void sbx_slot_abort(struct sbx_slot *slot);
/** Host directory the caller mounts the job tmpfs on. It must hold `submission/`, `tmp/` and
 *  `shm/`, which every box of the slot sees as /box/submission, /tmp and /dev/shm. A box binds
 *  these three directories when it is built: replacing them (or the tmpfs) while a warm box
 *  exists needs sbx_slot_discard(). */
const char *sbx_slot_dir(const struct sbx_slot *slot);

/** Call once on the thread that will run the slot's boxes, before it mounts the slot's job
 *  tmpfs: the thread gets a mount namespace of its own (a copy of the daemon's), so the job
 *  tmpfs is mounted there only. Every box clones its mount namespace from the cloning
 *  thread's; without this each box would copy every slot's tmpfs mount too. */
int sbx_slot_enter_thread(struct sbx_slot *slot);
/** Lets the calling thread, another than the slot's, run a job on the slot's warm box while
 *  the slot's thread waits (the caller makes sure only one thread uses the slot at a time):
 *  it enters the slot's mount namespace, so that paths resolve as on the slot's thread. Such
 *  a thread never builds a box (a box dies with the thread that built it): its specs set
 *  no_build. The first call gives the thread an fs_struct of its own. */
int sbx_slot_join(struct sbx_slot *slot);
/** A spec with no_build finds no warm box that fits it: the slot's own thread must build one
 *  (nothing of the stage ran). No system call returns it. */
#define SBX_ENOBOX (-ENOSR)
/** 1 if the slot's warm box fits the next job of these three (as sbx_slot_prepare would
 *  leave it, leaf made), 0 if only a build would make one: sbx_slot_prepare() on the slot's
 *  thread. Any thread that joined the slot. */
int sbx_slot_ready(struct sbx_slot *slot, const char *package_dir, const char *package_box_dir,
                   const char *prepared_dir, struct sbx_error *reterr);
/** Makes the slot's box ready for its next job ahead of it (supervisor in its namespaces,
 *  root copied, the job's leaf cgroups made), for a spec with these package_dir,
 *  package_box_dir and prepared_dir; the next sbx_run with the same three takes it and pays
 *  only for the program. The box of the slot's previous job serves when it fits (same
 *  package, same root template); only the leaf (on v1, its memory part) is new then. Call from the
 * slot's own thread (sbx_slot_enter_thread): the box dies with the thread that built it. Failure
 * costs nothing but speed: sbx_run builds the box itself. */
int sbx_slot_prepare(struct sbx_slot *slot, const char *package_dir, const char *package_box_dir,
                     const char *prepared_dir, struct sbx_error *reterr);
/** Drops the warm box, if any (e.g. the job directories were replaced). */
void sbx_slot_discard(struct sbx_slot *slot);
/** Drops the slot's root templates (a drain: no box will need them again). The next box of
 *  the slot builds its template anew. */
void sbx_slot_drop_templates(struct sbx_slot *slot);
/** Waits until every box of the slot that will not serve again is gone (processes dead and
 *  reaped) and every finished job's leaf cgroups are removed; then gives the slot a fresh network
 * namespace if a socket outlived them in its own (sandbox/netns.c). Call before touching the job
 * directories after a stage. -EBUSY if a process would not leave its cgroup (its directory is left
 * for startup cleanup); another -errno if no fresh namespace could be made (no box is built until
 * one is). */
int sbx_slot_quiesce(struct sbx_slot *slot);

/** Interactive stages (WebSocket mode), a small interface a redesigned box must keep.
 *  With sbx_spec.stream set, stdout and stderr bytes go to output() as they are read instead
 *  of into the result's buffers (which stay empty; output_limit is not applied), and the
 *  caller steers the running box through control_fd. Both callbacks run on the thread
 *  inside sbx_run(), never after it returns. */
struct sbx_stream_control {
    bool paused; /* the consumer is full: leave the output pipes unread (the program blocks) */
    int signal;  /* deliver this signal to the main program now; 0: none */
    bool cancel; /* kill the box now: result->cancelled */
};
struct sbx_stream {
    /* Watched while the box runs; the caller makes it readable (an eventfd) whenever
     * control() has news. control() must make it unreadable again (read the eventfd). */
    int control_fd;
    /* Bytes read from stdout (is_stderr false) or stderr. True: the consumer is full, reading
     * pauses until control() reports !paused. Once the main program has ended the remaining
     * bytes in the pipes (at most their capacity) are delivered whatever it returns, so a
     * client that does not read can never hold the box past its limits. */
    bool (*output)(void *userdata, bool is_stderr, const char *data, size_t len);
    void (*control)(void *userdata, struct sbx_stream_control *ret);
    void *userdata;
};

struct sbx_spec {
    const char *const *argv; /* argv[0] is an absolute path inside the box */
    const char *const *envp; /* complete environment of the program */
    const char *package_dir; /* host directory bound read-only at package_box_dir, or NULL */
    /* absolute path in the box, outside the slot template's mounts (-EINVAL otherwise) */
    const char *package_box_dir;
    const char *prepared_dir; /* host directory bound read-only at SBX_PREPARED_PATH, or NULL */
    int stdin_fd;             /* read end given to the program as fd 0 (e.g. sealed memfd) */
    uint64_t wall_limit_ms;   /* 0 = unlimited */
    uint64_t cpu_limit_ms;    /* 0 = unlimited */
    uint64_t memory_limit;    /* bytes, swap 0; 0 = unlimited */
    uint64_t max_processes;   /* tasks (processes + threads); 0 = unlimited */
    uint64_t max_open_files;  /* RLIMIT_NOFILE; 0 = inherit default */
    uint64_t max_file_size;   /* RLIMIT_FSIZE bytes; 0 = unlimited */
    uint64_t output_limit;    /* bytes per stream; 0 = unlimited */
    bool next_stage_follows;  /* another stage of the package follows (its box serves it) */
    bool no_build; /* only the warm box may serve (sbx_slot_join); else SBX_ENOBOX, nothing run */
    const struct sbx_stream *stream; /* NULL: output captured into the result (HTTP mode) */
};

enum sbx_time_trip { SBX_TIME_OK, SBX_TIME_WALL, SBX_TIME_CPU };
enum sbx_output_trip { SBX_OUTPUT_OK, SBX_OUTPUT_STDOUT, SBX_OUTPUT_STDERR };

struct sbx_result {
    bool exited; /* main process exited: exit_code valid */
    int exit_code;
    int signal;                       /* main process killed by this signal (0 if exited) */
    enum sbx_time_trip time_trip;     /* first time limit tripped */
    enum sbx_output_trip output_trip; /* first stream overflowed */
    bool oom_killed;                  /* the cgroup saw an OOM kill during the stage */
    bool aborted;                     /* killed by sbx_slot_abort() (shutdown), not by any limit */
    bool cancelled;                   /* killed for its stream (control() said cancel) */
    uint64_t cpu_usec;
    uint64_t wall_usec;
    bool memory_known;
    uint64_t memory_peak;   /* bytes */
    struct strbuf out, err; /* captured bytes, at most output_limit each */
    struct strbuf output;   /* stdout and stderr interleaved in read order */
};

/** Runs spec in the slot's box (the warm one if it fits, else one built now) and waits for it.
 *  Returns 0 with *ret filled, or -errno if the box itself failed (reterr says where). When
 *  this returns the main program has exited (or was killed); when it ended on its own every
 *  other process of the job is dead and reaped too, and the box waits for the next job,
 *  else the box is being killed and sbx_slot_quiesce() waits until it is all gone. */
int sbx_run(struct sbx_slot *slot, const struct sbx_spec *spec, struct sbx_result *ret,
            struct sbx_error *reterr);
void sbx_result_done(struct sbx_result *r);

/** A clone copies the whole fd table (O_CLOEXEC does not help without an exec), so a host
 *  file the daemon has open for writing while another thread clones a box is, for an
 *  instant, also open in that box's supervisor. An executable written then (a compile cache
 *  restore of a.out) may fail to exec with ETXTBSY. Hold this (shared) lock from open to
 *  close of such a write; clones take it exclusively. */
void sbx_file_write_lock(void);
void sbx_file_write_unlock(void);

/** "SIGSEGV" for 11 etc. (x86-64 table of PISTON-API.md 3.5); NULL for an unknown number. */
const char *sbx_signal_name(int sig);
/** Inverse; 0 when unknown. */
int sbx_signal_from_name(const char *name);

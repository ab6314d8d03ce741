/* `capsuled --check`: host audit without serving (check.c). */
#pragma once

#include <stdio.h>

#include "api.h"

/** Prints one line per item (kernel, namespaces, seccomp, cgroups, slot ids, runtimes with
 *  their versions, a sandbox self-test under a separate instance name) and a verdict.
 *  Returns the exit status: EXIT_SUCCESS when a daemon could serve, EXIT_FAILURE otherwise.
 *  Single-threaded callers only: it creates a sandbox context. */
int api_check(const struct api_config *cfg, FILE *out);

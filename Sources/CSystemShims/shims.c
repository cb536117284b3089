#define _GNU_SOURCE
#include <spawn.h>
#include "CSystemShims.h"
#include <stdio.h>
#include <malloc.h>

int mqtthome_flush_stdout(void) {
    return fflush(stdout);
}

int mqtthome_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest_fd) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest_fd);
}

int mqtthome_limit_malloc_arenas(int arenas) {
    return mallopt(M_ARENA_MAX, arenas);
}

int mqtthome_fix_malloc_thresholds(int mmap_threshold, int trim_threshold) {
    if (mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 0) return 0;
    return mallopt(M_TRIM_THRESHOLD, trim_threshold);
}

#ifndef CSYSTEMSHIMS_H
#define CSYSTEMSHIMS_H

#include <spawn.h>

/// glibc's posix_spawn_file_actions_addclosefrom_np (2.34+) is declared only under _GNU_SOURCE, which Swift's
/// Glibc module is not built with; this forwards to it.
int mqtthome_spawn_file_actions_addclosefrom(posix_spawn_file_actions_t *actions, int lowest_fd);

/// fflush(stdout): Swift 6 refuses to touch the `stdout` global; flushing only the stream written (never
/// fflush(NULL), which also takes stdin's lock and waits behind a blocked reader) lives here.
int mqtthome_flush_stdout(void);

/// mallopt(M_ARENA_MAX, arenas): <malloc.h> is not part of Swift's Glibc module.
int mqtthome_limit_malloc_arenas(int arenas);

/// mallopt(M_MMAP_THRESHOLD) and mallopt(M_TRIM_THRESHOLD): fixed values turn off glibc's adjusting of both.
int mqtthome_fix_malloc_thresholds(int mmap_threshold, int trim_threshold);

#endif

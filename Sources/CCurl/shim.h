#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed helper per argument kind.
   The type-checking macros would get in the way of these wrappers. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

typedef size_t (*mqtthome_curl_data_callback)(char *data, size_t size, size_t count, void *userdata);
typedef int (*mqtthome_curl_progress_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                                curl_off_t ultotal, curl_off_t ulnow);

static inline CURLcode mqtthome_curl_setopt_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_data_callback(CURL *handle, CURLoption option,
                                                          mqtthome_curl_data_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_progress_callback(CURL *handle, CURLoption option,
                                                              mqtthome_curl_progress_callback value) {
    return curl_easy_setopt(handle, option, value);
}

static inline CURLcode mqtthome_curl_getinfo_long(CURL *handle, CURLINFO info, long *value) {
    return curl_easy_getinfo(handle, info, value);
}

/* CURLAUTH_BASIC is a cast expression, which Swift does not import. */
static inline long mqtthome_curl_auth_basic(void) { return (long)CURLAUTH_BASIC; }

#endif

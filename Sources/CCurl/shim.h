#ifndef CCURL_SHIM_H
#define CCURL_SHIM_H

/* libcurl's declarations only: the library is loaded with dlopen by the Curl module when an HTTP client first needs
   it, so a daemon that never talks to EMQX never maps it or the libraries it pulls in.

   curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: one typed helper per argument kind,
   each given the function dlsym found. The type-checking macros would get in the way of these wrappers. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

typedef size_t (*mqtthome_curl_data_callback)(char *data, size_t size, size_t count, void *userdata);
typedef int (*mqtthome_curl_progress_callback)(void *userdata, curl_off_t dltotal, curl_off_t dlnow,
                                                curl_off_t ultotal, curl_off_t ulnow);
typedef CURLcode (*mqtthome_curl_setopt_function)(CURL *handle, CURLoption option, ...);
typedef CURLcode (*mqtthome_curl_getinfo_function)(CURL *handle, CURLINFO info, ...);

static inline CURLcode mqtthome_curl_setopt_long(void *setopt, CURL *handle, CURLoption option, long value) {
    return ((mqtthome_curl_setopt_function)setopt)(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_string(void *setopt, CURL *handle, CURLoption option, const char *value) {
    return ((mqtthome_curl_setopt_function)setopt)(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_pointer(void *setopt, CURL *handle, CURLoption option, void *value) {
    return ((mqtthome_curl_setopt_function)setopt)(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_slist(void *setopt, CURL *handle, CURLoption option,
                                                  struct curl_slist *value) {
    return ((mqtthome_curl_setopt_function)setopt)(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_data_callback(void *setopt, CURL *handle, CURLoption option,
                                                          mqtthome_curl_data_callback value) {
    return ((mqtthome_curl_setopt_function)setopt)(handle, option, value);
}

static inline CURLcode mqtthome_curl_setopt_progress_callback(void *setopt, CURL *handle, CURLoption option,
                                                              mqtthome_curl_progress_callback value) {
    return ((mqtthome_curl_setopt_function)setopt)(handle, option, value);
}

static inline CURLcode mqtthome_curl_getinfo_long(void *getinfo, CURL *handle, CURLINFO info, long *value) {
    return ((mqtthome_curl_getinfo_function)getinfo)(handle, info, value);
}

/* CURLAUTH_BASIC is a cast expression, which Swift does not import. */
static inline long mqtthome_curl_auth_basic(void) { return (long)CURLAUTH_BASIC; }

#endif

// malloc_trim(0) for a Node.js process, run on the libuv thread pool.
//
// glibc keeps memory that was freed in the middle of its heaps (fragmentation): a store
// after a bulk load held 30-50 MiB of it (store README, "Memory"). malloc_trim(0) gives
// those free pages back to the kernel. Node has no way to call it, hence this addon.
// Built by tools/scripts/build-native.mjs with the system C compiler and Node's headers;
// where that is not possible (no compiler, not glibc) the process runs without it.
//
// exports.trim(callback): runs malloc_trim(0) off the main thread (it takes each arena's
// lock in turn, 1-15 ms for a store's heap), then calls callback(released, micros):
// released is true when memory was given back, micros the time the call took.
#include <node_api.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

typedef struct {
  napi_async_work work;
  napi_ref callback;
  bool released;
  double micros;
} Trim;

static double now_micros(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void execute(napi_env env, void* data) {
  (void)env;
  Trim* t = (Trim*)data;
  double start = now_micros();
#if defined(__GLIBC__)
  t->released = malloc_trim(0) != 0;
#else
  t->released = false;
#endif
  t->micros = now_micros() - start;
}

static void complete(napi_env env, napi_status status, void* data) {
  Trim* t = (Trim*)data;
  napi_value cb, global, argv[2];
  if (status == napi_ok && napi_get_reference_value(env, t->callback, &cb) == napi_ok &&
      napi_get_global(env, &global) == napi_ok &&
      napi_get_boolean(env, t->released, &argv[0]) == napi_ok &&
      napi_create_double(env, t->micros, &argv[1]) == napi_ok) {
    napi_call_function(env, global, cb, 2, argv, NULL);
  }
  napi_delete_reference(env, t->callback);
  napi_delete_async_work(env, t->work);
  free(t);
}

static napi_value trim(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], name;
  napi_valuetype type;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) return NULL;
  if (argc < 1 || napi_typeof(env, argv[0], &type) != napi_ok || type != napi_function) {
    napi_throw_type_error(env, NULL, "trim(callback): callback must be a function");
    return NULL;
  }
  Trim* t = (Trim*)calloc(1, sizeof(Trim));
  if (t == NULL) {
    napi_throw_error(env, NULL, "trim: out of memory");
    return NULL;
  }
  if (napi_create_reference(env, argv[0], 1, &t->callback) != napi_ok) {
    free(t);
    napi_throw_error(env, NULL, "trim: could not hold the callback");
    return NULL;
  }
  if (napi_create_string_utf8(env, "mallocTrim", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_async_work(env, NULL, name, execute, complete, t, &t->work) != napi_ok) {
    napi_delete_reference(env, t->callback);
    free(t);
    napi_throw_error(env, NULL, "trim: could not create the work");
    return NULL;
  }
  if (napi_queue_async_work(env, t->work) != napi_ok) {
    napi_delete_async_work(env, t->work);
    napi_delete_reference(env, t->callback);
    free(t);
    napi_throw_error(env, NULL, "trim: could not queue the work");
    return NULL;
  }
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  if (napi_create_function(env, "trim", NAPI_AUTO_LENGTH, trim, NULL, &fn) != napi_ok) return NULL;
  if (napi_set_named_property(env, exports, "trim", fn) != napi_ok) return NULL;
  return exports;
}

/* Awaitables whose every step is one C call.
 *
 * asyncio awaits recv() and send() once per message. Written as Cython
 * coroutines, each await allocates a coroutine, its closure and an await
 * wrapper, and the message travels back as a StopIteration. The awaitables of
 * _stream_c.pyx are small cdef classes instead: a step function says either
 * "yield this future to the Task" or "done, with this value". This header
 * installs that step as the type's iterator slot (what `await` and a 3.9 Task
 * call) and, on 3.10+, as its am_send slot (what a 3.10+ Task and 3.10/3.11's
 * `await` call), which returns the value without raising StopIteration.
 *
 * The step: int step(PyObject *self, PyObject **result) returns 0 with
 * *result a new reference to yield, 1 with *result a new reference to
 * return, or -1 with an exception set.
 */
#ifndef WSFAST_AWAITABLE_H
#define WSFAST_AWAITABLE_H

#include <Python.h>

typedef int (*wsf_step_func)(PyObject *self, PyObject **result);

/* One step function serves every installed type: it dispatches on the
   object's own (Cython virtual) step method. */
static wsf_step_func wsf_awaitable_step = NULL;

static PyObject *wsf_awaitable_iternext(PyObject *self) {
    PyObject *result = NULL, *stop;
    int status = wsf_awaitable_step(self, &result);
    if (status == 0) return result;
    if (status < 0) return NULL;
    if (result == Py_None) {  /* an iterator's end without an exception means None */
        Py_DECREF(result);
        return NULL;
    }
    /* the instance, not PyErr_SetObject(value): a tuple value would be taken as arguments */
    stop = PyObject_CallOneArg(PyExc_StopIteration, result);
    Py_DECREF(result);
    if (stop != NULL) {
        PyErr_SetObject(PyExc_StopIteration, stop);
        Py_DECREF(stop);
    }
    return NULL;
}

#if PY_VERSION_HEX >= 0x030A0000
static PySendResult wsf_awaitable_am_send(PyObject *self, PyObject *arg, PyObject **result) {
    int status;
    (void)arg;  /* what is sent in is ignored, as by a Future's iterator */
    *result = NULL;
    status = wsf_awaitable_step(self, result);
    if (status < 0) {
        *result = NULL;
        return PYGEN_ERROR;
    }
    return status == 0 ? PYGEN_NEXT : PYGEN_RETURN;
}
#endif

/* Make `step` the iterator (and send) slot of `type`, an extension type
   whose __await__ returns the object itself. */
static int wsf_awaitable_install(PyObject *type_obj, wsf_step_func step) {
    PyTypeObject *type = (PyTypeObject *)type_obj;
    if (!PyType_Check(type_obj) || type->tp_as_async == NULL || type->tp_as_async->am_await == NULL) {
        PyErr_SetString(PyExc_TypeError, "an extension type with __await__ is required");
        return -1;
    }
    wsf_awaitable_step = step;
    type->tp_iternext = wsf_awaitable_iternext;
#if PY_VERSION_HEX >= 0x030A0000
    type->tp_as_async->am_send = wsf_awaitable_am_send;
#endif
    PyType_Modified(type);
    return 0;
}

#endif

/* Fast construction of wsfast._record.Record instances (frames, events).
 *
 * Calling a Python class runs its __init__ (a Python function): far more
 * than the ~30 ns a message may cost. A Record keeps its fields in __slots__,
 * i.e. in member descriptors at fixed offsets of the instance. At module
 * init we look those offsets up once (and check that each descriptor really
 * is a writable object slot); per object we then do what object.__new__ and
 * the slot descriptors do: tp_alloc, and store each field at its offset.
 * If a descriptor is not what we expect (another interpreter version, a
 * changed class), we fall back to the descriptor's own setter.
 */
#ifndef WSFAST_RECORDS_H
#define WSFAST_RECORDS_H

#include <Python.h>
#include <structmember.h>

#define WSF_RECORD_MAX_FIELDS 8

typedef struct {
    PyTypeObject *type;                      /* borrowed: the module keeps the class alive */
    PyObject *descr[WSF_RECORD_MAX_FIELDS];  /* borrowed, same reason */
    Py_ssize_t offset[WSF_RECORD_MAX_FIELDS];/* -1: use the descriptor's setter */
    int nfields;
} wsf_record_type;

/* Offset of the object slot a class attribute describes, if it is a
   writable __slots__ member holding an object; else -1 (no exception). */
static Py_ssize_t wsf_member_offset(PyObject *descr) {
    if (Py_TYPE(descr) == &PyMemberDescr_Type) {
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY)) return m->offset;
    }
    return -1;
}

/* Look up cls.__slots__ descriptors; returns -1 with an exception set on failure. */
static int wsf_record_type_init(wsf_record_type *rt, PyObject *cls) {
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "record class expected");
        return -1;
    }
    PyObject *slots = PyObject_GetAttrString(cls, "__slots__");
    if (slots == NULL) return -1;
    PyObject *names = PySequence_Tuple(slots);
    Py_DECREF(slots);
    if (names == NULL) return -1;
    Py_ssize_t n = PyTuple_GET_SIZE(names);
    if (n > WSF_RECORD_MAX_FIELDS) {
        Py_DECREF(names);
        PyErr_SetString(PyExc_TypeError, "too many record fields");
        return -1;
    }
    rt->type = (PyTypeObject *)cls;
    rt->nfields = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *descr = PyObject_GetAttr(cls, PyTuple_GET_ITEM(names, i));
        if (descr == NULL) {
            Py_DECREF(names);
            return -1;
        }
        rt->descr[i] = descr;
        rt->offset[i] = wsf_member_offset(descr);
        if (rt->offset[i] < 0 && Py_TYPE(descr)->tp_descr_set == NULL) {
            Py_DECREF(descr);
            Py_DECREF(names);
            PyErr_SetString(PyExc_TypeError, "record field is not a slot");
            return -1;
        }
        Py_DECREF(descr); /* the class holds it */
    }
    Py_DECREF(names);
    return 0;
}

/* New instance with fields taken from values[0..nfields) (borrowed). */
static PyObject *wsf_record_new(const wsf_record_type *rt, PyObject *const *values) {
    PyObject *obj = rt->type->tp_alloc(rt->type, 0);
    if (obj == NULL) return NULL;
    for (int i = 0; i < rt->nfields; i++) {
        PyObject *v = values[i];
        if (rt->offset[i] >= 0) {
            Py_INCREF(v);
            *(PyObject **)((char *)obj + rt->offset[i]) = v;
        } else if (Py_TYPE(rt->descr[i])->tp_descr_set(rt->descr[i], obj, v) < 0) {
            Py_DECREF(obj);
            return NULL;
        }
    }
    return obj;
}

static inline PyObject *wsf_record_new1(const wsf_record_type *rt, PyObject *a) {
    PyObject *v[1] = {a};
    return wsf_record_new(rt, v);
}

static inline PyObject *wsf_record_new2(const wsf_record_type *rt, PyObject *a, PyObject *b) {
    PyObject *v[2] = {a, b};
    return wsf_record_new(rt, v);
}

static inline PyObject *wsf_record_new3(const wsf_record_type *rt, PyObject *a, PyObject *b,
                                        PyObject *c) {
    PyObject *v[3] = {a, b, c};
    return wsf_record_new(rt, v);
}

static inline PyObject *wsf_record_new6(const wsf_record_type *rt, PyObject *a, PyObject *b,
                                        PyObject *c, PyObject *d, PyObject *e, PyObject *f) {
    PyObject *v[6] = {a, b, c, d, e, f};
    return wsf_record_new(rt, v);
}

/* Field i of obj, an instance of exactly rt->type (the caller checks):
   a new reference, as getattr would give it. */
static inline PyObject *wsf_record_get(const wsf_record_type *rt, PyObject *obj, int i) {
    PyObject *v;
    if (rt->offset[i] < 0)
        return Py_TYPE(rt->descr[i])->tp_descr_get(rt->descr[i], obj, (PyObject *)rt->type);
    v = *(PyObject **)((char *)obj + rt->offset[i]);
    if (v == NULL) {
        PyErr_SetString(PyExc_AttributeError, "record field is not set");
        return NULL;
    }
    Py_INCREF(v);
    return v;
}

#endif

/* Reading and writing __slots__ members of a Python object by offset.
 *
 * The compiled StreamCore touches a few fields of its sans-I/O Connection (a
 * Python class with __slots__) on every message. Through getattr each access
 * is a type lookup, a descriptor call and a type check (~150 instructions);
 * by offset it is a load. The offsets come from the class's own member
 * descriptors, looked up once, and are valid for every instance of the class
 * and of its subclasses (a subclass keeps its base's layout); the caller
 * makes sure the object is such an instance.
 */
#ifndef WSFAST_SLOTS_H
#define WSFAST_SLOTS_H

#include <Python.h>
#include <structmember.h>

/* Offset of the object slot a class attribute describes, if it is a
   writable __slots__ member holding an object; else -1 (no exception). */
static Py_ssize_t wsf_member_offset(PyObject *descr) {
    if (Py_TYPE(descr) == &PyMemberDescr_Type) {
        PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
        if (m->type == T_OBJECT_EX && !(m->flags & READONLY)) return m->offset;
    }
    return -1;
}

/* Offset of the writable object slot `name` of class `cls`; -1 with an exception. */
static Py_ssize_t wsf_slot_offset(PyObject *cls, const char *name) {
    Py_ssize_t offset;
    PyObject *descr = PyObject_GetAttrString(cls, name);
    if (descr == NULL) return -1;
    offset = wsf_member_offset(descr);
    Py_DECREF(descr);
    if (offset < 0) PyErr_Format(PyExc_TypeError, "%s is not a writable __slots__ member", name);
    return offset;
}

/* New reference to the slot's value; AttributeError if it was never set (as getattr). */
static inline PyObject *wsf_slot_get(PyObject *obj, Py_ssize_t offset, PyObject *name) {
    PyObject *value = *(PyObject **)((char *)obj + offset);
    if (value == NULL) {
        PyErr_Format(PyExc_AttributeError, "'%.100s' object has no attribute '%U'",
                     Py_TYPE(obj)->tp_name, name);
        return NULL;
    }
    Py_INCREF(value);
    return value;
}

/* Store value in the slot (a new reference to it), releasing the old one. */
static inline void wsf_slot_set(PyObject *obj, Py_ssize_t offset, PyObject *value) {
    PyObject **slot = (PyObject **)((char *)obj + offset);
    PyObject *old = *slot;
    Py_INCREF(value);
    *slot = value;
    Py_XDECREF(old);
}

#endif

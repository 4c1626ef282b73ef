# Fast construction of Record instances (records.h); see wsfast/_record.py.

cdef extern from "wsfast/records.h":
    ctypedef struct wsf_record_type:
        pass
    int wsf_record_type_init(wsf_record_type *rt, object cls) except -1
    object wsf_record_new1(const wsf_record_type *rt, object a)
    object wsf_record_new2(const wsf_record_type *rt, object a, object b)
    object wsf_record_new3(const wsf_record_type *rt, object a, object b, object c)
    object wsf_record_new6(const wsf_record_type *rt, object a, object b, object c,
                           object d, object e, object f)
    object wsf_record_get(const wsf_record_type *rt, object obj, int i)

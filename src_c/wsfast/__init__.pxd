# Marks src_c/wsfast as the Cython package "wsfast", so that
# `from wsfast._mask_c cimport ...` finds the .pxd files beside it.

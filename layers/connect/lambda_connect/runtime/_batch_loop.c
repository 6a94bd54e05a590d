/*
 * lambda_connect.runtime._batch_loop: the batch pipeline's loop (runtime/batch_pipeline.py) in C.
 *
 * Why C: once the edits run in the native plan engine, a good part of what is left per record
 * is the loop itself — unpacking the consumed tuple, four calls, the key check, building the
 * produced tuple, resuming a generator. This iterator takes the same steps with the same
 * callables in the same order, which is the generated Python loop:
 *
 *     for item in records:
 *         topic, partition, offset, timestamp, _, key, raw, headers = item
 *         if headers: yield SLOW(item); continue
 *         try:
 *             value = READ(raw)
 *             <maps_only: value must be exactly a dict; else: value must not be None>
 *             PLAN(value, topic, partition, offset, timestamp)      # when there is a plan
 *             raw_out = WRITE(value, *WRITE_ARGS, **WRITE_KWARGS)
 *             <key: kept when KEY_SAME(key) says so (null kept), else KEY_ROUNDTRIP(topic, key)>
 *         except Exception:
 *             yield SLOW(item); continue
 *         yield (topic, partition, timestamp, key, raw_out, NO_HEADERS)
 *
 * tests/unit/runtime/test_batch_pipeline.py runs it, and the generated loop, against the
 * per-record path. An exception from SLOW (or a record that is not an 8-tuple) ends the
 * iteration, as it ends a generator. Stable ABI (3.11+), like the plan engine.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

typedef struct {
    PyObject_HEAD
    PyObject *records;       /* iterator over consumed 8-tuples; NULL once exhausted or failed */
    PyObject *read;
    PyObject *write;
    PyObject *write_args;    /* up to 3 positional arguments after the value, or NULL */
    PyObject *write_kwargs;  /* dict or NULL */
    PyObject *plan;          /* callable or NULL */
    PyObject *key_same;      /* callable or NULL: then every key is converted there and back */
    PyObject *key_roundtrip;
    PyObject *slow;
    PyObject *no_headers;
    int maps_only;
    int write_nargs;
    PyObject *write_args_items[3];  /* borrowed from write_args */
} BatchRun;

/* The try block of the loop: the produced tuple, or NULL with an exception set. */
static PyObject *
fast_path(BatchRun *self, PyObject *item)
{
    PyObject *topic = PyTuple_GetItem(item, 0), *partition = PyTuple_GetItem(item, 1);
    PyObject *offset = PyTuple_GetItem(item, 2), *timestamp = PyTuple_GetItem(item, 3);
    PyObject *key = PyTuple_GetItem(item, 5), *raw = PyTuple_GetItem(item, 6);
    PyObject *result = NULL, *raw_out = NULL, *key_out = NULL;
    PyObject *value = PyObject_CallFunctionObjArgs(self->read, raw, NULL);
    if (value == NULL) return NULL;
    if (self->maps_only ? !PyDict_CheckExact(value) : value == Py_None) {
        PyErr_SetString(PyExc_LookupError, "not a value the batch loop takes");
        goto done;
    }
    if (self->plan != NULL) {
        PyObject *r = PyObject_CallFunctionObjArgs(self->plan, value, topic, partition, offset, timestamp, NULL);
        if (r == NULL) goto done;
        Py_DECREF(r);
    }
    if (self->write_kwargs == NULL) {
        /* Positional arguments need no dict per call (PyObject_Vectorcall is not in the 3.11 ABI). */
        PyObject **a = self->write_args_items;
        switch (self->write_nargs) {
        case 0: raw_out = PyObject_CallFunctionObjArgs(self->write, value, NULL); break;
        case 1: raw_out = PyObject_CallFunctionObjArgs(self->write, value, a[0], NULL); break;
        case 2: raw_out = PyObject_CallFunctionObjArgs(self->write, value, a[0], a[1], NULL); break;
        default: raw_out = PyObject_CallFunctionObjArgs(self->write, value, a[0], a[1], a[2], NULL); break;
        }
    } else {
        PyObject *args = PyTuple_Pack(1, value);
        if (args == NULL) goto done;
        raw_out = PyObject_Call(self->write, args, self->write_kwargs);
        Py_DECREF(args);
    }
    if (raw_out == NULL) goto done;
    if (self->key_same != NULL && key == Py_None) {
        key_out = Py_NewRef(key);
    } else {
        int same = 0;
        if (self->key_same != NULL) {
            PyObject *r = PyObject_CallFunctionObjArgs(self->key_same, key, NULL);
            if (r == NULL) goto done;
            same = PyObject_IsTrue(r);
            Py_DECREF(r);
            if (same < 0) goto done;
        }
        key_out = same ? Py_NewRef(key) : PyObject_CallFunctionObjArgs(self->key_roundtrip, topic, key, NULL);
        if (key_out == NULL) goto done;
    }
    result = PyTuple_Pack(6, topic, partition, timestamp, key_out, raw_out, self->no_headers);
done:
    Py_DECREF(value);
    Py_XDECREF(raw_out);
    Py_XDECREF(key_out);
    return result;
}

static PyObject *
BatchRun_next(PyObject *obj)
{
    BatchRun *self = (BatchRun *)obj;
    if (self->records == NULL) return NULL;
    PyObject *item = PyIter_Next(self->records);
    if (item == NULL) {
        Py_CLEAR(self->records);
        return NULL;
    }
    PyObject *out = NULL;
    if (!PyTuple_Check(item) || PyTuple_Size(item) != 8) {
        PyErr_Format(PyExc_ValueError, "a consumed record is an 8-tuple (topic, partition, offset, timestamp, "
                     "timestamp_type, key, value, headers), got %R", item);
        goto failed;
    }
    int has_headers = PyObject_IsTrue(PyTuple_GetItem(item, 7));
    if (has_headers < 0) goto failed;
    if (!has_headers) {
        out = fast_path(self, item);
        if (out != NULL) goto done;
        if (!PyErr_ExceptionMatches(PyExc_Exception)) goto failed;  /* `except Exception` lets the rest through */
        PyErr_Clear();
    }
    out = PyObject_CallFunctionObjArgs(self->slow, item, NULL);
    if (out == NULL) goto failed;
done:
    Py_DECREF(item);
    return out;
failed:
    Py_CLEAR(self->records);  /* like a generator: done after an exception */
    Py_DECREF(item);
    return NULL;
}

static int
BatchRun_traverse(PyObject *obj, visitproc visit, void *arg)
{
    BatchRun *self = (BatchRun *)obj;
    Py_VISIT(self->records);
    Py_VISIT(self->read);
    Py_VISIT(self->write);
    Py_VISIT(self->write_args);
    Py_VISIT(self->write_kwargs);
    Py_VISIT(self->plan);
    Py_VISIT(self->key_same);
    Py_VISIT(self->key_roundtrip);
    Py_VISIT(self->slow);
    Py_VISIT(self->no_headers);
    Py_VISIT(Py_TYPE(obj));
    return 0;
}

static int
BatchRun_clear(PyObject *obj)
{
    BatchRun *self = (BatchRun *)obj;
    Py_CLEAR(self->records);
    Py_CLEAR(self->read);
    Py_CLEAR(self->write);
    Py_CLEAR(self->write_args);
    self->write_nargs = 0;
    Py_CLEAR(self->write_kwargs);
    Py_CLEAR(self->plan);
    Py_CLEAR(self->key_same);
    Py_CLEAR(self->key_roundtrip);
    Py_CLEAR(self->slow);
    Py_CLEAR(self->no_headers);
    return 0;
}

static void
BatchRun_dealloc(PyObject *obj)
{
    PyTypeObject *tp = Py_TYPE(obj);
    PyObject_GC_UnTrack(obj);
    BatchRun_clear(obj);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(obj);
    Py_DECREF(tp);
}

/* A new reference, or NULL for None. */
static PyObject *
unless_none(PyObject *o)
{
    return o == Py_None ? NULL : Py_NewRef(o);
}

static PyObject *
BatchRun_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *names[] = {"records", "read", "write", "write_args", "write_kwargs", "plan", "key_same",
                            "key_roundtrip", "slow", "no_headers", "maps_only", NULL};
    PyObject *records, *read, *write, *write_args, *write_kwargs, *plan, *key_same, *key_roundtrip, *slow;
    PyObject *no_headers;
    int maps_only;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOO!OOOOOOp:BatchRun", names, &records, &read, &write,
                                     &PyTuple_Type, &write_args, &write_kwargs, &plan, &key_same, &key_roundtrip,
                                     &slow, &no_headers, &maps_only))
        return NULL;
    if (write_kwargs != Py_None && !PyDict_Check(write_kwargs)) {
        PyErr_SetString(PyExc_TypeError, "write_kwargs must be a dict or None");
        return NULL;
    }
    Py_ssize_t nargs = PyTuple_Size(write_args);
    if (nargs > 3 || (nargs > 0 && write_kwargs != Py_None)) {
        PyErr_SetString(PyExc_ValueError, "write_args: at most 3, and not together with write_kwargs");
        return NULL;
    }
    if (!PyCallable_Check(read) || !PyCallable_Check(write) || !PyCallable_Check(key_roundtrip) ||
            !PyCallable_Check(slow)) {
        PyErr_SetString(PyExc_TypeError, "read, write, key_roundtrip and slow must be callable");
        return NULL;
    }
    if ((plan != Py_None && !PyCallable_Check(plan)) || (key_same != Py_None && !PyCallable_Check(key_same))) {
        PyErr_SetString(PyExc_TypeError, "plan and key_same must be callable or None");
        return NULL;
    }
    PyObject *it = PyObject_GetIter(records);
    if (it == NULL) return NULL;
    allocfunc tp_alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    BatchRun *self = (BatchRun *)tp_alloc(type, 0);
    if (self == NULL) {
        Py_DECREF(it);
        return NULL;
    }
    self->records = it;
    self->read = Py_NewRef(read);
    self->write = Py_NewRef(write);
    self->write_args = Py_NewRef(write_args);
    self->write_nargs = (int)nargs;
    for (Py_ssize_t i = 0; i < nargs; i++) self->write_args_items[i] = PyTuple_GetItem(write_args, i);
    self->write_kwargs = unless_none(write_kwargs);
    self->plan = unless_none(plan);
    self->key_same = unless_none(key_same);
    self->key_roundtrip = Py_NewRef(key_roundtrip);
    self->slow = Py_NewRef(slow);
    self->no_headers = Py_NewRef(no_headers);
    self->maps_only = maps_only;
    return (PyObject *)self;
}

static PyObject *
BatchRun_iter(PyObject *self)
{
    return Py_NewRef(self);
}

static PyType_Slot BatchRun_slots[] = {
    {Py_tp_doc, "BatchRun(records, read, write, write_args, write_kwargs, plan, key_same, key_roundtrip, slow, "
                "no_headers, maps_only): an iterator of the outcomes of records (see the module source)."},
    {Py_tp_new, BatchRun_new},
    {Py_tp_dealloc, BatchRun_dealloc},
    {Py_tp_traverse, BatchRun_traverse},
    {Py_tp_clear, BatchRun_clear},
    {Py_tp_iter, BatchRun_iter},
    {Py_tp_iternext, BatchRun_next},
    {0, NULL},
};

static PyType_Spec BatchRun_spec = {
    "lambda_connect.runtime._batch_loop.BatchRun", sizeof(BatchRun), 0, Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    BatchRun_slots,
};

static int
exec_module(PyObject *m)
{
    PyObject *type = PyType_FromSpec(&BatchRun_spec);
    if (type == NULL) return -1;
    if (PyModule_AddObject(m, "BatchRun", type) < 0) {
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, exec_module}, {0, NULL}};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "lambda_connect.runtime._batch_loop",
    "The batch pipeline's loop in C (see runtime/batch_pipeline.py).", 0, NULL, module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__batch_loop(void)
{
    return PyModuleDef_Init(&moduledef);
}

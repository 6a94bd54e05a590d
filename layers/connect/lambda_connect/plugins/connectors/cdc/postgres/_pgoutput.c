/*
 * lambda_connect.plugins.connectors.cdc.postgres._pgoutput: pgoutput tuple decoding in C.
 *
 * Why C: on the streaming path of the PostgreSQL CDC source, decoding a change's TupleData and
 * converting each column was the largest single cost left in Python (a loop of a dozen bytecodes
 * and two or three calls per column). This is the same loop in one call.
 *
 *     row_values(data, pos, converters, ops, toast) -> (values, end, toasted)
 *
 * is exactly pgoutput.row_values(data, pos, converters, toast), the Python specification kept
 * beside it (read it first): ``converters[i]`` is column i's converter (None: the text is the
 * value, pgoutput.SKIP: leave the column out), ``ops`` one byte per column saying which of them
 * is a builtin this file runs without a call (pgoutput.row_ops computes it):
 *
 *     0 SKIP   None, the text not even decoded
 *     1 TEXT   the text as str
 *     2 INT    int(text): [-]digits of up to 18 digits parsed here, anything else via int()
 *     3 FLOAT  float(text) (PyFloat_FromString, which float() runs for a str)
 *     4 BOOL   text in ("t", "true")
 *     5 ZONED  types._zoned_ts: the UTC form "YYYY-MM-DD HH:MM:SS[.f]+00" rewritten here to
 *              "YYYY-MM-DDTHH:MM:SS[.f]Z", any other text (another offset, BC, non-ASCII) via the
 *              converter
 *     6 CALL   converter(text)
 *
 * Nulls ('n') are None; an unchanged TOASTed value ('u') is ``toast`` and sets ``toasted`` (None
 * for SKIP); a binary value ('b') is bytes, given to the converter unless the op is SKIP or TEXT.
 * A tuple whose column count differs from len(converters), an unknown column kind, or a value
 * running past the end of the message is a ValueError. tests/unit/plugins/connectors/
 * test_pgoutput_native.py compares this with the specification on every type family, on nulls,
 * TOAST markers, binary values, odd texts and broken messages. Stable ABI (3.11+), like the
 * other native modules.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

enum { OP_SKIP = 0, OP_TEXT = 1, OP_INT = 2, OP_FLOAT = 3, OP_BOOL = 4, OP_ZONED = 5, OP_CALL = 6 };

static PyObject *
call_one(PyObject *conv, PyObject *arg)
{
    PyObject *out = PyObject_CallFunctionObjArgs(conv, arg, NULL);
    Py_DECREF(arg);
    return out;
}

/* int(text) for the forms PostgreSQL prints: an optional '-' and 1 to 18 digits. */
static int
parse_small_int(const char *p, Py_ssize_t n, long long *out)
{
    Py_ssize_t i = 0;
    int negative = 0;
    long long v = 0;
    if (n > 0 && p[0] == '-') {
        negative = 1;
        i = 1;
    }
    if (n - i < 1 || n - i > 18)
        return 0;
    for (; i < n; i++) {
        char c = p[i];
        if (c < '0' || c > '9')
            return 0;
        v = v * 10 + (c - '0');
    }
    *out = negative ? -v : v;
    return 1;
}

/* types._zoned_ts's fast case; returns NULL without an error set when the text is not that case. */
static PyObject *
zoned_utc(const char *p, Py_ssize_t n)
{
    char buf[128];
    Py_ssize_t i;
    if (n < 22 || n > (Py_ssize_t)sizeof(buf) || p[4] != '-')
        return NULL;
    if (p[n - 3] != '+' || p[n - 2] != '0' || p[n - 1] != '0')
        return NULL;
    if (n >= 6 && memcmp(p + n - 6, " BC+00", 6) == 0)
        return NULL;
    for (i = 0; i < n; i++)
        if ((unsigned char)p[i] >= 0x80)
            return NULL; /* character positions would differ from byte positions */
    memcpy(buf, p, 10);
    buf[10] = 'T';
    memcpy(buf + 11, p + 11, (size_t)(n - 14));
    buf[n - 3] = 'Z';
    return PyUnicode_FromStringAndSize(buf, n - 2);
}

static PyObject *
text_value(int op, PyObject *conv, const char *p, Py_ssize_t n)
{
    PyObject *text;
    if (op == OP_INT) {
        long long v;
        if (parse_small_int(p, n, &v))
            return PyLong_FromLongLong(v);
    }
    else if (op == OP_BOOL) {
        if ((n == 1 && p[0] == 't') || (n == 4 && memcmp(p, "true", 4) == 0))
            Py_RETURN_TRUE;
        /* any other valid text is False, as `in` says; invalid UTF-8 must still fail */
        text = PyUnicode_DecodeUTF8(p, n, NULL);
        if (text == NULL)
            return NULL;
        Py_DECREF(text);
        Py_RETURN_FALSE;
    }
    else if (op == OP_ZONED) {
        PyObject *out = zoned_utc(p, n);
        if (out != NULL || PyErr_Occurred())
            return out;
    }
    text = PyUnicode_DecodeUTF8(p, n, NULL);
    if (text == NULL || op == OP_TEXT)
        return text;
    if (op == OP_FLOAT) {
        PyObject *out = PyFloat_FromString(text);
        Py_DECREF(text);
        return out;
    }
    return call_one(conv, text);
}

static int32_t
read_i32(const unsigned char *p)
{
    return (int32_t)(((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

static PyObject *
row_values(PyObject *module, PyObject *args)
{
    PyObject *data, *converters, *ops_obj, *toast;
    Py_ssize_t pos, size, ncols, count, i;
    char *raw_ptr, *ops_ptr;
    Py_ssize_t ops_len;
    const unsigned char *buf;
    PyObject *values = NULL, *out;
    int toasted = 0;

    if (!PyArg_ParseTuple(args, "O!nO!O!O:row_values", &PyBytes_Type, &data, &pos, &PyTuple_Type, &converters,
                          &PyBytes_Type, &ops_obj, &toast))
        return NULL;
    if (PyBytes_AsStringAndSize(data, &raw_ptr, &size) < 0 || PyBytes_AsStringAndSize(ops_obj, &ops_ptr, &ops_len) < 0)
        return NULL;
    buf = (const unsigned char *)raw_ptr;
    ncols = PyTuple_Size(converters);
    if (ncols < 0)
        return NULL;
    if (ops_len != ncols) {
        PyErr_SetString(PyExc_ValueError, "pgoutput: ops and converters differ in length");
        return NULL;
    }
    if (pos < 0 || pos + 2 > size) {
        PyErr_SetString(PyExc_ValueError, "pgoutput: the tuple runs past the end of the message");
        return NULL;
    }
    count = (Py_ssize_t)(int16_t)(((unsigned)buf[pos] << 8) | buf[pos + 1]);
    if (count != ncols) {
        PyErr_Format(PyExc_ValueError, "pgoutput: a tuple of %zd columns for a relation of %zd", count, ncols);
        return NULL;
    }
    pos += 2;
    values = PyList_New(ncols);
    if (values == NULL)
        return NULL;
    for (i = 0; i < ncols; i++) {
        int op = (unsigned char)ops_ptr[i];
        PyObject *conv = PyTuple_GetItem(converters, i); /* borrowed */
        PyObject *item;
        unsigned char kind;
        if (conv == NULL)
            goto fail;
        if (pos >= size) {
            PyErr_SetString(PyExc_ValueError, "pgoutput: the tuple runs past the end of the message");
            goto fail;
        }
        kind = buf[pos];
        if (kind == 'n') {
            pos += 1;
            item = Py_None;
            Py_INCREF(item);
        }
        else if (kind == 'u') {
            pos += 1;
            if (op == OP_SKIP) {
                item = Py_None;
            }
            else {
                item = toast;
                toasted = 1;
            }
            Py_INCREF(item);
        }
        else if (kind == 't' || kind == 'b') {
            int32_t length;
            if (pos + 5 > size) {
                PyErr_SetString(PyExc_ValueError, "pgoutput: the tuple runs past the end of the message");
                goto fail;
            }
            length = read_i32(buf + pos + 1);
            pos += 5;
            if (length < 0 || (Py_ssize_t)length > size - pos) {
                PyErr_SetString(PyExc_ValueError, "pgoutput: a column value runs past the end of the message");
                goto fail;
            }
            if (op == OP_SKIP) {
                item = Py_None;
                Py_INCREF(item);
            }
            else if (kind == 't') {
                item = text_value(op, conv, (const char *)buf + pos, length);
            }
            else {
                item = PyBytes_FromStringAndSize((const char *)buf + pos, length);
                if (item != NULL && op != OP_TEXT)
                    item = call_one(conv, item);
            }
            pos += length;
            if (item == NULL)
                goto fail;
        }
        else {
            PyErr_Format(PyExc_ValueError, "pgoutput: unknown tuple column kind %d at byte %zd", (int)kind, pos);
            goto fail;
        }
        if (PyList_SetItem(values, i, item) < 0) /* steals item */
            goto fail;
    }
    out = Py_BuildValue("(NnN)", values, pos, PyBool_FromLong(toasted));
    return out;
fail:
    Py_XDECREF(values);
    return NULL;
}

static PyMethodDef methods[] = {
    {"row_values", row_values, METH_VARARGS,
     "row_values(data, pos, converters, ops, toast) -> (values, end, toasted): pgoutput.row_values in C."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_pgoutput", "pgoutput TupleData decoding in C (see pgoutput.row_values).", -1, methods,
};

PyMODINIT_FUNC
PyInit__pgoutput(void)
{
    return PyModule_Create(&module_def);
}

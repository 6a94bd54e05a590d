/*
 * lambda_connect.aws._slot_decode: the fast pass of aws/sink_handler.py ``_slot_records`` in C.
 *
 * Why C: for a JDBC sink the decoding of the Lambda event is the largest Python piece left per
 * record — four subscripts and type/range checks, two base64 decodes, headers, a named tuple.
 * The Python loop in ``_slot_records`` is the specification; this function takes the same
 * steps in the same order for one slot:
 *
 *     for data in items:
 *         try:
 *             topic, partition, offset, timestamp = data[...]     # KeyError: slow
 *             <exact str topic == slot topic, exact int partition == slot partition,
 *              exact int 0 <= offset <= max_offset, timestamp None or exact int in -1..max_timestamp>
 *             key = data.get("key"): None, or an exact str, base64 (strict) decoded
 *             value = data["value"]: the same
 *             headers = data["headers"]: falsy list or None -> (), truthy -> HEADERS(headers)
 *             kind = data["timestampType"]
 *             out.append(RECORD(topic, partition, offset, timestamp, kind or NO_TS, key, value, headers, None))
 *         except CAUGHT:
 *             out.append(SLOW(data, slot)); plain = False; continue
 *         <plain stays True while offsets increase>
 *     return out, plain
 *
 * Base64 is decoded here when the text is canonical (ASCII alphabet, length a multiple of 4,
 * at most two '=' at the end, unused bits zero); anything else goes to binascii.a2b_base64
 * with strict_mode=True, which then decodes it or raises exactly as the Python loop sees it.
 * A slot that is not an exact list of exact dicts is not taken (None is returned and the
 * Python loop runs it): user-defined mappings could run code the C pass does not mirror.
 * tests/unit/aws/test_slot_decode.py compares this with the Python loop. Stable ABI (3.11+).
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

typedef struct {
    PyObject *record_type;   /* ConsumedRecord: a tuple subclass of nine fields */
    allocfunc record_alloc;  /* its allocator, filled in place; NULL: built by tuple.__new__ */
    PyObject *slow;          /* _slow(data, slot) */
    PyObject *headers;       /* _headers(raw) */
    PyObject *caught;        /* the exception classes the Python loop catches */
    PyObject *a2b_base64;    /* binascii.a2b_base64, for text off the canonical fast path */
    PyObject *strict_kwargs; /* {"strict_mode": True} */
    PyObject *no_ts;         /* "NO_TIMESTAMP_TYPE" */
    long long max_offset, max_timestamp;
} Context;

static PyObject *tuple_new;  /* tuple.__new__ */
static PyObject *no_headers; /* () */
static PyObject *s_topic, *s_partition, *s_offset, *s_timestamp, *s_key, *s_value, *s_headers, *s_kind;

static signed char b64[256];

/* 1: the error set is one the Python loop catches (cleared: take the slow path); -1: not. */
static int
caught_error(Context *c)
{
    if (PyErr_ExceptionMatches(c->caught)) {
        PyErr_Clear();
        return 1;
    }
    return -1;
}

/* Decoded bytes of a base64 text in a new reference, or NULL with an exception set. */
static PyObject *
decode_base64(Context *c, PyObject *text)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(text, &n);
    if (s == NULL) return NULL;
    if (n % 4 == 0) {
        /* One pass: decode every group, OR-ing the table entries (-1 for a byte off the alphabet). */
        const unsigned char *u = (const unsigned char *)s;
        Py_ssize_t pad = 0;
        if (n && s[n - 1] == '=') pad = (n > 1 && s[n - 2] == '=') ? 2 : 1;
        Py_ssize_t full = pad ? n - 4 : n;  /* the characters of the groups without padding */
        PyObject *out = PyBytes_FromStringAndSize(NULL, full / 4 * 3 + (pad ? 3 - pad : 0));
        if (out == NULL) return NULL;
        unsigned char *o = (unsigned char *)PyBytes_AsString(out);
        int bad = 0;
        Py_ssize_t i;
        for (i = 0; i < full; i += 4) {
            int a = b64[u[i]], b = b64[u[i + 1]], c = b64[u[i + 2]], d = b64[u[i + 3]];
            bad |= a | b | c | d;
            unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6 | (unsigned)d;
            *o++ = (unsigned char)(v >> 16);
            *o++ = (unsigned char)(v >> 8);
            *o++ = (unsigned char)v;
        }
        if (pad) {  /* the last group: two or three characters, their unused bits zero */
            int a = b64[u[i]], b = b64[u[i + 1]], c = pad == 1 ? b64[u[i + 2]] : 0;
            bad |= a | b | c;
            if (pad == 2 ? (b & 0x0F) : (c & 0x03)) bad = -1;
            unsigned v = (unsigned)a << 18 | (unsigned)b << 12 | (unsigned)c << 6;
            *o++ = (unsigned char)(v >> 16);
            if (pad == 1) *o++ = (unsigned char)(v >> 8);
        }
        if (bad >= 0) return out;
        Py_DECREF(out);
    }
    PyObject *args = PyTuple_Pack(1, text);
    if (args == NULL) return NULL;
    PyObject *out = PyObject_Call(c->a2b_base64, args, c->strict_kwargs);
    Py_DECREF(args);
    return out;
}

/* An exact int within lo..hi into *out: 1; anything else: 0. */
static int
int_in(PyObject *x, long long lo, long long hi, long long *out)
{
    if (!PyLong_CheckExact(x)) return 0;
    int overflow;
    long long v = PyLong_AsLongLongAndOverflow(x, &overflow);
    if (overflow || (v == -1 && PyErr_Occurred())) {
        PyErr_Clear();
        return 0;
    }
    if (v < lo || v > hi) return 0;
    *out = v;
    return 1;
}

/* A field of an exact dict, borrowed: 1 found, 0 missing, -1 error set. */
static int
field(PyObject *data, PyObject *name, PyObject **out)
{
    *out = PyDict_GetItemWithError(data, name);
    if (*out != NULL) return 1;
    return PyErr_Occurred() ? -1 : 0;
}

/* The fast path of one record: a new ConsumedRecord; NULL and *slow = 1 for the slow path;
 * NULL and *slow = 0 with an exception set for an error the Python loop lets through. */
static PyObject *
fast_record(Context *c, PyObject *data, PyObject *slot_topic, long long slot_partition, long long *offset_out,
            int *slow)
{
    PyObject *topic, *partition, *offset, *timestamp, *key, *value, *headers, *kind;
    PyObject *key_out = NULL, *value_out = NULL, *headers_out = NULL, *record = NULL;
    long long p, o, t;
    int r;
    *slow = 1;
#define FIELD(name, var) \
    if ((r = field(data, name, &var)) <= 0) { if (r < 0 && caught_error(c) < 0) *slow = 0; return NULL; }
    FIELD(s_topic, topic)
    FIELD(s_partition, partition)
    FIELD(s_offset, offset)
    FIELD(s_timestamp, timestamp)
    if (!PyUnicode_CheckExact(topic)) return NULL;
    if (topic != slot_topic) {
        r = PyUnicode_Compare(topic, slot_topic);
        if (r != 0) {
            if (r == -1 && PyErr_Occurred() && caught_error(c) < 0) *slow = 0;
            return NULL;
        }
    }
    if (!int_in(partition, slot_partition, slot_partition, &p)) return NULL;
    if (!int_in(offset, 0, c->max_offset, &o)) return NULL;
    if (timestamp != Py_None && !int_in(timestamp, -1, c->max_timestamp, &t)) return NULL;
    if ((r = field(data, s_key, &key)) < 0) {
        if (caught_error(c) < 0) *slow = 0;
        return NULL;
    }
    if (r == 0 || key == Py_None) {
        key_out = Py_NewRef(Py_None);
    } else {
        if (!PyUnicode_CheckExact(key)) return NULL;
        if ((key_out = decode_base64(c, key)) == NULL) goto error;
    }
    if ((r = field(data, s_value, &value)) <= 0) goto missing;
    if (value == Py_None) {
        value_out = Py_NewRef(Py_None);
    } else {
        if (!PyUnicode_CheckExact(value)) goto done;
        if ((value_out = decode_base64(c, value)) == NULL) goto error;
    }
    if ((r = field(data, s_headers, &headers)) <= 0) goto missing;
    if (PyList_CheckExact(headers) ? PyList_Size(headers) > 0 : headers != Py_None) {
        int truth = PyObject_IsTrue(headers);  /* a truthy non-list is refused by HEADERS, a falsy one here */
        if (truth < 0) goto error;
        if (!truth) goto done;
        if ((headers_out = PyObject_CallFunctionObjArgs(c->headers, headers, NULL)) == NULL) goto error;
    } else {
        headers_out = Py_NewRef(no_headers);
    }
    if ((r = field(data, s_kind, &kind)) <= 0) goto missing;
    if (!PyUnicode_CheckExact(kind) || PyUnicode_GetLength(kind) == 0) kind = c->no_ts;
    PyObject *items[9] = {topic, partition, offset, timestamp, kind, key_out, value_out, headers_out, Py_None};
    if (c->record_alloc != NULL) {
        record = c->record_alloc((PyTypeObject *)c->record_type, 9);
        if (record == NULL) goto error;
        for (int i = 0; i < 9; i++) {
            if (PyTuple_SetItem(record, i, Py_NewRef(items[i])) < 0) {
                Py_CLEAR(record);
                goto error;
            }
        }
    } else {
        PyObject *fields = PyTuple_New(9);
        if (fields == NULL) goto error;
        for (int i = 0; i < 9; i++) PyTuple_SetItem(fields, i, Py_NewRef(items[i]));
        record = PyObject_CallFunctionObjArgs(tuple_new, c->record_type, fields, NULL);
        Py_DECREF(fields);
        if (record == NULL) goto error;
    }
    *slow = 0;
    *offset_out = o;
    goto done;
missing:
    if (r < 0) goto error;
    goto done;
error:
    if (caught_error(c) < 0) *slow = 0;
done:
    Py_XDECREF(key_out);
    Py_XDECREF(value_out);
    Py_XDECREF(headers_out);
    return record;
#undef FIELD
}

static int
read_context(PyObject *ctx, Context *c)
{
    if (!PyTuple_Check(ctx) || PyTuple_Size(ctx) != 9) {
        PyErr_SetString(PyExc_TypeError, "the decoding context is a 9-tuple (record type, slow, headers, caught, "
                        "a2b_base64, strict kwargs, no timestamp type, max offset, max timestamp)");
        return -1;
    }
    c->record_type = PyTuple_GetItem(ctx, 0);
    c->slow = PyTuple_GetItem(ctx, 1);
    c->headers = PyTuple_GetItem(ctx, 2);
    c->caught = PyTuple_GetItem(ctx, 3);
    c->a2b_base64 = PyTuple_GetItem(ctx, 4);
    c->strict_kwargs = PyTuple_GetItem(ctx, 5);
    c->no_ts = PyTuple_GetItem(ctx, 6);
    if (!PyType_Check(c->record_type) || !PyType_IsSubtype((PyTypeObject *)c->record_type, &PyTuple_Type) ||
            !PyDict_Check(c->strict_kwargs) || !PyUnicode_Check(c->no_ts)) {
        PyErr_SetString(PyExc_TypeError, "the record type must be a tuple subclass, the strict kwargs a dict and "
                        "the no timestamp type a str");
        return -1;
    }
    /* Filling a freshly allocated tuple subclass is what tuple.__new__ does for one up to 3.13;
     * 3.14 tuples also cache their hash, which only tuple.__new__ sets up. */
    c->record_alloc = Py_Version < 0x030E0000 ? (allocfunc)PyType_GetSlot((PyTypeObject *)c->record_type,
                                                                           Py_tp_alloc) : NULL;
    if (PyErr_Occurred()) return -1;
    c->max_offset = PyLong_AsLongLong(PyTuple_GetItem(ctx, 7));
    if (c->max_offset == -1 && PyErr_Occurred()) return -1;
    c->max_timestamp = PyLong_AsLongLong(PyTuple_GetItem(ctx, 8));
    if (c->max_timestamp == -1 && PyErr_Occurred()) return -1;
    return 0;
}

/* decode(items, slot, slot_topic, slot_partition, context) -> (records, plain) or None */
static PyObject *
decode(PyObject *module, PyObject *args)
{
    PyObject *items, *slot, *slot_topic, *ctx;
    long long slot_partition;
    Context c;
    if (!PyArg_ParseTuple(args, "OOULO:decode", &items, &slot, &slot_topic, &slot_partition, &ctx)) return NULL;
    if (read_context(ctx, &c) < 0) return NULL;
    if (!PyList_CheckExact(items)) Py_RETURN_NONE;
    Py_ssize_t n = PyList_Size(items);
    for (Py_ssize_t i = 0; i < n; i++)
        if (!PyDict_CheckExact(PyList_GetItem(items, i))) Py_RETURN_NONE;
    PyObject *out = PyList_New(0);
    if (out == NULL) return NULL;
    int plain = 1;
    long long last = -1;
    for (Py_ssize_t i = 0; i < PyList_Size(items); i++) {
        PyObject *data = Py_NewRef(PyList_GetItem(items, i));
        long long offset = -1;
        int slow;
        PyObject *record = PyDict_CheckExact(data) ? fast_record(&c, data, slot_topic, slot_partition, &offset, &slow)
                                                  : (slow = 1, NULL);
        if (record == NULL && slow) {
            record = PyObject_CallFunctionObjArgs(c.slow, data, slot, NULL);
            plain = 0;
            offset = -2;
        }
        Py_DECREF(data);
        if (record == NULL) {
            Py_DECREF(out);
            return NULL;
        }
        int failed = PyList_Append(out, record);
        Py_DECREF(record);
        if (failed < 0) {
            Py_DECREF(out);
            return NULL;
        }
        if (offset == -2) continue;
        if (offset > last) last = offset;
        else plain = 0;
    }
    PyObject *result = Py_BuildValue("(NO)", out, plain ? Py_True : Py_False);
    return result;
}

static PyMethodDef methods[] = {
    {"decode", decode, METH_VARARGS,
     "decode(items, slot, slot_topic, slot_partition, context) -> (records, plain), or None when the slot is "
     "not a list of plain dicts; the fast pass of aws.sink_handler._slot_records."},
    {NULL, NULL, 0, NULL},
};

static int
exec_module(PyObject *module)
{
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    memset(b64, -1, sizeof b64);
    for (int i = 0; i < 64; i++) b64[(unsigned char)alphabet[i]] = (signed char)i;
    if (tuple_new == NULL && (tuple_new = PyObject_GetAttrString((PyObject *)&PyTuple_Type, "__new__")) == NULL)
        return -1;
    if (no_headers == NULL && (no_headers = PyTuple_New(0)) == NULL) return -1;
    PyObject **names[] = {&s_topic, &s_partition, &s_offset, &s_timestamp, &s_key, &s_value, &s_headers, &s_kind};
    const char *texts[] = {"topic", "partition", "offset", "timestamp", "key", "value", "headers", "timestampType"};
    for (int i = 0; i < 8; i++) {
        if (*names[i] == NULL && (*names[i] = PyUnicode_InternFromString(texts[i])) == NULL) return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, exec_module}, {0, NULL}};

static struct PyModuleDef moduledef = {
    PyModuleDef_HEAD_INIT, "lambda_connect.aws._slot_decode",
    "The sink handler's per-slot event decoding in C (see aws/sink_handler.py _slot_records).", 0, methods,
    module_slots, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__slot_decode(void)
{
    return PyModuleDef_Init(&moduledef);
}

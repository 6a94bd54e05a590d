/*
 * lambda_connect.aws._event_render: the records part of a Lambda Kafka event's JSON, in C.
 *
 * Why C: `lambda-connect up` renders every batch its emulated event source mapping delivers
 * (aws/kafka_event.py, kafka_event_json). In AWS that work is Lambda's; locally it runs on the
 * same two cores as the handler, and the Python loop took 2-4 us a record: two base64 calls,
 * eight type checks and a format string each. This is the same loop, writing into one buffer per
 * `topic-partition` slot:
 *
 *     for topic, partition, offset, timestamp, kind, key, value, headers in items:
 *         <exact str/int/int/int/str, offset and timestamp within orjson's integer range>
 *         slot = groups[f"{topic}-{partition}"]    (first appearance order; a new partition is range checked)
 *         slot += '{"topic":' JSON(topic) ',"partition":' P ',"offset":' O ',"timestamp":' T
 *                 ',"timestampType":' JSON(kind) [',"key":"' B64(key) '"'] ',"value":' ('"' B64(value) '"' | null)
 *                 ',"headers":' (HEADERS_JSON(headers) if headers else []) '}'
 *     return ','.join(JSON(slot) ':[' records ']')
 *
 * JSON(text) and HEADERS_JSON are the Python module's own `_json_str` and `_headers_json`, called
 * once per new topic, partition or timestamp type and once per record that has headers.
 * Anything off this path (not an 8-tuple, another type, an integer out of range, headers that
 * `_headers_json` refuses) returns None and kafka_event_json goes its Python way, so the bytes
 * (or the error) are always the Python path's. tests/unit/aws/test_kafka_event_json.py compares
 * them. Stable ABI (3.11+), like the project's other native modules.
 */
#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len, cap;
} Buffer;

static int
buffer_reserve(Buffer *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) cap *= 2;
    char *data = realloc(b->data, cap);
    if (data == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->data = data;
    b->cap = cap;
    return 0;
}

static int
buffer_put(Buffer *b, const char *text, size_t n)
{
    if (buffer_reserve(b, n) < 0) return -1;
    memcpy(b->data + b->len, text, n);
    b->len += n;
    return 0;
}

#define PUT_LITERAL(b, s) buffer_put((b), (s), sizeof(s) - 1)

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static int
buffer_put_base64(Buffer *b, const unsigned char *in, size_t n)
{
    if (buffer_reserve(b, (n + 2) / 3 * 4) < 0) return -1;
    char *out = b->data + b->len;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        *out++ = B64[v >> 18];
        *out++ = B64[(v >> 12) & 63];
        *out++ = B64[(v >> 6) & 63];
        *out++ = B64[v & 63];
    }
    if (i + 1 == n) {
        unsigned v = (unsigned)in[i] << 16;
        *out++ = B64[v >> 18];
        *out++ = B64[(v >> 12) & 63];
        *out++ = '=';
        *out++ = '=';
    } else if (i + 2 == n) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *out++ = B64[v >> 18];
        *out++ = B64[(v >> 12) & 63];
        *out++ = B64[(v >> 6) & 63];
        *out++ = '=';
    }
    b->len = (size_t)(out - b->data);
    return 0;
}

/* A str as UTF-8 into the buffer (the text `_json_str` / `_headers_json` returned). */
static int
buffer_put_str(Buffer *b, PyObject *text)
{
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &n);
    if (utf8 == NULL) return -1;
    return buffer_put(b, utf8, (size_t)n);
}

/* An exact int within orjson's range (-2**63 .. 2**64-1) in decimal; 1 when off the path. */
static int
buffer_put_int(Buffer *b, PyObject *number)
{
    char text[32];
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(number, &overflow);
    int n;
    if (v == -1 && PyErr_Occurred()) return -1;
    if (overflow > 0) {
        unsigned long long u = PyLong_AsUnsignedLongLong(number);
        if (u == (unsigned long long)-1 && PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_OverflowError)) return -1;
            PyErr_Clear();
            return 1;
        }
        n = snprintf(text, sizeof text, "%llu", u);
    } else if (overflow < 0) {
        return 1;
    } else {
        n = snprintf(text, sizeof text, "%lld", v);
    }
    return buffer_put(b, text, (size_t)n) < 0 ? -1 : 0;
}

typedef struct {
    PyObject *slot_json;  /* str: JSON of "topic-partition" */
    Buffer records;       /* the rendered records, comma separated */
    Py_ssize_t count;
} Group;

typedef struct {
    Group *groups;
    Py_ssize_t n, cap;
    PyObject *slots;      /* dict: slot str -> group index (int) */
    PyObject *prefixes;   /* dict: (topic, partition) -> (group index, prefix bytes) */
    PyObject *kinds;      /* dict: timestamp type str -> its JSON (bytes) */
} State;

static void
state_free(State *s)
{
    for (Py_ssize_t i = 0; i < s->n; i++) {
        Py_XDECREF(s->groups[i].slot_json);
        free(s->groups[i].records.data);
    }
    free(s->groups);
    Py_XDECREF(s->slots);
    Py_XDECREF(s->prefixes);
    Py_XDECREF(s->kinds);
}

/* JSON text of `text` through the Python module's `_json_str`, as UTF-8 bytes. */
static PyObject *
json_bytes(PyObject *json_str, PyObject *text)
{
    PyObject *rendered = PyObject_CallFunctionObjArgs(json_str, text, NULL);
    if (rendered == NULL) return NULL;
    if (!PyUnicode_Check(rendered)) {
        Py_DECREF(rendered);
        PyErr_SetString(PyExc_TypeError, "_json_str must return str");
        return NULL;
    }
    PyObject *out = PyUnicode_AsUTF8String(rendered);
    Py_DECREF(rendered);
    return out;
}

/* The group and prefix of (topic, partition); 1 when off the path (partition out of range). */
static int
group_of(State *s, PyObject *json_str, PyObject *topic, PyObject *partition, Py_ssize_t *index,
         PyObject **prefix)
{
    PyObject *key = PyTuple_Pack(2, topic, partition);
    if (key == NULL) return -1;
    PyObject *known = PyDict_GetItemWithError(s->prefixes, key);
    if (known != NULL) {
        Py_DECREF(key);
        *index = PyLong_AsSsize_t(PyTuple_GetItem(known, 0));
        *prefix = PyTuple_GetItem(known, 1);
        return 0;
    }
    if (PyErr_Occurred()) goto fail;
    {
        Buffer check = {0};
        int range = buffer_put_int(&check, partition);
        free(check.data);
        if (range != 0) {
            Py_DECREF(key);
            return range;
        }
    }
    PyObject *slot = PyUnicode_FromFormat("%U-%S", topic, partition);
    if (slot == NULL) goto fail;
    PyObject *found = PyDict_GetItemWithError(s->slots, slot);
    Py_ssize_t at;
    if (found != NULL) {
        at = PyLong_AsSsize_t(found);
    } else {
        if (PyErr_Occurred()) { Py_DECREF(slot); goto fail; }
        PyObject *slot_json = PyObject_CallFunctionObjArgs(json_str, slot, NULL);
        if (slot_json == NULL || !PyUnicode_Check(slot_json)) {
            Py_XDECREF(slot_json);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "_json_str must return str");
            Py_DECREF(slot);
            goto fail;
        }
        if (s->n == s->cap) {
            Py_ssize_t cap = s->cap ? s->cap * 2 : 8;
            Group *groups = realloc(s->groups, (size_t)cap * sizeof(Group));
            if (groups == NULL) { Py_DECREF(slot_json); Py_DECREF(slot); PyErr_NoMemory(); goto fail; }
            s->groups = groups;
            s->cap = cap;
        }
        at = s->n++;
        s->groups[at].slot_json = slot_json;
        s->groups[at].records = (Buffer){0};
        s->groups[at].count = 0;
        PyObject *number = PyLong_FromSsize_t(at);
        if (number == NULL || PyDict_SetItem(s->slots, slot, number) < 0) {
            Py_XDECREF(number);
            Py_DECREF(slot);
            goto fail;
        }
        Py_DECREF(number);
    }
    Py_DECREF(slot);
    {
        PyObject *topic_json = json_bytes(json_str, topic);
        if (topic_json == NULL) goto fail;
        PyObject *made = PyBytes_FromFormat("{\"topic\":%s,\"partition\":", PyBytes_AsString(topic_json));
        Py_DECREF(topic_json);
        if (made == NULL) goto fail;
        Buffer number = {0};
        if (buffer_put_int(&number, partition) != 0 || PUT_LITERAL(&number, ",\"offset\":") < 0) {
            free(number.data);
            Py_DECREF(made);
            goto fail;
        }
        PyObject *tail = PyBytes_FromStringAndSize(number.data, (Py_ssize_t)number.len);
        free(number.data);
        if (tail == NULL) { Py_DECREF(made); goto fail; }
        PyBytes_ConcatAndDel(&made, tail);
        if (made == NULL) goto fail;
        PyObject *number_at = PyLong_FromSsize_t(at);
        PyObject *entry = number_at ? PyTuple_Pack(2, number_at, made) : NULL;
        Py_XDECREF(number_at);
        Py_DECREF(made);
        if (entry == NULL || PyDict_SetItem(s->prefixes, key, entry) < 0) {
            Py_XDECREF(entry);
            goto fail;
        }
        *index = at;
        *prefix = PyTuple_GetItem(entry, 1);
        Py_DECREF(entry);  /* the dict holds it */
    }
    Py_DECREF(key);
    return 0;
fail:
    Py_DECREF(key);
    return -1;
}

/* One record into its group; 1 when off the path. */
static int
render_one(State *s, PyObject *item, PyObject *json_str, PyObject *headers_json)
{
    if (!PyTuple_Check(item) || PyTuple_Size(item) != 8) return 1;
    PyObject *topic = PyTuple_GetItem(item, 0), *partition = PyTuple_GetItem(item, 1);
    PyObject *offset = PyTuple_GetItem(item, 2), *timestamp = PyTuple_GetItem(item, 3);
    PyObject *kind = PyTuple_GetItem(item, 4), *key = PyTuple_GetItem(item, 5);
    PyObject *value = PyTuple_GetItem(item, 6), *headers = PyTuple_GetItem(item, 7);
    if (!PyUnicode_CheckExact(topic) || !PyLong_CheckExact(partition) || !PyLong_CheckExact(offset)
            || !PyLong_CheckExact(timestamp) || !PyUnicode_CheckExact(kind))
        return 1;
    if (key != Py_None && !PyBytes_CheckExact(key)) return 1;
    if (value != Py_None && !PyBytes_CheckExact(value)) return 1;
    Py_ssize_t index;
    PyObject *prefix;
    int status = group_of(s, json_str, topic, partition, &index, &prefix);
    if (status != 0) return status;
    PyObject *kind_json = PyDict_GetItemWithError(s->kinds, kind);
    if (kind_json == NULL) {
        if (PyErr_Occurred()) return -1;
        PyObject *made = json_bytes(json_str, kind);
        if (made == NULL) return -1;
        status = PyDict_SetItem(s->kinds, kind, made);
        Py_DECREF(made);
        if (status < 0) return -1;
        kind_json = made;  /* borrowed from the dict */
    }
    PyObject *header_text = NULL;
    int has_headers = PyObject_IsTrue(headers);
    if (has_headers < 0) return -1;
    if (has_headers) {
        header_text = PyObject_CallFunctionObjArgs(headers_json, headers, NULL);
        if (header_text == NULL) return -1;
        if (header_text == Py_None) {
            Py_DECREF(header_text);
            return 1;
        }
        if (!PyUnicode_Check(header_text)) {
            Py_DECREF(header_text);
            PyErr_SetString(PyExc_TypeError, "_headers_json must return str or None");
            return -1;
        }
    }
    Group *g = &s->groups[index];
    Buffer *b = &g->records;
    size_t mark = b->len;
    status = -1;
    if (g->count && PUT_LITERAL(b, ",") < 0) goto done;
    if (buffer_put(b, PyBytes_AsString(prefix), (size_t)PyBytes_Size(prefix)) < 0) goto done;
    if ((status = buffer_put_int(b, offset)) != 0) goto done;
    status = -1;
    if (PUT_LITERAL(b, ",\"timestamp\":") < 0) goto done;
    if ((status = buffer_put_int(b, timestamp)) != 0) goto done;
    status = -1;
    if (PUT_LITERAL(b, ",\"timestampType\":") < 0) goto done;
    if (buffer_put(b, PyBytes_AsString(kind_json), (size_t)PyBytes_Size(kind_json)) < 0) goto done;
    if (key != Py_None) {
        if (PUT_LITERAL(b, ",\"key\":\"") < 0) goto done;
        if (buffer_put_base64(b, (const unsigned char *)PyBytes_AsString(key), (size_t)PyBytes_Size(key)) < 0)
            goto done;
        if (PUT_LITERAL(b, "\"") < 0) goto done;
    }
    if (value == Py_None) {
        if (PUT_LITERAL(b, ",\"value\":null") < 0) goto done;
    } else {
        if (PUT_LITERAL(b, ",\"value\":\"") < 0) goto done;
        if (buffer_put_base64(b, (const unsigned char *)PyBytes_AsString(value), (size_t)PyBytes_Size(value)) < 0)
            goto done;
        if (PUT_LITERAL(b, "\"") < 0) goto done;
    }
    if (PUT_LITERAL(b, ",\"headers\":") < 0) goto done;
    if (header_text != NULL ? buffer_put_str(b, header_text) < 0 : PUT_LITERAL(b, "[]") < 0) goto done;
    if (PUT_LITERAL(b, "}") < 0) goto done;
    g->count++;
    status = 0;
done:
    if (status != 0) b->len = mark;
    Py_XDECREF(header_text);
    return status;
}

static PyObject *
render_records(PyObject *module, PyObject *args)
{
    PyObject *items, *json_str, *headers_json;
    if (!PyArg_ParseTuple(args, "OOO:render_records", &items, &json_str, &headers_json)) return NULL;
    if (!PyList_Check(items)) {
        PyErr_SetString(PyExc_TypeError, "render_records takes a list");
        return NULL;
    }
    State s = {0};
    s.slots = PyDict_New();
    s.prefixes = PyDict_New();
    s.kinds = PyDict_New();
    PyObject *result = NULL;
    if (s.slots == NULL || s.prefixes == NULL || s.kinds == NULL) goto done;
    Py_ssize_t n = PyList_Size(items);
    for (Py_ssize_t i = 0; i < n; i++) {
        int status = render_one(&s, PyList_GetItem(items, i), json_str, headers_json);
        if (status < 0) goto done;
        if (status > 0) {
            result = Py_NewRef(Py_None);
            goto done;
        }
    }
    {
        Buffer out = {0};
        for (Py_ssize_t i = 0; i < s.n; i++) {
            Group *g = &s.groups[i];
            if ((i && PUT_LITERAL(&out, ",") < 0) || buffer_put_str(&out, g->slot_json) < 0
                    || PUT_LITERAL(&out, ":[") < 0 || buffer_put(&out, g->records.data, g->records.len) < 0
                    || PUT_LITERAL(&out, "]") < 0) {
                free(out.data);
                goto done;
            }
        }
        result = PyBytes_FromStringAndSize(out.data ? out.data : "", (Py_ssize_t)out.len);
        free(out.data);
    }
done:
    state_free(&s);
    return result;
}

static PyMethodDef methods[] = {
    {"render_records", render_records, METH_VARARGS,
     "render_records(items, json_str, headers_json) -> bytes | None: the records object of a Lambda Kafka "
     "event (without its braces), or None when an item is off the fast path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_event_render", "The records of a Lambda Kafka event's JSON, rendered in C.", -1,
    methods,
};

PyMODINIT_FUNC
PyInit__event_render(void)
{
    return PyModule_Create(&module_def);
}

// CSentencePiece: a small C face over libsentencepiece's SentencePieceProcessor, for Swift.
//
// Every function catches C++ exceptions at the boundary and reports failure through its return
// value (and an error message buffer where one is taken); nothing here aborts.
#ifndef CSENTENCEPIECE_H
#define CSENTENCEPIECE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An opaque loaded SentencePiece model.
typedef struct csp_processor csp_processor;

/// Loads a serialized `ModelProto` file (a `tokenizer.model`). Returns NULL on failure and writes a
/// NUL-terminated message (truncated to `error_capacity`) into `error` when it is not NULL.
csp_processor *csp_create_from_file(const char *path, char *error, size_t error_capacity);

/// Loads a model from the bytes of a serialized `ModelProto`. Same failure contract as above.
csp_processor *csp_create_from_proto(const void *bytes, size_t length, char *error, size_t error_capacity);

/// Frees a processor; NULL is ignored.
void csp_destroy(csp_processor *processor);

/// Number of pieces in the loaded model, or -1 when `processor` is NULL.
int32_t csp_piece_count(const csp_processor *processor);

/// Encodes `length` bytes of UTF-8 text to ids (no BOS/EOS). Returns the number of ids the text
/// needs; only `min(result, capacity)` ids are written to `ids`, so call again with a larger buffer
/// when the result exceeds `capacity`. Returns -1 on failure, with a message in `error`.
int64_t csp_encode(const csp_processor *processor, const char *text, size_t length,
                   int32_t *ids, size_t capacity, char *error, size_t error_capacity);

/// Writes the piece of `id` (not NUL-terminated) and returns its length in bytes, or -1 when the id
/// is out of range. Only `min(result, capacity)` bytes are written.
int64_t csp_id_to_piece(const csp_processor *processor, int32_t id, char *buffer, size_t capacity);

#ifdef __cplusplus
}
#endif

#endif

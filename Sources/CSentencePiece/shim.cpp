// The C boundary over sentencepiece::SentencePieceProcessor. No C++ exception crosses it.
#include "CSentencePiece.h"

#include <sentencepiece_processor.h>

#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

struct csp_processor {
    sentencepiece::SentencePieceProcessor sp;
};

namespace {

void write_error(char *error, size_t capacity, const std::string &message) {
    if (error == nullptr || capacity == 0) return;
    const size_t n = message.size() < capacity - 1 ? message.size() : capacity - 1;
    std::memcpy(error, message.data(), n);
    error[n] = '\0';
}

template <typename Load>
csp_processor *create(Load load, char *error, size_t capacity) {
    try {
        auto p = std::make_unique<csp_processor>();
        const auto status = load(p->sp);
        if (!status.ok()) {
            write_error(error, capacity, status.ToString());
            return nullptr;
        }
        return p.release();
    } catch (const std::bad_alloc &) {
        write_error(error, capacity, "out of memory while loading the SentencePiece model");
    } catch (const std::exception &e) {
        write_error(error, capacity, std::string("SentencePiece threw: ") + e.what());
    } catch (...) {
        write_error(error, capacity, "SentencePiece threw an unknown exception");
    }
    return nullptr;
}

}  // namespace

extern "C" {

csp_processor *csp_create_from_file(const char *path, char *error, size_t error_capacity) {
    if (path == nullptr) {
        write_error(error, error_capacity, "no model path given");
        return nullptr;
    }
    return create([&](sentencepiece::SentencePieceProcessor &sp) { return sp.Load(path); },
                  error, error_capacity);
}

csp_processor *csp_create_from_proto(const void *bytes, size_t length, char *error, size_t error_capacity) {
    if (bytes == nullptr && length != 0) {
        write_error(error, error_capacity, "no model bytes given");
        return nullptr;
    }
    return create([&](sentencepiece::SentencePieceProcessor &sp) {
                      return sp.LoadFromSerializedProto(
                          absl::string_view(static_cast<const char *>(bytes), length));
                  },
                  error, error_capacity);
}

void csp_destroy(csp_processor *processor) {
    try {
        delete processor;
    } catch (...) {
    }
}

int32_t csp_piece_count(const csp_processor *processor) {
    if (processor == nullptr) return -1;
    try {
        return static_cast<int32_t>(processor->sp.GetPieceSize());
    } catch (...) {
        return -1;
    }
}

int64_t csp_encode(const csp_processor *processor, const char *text, size_t length,
                   int32_t *ids, size_t capacity, char *error, size_t error_capacity) {
    if (processor == nullptr) {
        write_error(error, error_capacity, "no SentencePiece model");
        return -1;
    }
    if (text == nullptr && length != 0) {
        write_error(error, error_capacity, "no text given");
        return -1;
    }
    try {
        std::vector<int> out;
        const auto status = processor->sp.Encode(absl::string_view(text == nullptr ? "" : text, length), &out);
        if (!status.ok()) {
            write_error(error, error_capacity, status.ToString());
            return -1;
        }
        const size_t n = out.size() < capacity ? out.size() : capacity;
        for (size_t i = 0; i < n; ++i) ids[i] = static_cast<int32_t>(out[i]);
        return static_cast<int64_t>(out.size());
    } catch (const std::exception &e) {
        write_error(error, error_capacity, std::string("SentencePiece threw: ") + e.what());
    } catch (...) {
        write_error(error, error_capacity, "SentencePiece threw an unknown exception");
    }
    return -1;
}

int64_t csp_id_to_piece(const csp_processor *processor, int32_t id, char *buffer, size_t capacity) {
    if (processor == nullptr) return -1;
    try {
        if (id < 0 || id >= processor->sp.GetPieceSize()) return -1;
        const std::string &piece = processor->sp.IdToPiece(id);
        const size_t n = piece.size() < capacity ? piece.size() : capacity;
        if (n > 0) std::memcpy(buffer, piece.data(), n);
        return static_cast<int64_t>(piece.size());
    } catch (...) {
        return -1;
    }
}

}  // extern "C"
